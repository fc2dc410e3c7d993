import { userInfo } from 'node:os';
import type { AuditEventInput } from '../audit/index.ts';

/**
 * Who ran an admin command, for its audit events: actor type `cli` and the OS account name (an
 * admin's login, never a patient's anything). A container without a passwd entry for the uid has no
 * name: then `$USER`, else `uid:<n>`.
 */
export function cliActor(): AuditEventInput['actor'] {
  let name: string | undefined;
  try {
    name = userInfo().username;
  } catch {
    name = process.env['USER'] ?? process.env['LOGNAME'];
  }
  return { type: 'cli', id: name || `uid:${process.getuid?.() ?? 'unknown'}` };
}
