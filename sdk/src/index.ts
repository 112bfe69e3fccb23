export {
  createChimeClient,
  type ChimeClient,
  type ChimeClientOptions,
  type JobFilter,
  type RunFilter,
  type BatchJobSpec,
  type BatchCreateResult,
} from "./client.js";
export { watchRuns, watchJob, isFinalWatchError, type WatchRunsFilter, type WatchOptions, type WatchJobMessage, type WatchTargets } from "./watch.js";
export { toJob, SPEC_FIELD_PATHS, type JobSpec, type RetrySpec } from "./job-spec.js";
export { toSchedule, parseDuration, type ScheduleSpec, type DurationSpec, type ScheduleBounds } from "./schedule-spec.js";
export * from "./gen/chime/v1/job_pb.js";
export * from "./gen/chime/v1/run_pb.js";
export * from "./gen/chime/v1/schedule_pb.js";
export * from "./gen/chime/v1/job_service_pb.js";
export * from "./gen/chime/v1/watch_service_pb.js";
export * from "./gen/chime/v1/worker_pb.js";
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
