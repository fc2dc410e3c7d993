import { parseArgs } from 'node:util';
import {
  archiveCoverage,
  decideContent,
  listUnvouched,
  masterKeyOpensPractice,
  type ArchiveCoverage,
  type ContentDecisionResult,
  type UnvouchedRow,
} from '../archive/unvouched-content.ts';
import { readMasterKey } from '../checkpoints.ts';
import { openServerStore } from './open-store.ts';
import { findPracticeId } from '../store/practices.ts';
import { cliActor } from './actor.ts';
import { OK, REFUSED, USAGE_ERROR, UsageError } from './exit.ts';
import { loadConfigOrReport } from './load-config.ts';

export const CONTENT_MACS_USAGE = `usage:
  attune archive content-macs PRACTICE list [--json]
  attune archive content-macs PRACTICE bind ID [--entry-not-checkpointed]
                                        [--unsafe-bind-content-not-in-archive] [--json]
  attune archive content-macs PRACTICE quarantine ID [--json]

Stored messages and replies the master key does not vouch for: refused at every read, and they stop
the practice's signed archive checkpoints (attune verify names them). PRACTICE is a practice id or
one of its domains; ID a message or reply id.

  list        each such row: kind, id, archive seq, its MAC (missing, mismatch, wrong_master_key,
              quarantined), whether its content is its archive entry's (matches, differs,
              missing), with the SHA-256 of both ciphertexts, and whether a signed checkpoint
              covers that entry (which one: its length and time). No content. An entry after the
              last checkpoint proves nothing: whoever can write the database can write it too.
  bind        after checking the row out of band (decrypt it with attune archive export
              --allow-broken, compare it with a backup), vouch for it: it gets its MAC and is read
              again. Only when its ciphertext is byte for byte its archive entry's and a signed
              checkpoint covers that entry; with --entry-not-checkpointed also when none covers it
              (the match then proves nothing: your out-of-band check is all it rests on); with
              --unsafe-bind-content-not-in-archive also when it is not its entry's (the archive
              entry still differs then, and checkpoints stay stopped at it).
  quarantine  judge the row tampered: reads answer that it is quarantined, and checkpoints resume,
              naming its archive entry as quarantined (not vouched for); an entry a checkpoint
              covers already is named by the next one written. bind undoes it.

Needs ATTUNE_MASTER_KEY (the server's). bind and quarantine are audited (content.decision), with the
OS user as actor. Exit 0 done, 1 refused, 2 usage or setup.
`;

type Operation = 'list' | 'bind' | 'quarantine';

interface Parsed {
  practice: string;
  operation: Operation;
  id?: string;
  json: boolean;
  unsafe: boolean;
  entryNotCheckpointed: boolean;
}

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function parse(args: string[]): Parsed {
  const { values, positionals } = parseArgs({
    args,
    options: {
      json: { type: 'boolean' },
      'unsafe-bind-content-not-in-archive': { type: 'boolean' },
      'entry-not-checkpointed': { type: 'boolean' },
    },
    strict: true,
    allowPositionals: true,
  });
  const [practice, op, id, ...extra] = positionals;
  if (!practice) throw new UsageError('name the practice (its id or one of its domains)');
  if (op !== 'list' && op !== 'bind' && op !== 'quarantine')
    throw new UsageError(
      op ? `unknown operation "${op}" (list, bind or quarantine)` : 'give list, bind or quarantine',
    );
  if (op === 'list' && id !== undefined) throw new UsageError(`unexpected argument "${id}"`);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  if (op !== 'list' && !id) throw new UsageError(`give the id of the message or reply to ${op}`);
  if (id !== undefined && !ID.test(id)) throw new UsageError('ID must be a message or reply id (a UUID)');
  const unsafe = values['unsafe-bind-content-not-in-archive'] === true;
  if (unsafe && op !== 'bind') throw new UsageError('--unsafe-bind-content-not-in-archive is for bind only');
  const entryNotCheckpointed = values['entry-not-checkpointed'] === true;
  if (entryNotCheckpointed && op !== 'bind')
    throw new UsageError('--entry-not-checkpointed is for bind only');
  return {
    practice,
    operation: op,
    ...(id !== undefined ? { id: id.toLowerCase() } : {}),
    json: values.json === true,
    unsafe,
    entryNotCheckpointed,
  };
}

