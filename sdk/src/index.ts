export { createChimeClient, type ChimeClient, type ChimeClientOptions, type JobFilter, type RunFilter } from "./client.js";
export { toJob, SPEC_FIELD_PATHS, type JobSpec, type RetrySpec } from "./job-spec.js";
export { toSchedule, parseDuration, type ScheduleSpec, type DurationSpec, type ScheduleBounds } from "./schedule-spec.js";
export * from "./gen/chime/v1/job_pb.js";
export * from "./gen/chime/v1/run_pb.js";
export * from "./gen/chime/v1/schedule_pb.js";
export * from "./gen/chime/v1/job_service_pb.js";
export * from "./gen/chime/v1/watch_service_pb.js";
