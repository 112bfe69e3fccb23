import { create, fromJson, type JsonObject } from "@bufbuild/protobuf";
import { RunAttemptSchema, RunSchema, RunTrigger, type Run } from "@chime/sdk/gen/run_pb";
import { RunState, type RunAttemptJson, type RunStatusUpdate } from "@chime/sdk";
import pg from "pg";
import { v7 as uuidv7 } from "uuid";
import { NotFoundError, PreconditionError } from "../domain/errors.js";
import type { JobRow } from "../jobs/job-store.js";
import { msToDuration, optionalTimestamp, toTimestamp } from "../util/time.js";
import { placeEvents, type Placement } from "./run-event-placement.js";
import { ACTIVE_RUN_STATES, INITIAL_RUN_STATE, transition, type Rejection, type RunEventRecord, type RunInput, type RunRecord } from "./run-lifecycle.js";

/**
 * Every SQL statement that creates or changes a run or appends to its event log. The
 * decisions are run-lifecycle.ts's; this module reads the runs concerned under their row
 * locks, asks the lifecycle, and writes what it decided, in as few statements as it can
 * (a batch of runs is one statement per table). Callers pass the transaction to write in.
 */

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
  attempts: RunAttemptJson[];
  create_time: Date;
  update_time: Date;
}

const RUN_COLUMNS =
  "id, job_id, queue, scheduled_time, trigger, state, attempt, dispatch_time, start_time, end_time, output, error, attempts, create_time, update_time";
/** What the lifecycle decides on (RunRecord). */
const RECORD_COLUMNS =
  "id, job_id, state, attempt, start_time, end_time, output, error, attempts, cancel_requested_time, dispatch_time, start_cursor::text, end_cursor::text";
const ACTIVE_SQL = ACTIVE_RUN_STATES.join(", ");

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
  /** Runs of this namespace's jobs. */
  namespace?: string;
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
  held: boolean;
}

/** A run written by insertRuns (one per (job, scheduled time) that had none). */
export interface InsertedRun {
  id: string;
  job_id: string;
  scheduled_time: Date;
  held: boolean;
}

/** Runs whose publish JetStream acknowledged, with the time of the acknowledgement. */
export type AckedRuns = { id: string; ackedAt: Date }[];

/** A run the reconciler publishes again, with the job it belongs to. */
export interface UndispatchedRow extends JobRow {
  run_id: string;
  scheduled_time: Date;
}

/** Why ingestion refused a report: the lifecycle's reasons, no such run, or a subject of another namespace. */
export type ReportRejection = Rejection | "unknown_run" | "wrong_namespace";

export interface ReportOutcome {
  accepted: RunStatusUpdate[];
  rejected: Map<ReportRejection, number>;
}

/**
 * Writes QUEUED runs, one statement for the batch. A run row is also its first event: its
 * queued_cursor is taken from the event sequence at insert (migration 0006, the view
 * run_event_log). A (job, scheduled time) that already has a run is left out (DESIGN
 * invariant 2): it is not returned.
 */
export async function insertRuns(client: pg.PoolClient, runs: NewRun[]): Promise<InsertedRun[]> {
  if (runs.length === 0) return [];
  const { rows } = await client.query<InsertedRun>(
    `INSERT INTO runs (id, job_id, queue, scheduled_time, held, trigger, state)
     SELECT id, job_id, queue, scheduled_time, held, trigger, ${INITIAL_RUN_STATE}
     FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::boolean[], $6::smallint[])
       AS v(id, job_id, queue, scheduled_time, held, trigger)
     ON CONFLICT ON CONSTRAINT runs_job_scheduled_time DO NOTHING
     RETURNING id, job_id, scheduled_time, held`,
    [
      runs.map(() => uuidv7()),
      runs.map((r) => r.jobId),
      runs.map((r) => r.queue),
      runs.map((r) => r.scheduledTime),
      runs.map((r) => r.held),
      runs.map((r) => r.trigger),
    ],
  );
  return rows;
}

