// Pure engagement analytics over events (no host APIs). See ../api/engagement.ts for the output and
// ../api/events.ts for the input.
export {
  computeEngagement,
  DISCLAIMER,
  STYLE_LABELS,
  latencyTrend,
  recommendApproach,
  checkInTemplate,
} from './engagement.ts';
export type { PatientInfo, EngagementOptions, LatencyTrend } from './engagement.ts';
export {
  rankCaseload,
  scorePatient,
  groupByPatient,
  practicePriors,
  TriageWeightsSchema,
  DEFAULT_TRIAGE_WEIGHTS,
} from './triage.ts';
export type { TriageWeights, CaseloadPatient, RankOptions, PracticePriors } from './triage.ts';
export { classifyInquiry, toneScore, sentenceAround, INQUIRY_RULES, NEGATIVE_AFFECT_WORDS } from './text.ts';
export type { InquiryResult, InquiryType, CrisisHit, CrisisScanner, ToneResult } from './text.ts';
export { detectDrops, DEFAULT_DROP_OPTIONS } from './drop.ts';
export type { DropAlarm, DropOptions } from './drop.ts';
export {
  classifyStyle,
  fitStyleModel,
  weeklySeries,
  INITIAL_STYLE_HMM,
  DEFAULT_STYLE_THRESHOLDS,
  WEEK_SYMBOLS,
} from './style.ts';
export type { StyleModel, StyleResult, StyleThresholds, WeeklySeries } from './style.ts';
export { DEFAULT_STYLE_MODEL } from './model.ts';
export { baumWelch, viterbi, posteriors, logLikelihood } from './hmm.ts';
export type { Hmm } from './hmm.ts';
export {
  bestWindow,
  bestWindowStart,
  hourDensity,
  hourPredictive,
  fitHourWindow,
  DEFAULT_HOUR_WINDOW,
  DEFAULT_HOUR_WINDOW_NO_PRIOR,
} from './hours.ts';
export type {
  BestWindow,
  WindowOptions,
  HourWindowParams,
  HourWindowFit,
  FitHourWindowOptions,
} from './hours.ts';
export { responseTimeSvg, replyHoursSvg, escapeXml } from './svg.ts';
export { simulatePractice } from './simulate.ts';
export type { SimulateOptions, SimPatient, SimulatedPractice, SimDrop } from './simulate.ts';
export { buildTimeline } from './timeline.ts';
export type { Timeline } from './timeline.ts';
export { createRng } from './prng.ts';
export type { Rng } from './prng.ts';
export { circularHours, median, quantile, hourDistance, inWindow } from './stats.ts';
export { localHour, zoneOffsetMinutes, isValidTimeZone, toMs, nextLocalHour } from './time.ts';
export { analyzeReply } from './reply.ts';
export type { ReplyAnalysis } from './reply.ts';
export { predictLatencyHours, shortestHalfMidpoint, DEFAULT_LATENCY_SHRINKAGE } from './predict.ts';
