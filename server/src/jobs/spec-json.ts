import type { JsonObject } from "@bufbuild/protobuf";
import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import { MisfirePolicySchema, OverlapPolicySchema, type HttpRequest, type Job, type RetryPolicy } from "@chime/sdk/gen/job_pb";
import { DstGapPolicySchema, DstRepeatPolicySchema, type Schedule } from "@chime/sdk/gen/schedule_pb";

/**
 * A validated job's definition in proto3 JSON (the `spec` column: everything but its
 * identity and state), written field by field: protobuf-es's reflective toJson was the
 * largest cost of planning a created job's row (about 10 µs a job). The result equals
 * toJson's with the column fields removed (spec-json.test.ts checks it on random jobs);
 * it assumes what validation guarantees: known enum values, times and durations within
 * range, finite numbers. The payload is the job's own JSON object, not a copy.
 */
export function specJson(job: Job): JsonObject {
  const spec: JsonObject = {};
  if (job.payload) spec.payload = job.payload;
  if (job.schedule) spec.schedule = scheduleJson(job.schedule);
  if (job.retryPolicy) spec.retryPolicy = retryJson(job.retryPolicy);
  if (job.attemptTimeout) spec.attemptTimeout = durationJson(job.attemptTimeout);
  if (job.overlapPolicy !== 0) spec.overlapPolicy = OverlapPolicySchema.value[job.overlapPolicy].name;
  if (job.maxConcurrentRuns !== 0) spec.maxConcurrentRuns = job.maxConcurrentRuns;
  if (job.misfirePolicy !== 0) spec.misfirePolicy = MisfirePolicySchema.value[job.misfirePolicy].name;
  if (job.misfireWindow) spec.misfireWindow = durationJson(job.misfireWindow);
  if (job.http) spec.http = httpJson(job.http);
  if (job.pauseAfterFailures !== 0) spec.pauseAfterFailures = job.pauseAfterFailures;
  if (job.maxLag) spec.maxLag = durationJson(job.maxLag);
  if (job.runRetention) spec.runRetention = durationJson(job.runRetention);
  return spec;
}

function scheduleJson(schedule: Schedule): JsonObject {
  const json: JsonObject = {};
  const kind = schedule.kind;
  switch (kind.case) {
    case "immediate":
      json.immediate = {};
      break;
    case "at":
      json.at = kind.value.time ? { time: timestampJson(kind.value.time) } : {};
      break;
    case "cron": {
      const cron: JsonObject = {};
      if (kind.value.expression) cron.expression = kind.value.expression;
      if (kind.value.timeZone) cron.timeZone = kind.value.timeZone;
      if (kind.value.dstGap !== 0) cron.dstGap = DstGapPolicySchema.value[kind.value.dstGap].name;
      if (kind.value.dstRepeat !== 0) cron.dstRepeat = DstRepeatPolicySchema.value[kind.value.dstRepeat].name;
      json.cron = cron;
      break;
    }
    case "interval": {
      const interval: JsonObject = {};
      if (kind.value.every) interval.every = durationJson(kind.value.every);
      if (kind.value.anchor) interval.anchor = timestampJson(kind.value.anchor);
      json.interval = interval;
      break;
    }
  }
  if (schedule.startTime) json.startTime = timestampJson(schedule.startTime);
  if (schedule.endTime) json.endTime = timestampJson(schedule.endTime);
  if (schedule.maxRuns !== 0n) json.maxRuns = schedule.maxRuns.toString();
  return json;
}

function retryJson(policy: RetryPolicy): JsonObject {
  const json: JsonObject = {};
  if (policy.maxAttempts !== 0) json.maxAttempts = policy.maxAttempts;
  if (policy.initialBackoff) json.initialBackoff = durationJson(policy.initialBackoff);
  if (policy.maxBackoff) json.maxBackoff = durationJson(policy.maxBackoff);
  if (!Object.is(policy.backoffMultiplier, 0)) json.backoffMultiplier = policy.backoffMultiplier;
  if (policy.jitter !== undefined) json.jitter = policy.jitter;
  return json;
}

function httpJson(http: HttpRequest): JsonObject {
  const json: JsonObject = {};
  if (http.method) json.method = http.method;
  if (http.url) json.url = http.url;
  if (Object.keys(http.headers).length > 0) json.headers = { ...http.headers };
  if (http.body) json.body = http.body;
  if (http.keepHeaders.length > 0) json.keepHeaders = [...http.keepHeaders];
  return json;
}

/** Nanoseconds as 3, 6 or 9 fraction digits, as proto3 JSON writes them. */
function fraction(nanos: number): string {
  const digits = String(nanos + 1_000_000_000).slice(1);
  if (digits.endsWith("000000")) return digits.slice(0, 3);
  if (digits.endsWith("000")) return digits.slice(0, 6);
  return digits;
}

/** "90s", "1.500s", "-0.250s". */
function durationJson(duration: Duration): string {
  const { seconds, nanos } = duration;
  if (nanos === 0) return `${seconds}s`;
  const sign = nanos < 0 && seconds === 0n ? "-" : "";
  return `${sign}${seconds}.${fraction(Math.abs(nanos))}s`;
}

/** RFC 3339 in UTC: "2026-12-01T20:00:00Z", "2026-12-01T20:00:00.250Z". */
function timestampJson(timestamp: Timestamp): string {
  const text = new Date(Number(timestamp.seconds) * 1000).toISOString();
  return timestamp.nanos > 0 ? `${text.slice(0, -5)}.${fraction(timestamp.nanos)}Z` : text.replace(".000Z", "Z");
}
