/** Typed errors and the plain-value view of results: exported alike by the Node entry (index.ts) and the browser entry (web.ts). */
export { ChimeError, toChimeError, codeNameOf, type ChimeErrorCode, type FieldViolation } from "./errors.js";
export {
  plainJob,
  plainRun,
  plainRunEvent,
  plainScheduleEvent,
  plainWatchJobMessage,
  scheduleSpecOf,
  enumName,
  type EnumName,
  type PlainJob,
  type PlainRun,
  type PlainRunAttempt,
  type PlainRunEvent,
  type PlainScheduleEvent,
  type ScheduleEventReasonName,
  type PlainWatchJobMessage,
  type JobStateName,
  type RunStateName,
  type RunTriggerName,
  type JobChangeKindName,
} from "./plain-values.js";
export { type PlainJobFilter, type PlainRunFilter } from "./plain-facade.js";
