import type { SchemaMigration } from './types.ts';
import { migration as m0001 } from './0001-initial.ts';
import { migration as m0002 } from './0002-delivery.ts';
import { migration as m0003 } from './0003-engagement.ts';
import { migration as m0004 } from './0004-request-hash.ts';
import { migration as m0005 } from './0005-chain-checkpoints.ts';
import { migration as m0006 } from './0006-reply-tokens.ts';
import { migration as m0007 } from './0007-backfill-undelivered.ts';
import { migration as m0008 } from './0008-content-mac.ts';
import { migration as m0009 } from './0009-gateway-mail-keys.ts';
import { migration as m0010 } from './0010-care-teams.ts';
import { migration as m0011 } from './0011-delivery-outcomes.ts';
import { migration as m0012 } from './0012-backfill-bounced-pgp.ts';
import { migration as m0013 } from './0013-delivery-listing.ts';
import { migration as m0014 } from './0014-delivery-generations.ts';
import { migration as m0015 } from './0015-quarantined-rows.ts';

/**
 * Every migration, in order. Names sort lexically and are recorded in `kysely_migration`;
 * add new ones at the end (0002-…), never rename or edit a shipped one.
 */
export const MIGRATIONS: ReadonlyArray<readonly [name: string, migration: SchemaMigration]> = [
  ['0001-initial', m0001],
  ['0002-delivery', m0002],
  ['0003-engagement', m0003],
  ['0004-request-hash', m0004],
  ['0005-chain-checkpoints', m0005],
  ['0006-reply-tokens', m0006],
  ['0007-backfill-undelivered', m0007],
  ['0008-content-mac', m0008],
  ['0009-gateway-mail-keys', m0009],
  ['0010-care-teams', m0010],
  ['0011-delivery-outcomes', m0011],
  ['0012-backfill-bounced-pgp', m0012],
  ['0013-delivery-listing', m0013],
  ['0014-delivery-generations', m0014],
  ['0015-quarantined-rows', m0015],
];
