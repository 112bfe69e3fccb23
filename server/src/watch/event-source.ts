import type pg from "pg";

/**
 * Reading run and job events from Postgres in cursor order, and the one rule that makes
 * a tail of them safe: the commit horizon.
 *
 * An event's cursor (run_events.cursor, job_events.cursor, the cursors of the events a
 * run row carries: queued_cursor, start_cursor, end_cursor, and jobs.completed_cursor; all
 * one sequence; the views run_event_log and job_event_log show them together) is taken
 * when the row is written, but the row becomes visible when its transaction commits, which
 * may be much later: a tail can see cursor 12 while 11 is still in flight. Moving past 11 then would
 * lose it for good. So the tail only reads up to a *horizon*: a cursor below which every
 * event that will ever exist is already visible.
 *
 * The rule (readLastCursor, then readEventWriters, then HorizonTracker):
 *   1. Read S, the sequence's last value (every cursor handed out so far is <= S).
 *   2. Then read W, the transactions holding RowExclusiveLock on run_events/job_events/runs/jobs.
 *      An INSERT or UPDATE takes that lock before it evaluates nextval() and keeps it until its
 *      transaction ends, so any transaction that took a cursor <= S and has not ended is
 *      in W.
 *   3. Once none of W still holds the lock (seen in a later sample), every cursor <= S is
 *      settled: committed (and visible to any later statement) or rolled back (a gap that
 *      will never fill). S is then the horizon.
 * Rolled-back cursors are therefore skipped without waiting, and a transaction that stays
 * open holds the horizon (and every watcher's live events) back for exactly as long as it
 * stays open, never longer and never shorter. W is read from pg_locks for this database
 * only, so long transactions in other databases of the cluster do not matter.
 */

export interface HorizonSample {
  /** The last cursor handed out (0 before the first). */
  lastCursor: number;
  /** Virtual transaction ids holding a write lock on the event tables, read after lastCursor. */
  writers: Set<string>;
}

/** Step 2 of the rule: the transactions that may hold event cursors not yet visible. */
export async function readEventWriters(pool: pg.Pool): Promise<Set<string>> {
  const { rows } = await pool.query<{ vxid: string }>(
    `SELECT virtualtransaction AS vxid FROM pg_locks
     WHERE locktype = 'relation' AND mode = 'RowExclusiveLock' AND pid <> pg_backend_pid()
       AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND relation IN ('run_events'::regclass, 'job_events'::regclass, 'schedule_events'::regclass, 'runs'::regclass, 'jobs'::regclass)`,
  );
  return new Set(rows.map((r) => r.vxid));
}

/** Step 1 of the rule: the last cursor handed out (0 before the first). */
export async function readLastCursor(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ v: number }>(
    "SELECT (CASE WHEN is_called THEN last_value ELSE last_value - 1 END)::bigint AS v FROM run_events_cursor_seq",
  );
  return Number(rows[0].v);
}

/** Keeps the samples whose writers have not all ended yet, and the horizon they allow. */
export class HorizonTracker {
  private pending: HorizonSample[] = [];
  horizon: number;

  constructor(start: number) {
    this.horizon = start;
  }

  /** Adds a sample (taken after every earlier one) and returns the new horizon. */
  add(sample: HorizonSample): number {
    const last = this.pending[this.pending.length - 1];
    // A bounded list: under constant load each entry clears within a transaction's length;
    // skipping a sample only delays the horizon until a later one is taken.
    if (sample.lastCursor > this.horizon && (!last || sample.lastCursor > last.lastCursor) && this.pending.length < 256) {
      this.pending.push({ lastCursor: sample.lastCursor, writers: sample.writers });
    }
    let cut = -1;
    for (let i = 0; i < this.pending.length; i++) {
      const entry = this.pending[i];
      let ended = true;
      for (const writer of entry.writers) {
        if (sample.writers.has(writer)) {
          ended = false;
          break;
        }
      }
      if (ended) cut = i;
    }
    if (cut >= 0) {
      this.horizon = Math.max(this.horizon, this.pending[cut].lastCursor);
      this.pending.splice(0, cut + 1);
    }
    return this.horizon;
  }
}

/** One event as the hub fans it out. */
export interface WatchEvent {
  cursor: number;
  /** 0 for a run event; a JobChangeKind for a job event; SCHEDULE_EVENT_CHANGE for a schedule event. */
  change: number;
  /** A schedule event's decision (schedule_events), with `time` the decision's time. */
  schedule?: { reason: number; count: number; firstScheduledTime: Date; lastScheduledTime: Date };
  runId: string;
  jobId: string;
  state: number;
  attempt: number;
  time: Date;
  error: string;
  queue: string;
  namespace: string;
  labels: Record<string, string>;
  outputExcerpt: string;
}

