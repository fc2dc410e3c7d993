import { parseArgs } from 'node:util';
import { DeliveryListQuerySchema, DeliveryStatusSchema, type DeliverySummary } from '@attune/shared/api';
import { AUDIT, appendAudit } from '../audit/index.ts';
import { readMasterKey } from '../checkpoints.ts';
import type { Config } from '../config.ts';
import {
  decodeCursor,
  describeDeliveryError,
  listDeliveries,
  retryDelivery,
  type DeliveryPage,
} from '../delivery/admin.ts';
import type { Db, Store } from '../store/index.ts';
import { openServerStore } from './open-store.ts';
import { findPracticeId } from '../store/practices.ts';
import { cliActor } from './actor.ts';
import { OK, REFUSED, USAGE_ERROR, UsageError } from './exit.ts';
import { loadConfigOrReport } from './load-config.ts';
import { opensStoreKeys } from './practice.ts';

const USAGE = `usage:
  attune deliveries PRACTICE [--status STATUS[,STATUS...]] [--message MESSAGE_ID] [--since ISO]
                             [--limit N] [--cursor CURSOR] [--show-addresses] [--json]
  attune deliveries PRACTICE retry DELIVERY_ID [--json]

Lists a practice's secure-message deliveries, newest first (default 50, at most 500): per recipient
the delivery, message and patient ids, the method (pgp or link), the status, attempts, the next
attempt, the last error as a code (with the SMTP reply code and enhanced status) and the reports of
the patient's mail server. Statuses:
  scheduled  not attempted yet; its send time is still to come
  queued     not attempted yet and due: the server's delivery worker takes it within seconds
  retrying   refused for now (relay busy or unreachable); tried again at the next attempt time
  sent       our relay took it;  opened / replied: the patient opened the link / answered
  failed     refused for good before it left (relay 5xx, attempts used up, unusable patient key)
  bounced    our relay took it and the patient's mail server returned it for good
  revoked, expired   the message was revoked / its link expired before the patient had it
Addresses are shown only with --show-addresses. Every listing is audited as a PHI read (actor cli and
the OS user): which patients got mail from the practice is PHI itself.

retry queues a failed or bounced delivery again (once the relay or the address is fixed), with a fresh
attempt budget; a secure link gets a new link and the old one stops working. Refused for a delivery
that is not failed (queued, on its way, sent, opened) or whose message was revoked or has expired.
Audited (delivery.retry). Needs the server's ATTUNE_MASTER_KEY for a secure link.

PRACTICE is a practice id or one of its domains. Exit 0 done, 1 refused (unknown practice or delivery,
a retry refused), 2 usage or setup.
`;

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface ListArgs {
  practice: string;
  json: boolean;
  showAddresses: boolean;
  query: ReturnType<typeof DeliveryListQuerySchema.parse>;
}

/** `attune deliveries …`: the CLI twin of GET /v1/deliveries and POST /v1/deliveries/:id/retry. */
export async function run(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(USAGE);
    return OK;
  }
  let parsed: { op: 'list'; a: ListArgs } | { op: 'retry'; practice: string; id: string; json: boolean };
  try {
    parsed = parse(args);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`attune deliveries: ${(err as Error).message}\n\n${USAGE}`);
      return USAGE_ERROR;
    }
    throw err;
  }
  const config = loadConfigOrReport();
  if (!config) return USAGE_ERROR;
  const store = await openServerStore(config, 'deliveries', { current: true });
  if (typeof store === 'number') return store;
  try {
    const practiceId = await findPracticeId(
      store.db,
      parsed.op === 'list' ? parsed.a.practice : parsed.practice,
    );
    if (!practiceId) {
      const ref = parsed.op === 'list' ? parsed.a.practice : parsed.practice;
      process.stderr.write(`attune deliveries: no practice ${ref} (see attune practice list)\n`);
      return REFUSED;
    }
    return parsed.op === 'list'
      ? await list(store.db, practiceId, parsed.a)
      : await retry(store, config, practiceId, parsed.id, parsed.json);
  } finally {
    await store.close();
  }
}

