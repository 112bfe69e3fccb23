import { create, type JsonValue } from "@bufbuild/protobuf";
import type { Duration } from "@bufbuild/protobuf/wkt";
import {
  HttpRequestSchema,
  JobSchema,
  MisfirePolicy,
  OverlapPolicy,
  RetryPolicySchema,
  type Job,
} from "@chime/sdk/gen/job_pb";
import { DstGapPolicy, DstRepeatPolicy, type Schedule } from "@chime/sdk/gen/schedule_pb";
import { FieldViolations, invalidArgument } from "../api/errors.js";
import { durationToMs, msToDuration, toDate } from "../util/time.js";
import { isKnownTimeZone, parseCron } from "./schedule.js";

export const HTTP_QUEUE = "http";
/** Response headers an http job may keep in its run's log, at most. */
const MAX_KEPT_HEADERS = 20;
export const DEFAULT_NAMESPACE = "default";

export const JOB_DEFAULTS = {
  maxAttempts: 3,
  initialBackoffMs: 1_000,
  maxBackoffMs: 300_000,
  backoffMultiplier: 2,
  jitter: 0.2,
  attemptTimeoutMs: 600_000,
  misfireWindowMs: 3_600_000,
} as const;

const LIMITS = {
  nameLength: 200,
  labels: 64,
  labelValueLength: 255,
  maxAttempts: 100,
  backoffMs: 86_400_000,
  attemptTimeoutMs: 86_400_000,
  misfireWindowMs: 7 * 86_400_000,
  maxLagMs: 86_400_000,
  intervalMinMs: 1_000,
  intervalMaxMs: 366 * 86_400_000,
  maxConcurrentRuns: 10_000,
  pauseAfterFailures: 1000,
  /** An `at` time this far in the past is still accepted (clock skew between caller and server). */
  atPastGraceMs: 1_000,
} as const;

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]*$/;
/** Queues and namespaces: each is one NATS subject token of the run subjects (no `.`, `*`, `>` or whitespace). */
export const QUEUE_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Whether a header value holds a control character other than horizontal tab, which RFC 9110 forbids. */
function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if ((code < 0x20 && code !== 0x09) || code === 0x7f) return true;
  }
  return false;
}

/** A namespace filter (ListJobs, WatchRuns): empty for any, else a name a job could have. */
export function checkNamespaceFilter(namespace: string, field = "namespace"): void {
  if (namespace && !QUEUE_PATTERN.test(namespace)) {
    throw invalidArgument(`${field}: ${JSON.stringify(namespace.slice(0, 80))} is not a namespace (1-64 letters, digits, _ or -)`);
  }
}
const LABEL_KEY_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$/;
const HEADER_NAME_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const HTTP_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"];

export interface ValidationOptions {
  now: Date;
  maxPayloadBytes: number;
  /** Reject an `at` time or end_time in the past (on create, and on update of the schedule). */
  rejectPastTimes: boolean;
  /** CHIME_EVENT_RETENTION_MS: the least run_retention a job may set (checkRunRetention). */
  eventRetentionMs: number;
}

/**
 * Validates a job definition as a client sent it and returns it normalised: defaults
 * filled in, output-only fields cleared. Throws INVALID_ARGUMENT naming every bad field.
 *
 * It normalises `input` itself and returns it: every caller owns the message (decoded for
 * its call, or a merged copy), and cloning it was most of the cost of validating.
 */
