// decide(): the practice's policy applied to a scanned message. Pure: no I/O, same answer in the
// Outlook handler, the Gmail add-on, the server API and the SMTP gateway.
//
// What counts as PHI (45 CFR 160.103: individually identifiable health information):
//   - health content (diagnosis, medication, ICD-10/CPT code, treatment, crisis language) together with
//     an identifier that points at a person (name, phone, email, SSN, MRN, plan or account number…), or
//   - any health content or any identifier in mail to a known patient of the practice: that the
//     recipient is a patient of a mental-health practice is itself health information.
// Dates, ZIP codes and web addresses are identifiers too, but on their own they point at an event, a
// town or a web page ("Stress workshop on March 3"), so they make health content PHI only in mail to a
// known patient. That keeps practice newsletters and event notices from being forced into the portal.
// First-person crisis language is PHI on its own (see below).
// An age under 90 (AGE) is a quasi-identifier, not a Safe Harbor identifier: it is not in
// IDENTIFIER_TYPES, so it never makes health content PHI ("a 34-year-old with depression" is decided
// as if the age were not there). AGE_OVER_89 is an identifier.

import {
  HEALTH_TYPES,
  IDENTIFIER_TYPES,
  type Finding,
  type HealthType,
  type IdentifierType,
  type MessageScan,
  type PhiType,
} from '../phi/types.ts';
import { PHI_TYPE_LABELS } from '../phi/labels.ts';
import type { Decision, Policy, PolicyDecision, RecipientInfo } from './schema.ts';

/** Identifiers that alone do not point at a person (see above). */
export const WEAK_IDENTIFIER_TYPES: readonly IdentifierType[] = ['DATE', 'ZIP', 'URL'];

const WEAK_SET: ReadonlySet<PhiType> = new Set(WEAK_IDENTIFIER_TYPES);
const MAX_TERMS = 3;

export function decide(
  policy: Policy,
  scan: MessageScan,
  recipients: readonly RecipientInfo[] = [],
): PolicyDecision {
  const findings: Finding[] = scan.fields.flatMap((f) => f.findings);
  const present = new Set<PhiType>(findings.map((f) => f.type));
  const identifiers = IDENTIFIER_TYPES.filter((t) => present.has(t));
  // A date of birth is the one date that points at a person on its own (scan marks it `birth`).
  const strong = identifiers.filter(
    (t) => !WEAK_SET.has(t) || (t === 'DATE' && findings.some((f) => f.birth === true)),
  );
  const health = HEALTH_TYPES.filter((t) => present.has(t));

  const valid = recipients.filter((r) => r && typeof r.email === 'string');
  const external = valid.filter((r) => !isInternal(r.email, policy.internalDomains)).map((r) => r.email);
  const toKnownPatient = valid.some((r) => r.isPatient === true);

  // Crisis language in the first person ("I want to end my life") is about a person by construction:
  // the writer or whoever is being quoted, whom sender and recipient identify. It is treated as PHI on
  // its own. Third-person, historical and negated mentions are health content like any other.
  const crisisFirstPerson = findings.some(
    (f) => f.type === 'CRISIS' && (f.grade === undefined || f.grade === 'first_person'),
  );
  const linked =
    (health.length > 0 && (strong.length > 0 || toKnownPatient)) ||
    (toKnownPatient && identifiers.length > 0);
  const phi = linked || crisisFirstPerson;

  const reasons: string[] = [];
  const crisis = findings.some((f) => f.type === 'CRISIS' && f.grade !== 'negated');
  const crisisReason =
    'Contains crisis language (suicide or self-harm): it is health content, and the practice’s crisis protocol applies.';

  const blocked = findings.filter((f) => policy.blockTypes.includes(f.type));
  if (blocked.length > 0) {
    const types = [...new Set(blocked.map((f) => f.type))];
    for (const t of types)
      reasons.push(
        `Contains ${label(t)}, which the practice’s policy never allows in email, even encrypted.`,
      );
    if (crisis) reasons.push(crisisReason);
    return result('block', reasons, phi, external);
  }

  if (phi) {
    reasons.push(
      linked
        ? phiReason(identifiers, health, findings, toKnownPatient, namedOnlyInRecipients(scan))
        : 'Contains crisis language in the first person, which is health information about a person.',
    );
    if (crisis) reasons.push(crisisReason);
    if (valid.length > 0 && external.length === 0) {
      reasons.push('Every recipient is in the practice’s internal domains, so it can be sent as is.');
      return result('allow', reasons, phi, external);
    }
    if (valid.length === 0) reasons.push('No recipients yet: treated as external.');
    if (policy.mode === 'opt_out') {
      reasons.push('Practice policy: PHI to anyone outside the practice is always sent securely.');
      return result('encrypt', reasons, phi, external);
    }
    reasons.push('Practice policy: sending securely is recommended for PHI; the choice is yours.');
    return result('warn', reasons, phi, external);
  }

  if (health.length > 0 && identifiers.length > 0) {
    reasons.push(
      `Mentions ${healthPhrase(health, findings)} with only ${list(identifiers.map(label))}, nothing that identifies a person, and no recipient is a known patient: not PHI.`,
    );
  } else if (health.length > 0) {
    reasons.push(
      `Mentions ${healthPhrase(health, findings)} but nothing that identifies a person, and no recipient is a known patient: not PHI.`,
    );
  } else if (identifiers.length > 0) {
    reasons.push(`Contains ${list(identifiers.map(label))} but no health content: not PHI.`);
  } else {
    reasons.push('No PHI found.');
  }
  if (crisis) reasons.push(crisisReason);
  return result('allow', reasons, phi, external);
}

