import { readFileSync, statSync } from 'node:fs';
import { loadConfigOrReport } from './load-config.ts';
import { AUDIT, appendAudit } from '../audit/index.ts';
import { FhirBundleSchema, importFhirBundleWithCare } from '../engagement/fhir.ts';
import { cliActor } from './actor.ts';
import { practiceForCommand } from './practice-ref.ts';
import { openMigratingStore } from './open-store.ts';
import { describeZodError } from '../http/validate.ts';

const USAGE =
  'usage: attune import fhir BUNDLE.json [--practice PRACTICE] [--json]\n' +
  '       attune import gmail --mailbox clinician@practice.org [--key SERVICE_ACCOUNT.json]\n';

const MAX_BUNDLE_BYTES = 512 * 1024 * 1024;

// `attune import fhir BUNDLE.json`: the CLI twin of POST /v1/fhir for bundles too large for an HTTP
// body (nightly EHR exports). `attune import gmail`: one mailbox sync pass (run it from cron).
export async function run(args: string[]): Promise<number> {
  const [what, ...rest] = args;
  if (what === 'fhir') return importFhir(rest);
  if (what === 'gmail') {
    const { runGmailImport } = await import('../mailbox/cli.ts');
    return runGmailImport(rest);
  }
  process.stderr.write(USAGE);
  return 2;
}

async function importFhir(args: string[]): Promise<number> {
  // PRACTICE (an id or one of its domains) after --practice; everything else not a flag is the file.
  const positional = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--practice');
  const file = positional[0];
  if (
    !file ||
    positional.length !== 1 ||
    args.some((a) => a.startsWith('--') && a !== '--json' && a !== '--practice') ||
    (args.includes('--practice') && !args[args.indexOf('--practice') + 1])
  ) {
    process.stderr.write(USAGE);
    return 2;
  }
  let text: string;
  try {
    if (statSync(file).size > MAX_BUNDLE_BYTES) {
      process.stderr.write(`attune: ${file} is larger than 512 MB; split the export.\n`);
      return 1;
    }
    text = readFileSync(file, 'utf8');
  } catch {
    process.stderr.write(`attune: cannot read ${file}\n`);
    return 1;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    process.stderr.write(`attune: ${file} is not valid JSON\n`);
    return 1;
  }
  const parsed = FhirBundleSchema.safeParse(json);
  if (!parsed.success) {
    process.stderr.write(`attune: ${file} is not a FHIR R4 Bundle. ${describeZodError(parsed.error)}\n`);
    return 1;
  }
  const config = loadConfigOrReport();
  if (!config) return 1;
  const store = await openMigratingStore(config, 'import');
  if (typeof store === 'number') return store;
  try {
    const practice = await practiceForCommand(store.db, config, args, { command: 'import', create: false });
    if (!practice) return 1;
    const { practiceId } = practice;
    const now = new Date();
    // The operator at the CLI (the OS user) is who imported, as POST /v1/fhir names its caller: the
    // import's phi.write and the care-team joins it makes name the same person (45 CFR
    // 164.312(b): who wrote PHI, not only that a program did).
    const actor = cliActor();
    const { result: r, care } = await store.db.transaction().execute(async (tx) => {
      // The operator at the CLI is the practice's admin here: the appointments' practitioners join
      // their patients' care teams (engagement/fhir.ts), each join audited with the OS user.
      const imported = await importFhirBundleWithCare(tx, practiceId, parsed.data, now, {
        assignCare: { by: null, audit: { actor } },
      });
      const { result, care } = imported;
      await appendAudit(tx, {
        action: AUDIT.PHI_WRITE,
        outcome: 'success',
        actor,
        practiceId,
        target: { type: 'engagement_events', id: practiceId },
        details: {
          operation: 'fhir_import',
          appointments: result.appointments,
          accepted: result.accepted,
          duplicates: result.duplicates,
          unmatched: result.unmatched.length,
          invalid: result.invalid.length,
          care_joined: care.joined,
          without_care_team: care.withoutCareTeam,
        },
      });
      return imported;
    });
    if (args.includes('--json')) {
      process.stdout.write(`${JSON.stringify({ ...r, careTeams: care })}\n`);
    } else {
      process.stdout.write(
        `Imported ${r.appointments} appointments: ${r.accepted} new events, ${r.duplicates} already imported, ` +
          `${r.unmatched.length} not matched to a patient, ${r.invalid.length} invalid, ${r.skipped.length} entries skipped.\n`,
      );
      for (const i of [...r.invalid, ...r.unmatched].slice(0, 20))
        process.stdout.write(`  entry ${i.entry} (${i.resourceType}): ${i.reason}\n`);
      process.stdout.write(
        `Care teams: ${care.patients} patients matched; ${care.joined} added to a care team from the appointments' practitioners` +
          (care.unknownPractitioners > 0
            ? ` (${care.unknownPractitioners} practitioners are no clinician of this practice: they join once they sign in and the bundle is imported again)`
            : '') +
          `; ${care.withoutCareTeam} without a care team` +
          (care.withoutCareTeam > 0
            ? ` (no clinician sees them under patientAccess 'care-team': assign them with \`attune practice care-team ${practiceId} add PATIENT_EMAIL CLINICIAN_EMAIL\`)`
            : '') +
          '.\n',
      );
    }
    return r.invalid.length > 0 ? 1 : 0;
  } finally {
    await store.close();
  }
}
