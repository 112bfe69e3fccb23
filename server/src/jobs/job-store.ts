import { create, fromJson, type JsonObject } from "@bufbuild/protobuf";
import { AutoPauseSchema, JobSchema, JobState, type Job } from "@chime/sdk/gen/job_pb";
import { ScheduleEventReason } from "@chime/sdk/gen/watch_service_pb";
import type pg from "pg";
import { v7 as uuidv7 } from "uuid";
import { alreadyExists, failedPrecondition, notFound } from "../api/errors.js";
import { labelConditions, type LabelTerm } from "../api/label-selector.js";
import { optionalTimestamp, toTimestamp } from "../util/time.js";
import { createJobInsertBatcher } from "./create-batcher.js";
import { insertJobs, type JobInsert } from "./job-insert.js";
import { nextFire } from "./schedule.js";
import type { FireSpan } from "../scheduler/fire-plan.js";
import type { ScheduleEventRecord } from "../scheduler/schedule-events.js";
import { specJson } from "./spec-json.js";

export interface JobRow {
  id: string;
  namespace: string;
  name: string;
  queue: string;
  labels: Record<string, string>;
  spec: JsonObject;
  state: number;
  next_run_time: Date | null;
  run_count: number;
  create_time: Date;
  update_time: Date;
  /** Set while the job is paused by its failure streak (jobs/auto-pause.ts). */
  auto_pause?: AutoPauseRow | null;
}

/** jobs.auto_pause: why the server paused the job. */
export interface AutoPauseRow {
  failure_streak: number;
  last_run_id: string;
  time: string;
}

export const JOB_COLUMNS = "id, namespace, name, queue, labels, spec, state, next_run_time, run_count, create_time, update_time, auto_pause";


export function jobFromRow(row: JobRow): Job {
  return withColumns(fromJson(JobSchema, row.spec, { ignoreUnknownFields: true }), row);
}

/** Sets the fields a job row keeps in columns (identity and state) on `job`, its definition. */
function withColumns(job: Job, row: Omit<JobRow, "spec">): Job {
  job.id = row.id;
  job.namespace = row.namespace;
  job.name = row.name;
  job.queue = row.queue;
  job.labels = row.labels;
  job.state = row.state;
  job.nextRunTime = optionalTimestamp(row.next_run_time);
  job.runCount = BigInt(row.run_count);
  job.createTime = toTimestamp(row.create_time);
  job.updateTime = toTimestamp(row.update_time);
  if (row.auto_pause) {
    const pause = row.auto_pause;
    job.autoPause = create(AutoPauseSchema, { failureStreak: pause.failure_streak, lastRunId: pause.last_run_id, time: toTimestamp(new Date(pause.time)) });
  }
  return job;
}

/**
 * The row a validated job is inserted as, created at `now`. Plans its first fire time, and
 * anchors an unanchored interval at `now` (which changes `job`).
 */
export function planInsert(job: Job, requestId: string, now: Date): JobInsert {
  // Without an anchor, an interval counts from creation: the first run is one interval later.
  // Every other schedule may fire at the creation instant itself (immediate, an `at` of now).
  let after = new Date(now.getTime() - 1);
  if (job.schedule?.kind.case === "interval" && !job.schedule.kind.value.anchor) {
    job.schedule.kind.value.anchor = toTimestamp(now);
    after = now;
  }
  const { state, next, dstSkipped } = planNext(job, after, now, 0);
  return {
    ...(dstSkipped ? { dst_skipped: { first: dstSkipped.first, last: dstSkipped.last, count: dstSkipped.count } } : {}),
    id: uuidv7(),
    namespace: job.namespace,
    name: job.name,
    queue: job.queue,
    labels: job.labels,
    spec: specJson(job),
    state,
    next_run_time: next,
    request_id: requestId || null,
    create_time: now,
  };
}

/**
 * The job as inserted from `row`: `job` itself (its definition is what was stored, so nothing
 * is parsed back) with the row's identity and state set.
 */
export function insertedJob(job: Job, row: JobInsert): Job {
  return withColumns(job, { ...row, run_count: 0, update_time: row.create_time });
}

