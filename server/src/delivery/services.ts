import type { Config } from '../config.ts';
import type { MasterKey } from '../crypto/index.ts';
import type { Logger } from '../log.ts';
import type { Db, Dialect, Tx } from '../store/index.ts';
import type { MailTransport } from './transport.ts';

// What the delivery pipeline, the outbox worker and the viewer share. Built once by
// createDeliveryServices (index.ts) from the server's config and store.

export interface DeliveryServices {
  db: Db;
  dialect: Dialect;
  config: Config;
  masterKey: MasterKey;
  transport: MailTransport;
  logger: Logger;
  now: () => Date;
  /** Wakes the outbox worker after a commit, so immediate sends do not wait for the next poll. */
  kick: () => void;
  /** Runs `fn` in a transaction, grouped with concurrent writers into one commit (commit-queue.ts). */
  commit: <T>(fn: (tx: Tx) => Promise<T>) => Promise<T>;
}

export interface MailIdentity {
  practiceName: string;
  from: { name: string; address: string };
  /** Domain for Message-IDs and reply+<token>@ addresses. */
  domain: string;
  /**
   * The practice's reply domain (practices.reply_domain, else PRACTICE_REPLY_DOMAIN): the gateway
   * takes mail for it, so deliveries' return paths (VERP, verp.ts) are there. Null: none set, and
   * deliveries keep the From address as envelope sender.
   */
  replyDomain: string | null;
}

const identities = new Map<string, { at: number; value: MailIdentity }>();

/** The practice's sending identity: name, From address and mail domain (cached for a minute). */
export async function mailIdentity(
  svc: Pick<DeliveryServices, 'db' | 'config'>,
  practiceId: string,
): Promise<MailIdentity> {
  const hit = identities.get(practiceId);
  if (hit && Date.now() - hit.at < 60_000) return hit.value;
  const practice = await svc.db
    .selectFrom('practices')
    .select(['name', 'reply_domain'])
    .where('id', '=', practiceId)
    .executeTakeFirst();
  const firstDomain = await svc.db
    .selectFrom('practice_domains')
    .select('domain')
    .where('practice_id', '=', practiceId)
    .orderBy('created_at')
    .executeTakeFirst();
  const replyDomain = practice?.reply_domain ?? svc.config.practice.replyDomain ?? null;
  const domain = replyDomain ?? firstDomain?.domain ?? 'localhost';
  const name = practice?.name ?? svc.config.practice.name;
  const value: MailIdentity = {
    practiceName: name,
    from: { name, address: await noticesAddress(svc.db, svc.config.mailFrom, practiceId, domain) },
    domain,
    replyDomain,
  };
  identities.set(practiceId, { at: Date.now(), value });
  return value;
}

/**
 * The From address of a practice's notices: MAIL_FROM, unless its domain is another practice's (one
 * of its domains or its reply domain), then notices@<the practice's mail domain>. One deployment can
 * serve several practices: MAIL_FROM=notices@calm.example is Calm's address and must not put Calm's
 * name on another practice's mail (nor fail its DMARC), while a host's own address
 * (notices@attune-host.example) is every practice's.
 */
export async function noticesAddress(
  db: Db,
  mailFrom: string | undefined,
  practiceId: string,
  mailDomain: string,
): Promise<string> {
  const fallback = `notices@${mailDomain}`;
  if (!mailFrom) return fallback;
  const domain = mailFrom.slice(mailFrom.lastIndexOf('@') + 1).toLowerCase();
  const owner = await db
    .selectFrom('practice_domains')
    .select('practice_id')
    .where('domain', '=', domain)
    .union(db.selectFrom('practices').select('id as practice_id').where('reply_domain', '=', domain))
    .execute();
  return owner.length > 0 && !owner.some((o) => o.practice_id === practiceId) ? fallback : mailFrom;
}

/** Message content as stored (JSON, then encrypted to the archive key). */
export interface StoredContent {
  v: 1;
  subject: string;
  text?: string;
  html?: string;
  attachments: Array<{ filename: string; contentType: string; contentBase64: string }>;
}

export interface StoredReply {
  v: 1;
  text: string;
  source: 'viewer' | 'email';
  /** The raw email of a reply that came through the gateway, base64. */
  rawBase64?: string;
  /** An email reply's sender (From header, else MAIL FROM), lower-cased; absent for the viewer. */
  sender?: string;
}

/**
 * A stored message or reply that cannot be read: its content MAC is missing or wrong (replaced in
 * the database, crypto/content-mac.ts; `reason` content_mac_*), or it does not decrypt with the
 * practice's archive key (corrupted). attune verify names which. References only, never content.
 * The viewer shows the patient a page saying the message cannot be shown; the API answers 500
 * `content_unreadable`; both log it for the operator and audit the failed read.
 */
export class ContentUnreadable extends Error {
  constructor(
    readonly kind: 'message' | 'reply',
    readonly id: string,
    readonly practiceId: string,
    readonly reason: string,
  ) {
    super(`stored ${kind} ${id} cannot be read (${reason})`);
    this.name = 'ContentUnreadable';
  }
}

/** Logs a ContentUnreadable for the operator: references only, and what to do about it. */
export function logUnreadable(
  logger: Logger,
  e: ContentUnreadable,
  requestId: string | null | undefined,
): void {
  logger.error(
    { event: 'content_unreadable', kind: e.kind, id: e.id, reason: e.reason, requestId },
    `a stored ${e.kind} fails its integrity check or does not decrypt: check the store with attune verify`,
  );
}
