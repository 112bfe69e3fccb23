import { create, type JsonObject } from "@bufbuild/protobuf";
import {
  HttpRequestSchema,
  JobSchema,
  MisfirePolicy,
  OverlapPolicy,
  RetryPolicySchema,
  type Job,
} from "./gen/chime/v1/job_pb.js";
import { durationFromMs, parseDuration, toSchedule, type DurationSpec, type ScheduleSpec } from "./schedule-spec.js";

export interface RetrySpec {
  maxAttempts?: number;
  initialBackoff?: DurationSpec;
  maxBackoff?: DurationSpec;
  multiplier?: number;
  /** 0 (none) to 1. */
  jitter?: number;
}

/** A job as plain JavaScript values; see chime.v1.Job for the meaning of each field. */
export interface JobSpec {
  name: string;
  queue: string;
  schedule: ScheduleSpec;
  namespace?: string;
  payload?: JsonObject;
  labels?: Record<string, string>;
  retry?: RetrySpec;
  attemptTimeout?: DurationSpec;
  overlap?: "allow" | "skip" | "buffer_one" | "cancel_previous";
  maxConcurrentRuns?: number;
  misfire?: "skip" | "run_once" | "run_all";
  misfireWindow?: DurationSpec;
  /** A run dispatched this long after its time is recorded as a LATE schedule event (unset: not recorded). */
  maxLag?: DurationSpec;
  /**
   * How long finished runs are kept after they end (at least the server's event retention);
   * unset: the namespace's retention, else the server's.
   */
  runRetention?: DurationSpec;
  /** keepHeaders: response headers recorded in the run's log with the status and a body excerpt. */
  http?: { method?: string; url: string; headers?: Record<string, string>; body?: string; keepHeaders?: string[] };
  /** Pause the job after this many consecutive failed runs (0 or unset: never). */
  pauseAfterFailures?: number;
}

const OVERLAP = {
  allow: OverlapPolicy.ALLOW,
  skip: OverlapPolicy.SKIP,
  buffer_one: OverlapPolicy.BUFFER_ONE,
  cancel_previous: OverlapPolicy.CANCEL_PREVIOUS,
} as const;

const MISFIRE = {
  skip: MisfirePolicy.SKIP,
  run_once: MisfirePolicy.RUN_ONCE,
  run_all: MisfirePolicy.RUN_ALL,
} as const;

/** The proto field (snake_case, as in an update mask) each JobSpec key sets. */
export const SPEC_FIELD_PATHS: Record<keyof JobSpec, string> = {
  name: "name",
  queue: "queue",
  schedule: "schedule",
  namespace: "namespace",
  payload: "payload",
  labels: "labels",
  retry: "retry_policy",
  attemptTimeout: "attempt_timeout",
  overlap: "overlap_policy",
  maxConcurrentRuns: "max_concurrent_runs",
  misfire: "misfire_policy",
  misfireWindow: "misfire_window",
  maxLag: "max_lag",
  runRetention: "run_retention",
  http: "http",
  pauseAfterFailures: "pause_after_failures",
};

/** Builds the chime.v1.Job message for a (partial) JobSpec. */
export function toJob(spec: Partial<JobSpec>, id = ""): Job {
  const optionalDuration = (value: DurationSpec | undefined) => (value === undefined ? undefined : durationFromMs(parseDuration(value)));
  return create(JobSchema, {
    id,
    name: spec.name ?? "",
    queue: spec.queue ?? "",
    namespace: spec.namespace ?? "",
    schedule: spec.schedule === undefined ? undefined : toSchedule(spec.schedule),
    payload: spec.payload,
    labels: spec.labels ?? {},
    retryPolicy: spec.retry
      ? create(RetryPolicySchema, {
          maxAttempts: spec.retry.maxAttempts ?? 0,
          initialBackoff: optionalDuration(spec.retry.initialBackoff),
          maxBackoff: optionalDuration(spec.retry.maxBackoff),
          backoffMultiplier: spec.retry.multiplier ?? 0,
          jitter: spec.retry.jitter,
        })
      : undefined,
    attemptTimeout: optionalDuration(spec.attemptTimeout),
    overlapPolicy: spec.overlap ? OVERLAP[spec.overlap] : OverlapPolicy.UNSPECIFIED,
    maxConcurrentRuns: spec.maxConcurrentRuns ?? 0,
    misfirePolicy: spec.misfire ? MISFIRE[spec.misfire] : MisfirePolicy.UNSPECIFIED,
    misfireWindow: optionalDuration(spec.misfireWindow),
    maxLag: optionalDuration(spec.maxLag),
    runRetention: optionalDuration(spec.runRetention),
    pauseAfterFailures: spec.pauseAfterFailures ?? 0,
    http: spec.http ? create(HttpRequestSchema, { ...spec.http, method: spec.http.method ?? "", headers: spec.http.headers ?? {}, body: spec.http.body ?? "", keepHeaders: spec.http.keepHeaders ?? [] }) : undefined,
  });
}