/**
 * The state and next fire time of a job whose schedule has produced `runCount` runs, and the
 * cron times DST_GAP_POLICY_SKIP dropped on the way to it (recorded as a DST_SKIPPED
 * schedule event by whoever stores the plan).
 */
export function planNext(job: Job, after: Date, createTime: Date, runCount: number): { state: JobState; next: Date | null; dstSkipped?: FireSpan } {
  const step = job.schedule ? nextFire(job.schedule, after, { createTime, runCount }) : undefined;
  const skipped = step?.skipped.map((time) => time.time) ?? [];
  const dstSkipped = skipped.length > 0 ? { first: skipped[0], last: skipped[skipped.length - 1], count: skipped.length } : undefined;
  const next = step?.fire?.time;
  return next ? { state: JobState.ACTIVE, next, dstSkipped } : { state: JobState.COMPLETED, next: null, dstSkipped };
}

/** A plan's DST_SKIPPED schedule event, if it dropped any time. */
export function dstSkippedEvents(jobId: string, plan: { dstSkipped?: FireSpan }): ScheduleEventRecord[] {
  const span = plan.dstSkipped;
  return span ? [{ jobId, reason: ScheduleEventReason.DST_SKIPPED, count: span.count, firstScheduledTime: span.first, lastScheduledTime: span.last }] : [];
}

export interface JobFilter {
  namespace?: string;
  state?: JobState;
  queue?: string;
  namePrefix?: string;
  labels: LabelTerm[];
}

/** A key for a request id within its namespace (request ids are unique per namespace). */
export function requestKey(namespace: string, requestId: string): string {
  return `${namespace}\u0000${requestId}`;
}

export function nameTakenMessage(field: string, job: { name: string; namespace: string }): string {
  return `${field}: a job named ${JSON.stringify(job.name)} already exists in namespace ${JSON.stringify(job.namespace)}`;
}

function isUniqueViolation(error: unknown, constraint: string): boolean {
  const e = error as { code?: string; constraint?: string };
  return e.code === "23505" && e.constraint === constraint;
}

