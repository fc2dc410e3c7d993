import { OK, REFUSED, USAGE_ERROR, UsageError } from './exit.ts';
import { existsSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AUDIT, appendAudit, type AuditDetails, type AuditEventInput } from '../audit/index.ts';
import { readMasterKey } from '../checkpoints.ts';
import { loadPrivateKey, type MasterKey } from '../crypto/index.ts';
import type { Config } from '../config.ts';
import { ensurePracticeKeys } from '../delivery/keyring.ts';
import { noticesAddress } from '../delivery/services.ts';
import type { Db, Store } from '../store/index.ts';
import { openServerStore } from './open-store.ts';
import {
  addPractice,
  findPracticeId,
  listPractices,
  normalizeDomain,
  normalizeTenantId,
  setPracticeDomains,
  updatePractice,
  type PracticeConflict,
  type PracticeSummary,
} from '../store/practices.ts';
import { cliActor } from './actor.ts';
import { careTeamCommand } from './practice-care-team.ts';
import { loadConfigOrReport } from './load-config.ts';

const USAGE = `usage:
  attune practice list [--json]
  attune practice add --name NAME --domain DOMAIN [--domain DOMAIN ...] [--reply-domain DOMAIN]
                      [--entra-tenant TENANT_ID] [--archive-key-out FILE] [--json]
  attune practice set-domains PRACTICE --domain DOMAIN [--domain DOMAIN ...] [--json]
  attune practice set PRACTICE [--name NAME] [--reply-domain DOMAIN | --no-reply-domain]
                      [--entra-tenant TENANT_ID | --no-entra-tenant] [--json]
  attune practice care-team PRACTICE list PATIENT_EMAIL | add|remove PATIENT_EMAIL CLINICIAN_EMAIL
                      [--json]   (attune practice care-team --help)

PRACTICE is a practice id or one of its domains. Domains map sign-ins (Google hd, development tokens)
and gateway senders to the practice; the Entra tenant maps Outlook sign-ins. A running server sees a
change at once. Exit 0 done, 1 refused (a domain or tenant another practice has), 2 usage or setup.
`;

// `attune practice …`: adds and manages the practices of a multi-practice deployment, in the store
// the server uses (DATA_DIR or DATABASE_URL, the same configuration as every command). Each change
// is audited in the practice's chain as actor `cli` with the OS user; refusals too. The practice of
// PRACTICE_DOMAINS is the server's own (bootstrapped and re-applied at every start): its domains
// and settings come from those variables, so the commands leave them to the configuration.

export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  try {
    switch (sub) {
      case 'list':
        return await withStore((store, config) => list(store, config, rest));
      case 'add':
        return await add(rest);
      case 'set-domains':
        return await withStore((store, config) => setDomains(store, config, rest));
      case 'set':
        return await withStore((store, config) => set(store, config, rest));
      case 'care-team':
        return await careTeamCommand(rest, (fn) => withStore((store) => fn(store)));
      case undefined:
      case '--help':
      case 'help':
        process.stdout.write(USAGE);
        return sub === undefined ? USAGE_ERROR : OK;
      default:
        throw new UsageError(`unknown subcommand "${sub}"`);
    }
  } catch (err) {
    // parseArgs' own errors (unknown option, missing value) are usage errors too.
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`attune practice: ${(err as Error).message}\n\n${USAGE}`);
      return USAGE_ERROR;
    }
    throw err;
  }
}

type Loaded = { store: Store; config: Config };

/** Opens the configured store, or says why not (exit 2): bad configuration, or never started. */
async function openConfigured(): Promise<Loaded | number> {
  const config = loadConfigOrReport();
  if (!config) return USAGE_ERROR;
  // No migrations from here: the server of this version migrates at start, and must have started
  // once anyway, so that the practice of PRACTICE_DOMAINS exists before others claim its domains.
  const store = await openServerStore(config, 'practice', { current: true });
  if (typeof store === 'number') return store;
  let any: unknown;
  try {
    any = await store.db.selectFrom('practices').select('id').limit(1).executeTakeFirst();
  } catch {
    any = undefined;
  }
  if (!any) {
    await store.close();
    process.stderr.write(
      'attune practice: no practice in this store yet: start the server once (it creates the practice of PRACTICE_DOMAINS), then run this again\n',
    );
    return USAGE_ERROR;
  }
  return { store, config };
}

