import type { JsonObject } from "@bufbuild/protobuf";
import { timestampDate, type Duration, type Timestamp } from "@bufbuild/protobuf/wkt";
import { JobState, MisfirePolicy, OverlapPolicy, type Job } from "./gen/chime/v1/job_pb.js";
import { RunState, RunTrigger, type Run } from "./gen/chime/v1/run_pb.js";
import { DstGapPolicy, DstRepeatPolicy, type Schedule } from "./gen/chime/v1/schedule_pb.js";
import { JobChangeKind, ScheduleEventReason, type RunEvent, type ScheduleEvent } from "./gen/chime/v1/watch_service_pb.js";
import type { JobSpec } from "./job-spec.js";
import type { ScheduleBounds, ScheduleSpec } from "./schedule-spec.js";
import type { WatchJobMessage } from "./watch.js";

// Plain values of what the server returns: Dates, numbers (ms for durations), enum names as
// lowercase string unions and specs in the same shapes the SDK takes as input (JobSpec).

/** The lowercase names of a generated enum's values, UNSPECIFIED left out (it reads as absent). */
export type EnumName<E extends Record<string, string | number>> = Lowercase<Exclude<Extract<keyof E, string>, "UNSPECIFIED">>;

export type JobStateName = EnumName<typeof JobState>;
export type RunStateName = EnumName<typeof RunState>;
export type RunTriggerName = EnumName<typeof RunTrigger>;
export type JobChangeKindName = EnumName<typeof JobChangeKind>;
export type ScheduleEventReasonName = EnumName<typeof ScheduleEventReason>;

/** The name of an enum value, or undefined for UNSPECIFIED and numbers this SDK does not know. */
export function enumName<E extends Record<string, string | number>>(enumObject: E, value: number): EnumName<E> | undefined {
  const name = (enumObject as Record<number, string | undefined>)[value];
  return name === undefined || name === "UNSPECIFIED" ? undefined : (name.toLowerCase() as EnumName<E>);
}

export function dateOf(timestamp: Timestamp | undefined): Date | undefined {
  return timestamp ? timestampDate(timestamp) : undefined;
}

export function msOf(duration: Duration | undefined): number | undefined {
  return duration ? Number(duration.seconds) * 1000 + duration.nanos / 1e6 : undefined;
}

/** A job as plain values: its spec plus what the server keeps. */
export interface PlainJob extends JobSpec {
  id: string;
  namespace: string;
  state: JobStateName | undefined;
  nextRunTime: Date | undefined;
  runCount: number;
  createTime: Date | undefined;
  updateTime: Date | undefined;
  /** Why the job paused itself (pauseAfterFailures), while it stays paused. */
  autoPause: { failureStreak: number; lastRunId: string; time: Date | undefined } | undefined;
}

export interface PlainRunAttempt {
  attempt: number;
  state: RunStateName | undefined;
  startTime: Date | undefined;
  endTime: Date | undefined;
  error: string;
  workerId: string;
}

export interface PlainRun {
  id: string;
  jobId: string;
  queue: string;
  state: RunStateName | undefined;
  trigger: RunTriggerName | undefined;
  attempt: number;
  scheduledTime: Date | undefined;
  dispatchTime: Date | undefined;
  /** ms */
  dispatchLagMs: number | undefined;
  startTime: Date | undefined;
  endTime: Date | undefined;
  output: JsonObject | undefined;
  error: string;
  attempts: PlainRunAttempt[];
  createTime: Date | undefined;
  updateTime: Date | undefined;
}

export interface PlainRunEvent {
  runId: string;
  jobId: string;
  queue: string;
  namespace: string;
  state: RunStateName | undefined;
  attempt: number;
  time: Date | undefined;
  error: string;
  outputExcerpt: string;
  resumeToken: string;
}

/** A fire time (or several, coalesced) that gave no on-time run, and why. */
export interface PlainScheduleEvent {
  jobId: string;
  reason: ScheduleEventReasonName | undefined;
  count: number;
  firstScheduledTime: Date | undefined;
  lastScheduledTime: Date | undefined;
  time: Date | undefined;
  resumeToken: string;
}

export type PlainWatchJobMessage =
  | { kind: "snapshot"; job: PlainJob | undefined; activeRuns: PlainRun[] }
  | { kind: "jobChange"; change: JobChangeKindName | undefined; job: PlainJob | undefined; time: Date | undefined; resumeToken: string }
  | { kind: "runEvent"; event: PlainRunEvent }
  | { kind: "scheduleEvent"; event: PlainScheduleEvent };

/** The ScheduleSpec of a schedule message; undefined when it has no kind. */
export function scheduleSpecOf(schedule: Schedule | undefined): ScheduleSpec | undefined {
  if (!schedule) return undefined;
  const bounds: ScheduleBounds = {};
  if (schedule.startTime) bounds.startTime = timestampDate(schedule.startTime);
  if (schedule.endTime) bounds.endTime = timestampDate(schedule.endTime);
  if (schedule.maxRuns) bounds.maxRuns = Number(schedule.maxRuns);
  const { kind } = schedule;
  switch (kind.case) {
    case "immediate":
      return Object.keys(bounds).length ? { immediate: true, ...bounds } : "immediate";
    case "at":
      return kind.value.time ? { at: timestampDate(kind.value.time), ...bounds } : undefined;
    case "cron":
      return {
        cron: kind.value.expression,
        ...(kind.value.timeZone ? { timeZone: kind.value.timeZone } : {}),
        ...(kind.value.dstGap ? { dstGap: enumName(DstGapPolicy, kind.value.dstGap) } : {}),
        ...(kind.value.dstRepeat ? { dstRepeat: enumName(DstRepeatPolicy, kind.value.dstRepeat) } : {}),
        ...bounds,
      };
    case "interval": {
      const anchor = dateOf(kind.value.anchor);
      return { every: msOf(kind.value.every) ?? 0, ...(anchor ? { anchor } : {}), ...bounds };
    }
    default:
      return undefined;
  }
}

