import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rewriteManifest, run } from '../../server/src/cli/manifest.ts';
import { COMPOSE_COMMAND_ID } from './launchevent/on-send.ts';
import { ALLOWED_LIST_PATH, allowedList, REQUIRED_FILES } from '../serve-info.mjs';
import { buildInto } from './testing/build-once.ts';
import { localName, parseXml, walk } from './testing/xml.ts';
import type { XmlElement } from './testing/xml.ts';

const MANIFEST = fileURLToPath(new URL('../../manifest.xml', import.meta.url));
const ENTRY = fileURLToPath(new URL('./launchevent/entry.ts', import.meta.url));

let xml: string;
let root: XmlElement;
beforeAll(async () => {
  xml = await readFile(MANIFEST, 'utf8');
  root = parseXml(xml);
});

const all = () => [...walk(root)];
const named = (name: string) => all().filter((n) => localName(n.el.name) === name);
const child = (el: XmlElement, name: string) => el.children.find((c) => localName(c.name) === name);

// Child order per parent, from MS-OWEMXML as summarised in "How to find the proper order of manifest
// elements" (MailApp, VersionOverrides 1.0 and 1.1). A child not listed for its parent is an error.
const ORDER: Record<string, string[]> = {
  OfficeApp: [
    'Id',
    'AlternateId',
    'Version',
    'ProviderName',
    'DefaultLocale',
    'DisplayName',
    'Description',
    'IconUrl',
    'HighResolutionIconUrl',
    'SupportUrl',
    'AppDomains',
    'Hosts',
    'Requirements',
    'FormSettings',
    'Permissions',
    'Rule',
    'DisableEntityHighlighting',
    'VersionOverrides',
  ],
  AppDomains: ['AppDomain'],
  Hosts: ['Host'],
  Requirements: ['Sets'],
  Sets: ['Set'],
  FormSettings: ['Form'],
  Form: ['DesktopSettings', 'TabletSettings', 'PhoneSettings'],
  DesktopSettings: ['SourceLocation', 'RequestedHeight'],
  VersionOverrides: [
    'Description',
    'Requirements',
    'Hosts',
    'Resources',
    'VersionOverrides',
    'WebApplicationInfo',
    'EquivalentAddins',
  ],
  Host: ['Runtimes', 'DesktopFormFactor', 'MobileFormFactor'],
  Runtimes: ['Runtime'],
  Runtime: ['Override'],
  DesktopFormFactor: ['FunctionFile', 'ExtensionPoint'],
  ExtensionPoint: [
    'OfficeTab',
    'CustomTab',
    'OfficeMenu',
    'LaunchEvents',
    'SourceLocation',
    'Label',
    'CommandSurface',
  ],
  LaunchEvents: ['LaunchEvent'],
  OfficeTab: ['Group'],
  Group: ['Label', 'Tooltip', 'Icon', 'Control'],
  Control: ['Label', 'Supertip', 'Icon', 'Action', 'Items'],
  Supertip: ['Title', 'Description'],
  Icon: ['Image'],
  Action: ['TaskpaneId', 'SourceLocation', 'Title', 'FunctionName', 'SupportsPinning'],
  Resources: ['Images', 'Urls', 'ShortStrings', 'LongStrings'],
  WebApplicationInfo: ['Id', 'Resource', 'Scopes'],
  Scopes: ['Scope'],
  Images: ['Image'],
  Urls: ['Url'],
  ShortStrings: ['String'],
  LongStrings: ['String'],
};

function orderProblems(top: XmlElement): string[] {
  const problems: string[] = [];
  for (const { el } of walk(top)) {
    const order = ORDER[localName(el.name)];
    if (!order || el.children.length === 0) continue;
    let last = -1;
    for (const c of el.children) {
      const idx = order.indexOf(localName(c.name));
      if (idx < 0) problems.push(`<${c.name}> is not allowed in <${el.name}>`);
      else if (idx < last) problems.push(`<${c.name}> is out of order in <${el.name}>`);
      else last = idx;
    }
  }
  return problems;
}

