// What the server needs to serve the add-in, in one import:
//   import { distDir, mountPath, allowedList, ALLOWED_LIST_PATH } from '@attune/addin-outlook/serve-info';
//   app.use('/addin/*', serveStatic({ root: distDir, ... }));
//   app.get(ALLOWED_LIST_PATH, (c) => c.json(allowedList(publicUrl)));
import { fileURLToPath } from 'node:url';

/** Absolute path of the built files (run `npm run build -w addin-outlook` first). */
export const distDir = fileURLToPath(new URL('./dist/', import.meta.url));

/** Where the manifest expects the files. */
export const mountPath = '/addin/';

/**
 * The well-known file classic Outlook's JavaScript-only runtime checks before it lets the send
 * handler use CORS or SSO against this origin.
 */
export const ALLOWED_LIST_PATH = '/.well-known/microsoft-officeaddins-allowed.json';

/** The JSON body of ALLOWED_LIST_PATH for a server reachable at `publicUrl`. */
export function allowedList(publicUrl) {
  const base = String(publicUrl).replace(/\/+$/, '');
  return { allowed: [`${base}${mountPath}launchevent.js`] };
}

/** Files the manifest references; the server can check they exist at start-up. */
export const REQUIRED_FILES = [
  'runtime.html',
  'launchevent.js',
  'compose.html',
  'compose.js',
  'read.html',
  'read.js',
  'styles.css',
  'help.html',
  'assets/icon-16.png',
  'assets/icon-32.png',
  'assets/icon-64.png',
  'assets/icon-80.png',
  'assets/icon-128.png',
];
