import type pg from "pg";
import { RunState } from "@chime/sdk/gen/run_pb";
import type { EndedRun } from "../../src/events/log-consumer.js";
import { rollUp, writeMinuteRows } from "../../src/stats/queue-stats-rollup.js";

/** A run end to lay into the rollups: started `lagMs` after it was scheduled and ran `durationMs` (never started when unset). */
export interface PastEnd {
  queue: string;
  namespace?: string;
  state: RunState;
  end: Date;
  durationMs?: number;
  lagMs?: number;
}

/**
 * Writes run ends into queue_stats_minutes as the queue_stats rollup would have (its own
 * rollUp and write), so a test lays out history across minutes without waiting for them.
 */
export async function writePastEnds(pool: pg.Pool, ends: readonly PastEnd[]): Promise<void> {
  const runs = ends.map((e, i): EndedRun => {
    const startTime = e.durationMs === undefined ? null : new Date(e.end.getTime() - e.durationMs);
    return {
      cursor: i + 1,
      runId: `past-${i}`,
      jobId: "past",
      jobName: "past",
      queue: e.queue,
      namespace: e.namespace ?? "default",
      labels: {},
      state: e.state,
      attempt: 1,
      time: e.end,
      error: "",
      scheduledTime: new Date((startTime ?? e.end).getTime() - (e.lagMs ?? 0)),
      startTime,
    };
  });
  const client = await pool.connect();
  try {
    await writeMinuteRows(client, rollUp(runs));
  } finally {
    client.release();
  }
}

/** Postgres' now, rounded down to its minute: the clock GetRunSeries and GetQueueStats count by. */
export async function databaseMinute(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ now: Date }>("SELECT date_trunc('minute', now()) AS now");
  return rows[0].now.getTime();
}
