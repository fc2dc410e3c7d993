import { OK, REFUSED, USAGE_ERROR, UsageError } from './exit.ts';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildExport, type ExportRefusal } from '../archive/export.ts';
import { AUDIT, appendAudit, type AuditDetails } from '../audit/index.ts';
import { readMasterKey } from '../checkpoints.ts';
import {
  encryptAndSign,
  loadPrivateKey,
  PUBLIC_KEY_REJECTION_MESSAGES,
  readPublicKey,
  type PublicKey,
} from '../crypto/index.ts';
import type { Db } from '../store/index.ts';
import { openServerStore } from './open-store.ts';
import { findPracticeId } from '../store/practices.ts';
import { cliActor } from './actor.ts';
import { contentMacsCommand } from './archive-content-macs.ts';
import { loadConfigOrReport } from './load-config.ts';

const USAGE = `usage:
  attune archive export --practice PRACTICE --out FILE [--from ISO] [--to ISO] [--patient EMAIL]
                        [--encrypt-to KEYFILE] [--allow-broken]
  attune archive content-macs PRACTICE list | bind ID | quarantine ID   (--help for more)

Exports a practice's archive (every secure message and reply, decrypted) as JSON Lines: a manifest
line (practice, filter, the chain's state as \`attune verify\` reports it, counts), then one line per
entry with its kind, id, time, sender clinician, recipients or patient, subject, text, html,
attachments (base64) and its archive chain seq and hash. PRACTICE is a practice id or one of its
domains. --from is inclusive, --to exclusive (a date alone, e.g. 2026-01-31, means the end of that
day). --patient keeps the messages to that address and the replies from it. The chain is verified
first: a broken one is refused unless --allow-broken (then the manifest and entries say what is not
vouched for). --encrypt-to writes the export encrypted to that ASCII-armored OpenPGP public key and
signed with the practice's signing key (the plaintext never touches disk; \`gpg --decrypt\` reads
it). FILE must not exist; it is created mode 0600. Needs ATTUNE_MASTER_KEY (the server's). Every
export is audited (archive.export). Exit 0 done, 1 refused, 2 usage or setup.
`;

// `attune archive export`: what an IT admin runs to answer a records request, eDiscovery or a legal
// hold (DESIGN: admins "export the archive"). The export holds PHI by nature; the audit event of it
// holds references only (CONVENTIONS 8): counts, range, the patient's id, the output kind.
export async function run(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  try {
    switch (sub) {
      case 'export':
        return await exportArchive(rest);
      case 'content-macs':
        return await contentMacsCommand(rest);
      case undefined:
      case '--help':
      case 'help':
        process.stdout.write(USAGE);
        return sub === undefined ? USAGE_ERROR : OK;
      default:
        throw new UsageError(`unknown subcommand "${sub}"`);
    }
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`attune archive: ${(err as Error).message}\n\n${USAGE}`);
      return USAGE_ERROR;
    }
    throw err;
  }
}

/** An ISO 8601 date or date-time as a UTC instant; a date alone as `to` means the end of that day. */
function instantOf(name: string, value: string | undefined, endOfDay: boolean): string | undefined {
  if (value === undefined) return undefined;
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(value);
  const ms = /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)
    ? Date.parse(dateOnly ? `${value}T00:00:00Z` : value)
    : NaN;
  if (Number.isNaN(ms))
    throw new UsageError(
      `--${name} must be an ISO 8601 date or date-time (e.g. 2026-01-31 or 2026-01-31T17:00:00Z)`,
    );
  return new Date(dateOnly && endOfDay ? ms + 86_400_000 : ms).toISOString();
}

function refusalMessage(r: ExportRefusal): string {
  switch (r.reason) {
    case 'chain_broken':
      return `the archive chain ${r.break.chain} does not verify: ${r.break.reason} at seq ${r.break.seq}${r.break.id ? ` (row id ${r.break.id})` : ''}. Run \`attune verify\` for the report; --allow-broken exports it anyway, marked`;
    case 'undecryptable':
      return `archive entry seq ${r.seq} (message or reply ${r.ref}) does not decrypt with the practice's archive keys (${r.failure}); --allow-broken exports it without content, marked`;
    case 'unknown_patient':
      return 'no patient or recipient with that address in this practice';
  }
}