async function withStore(fn: (store: Store, config: Config) => Promise<number>): Promise<number> {
  const opened = await openConfigured();
  if (typeof opened === 'number') return opened;
  try {
    return await fn(opened.store, opened.config);
  } finally {
    await opened.store.close();
  }
}

async function list(store: Store, config: Config, args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'boolean' } }, strict: true });
  const practices = await listPractices(store.db);
  const configured = configuredPracticeId(practices, config);
  if (values.json) {
    out({ practices: practices.map((p) => ({ ...p, configured: p.id === configured })) });
    return OK;
  }
  for (const p of practices) process.stdout.write(describe(p, p.id === configured));
  return OK;
}

/** The practice the server bootstraps from PRACTICE_DOMAINS (the one owning any of them). */
function configuredPracticeId(practices: PracticeSummary[], config: Config): string | null {
  return practices.find((p) => p.domains.some((d) => config.practice.domains.includes(d)))?.id ?? null;
}

function describe(p: PracticeSummary, configured: boolean): string {
  const key = (purpose: string) => p.keys.find((k) => k.purpose === purpose)?.fingerprint ?? '(none yet)';
  return [
    `${p.id}  ${p.name}${configured ? '  (PRACTICE_DOMAINS: the server’s configured practice)' : ''}`,
    `  domains:      ${p.domains.join(', ') || '(none)'}`,
    `  reply domain: ${p.replyDomain ?? '(PRACTICE_REPLY_DOMAIN, else the first domain)'}`,
    `  Entra tenant: ${p.entraTenantId ?? '(none)'}`,
    `  signing key:  ${key('signing')}`,
    `  archive key:  ${key('archive')}`,
    `  clinicians:   ${p.clinicians}`,
    `  created:      ${p.createdAt}`,
    '',
  ].join('\n');
}

function out(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** `--domain` values, normalised and de-duplicated in order; a usage error names a bad one. */
function domainsOf(values: string[] | undefined): string[] {
  const domains: string[] = [];
  for (const v of values ?? []) {
    for (const part of v.split(',')) {
      const d = normalizeDomain(part);
      if (!d) throw new UsageError(`"${part.trim()}" is not a mail domain (e.g. calm-clinic.org)`);
      if (!domains.includes(d)) domains.push(d);
    }
  }
  if (domains.length === 0) throw new UsageError('give at least one --domain');
  return domains;
}

function nameOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const name = value.trim();
  // The same bound as PRACTICE_NAME; shown to patients in notices and the viewer.
  if (name === '' || name.length > 200 || /\p{Cc}/u.test(name))
    throw new UsageError('--name must be 1 to 200 characters, without control characters');
  return name;
}

function replyDomainOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const d = normalizeDomain(value);
  if (!d) throw new UsageError(`--reply-domain "${value}" is not a mail domain`);
  return d;
}

function tenantOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const t = normalizeTenantId(value);
  if (!t)
    throw new UsageError(`--entra-tenant must be the tenant id, a GUID (Entra admin center → Overview)`);
  return t;
}

/** What a refusal says: the domain or tenant and the practice that has it (ids and domains, no PHI). */
function conflictMessage(c: PracticeConflict): string {
  switch (c.reason) {
    case 'domain_taken':
      return `domain ${c.domain} already belongs to practice ${c.ownerId}: a domain maps to one practice (move it with \`attune practice set-domains ${c.ownerId} …\` first)`;
    case 'tenant_taken':
      return `that Entra tenant already belongs to practice ${c.ownerId}`;
    case 'unknown_practice':
      return 'no such practice';
  }
}

function conflictDetails(c: PracticeConflict): AuditDetails {
  return {
    reason: c.reason,
    ...(c.reason === 'domain_taken' ? { domain: c.domain, owner: c.ownerId } : {}),
    ...(c.reason === 'tenant_taken' ? { owner: c.ownerId } : {}),
  };
}

