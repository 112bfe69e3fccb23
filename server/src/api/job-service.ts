import { clone } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { JobService } from "@chime/sdk/gen/job_service_pb";
import { JobSchema, JobState, OverlapPolicy, type Job } from "@chime/sdk/gen/job_pb";
import { RunState, type Run } from "@chime/sdk/gen/run_pb";
import { ScheduleEventReason } from "@chime/sdk/gen/watch_service_pb";
import { DstAdjustment } from "@chime/sdk/gen/schedule_pb";
import type pg from "pg";
import { inTransaction } from "../db/pool.js";
import { createJobStore, dstSkippedEvents, planNext, requireState } from "../jobs/job-store.js";
import { checkNamespaceFilter, validateJob, validateScheduleInput } from "../jobs/job-validation.js";
import { previewSchedule } from "../jobs/schedule.js";
import { activeRunCounts, cancelActiveRunsOfJob, cancelWrittenAheadRunsOfJob, createRunStore, type RunPageKey } from "../runs/run-store.js";
import { readRunLogs, runLogKeyOf, runLogToken } from "../runs/run-log-store.js";
import { msToDuration, toDate, toTimestamp } from "../util/time.js";
import { failedPrecondition, invalidArgument, notFound, requireId } from "./errors.js";
import { admitFires, missedWhilePaused, resumeNext } from "../scheduler/fire-plan.js";
import { insertScheduleEvents, readScheduleEvents, type ScheduleEventRecord } from "../scheduler/schedule-events.js";
import type { PendingRun } from "../scheduler/run-publisher.js";
import { batchCreateJobs } from "./batch-create-jobs.js";
import { validateRequestId } from "./request-id.js";
import { parseLabelSelector } from "./label-selector.js";
import { decodePageToken, encodePageToken, pageSize } from "./page-token.js";

/** Fields UpdateJob may replace, by their proto name. */
const UPDATABLE_FIELDS = {
  name: "name",
  queue: "queue",
  payload: "payload",
  labels: "labels",
  schedule: "schedule",
  retry_policy: "retryPolicy",
  attempt_timeout: "attemptTimeout",
  overlap_policy: "overlapPolicy",
  max_concurrent_runs: "maxConcurrentRuns",
  misfire_policy: "misfirePolicy",
  misfire_window: "misfireWindow",
  http: "http",
  pause_after_failures: "pauseAfterFailures",
  max_lag: "maxLag",
  run_retention: "runRetention",
} as const satisfies Record<string, keyof Job>;

const MAX_PREVIEW = 100;

export interface JobServiceDeps {
  pool: pg.Pool;
  maxPayloadBytes: number;
  /** CHIME_EVENT_RETENTION_MS: a job's run_retention may not be shorter. */
  eventRetentionMs: number;
  /** The time source; tests substitute a controllable clock. */
  now?: () => Date;
  /** Called after a change that may make a job fire at `nextRunTime`, earlier than before (wakes the scheduler). */
  onJobsChanged?: (nextRunTime: Date) => void;
  /** Publishes runs created outside the scheduler (TriggerJob). */
  dispatch?: (runs: PendingRun[]) => Promise<unknown>;
  /** Tells workers, after commit, that runs were cancelled (the cancel KV bucket). */
  signalCancel?: (runIds: string[]) => Promise<void>;
  /** Called after commit with the schedule events a call recorded (ResumeJob: times not fired while paused). */
  onScheduleEvents?: (events: ScheduleEventRecord[]) => void;
}