function result(
  decision: Decision,
  reasons: string[],
  phi: boolean,
  externalRecipients: string[],
): PolicyDecision {
  return { decision, reasons, phi, externalRecipients };
}

/** The bare address of "Jane Doe <jane@example.com>" or "jane@example.com", lower-cased. */
export function addressOf(recipient: string): string {
  const m = /<([^<>]*)>\s*$/.exec(recipient);
  return (m ? m[1]! : recipient).trim().toLowerCase();
}

/** Whether an address is in one of the internal domains (or a subdomain of one). */
export function isInternal(recipient: string, internalDomains: readonly string[]): boolean {
  const addr = addressOf(recipient);
  const at = addr.lastIndexOf('@');
  if (at < 0) return false;
  const domain = addr.slice(at + 1).replace(/\.$/, '');
  if (!domain) return false;
  return internalDomains.some((d) => {
    const want = d.trim().toLowerCase().replace(/^@/, '').replace(/\.$/, '');
    return want.length > 0 && (domain === want || domain.endsWith(`.${want}`));
  });
}

function label(t: PhiType): string {
  return PHI_TYPE_LABELS[t];
}

// "Names a patient and a diagnosis: depression." / "Contains a phone number and a medication: sertraline."
// / "Sent to a known patient; mentions a treatment: CBT."
function phiReason(
  identifiers: IdentifierType[],
  health: HealthType[],
  findings: Finding[],
  toKnownPatient: boolean,
  namedOnlyInRecipients: boolean,
): string {
  const others = identifiers.filter((t) => t !== 'NAME').map(label);
  let who = '';
  if (identifiers.includes('NAME'))
    who = `${namedOnlyInRecipients ? 'Addressed to a named person' : 'Names a patient'}${others.length > 0 ? ` (also ${list(others)})` : ''}`;
  else if (others.length > 0) who = `Contains ${list(others)}`;
  const what = health.length > 0 ? healthPhrase(health, findings) : '';
  const core =
    who && what ? `${who} and ${namedOnlyInRecipients ? 'mentions ' : ''}${what}` : who || `Mentions ${what}`;
  return toKnownPatient
    ? `Sent to a known patient; ${core.charAt(0).toLowerCase()}${core.slice(1)}.`
    : `${core}.`;
}

// Whether every NAME finding is in to/cc: the clinician should see that it is the recipient's name
// (with health content, that the mail itself tells who is being treated) rather than a name in the text.
function namedOnlyInRecipients(scan: MessageScan): boolean {
  let any = false;
  for (const f of scan.fields) {
    if (!f.findings.some((x) => x.type === 'NAME')) continue;
    if (f.field !== 'to' && f.field !== 'cc') return false;
    any = true;
  }
  return any;
}

// "a diagnosis: depression, anxiety; a medication: sertraline 50 mg". Health terms are named (they are
// what the clinician needs to see); identifiers never are.
function healthPhrase(health: HealthType[], findings: Finding[]): string {
  return health
    .map((t) => {
      if (t === 'CRISIS') return PHI_TYPE_LABELS[t];
      const terms: string[] = [];
      for (const f of findings) {
        if (f.type !== t) continue;
        const term = normalizeTerm(f.text, t);
        if (term && !terms.includes(term)) terms.push(term);
      }
      if (terms.length === 0) return PHI_TYPE_LABELS[t];
      const shown = terms.slice(0, MAX_TERMS).join(', ');
      return `${PHI_TYPE_LABELS[t]}: ${shown}${terms.length > MAX_TERMS ? ', …' : ''}`;
    })
    .join('; ');
}

function normalizeTerm(raw: string, type: HealthType): string {
  // Findings in an HTML body slice the HTML: drop markup, then tidy.
  let t = raw
    .replace(/<[^>]*>?/g, ' ')
    .replace(/&nbsp;/gi, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  // Keep acronyms and codes as written (PTSD, CBT, F32.1); lower-case words ("Depression" → "depression").
  if (type === 'ICD10' || type === 'CPT') t = t.toUpperCase();
  // Medication brands keep their capital (Zoloft); a diagnosis capitalised at a sentence start does not.
  else if (type !== 'MEDICATION' && !/[A-Z].*[A-Z]/.test(t)) t = t.toLowerCase();
  return t.length > 40 ? `${t.slice(0, 39)}…` : t;
}

function list(items: string[]): string {
  if (items.length <= 1) return items[0] ?? '';
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}