/**
 * Sets the runs' dispatch time, where it is not set yet, with one statement. The rows are
 * locked in id order first, as every writer of runs does (lockRuns): an UPDATE ... FROM
 * locks them in its join's order, and so deadlocked with an ingester updating the same runs.
 */
export async function markDispatched(client: pg.PoolClient | pg.Pool, acked: AckedRuns): Promise<void> {
  await client.query(
    `WITH locked AS (
       SELECT id FROM runs WHERE id = ANY($1::uuid[]) AND dispatch_time IS NULL ORDER BY id FOR UPDATE
     )
     UPDATE runs r SET dispatch_time = v.acked_at, update_time = now()
     FROM locked JOIN unnest($1::uuid[], $2::timestamptz[]) AS v(id, acked_at) ON v.id = locked.id
     WHERE r.id = locked.id AND r.dispatch_time IS NULL`,
    [acked.map((a) => a.id), acked.map((a) => a.ackedAt)],
  );
}

/** Counts the active runs of each job (held ones apart), under the jobs' row locks held by the caller. */
export async function activeRunCounts(client: pg.PoolClient, jobIds: string[]): Promise<Map<string, { active: number; held: number }>> {
  const counts = new Map<string, { active: number; held: number }>();
  if (jobIds.length === 0) return counts;
  const { rows } = await client.query<{ job_id: string; active: number; held: number }>(
    `SELECT job_id, count(*) FILTER (WHERE NOT held)::int AS active, count(*) FILTER (WHERE held)::int AS held
     FROM runs WHERE job_id = ANY($1::uuid[]) AND state IN (${ACTIVE_SQL})
     GROUP BY job_id`,
    [jobIds],
  );
  for (const row of rows) counts.set(row.job_id, { active: row.active, held: row.held });
  return counts;
}

/**
 * Runs committed but never confirmed published, older than `graceMs` (younger ones are
 * left to the path that wrote them), with their jobs; a BUFFER_ONE run only once its job
 * has no other active run.
 */
export async function findUndispatched(pool: pg.Pool, graceMs: number, limit: number): Promise<UndispatchedRow[]> {
  const { rows } = await pool.query<UndispatchedRow>(
    `SELECT r.id AS run_id, r.scheduled_time,
            j.id, j.namespace, j.name, j.queue, j.labels, j.spec, j.state, j.next_run_time, j.run_count, j.create_time, j.update_time
     FROM runs r JOIN jobs j ON j.id = r.job_id
     WHERE r.dispatch_time IS NULL AND r.state = ${RunState.QUEUED}
       AND r.create_time < now() - make_interval(secs => $1::double precision / 1000)
       -- A run written ahead of its fire time is the leader's to publish at that time.
       AND r.scheduled_time < now() - make_interval(secs => $1::double precision / 1000)
       AND (NOT r.held OR NOT EXISTS (
         SELECT 1 FROM runs other
         WHERE other.job_id = r.job_id AND other.id <> r.id AND NOT other.held AND other.state IN (${ACTIVE_SQL})))
     ORDER BY r.create_time
     LIMIT $2`,
    [graceMs, limit],
  );
  return rows;
}

/** A job's active runs, oldest scheduled first, in the caller's (snapshot) transaction: WatchJob's snapshot. */
export async function activeRunsOfJob(client: pg.PoolClient, jobId: string): Promise<Run[]> {
  const { rows } = await client.query<RunRow>(
    `SELECT ${RUN_COLUMNS} FROM runs WHERE job_id = $1 AND state IN (${ACTIVE_SQL}) ORDER BY scheduled_time, id`,
    [jobId],
  );
  return rows.map(runFromRow);
}