export function validateJob(input: Job | undefined, options: ValidationOptions, field = "job"): Job {
  const violations = new FieldViolations();
  if (!input) {
    violations.add(field, "is required");
    violations.throwIfAny();
  }
  const job = input!;
  job.id = "";
  job.state = 0;
  job.nextRunTime = undefined;
  job.runCount = 0n;
  job.createTime = undefined;
  job.updateTime = undefined;

  job.namespace ||= DEFAULT_NAMESPACE;
  if (!QUEUE_PATTERN.test(job.namespace)) {
    violations.add(`${field}.namespace`, "expected 1-64 letters, digits, _ or -");
  }
  if (!job.name) violations.add(`${field}.name`, "is required");
  else if (job.name.length > LIMITS.nameLength) violations.add(`${field}.name`, `longer than ${LIMITS.nameLength} characters`);
  else if (!NAME_PATTERN.test(job.name)) {
    violations.add(`${field}.name`, "expected letters, digits and . _ - : /, starting with a letter or digit");
  }
  if (!job.queue) violations.add(`${field}.queue`, "is required");
  else if (!QUEUE_PATTERN.test(job.queue)) violations.add(`${field}.queue`, "expected 1-64 letters, digits, _ or -");

  if (job.payload) {
    payloadValues(job.payload, `${field}.payload`, 0, violations);
    const bytes = Buffer.byteLength(JSON.stringify(job.payload));
    if (bytes > options.maxPayloadBytes) {
      violations.add(`${field}.payload`, `${bytes} bytes exceeds the limit of ${options.maxPayloadBytes} bytes`);
    }
  } else {
    job.payload = {};
  }
  validateLabels(job.labels, `${field}.labels`, violations);
  validateSchedule(job, options, `${field}.schedule`, violations);
  validateRetryPolicy(job, `${field}.retry_policy`, violations);

  job.attemptTimeout = durationOrDefault(job.attemptTimeout, JOB_DEFAULTS.attemptTimeoutMs, LIMITS.attemptTimeoutMs, `${field}.attempt_timeout`, violations);
  job.misfireWindow = durationOrDefault(job.misfireWindow, JOB_DEFAULTS.misfireWindowMs, LIMITS.misfireWindowMs, `${field}.misfire_window`, violations);
  // Off unless set: a zero max_lag is no bound (lateness is not recorded), not "always late".
  if (job.maxLag) {
    job.maxLag = durationOrDefault(job.maxLag, 0, LIMITS.maxLagMs, `${field}.max_lag`, violations);
    if (durationToMs(job.maxLag) === 0) job.maxLag = undefined;
  }
  job.runRetention = checkRunRetention(job.runRetention, options.eventRetentionMs, `${field}.run_retention`, violations);

  if (!(job.overlapPolicy in OverlapPolicy)) violations.add(`${field}.overlap_policy`, `unknown value ${job.overlapPolicy}`);
  else if (job.overlapPolicy === OverlapPolicy.UNSPECIFIED) job.overlapPolicy = OverlapPolicy.ALLOW;
  if (!(job.misfirePolicy in MisfirePolicy)) violations.add(`${field}.misfire_policy`, `unknown value ${job.misfirePolicy}`);
  else if (job.misfirePolicy === MisfirePolicy.UNSPECIFIED) job.misfirePolicy = MisfirePolicy.RUN_ONCE;
  if (job.maxConcurrentRuns < 0 || job.maxConcurrentRuns > LIMITS.maxConcurrentRuns) {
    violations.add(`${field}.max_concurrent_runs`, `expected 0 to ${LIMITS.maxConcurrentRuns}`);
  }
  validateHttp(job, options, `${field}.http`, violations);
  if (!Number.isInteger(job.pauseAfterFailures) || job.pauseAfterFailures < 0 || job.pauseAfterFailures > LIMITS.pauseAfterFailures) {
    violations.add(`${field}.pause_after_failures`, `expected 0 (never) to ${LIMITS.pauseAfterFailures}`);
  }

  violations.throwIfAny();
  return job;
}

/** Validates a schedule on its own (PreviewSchedule); returns it normalised. */
export function validateScheduleInput(schedule: Schedule | undefined, options: ValidationOptions, field = "schedule"): Schedule {
  const job = create(JobSchema, { schedule });
  const violations = new FieldViolations();
  validateSchedule(job, options, field, violations);
  violations.throwIfAny();
  return job.schedule!;
}

/** JSON nesting a payload may have: each level costs protobuf decoders two messages, and many stop at 100. */
export const MAX_PAYLOAD_DEPTH = 32;

