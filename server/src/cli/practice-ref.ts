import type { Config } from '../config.ts';
import type { Db } from '../store/index.ts';
import { ensurePractice, findPracticeId } from '../store/practices.ts';

/**
 * The practice a one-off command (demo, import) writes into: the one `--practice` names (its id or
 * one of its domains), or else the server's configured practice (PRACTICE_DOMAINS). Never rewrites
 * an existing practice: `attune practice set` may have changed its name or reply domain since, and
 * the command may run with another environment than the server's. The configured practice is
 * created when the store has none yet only if `create` allows it (demo on a fresh store); otherwise
 * the admin is told to start the server once. Null after telling the admin why on stderr.
 */
export async function practiceForCommand(
  db: Db,
  config: Config,
  args: readonly string[],
  opts: { command: string; create: boolean },
): Promise<{ practiceId: string; domain: string; name: string } | null> {
  const i = args.indexOf('--practice');
  const ref = i >= 0 ? args[i + 1] : undefined;
  let practiceId: string | null;
  if (ref !== undefined) {
    practiceId = await findPracticeId(db, ref);
    if (!practiceId) {
      process.stderr.write(
        `attune ${opts.command}: no practice ${ref} in this store (\`attune practice list\` shows them)\n`,
      );
      return null;
    }
  } else if (opts.create) {
    practiceId = (await ensurePractice(db, config.practice, { update: false })).practiceId;
  } else {
    practiceId = null;
    for (const d of config.practice.domains) {
      practiceId = await findPracticeId(db, d);
      if (practiceId) break;
    }
    if (!practiceId) {
      process.stderr.write(
        `attune ${opts.command}: the configured practice (PRACTICE_DOMAINS) is not in this store yet: start the server once, or name one with --practice\n`,
      );
      return null;
    }
  }
  const row = await db
    .selectFrom('practices')
    .leftJoin('practice_domains', 'practice_domains.practice_id', 'practices.id')
    .select(['practices.name', 'practice_domains.domain'])
    .where('practices.id', '=', practiceId)
    .orderBy('practice_domains.created_at')
    .orderBy('practice_domains.domain')
    .executeTakeFirst();
  const configured = ref === undefined ? config.practice.domains[0] : undefined;
  return { practiceId, name: row?.name ?? '', domain: configured ?? row?.domain ?? 'example.org' };
}
