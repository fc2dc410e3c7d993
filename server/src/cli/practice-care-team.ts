import { parseArgs } from 'node:util';
import { AUDIT, appendAudit, type AuditDetails } from '../audit/index.ts';
import {
  careTeam,
  findPatientByEmail,
  joinCare,
  nowIso,
  practiceWideAccess,
  removeCare,
  type CareTeamMember,
  type Db,
  type Store,
} from '../store/index.ts';
import { findPracticeId } from '../store/practices.ts';
import { cliActor } from './actor.ts';
import { OK, REFUSED, USAGE_ERROR, UsageError } from './exit.ts';

export const CARE_TEAM_USAGE = `usage:
  attune practice care-team PRACTICE list PATIENT_EMAIL [--json]
  attune practice care-team PRACTICE add PATIENT_EMAIL CLINICIAN_EMAIL [--json]
  attune practice care-team PRACTICE remove PATIENT_EMAIL CLINICIAN_EMAIL [--json]

A patient's care team: the clinicians who see the patient under the policy's patientAccess
'care-team' (the default). PRACTICE is a practice id or one of its domains. A clinician is known
after their first sign-in or first mail through the SMTP gateway. add and remove are idempotent and
take effect at once in a running server. Audited like the API (care.change, phi.read for list),
actor cli and the OS user. Exit 0 done, 1 refused (unknown practice, patient or clinician), 2 usage.
`;

type Operation = 'list' | 'add' | 'remove';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function emailArg(value: string | undefined, what: string): string {
  const email = value?.trim().toLowerCase();
  if (!email) throw new UsageError(`give the ${what}'s email address`);
  // The patient's address stays out of the message: the admin has it on their command line.
  if (!EMAIL.test(email) || email.length > 254)
    throw new UsageError(`the ${what}'s email is not an email address`);
  return email;
}

/**
 * `attune practice care-team PRACTICE list|add|remove …`: the CLI twin of GET/PUT/DELETE
 * /v1/patients/:id/care-team[/:email] (http/routes/care-team.ts) for the operator of a deployment,
 * who is nobody's admin token. The same rules: an added clinician must have an account in the
 * practice and be enabled; a removed one need only have an account; changes are care.change with
 * references only (patient id, clinician id), and refusals are audited too.
 */
export async function careTeamCommand(
  args: string[],
  withStore: (fn: (store: Store) => Promise<number>) => Promise<number>,
): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(CARE_TEAM_USAGE);
    return OK;
  }
  let parsed: { json: boolean; practice: string; operation: Operation; patient: string; clinician?: string };
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { json: { type: 'boolean' } },
      strict: true,
      allowPositionals: true,
    });
    const [practice, op, patient, clinician, ...extra] = positionals;
    if (!practice) throw new UsageError('name the practice (its id or one of its domains)');
    if (op !== 'list' && op !== 'add' && op !== 'remove')
      throw new UsageError(
        op ? `unknown operation "${op}" (list, add or remove)` : 'give list, add or remove',
      );
    const wanted = op === 'list' ? 1 : 2;
    const given = [patient, clinician, ...extra].filter((x) => x !== undefined).length;
    if (given > wanted)
      throw new UsageError(`unexpected argument "${[patient, clinician, ...extra][wanted] ?? ''}"`);
    parsed = {
      json: values.json === true,
      practice,
      operation: op,
      patient: emailArg(patient, 'patient'),
      ...(op === 'list' ? {} : { clinician: emailArg(clinician, 'clinician') }),
    };
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`attune practice care-team: ${(err as Error).message}\n\n${CARE_TEAM_USAGE}`);
      return USAGE_ERROR;
    }
    throw err;
  }
  return withStore((store) => careTeamIn(store.db, parsed));
}