/**
 * A payload arrives as a Struct, whose binary doubles may be NaN or infinite; its JSON form
 * (stored, and sent to workers) has no such numbers and would silently turn them into null.
 * Deeper than MAX_PAYLOAD_DEPTH, clients such as grpc-js's could not read the job back.
 */
function payloadValues(value: JsonValue, field: string, depth: number, violations: FieldViolations): void {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) violations.add(field, `${value} is not a JSON number`);
    return;
  }
  if (value === null || typeof value !== "object") return;
  if (depth >= MAX_PAYLOAD_DEPTH) {
    violations.add(field, `nested more than ${MAX_PAYLOAD_DEPTH} levels deep`);
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => payloadValues(item, `${field}[${i}]`, depth + 1, violations));
  } else {
    for (const key of Object.keys(value)) payloadValues(value[key], `${field}.${key.slice(0, 80)}`, depth + 1, violations);
  }
}

function validateLabels(labels: Record<string, string>, field: string, violations: FieldViolations): void {
  const keys = Object.keys(labels);
  if (keys.length > LIMITS.labels) violations.add(field, `more than ${LIMITS.labels} labels`);
  for (const key of keys) {
    if (!LABEL_KEY_PATTERN.test(key)) {
      violations.add(`${field}[${JSON.stringify(key.slice(0, 80))}]`, "key: expected 1-63 letters, digits and . _ / -, starting and ending with a letter or digit");
    } else if (labels[key].length > LIMITS.labelValueLength) {
      violations.add(`${field}[${JSON.stringify(key)}]`, `value longer than ${LIMITS.labelValueLength} characters`);
    }
  }
}

function validateSchedule(job: Job, options: ValidationOptions, field: string, violations: FieldViolations): void {
  const schedule = job.schedule;
  if (!schedule || schedule.kind.case === undefined) {
    violations.add(field, "one of immediate, at, cron or interval is required");
    return;
  }
  const kind = schedule.kind;
  switch (kind.case) {
    case "immediate":
      break;
    case "at":
      if (!kind.value.time) violations.add(`${field}.at.time`, "is required");
      else if (!validTimestamp(kind.value.time)) violations.add(`${field}.at.time`, "is not a valid time");
      else if (options.rejectPastTimes && toDate(kind.value.time).getTime() < options.now.getTime() - LIMITS.atPastGraceMs) {
        violations.add(`${field}.at.time`, `${toDate(kind.value.time).toISOString()} is in the past`);
      }
      break;
    case "cron": {
      kind.value.timeZone ||= "UTC";
      const timeZoneKnown = isKnownTimeZone(kind.value.timeZone);
      if (!timeZoneKnown) violations.add(`${field}.cron.time_zone`, `unknown time zone ${JSON.stringify(kind.value.timeZone.slice(0, 64))}`);
      if (!(kind.value.dstGap in DstGapPolicy)) violations.add(`${field}.cron.dst_gap`, `unknown value ${kind.value.dstGap}`);
      else if (kind.value.dstGap === DstGapPolicy.UNSPECIFIED) kind.value.dstGap = DstGapPolicy.SHIFT;
      if (!(kind.value.dstRepeat in DstRepeatPolicy)) violations.add(`${field}.cron.dst_repeat`, `unknown value ${kind.value.dstRepeat}`);
      else if (kind.value.dstRepeat === DstRepeatPolicy.UNSPECIFIED) kind.value.dstRepeat = DstRepeatPolicy.FIRST;
      if (!kind.value.expression.trim()) violations.add(`${field}.cron.expression`, "is required");
      else {
        try {
          parseCron(kind.value.expression, timeZoneKnown ? kind.value.timeZone : "UTC", options.now).next();
        } catch (error) {
          violations.add(`${field}.cron.expression`, `invalid cron ${JSON.stringify(kind.value.expression.slice(0, 100))}: ${(error as Error).message}`);
        }
      }
      break;
    }
    case "interval": {
      const every = kind.value.every;
      if (!every) violations.add(`${field}.interval.every`, "is required");
      else if (!validDuration(every)) violations.add(`${field}.interval.every`, "is not a valid duration");
      else {
        const ms = durationToMs(every);
        if (ms < LIMITS.intervalMinMs) violations.add(`${field}.interval.every`, "must be at least 1s");
        else if (ms > LIMITS.intervalMaxMs) violations.add(`${field}.interval.every`, "must be at most 366 days");
      }
      if (kind.value.anchor && !validTimestamp(kind.value.anchor)) violations.add(`${field}.interval.anchor`, "is not a valid time");
      break;
    }
  }
  if (schedule.maxRuns < 0n) violations.add(`${field}.max_runs`, "must not be negative");
  if (schedule.startTime && !validTimestamp(schedule.startTime)) violations.add(`${field}.start_time`, "is not a valid time");
  if (schedule.endTime && !validTimestamp(schedule.endTime)) violations.add(`${field}.end_time`, "is not a valid time");
  else if (schedule.endTime) {
    const end = toDate(schedule.endTime).getTime();
    if (schedule.startTime && validTimestamp(schedule.startTime) && end <= toDate(schedule.startTime).getTime()) {
      violations.add(`${field}.end_time`, "must be after start_time");
    } else if (options.rejectPastTimes && end < options.now.getTime()) {
      violations.add(`${field}.end_time`, `${toDate(schedule.endTime).toISOString()} is in the past`);
    }
  }
}

