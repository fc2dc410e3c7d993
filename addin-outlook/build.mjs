// Builds the Outlook add-in into addin-outlook/dist (served by the server at /addin/):
//   launchevent.js  the OnMessageSend handler: ONE classic script (IIFE), no imports at run time,
//                   for classic Outlook's JavaScript-only runtime; runtime.html loads it elsewhere
//   compose.js/.html, read.js/.html, styles.css, help.html, assets/icon-*.png
// Offline and fast: esbuild only. Environment:
//   ATTUNE_PUBLIC_URL (else PUBLIC_URL)  base URL of the server (default https://localhost:3000); the JS-only runtime
//                      has no page location, so fetch URLs come from here
//   ATTUNE_CLIENT_ID, ATTUNE_API_SCOPE  Entra ID app for nested app authentication (optional)
//   ATTUNE_DEV_AUTH=1|0  use the server's development token issuer (default: on for localhost only)
import { build } from 'esbuild';
import { copyFile, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ICON_SIZES, iconPng } from './icons.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'src');
// ATTUNE_OUT_DIR lets tests build into a temporary folder without racing the served dist/.
const dist = process.env.ATTUNE_OUT_DIR || join(here, 'dist');

// PUBLIC_URL is the server's own setting, so `npm start` builds for the address it serves.
const publicUrl = (process.env.ATTUNE_PUBLIC_URL || process.env.PUBLIC_URL || 'https://localhost:3000').replace(/\/+$/, '');
const isLocal = /^https?:\/\/(localhost|127\.0\.0\.1)(:\d+)?$/.test(publicUrl);
const devAuth = process.env.ATTUNE_DEV_AUTH ? process.env.ATTUNE_DEV_AUTH === '1' : isLocal;
if (!/^https:\/\//.test(publicUrl) && !isLocal) {
  console.error(`addin-outlook: ATTUNE_PUBLIC_URL must be https (got ${publicUrl})`);
  process.exit(2);
}

const started = Date.now();
await rm(dist, { recursive: true, force: true });
await mkdir(join(dist, 'assets'), { recursive: true });

const common = {
  bundle: true,
  format: 'iife',
  platform: 'browser',
  // Chromium-based WebView2 / Safari WebKit / the JS-only runtime: ES2020 without lowering regex
  // features the detector relies on.
  target: 'es2020',
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
  define: {
    __ATTUNE_PUBLIC_URL__: JSON.stringify(publicUrl),
    __ATTUNE_CLIENT_ID__: JSON.stringify(process.env.ATTUNE_CLIENT_ID || ''),
    __ATTUNE_API_SCOPE__: JSON.stringify(process.env.ATTUNE_API_SCOPE || ''),
    __ATTUNE_DEV_AUTH__: JSON.stringify(devAuth),
    'process.env.NODE_ENV': '"production"',
  },
};

await build({
  ...common,
  entryPoints: {
    launchevent: join(src, 'launchevent/entry.ts'),
    compose: join(src, 'compose/compose.ts'),
    read: join(src, 'read/read.ts'),
  },
  outdir: dist,
});

for (const f of await readdir(join(src, 'pages'))) await copyFile(join(src, 'pages', f), join(dist, f));
await copyFile(join(src, 'ui/styles.css'), join(dist, 'styles.css'));
for (const size of ICON_SIZES) await writeFile(join(dist, 'assets', `icon-${size}.png`), iconPng(size));

console.log(`addin-outlook: built dist/ for ${publicUrl} (dev auth ${devAuth ? 'on' : 'off'}) in ${Date.now() - started} ms`);