async function careTeamIn(
  db: Db,
  a: { json: boolean; practice: string; operation: Operation; patient: string; clinician?: string },
): Promise<number> {
  const say = (text: string) => process.stderr.write(`attune practice care-team ${a.operation}: ${text}\n`);
  const practiceId = await findPracticeId(db, a.practice);
  if (!practiceId) {
    say(`no practice ${a.practice} (see attune practice list)`);
    return REFUSED;
  }
  const refuse = async (reason: string, text: string, extra: AuditDetails = {}, patientId?: string) => {
    await appendAudit(db, {
      action: AUDIT.CARE_CHANGE,
      outcome: 'failure',
      actor: cliActor(),
      practiceId,
      ...(patientId ? { target: { type: 'patient', id: patientId } } : {}),
      details: { operation: a.operation, reason, ...extra },
    });
    say(text);
    return REFUSED;
  };

  const patient = await findPatientByEmail(db, practiceId, a.patient);
  if (!patient) {
    // Neither the address nor whether another practice has it: a patient's address is PHI.
    return refuse('patient_not_found', `no patient with that email address in practice ${practiceId}`);
  }

  if (a.operation === 'list') {
    const team = await careTeam(db, practiceId, patient.id);
    await appendAudit(db, {
      action: AUDIT.PHI_READ,
      outcome: 'success',
      actor: cliActor(),
      practiceId,
      target: { type: 'patient', id: patient.id },
      details: { view: 'care_team', members: team.length },
    });
    await print(db, a.json, practiceId, patient.id, team);
    return OK;
  }

  const clinicianEmail = a.clinician ?? '';
  const clinician = await db
    .selectFrom('clinicians')
    .select(['id', 'practice_id', 'disabled'])
    .where('email', '=', clinicianEmail)
    .orderBy('created_at')
    .execute();
  const ours = clinician.find((c) => c.practice_id === practiceId);
  if (!ours) {
    // A clinician's address is staff, not PHI: it may be named.
    const elsewhere = clinician[0]?.practice_id;
    return elsewhere
      ? refuse(
          'clinician_not_in_practice',
          `clinician ${clinicianEmail} belongs to practice ${elsewhere}, not ${practiceId}: a care team is of one practice`,
          { other_practice: elsewhere },
          patient.id,
        )
      : refuse(
          'clinician_not_found',
          `no clinician ${clinicianEmail} in practice ${practiceId} (a clinician is known after their first sign-in or first mail through the gateway)`,
          {},
          patient.id,
        );
  }
  if (a.operation === 'add' && ours.disabled !== 0)
    return refuse(
      'clinician_disabled',
      `clinician ${clinicianEmail} is disabled in practice ${practiceId}`,
      { clinicianId: ours.id },
      patient.id,
    );

  const changed = await db.transaction().execute(async (tx) => {
    // created_by stays null: the operator at the CLI is no clinician of the practice (the audit
    // event names them).
    const changed =
      a.operation === 'add'
        ? await joinCare(tx, {
            practiceId,
            clinicianId: ours.id,
            patientId: patient.id,
            source: 'assigned',
            at: nowIso(),
          })
        : await removeCare(tx, practiceId, ours.id, patient.id);
    await appendAudit(tx, {
      action: AUDIT.CARE_CHANGE,
      outcome: 'success',
      actor: cliActor(),
      practiceId,
      target: { type: 'patient', id: patient.id },
      details: { operation: a.operation, clinicianId: ours.id, changed },
    });
    return changed;
  });
  if (!a.json)
    process.stdout.write(
      a.operation === 'add'
        ? changed
          ? `Added ${clinicianEmail} to the care team of patient ${patient.id}.\n`
          : `${clinicianEmail} was already in the care team of patient ${patient.id}: nothing changed.\n`
        : changed
          ? `Removed ${clinicianEmail} from the care team of patient ${patient.id}.\n`
          : `${clinicianEmail} was not in the care team of patient ${patient.id}: nothing changed.\n`,
    );
  await print(db, a.json, practiceId, patient.id, await careTeam(db, practiceId, patient.id), changed);
  return OK;
}

/** The team as the API gives it (CareTeamSchema) with --json; else one line per member. */
async function print(
  db: Db,
  json: boolean,
  practiceId: string,
  patientId: string,
  members: CareTeamMember[],
  changed?: boolean,
): Promise<void> {
  const patientAccess = (await practiceWideAccess(db, practiceId)) ? 'practice' : 'care-team';
  if (json) {
    process.stdout.write(
      `${JSON.stringify({ patientId, patientAccess, members, ...(changed === undefined ? {} : { changed }) }, null, 2)}\n`,
    );
    return;
  }
  const lines = [`Care team of patient ${patientId} (policy patientAccess: ${patientAccess}):`];
  if (members.length === 0)
    lines.push("  (nobody: under 'care-team' no clinician sees this patient until one is added)");
  for (const m of members)
    lines.push(`  ${m.email}  ${m.role}  ${m.source} ${m.since}${m.assignedBy ? ` by ${m.assignedBy}` : ''}`);
  if (patientAccess === 'practice')
    lines.push('  (the policy lets every clinician of the practice see every patient)');
  process.stdout.write(`${lines.join('\n')}\n`);
}
