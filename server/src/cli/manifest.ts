// `attune manifest --url https://attune.example.org [--out FILE] [--id GUID] [--client-id GUID] [--manifest FILE]`
// Writes the Outlook add-in manifest for a deployment: every URL of the committed manifest.xml
// (which points at the local development server) is rewritten to the deployment's base URL.
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** The origin the committed manifest.xml points at (the local development server). */
export const DEV_BASE_URL = 'https://localhost:3000';

export const DEFAULT_MANIFEST_PATH = fileURLToPath(new URL('../../../manifest.xml', import.meta.url));

export type RewriteResult = { ok: true; xml: string } | { ok: false; reason: string };

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Parses and checks a deployment base URL. Office requires HTTPS for every add-in URL, so plain
 * http is refused; query strings and fragments make no sense as a base and are refused too.
 */
export function parseBaseUrl(
  raw: string,
): { ok: true; base: string; origin: string } | { ok: false; reason: string } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: `not a URL: ${JSON.stringify(raw)}` };
  }
  if (url.protocol !== 'https:')
    return { ok: false, reason: 'the URL must use https (Office loads add-ins only over HTTPS)' };
  if (url.search || url.hash)
    return { ok: false, reason: 'the URL must not have a query string or fragment' };
  if (url.username || url.password) return { ok: false, reason: 'the URL must not contain credentials' };
  const base = (url.origin + url.pathname).replace(/\/+$/, '');
  return { ok: true, base, origin: url.origin };
}

/**
 * Rewrites every development URL in `xml` to `url`; optionally replaces the add-in Id, and with
 * `clientId` adds WebApplicationInfo (the Entra ID app), which Office single sign-on in the send
 * handler's event runtime needs (OfficeRuntime.auth.getAccessToken); nested app authentication
 * in the panes does not.
 */
export function rewriteManifest(
  xml: string,
  opts: { url: string; id?: string; clientId?: string },
): RewriteResult {
  const parsed = parseBaseUrl(opts.url);
  if (!parsed.ok) return parsed;
  if (opts.id !== undefined && !GUID.test(opts.id)) return { ok: false, reason: '--id must be a GUID' };
  if (opts.clientId !== undefined && !GUID.test(opts.clientId))
    return { ok: false, reason: '--client-id must be a GUID' };
  if (!xml.includes(DEV_BASE_URL))
    return { ok: false, reason: `the manifest has no ${DEV_BASE_URL} URLs to rewrite` };
  // AppDomain takes an origin, never a path.
  let out = xml.replace(
    /<AppDomain>\s*https:\/\/localhost:3000\/?\s*<\/AppDomain>/g,
    () => `<AppDomain>${escapeXml(parsed.origin)}</AppDomain>`,
  );
  out = out.split(DEV_BASE_URL).join(escapeXml(parsed.base));
  if (opts.id !== undefined) {
    const id = opts.id.toLowerCase();
    out = out.replace(/<Id>[^<]*<\/Id>/, () => `<Id>${id}</Id>`);
  }
  if (opts.clientId !== undefined) {
    const clientId = opts.clientId.toLowerCase();
    const host = new URL(parsed.origin).host;
    const info =
      `      <WebApplicationInfo>\n        <Id>${clientId}</Id>\n        <Resource>api://${escapeXml(host)}/${clientId}</Resource>\n` +
      `        <Scopes>\n          <Scope>openid</Scope>\n          <Scope>profile</Scope>\n        </Scopes>\n      </WebApplicationInfo>\n`;
    // Schema order: WebApplicationInfo follows Resources inside VersionOverridesV1_1.
    const at = out.lastIndexOf('</Resources>');
    if (at < 0 || out.includes('<WebApplicationInfo>'))
      return { ok: false, reason: 'cannot place WebApplicationInfo in this manifest' };
    const end = at + '</Resources>'.length;
    out = `${out.slice(0, end)}\n${info.replace(/\n$/, '')}${out.slice(end)}`;
  }
  return { ok: true, xml: out };
}

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const USAGE =
  'usage: attune manifest --url https://attune.example.org [--out FILE] [--id GUID] [--client-id GUID] [--manifest FILE]\n' +
  '  Writes manifest.xml with every URL pointing at the deployment (stdout unless --out).\n' +
  '  --client-id adds the Entra ID app (WebApplicationInfo) for single sign-on in the send handler.\n';

export async function run(args: string[]): Promise<number> {
  const opts: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    if (a === '--help' || a === '-h') {
      process.stdout.write(USAGE);
      return 0;
    }
    const m = /^--(url|out|id|client-id|manifest)(?:=(.*))?$/.exec(a);
    if (!m) {
      process.stderr.write(`attune manifest: unknown argument ${JSON.stringify(a)}\n${USAGE}`);
      return 2;
    }
    const value = m[2] ?? args[++i];
    if (value === undefined || value === '') {
      process.stderr.write(`attune manifest: --${m[1]} needs a value\n${USAGE}`);
      return 2;
    }
    opts[m[1] ?? ''] = value;
  }
  if (!opts.url) {
    process.stderr.write(`attune manifest: --url is required\n${USAGE}`);
    return 2;
  }
  const source = opts.manifest ?? DEFAULT_MANIFEST_PATH;
  let xml: string;
  try {
    xml = await readFile(source, 'utf8');
  } catch {
    process.stderr.write(`attune manifest: cannot read ${source}\n`);
    return 1;
  }
  const result = rewriteManifest(xml, {
    url: opts.url,
    ...(opts.id !== undefined ? { id: opts.id } : {}),
    ...(opts['client-id'] !== undefined ? { clientId: opts['client-id'] } : {}),
  });
  if (!result.ok) {
    process.stderr.write(`attune manifest: ${result.reason}\n`);
    return 2;
  }
  if (opts.out) {
    await writeFile(opts.out, result.xml, 'utf8');
    process.stderr.write(
      `wrote ${opts.out}; build the add-in for the same URL (PUBLIC_URL=${opts.url} npm run build -w addin-outlook)\n`,
    );
  } else {
    process.stdout.write(result.xml);
  }
  return 0;
}