/** An audit event of this command: the practice's chain, actor cli and the OS user. */
function event(
  practiceId: string | null,
  outcome: 'success' | 'failure',
  details: AuditDetails,
): AuditEventInput {
  return {
    action: AUDIT.PRACTICE_CHANGE,
    outcome,
    actor: cliActor(),
    practiceId,
    ...(practiceId ? { target: { type: 'practice', id: practiceId } } : {}),
    details,
  };
}

/** Records a refusal (in its own transaction: nothing else was written) and tells the admin. */
async function refuse(
  db: Db,
  practiceId: string | null,
  operation: string,
  c: PracticeConflict,
): Promise<number> {
  await appendAudit(db, event(practiceId, 'failure', { operation, ...conflictDetails(c) }));
  process.stderr.write(`attune practice ${operation}: refused: ${conflictMessage(c)}\n`);
  return REFUSED;
}

/** Refuses to move a PRACTICE_DOMAINS domain away from (or to) anywhere but the configured practice. */
function configuredDomainProblem(
  config: Config,
  configuredId: string | null,
  practiceId: string | null,
  before: string[],
  after: string[],
): string | null {
  for (const d of config.practice.domains) {
    const leaves = before.includes(d) && !after.includes(d);
    const joinsOther = after.includes(d) && practiceId !== configuredId;
    if (leaves || joinsOther)
      return `domain ${d} is in PRACTICE_DOMAINS, which the server gives its configured practice at every start: change PRACTICE_DOMAINS first`;
  }
  return null;
}

