import type pg from "pg";
import type { RunState } from "@chime/sdk/gen/run_pb";
import { inTransaction } from "../db/pool.js";
import { HorizonTracker, readEventWriters, readLastCursor } from "../watch/event-source.js";

/** A run's end, as a consumer of the event log reads it. */
export interface EndedRun {
  cursor: number;
  runId: string;
  jobId: string;
  jobName: string;
  queue: string;
  namespace: string;
  labels: Record<string, string>;
  state: RunState;
  attempt: number;
  /** When it ended (the event's time). */
  time: Date;
  error: string;
  scheduledTime: Date;
  /** The last attempt's start; null when it never started (cancelled while queued). */
  startTime: Date | null;
}

/** Run ends read per page; a pass reads pages while they come full, up to PAGES_PER_PASS. */
const EVENTS_PER_PAGE = 5000;
/** So one pass keeps up with 50,000 run ends per second at the default 1 s interval. */
const PAGES_PER_PASS = 10;

export interface LogConsumer<P, E extends { cursor: number }> {
  /** event_log_consumers.name. */
  name: string;
  /** Whether there is anything to consume for; when not, the cursor just follows the present. */
  active?: () => Promise<boolean>;
  /**
   * Reads the events it consumes with a cursor in (after, upTo], oldest first, at most
   * `limit` (in the pass's transaction): run ends (`readEndedRuns`), schedule events, ...
   */
  read: (client: pg.PoolClient, after: number, upTo: number, limit: number) => Promise<E[]>;
  /** Reads what writing needs (in the pass's transaction, with the cursor locked). */
  prepare: (events: E[]) => Promise<P>;
  /** Writes the result, in the transaction that moves the cursor; returns how many rows it wrote. */
  write: (client: pg.PoolClient, prepared: P) => Promise<number>;
  /** Called once the write is committed, with the events it consumed (for metrics: counted once, by the process that consumed them). */
  committed?: (events: E[], prepared: P) => void;
}

/**
 * A reader of the event log (run ends, schedule events: what its `read` reads) that works behind the scheduler: it reads up to
 * the commit horizon (watch/event-source.ts: no event is skipped because its transaction
 * committed late) from a cursor kept in Postgres, and moves the cursor in the transaction
 * that writes what it made of the events. Each event is consumed exactly once, by whichever
 * process locks the cursor first (several scheduler processes may run the same consumer).
 */
export function createLogConsumerPass<P, E extends { cursor: number }>(pool: pg.Pool, consumer: LogConsumer<P, E>) {
  let tracker: HorizonTracker | undefined;
  return async function pass(): Promise<number> {
    const lastCursor = await readLastCursor(pool);
    if (consumer.active && !(await consumer.active())) {
      await saveCursor(pool, consumer.name, lastCursor);
      tracker = undefined;
      return 0;
    }
    const cursor = await readCursor(pool, consumer.name);
    // Nothing handed out since the cursor (an idle system): no horizon to sample.
    if (lastCursor <= cursor) return 0;
    tracker ??= new HorizonTracker(cursor);
    // The rule's order: the last cursor first, then the writers that may still hold older ones.
    const horizon = tracker.add({ lastCursor, writers: await readEventWriters(pool) });
    if (horizon <= cursor) return 0;
    let written = 0;
    for (let page = 0; page < PAGES_PER_PASS; page++) {
      const consumed = await inTransaction(pool, async (client) => {
        // The cursor is locked before anything is read: another process consuming (or that has
        // consumed) this range skips it rather than reading and preparing the same page.
        const from = await lockCursor(client, consumer.name);
        if (from === undefined || from >= horizon) return undefined;
        const events = await consumer.read(client, from, horizon, EVENTS_PER_PAGE);
        const prepared = await consumer.prepare(events);
        const rows = await consumer.write(client, prepared);
        await saveCursor(client, consumer.name, events.length === EVENTS_PER_PAGE ? events[events.length - 1].cursor : horizon);
        return { rows, events, prepared, full: events.length === EVENTS_PER_PAGE };
      });
      if (consumed === undefined) break;
      consumer.committed?.(consumed.events, consumed.prepared);
      written += consumed.rows;
      if (!consumed.full) break;
    }
    return written;
  };
}

type Queryable = pg.Pool | pg.PoolClient;

async function readCursor(db: Queryable, name: string): Promise<number> {
  const { rows } = await db.query<{ cursor: string }>("SELECT cursor FROM event_log_consumers WHERE name = $1", [name]);
  if (!rows[0]) throw new Error(`event log consumer ${name} has no row in event_log_consumers`);
  return Number(rows[0].cursor);
}

/** The consumer's cursor, locked for this pass; undefined when another process holds it. */
async function lockCursor(client: pg.PoolClient, name: string): Promise<number | undefined> {
  const { rows } = await client.query<{ cursor: string }>("SELECT cursor FROM event_log_consumers WHERE name = $1 FOR UPDATE SKIP LOCKED", [name]);
  return rows[0] ? Number(rows[0].cursor) : undefined;
}

/** Moves the cursor forward (never back); no write when it is already there. */
async function saveCursor(db: Queryable, name: string, cursor: number): Promise<void> {
  await db.query("UPDATE event_log_consumers SET cursor = $2 WHERE name = $1 AND cursor < $2", [name, cursor]);
}

interface EndedRow {
  cursor: string;
  run_id: string;
  job_id: string;
  job_name: string;
  queue: string;
  namespace: string;
  labels: Record<string, string>;
  state: number;
  attempt: number;
  time: Date;
  error: string;
  scheduled_time: Date;
  start_time: Date | null;
}

/** Run ends (SUCCEEDED, FAILED, CANCELLED, TIMED_OUT) with a cursor in (after, upTo], oldest first. */
export async function readEndedRuns(db: Queryable, after: number, upTo: number, limit: number): Promise<EndedRun[]> {
  const { rows } = await db.query<EndedRow>(
    `SELECT e.cursor, e.run_id, e.job_id, j.name AS job_name, r.queue, j.namespace, j.labels, e.state, e.attempt, e.time, e.error, r.scheduled_time, r.start_time
     FROM run_event_log e JOIN runs r ON r.id = e.run_id JOIN jobs j ON j.id = e.job_id
     WHERE e.cursor > $1 AND e.cursor <= $2 AND e.state IN (4, 5, 6, 7)
     ORDER BY e.cursor LIMIT $3`,
    [after, upTo, limit],
  );
  return rows.map((row) => ({
    cursor: Number(row.cursor),
    runId: row.run_id,
    jobId: row.job_id,
    jobName: row.job_name,
    queue: row.queue,
    namespace: row.namespace,
    labels: row.labels,
    state: row.state,
    attempt: row.attempt,
    time: row.time,
    error: row.error,
    scheduledTime: row.scheduled_time,
    startTime: row.start_time,
  }));
}
