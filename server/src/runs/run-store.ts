import { create, fromJson, type JsonObject } from "@bufbuild/protobuf";
import { RunAttemptSchema, RunSchema, RunState, RunTrigger, type Run } from "@chime/sdk/gen/run_pb";
import type pg from "pg";
import { v7 as uuidv7 } from "uuid";
import { failedPrecondition, notFound } from "../api/errors.js";
import { msToDuration, optionalTimestamp, toTimestamp } from "../util/time.js";

export interface RunRow {
  id: string;
  job_id: string;
  queue: string;
  scheduled_time: Date;
  trigger: number;
  state: number;
  attempt: number;
  dispatch_time: Date | null;
  start_time: Date | null;
  end_time: Date | null;
  output: JsonObject | null;
  error: string;
  attempts: JsonObject[];
  create_time: Date;
  update_time: Date;
}

const RUN_COLUMNS =
  "id, job_id, queue, scheduled_time, trigger, state, attempt, dispatch_time, start_time, end_time, output, error, attempts, create_time, update_time";

/** States a run can still leave. */
export const ACTIVE_RUN_STATES = [RunState.QUEUED, RunState.RUNNING, RunState.RETRY_WAIT];

export function runFromRow(row: RunRow): Run {
  return create(RunSchema, {
    id: row.id,
    jobId: row.job_id,
    queue: row.queue,
    state: row.state,
    trigger: row.trigger,
    attempt: row.attempt,
    scheduledTime: toTimestamp(row.scheduled_time),
    dispatchTime: optionalTimestamp(row.dispatch_time),
    dispatchLag: row.dispatch_time ? msToDuration(row.dispatch_time.getTime() - row.scheduled_time.getTime()) : undefined,
    startTime: optionalTimestamp(row.start_time),
    endTime: optionalTimestamp(row.end_time),
    output: row.output ?? undefined,
    error: row.error,
    attempts: row.attempts.map((a) => fromJson(RunAttemptSchema, a, { ignoreUnknownFields: true })),
    createTime: toTimestamp(row.create_time),
    updateTime: toTimestamp(row.update_time),
  });
}

export interface RunFilter {
  jobId?: string;
  states: RunState[];
  scheduledAfter?: Date;
  scheduledBefore?: Date;
}

/** Where a page of runs (newest scheduled first) left off. */
export interface RunPageKey {
  scheduledTime: Date;
  id: string;
}

export interface NewRun {
  jobId: string;
  queue: string;
  scheduledTime: Date;
  trigger: RunTrigger;
  /** Not published until the job has no other active run (BUFFER_ONE). */
  held?: boolean;
}