const FLAG_OF: Record<string, string> = {
  status: '--status',
  messageId: '--message',
  since: '--since',
  limit: '--limit',
  cursor: '--cursor',
};

function parse(
  args: string[],
): { op: 'list'; a: ListArgs } | { op: 'retry'; practice: string; id: string; json: boolean } {
  const { values, positionals } = parseArgs({
    args,
    options: {
      status: { type: 'string', multiple: true },
      message: { type: 'string' },
      since: { type: 'string' },
      limit: { type: 'string' },
      cursor: { type: 'string' },
      'show-addresses': { type: 'boolean' },
      json: { type: 'boolean' },
    },
    strict: true,
    allowPositionals: true,
  });
  const [practice, op, id, ...extra] = positionals;
  if (!practice) throw new UsageError('name the practice (its id or one of its domains)');
  const json = values.json === true;
  if (op !== undefined) {
    if (op !== 'retry') throw new UsageError(`unknown operation "${op}" (retry, or none to list)`);
    if (!id)
      throw new UsageError('give the id of the delivery to retry (attune deliveries PRACTICE lists them)');
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0] ?? ''}"`);
    const listing = ['status', 'message', 'since', 'limit', 'cursor', 'show-addresses'].filter(
      (k) => values[k as keyof typeof values] !== undefined,
    );
    if (listing.length > 0) throw new UsageError(`--${listing[0] ?? ''} is for listing, not for retry`);
    if (!ID.test(id)) throw new UsageError(`"${id}" is not a delivery id`);
    return { op: 'retry', practice, id, json };
  }
  const r = DeliveryListQuerySchema.safeParse({
    ...(values.status ? { status: values.status.join(',') } : {}),
    ...(values.message !== undefined ? { messageId: values.message } : {}),
    ...(values.since !== undefined ? { since: values.since } : {}),
    ...(values.limit !== undefined ? { limit: values.limit } : {}),
    ...(values.cursor !== undefined ? { cursor: values.cursor } : {}),
  });
  if (!r.success) {
    const issue = r.error.issues[0];
    const flag = FLAG_OF[String(issue?.path[0] ?? '')] ?? 'an option';
    throw new UsageError(
      flag === '--status'
        ? `--status takes ${DeliveryStatusSchema.options.join(', ')} (comma-separated)`
        : flag === '--limit'
          ? '--limit takes a whole number from 1 to 500'
          : flag === '--since'
            ? '--since takes an ISO 8601 time, e.g. 2026-03-01T00:00:00Z'
            : flag === '--message'
              ? '--message takes a message id'
              : `${flag}: ${issue?.message ?? 'invalid'}`,
    );
  }
  if (r.data.cursor !== undefined && !decodeCursor(r.data.cursor))
    throw new UsageError('--cursor takes the cursor a previous listing printed');
  return {
    op: 'list',
    a: { practice, json, showAddresses: values['show-addresses'] === true, query: r.data },
  };
}

async function list(db: Db, practiceId: string, a: ListArgs): Promise<number> {
  const page = await listDeliveries(
    db,
    practiceId,
    {
      statuses: a.query.status,
      messageId: a.query.messageId,
      since: a.query.since ? new Date(a.query.since) : undefined,
      limit: a.query.limit,
      cursor: a.query.cursor,
    },
    new Date(),
  );
  // Before anything is printed: a read that cannot be audited is not shown. References only, never
  // the addresses, also when they are shown.
  await appendAudit(db, {
    action: AUDIT.PHI_READ,
    outcome: 'success',
    actor: cliActor(),
    practiceId,
    target: { type: 'deliveries', id: practiceId },
    details: {
      view: 'deliveries',
      count: page.items.length,
      addresses: a.showAddresses,
      patients: [...new Set(page.items.flatMap((i) => (i.patientId ? [i.patientId] : [])))].join(','),
    },
  });
  if (a.json) {
    const items = a.showAddresses
      ? page.items.map((i) => ({ ...i, address: page.addresses.get(i.id) ?? null }))
      : page.items;
    process.stdout.write(`${JSON.stringify({ items, nextCursor: page.nextCursor }, null, 2)}\n`);
    return OK;
  }
  process.stdout.write(describePage(practiceId, page, a.showAddresses));
  return OK;
}

