// Builds the Outlook add-in into addin-outlook/dist (served by the server at /addin/):
//   launchevent.js  the OnMessageSend handler: ONE classic script (IIFE), no imports at run time,
//                   for classic Outlook's JavaScript-only runtime; runtime.html loads it elsewhere
//   compose.js/.html, read.js/.html, styles.css, help.html, assets/icon-*.png
// Offline and fast: esbuild only. Environment:
//   ATTUNE_PUBLIC_URL, else PUBLIC_URL, else https://localhost:${PORT ?? 3000}: base URL of the server.
//                      The same rule as the server's own default (server/src/config.ts), so
//                      `PORT=3443 npm start` builds a handler that calls port 3443. The JS-only
//                      runtime has no page location, so the send handler's fetch URLs come from here.
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

// PUBLIC_URL and PORT are the server's own settings, so `npm start` builds for the address it
// serves. Always https: Outlook loads add-ins only over https (the server's http default is for
// development without a certificate, where the add-in cannot run anyway).
const explicitUrl = process.env.ATTUNE_PUBLIC_URL || process.env.PUBLIC_URL;
let port = process.env.PORT || '3000';
if (!explicitUrl && (!/^\d{1,5}$/.test(port) || Number(port) > 65535)) {
  console.error(
    `addin-outlook: PORT must be a port number (got ${port}); or set ATTUNE_PUBLIC_URL / PUBLIC_URL`,
  );
  process.exit(2);
}
if (!explicitUrl && Number(port) === 0) {
  // An ephemeral port is known only once the server has bound it: the panes use their own page
  // address anyway; only classic Outlook's send handler needs this one.
  console.warn(
    'addin-outlook: PORT=0 has no address to build for; the send handler calls port 3000 (set PUBLIC_URL to choose)',
  );
  port = '3000';
}
const publicUrl = (explicitUrl || `https://localhost:${Number(port)}`).replace(/\/+$/, '');
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

console.log(
  `addin-outlook: built dist/ for ${publicUrl} (dev auth ${devAuth ? 'on' : 'off'}) in ${Date.now() - started} ms`,
);