/** RUNNING runs whose cancellation was requested more than `olderThanMs` ago (to signal again). */
export async function findCancelRequested(pool: pg.Pool, olderThanMs: number, limit: number): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>(
    `SELECT id FROM runs
     WHERE state = ${RunState.RUNNING} AND cancel_requested_time IS NOT NULL
       AND cancel_requested_time < now() - make_interval(secs => $1::double precision / 1000)
     LIMIT $2`,
    [olderThanMs, limit],
  );
  return rows.map((r) => r.id);
}

/** Timestamps read as the text Postgres sends (RunRecord's Instant), everything else as usual. */
const INSTANTS_AS_TEXT = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === pg.types.builtins.TIMESTAMPTZ ? (value: string) => value : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/**
 * Locks the selected runs in id order (two transactions locking overlapping sets cannot
 * deadlock); `withNamespace` adds each run's job namespace (a primary-key lookup per run).
 */
async function lockRuns(client: pg.PoolClient, selection: string, params: unknown[], withNamespace = false): Promise<RunRecord[]> {
  const namespace = withNamespace ? ", (SELECT j.namespace FROM jobs j WHERE j.id = runs.job_id) AS namespace" : "";
  const { rows } = await client.query<RunRecord>({
    text: `SELECT ${RECORD_COLUMNS}${namespace} FROM runs WHERE ${selection} ORDER BY id FOR UPDATE`,
    values: params,
    types: INSTANTS_AS_TEXT,
  });
  return rows;
}

/** A changed run as written: its record and where its events go. */
type RunWrite = RunRecord & { start_slot: Placement["start"]; end_slot: Placement["end"] };

/**
 * Writes what the lifecycle decided: the events the run rows stop showing or cannot show
 * (run-event-placement.ts), then the changed runs with the cursors of the events they
 * show, one statement each. run_events' new cursors are taken first, and a row's
 * start_cursor before its end_cursor (an UPDATE evaluates its SET list in column order),
 * so a run's cursors follow its events' order. Each statement takes its rows as one JSON
 * document: JSON.stringify is native, where pg's escaping of one array parameter per
 * column ran in JavaScript, value by value.
 */
async function writeTransitions(client: pg.PoolClient, changed: RunWrite[], events: (RunEventRecord & { cursor?: string })[]): Promise<void> {
  if (changed.length === 0) return;
  if (events.length > 0) {
    await client.query(
      `INSERT INTO run_events (cursor, run_id, job_id, state, attempt, time, error)
       SELECT coalesce(cursor, nextval('run_events_cursor_seq')), run_id, job_id, state, attempt, time, error
       FROM jsonb_to_recordset($1::jsonb)
         AS v(cursor bigint, run_id uuid, job_id uuid, state smallint, attempt int, time timestamptz, error text)`,
      [
        JSON.stringify(
          events.map((e) => ({ cursor: e.cursor ?? null, run_id: e.runId, job_id: e.jobId, state: e.state, attempt: e.attempt, time: e.time, error: e.error })),
        ),
      ],
    );
  }
  await client.query(
    `UPDATE runs r SET state = v.state, attempt = v.attempt, start_time = v.start_time, end_time = v.end_time,
            output = v.output, error = v.error, attempts = v.attempts, cancel_requested_time = v.cancel_requested_time,
            dispatch_time = COALESCE(r.dispatch_time, v.dispatch_time), update_time = now(),
            start_cursor = CASE v.start_slot WHEN 'keep' THEN r.start_cursor WHEN 'new' THEN nextval('run_events_cursor_seq') END,
            end_cursor = CASE v.end_slot WHEN 'keep' THEN r.end_cursor WHEN 'new' THEN nextval('run_events_cursor_seq') END
     FROM jsonb_to_recordset($1::jsonb)
       AS v(id uuid, state smallint, attempt int, start_time timestamptz, end_time timestamptz, output jsonb, error text,
            attempts jsonb, cancel_requested_time timestamptz, dispatch_time timestamptz, start_slot text, end_slot text)
     WHERE r.id = v.id`,
    [JSON.stringify(changed)],
  );
}