export function createJobService(deps: JobServiceDeps): ServiceImpl<typeof JobService> {
  const { pool } = deps;
  const now = deps.now ?? (() => new Date());
  /** Wakes the scheduler for a job that may fire sooner than it knew (pausing or deleting one cannot). */
  const mayFire = (job: Job) => {
    if (job.state === JobState.ACTIVE && job.nextRunTime) deps.onJobsChanged?.(toDate(job.nextRunTime));
  };
  const jobs = createJobStore(pool, deps.onScheduleEvents);
  const runs = createRunStore(pool);
  const validation = (rejectPastTimes: boolean) => ({ now: now(), maxPayloadBytes: deps.maxPayloadBytes, rejectPastTimes, eventRetentionMs: deps.eventRetentionMs });

  return {
    async createJob(request) {
      validateRequestId(request.requestId, "request_id");
      const job = validateJob(request.job, validation(true));
      const created = await jobs.create(job, request.requestId, now());
      mayFire(created);
      return { job: created };
    },

    async batchCreateJobs(request) {
      return batchCreateJobs(request, { jobs, now, validation: () => validation(true), onJobsChanged: deps.onJobsChanged });
    },

    async getJob(request) {
      return { job: await jobs.get(requireId("id", request.id)) };
    },

    async listJobs(request) {
      const limit = pageSize(request.pageSize);
      checkNamespaceFilter(request.namespace);
      if (request.state && !(request.state in JobState)) throw invalidArgument(`state: unknown value ${request.state}`);
      const filter = {
        namespace: request.namespace,
        state: request.state,
        queue: request.queue,
        namePrefix: request.namePrefix,
        labelSelector: request.labelSelector,
      };
      const after = decodePageToken(request.pageToken, filter)?.[0];
      if (after !== undefined && typeof after !== "string") throw invalidArgument("page_token: not a token this server issued");
      const page = await jobs.list({ ...filter, labels: parseLabelSelector(request.labelSelector) }, after, limit + 1);
      const more = page.length > limit;
      const result = page.slice(0, limit);
      return { jobs: result, nextPageToken: more ? encodePageToken([result[result.length - 1].id], filter) : "" };
    },

    async updateJob(request) {
      const id = requireId("job.id", request.job?.id ?? "");
      const paths = request.updateMask?.paths ?? [];
      if (paths.length === 0) throw invalidArgument("update_mask: at least one field path is required");
      const fields = paths.map((path) => {
        // Own keys only: "toString" or "__proto__" must not pass as updatable fields.
        const field = Object.hasOwn(UPDATABLE_FIELDS, path) ? UPDATABLE_FIELDS[path as keyof typeof UPDATABLE_FIELDS] : undefined;
        if (!field) {
          throw invalidArgument(`update_mask: unknown or read-only field ${JSON.stringify(path.slice(0, 80))}; updatable: ${Object.keys(UPDATABLE_FIELDS).join(", ")}`);
        }
        return field;
      });
      let events: ScheduleEventRecord[] = [];
      const updated = await inTransaction(pool, async (client) => {
        const modified = await jobs.modify(client, id, (current) => {
          const merged = clone(JobSchema, current);
          for (const field of fields) (merged as Record<string, unknown>)[field] = request.job![field];
          const job = validateJob(merged, validation(fields.includes("schedule")));
          if (!fields.includes("schedule")) {
            return { job, state: current.state, next: current.nextRunTime ? toDate(current.nextRunTime) : null };
          }
          const createTime = toDate(current.createTime!);
          if (job.schedule?.kind.case === "interval" && !job.schedule.kind.value.anchor) {
            job.schedule.kind.value.anchor = toTimestamp(now());
          }
          // A new schedule starts counting its runs (one-shots, max_runs) from zero.
          const plan = planNext(job, now(), createTime, 0);
          events = dstSkippedEvents(id, plan);
          // A paused job stays paused; a completed job whose new schedule fires again is active again.
          return { job, state: current.state === JobState.PAUSED ? JobState.PAUSED : plan.state, next: plan.next, runCount: 0 };
        });
        // The times its new schedule's first fire stepped over, recorded with the change.
        await insertScheduleEvents(client, events, now());
        return modified;
      });
      deps.onScheduleEvents?.(events);
      mayFire(updated);
      return { job: updated };
    },

    async deleteJob(request) {
      const id = requireId("id", request.id);
      const cancelled = await inTransaction(pool, async (client) => {
        if (!(await jobs.markDeleted(client, id))) throw notFound("job", id);
        return cancelActiveRunsOfJob(client, id);
      });
      await deps.signalCancel?.(cancelled);
      return {};
    },

    async pauseJob(request) {
      const id = requireId("id", request.id);
      const { job, cancelled } = await inTransaction(pool, async (client) => {
        const paused = await jobs.modify(client, id, (current) => {
          requireState(current, JobState.ACTIVE, "paused");
          // The next fire time is kept: resuming decides what happens to the times missed meanwhile.
          return { job: current, state: JobState.PAUSED, next: current.nextRunTime ? toDate(current.nextRunTime) : null };
        });
        // Runs the leader wrote ahead (CHIME_DISPATCH_LOOKAHEAD_MS) would otherwise still fire.
        return { job: paused, cancelled: await cancelWrittenAheadRunsOfJob(client, id) };
      });
      await deps.signalCancel?.(cancelled);
      return { job };
    },

    async resumeJob(request) {
      const id = requireId("id", request.id);
      let events: ScheduleEventRecord[] = [];
      const job = await inTransaction(pool, async (client) => {
        const at = now();
        // A new failure streak starts here (jobs/auto-pause.ts), and an auto-pause's reason goes.
        await client.query("UPDATE jobs SET auto_pause = NULL, streak_since = now() WHERE id = $1 AND state = $2", [id, JobState.PAUSED]);
        const resumed = await jobs.modify(client, id, (current) => {
          requireState(current, JobState.PAUSED, "resumed");
          const context = { createTime: toDate(current.createTime!), runCount: Number(current.runCount) };
          const kept = current.nextRunTime ? toDate(current.nextRunTime) : null;
          // The times missed while paused, by the misfire policy (fire-plan.ts); the scheduler fires what is kept.
          const next = resumeNext(current, kept, at, context);
          // Those it drops are recorded as not fired because paused, in this transaction.
          const paused = missedWhilePaused(current, kept, next, at, context);
          events = paused
            ? [{ jobId: id, reason: ScheduleEventReason.PAUSED, count: paused.count, firstScheduledTime: paused.first, lastScheduledTime: paused.last }]
            : [];
          if (next) return { job: current, state: JobState.ACTIVE, next };
          const plan = planNext(current, at, context.createTime, context.runCount);
          events.push(...dstSkippedEvents(id, plan));
          return { job: current, state: plan.state, next: plan.next };
        });
        await insertScheduleEvents(client, events, at);
        return resumed;
      });
      deps.onScheduleEvents?.(events);
      mayFire(job);
      return { job };
    },

    async triggerJob(request) {
      const id = requireId("id", request.id);
      let cancelled: string[] = [];
      const { job, run, held } = await inTransaction(pool, async (client) => {
        // The job row lock orders this trigger with the scheduler and other triggers of the job.
        const job = await jobs.lock(client, id);
        const at = now();
        let held = false;
        if (!request.ignoreOverlapPolicy) {
          const active = (await activeRunCounts(client, [id])).get(id) ?? { active: 0, held: 0 };
          const admitted = admitFires(job, active, [at]);
          if (admitted.fires.length === 0) {
            throw failedPrecondition(
              `job ${id} has ${active.active + active.held} active run(s) and its overlap policy (${OverlapPolicy[job.overlapPolicy]}` +
                `${job.maxConcurrentRuns ? `, max_concurrent_runs ${job.maxConcurrentRuns}` : ""}) admits no other; set ignore_overlap_policy to run it anyway`,
            );
          }
          held = admitted.fires[0].held;
          if (admitted.cancelActive) cancelled = await cancelActiveRunsOfJob(client, id);
        }
        // Two triggers in the same millisecond would share a scheduled time: move the later one on.
        for (let offset = 0; offset < 50; offset++) {
          const scheduledTime = new Date(at.getTime() + offset);
          const inserted = await runs.insertTriggered(client, { jobId: job.id, queue: job.queue, scheduledTime, held });
          if (inserted) return { job, run: inserted, held };
        }
        throw new Error("could not find a free scheduled time for the triggered run");
      });
      await deps.signalCancel?.(cancelled);
      if (deps.dispatch && !held) {
        // Published right away; if this fails, the scheduler's reconciler publishes it.
        void deps.dispatch([{ id: run.id, scheduledTime: toDate(run.scheduledTime!), job }]).catch(() => undefined);
      }
      return { run };
    },

    async getRun(request) {
      return { run: await runs.get(requireId("id", request.id)) };
    },

    async getRunLogs(request) {
      const runId = requireId("run_id", request.runId);
      const limit = pageSize(request.pageSize);
      const after = runLogKeyOf(request.pageToken, runId);
      await runs.get(runId); // NOT_FOUND for a run that does not exist
      const lines = await readRunLogs(pool, runId, after, limit + 1);
      const more = lines.length > limit;
      const page = more ? lines.slice(0, limit) : lines;
      const last = page[page.length - 1];
      // A last page's token too (when it has lines): a running run's next lines start after it.
      return { lines: page, nextPageToken: last ? runLogToken(runId, last) : request.pageToken };
    },

    async listRuns(request) {
      const limit = pageSize(request.pageSize);
      for (const state of request.states) {
        if (state === RunState.UNSPECIFIED || !(state in RunState)) throw invalidArgument(`states: unknown value ${state}`);
      }
      const filter = {
        jobId: request.jobId ? requireId("job_id", request.jobId) : undefined,
        states: [...request.states].sort(),
        scheduledAfter: request.scheduledAfter ? toDate(request.scheduledAfter) : undefined,
        scheduledBefore: request.scheduledBefore ? toDate(request.scheduledBefore) : undefined,
        namespace: request.namespace || undefined,
      };
      checkNamespaceFilter(request.namespace);
      const key = decodePageToken(request.pageToken, filter);
      let after: RunPageKey | undefined;
      if (key) {
        const [time, runId] = key;
        if (typeof time !== "number" || typeof runId !== "string") throw invalidArgument("page_token: not a token this server issued");
        after = { scheduledTime: new Date(time), id: runId };
      }
      const page = await runs.list(filter, after, limit + 1);
      const more = page.length > limit;
      const result: Run[] = page.slice(0, limit);
      const last = result[result.length - 1];
      return {
        runs: result,
        nextPageToken: more ? encodePageToken([toDate(last.scheduledTime!).getTime(), last.id], filter) : "",
      };
    },

    async listScheduleEvents(request) {
      const jobId = requireId("job_id", request.jobId);
      const limit = pageSize(request.pageSize);
      const key = decodePageToken(request.pageToken, { jobId });
      if (key && typeof key[0] !== "number") throw invalidArgument("page_token: not a token this server issued");
      const found = await pool.query("SELECT 1 FROM jobs WHERE id = $1 AND deleted_time IS NULL", [jobId]);
      if (found.rowCount === 0) throw notFound("job", jobId);
      const page = await readScheduleEvents(pool, jobId, key ? (key[0] as number) : 0, limit + 1);
      const more = page.length > limit;
      const events = page.slice(0, limit);
      return {
        events: events.map((e) => e.message),
        nextPageToken: more ? encodePageToken([events[events.length - 1].cursor], { jobId }) : "",
      };
    },

    async cancelRun(request) {
      const id = requireId("id", request.id);
      const run = await inTransaction(pool, (client) => runs.cancel(client, id));
      await deps.signalCancel?.([run.id]);
      return { run };
    },

    async getSchedulerStatus() {
      const { rows } = await pool.query<{ leader_id: string; epoch: number; since: Date; heartbeat_time: Date; clock_skew_ms: number | null; clock_skewed: boolean }>(
        "SELECT leader_id, epoch, since, heartbeat_time, clock_skew_ms, clock_skewed FROM scheduler_leader WHERE singleton",
      );
      const leader = rows[0];
      if (!leader) return {};
      return {
        leaderId: leader.leader_id,
        epoch: BigInt(leader.epoch),
        leaderSince: toTimestamp(leader.since),
        heartbeatTime: toTimestamp(leader.heartbeat_time),
        leaderClockSkew: leader.clock_skew_ms === null ? undefined : msToDuration(leader.clock_skew_ms),
        leaderClockSkewed: leader.clock_skewed,
      };
    },

    async previewSchedule(request) {
      if (request.count < 0 || request.count > MAX_PREVIEW) throw invalidArgument(`count: expected 0 (default 10) to ${MAX_PREVIEW}`);
      const schedule = validateScheduleInput(request.schedule, validation(false));
      const after = request.after ? toDate(request.after) : now();
      const times = previewSchedule(schedule, after, request.count || 10, { createTime: after, runCount: 0 });
      return {
        fireTimes: times.filter((time) => time.adjustment !== DstAdjustment.SKIPPED).map((time) => toTimestamp(time.time)),
        times: times.map((time) => ({ time: toTimestamp(time.time), dstAdjustment: time.adjustment })),
      };
    },
  };
}