describe('manifest.xml', () => {
  it('is well-formed XML with the OfficeApp MailApp root', () => {
    expect(localName(root.name)).toBe('OfficeApp');
    expect(root.attrs['xsi:type']).toBe('MailApp');
  });

  it('the checker rejects what is not well-formed', () => {
    expect(() => parseXml('<a><b></a>')).toThrow(/mismatched/);
    expect(() => parseXml('<a x="1" x="2"/>')).toThrow(/duplicate/);
    expect(() => parseXml('<a>&</a>')).toThrow(/bare/);
    expect(() => parseXml('<!-- a -- b --><a/>')).toThrow(/comment/);
  });

  it('has every element in schema order under a parent that allows it', () => {
    expect(orderProblems(root)).toEqual([]);
  });

  it('the order check catches a swapped pair and a misplaced element', () => {
    const swapped = xml.replace(
      /(<Version>[^<]*<\/Version>)(\s*)(<ProviderName>[^<]*<\/ProviderName>)/,
      '$3$2$1',
    );
    expect(orderProblems(parseXml(swapped))).toEqual(['<Version> is out of order in <OfficeApp>']);
    const misplaced = xml
      .replace('<SupportsPinning>true</SupportsPinning>', '')
      .replace('<Permissions>', '<SupportsPinning>true</SupportsPinning><Permissions>');
    expect(orderProblems(parseXml(misplaced))).toEqual(['<SupportsPinning> is not allowed in <OfficeApp>']);
  });

  it('wraps VersionOverrides 1.1 inside 1.0 and requires Mailbox 1.15 for Smart Alerts', () => {
    const [outer, inner] = named('VersionOverrides').map((n) => n.el);
    expect(outer?.attrs['xsi:type']).toBe('VersionOverridesV1_0');
    expect(inner?.attrs['xsi:type']).toBe('VersionOverridesV1_1');
    expect(child(outer!, 'VersionOverrides')).toBe(inner);
    const sets = named('Sets')
      .map((n) => n.el)
      .find((s) => s.attrs.DefaultMinVersion);
    expect(sets?.attrs.DefaultMinVersion).toBe('1.15');
    expect(child(sets!, 'Set')?.attrs.Name).toBe('Mailbox');
  });

  it('defines every resid it references, of the right resource kind', () => {
    const kinds = new Map<string, string>();
    for (const kind of ['Images', 'Urls', 'ShortStrings', 'LongStrings']) {
      for (const n of named(kind))
        for (const r of n.el.children) {
          expect(kinds.has(r.attrs.id!), `duplicate resource id ${r.attrs.id}`).toBe(false);
          kinds.set(r.attrs.id!, kind);
        }
    }
    const expected = (el: XmlElement, parent: XmlElement | undefined): string => {
      const n = localName(el.name);
      if (n === 'Image') return 'Images';
      if (n === 'Label' || n === 'Title') return 'ShortStrings';
      if (n === 'Description' && parent && localName(parent.name) === 'Supertip') return 'LongStrings';
      return 'Urls'; // Runtime, Override, SourceLocation, FunctionFile
    };
    const refs = all().filter((n) => n.el.attrs.resid !== undefined);
    expect(refs.length).toBeGreaterThan(10);
    for (const { el, path } of refs) {
      expect(kinds.get(el.attrs.resid!), `resid ${el.attrs.resid} on <${el.name}>`).toBe(
        expected(el, path[path.length - 1]),
      );
    }
  });

  it('has unique control and group ids, and the commandId the handler uses is the compose button', () => {
    const ids = [...named('Control'), ...named('Group')].map((n) => n.el.attrs.id);
    expect(new Set(ids).size).toBe(ids.length);
    const compose = named('ExtensionPoint').find(
      (n) => n.el.attrs['xsi:type'] === 'MessageComposeCommandSurface',
    )!;
    const controls = [...walk(compose.el)]
      .filter((n) => localName(n.el.name) === 'Control')
      .map((n) => n.el.attrs.id);
    expect(controls).toContain(COMPOSE_COMMAND_ID);
  });

  it('declares exactly one OnMessageSend, in Block mode, naming the function the bundle registers', async () => {
    const sends = named('LaunchEvent').filter((n) => n.el.attrs.Type === 'OnMessageSend');
    expect(sends).toHaveLength(1);
    expect(sends[0]!.el.attrs.SendMode).toBe('Block');
    const entry = await readFile(ENTRY, 'utf8');
    expect(entry).toContain(`'${sends[0]!.el.attrs.FunctionName}'`);
  });

  it('has an HTML runtime with a JavaScript-only override, and the launch event uses that runtime', () => {
    const runtime = named('Runtime')[0]!.el;
    const override = child(runtime, 'Override')!;
    expect(override.attrs.type).toBe('javascript');
    const launch = named('ExtensionPoint').find((n) => n.el.attrs['xsi:type'] === 'LaunchEvent')!.el;
    expect(child(launch, 'SourceLocation')!.attrs.resid).toBe(runtime.attrs.resid);
  });

  it('opens a pinnable pane from the read surface and asks only for ReadWriteItem', () => {
    const read = named('ExtensionPoint').find(
      (n) => n.el.attrs['xsi:type'] === 'MessageReadCommandSurface',
    )!.el;
    const pin = [...walk(read)].find((n) => localName(n.el.name) === 'SupportsPinning');
    expect(pin?.el.text.trim()).toBe('true');
    expect(named('Permissions')[0]!.el.text.trim()).toBe('ReadWriteItem');
  });

  it('uses only HTTPS URLs, all on the development server', () => {
    const urls = [...xml.matchAll(/(?:DefaultValue="|<AppDomain>)(https?:\/\/[^"<]+)/g)].map((m) => m[1]!);
    expect(urls.length).toBeGreaterThan(8);
    for (const u of urls) expect(u.startsWith('https://localhost:3000')).toBe(true);
  });
});

