// The texts of the Smart Alerts dialog. Rules: PHI-free (they name kinds of PHI, never values,
// never attachment names or addresses); at most 500 characters (Office's limit for errorMessage and
// errorMessageMarkdown); each says what happened and what to do.
import type { MessageScan, PhiType } from '@attune/shared/phi';
import { describeFields, describeTypes } from './evaluate.ts';

export const MAX_ALERT_CHARS = 500;

export interface AlertText {
  markdown: string;
  plain: string;
}

function make(title: string, ...paragraphs: string[]): AlertText {
  const markdown = clip([`**${title}**`, ...paragraphs].join('\n\n'));
  const plain = clip([title, ...paragraphs].join(' ').replace(/\*\*/g, ''));
  return { markdown, plain };
}

function clip(s: string): string {
  return s.length <= MAX_ALERT_CHARS ? s : `${s.slice(0, MAX_ALERT_CHARS - 1)}…`;
}

export const alerts = {
  review(scan: MessageScan): AlertText {
    return make(
      'This message contains protected health information',
      `Found ${describeTypes(scan.types)} in ${describeFields(scan)}.`,
      'Your practice requires PHI to external recipients to be sent securely. Choose **Send securely** to review the findings and send it encrypted, or remove the PHI.',
    );
  },
  warn(scan: MessageScan): AlertText {
    return make(
      'This message may contain protected health information',
      `Found ${describeTypes(scan.types)} in ${describeFields(scan)}.`,
      'Choose **Send securely** to review and send it encrypted, or **Send Anyway** if it is safe to send as ordinary email.',
    );
  },
  blocked(types: readonly PhiType[]): AlertText {
    return make(
      'This message cannot be sent',
      `It contains ${describeTypes(types)}, which your practice never allows in email, even encrypted.`,
      'Choose **Review** to see where it is and redact it.',
    );
  },
  unreachable(scan: MessageScan): AlertText {
    return make(
      "Attune can't reach its server",
      `This message contains ${describeTypes(scan.types)}, so it can't go out as ordinary email, and it can't be secured right now.`,
      'Nothing was sent. Check your connection and choose Send again. If this keeps happening, contact your IT administrator.',
    );
  },
  /**
   * The secure send got no answer, or a 5xx: the server may have stored the message before the
   * answer was lost, so "nothing was sent" would not be known to be true. With the draft's key kept,
   * Send again answers with that message instead of sending a second one.
   */
  unconfirmed(scan: MessageScan, retryIsSafe: boolean): AlertText {
    return make(
      "Attune couldn't confirm the secure send",
      `This message contains ${describeTypes(scan.types)}, so it can't go out as ordinary email. Attune's server did not confirm that it stored it securely.`,
      retryIsSafe
        ? "Check your connection and choose Send again: if the server already has this message, it won't be sent twice."
        : 'Check your connection and choose Send again. If this keeps happening, contact your IT administrator.',
    );
  },
  signIn(scan: MessageScan): AlertText {
    return make(
      "Attune couldn't sign you in",
      `This message contains ${describeTypes(scan.types)} and must be sent securely, which needs you to be signed in to Attune.`,
      'Nothing was sent. Choose **Sign in** to open the Attune pane and sign in, then send again.',
    );
  },
  rejected(code: string | undefined): AlertText {
    const why: Record<string, string> = {
      payload_too_large:
        'The message or its attachments are larger than secure delivery allows (25 MB per attachment).',
      blocked_by_policy: "Your practice's policy does not allow this message to be sent, even securely.",
      forbidden: 'Your account is not allowed to send secure messages. Ask your Attune administrator.',
      rate_limited: 'Too many messages were sent in a short time. Wait a minute and send again.',
      validation_failed:
        'The secure server could not accept this message as written (for example an invalid recipient address).',
    };
    return make(
      'The secure server refused this message',
      (code !== undefined ? why[code] : undefined) ?? `The server refused it${code ? ` (${code})` : ''}.`,
      'Nothing was sent. Fix the problem and send again, or choose **Send securely** to review it.',
    );
  },
  cloudAttachment(): AlertText {
    return make(
      "A shared-link attachment can't be sent securely",
      'This message contains PHI and has a cloud (shared link) attachment, which Attune cannot carry.',
      'Nothing was sent. Attach a copy of the file instead, or remove it, then send again.',
    );
  },
  /**
   * The server stored the message, but the draft could not be made its notice (on-send.ts says which
   * `next` applies): 'send_again' when Send again posts the same request under the draft's kept key
   * (the server answers with the message it has, nothing new is sent) and only redoes the rewrite;
   * 'discard' when the server emails every recipient their own link, so the message has gone; 'pane'
   * when the draft was to carry the only recipient's link, so nothing has reached anyone yet.
   */
  rewriteFailed(next: 'send_again' | 'discard' | 'pane'): AlertText {
    const stored =
      'The content was stored securely, but Outlook did not let Attune replace it with the secure-link notice. Nothing was sent in clear.';
    switch (next) {
      case 'send_again':
        return make(
          "Attune couldn't finish securing this message",
          stored,
          "Choose Send again to finish: Attune's server already has this message, so it won't be sent twice. If this keeps happening, contact your IT administrator.",
        );
      case 'discard':
        return make(
          "Attune couldn't finish securing this message",
          `${stored} Attune's server has sent each recipient their own secure link.`,
          "Discard this draft: don't send it again, or the recipients get the message twice.",
        );
      case 'pane':
        return make(
          "Attune couldn't finish securing this message",
          `${stored} The recipient has not been sent anything yet.`,
          'Choose **Send securely** to send it from the Attune pane.',
        );
    }
  },
  /**
   * The server refused this draft's key (409 conflict): it already holds a message sent under it
   * with other content. An earlier press of Send lost its answer after the server accepted, and the
   * draft was edited since. The earlier version stands (and may have reached the recipients) until
   * revoked; sending the edit too would be a second message, so the clinician decides, in the pane
   * (a Smart Alert shows no buttons of ours besides the one that opens it).
   */
  earlierSent(known: boolean): AlertText {
    return known
      ? make(
          'An earlier version of this message was already sent securely',
          "Attune lost the server's answer to an earlier Send, and the message was changed since. The earlier version may already have reached the recipients. This version was not sent.",
          'Choose **Review** to revoke the earlier version and send this one, or to keep it and not send this one.',
        )
      : make(
          'An earlier version of this message may already have been sent securely',
          "Attune lost the server's answer to an earlier Send, and the message was changed since. This version was not sent.",
          'Choose **Review** to decide whether to send this version as well.',
        );
  },
  /**
   * Send after "Keep it" (the draft is to carry the kept earlier version's notice) could not go on.
   * 'gone': that version was revoked or expired; 'unreachable': its notice could not be fetched;
   * 'recipients_changed': the draft no longer goes to that version's one recipient (the link is
   * personal); 'server_sends': the server emails that version's recipients itself.
   */
  keptNotice(why: 'gone' | 'unreachable' | 'recipients_changed' | 'server_sends'): AlertText {
    const title = "Attune couldn't send the earlier version's notice";
    switch (why) {
      case 'gone':
        return make(
          title,
          'The earlier version you kept was revoked or has expired, so its secure link no longer works. Nothing was sent.',
          'Choose Send again to secure this draft as a new message, or discard it.',
        );
      case 'unreachable':
        return make(
          title,
          "The Attune server could not be reached, so this draft could not be made the earlier version's notice. Nothing was sent.",
          'Choose Send again in a moment: the patient gets the same secure link, once.',
        );
      case 'recipients_changed':
        return make(
          title,
          "The earlier version's secure link is personal to the one recipient it was sent to, and this draft's recipients changed. Nothing was sent.",
          'Make that recipient the only one again, then choose Send.',
        );
      case 'server_sends':
        return make(
          title,
          "Attune's server already emails each recipient of the earlier version their own secure link. Nothing was sent.",
          "Discard this draft: don't send it, or the recipients get the notice twice.",
        );
    }
  },
  internal(): AlertText {
    return make(
      "Attune couldn't check this message",
      'Something went wrong while checking for PHI, so the send was stopped to keep PHI safe.',
      'Choose Send again. If this keeps happening, contact your IT administrator.',
    );
  },
};