export function createRunStore(pool: pg.Pool) {
  return {
    /**
     * Writes a QUEUED run and its first event in the caller's transaction. Returns
     * undefined when the job already has a run for that scheduled time.
     */
    async insert(client: pg.PoolClient, run: NewRun): Promise<Run | undefined> {
      const { rows } = await client.query<RunRow>(
        `INSERT INTO runs (id, job_id, queue, scheduled_time, trigger, state, held)
         VALUES ($1, $2, $3, $4, $5, ${RunState.QUEUED}, $6)
         ON CONFLICT ON CONSTRAINT runs_job_scheduled_time DO NOTHING
         RETURNING ${RUN_COLUMNS}`,
        [uuidv7(), run.jobId, run.queue, run.scheduledTime, run.trigger, run.held ?? false],
      );
      if (!rows[0]) return undefined;
      await client.query(`INSERT INTO run_events (run_id, job_id, state) VALUES ($1, $2, ${RunState.QUEUED})`, [
        rows[0].id,
        run.jobId,
      ]);
      return runFromRow(rows[0]);
    },

    async get(id: string): Promise<Run> {
      const { rows } = await pool.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = $1`, [id]);
      if (!rows[0]) throw notFound("run", id);
      return runFromRow(rows[0]);
    },

    async list(filter: RunFilter, after: RunPageKey | undefined, limit: number): Promise<Run[]> {
      const params: unknown[] = [];
      const where: string[] = [];
      const add = (sql: (p: string) => string, value: unknown) => {
        params.push(value);
        where.push(sql(`$${params.length}`));
      };
      if (filter.jobId) add((p) => `job_id = ${p}`, filter.jobId);
      if (filter.states.length) add((p) => `state = ANY(${p}::smallint[])`, filter.states);
      if (filter.scheduledAfter) add((p) => `scheduled_time >= ${p}`, filter.scheduledAfter);
      if (filter.scheduledBefore) add((p) => `scheduled_time < ${p}`, filter.scheduledBefore);
      if (after) {
        params.push(after.scheduledTime, after.id);
        where.push(`(scheduled_time, id) < ($${params.length - 1}, $${params.length})`);
      }
      params.push(limit);
      const { rows } = await pool.query<RunRow>(
        `SELECT ${RUN_COLUMNS} FROM runs ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
         ORDER BY scheduled_time DESC, id DESC LIMIT $${params.length}`,
        params,
      );
      return rows.map(runFromRow);
    },

    /**
     * Cancels a run: one that has not started ends CANCELLED at once; a running one is
     * marked for cancellation, which the worker holding it acts on.
     */
    async cancel(client: pg.PoolClient, id: string): Promise<Run> {
      const { rows } = await client.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = $1 FOR UPDATE`, [id]);
      const run = rows[0];
      if (!run) throw notFound("run", id);
      if (!ACTIVE_RUN_STATES.includes(run.state)) {
        throw failedPrecondition(`run ${id} already ended (${RunState[run.state].toLowerCase()}); only active runs can be cancelled`);
      }
      const updated = await cancelRuns(client, "id = $1", [id]);
      return runFromRow(updated[0] ?? run);
    },

    /** Counts a job's active runs, under the job's row lock held by the caller. */
    async activeOf(client: pg.PoolClient, jobId: string): Promise<{ active: number; held: number }> {
      const { rows } = await client.query<{ active: number; held: number }>(
        `SELECT count(*) FILTER (WHERE NOT held)::int AS active, count(*) FILTER (WHERE held)::int AS held
         FROM runs WHERE job_id = $1 AND state IN (${ACTIVE_RUN_STATES.join(", ")})`,
        [jobId],
      );
      return rows[0];
    },

    /** Cancels every active run of a job (used when the job is deleted). */
    async cancelActiveOfJob(client: pg.PoolClient, jobId: string): Promise<number> {
      return (await cancelRuns(client, "job_id = $1", [jobId])).length;
    },

    /**
     * Cancels the job's runs that the leader wrote ahead of their fire time and has not
     * published yet (QUEUED, due later, no dispatch time): a paused job fires no more.
     * Returns their ids, for the cancel signal (the leader still publishes them at their
     * time; workers ack them unrun).
     */
    async cancelWrittenAheadOfJob(client: pg.PoolClient, jobId: string): Promise<string[]> {
      const rows = await cancelRuns(
        client,
        `job_id = $1 AND state = ${RunState.QUEUED} AND dispatch_time IS NULL AND scheduled_time > now()`,
        [jobId],
      );
      return rows.map((r) => r.id);
    },

    /** Like cancelActiveOfJob; returns the ids of the runs it cancelled or flagged, for the cancel signal. */
    async cancelActiveOfJobIds(client: pg.PoolClient, jobId: string): Promise<string[]> {
      return (await cancelRuns(client, "job_id = $1", [jobId])).map((r) => r.id);
    },
  };
}

/** Ends the selected QUEUED/RETRY_WAIT runs CANCELLED (with events) and flags RUNNING ones. */
async function cancelRuns(client: pg.PoolClient, selection: string, params: unknown[]): Promise<RunRow[]> {
  const { rows } = await client.query<RunRow>(
    `UPDATE runs SET
       state = CASE WHEN state = ${RunState.RUNNING} THEN state ELSE ${RunState.CANCELLED} END,
       end_time = CASE WHEN state = ${RunState.RUNNING} THEN end_time ELSE now() END,
       cancel_requested_time = COALESCE(cancel_requested_time, now()),
       update_time = now()
     WHERE ${selection} AND state IN (${ACTIVE_RUN_STATES.join(", ")})
     RETURNING ${RUN_COLUMNS}`,
    params,
  );
  const ended = rows.filter((r) => r.state === RunState.CANCELLED);
  if (ended.length) {
    await client.query(
      `INSERT INTO run_events (run_id, job_id, state, attempt)
       SELECT unnest($1::uuid[]), unnest($2::uuid[]), ${RunState.CANCELLED}, unnest($3::int[])`,
      [ended.map((r) => r.id), ended.map((r) => r.job_id), ended.map((r) => r.attempt)],
    );
  }
  return rows;
}

export type RunStore = ReturnType<typeof createRunStore>;