/**
 * Applies inputs to locked runs in order (several may concern one run) and writes the
 * result. Returns, per input, whether it was accepted or why not.
 */
async function applyInputs(
  client: pg.PoolClient,
  locked: RunRecord[],
  inputs: { runId: string; input: RunInput }[],
  now: Date,
): Promise<(Rejection | "unknown_run" | undefined)[]> {
  const before = new Map(locked.map((run) => [run.id, run]));
  const current = new Map(before);
  const events = new Map<string, RunEventRecord[]>();
  const outcomes = inputs.map(({ runId, input }) => {
    const run = current.get(runId);
    if (!run) return "unknown_run" as const;
    const result = transition(run, input, now);
    if (!result.ok) return result.reason;
    // Accepted and changing nothing (a running attempt's log lines): no row to write.
    if (result.run === run && result.events.length === 0) return undefined;
    current.set(runId, result.run);
    const list = events.get(runId);
    if (list) list.push(...result.events);
    else events.set(runId, [...result.events]);
    return undefined;
  });
  const changed: RunWrite[] = [];
  const spilled: (RunEventRecord & { cursor?: string })[] = [];
  const appended: RunEventRecord[] = [];
  for (const [id, runEvents] of events) {
    const after = current.get(id)!;
    const placement = placeEvents(before.get(id)!, after, runEvents);
    changed.push({ ...after, start_slot: placement.start, end_slot: placement.end });
    spilled.push(...placement.spilled);
    appended.push(...placement.appended);
  }
  await writeTransitions(client, changed, [...spilled, ...appended]);
  return outcomes;
}

/**
 * Applies workers' status reports (in the order given) in the caller's transaction, with
 * attempt fencing; what is refused is counted by reason. `claimed[i]`, when set, is the
 * namespace whose events subject brought update i: a report for a run of another namespace
 * is refused (a worker kept to one namespace by NATS permissions cannot end another's runs).
 */
export async function applyReports(
  client: pg.PoolClient,
  updates: RunStatusUpdate[],
  now = new Date(),
  claimed: readonly (string | undefined)[] = [],
): Promise<ReportOutcome> {
  const rejected = new Map<ReportRejection, number>();
  const accepted: RunStatusUpdate[] = [];
  if (updates.length === 0) return { accepted, rejected };
  const inputs = updates.map((update) => ({ runId: update.runId.toLowerCase(), input: { kind: "report" as const, update } }));
  const runIds = [...new Set(inputs.map((i) => i.runId))];
  // Most batches come from subjects of every namespace: they skip the check and its lookups.
  const outcomes = claimed.some((namespace) => namespace !== undefined)
    ? await applyNamespaceChecked(client, inputs, claimed, runIds, now)
    : await applyInputs(client, await lockRuns(client, "id = ANY($1::uuid[])", [runIds]), inputs, now);
  outcomes.forEach((reason, i) => {
    if (reason) rejected.set(reason, (rejected.get(reason) ?? 0) + 1);
    else accepted.push(updates[i]);
  });
  return { accepted, rejected };
}

/**
 * applyInputs for reports some of which name the namespace their subject claims: a report
 * for a run of another namespace is refused ("wrong_namespace") before the lifecycle sees it.
 */
async function applyNamespaceChecked(
  client: pg.PoolClient,
  inputs: Array<{ runId: string; input: { kind: "report"; update: RunStatusUpdate } }>,
  claimed: readonly (string | undefined)[],
  runIds: string[],
  now: Date,
): Promise<(ReportRejection | undefined)[]> {
  const withNamespace = (await lockRuns(client, "id = ANY($1::uuid[])", [runIds], true)) as Array<RunRecord & { namespace: string }>;
  const namespaces = new Map(withNamespace.map((run) => [run.id, run.namespace]));
  const outcomes: (ReportRejection | undefined)[] = new Array(inputs.length).fill(undefined);
  const admitted: number[] = [];
  inputs.forEach(({ runId }, i) => {
    if (claimed[i] !== undefined && namespaces.has(runId) && namespaces.get(runId) !== claimed[i]) outcomes[i] = "wrong_namespace";
    else admitted.push(i);
  });
  // The namespace was only for this check: the written rows are the records alone.
  const locked = withNamespace.map(({ namespace: _namespace, ...run }) => run);
  const applied = await applyInputs(client, locked, admitted.map((i) => inputs[i]), now);
  applied.forEach((reason, k) => (outcomes[admitted[k]] = reason));
  return outcomes;
}

