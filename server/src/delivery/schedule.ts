import { nextLocalHour as sharedNextLocalHour } from '@attune/shared/engagement';
import type { Db } from '../store/index.ts';
import { bestSendTime as engagementBestSendTime } from '../engagement/best-time.ts';

// sendAt: "best" resolves through the engagement service, so the hour a message is scheduled for
// is the hour the sidebar recommends (recommendations.bestHour, with the practice's reply hours as
// the prior), or the next daytime hour in the patient's zone without enough history. Always with a
// reason the clinician can read.

/** The first instant >= fromMs at which the local wall clock in `tz` reads `hour`:00. */
export function nextLocalHour(fromMs: number, tz: string, hour: number): number {
  return sharedNextLocalHour(tz, fromMs, hour);
}

export interface BestTime {
  at: Date;
  reason: string;
}

export async function bestSendTime(
  db: Db,
  practiceId: string,
  patientId: string | null,
  timeZone: string | null,
  now: Date,
): Promise<BestTime> {
  const best = await engagementBestSendTime({ db }, practiceId, patientId, now, { timeZone });
  return { at: best.at, reason: best.reason };
}