/** `onScheduleEvents`: told of the schedule events stored with new jobs (for the metric). */
export function createJobStore(pool: pg.Pool, onScheduleEvents?: (events: ScheduleEventRecord[]) => void) {
  const inserts = createJobInsertBatcher(pool);
  const inserted = (row: JobInsert) => {
    if (row.dst_skipped) onScheduleEvents?.(dstSkippedEvents(row.id, { dstSkipped: row.dst_skipped }));
  };

  async function findByRequestId(namespace: string, requestId: string): Promise<Job | undefined> {
    const { rows } = await pool.query<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM jobs WHERE namespace = $1 AND request_id = $2`,
      [namespace, requestId],
    );
    return rows[0] ? jobFromRow(rows[0]) : undefined;
  }

  return {
    /**
     * Inserts a validated job, which it takes over (the job returned is `job`, completed).
     * With a request id, a retried call returns the job the first call created (deleted or
     * not) instead of failing on the name.
     */
    async create(job: Job, requestId: string, now: Date): Promise<Job> {
      if (requestId) {
        const existing = await findByRequestId(job.namespace, requestId);
        if (existing) return existing;
      }
      const row = planInsert(job, requestId, now);
      if (await inserts.insert(row)) {
        inserted(row);
        return insertedJob(job, row);
      }
      // Not inserted: a retry of a request already served returns its job; otherwise the name is taken.
      if (requestId) {
        const existing = await findByRequestId(job.namespace, requestId);
        if (existing) return existing;
      }
      throw alreadyExists(nameTakenMessage("job.name", job));
    },

    /** Inserts rows in one statement; returns the ids of those inserted (see insertJobs). */
    async insertMany(rows: JobInsert[]): Promise<Set<string>> {
      const ids = await insertJobs(pool, rows);
      for (const row of rows) if (ids.has(row.id)) inserted(row);
      return ids;
    },

    /** The jobs created with these (namespace, request id) keys, deleted or not, by `requestKey`. */
    async findByRequestIds(keys: { namespace: string; requestId: string }[]): Promise<Map<string, Job>> {
      if (keys.length === 0) return new Map();
      const { rows } = await pool.query<JobRow & { request_id: string }>(
        `SELECT ${JOB_COLUMNS}, request_id FROM jobs
         WHERE request_id IS NOT NULL AND (namespace, request_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
        [keys.map((k) => k.namespace), keys.map((k) => k.requestId)],
      );
      return new Map(rows.map((row) => [requestKey(row.namespace, row.request_id), jobFromRow(row)]));
    },

    async get(id: string): Promise<Job> {
      const { rows } = await pool.query<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1 AND deleted_time IS NULL`, [id]);
      if (!rows[0]) throw notFound("job", id);
      return jobFromRow(rows[0]);
    },

    async list(filter: JobFilter, afterId: string | undefined, limit: number): Promise<Job[]> {
      const params: unknown[] = [];
      const where = ["deleted_time IS NULL"];
      const add = (sql: (p: string) => string, value: unknown) => {
        params.push(value);
        where.push(sql(`$${params.length}`));
      };
      if (filter.namespace) add((p) => `namespace = ${p}`, filter.namespace);
      if (filter.state) add((p) => `state = ${p}`, filter.state);
      if (filter.queue) add((p) => `queue = ${p}`, filter.queue);
      if (filter.namePrefix) add((p) => `starts_with(name, ${p})`, filter.namePrefix);
      if (afterId) add((p) => `id > ${p}`, afterId);
      where.push(...labelConditions(filter.labels, "labels", params));
      params.push(limit);
      const { rows } = await pool.query<JobRow>(
        `SELECT ${JOB_COLUMNS} FROM jobs WHERE ${where.join(" AND ")} ORDER BY id LIMIT $${params.length}`,
        params,
      );
      return rows.map(jobFromRow);
    },

    /**
     * Reads the live job under a row lock, lets `change` compute its new version, and
     * writes it, all in the caller's transaction. `change` may throw to abort.
     */
    async modify(
      client: pg.PoolClient,
      id: string,
      change: (job: Job, row: JobRow) => { job: Job; state: JobState; next: Date | null; runCount?: number },
    ): Promise<Job> {
      const { rows } = await client.query<JobRow>(
        `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1 AND deleted_time IS NULL FOR UPDATE`,
        [id],
      );
      if (!rows[0]) throw notFound("job", id);
      const { job, state, next, runCount } = change(jobFromRow(rows[0]), rows[0]);
      try {
        const updated = await client.query<JobRow>(
          `UPDATE jobs SET name = $2, queue = $3, labels = $4, spec = $5, state = $6, next_run_time = $7,
             run_count = COALESCE($8, run_count), update_time = now(), definition_version = definition_version + 1
           WHERE id = $1 RETURNING ${JOB_COLUMNS}`,
          [id, job.name, job.queue, job.labels, specJson(job), state, next, runCount ?? null],
        );
        return jobFromRow(updated.rows[0]);
      } catch (error) {
        if (isUniqueViolation(error, "jobs_namespace_name")) {
          throw alreadyExists(nameTakenMessage("job.name", job));
        }
        throw error;
      }
    },

    /** Reads a live job under a row lock in the caller's transaction. */
    async lock(client: pg.PoolClient, id: string): Promise<Job> {
      const { rows } = await client.query<JobRow>(
        `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = $1 AND deleted_time IS NULL FOR UPDATE`,
        [id],
      );
      if (!rows[0]) throw notFound("job", id);
      return jobFromRow(rows[0]);
    },

    /** Marks a job deleted (its name is freed, it never fires again). Returns false when absent. */
    async markDeleted(client: pg.PoolClient, id: string): Promise<boolean> {
      const { rowCount } = await client.query(
        `UPDATE jobs SET deleted_time = now(), update_time = now(), next_run_time = NULL
         WHERE id = $1 AND deleted_time IS NULL`,
        [id],
      );
      return rowCount === 1;
    },
  };
}

export type JobStore = ReturnType<typeof createJobStore>;

export function requireState(job: Job, expected: JobState, action: string): void {
  if (job.state !== expected) {
    throw failedPrecondition(`job ${job.id} is ${JobState[job.state].toLowerCase()}; only ${JobState[expected].toLowerCase()} jobs can be ${action}`);
  }
}