async function add(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      name: { type: 'string' },
      domain: { type: 'string', multiple: true },
      'reply-domain': { type: 'string' },
      'entra-tenant': { type: 'string' },
      'archive-key-out': { type: 'string' },
      json: { type: 'boolean' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const name = nameOf(values.name);
  if (name === undefined) throw new UsageError('give the practice a --name');
  const domains = domainsOf(values.domain);
  const replyDomain = replyDomainOf(values['reply-domain']);
  const entraTenantId = tenantOf(values['entra-tenant']);
  const keyOut = values['archive-key-out'] ? resolve(values['archive-key-out']) : undefined;
  if (keyOut && existsSync(keyOut))
    throw new UsageError(`${keyOut} exists: give a new file for --archive-key-out`);

  const opened = await openConfigured();
  if (typeof opened === 'number') return opened;
  const { store, config } = opened;
  try {
    // The practice's keys are sealed under the master key, as the server's own are.
    const masterKey = readMasterKey(config);
    if (!masterKey) {
      process.stderr.write(
        'attune practice add: no master key (set ATTUNE_MASTER_KEY as the server has it): the practice’s keys are sealed under it\n',
      );
      return USAGE_ERROR;
    }
    if (!(await opensStoreKeys(store.db, masterKey))) {
      process.stderr.write(
        'attune practice add: this master key does not open the keys in this store: set ATTUNE_MASTER_KEY to the one the server uses (keys sealed under another could never be opened by it)\n',
      );
      return USAGE_ERROR;
    }
    const before = await listPractices(store.db);
    const problem = configuredDomainProblem(config, configuredPracticeId(before, config), null, [], domains);
    if (problem) {
      process.stderr.write(`attune practice add: ${problem}\n`);
      return REFUSED;
    }
    const result = await store.db.transaction().execute(async (tx) => {
      const r = await addPractice(tx, { name, domains, replyDomain, entraTenantId });
      if (r.ok)
        await appendAudit(
          tx,
          event(r.practiceId, 'success', {
            operation: 'add',
            domains: domains.join(','),
            reply_domain: replyDomain ?? null,
            entra_tenant: entraTenantId ?? null,
          }),
        );
      return r;
    });
    if (!result.ok) return await refuse(store.db, null, 'add', result);
    const { practiceId } = result;
    // Generated now, not at first use, so the fingerprints can be printed and kept; audited
    // (key.change) by ensurePracticeKeys. The signing key's user id is the notices' From address.
    const mailDomain = replyDomain ?? config.practice.replyDomain ?? domains[0]!;
    await ensurePracticeKeys(store.db, masterKey, practiceId, {
      email: await noticesAddress(store.db, config.mailFrom, practiceId, mailDomain),
    });
    const [summary] = (await listPractices(store.db)).filter((p) => p.id === practiceId);
    if (!summary) throw new Error('practice vanished after it was added');
    if (keyOut) {
      const archive = await store.db
        .selectFrom('practice_keys')
        .select('public_key')
        .where('practice_id', '=', practiceId)
        .where('purpose', '=', 'archive')
        .where('retired_at', 'is', null)
        .executeTakeFirstOrThrow();
      // The public half only: the private half stays sealed under the master key in the store.
      writeFileSync(keyOut, archive.public_key, { flag: 'wx', mode: 0o644 });
    }
    if (values.json) {
      out({ practice: { ...summary, configured: false }, ...(keyOut ? { archiveKeyFile: keyOut } : {}) });
      return OK;
    }
    process.stdout.write(`Added practice "${summary.name}".\n${describe(summary, false)}`);
    if (keyOut) process.stdout.write(`The archive key's public half is in ${keyOut}.\n`);
    if (replyDomain) process.stdout.write(gatewayNote(replyDomain));
    process.stdout.write(
      [
        'Policy: the defaults until an admin of the practice sets one (PUT /v1/policy).',
        'Its admins: their addresses in ADMIN_EMAILS, or the ENTRA_ADMIN_ROLE app role in its tenant.',
        `A running server picks the practice up at once: clinicians at ${domains.join(', ')} can sign in now.`,
        '',
      ].join('\n'),
    );
    return OK;
  } finally {
    await store.close();
  }
}

// A running SMTP gateway re-reads the practices' reply domains (gateway/server.ts): within a minute,
// and at once when a reply names a domain it does not know. What is left to the admin is the DNS.
function gatewayNote(domain: string): string {
  return `Running SMTP gateways accept patients' email replies to ${domain} without a restart (they re-read reply domains). Point ${domain}'s MX record at the gateway.\n`;
}

/** Whether `masterKey` is the store's: it unseals a key already there (true when there is none). */
export async function opensStoreKeys(db: Db, masterKey: MasterKey): Promise<boolean> {
  const row = await db
    .selectFrom('practice_keys')
    .select(['practice_id', 'purpose', 'sealed_private_key'])
    .where('retired_at', 'is', null)
    .where('purpose', 'in', ['signing', 'archive'])
    .orderBy('created_at')
    .executeTakeFirst();
  if (!row) return true;
  try {
    await loadPrivateKey(
      masterKey,
      row.practice_id,
      row.purpose as 'signing' | 'archive',
      row.sealed_private_key,
    );
    return true;
  } catch {
    return false;
  }
}

async function target(store: Store, ref: string | undefined): Promise<string | null> {
  if (!ref) throw new UsageError('name the practice (its id or one of its domains)');
  const id = await findPracticeId(store.db, ref);
  if (!id) process.stderr.write(`attune practice: no practice ${ref} (see attune practice list)\n`);
  return id;
}

async function setDomains(store: Store, config: Config, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { domain: { type: 'string', multiple: true }, json: { type: 'boolean' } },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
  const domains = domainsOf(values.domain);
  const practiceId = await target(store, positionals[0]);
  if (!practiceId) return REFUSED;
  const practices = await listPractices(store.db);
  const current = practices.find((p) => p.id === practiceId)?.domains ?? [];
  const problem = configuredDomainProblem(
    config,
    configuredPracticeId(practices, config),
    practiceId,
    current,
    domains,
  );
  if (problem) {
    process.stderr.write(`attune practice set-domains: ${problem}\n`);
    return REFUSED;
  }
  const result = await store.db.transaction().execute(async (tx) => {
    const r = await setPracticeDomains(tx, practiceId, domains);
    if (r.ok && (r.added.length > 0 || r.removed.length > 0))
      await appendAudit(
        tx,
        event(practiceId, 'success', {
          operation: 'set_domains',
          domains: domains.join(','),
          added: r.added.join(','),
          removed: r.removed.join(','),
        }),
      );
    return r;
  });
  if (!result.ok) return refuse(store.db, practiceId, 'set-domains', result);
  if (values.json) {
    out({ practiceId, domains, added: result.added, removed: result.removed });
    return OK;
  }
  process.stdout.write(
    result.added.length + result.removed.length === 0
      ? `Practice ${practiceId} already has exactly ${domains.join(', ')}: nothing changed.\n`
      : `Practice ${practiceId} now has ${domains.join(', ')}` +
          `${result.added.length > 0 ? `; added ${result.added.join(', ')}` : ''}` +
          `${result.removed.length > 0 ? `; removed ${result.removed.join(', ')}` : ''}.\n`,
  );
  if (result.removed.length > 0)
    process.stdout.write(
      'New sign-ins from the removed domains are refused at once; tokens already accepted work until they expire, and their clinicians stay in the practice (disable them to end access now).\n',
    );
  return OK;
}

async function set(store: Store, config: Config, args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      name: { type: 'string' },
      'reply-domain': { type: 'string' },
      'no-reply-domain': { type: 'boolean' },
      'entra-tenant': { type: 'string' },
      'no-entra-tenant': { type: 'boolean' },
      json: { type: 'boolean' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
  if (values['reply-domain'] !== undefined && values['no-reply-domain'])
    throw new UsageError('give --reply-domain or --no-reply-domain, not both');
  if (values['entra-tenant'] !== undefined && values['no-entra-tenant'])
    throw new UsageError('give --entra-tenant or --no-entra-tenant, not both');
  const changes = {
    ...(values.name !== undefined ? { name: nameOf(values.name)! } : {}),
    ...(values['reply-domain'] !== undefined ? { replyDomain: replyDomainOf(values['reply-domain'])! } : {}),
    ...(values['no-reply-domain'] ? { replyDomain: null } : {}),
    ...(values['entra-tenant'] !== undefined ? { entraTenantId: tenantOf(values['entra-tenant'])! } : {}),
    ...(values['no-entra-tenant'] ? { entraTenantId: null } : {}),
  };
  if (Object.keys(changes).length === 0)
    throw new UsageError('nothing to change: give --name, --reply-domain or --entra-tenant');
  const practiceId = await target(store, positionals[0]);
  if (!practiceId) return REFUSED;
  if (practiceId === configuredPracticeId(await listPractices(store.db), config)) {
    process.stderr.write(
      'attune practice set: this is the server’s configured practice (PRACTICE_DOMAINS): its name, reply domain and Entra tenant are PRACTICE_NAME, PRACTICE_REPLY_DOMAIN and PRACTICE_ENTRA_TENANT_ID, applied at every start: change those instead\n',
    );
    return REFUSED;
  }
  const result = await store.db.transaction().execute(async (tx) => {
    const r = await updatePractice(tx, practiceId, changes);
    if (r.ok && r.changed.length > 0)
      await appendAudit(
        tx,
        event(practiceId, 'success', {
          operation: 'set',
          changed: r.changed.join(','),
          ...(changes.entraTenantId !== undefined ? { entra_tenant: changes.entraTenantId } : {}),
          ...(changes.replyDomain !== undefined ? { reply_domain: changes.replyDomain } : {}),
        }),
      );
    return r;
  });
  if (!result.ok) return refuse(store.db, practiceId, 'set', result);
  const [summary] = (await listPractices(store.db)).filter((p) => p.id === practiceId);
  if (values.json) {
    out({ practice: { ...summary, configured: false }, changed: result.changed });
    return OK;
  }
  if (changes.replyDomain && result.changed.includes('reply_domain'))
    process.stdout.write(gatewayNote(changes.replyDomain));
  process.stdout.write(
    `${result.changed.length === 0 ? 'Nothing changed.' : `Changed ${result.changed.join(', ')}.`}\n${summary ? describe(summary, false) : ''}`,
  );
  return OK;
}