async function exportArchive(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      practice: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      patient: { type: 'string' },
      out: { type: 'string' },
      'encrypt-to': { type: 'string' },
      'allow-broken': { type: 'boolean' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (!values.practice) throw new UsageError('name the practice: --practice ID-or-DOMAIN');
  if (!values.out) throw new UsageError('give the file to write: --out FILE');
  const from = instantOf('from', values.from, false);
  const to = instantOf('to', values.to, true);
  if (from && to && from >= to) throw new UsageError('--from must be earlier than --to');
  const patientEmail = values.patient?.trim().toLowerCase();
  if (patientEmail !== undefined && !/^[^\s@]+@[^\s@]+$/.test(patientEmail))
    throw new UsageError('--patient must be an email address');
  const out = resolve(values.out);
  let recipientKey: PublicKey | undefined;
  if (values['encrypt-to'] !== undefined) {
    let armored: string;
    try {
      armored = readFileSync(values['encrypt-to'], 'utf8');
    } catch {
      throw new UsageError(`cannot read --encrypt-to ${values['encrypt-to']}`);
    }
    const key = await readPublicKey(armored);
    if (!key.ok) throw new UsageError(`--encrypt-to: ${PUBLIC_KEY_REJECTION_MESSAGES[key.reason]}`);
    recipientKey = key.key;
  }

  const config = loadConfigOrReport();
  if (!config) return USAGE_ERROR;
  const masterKey = readMasterKey(config);
  if (!masterKey) {
    process.stderr.write(
      'attune archive export: no master key (set ATTUNE_MASTER_KEY as the server has it): the archive keys are sealed under it\n',
    );
    return USAGE_ERROR;
  }
  const store = await openServerStore(config, 'archive export', { current: true });
  if (typeof store === 'number') return store;
  try {
    const practiceId = await findPracticeId(store.db, values.practice);
    if (!practiceId) {
      process.stderr.write(
        `attune archive export: no practice ${values.practice} in this store (\`attune practice list\` shows them)\n`,
      );
      return REFUSED;
    }
    const allowBroken = values['allow-broken'] === true;
    const output = recipientKey ? 'jsonl+openpgp' : 'jsonl';
    const range: AuditDetails = {
      from: from ?? null,
      to: to ?? null,
      patient_filter: patientEmail !== undefined,
      output,
      allow_broken: allowBroken,
    };
    const result = await buildExport(store.db, masterKey, {
      practiceId,
      ...(from ? { from } : {}),
      ...(to ? { to } : {}),
      ...(patientEmail !== undefined ? { patientEmail } : {}),
      allowBroken,
    });
    if (!result.ok) {
      await appendAudit(store.db, exportEvent(practiceId, 'failure', { ...range, reason: result.reason }));
      process.stderr.write(`attune archive export: refused: ${refusalMessage(result)}\n`);
      return REFUSED;
    }
    let data: string = result.jsonl;
    if (recipientKey) {
      // Signed by the practice, so the recipient can tell the export came from its Attune.
      data = await encryptAndSign({
        data,
        encryptionKeys: recipientKey,
        signingKey: await signingKey(store.db, masterKey, practiceId),
      });
    }
    try {
      // wx: never over an existing file; 0600: the export is PHI, for its owner only.
      writeFileSync(out, data, { flag: 'wx', mode: 0o600 });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'EEXIST') throw new UsageError(`${out} exists: give a new file for --out`);
      process.stderr.write(`attune archive export: cannot write ${out} (${code ?? 'error'})\n`);
      rmSync(out, { force: true });
      return USAGE_ERROR;
    }
    const { counts, chain } = result.manifest;
    await appendAudit(
      store.db,
      exportEvent(practiceId, 'success', {
        ...range,
        patient_id: result.patientId,
        entries: counts.entries,
        messages: counts.messages,
        replies: counts.replies,
        attachments: counts.attachments,
        undecryptable: counts.undecryptable,
        unverified: counts.unverified,
        chain_intact: chain.intact,
        verified_entries: chain.verified_entries,
        head: chain.head,
      }),
    );
    process.stdout.write(
      `Exported ${counts.entries} archive entries (${counts.messages} messages, ${counts.replies} replies, ${counts.attachments} attachments) of practice ${practiceId} to ${out}${recipientKey ? ', encrypted to the given key' : ''}.\n` +
        `Archive chain ${chain.name}: ${chain.intact ? `intact, ${chain.verified_entries} entries, head ${chain.head}` : `BROKEN (${chain.break?.reason ?? 'unknown'} at seq ${chain.break?.seq ?? '?'}): ${counts.unverified} exported entries not vouched for`}.\n` +
        (counts.undecryptable > 0
          ? `${counts.undecryptable} entries did not decrypt: exported without content.\n`
          : ''),
    );
    return OK;
  } finally {
    await store.close();
  }
}

function exportEvent(practiceId: string, outcome: 'success' | 'failure', details: AuditDetails) {
  return {
    action: AUDIT.EXPORT,
    outcome,
    actor: cliActor(),
    practiceId,
    target: { type: 'archive', id: practiceId },
    details,
  };
}

async function signingKey(db: Db, masterKey: Parameters<typeof loadPrivateKey>[0], practiceId: string) {
  const row = await db
    .selectFrom('practice_keys')
    .select('sealed_private_key')
    .where('practice_id', '=', practiceId)
    .where('purpose', '=', 'signing')
    .where('retired_at', 'is', null)
    .orderBy('created_at', 'desc')
    .executeTakeFirstOrThrow();
  return loadPrivateKey(masterKey, practiceId, 'signing', row.sealed_private_key);
}
