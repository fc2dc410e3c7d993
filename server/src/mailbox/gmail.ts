import { createHash } from 'node:crypto';
import { auth as googleAuth, gmail as gmailApi, type gmail_v1 } from '@googleapis/gmail';
import { analyzeReply } from '@attune/shared/engagement';
import type { EngagementEvent } from '@attune/shared/api';
import { CLIENT_NOTICE_KIND } from '../delivery/client-notice.ts';
import { edb } from '../engagement/db.ts';
import { insertEvents, storedEventId, type NewEvent } from '../engagement/events-store.ts';
import { AUDIT, appendAudit } from '../audit/index.ts';
import { ensureClinician } from '../store/clinicians.ts';
import type { Db } from '../store/index.ts';
import { joinCare, nowIso } from '../store/index.ts';
import { normalizeDomain, practiceDomainList } from '../store/practices.ts';

// Gmail mailbox sync: replies from patients that never passed through Attune (a patient answering a
// clinician's ordinary Gmail message) become `replied` engagement events with their latency.
//
// - Incremental: users.history.list from the history id stored per mailbox (mailbox_sync); the
//   first run only records the current history id (no backfill of old mail).
// - Metadata only: users.messages.get with format "metadata" and a fixed list of headers (From,
//   To, Message-ID, In-Reply-To, References). Never the Subject, never a body, unless the practice
//   turned body reading on (engagement_settings.mailbox_bodies), in which case the plain-text part
//   is analysed in memory (inquiry type, tone, crisis finding) and dropped; only the derived fields
//   are stored, as for replies through the viewer.
// - A message counts when its From is a patient of the practice AND it answers a sent message: its
//   In-Reply-To/References name an Attune delivery (deliveries.smtp_message_id), or its thread holds
//   an earlier message the mailbox sent (label SENT). The answered Gmail message is recorded as a
//   `sent` event (so reply rates and latencies pair up), idempotently.
// - Unless that Gmail message is an Attune notice the clinician sent themselves (delivery "client":
//   Gmail's "Send securely" puts the notice in the draft). It leaves with Gmail's Message-ID, not
//   the one Attune stored for the delivery, and without a Reply-To (an add-on cannot set one), so
//   the patient's "Reply" comes here, in the notice's thread. Counted as a Gmail message, Attune's
//   message would be sent twice and stay unanswered (half the reply rate, a false drop). A SENT
//   message is taken for the notice of a client delivery when it goes to that one patient alone
//   (a client delivery has exactly one recipient), from 5 minutes before the server accepted the
//   message (clock skew) to 24 hours after, the latest such delivery not yet paired; its Gmail
//   Message-ID is then stored on the delivery, so replies name it like any Attune Message-ID.
//   Only metadata is used (To, Cc, Message-ID, the send time), as for everything else here.
// - Idempotent: event ids derive from the Gmail message ids.
// - The mailbox's clinician joins the care team (store/care.ts, source 'imported') of every patient
//   whose mail the run records (a reply, or the clinician's message it answers), as a secure send
//   to the patient would make them: their replies and sidebar are theirs to see. The account is
//   made if the clinician has never signed in (as the SMTP gateway makes a sender's, audited as
//   clinician.provisioned); a disabled one joins nothing. A send's join is implied by its
//   message.send event; a sync writes no event of its own, so each new join is a care.change
//   (actor system gmail-sync, references only).
// - Only a mailbox in one of the practice's own domains is synced (status 'outside_practice'
//   otherwise, before any call to Google and with nothing stored): the rule sign-in applies
//   (identity/authenticator.ts), so a sync never makes an account that could not sign in, nor puts
//   an outsider in a care team.
// Production auth is a service account with domain-wide delegation (a JWT client impersonating
// the clinician's mailbox, scope gmail.metadata; gmail.readonly only when bodies are enabled).

export const GMAIL_METADATA_SCOPE = 'https://www.googleapis.com/auth/gmail.metadata';
export const GMAIL_READONLY_SCOPE = 'https://www.googleapis.com/auth/gmail.readonly';

const HEADERS = ['From', 'To', 'Cc', 'Message-ID', 'In-Reply-To', 'References'];

/** How far a clinician's Gmail send may be from the server accepting a client-delivered message. */
const NOTICE_SKEW_MS = 5 * 60_000;
const NOTICE_WINDOW_MS = 24 * 3_600_000;

export interface ServiceAccountKey {
  client_email: string;
  private_key: string;
}