interface EventRow {
  cursor: number;
  change: number;
  run_id: string | null;
  job_id: string;
  state: number;
  attempt: number;
  time: Date;
  error: string;
  queue: string;
  namespace: string;
  labels: Record<string, string>;
  output_excerpt: string | null;
  reason?: number | null;
  count?: number | null;
  first_scheduled_time?: Date | null;
  last_scheduled_time?: Date | null;
}

/** WatchEvent.change of a schedule event: not a run event (0) nor a JobChangeKind (1-5). */
export const SCHEDULE_EVENT_CHANGE = -1;

export const OUTPUT_EXCERPT_CHARS = 1024;

/** The schedule event columns of a run or job event (schedule events fill them). */
const NO_SCHEDULE_COLUMNS = "NULL::smallint AS reason, NULL::int AS count, NULL::timestamptz AS first_scheduled_time, NULL::timestamptz AS last_scheduled_time";

const RUN_EVENT_SELECT = `
  SELECT e.cursor, 0 AS change, e.run_id, e.job_id, e.state, e.attempt, e.time, e.error,
         r.queue, j.namespace, j.labels,
         CASE WHEN e.state = 4 AND r.output IS NOT NULL THEN left(r.output::text, ${OUTPUT_EXCERPT_CHARS}) END AS output_excerpt,
         ${NO_SCHEDULE_COLUMNS}
  FROM run_event_log e JOIN runs r ON r.id = e.run_id JOIN jobs j ON j.id = e.job_id`;

function toEvent(row: EventRow): WatchEvent {
  return {
    cursor: Number(row.cursor),
    change: row.change,
    runId: row.run_id ?? "",
    jobId: row.job_id,
    state: row.state,
    attempt: row.attempt,
    time: row.time,
    error: row.error,
    queue: row.queue,
    namespace: row.namespace,
    labels: row.labels,
    outputExcerpt: row.output_excerpt ?? "",
    schedule: row.reason
      ? { reason: row.reason, count: row.count!, firstScheduledTime: row.first_scheduled_time!, lastScheduledTime: row.last_scheduled_time! }
      : undefined,
  };
}

/**
 * Every run, job and schedule event with a cursor in (after, upTo], oldest first, at most
 * `limit`; only those of one job when `jobId` is given (WatchJob's replay).
 */
export async function readEvents(pool: pg.Pool, after: number, upTo: number, limit: number, jobId?: string): Promise<WatchEvent[]> {
  const ofJob = (column: string) => (jobId ? ` AND ${column} = $4` : "");
  const { rows } = await pool.query<EventRow>(
    `${RUN_EVENT_SELECT} WHERE e.cursor > $1 AND e.cursor <= $2${ofJob("e.job_id")}
     UNION ALL
     SELECT je.cursor, je.kind AS change, NULL, je.job_id, 0, 0, je.time, '', j.queue, j.namespace, j.labels, NULL, ${NO_SCHEDULE_COLUMNS}
     FROM job_event_log je JOIN jobs j ON j.id = je.job_id
     WHERE je.cursor > $1 AND je.cursor <= $2${ofJob("je.job_id")}
     UNION ALL
     SELECT se.cursor, ${SCHEDULE_EVENT_CHANGE}, NULL, se.job_id, 0, 0, se.time, '', j.queue, j.namespace, j.labels, NULL,
            se.reason, se.count, se.first_scheduled_time, se.last_scheduled_time
     FROM schedule_events se JOIN jobs j ON j.id = se.job_id
     WHERE se.cursor > $1 AND se.cursor <= $2${ofJob("se.job_id")}
     ORDER BY cursor LIMIT $3`,
    jobId ? [after, upTo, limit, jobId] : [after, upTo, limit],
  );
  return rows.map(toEvent);
}

/** Run events in (after, upTo] matching SQL conditions (parameters from $4 on), oldest first. */
export async function readRunEvents(
  pool: pg.Pool,
  after: number,
  upTo: number,
  limit: number,
  conditions: string[],
  params: unknown[],
): Promise<WatchEvent[]> {
  const where = ["e.cursor > $1", "e.cursor <= $2", ...conditions];
  const { rows } = await pool.query<EventRow>(
    `${RUN_EVENT_SELECT} WHERE ${where.join(" AND ")} ORDER BY e.cursor LIMIT $3`,
    [after, upTo, limit, ...params],
  );
  return rows.map(toEvent);
}
