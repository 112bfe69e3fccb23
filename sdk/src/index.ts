export { createChimeClient } from "./node-client.js";
export {
  type ChimeClient,
  type ChimeClientOptions,
  type ClientTlsOptions,
  type JobFilter,
  type RunFilter,
  type BatchJobSpec,
  type BatchCreateResult,
  MAX_BATCH_JOBS,
} from "./client.js";
export { watchRuns, watchJob, isFinalWatchError, type WatchRunsFilter, type WatchOptions, type WatchJobMessage, type WatchTargets } from "./watch.js";
export { toJob, SPEC_FIELD_PATHS, type JobSpec, type RetrySpec } from "./job-spec.js";
export { toSchedule, parseDuration, durationFromMs, type ScheduleSpec, type DurationSpec, type ScheduleBounds, type DstSpec } from "./schedule-spec.js";
export * from "./gen/chime/v1/job_pb.js";
export * from "./gen/chime/v1/run_pb.js";
export * from "./gen/chime/v1/schedule_pb.js";
export * from "./gen/chime/v1/job_service_pb.js";
export * from "./gen/chime/v1/watch_service_pb.js";
export * from "./gen/chime/v1/worker_pb.js";
export * from "./gen/chime/v1/alert_service_pb.js";
export * from "./gen/chime/v1/admin_service_pb.js";
export * from "./gen/chime/v1/stats_service_pb.js";
export * from "./plain-api.js";
export { natsLayout, type NatsLayout } from "./nats-layout.js";
export {
  encodeRunAssignment,
  decodeRunAssignment,
  encodeRunStatusUpdate,
  encodeRunStatusBatch,
  decodeRunStatusUpdate,
  decodeRunStatusBatch,
} from "./wire/index.js";
export { Worker, type WorkerOptions, type WorkerRun, type WorkerContext, type WorkerHandler, type WorkerLogger } from "./worker/worker.js";
export { NonRetryableError, RunCancelledError, AttemptTimeoutError, WorkerStoppingError, DeliverySupersededError, isRetryable } from "./worker/errors.js";
export { backoffOf, retryDelayMs, RETRY_DEFAULTS, type Backoff } from "./worker/backoff.js";
export type { RunLog } from "./worker/run-log.js";
export { boundRunLogLines, runLogLineChars, DEFAULT_RUN_LOG_LIMITS, type RunLogLimits, type RunLogUsage } from "./run-log-bounds.js";
export { BadRequestSchema, BadRequest_FieldViolationSchema, RetryInfoSchema, type BadRequest, type BadRequest_FieldViolation, type RetryInfo } from "./gen/google/rpc/error_details_pb.js";
