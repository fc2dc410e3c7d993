import { readFileSync } from 'node:fs';
import { loadConfigOrReport } from '../cli/load-config.ts';
import { createMailTransport } from '../delivery/transport.ts';
import { practiceForCommand } from '../cli/practice-ref.ts';
import { openMigratingStore } from '../cli/open-store.ts';
import { delegatedGmailClient, syncGmailMailbox, type ServiceAccountKey } from './gmail.ts';
import { crisisNotifier } from './notify.ts';
import { mailboxBodiesEnabled } from '../engagement/settings.ts';

const USAGE =
  'usage: attune import gmail --mailbox clinician@practice.org [--key SERVICE_ACCOUNT.json] [--practice PRACTICE]\n' +
  "  (or GOOGLE_SERVICE_ACCOUNT_KEY_FILE; the practice is the one owning the mailbox's domain unless named)\n";

/** `attune import gmail --mailbox X`: one sync pass of a clinician's Gmail mailbox (run from cron). */
export async function runGmailImport(args: string[]): Promise<number> {
  const at = (n: string) => (args.indexOf(n) >= 0 ? args[args.indexOf(n) + 1] : undefined);
  const mailbox = at('--mailbox');
  const keyFile = at('--key') ?? process.env['GOOGLE_SERVICE_ACCOUNT_KEY_FILE'];
  if (!mailbox || !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(mailbox) || !keyFile) {
    process.stderr.write(USAGE);
    return 2;
  }
  let key: ServiceAccountKey;
  try {
    const k = JSON.parse(readFileSync(keyFile, 'utf8')) as Partial<ServiceAccountKey>;
    if (typeof k.client_email !== 'string' || typeof k.private_key !== 'string') throw new Error('fields');
    key = { client_email: k.client_email, private_key: k.private_key };
  } catch {
    process.stderr.write(
      'attune: the service account key file is unreadable or lacks client_email/private_key.\n',
    );
    return 1;
  }
  const config = loadConfigOrReport();
  if (!config) return 1;
  const store = await openMigratingStore(config, 'import gmail');
  if (typeof store === 'number') return store;
  const transport = createMailTransport(config);
  try {
    // The mailbox's own practice (the one owning its domain), not the server's configured one: in a
    // deployment of several practices, replies recorded under another practice would be lost to
    // its clinicians and shown to the wrong ones.
    const ref = at('--practice') ?? mailbox.slice(mailbox.lastIndexOf('@') + 1);
    const practice = await practiceForCommand(store.db, config, ['--practice', ref], {
      command: 'import gmail',
      create: false,
    });
    if (!practice) return 1;
    const { practiceId } = practice;
    const bodies = await mailboxBodiesEnabled(store.db, practiceId);
    const r = await syncGmailMailbox({
      db: store.db,
      practiceId,
      mailbox,
      client: delegatedGmailClient(key, mailbox, { bodies }),
      readBodies: bodies,
      notifyCrisis: crisisNotifier({ db: store.db, config, transport }),
    });
    if (r.status === 'outside_practice') {
      // Refused before any call to Google, nothing stored: the account would be one that could
      // never sign in to this practice (sign-in takes only its domains), put in its care teams.
      process.stderr.write(
        `attune import gmail: ${mailbox} is not in one of the domains of practice ${practiceId} ` +
          '(`attune practice list` shows them); nothing was imported.\n',
      );
      return 1;
    }
    process.stdout.write(
      r.status === 'initialized'
        ? `Mailbox connected at history id ${r.historyId}; replies from now on are recorded on the next run.\n`
        : r.status === 'history_expired'
          ? `The stored history id had expired; restarted at ${r.historyId} (mail in between is not recorded).\n`
          : `Examined ${r.examined} new messages: ${r.replies} patient replies, ${r.sent} answered messages, ${r.duplicates} already recorded, ${r.crisis} crisis notices sent` +
            (r.careJoins > 0 ? `; ${mailbox} joined the care team of ${r.careJoins} patients` : '') +
            '.\n',
    );
    return 0;
  } catch (err) {
    // Google's errors can quote request details; print the status only.
    const e = err as { code?: unknown; status?: unknown };
    const status =
      typeof e.status === 'number'
        ? e.status
        : typeof e.code === 'number' || typeof e.code === 'string'
          ? e.code
          : 'unknown';
    process.stderr.write(`attune: Gmail sync failed (status ${status}).\n`);
    return 1;
  } finally {
    await transport.close();
    await store.close();
  }
}