/** A Gmail client acting as `mailbox` through domain-wide delegation. */
export function delegatedGmailClient(
  key: ServiceAccountKey,
  mailbox: string,
  opts: { bodies?: boolean; rootUrl?: string } = {},
): gmail_v1.Gmail {
  const jwt = new googleAuth.JWT({
    email: key.client_email,
    key: key.private_key,
    scopes: [opts.bodies ? GMAIL_READONLY_SCOPE : GMAIL_METADATA_SCOPE],
    subject: mailbox,
  });
  return gmailApi({ version: 'v1', auth: jwt, ...(opts.rootUrl ? { rootUrl: opts.rootUrl } : {}) });
}

/** What a crisis notice needs: who to tell and an opaque reference (no PHI). */
export interface CrisisNotice {
  practiceId: string;
  mailbox: string;
  reference: string;
}

export interface GmailSyncOptions {
  db: Db;
  practiceId: string;
  /** The clinician mailbox (users/{userId}); lower-cased. */
  mailbox: string;
  client: gmail_v1.Gmail;
  now?: () => Date;
  /** Override of the practice setting (tests). */
  readBodies?: boolean;
  /** Called once per new first-person crisis reply (when bodies are read), after it is stored. */
  notifyCrisis?: (n: CrisisNotice) => Promise<void>;
  /** Upper bound of messages examined per run (the rest wait for the next run). */
  maxMessages?: number;
}

export interface GmailSyncReport {
  /** outside_practice: the mailbox's domain is none of the practice's; nothing was done. */
  status: 'initialized' | 'synced' | 'history_expired' | 'outside_practice';
  historyId: string | null;
  examined: number;
  replies: number;
  sent: number;
  duplicates: number;
  crisis: number;
  /** Messages from known patients that answer nothing we know of (not recorded). */
  unmatched: number;
  /** Patients whose care team the mailbox's clinician joined in this run. */
  careJoins: number;
}

/** Who a sync's audit events name: the sync itself, run from cron (`attune import gmail`). */
const SYNC_ACTOR = { type: 'system', id: 'gmail-sync' } as const;

/**
 * Joins the mailbox's clinician to the care teams of `patientIds` (made the account if there is
 * none; a disabled clinician joins nothing); audits each new join. How many joined.
 */
async function joinCareTeams(
  tx: Db,
  practiceId: string,
  mailbox: string,
  patientIds: readonly string[],
  at: string,
): Promise<number> {
  const ids = [...new Set(patientIds)];
  if (ids.length === 0) return 0;
  const clinician = await ensureClinician(tx, practiceId, mailbox, at);
  if (clinician.created)
    await appendAudit(tx, {
      practiceId,
      actor: SYNC_ACTOR,
      action: AUDIT.CLINICIAN_PROVISIONED,
      outcome: 'success',
      target: { type: 'clinician', id: clinician.id },
      details: { role: 'clinician', source: 'gmail_sync' },
    });
  if (clinician.disabled) return 0;
  let joined = 0;
  for (const patientId of ids) {
    const fresh = await joinCare(tx, {
      practiceId,
      clinicianId: clinician.id,
      patientId,
      source: 'imported',
      at,
    });
    if (!fresh) continue;
    joined++;
    await appendAudit(tx, {
      practiceId,
      actor: SYNC_ACTOR,
      action: AUDIT.CARE_CHANGE,
      outcome: 'success',
      target: { type: 'patient', id: patientId },
      details: { operation: 'add', clinicianId: clinician.id, changed: true, source: 'imported' },
    });
  }
  return joined;
}

interface Header {
  name?: string | null;
  value?: string | null;
}

function header(headers: Header[] | undefined, name: string): string | null {
  const h = headers?.find((x) => x.name?.toLowerCase() === name.toLowerCase());
  return h?.value ?? null;
}

/** The bare address of a From header ("Name <a@b>" or "a@b"), lower-case. */
export function addressOf(from: string | null): string | null {
  if (!from) return null;
  const angle = /<([^<>\s]+@[^<>\s]+)>/.exec(from);
  const bare = angle?.[1] ?? /([^\s<>,;"]+@[^\s<>,;"]+)/.exec(from)?.[1];
  return bare ? bare.trim().toLowerCase() : null;
}

/** Every address of an address-list header (To, Cc), lower-case. */
function addressesOf(value: string | null): string[] {
  return [...new Set((value ?? '').match(/[^\s<>,;"]+@[^\s<>,;"]+/g) ?? [])].map((a) => a.toLowerCase());
}

/** Message-IDs named in In-Reply-To and References. */
function referencedIds(headers: Header[] | undefined): string[] {
  const text = `${header(headers, 'In-Reply-To') ?? ''} ${header(headers, 'References') ?? ''}`;
  return [...new Set(text.match(/<[^<>\s]+>/g) ?? [])];
}

