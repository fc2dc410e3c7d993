import type { RouteModule } from '../types.ts';
import { health } from './health.ts';
import { identityRoutes } from './identity.ts';
import { patients } from './patients.ts';
import { careTeamRoutes } from './care-team.ts';
import { recipients } from './recipients.ts';
import { scan } from './scan.ts';
import { replies } from './replies.ts';
import { policy } from './policy.ts';
import { openapi } from './openapi.ts';
import { messages } from './messages.ts';
import { deliveries } from './deliveries.ts';
import { viewer } from './viewer.ts';
import { events } from './events.ts';
import { engagement } from './engagement.ts';
import { caseload } from './caseload.ts';
import { fhir } from './fhir.ts';
import { charts } from './charts.ts';
import { addin } from './addin.ts';

/**
 * Every route module, mounted in this order by createApp. A module is one file in this folder
 * exporting a RouteModule (`mount(app, deps)`); add yours with one import and one list entry.
 */
export const ROUTE_MODULES: RouteModule[] = [
  health,
  identityRoutes,
  patients,
  careTeamRoutes,
  recipients,
  scan,
  policy,
  openapi,
  events,
  engagement,
  caseload,
  fhir,
  charts,
  messages,
  deliveries,
  replies,
  viewer,
  addin,
  // MOUNT POINT (messages and viewer owner): import { messages } from './messages.ts' and
  // { viewer } from './viewer.ts' above, and list them here.
];