function validateRetryPolicy(job: Job, field: string, violations: FieldViolations): void {
  const policy = job.retryPolicy ?? create(RetryPolicySchema);
  job.retryPolicy = policy;
  if (policy.maxAttempts < 0 || policy.maxAttempts > LIMITS.maxAttempts) {
    violations.add(`${field}.max_attempts`, `expected 0 (default ${JOB_DEFAULTS.maxAttempts}) to ${LIMITS.maxAttempts}`);
  } else if (policy.maxAttempts === 0) policy.maxAttempts = JOB_DEFAULTS.maxAttempts;
  policy.initialBackoff = durationOrDefault(policy.initialBackoff, JOB_DEFAULTS.initialBackoffMs, LIMITS.backoffMs, `${field}.initial_backoff`, violations);
  policy.maxBackoff = durationOrDefault(policy.maxBackoff, JOB_DEFAULTS.maxBackoffMs, LIMITS.backoffMs, `${field}.max_backoff`, violations);
  if (policy.initialBackoff && policy.maxBackoff && durationToMs(policy.maxBackoff) < durationToMs(policy.initialBackoff)) {
    violations.add(`${field}.max_backoff`, "must not be less than initial_backoff");
  }
  if (!Number.isFinite(policy.backoffMultiplier) || (policy.backoffMultiplier !== 0 && (policy.backoffMultiplier < 1 || policy.backoffMultiplier > 100))) {
    violations.add(`${field}.backoff_multiplier`, `expected 0 (default ${JOB_DEFAULTS.backoffMultiplier}) or 1 to 100`);
  } else if (policy.backoffMultiplier === 0) policy.backoffMultiplier = JOB_DEFAULTS.backoffMultiplier;
  if (policy.jitter === undefined) policy.jitter = JOB_DEFAULTS.jitter;
  else if (!Number.isFinite(policy.jitter) || policy.jitter < 0 || policy.jitter > 1) {
    violations.add(`${field}.jitter`, "expected 0 to 1");
  }
}

