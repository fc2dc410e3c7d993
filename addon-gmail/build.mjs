// Bundles src/main.ts into one Apps Script file, dist/Code.js, and writes dist/appsscript.json.
// Offline and fast (esbuild). Apps Script has no module loader: the bundle is an IIFE assigned to
// the global `AttuneAddon`, followed by one top-level function per handler, because Gmail resolves
// trigger and action callbacks by global function name.
//
//   ATTUNE_SERVER_URL=https://attune.practice.org npm run build -w addon-gmail
//
// ATTUNE_SERVER_URL (default https://attune.example.com) becomes both the add-on's default server
// (a script property of the same name overrides it at run time) and the urlFetchWhitelist entry.

import { build } from 'esbuild';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, 'dist');

/**
 * Google publishes no per-file size limit for Apps Script, but every execution loads the whole
 * project before running a card callback, inside the 30 s card budget, and the editor struggles
 * with multi-megabyte files. Keep the bundle well under this budget; the test enforces it.
 */
export const BUNDLE_BUDGET_BYTES = 1_500_000;
const FALLBACK_SERVER_URL = 'https://attune.example.com';

export function serverUrlFromEnv(env = process.env) {
  const raw = (env.ATTUNE_SERVER_URL ?? '').trim() || FALLBACK_SERVER_URL;
  const loopback = /^http:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d+)?(\/|$)/.test(raw);
  if (!/^https:\/\/[^\s/]+/.test(raw) && !loopback) {
    throw new Error(`ATTUNE_SERVER_URL must be an https URL (got ${JSON.stringify(raw)})`);
  }
  return raw.replace(/\/+$/, '');
}

export function manifest(serverUrl) {
  return {
    timeZone: 'Etc/UTC',
    runtimeVersion: 'V8',
    exceptionLogging: 'STACKDRIVER',
    // Narrowest scopes that work (platforms.md §5): no gmail.readonly, no gmail.compose.
    // gmail.addons.current.message.readonly: the text of the message open in Gmail, while the add-on
    // runs, and no other message. A reply notice names the reply only in its text (`Reference: <id>`;
    // the metadata scope gives subject and headers, not the text), and src/reply.ts reads it only
    // when the subject is a reply notice's. metadata stays for the compose trigger's METADATA access.
    oauthScopes: [
      'https://www.googleapis.com/auth/gmail.addons.execute',
      'https://www.googleapis.com/auth/gmail.addons.current.action.compose',
      'https://www.googleapis.com/auth/gmail.addons.current.message.metadata',
      'https://www.googleapis.com/auth/gmail.addons.current.message.readonly',
      'https://www.googleapis.com/auth/script.external_request',
      'https://www.googleapis.com/auth/userinfo.email',
      'openid',
    ],
    // Entries are URL prefixes; the trailing slash stops https://attune.example.com.evil.org.
    urlFetchWhitelist: [`${serverUrl}/`],
    addOns: {
      common: {
        name: 'Attune',
        // Fetched by Google without credentials, so a public, always-available icon.
        logoUrl: 'https://www.gstatic.com/images/icons/material/system/1x/lock_black_48dp.png',
        useLocaleFromApp: true,
        homepageTrigger: { runFunction: 'onHomepage', enabled: true },
      },
      gmail: {
        contextualTriggers: [{ unconditional: {}, onTriggerFunction: 'onGmailMessageOpen' }],
        composeTrigger: {
          selectActions: [{ text: 'Secure message', runFunction: 'onGmailCompose' }],
          draftAccess: 'METADATA',
        },
      },
    },
  };
}

/** Every function name appsscript.json refers to. */
export function triggerNames(m) {
  return [
    m.addOns.common.homepageTrigger.runFunction,
    ...m.addOns.gmail.contextualTriggers.map((t) => t.onTriggerFunction),
    ...m.addOns.gmail.composeTrigger.selectActions.map((a) => a.runFunction),
  ];
}

export async function bundle({ serverUrl = serverUrlFromEnv(), outDir = dist, write = true } = {}) {
  const result = await build({
    entryPoints: [join(here, 'src/main.ts')],
    bundle: true,
    format: 'iife',
    globalName: 'AttuneAddon',
    platform: 'neutral',
    mainFields: ['module', 'main'],
    conditions: ['import', 'default'],
    // Apps Script V8 runs ES2020 reliably; newer syntax is lowered.
    target: 'es2020',
    // Readable stack traces in Cloud Logging matter more than the bytes minifying would save.
    minifySyntax: true,
    minifyWhitespace: false,
    minifyIdentifiers: false,
    legalComments: 'none',
    charset: 'utf8',
    define: { ATTUNE_DEFAULT_SERVER_URL: JSON.stringify(serverUrl) },
    write: false,
    logLevel: 'warning',
  });
  const core = result.outputFiles[0].text;

  // Load the IIFE in an empty context (no Apps Script services) to list the handlers: this also
  // proves the bundle touches no host API at load time, which Apps Script would reject when it
  // loads the project for a trigger the user has not authorized yet.
  const probe = vm.createContext({});
  const exported = vm.runInContext(`${core}\n;AttuneAddon`, probe);
  const names = Object.keys(exported.handlers);
  const m = manifest(serverUrl);
  for (const t of triggerNames(m)) {
    if (!names.includes(t)) throw new Error(`appsscript.json names ${t}, which the bundle does not export`);
  }

  const stubs = names.map((n) => `function ${n}(e) {\n  return AttuneAddon.handlers.${n}(e);\n}`).join('\n');
  const code = `// Attune Gmail add-on. Generated by addon-gmail/build.mjs from addon-gmail/src; do not edit.\n${core}\n${stubs}\n`;
  const size = Buffer.byteLength(code, 'utf8');
  if (size > BUNDLE_BUDGET_BYTES) {
    throw new Error(`dist/Code.js is ${size} bytes, over the ${BUNDLE_BUDGET_BYTES}-byte budget`);
  }
  if (write) {
    await mkdir(outDir, { recursive: true });
    await writeFile(join(outDir, 'Code.js'), code);
    await writeFile(join(outDir, 'appsscript.json'), `${JSON.stringify(m, null, 2)}\n`);
  }
  return { code, manifest: m, handlers: names, size };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  const { size, handlers } = await bundle();
  console.log(
    `addon-gmail: dist/Code.js ${size} bytes, ${handlers.length} handlers, ${Date.now() - started} ms`,
  );
}