describe('attune manifest --url', () => {
  it('rewrites every URL to the deployment and keeps the manifest well-formed', () => {
    const r = rewriteManifest(xml, { url: 'https://attune.example.org/' });
    if (!r.ok) return expect.unreachable(r.reason);
    expect(r.xml).not.toContain('localhost');
    const out = parseXml(r.xml);
    const urls = [...walk(out)]
      .flatMap((n) => [n.el.attrs.DefaultValue, localName(n.el.name) === 'AppDomain' ? n.el.text : undefined])
      .filter((v): v is string => !!v && /^\w+:\/\//.test(v));
    expect(urls.length).toBeGreaterThan(8);
    for (const u of urls) expect(u).toMatch(/^https:\/\/attune\.example\.org(\/|$)/);
    expect(r.xml).toContain(
      '<bt:Url id="Attune.Runtime.Js" DefaultValue="https://attune.example.org/addin/launchevent.js"/>',
    );
  });

  it('keeps a path prefix for the files but gives AppDomain the bare origin', () => {
    const r = rewriteManifest(xml, { url: 'https://mail.example.org/attune' });
    if (!r.ok) return expect.unreachable(r.reason);
    expect(r.xml).toContain('<AppDomain>https://mail.example.org</AppDomain>');
    expect(r.xml).toContain('https://mail.example.org/attune/addin/read.html');
  });

  it('refuses plain http, bad URLs and a malformed --id', () => {
    expect(rewriteManifest(xml, { url: 'http://attune.example.org' })).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/https/),
    });
    expect(rewriteManifest(xml, { url: 'not a url' }).ok).toBe(false);
    expect(rewriteManifest(xml, { url: 'https://a.example.org/?x=1' }).ok).toBe(false);
    expect(rewriteManifest(xml, { url: 'https://a.example.org', id: 'nope' }).ok).toBe(false);
    const r = rewriteManifest(xml, {
      url: 'https://a.example.org',
      id: '11111111-2222-3333-4444-555555555555',
    });
    expect(r.ok && r.xml.includes('<Id>11111111-2222-3333-4444-555555555555</Id>')).toBe(true);
  });

  it('adds WebApplicationInfo for --client-id after Resources, in schema order', () => {
    const clientId = 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee';
    const r = rewriteManifest(xml, { url: 'https://attune.example.org', clientId });
    if (!r.ok) return expect.unreachable(r.reason);
    const out = parseXml(r.xml);
    expect(orderProblems(out)).toEqual([]);
    const inner = [...walk(out)].map((n) => n.el).filter((e) => localName(e.name) === 'VersionOverrides')[1]!;
    expect(inner.children.map((c) => localName(c.name))).toEqual([
      'Requirements',
      'Hosts',
      'Resources',
      'WebApplicationInfo',
    ]);
    const info = child(inner, 'WebApplicationInfo')!;
    expect(child(info, 'Id')!.text).toBe(clientId);
    expect(child(info, 'Resource')!.text).toBe(`api://attune.example.org/${clientId}`);
    expect(rewriteManifest(xml, { url: 'https://attune.example.org', clientId: 'x' }).ok).toBe(false);
  });

  it('writes the file with --out and exits 0; exits 2 without --url', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'attune-manifest-'));
    try {
      const out = join(dir, 'manifest.prod.xml');
      expect(await run(['--url', 'https://attune.example.org', '--out', out])).toBe(0);
      const written = await readFile(out, 'utf8');
      expect(written).toContain('https://attune.example.org/addin/runtime.html');
      expect(await run(['--out', out])).toBe(2);
      expect(await run(['--url', 'http://insecure.example.org'])).toBe(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the build serves every file the manifest names', () => {
  let out: string;
  beforeAll(async () => {
    out = await buildInto();
  });
  afterAll(async () => {
    await rm(out, { recursive: true, force: true });
  });

  it('has the runtime page, the JS-only override, both panes and every icon', () => {
    const files = [...xml.matchAll(/DefaultValue="https:\/\/localhost:3000\/addin\/([^"]+)"/g)].map(
      (m) => m[1]!,
    );
    expect(files).toEqual(
      expect.arrayContaining([
        'runtime.html',
        'launchevent.js',
        'compose.html',
        'read.html',
        'assets/icon-16.png',
      ]),
    );
    for (const f of files) expect(existsSync(join(out, f)), f).toBe(true);
  });

  it('the runtime page loads the same handler bundle classic Outlook loads', async () => {
    const html = await readFile(join(out, 'runtime.html'), 'utf8');
    expect(html).toMatch(/<script src="launchevent\.js"><\/script>/);
  });

  it('serve-info tells the server every file it must serve and the allowed list for the JS-only runtime', () => {
    for (const f of REQUIRED_FILES) expect(existsSync(join(out, f)), f).toBe(true);
    expect(ALLOWED_LIST_PATH).toBe('/.well-known/microsoft-officeaddins-allowed.json');
    const r = rewriteManifest(xml, { url: 'https://attune.example.org' });
    const js = r.ok ? /id="Attune\.Runtime\.Js" DefaultValue="([^"]+)"/.exec(r.xml)?.[1] : undefined;
    expect(allowedList('https://attune.example.org/')).toEqual({ allowed: [js] });
  });

  it('icons are real PNGs of the declared sizes', async () => {
    for (const size of [16, 32, 64, 80, 128]) {
      const png = await readFile(join(out, 'assets', `icon-${size}.png`));
      expect(png.subarray(1, 4).toString('ascii')).toBe('PNG');
      expect(png.readUInt32BE(16)).toBe(size);
      expect(png.readUInt32BE(20)).toBe(size);
    }
  });
});
