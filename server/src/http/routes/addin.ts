import { existsSync } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import {
  ALLOWED_LIST_PATH,
  REQUIRED_FILES,
  allowedList,
  distDir,
  mountPath,
} from '@attune/addin-outlook/serve-info';
import type { Context } from 'hono';
import { errorBody } from '../errors.ts';
import type { AppEnv, RouteModule } from '../types.ts';

// The Outlook add-in's built files at /addin/ (what manifest.xml points at) and the well-known list
// that classic Outlook's JavaScript-only runtime checks before it lets launchevent.js use CORS/SSO.
//
// A small static server of our own rather than serveStatic: @hono/node-server's takes only a root
// relative to the working directory, and these pages need their own headers (framing by Outlook,
// a CSP that admits Office.js) and a narrow set of file types.

/**
 * Who may frame the add-in pages. Outlook on the web and new Outlook load task panes and the
 * OnMessageSend runtime in iframes of these origins. Microsoft publishes no definitive list; these
 * are the hosts its documentation and the office-js issue tracker name (outlook.office.com,
 * outlook.office365.com, the newer outlook.cloud.microsoft, consumer outlook.live.com, and Office on
 * the web's *.officeapps.live.com). Desktop hosts (WebView2, WKWebView) load the page top-level, so
 * frame-ancestors does not apply there. On-premises OWA hosts come from ADDIN_FRAME_ANCESTORS.
 */
export const OUTLOOK_FRAME_ANCESTORS = [
  'https://outlook.office.com',
  'https://outlook.office365.com',
  'https://outlook.cloud.microsoft',
  'https://outlook.live.com',
  'https://*.officeapps.live.com',
] as const;

/** Office.js (and the scripts it loads) comes from Microsoft's CDN, which Office requires. */
export const OFFICE_JS_ORIGIN = 'https://appsforoffice.microsoft.com';
/** Microsoft identity platform (MSAL, nested app authentication). */
export const MICROSOFT_SIGN_IN_ORIGINS = [
  'https://login.microsoftonline.com',
  'https://login.live.com',
] as const;

/** The CSP of every /addin/ response; `extraAncestors` are origins added by configuration. */
export function addinCsp(extraAncestors: readonly string[] = []): string {
  const signIn = MICROSOFT_SIGN_IN_ORIGINS.join(' ');
  return [
    "default-src 'none'",
    `script-src 'self' ${OFFICE_JS_ORIGIN}`,
    "style-src 'self'",
    // Icons and chart images are ours; data: for Office.js's own small images.
    "img-src 'self' data:",
    "font-src 'self'",
    // The panes call this server (same origin); MSAL talks to the sign-in hosts.
    `connect-src 'self' ${signIn}`,
    // MSAL's hidden iframe / Office.js dialogs for sign-in only.
    `frame-src ${signIn}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    `frame-ancestors 'self' ${[...OUTLOOK_FRAME_ANCESTORS, ...extraAncestors].join(' ')}`,
  ].join('; ');
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.xml': 'application/xml; charset=utf-8',
};

/**
 * Cache policy: file names are not content-hashed, so pages and scripts revalidate every time (an
 * ETag makes that a cheap 304) and a new build is picked up at once; a handler of one version with
 * pages of another would be worse than a round trip. Icons change almost never: a day.
 */
function cacheControlFor(ext: string): string {
  return ext === '.png' || ext === '.ico' ? 'public, max-age=86400' : 'no-cache';
}

/** What is wrong with a build folder (missing files the manifest references), for the banner. */
export function addinBuildProblems(dir: string): string[] {
  if (!existsSync(dir)) return [`${dir} does not exist`];
  return REQUIRED_FILES.filter((f) => !existsSync(resolve(dir, f))).map((f) => `${f} is missing`);
}

/** The folder served: ADDIN_DIR, else the add-in package's dist/. */
export function addinDirOf(configured: string | undefined): string {
  return configured ?? distDir;
}

/**
 * Maps a request path under /addin/ to a file name inside the build folder, or null when the path
 * is not one we would ever serve: traversal (`..`, also percent-encoded), dot files, backslashes,
 * NUL, empty segments, or a type outside TYPES.
 */
export function addinFileFor(requestPath: string): string | null {
  if (!requestPath.startsWith(mountPath)) return null;
  let rel: string;
  try {
    // Hono hands us the path still percent-encoded; decode exactly once.
    rel = decodeURIComponent(requestPath.slice(mountPath.length));
  } catch {
    return null;
  }
  if (rel === '' || rel.includes('\\') || rel.includes('\0')) return null;
  const segments = rel.split('/');
  if (segments.some((s) => s === '' || s.startsWith('.'))) return null;
  if (!(extname(rel).toLowerCase() in TYPES)) return null;
  return segments.join('/');
}

/** Paths of the add-in's static files (exempt from rate limits: no database work). */
export function isAddinStaticPath(path: string): boolean {
  return path.startsWith(mountPath) || path === ALLOWED_LIST_PATH;
}

const notFoundBody = errorBody('not_found', 'No such file in the Outlook add-in.');

export function addinRoutes(opts: { dir?: string } = {}): RouteModule {
  return {
    mount(app, deps) {
      const root = resolve(opts.dir ?? addinDirOf(deps.config.addinDir));
      const csp = addinCsp(deps.config.addinFrameAncestors ?? []);

      app.get(ALLOWED_LIST_PATH, function addinAllowedList(c) {
        c.header('Cache-Control', 'public, max-age=3600');
        return c.json(allowedList(deps.config.publicUrl));
      });

      app.get(`${mountPath}*`, async function addinFile(c) {
        // Every answer under /addin/ may be framed by Outlook and admits Office.js, including the
        // 404s (a broken link inside a pane should show our message, not a frame error).
        c.header('Content-Security-Policy', csp);
        const rel = addinFileFor(c.req.path);
        if (rel === null) return c.json(notFoundBody, 404);
        const file = await resolveInside(root, rel);
        if (file === null) {
          if (!existsSync(root)) {
            return c.json(
              errorBody(
                'not_found',
                'The Outlook add-in is not built on this server (run `npm run build -w addin-outlook`).',
              ),
              404,
            );
          }
          return c.json(notFoundBody, 404);
        }
        return sendFile(c, file.path, file.size, file.mtimeMs);
      });
    },
  };
}

/** The real file for `rel` if it is a regular file whose real path stays inside root (no symlink escapes). */
async function resolveInside(
  root: string,
  rel: string,
): Promise<{ path: string; size: number; mtimeMs: number } | null> {
  try {
    const realRoot = await realpath(root);
    const real = await realpath(resolve(realRoot, rel));
    if (!real.startsWith(realRoot + sep)) return null;
    const st = await stat(real);
    if (!st.isFile()) return null;
    return { path: real, size: st.size, mtimeMs: st.mtimeMs };
  } catch {
    return null;
  }
}

async function sendFile(c: Context<AppEnv>, path: string, size: number, mtimeMs: number): Promise<Response> {
  const ext = extname(path).toLowerCase();
  const etag = `W/"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}"`;
  c.header('Cache-Control', cacheControlFor(ext));
  c.header('ETag', etag);
  c.header('Content-Type', TYPES[ext] ?? 'application/octet-stream');
  const inm = c.req.header('If-None-Match');
  if (inm && inm.split(',').some((t) => t.trim() === etag)) return c.body(null, 304);
  const body = await readFile(path);
  return c.body(new Uint8Array(body), 200);
}

/** The module routes/index.ts mounts: the configured build folder (ADDIN_DIR or the package's dist/). */
export const addin: RouteModule = addinRoutes();