/** Sets key on target only when value is defined (exactOptionalPropertyTypes-friendly). */
function put<T, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

export function plainJob(job: Job): PlainJob {
  const plain: PlainJob = {
    id: job.id,
    namespace: job.namespace,
    name: job.name,
    queue: job.queue,
    schedule: scheduleSpecOf(job.schedule) ?? "immediate",
    labels: { ...job.labels },
    state: enumName(JobState, job.state),
    nextRunTime: dateOf(job.nextRunTime),
    runCount: Number(job.runCount),
    createTime: dateOf(job.createTime),
    updateTime: dateOf(job.updateTime),
    autoPause: job.autoPause
      ? { failureStreak: job.autoPause.failureStreak, lastRunId: job.autoPause.lastRunId, time: dateOf(job.autoPause.time) }
      : undefined,
  };
  if (job.pauseAfterFailures) plain.pauseAfterFailures = job.pauseAfterFailures;
  put(plain, "payload", job.payload);
  if (job.retryPolicy) {
    const retry: NonNullable<JobSpec["retry"]> = {};
    const r = job.retryPolicy;
    if (r.maxAttempts) retry.maxAttempts = r.maxAttempts;
    put(retry, "initialBackoff", msOf(r.initialBackoff));
    put(retry, "maxBackoff", msOf(r.maxBackoff));
    if (r.backoffMultiplier) retry.multiplier = r.backoffMultiplier;
    put(retry, "jitter", r.jitter);
    plain.retry = retry;
  }
  put(plain, "attemptTimeout", msOf(job.attemptTimeout));
  put(plain, "overlap", enumName(OverlapPolicy, job.overlapPolicy));
  if (job.maxConcurrentRuns) plain.maxConcurrentRuns = job.maxConcurrentRuns;
  put(plain, "misfire", enumName(MisfirePolicy, job.misfirePolicy));
  put(plain, "misfireWindow", msOf(job.misfireWindow));
  put(plain, "maxLag", msOf(job.maxLag));
  put(plain, "runRetention", msOf(job.runRetention));
  if (job.http) {
    const { method, url, headers, body, keepHeaders } = job.http;
    plain.http = {
      url,
      ...(method ? { method } : {}),
      ...(Object.keys(headers).length ? { headers: { ...headers } } : {}),
      ...(body ? { body } : {}),
      ...(keepHeaders.length ? { keepHeaders: [...keepHeaders] } : {}),
    };
  }
  return plain;
}

export function plainRun(run: Run): PlainRun {
  return {
    id: run.id,
    jobId: run.jobId,
    queue: run.queue,
    state: enumName(RunState, run.state),
    trigger: enumName(RunTrigger, run.trigger),
    attempt: run.attempt,
    scheduledTime: dateOf(run.scheduledTime),
    dispatchTime: dateOf(run.dispatchTime),
    dispatchLagMs: msOf(run.dispatchLag),
    startTime: dateOf(run.startTime),
    endTime: dateOf(run.endTime),
    output: run.output,
    error: run.error,
    attempts: run.attempts.map((a) => ({
      attempt: a.attempt,
      state: enumName(RunState, a.state),
      startTime: dateOf(a.startTime),
      endTime: dateOf(a.endTime),
      error: a.error,
      workerId: a.workerId,
    })),
    createTime: dateOf(run.createTime),
    updateTime: dateOf(run.updateTime),
  };
}

export function plainRunEvent(event: RunEvent): PlainRunEvent {
  return {
    runId: event.runId,
    jobId: event.jobId,
    queue: event.queue,
    namespace: event.namespace,
    state: enumName(RunState, event.state),
    attempt: event.attempt,
    time: dateOf(event.time),
    error: event.error,
    outputExcerpt: event.outputExcerpt,
    resumeToken: event.resumeToken,
  };
}

export function plainWatchJobMessage(message: WatchJobMessage): PlainWatchJobMessage {
  switch (message.kind) {
    case "snapshot": {
      const { job, activeRuns } = message.snapshot;
      return { kind: "snapshot", job: job ? plainJob(job) : undefined, activeRuns: activeRuns.map(plainRun) };
    }
    case "jobChange": {
      const { kind, job, time, resumeToken } = message.change;
      return { kind: "jobChange", change: enumName(JobChangeKind, kind), job: job ? plainJob(job) : undefined, time: dateOf(time), resumeToken };
    }
    case "runEvent":
      return { kind: "runEvent", event: plainRunEvent(message.event) };
    case "scheduleEvent":
      return { kind: "scheduleEvent", event: plainScheduleEvent(message.event) };
  }
}

export function plainScheduleEvent(event: ScheduleEvent): PlainScheduleEvent {
  return {
    jobId: event.jobId,
    reason: enumName(ScheduleEventReason, event.reason),
    count: event.count,
    firstScheduledTime: dateOf(event.firstScheduledTime),
    lastScheduledTime: dateOf(event.lastScheduledTime),
    time: dateOf(event.time),
    resumeToken: event.resumeToken,
  };
}