function describePage(practiceId: string, page: DeliveryPage, showAddresses: boolean): string {
  const lines = [
    page.items.length === 0
      ? `No deliveries of practice ${practiceId} match.`
      : `Deliveries of practice ${practiceId}, newest first (${page.items.length}):`,
  ];
  for (const d of page.items) {
    lines.push('', ...describe(d, showAddresses ? (page.addresses.get(d.id) ?? null) : undefined));
  }
  if (page.nextCursor) lines.push('', `More: run the same command with --cursor ${page.nextCursor}`);
  return `${lines.join('\n')}\n`;
}

function describe(d: DeliverySummary, address: string | null | undefined): string[] {
  const out = [
    `${d.createdAt}  delivery ${d.id}  ${d.status}  ${d.method}  attempts ${d.attempts}`,
    `  message ${d.messageId}  ${d.patientId ? `patient ${d.patientId}` : `${d.kind} recipient, no patient record`}`,
  ];
  if (address !== undefined) out.push(`  address ${address ?? '(none)'}`);
  if (d.methodReason) out.push(`  method reason: ${d.methodReason}`);
  if (d.nextAttemptAt) out.push(`  next attempt ${d.nextAttemptAt}`);
  if (d.sentAt) out.push(`  sent ${d.sentAt}`);
  if (d.openedAt) out.push(`  opened ${d.openedAt}`);
  if (d.repliedAt) out.push(`  replied ${d.repliedAt}`);
  if (d.lastError) out.push(`  last error ${describeDeliveryError(d.lastError)}`);
  for (const r of d.reports)
    out.push(
      `  report ${r.action} ${r.status} received ${r.receivedAt}${r.stale ? ' (stale: about an earlier send, no effect)' : ''}`,
    );
  return out;
}

const REFUSAL_TEXT: Record<string, (status: string | undefined) => string> = {
  not_failed: (status) =>
    `only a failed or bounced delivery can be sent again; this one is ${status ?? 'not failed'}`,
  message_revoked: () => 'its message was revoked: it cannot be sent again',
  message_expired: () =>
    'its message has expired (the secure link no longer works): ask the clinician to send a new message',
  in_flight: () => 'it is being sent right now',
  retry_limit: () =>
    'it was sent again as often as its return paths allow: ask the clinician to send a new message',
};

async function retry(
  store: Store,
  config: Config,
  practiceId: string,
  id: string,
  json: boolean,
): Promise<number> {
  const say = (text: string) => process.stderr.write(`attune deliveries retry: ${text}\n`);
  // A secure link's new token is sealed under the master key for the server's worker to open.
  const masterKey = readMasterKey(config);
  if (!masterKey) {
    say('no master key (set ATTUNE_MASTER_KEY as the server has it): a secure link is sealed under it');
    return USAGE_ERROR;
  }
  if (!(await opensStoreKeys(store.db, masterKey))) {
    say(
      'this master key does not open the keys in this store: set ATTUNE_MASTER_KEY to the one the server uses',
    );
    return USAGE_ERROR;
  }
  const r = await retryDelivery(
    { db: store.db, masterKey, now: () => new Date() },
    { practiceId, actor: cliActor() },
    id,
  );
  if (!r.ok) {
    if (r.reason === 'not_found') {
      await appendAudit(store.db, {
        action: AUDIT.DELIVERY_RETRY,
        outcome: 'failure',
        actor: cliActor(),
        practiceId,
        target: { type: 'delivery', id },
        details: { reason: 'not_found' },
      });
      say(`no delivery ${id} in practice ${practiceId}`);
      return REFUSED;
    }
    say(`refused: ${REFUSAL_TEXT[r.reason]?.(r.status) ?? r.reason}`);
    return REFUSED;
  }
  if (json) {
    process.stdout.write(`${JSON.stringify(r.delivery, null, 2)}\n`);
    return OK;
  }
  process.stdout.write(
    `Delivery ${id} of message ${r.delivery.messageId} is queued again; a running server's delivery worker sends it within seconds.\n` +
      `See how it went: attune deliveries ${practiceId} --message ${r.delivery.messageId}\n`,
  );
  return OK;
}
