// The server's scan of a draft's attachment contents (POST /v1/scan), for the send handler and the
// compose pane alike. The detector here sees only attachments' names; the server reads PDF, Office,
// RTF, HTML, text and attached mail. Asked only when it could change the answer: the local decision
// is "allow" and the draft goes to someone outside the practice with such a file.
import { HEALTH_TYPES, IDENTIFIER_TYPES, PHI_TYPES } from '@attune/shared/phi';
import type { MessageField, MessageScan, PhiType } from '@attune/shared/phi';
import type { PolicyDecision } from '@attune/shared/policy';
import type { ApiClient, ApiFailure } from './api-client.ts';
import { collectAttachments } from './attachments.ts';
import type { Draft } from './draft.ts';

/** File extensions whose contents the server extracts (server/src/attachments). */
const SERVER_READABLE =
  /\.(pdf|docx|docm|dotx|xlsx|xlsm|pptx|pptm|odt|ods|odp|rtf|html?|txt|csv|tsv|json|xml|eml)$/i;

export function serverReadable(a: Draft['attachments'][number]): boolean {
  if (a.kind === 'cloud' || a.isInline) return false;
  // An attached mail item (kind "item") is read as its MIME text.
  return a.kind === 'item' || SERVER_READABLE.test(a.name);
}

/**
 * The local scan with the kinds the server found in attachments' contents, so the alert and the
 * pane's context name them (kinds only: the server returns no values, and neither does this).
 */
export function withServerFindings(
  scan: MessageScan,
  fields: readonly { field: string; types: string[] }[],
  /** The draft's index of each attachment sent to the server, by the server's index. */
  indexes: readonly number[],
): MessageScan {
  const known = new Set<string>(PHI_TYPES);
  const extra: MessageScan['fields'] = [];
  for (const f of fields) {
    const m = /^attachment:(\d+)$/.exec(f.field);
    const index = m ? indexes[Number(m[1])] : undefined;
    if (index === undefined) continue;
    const types = f.types.filter((t): t is PhiType => known.has(t));
    if (types.length === 0) continue;
    extra.push({
      field: `attachment:${index}` as MessageField,
      findings: types.map((type) => ({
        type,
        start: 0,
        end: 0,
        text: '',
        confidence: 1,
        reason: 'Found by the server in the attachment’s contents',
      })),
    });
  }
  const present = new Set<PhiType>([...scan.types, ...extra.flatMap((f) => f.findings.map((x) => x.type))]);
  const types = PHI_TYPES.filter((t) => present.has(t));
  return {
    fields: [...scan.fields, ...extra],
    types,
    hasIdentifier:
      scan.hasIdentifier || types.some((t) => (IDENTIFIER_TYPES as readonly PhiType[]).includes(t)),
    hasHealth: scan.hasHealth || types.some((t) => (HEALTH_TYPES as readonly PhiType[]).includes(t)),
    hasCrisis: scan.hasCrisis || types.includes('CRISIS'),
  };
}

/** Whether the server must read the draft's attachments before it may go out as it is. */
export function needsAttachmentScan(decision: PolicyDecision, draft: Draft): boolean {
  return (
    decision.decision === 'allow' &&
    decision.externalRecipients.length > 0 &&
    draft.attachments.some(serverReadable)
  );
}

/**
 * The scan and decision with what the server found in the attachments' contents (its decision and
 * reasons when it is not "allow"; unchanged otherwise, and when a file could not be collected: a
 * cloud attachment is refused later, at secure delivery). A failure is the server's or the
 * network's: the caller holds the send.
 */
export async function scanAttachmentContents(
  api: Pick<ApiClient, 'scanDraft'>,
  item: Office.MessageCompose,
  draft: Draft,
  scan: MessageScan,
  decision: PolicyDecision,
): Promise<{ ok: true; scan: MessageScan; decision: PolicyDecision } | ApiFailure> {
  const readable = draft.attachments.filter(serverReadable);
  const collected = await collectAttachments(item, readable);
  if (!collected.ok) return { ok: true, scan, decision };
  const server = await api.scanDraft({
    to: draft.to,
    cc: [...draft.cc, ...draft.bcc],
    subject: draft.subject,
    html: draft.html,
    attachments: collected.attachments,
  });
  if (!server.ok) return server;
  if (server.value.decision === 'allow') return { ok: true, scan, decision };
  return {
    ok: true,
    scan: withServerFindings(
      scan,
      server.value.fields,
      readable.map((a) => draft.attachments.indexOf(a)),
    ),
    decision: {
      ...decision,
      decision: server.value.decision,
      reasons: server.value.reasons,
      phi: server.value.phi,
    },
  };
}