function validateHttp(job: Job, options: ValidationOptions, field: string, violations: FieldViolations): void {
  if (job.queue !== HTTP_QUEUE) {
    if (job.http) violations.add(field, `only allowed on the ${JSON.stringify(HTTP_QUEUE)} queue`);
    return;
  }
  const http = job.http ?? create(HttpRequestSchema);
  job.http = http;
  http.method = (http.method || "POST").toUpperCase();
  if (!HTTP_METHODS.includes(http.method)) violations.add(`${field}.method`, `expected one of ${HTTP_METHODS.join(", ")}`);
  if (!http.url) violations.add(`${field}.url`, "is required for a job on the \"http\" queue");
  else {
    let url: URL | undefined;
    try {
      url = new URL(http.url);
    } catch {
      violations.add(`${field}.url`, "is not a valid URL");
    }
    if (url && url.protocol !== "http:" && url.protocol !== "https:") violations.add(`${field}.url`, "expected an http or https URL");
  }
  for (const [name, value] of Object.entries(http.headers)) {
    const header = `${field}.headers[${JSON.stringify(name.slice(0, 80))}]`;
    if (!HEADER_NAME_PATTERN.test(name)) violations.add(header, "is not a valid header name");
    // CR or LF would end the header line (request splitting); fetch refuses them too, but at run time.
    else if (hasControlCharacter(value)) violations.add(header, "the value contains CR, LF, NUL or another control character");
  }
  if (http.keepHeaders.length > MAX_KEPT_HEADERS) violations.add(`${field}.keep_headers`, `at most ${MAX_KEPT_HEADERS} names`);
  http.keepHeaders.forEach((name, i) => {
    if (!HEADER_NAME_PATTERN.test(name)) violations.add(`${field}.keep_headers[${i}]`, "is not a valid header name");
  });
  if (Buffer.byteLength(http.body) > options.maxPayloadBytes) {
    violations.add(`${field}.body`, `exceeds the limit of ${options.maxPayloadBytes} bytes`);
  }
}

/** The longest run retention (as CHIME_RUN_RETENTION_MS's): ten years. */
export const MAX_RUN_RETENTION_MS = 3650 * 86_400_000;

/**
 * Checks a run retention override (Job.run_retention, NamespaceLimits.run_retention) and
 * returns it, or undefined for unset or zero: inherit. It may not be shorter than the event
 * retention, for the reason CHIME_RUN_RETENTION_MS may not (config.ts): a run's events must
 * be pruned before the run, so that `event_retention.pruned_through` is past every event a
 * deleted run had (its QUEUED, RUNNING and end events live in its row) and a resume token
 * from before still gets OUT_OF_RANGE rather than a silent gap.
 */
export function checkRunRetention(value: Duration | undefined, eventRetentionMs: number, field: string, violations: FieldViolations): Duration | undefined {
  if (!value || (value.seconds === 0n && value.nanos === 0)) return undefined;
  if (!validDuration(value)) {
    violations.add(field, "is not a valid duration");
    return value;
  }
  const ms = durationToMs(value);
  if (ms < 0) violations.add(field, "must not be negative");
  else if (ms < eventRetentionMs) {
    violations.add(field, `must be at least the event retention, ${eventRetentionMs / 1000}s (CHIME_EVENT_RETENTION_MS): a run outlives its events`);
  } else if (ms > MAX_RUN_RETENTION_MS) violations.add(field, `must be at most ${MAX_RUN_RETENTION_MS / 1000}s`);
  return value;
}

/** Validates an optional duration within (0, max]; an unset or zero one becomes the default. */
function durationOrDefault(value: Duration | undefined, defaultMs: number, maxMs: number, field: string, violations: FieldViolations): Duration {
  if (!value || (value.seconds === 0n && value.nanos === 0)) return msToDuration(defaultMs);
  if (!validDuration(value)) {
    violations.add(field, "is not a valid duration");
    return value;
  }
  const ms = durationToMs(value);
  if (ms < 0) violations.add(field, "must not be negative");
  else if (ms > maxMs) violations.add(field, `must be at most ${maxMs / 1000}s`);
  return value;
}

function validDuration(duration: Duration): boolean {
  const { seconds, nanos } = duration;
  if (nanos <= -1_000_000_000 || nanos >= 1_000_000_000) return false;
  if ((seconds > 0n && nanos < 0) || (seconds < 0n && nanos > 0)) return false;
  return seconds >= -315_576_000_000n && seconds <= 315_576_000_000n;
}

function validTimestamp(timestamp: { seconds: bigint; nanos: number }): boolean {
  // RFC 3339 range: 0001-01-01 to 9999-12-31.
  return timestamp.seconds >= -62_135_596_800n && timestamp.seconds <= 253_402_300_799n && timestamp.nanos >= 0 && timestamp.nanos < 1_000_000_000;
}