/** `attune archive content-macs PRACTICE list|bind ID|quarantine ID` (archive/unvouched-content.ts). */
export async function contentMacsCommand(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(CONTENT_MACS_USAGE);
    return OK;
  }
  let a: Parsed;
  try {
    a = parse(args);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`attune archive content-macs: ${(err as Error).message}\n\n${CONTENT_MACS_USAGE}`);
      return USAGE_ERROR;
    }
    throw err;
  }
  const say = (text: string) => process.stderr.write(`attune archive content-macs ${a.operation}: ${text}\n`);
  const config = loadConfigOrReport();
  if (!config) return USAGE_ERROR;
  const masterKey = readMasterKey(config);
  if (!masterKey) {
    say('no master key (set ATTUNE_MASTER_KEY as the server has it): content MACs are made with it');
    return USAGE_ERROR;
  }
  const store = await openServerStore(config, `archive content-macs ${a.operation}`, { current: true });
  if (typeof store === 'number') return store;
  try {
    const practiceId = await findPracticeId(store.db, a.practice);
    if (!practiceId) {
      say(`no practice ${a.practice} in this store (attune practice list shows them)`);
      return REFUSED;
    }
    if (!(await masterKeyOpensPractice(store.db, masterKey, practiceId))) {
      say("this master key does not open the practice's keys: set ATTUNE_MASTER_KEY to the server's");
      return USAGE_ERROR;
    }
    if (a.operation === 'list') {
      const coverage = await archiveCoverage(store.db, masterKey, practiceId);
      const rows = await listUnvouched(store.db, masterKey, practiceId, coverage);
      if (a.json)
        process.stdout.write(
          `${JSON.stringify({ practiceId, checkpointedTo: coverage.to, chainBroken: coverage.broken, rows }, null, 2)}\n`,
        );
      else if (rows.length === 0)
        process.stdout.write(`Every stored message and reply of practice ${practiceId} is vouched for.\n`);
      else {
        process.stdout.write(`${coverageLine(coverage)}\n`);
        for (const r of rows) process.stdout.write(`${describe(r)}\n`);
      }
      return OK;
    }
    const result = await decideContent(store.db, masterKey, practiceId, a.id!, {
      decision: a.operation,
      actor: cliActor(),
      unsafeContentNotInArchive: a.unsafe,
      entryNotCheckpointed: a.entryNotCheckpointed,
    });
    if (a.json) process.stdout.write(`${JSON.stringify({ practiceId, ...result }, null, 2)}\n`);
    if (!result.ok) {
      say(refusal(result, a.id!));
      return REFUSED;
    }
    if (!a.json) {
      const r = result.row;
      const what = `${r.kind} ${r.id} of practice ${practiceId} (archive seq ${r.seq ?? 'none'}, ${checkpointed(r)}, ciphertext sha256 ${r.bodySha256}; was: MAC ${result.previous}, content ${r.archive === 'matches' ? 'matches its archive entry' : r.archive === 'differs' ? `DIFFERS from its archive entry (sha256 ${r.entrySha256})` : 'NOT ARCHIVED'})`;
      process.stdout.write(
        a.operation === 'bind'
          ? `Bound the content MAC of ${what}: it is read again.\n` +
              (r.archive !== 'matches'
                ? 'WARNING: bound content that is not its archive entry (--unsafe-bind-content-not-in-archive): checkpoints of the archive stay stopped at that entry.\n'
                : r.checkpoint === null
                  ? 'WARNING: no signed checkpoint covers its archive entry (--entry-not-checkpointed): the match proves nothing, your out-of-band check is what vouches for it.\n'
                  : '')
          : `Quarantined ${what}: reads answer that it is quarantined; the next checkpoint (written once the archive grows) ${r.checkpoint ? 'names its archive entry as quarantined, though an earlier one covers it' : 'signs past its archive entry and names it as quarantined'}.\n`,
      );
    }
    return OK;
  } finally {
    await store.close();
  }
}

function checkpointed(r: UnvouchedRow): string {
  return r.checkpoint
    ? `entry covered by the signed checkpoint at seq ${r.checkpoint.seq} of ${r.checkpoint.at}`
    : 'entry NOT covered by a signed checkpoint';
}

function coverageLine(c: ArchiveCoverage): string {
  if (c.broken)
    return `The archive chain does not match itself or its signed checkpoints (seq ${c.broken.seq}, ${c.broken.reason}): no entry counts as covered. Run attune verify.`;
  return c.to
    ? `Signed checkpoints cover archive seqs 1 to ${c.to.seq} (signed ${c.to.at}); an entry after that is as forgeable as its row.`
    : 'No signed checkpoint covers the archive: no entry proves anything about its row.';
}

function describe(r: UnvouchedRow): string {
  const entry =
    r.archive === 'missing'
      ? 'no archive entry'
      : `archive seq ${r.seq}: content ${r.archive}${r.archive === 'differs' ? ` (entry sha256 ${r.entrySha256})` : ''}, ${r.checkpoint ? `checkpointed (seq ${r.checkpoint.seq}, ${r.checkpoint.at})` : 'NOT checkpointed'}`;
  return `${r.kind.padEnd(7)} ${r.id}  MAC ${r.mac.padEnd(16)} ${entry}  sha256 ${r.bodySha256}`;
}

function refusal(r: Extract<ContentDecisionResult, { ok: false }>, id: string): string {
  switch (r.reason) {
    case 'not_found':
      return `no message or reply ${id} in this practice`;
    case 'already_bound':
      return `${id} already has a valid MAC: nothing to bind`;
    case 'already_quarantined':
      return `${id} is quarantined already`;
    case 'vouched_for':
      return `${id} has a valid MAC and its content is its archive entry's: nothing to quarantine`;
    case 'wrong_master_key':
      return `${id}'s MAC was made under another master key: run this with the server's ATTUNE_MASTER_KEY`;
    case 'content_not_in_archive':
      return `${id}'s ciphertext is not its archive entry's (${r.row?.archive === 'missing' ? 'it has no archive entry' : `row sha256 ${r.row?.bodySha256}, entry sha256 ${r.row?.entrySha256}`}): not bound. Quarantine it, or, only if you checked this very content out of band, bind it with --unsafe-bind-content-not-in-archive`;
    case 'entry_not_checkpointed':
      return `${id}'s ciphertext matches its archive entry (seq ${r.row?.seq}), but no signed checkpoint covers that entry: whoever could change the row could have written the entry too, so the match proves nothing. Not bound. Check the content out of band (attune archive export --allow-broken, a backup, the sender), and run attune verify; bind it with --entry-not-checkpointed only if that check vouches for this very content (sha256 ${r.row?.bodySha256}), or quarantine it`;
    case 'changed_meanwhile':
      return `${id} changed while this ran: run list again and check it again`;
  }
}