function gmailStatus(err: unknown): number | null {
  const e = err as { code?: unknown; status?: unknown; response?: { status?: unknown } };
  const s = e.response?.status ?? e.status ?? e.code;
  return typeof s === 'number' ? s : typeof s === 'string' && /^\d+$/.test(s) ? Number(s) : null;
}

function plainText(payload: gmail_v1.Schema$MessagePart | undefined): string {
  if (!payload) return '';
  if (payload.mimeType === 'text/plain' && payload.body?.data)
    return Buffer.from(payload.body.data, 'base64url').toString('utf8');
  for (const part of payload.parts ?? []) {
    const t = plainText(part);
    if (t) return t;
  }
  return '';
}

/**
 * Whether `mailbox`'s domain is one of the practice's domains: the rule a Google or development
 * sign-in must meet (identity/authenticator.ts), so the clinician a sync makes could sign in.
 */
export async function mailboxInPractice(db: Db, practiceId: string, mailbox: string): Promise<boolean> {
  const at = mailbox.lastIndexOf('@');
  const domain = at > 0 ? normalizeDomain(mailbox.slice(at + 1)) : null;
  return domain !== null && (await practiceDomainList(db, practiceId)).includes(domain);
}

/** An opaque, stable reference for a notice (no Gmail id, which the clinician could search for). */
function opaqueRef(practiceId: string, gmailId: string): string {
  return createHash('sha256').update(`${practiceId}\0${gmailId}`).digest('hex').slice(0, 12);
}