/** Cancels the selected active runs (see the lifecycle); returns the ids it cancelled or flagged, for the cancel signal. */
async function cancelWhere(client: pg.PoolClient, selection: string, params: unknown[]): Promise<string[]> {
  const locked = await lockRuns(client, `${selection} AND state IN (${ACTIVE_SQL})`, params);
  const now = new Date();
  const outcomes = await applyInputs(
    client,
    locked,
    locked.map((run) => ({ runId: run.id, input: { kind: "cancel" } })),
    now,
  );
  return locked.filter((_, i) => outcomes[i] === undefined).map((run) => run.id);
}

/** Every active run of a job (DeleteJob, CANCEL_PREVIOUS). */
export function cancelActiveRunsOfJob(client: pg.PoolClient, jobId: string): Promise<string[]> {
  return cancelWhere(client, "job_id = $1", [jobId]);
}

/**
 * The job's runs that the leader wrote ahead of their fire time and has not published yet
 * (QUEUED, due later, no dispatch time): a paused job fires no more. (The leader still
 * publishes them at their time; workers ack them unrun.) "Later" is the statement's own
 * clock plus a margin, not the transaction's start (now()): a pause that waited for the
 * job's row past a run's time, or one run due within the margin, may have been published
 * and started already, and its worker would learn of the cancel too late.
 */
export function cancelWrittenAheadRunsOfJob(client: pg.PoolClient, jobId: string): Promise<string[]> {
  return cancelWhere(
    client,
    `job_id = $1 AND state = ${RunState.QUEUED} AND dispatch_time IS NULL AND scheduled_time > clock_timestamp() + interval '500 milliseconds'`,
    [jobId],
  );
}

/** The API's reads and single-run changes. */
export function createRunStore(pool: pg.Pool) {
  async function get(client: pg.Pool | pg.PoolClient, id: string): Promise<Run> {
    const { rows } = await client.query<RunRow>(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = $1`, [id]);
    if (!rows[0]) throw new NotFoundError("run", id);
    return runFromRow(rows[0]);
  }

  return {
    get: (id: string) => get(pool, id),

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
      if (filter.namespace) add((p) => `job_id IN (SELECT id FROM jobs WHERE namespace = ${p})`, filter.namespace);
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

    /** A QUEUED manual run (TriggerJob), or undefined when the job has a run at that time already. */
    async insertTriggered(client: pg.PoolClient, run: Omit<NewRun, "trigger">): Promise<Run | undefined> {
      const [inserted] = await insertRuns(client, [{ ...run, trigger: RunTrigger.MANUAL }]);
      return inserted ? get(client, inserted.id) : undefined;
    },

    /**
     * CancelRun: one that has not started ends CANCELLED at once; a running one is marked
     * for cancellation, which the worker holding it acts on.
     */
    async cancel(client: pg.PoolClient, id: string): Promise<Run> {
      const [locked] = await lockRuns(client, "id = $1", [id]);
      if (!locked) throw new NotFoundError("run", id);
      const [refused] = await applyInputs(client, [locked], [{ runId: id, input: { kind: "cancel" } }], new Date());
      if (refused) {
        throw new PreconditionError(`run ${id} already ended (${RunState[locked.state].toLowerCase()}); only active runs can be cancelled`);
      }
      return get(client, id);
    },
  };
}

export type RunStore = ReturnType<typeof createRunStore>;