export async function syncGmailMailbox(o: GmailSyncOptions): Promise<GmailSyncReport> {
  const now = o.now ?? (() => new Date());
  const mailbox = o.mailbox.trim().toLowerCase();
  const db = edb(o.db);
  const report: GmailSyncReport = {
    status: 'synced',
    historyId: null,
    examined: 0,
    replies: 0,
    sent: 0,
    duplicates: 0,
    crisis: 0,
    unmatched: 0,
    careJoins: 0,
  };
  if (!(await mailboxInPractice(o.db, o.practiceId, mailbox))) {
    report.status = 'outside_practice';
    return report;
  }
  const state = await db
    .selectFrom('mailbox_sync')
    .selectAll()
    .where('practice_id', '=', o.practiceId)
    .where('provider', '=', 'gmail')
    .where('mailbox', '=', mailbox)
    .executeTakeFirst();

  const saveState = async (historyId: string | null, lastError: string | null) => {
    const t = nowIso(now());
    await db
      .insertInto('mailbox_sync')
      .values({
        practice_id: o.practiceId,
        mailbox,
        provider: 'gmail',
        history_id: historyId,
        last_sync_at: t,
        last_error: lastError,
        created_at: t,
        updated_at: t,
      })
      .onConflict((oc) =>
        oc
          .columns(['practice_id', 'provider', 'mailbox'])
          .doUpdateSet({ history_id: historyId, last_sync_at: t, last_error: lastError, updated_at: t }),
      )
      .execute();
  };
  const currentHistoryId = async () =>
    (await o.client.users.getProfile({ userId: mailbox })).data.historyId ?? null;

  if (!state?.history_id) {
    report.status = 'initialized';
    report.historyId = await currentHistoryId();
    await saveState(report.historyId, null);
    return report;
  }

  // 1. Which messages were added since the stored history id.
  const ids: string[] = [];
  let latest = state.history_id;
  let pageToken: string | undefined;
  const max = o.maxMessages ?? 5000;
  try {
    do {
      const res = await o.client.users.history.list({
        userId: mailbox,
        startHistoryId: state.history_id,
        historyTypes: ['messageAdded'],
        maxResults: 500,
        ...(pageToken ? { pageToken } : {}),
      });
      for (const h of res.data.history ?? [])
        for (const m of h.messagesAdded ?? [])
          if (m.message?.id && !ids.includes(m.message.id)) ids.push(m.message.id);
      if (res.data.historyId) latest = res.data.historyId;
      pageToken = res.data.nextPageToken ?? undefined;
    } while (pageToken && ids.length < max);
  } catch (err) {
    // 404: the stored history id is older than Gmail keeps (about a week). Start again from now and
    // say so; the gap is not backfilled (metadata of old mail would need a full messages.list).
    if (gmailStatus(err) === 404) {
      report.status = 'history_expired';
      report.historyId = await currentHistoryId();
      await saveState(report.historyId, 'history_expired');
      return report;
    }
    throw err;
  }

  // 2. Patients of the practice by email, and Attune deliveries by Message-ID, looked up per message.
  const readBodies =
    o.readBodies ??
    Number(
      (
        await db
          .selectFrom('engagement_settings')
          .select('mailbox_bodies')
          .where('practice_id', '=', o.practiceId)
          .executeTakeFirst()
      )?.mailbox_bodies ?? 0,
    ) === 1;
  const events: NewEvent[] = [];
  const crisisRefs: string[] = [];
  const patientCache = new Map<string, string | null>();
  const patientFor = async (email: string): Promise<string | null> => {
    if (!patientCache.has(email)) {
      const row = await db
        .selectFrom('patients')
        .select('id')
        .where('practice_id', '=', o.practiceId)
        .where('email', '=', email)
        .executeTakeFirst();
      patientCache.set(email, row?.id ?? null);
    }
    return patientCache.get(email) ?? null;
  };

  // Attune messages by the Message-ID their patient saw: a delivery's stored one, or the Gmail
  // Message-ID of a client-delivered notice paired in this run (stored with the events, below).
  type Answered = { messageId: string; sentAt: number };
  const paired = new Map<string, Answered>();
  const pairings: Array<{ deliveryId: string; placeholder: string; smtpMessageId: string }> = [];
  const claimed = new Set<string>();
  const attuneMessage = async (smtpIds: string[]): Promise<Answered | null> => {
    for (const x of smtpIds) {
      const hit = paired.get(x);
      if (hit) return hit;
    }
    if (smtpIds.length === 0) return null;
    const d = await db
      .selectFrom('deliveries')
      .select(['message_id', 'sent_at', 'created_at'])
      .where('practice_id', '=', o.practiceId)
      .where('smtp_message_id', 'in', smtpIds)
      .orderBy('created_at', 'desc')
      .executeTakeFirst();
    return d ? { messageId: d.message_id, sentAt: Date.parse(d.sent_at ?? d.created_at) } : null;
  };
  /** The Attune message a message the mailbox sent is the client-delivered notice of, or null. */
  const clientNotice = async (m: gmail_v1.Schema$Message): Promise<Answered | null> => {
    const headers = m.payload?.headers ?? undefined;
    const smtpId = header(headers, 'Message-ID')?.trim() ?? null;
    const known = smtpId ? await attuneMessage([smtpId]) : null;
    if (known) return known;
    const to = addressesOf(header(headers, 'To'));
    const at = Number(m.internalDate);
    if (to.length !== 1 || addressesOf(header(headers, 'Cc')).length > 0 || !Number.isFinite(at)) return null;
    if (!(await patientFor(to[0] as string))) return null;
    const candidates = await db
      .selectFrom('deliveries')
      .innerJoin('outbox', 'outbox.delivery_id', 'deliveries.id')
      .select(['deliveries.id', 'deliveries.message_id', 'deliveries.sent_at', 'deliveries.smtp_message_id'])
      .where('deliveries.practice_id', '=', o.practiceId)
      .where('deliveries.email', '=', to[0] as string)
      .where('outbox.kind', '=', CLIENT_NOTICE_KIND)
      .where('deliveries.sent_at', '<=', nowIso(new Date(at + NOTICE_SKEW_MS)))
      .where('deliveries.sent_at', '>=', nowIso(new Date(at - NOTICE_WINDOW_MS)))
      .orderBy('deliveries.sent_at', 'desc')
      .execute();
    // Not yet paired: still the Message-ID the server made up for it (send.ts), never used.
    const d = candidates.find(
      (c) => !claimed.has(c.id) && c.smtp_message_id !== null && c.smtp_message_id.startsWith(`<${c.id}@`),
    );
    if (!d?.sent_at || d.smtp_message_id === null) return null;
    claimed.add(d.id);
    const answered = { messageId: d.message_id, sentAt: Date.parse(d.sent_at) };
    if (smtpId) {
      paired.set(smtpId, answered);
      pairings.push({ deliveryId: d.id, placeholder: d.smtp_message_id, smtpMessageId: smtpId });
    }
    return answered;
  };

  for (const id of ids.slice(0, max)) {
    report.examined++;
    let msg: gmail_v1.Schema$Message;
    try {
      msg = (
        await o.client.users.messages.get(
          readBodies
            ? { userId: mailbox, id, format: 'full' }
            : { userId: mailbox, id, format: 'metadata', metadataHeaders: HEADERS },
        )
      ).data;
    } catch (err) {
      if (gmailStatus(err) === 404) continue; // deleted since it was added
      throw err;
    }
    if (msg.labelIds?.includes('DRAFT')) continue;
    if (msg.labelIds?.includes('SENT')) {
      // The clinician's own mail: note whether it is a client-delivered notice (replies to it
      // then name its Message-ID), record nothing.
      await clientNotice(msg);
      continue;
    }
    const headers = msg.payload?.headers ?? undefined;
    const from = addressOf(header(headers, 'From'));
    if (!from || from === mailbox) continue;
    const patientId = await patientFor(from);
    if (!patientId) continue;
    const at = Number(msg.internalDate);
    if (!Number.isFinite(at)) continue;

    // What does it answer? First an Attune delivery named in its references, then the thread.
    let answered: Answered | null = await attuneMessage(referencedIds(headers));
    if (!answered && msg.threadId) {
      const thread = (
        await o.client.users.threads.get({
          userId: mailbox,
          id: msg.threadId,
          format: 'metadata',
          metadataHeaders: ['Message-ID', 'To', 'Cc'],
        })
      ).data;
      const sent = (thread.messages ?? [])
        .filter((m) => m.id !== msg.id && m.labelIds?.includes('SENT') && Number(m.internalDate) <= at)
        .sort((a, b) => Number(b.internalDate) - Number(a.internalDate))[0];
      // Attune's own notice, sent from this mailbox: the reply answers Attune's message.
      if (sent) answered = await clientNotice(sent);
      if (!answered && sent?.id) {
        const sentAt = Number(sent.internalDate);
        answered = { messageId: `gmail:${sent.id}`, sentAt };
        events.push({
          id: storedEventId('gmail', o.practiceId, `sent:${sent.id}`),
          patientId,
          type: 'sent',
          at: new Date(sentAt),
          messageId: answered.messageId,
          data: { source: 'gmail' },
        });
      }
    }
    if (!answered || !Number.isFinite(answered.sentAt)) {
      report.unmatched++;
      continue;
    }
    let fields: Pick<EngagementEvent, 'inquiry' | 'tone' | 'crisis'> = {};
    if (readBodies) {
      const text = plainText(msg.payload ?? undefined).slice(0, 20_000);
      if (text) fields = analyzeReply(text).fields;
    }
    const eventId = storedEventId('gmail', o.practiceId, `reply:${id}`);
    events.push({
      id: eventId,
      patientId,
      type: 'replied',
      at: new Date(at),
      messageId: answered.messageId,
      latencyMs: Math.max(0, at - answered.sentAt),
      data: { inReplyTo: answered.messageId, source: 'gmail', ...fields },
    });
    if (fields.crisis?.grade === 'first_person') crisisRefs.push(eventId);
  }

  const r = await o.db.transaction().execute(async (tx) => {
    // Which crisis replies are new (a re-run must not notify twice).
    const fresh = crisisRefs.length
      ? new Set(
          (await tx.selectFrom('engagement_events').select('id').where('id', 'in', crisisRefs).execute()).map(
            (x) => x.id,
          ),
        )
      : new Set<string>();
    const inserted = await insertEvents(tx, o.practiceId, events, now());
    // Every patient the run recorded mail with, new events or already recorded ones (a run that
    // was interrupted after its events, or mail recorded before this join existed).
    const careJoins = await joinCareTeams(
      tx,
      o.practiceId,
      mailbox,
      events.map((e) => e.patientId),
      nowIso(now()),
    );
    for (const p of pairings) {
      await tx
        .updateTable('deliveries')
        .set({ smtp_message_id: p.smtpMessageId, updated_at: nowIso(now()) })
        .where('id', '=', p.deliveryId)
        .where('smtp_message_id', '=', p.placeholder)
        .execute();
    }
    await edb(tx)
      .insertInto('mailbox_sync')
      .values({
        practice_id: o.practiceId,
        mailbox,
        provider: 'gmail',
        history_id: latest,
        last_sync_at: nowIso(now()),
        last_error: null,
        created_at: nowIso(now()),
        updated_at: nowIso(now()),
      })
      .onConflict((oc) =>
        oc.columns(['practice_id', 'provider', 'mailbox']).doUpdateSet({
          history_id: latest,
          last_sync_at: nowIso(now()),
          last_error: null,
          updated_at: nowIso(now()),
        }),
      )
      .execute();
    return { inserted, careJoins, newCrisis: crisisRefs.filter((x) => !fresh.has(x)) };
  });
  report.historyId = latest;
  report.replies = events.filter((e) => e.type === 'replied').length;
  report.sent = events.filter((e) => e.type === 'sent').length;
  report.duplicates = r.inserted.duplicates;
  report.crisis = r.newCrisis.length;
  report.careJoins = r.careJoins;
  for (const ref of r.newCrisis) {
    await o.notifyCrisis?.({ practiceId: o.practiceId, mailbox, reference: opaqueRef(o.practiceId, ref) });
  }
  return report;
}
