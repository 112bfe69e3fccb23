import type pg from "pg";
import { RunState } from "@chime/sdk";
import type { Load } from "./load.js";

/** How each owed fire turned out, in the manner of Jepsen's checkers. */
export interface Verdict {
  expected: number;
  /** One run, SUCCEEDED at its first attempt, started within `onTimeMs` of its time. */
  onTime: number;
  /** One run, SUCCEEDED at its first attempt, started later. */
  late: number;
  /** One run, SUCCEEDED after a lost or failed attempt (a fault took its first). */
  recovered: number;
  /** No run for the time, or a run that did not succeed. */
  lost: number;
  /** More than one run for the time, or more than one SUCCEEDED of a run. */
  duplicated: number;
  /** Handler executions that ran to their end beyond one per run (at-least-once: not a fault of the record). */
  reExecuted: number;
  /** Runs started before their scheduled time (by the worker's clock, which no fault steps). */
  early: number;
  /** The latest start after its scheduled time, in ms. */
  maxLagMs: number;
}

interface RunRow {
  job_id: string;
  scheduled_ms: string;
  state: number;
  attempt: number;
  lag_ms: string | null;
  succeeded: number;
  id: string;
}

/** Checks every fire the load owes against the runs in Postgres and the handlers' log. */
export async function check(pool: pg.Pool, load: Load, handlerEnds: Map<string, number>, onTimeMs = 1000): Promise<Verdict> {
  const { rows } = await pool.query<RunRow>(
    // One pass over the events (a subquery per run would scan them once a run: there is no run_id index).
    `WITH succeeded AS (SELECT run_id, count(*)::int AS n FROM run_event_log WHERE state = $1 GROUP BY run_id)
     SELECT r.id, r.job_id, (extract(epoch FROM r.scheduled_time) * 1000)::bigint AS scheduled_ms, r.state, r.attempt,
            (extract(epoch FROM (r.start_time - r.scheduled_time)) * 1000)::bigint AS lag_ms,
            coalesce(s.n, 0) AS succeeded
       FROM runs r LEFT JOIN succeeded s ON s.run_id = r.id`,
    [RunState.SUCCEEDED],
  );
  const byFire = new Map<string, RunRow[]>();
  for (const row of rows) {
    const key = `${row.job_id}@${row.scheduled_ms}`;
    byFire.set(key, [...(byFire.get(key) ?? []), row]);
  }
  const owed: string[] = [];
  for (const cron of load.crons) {
    for (let t = Math.floor(cron.createdAt.getTime() / 1000) * 1000 + 1000; t <= load.end.getTime(); t += 1000) owed.push(`${cron.id}@${t}`);
  }
  for (const once of load.oneOffs) owed.push(`${once.id}@${once.at.getTime()}`);

  const verdict: Verdict = { expected: owed.length, onTime: 0, late: 0, recovered: 0, lost: 0, duplicated: 0, reExecuted: 0, early: 0, maxLagMs: 0 };
  for (const key of owed) {
    const runs = byFire.get(key) ?? [];
    const run = runs[0];
    if (runs.length > 1 || (run && run.succeeded > 1)) verdict.duplicated++;
    if (runs.some((r) => r.lag_ms !== null && Number(r.lag_ms) < 0)) verdict.early++;
    if (!run || run.state !== RunState.SUCCEEDED) {
      verdict.lost++;
      continue;
    }
    verdict.reExecuted += Math.max(0, (handlerEnds.get(run.id) ?? 1) - 1);
    const lag = Number(run.lag_ms ?? 0);
    verdict.maxLagMs = Math.max(verdict.maxLagMs, lag);
    if (run.attempt > 1) verdict.recovered++;
    else if (lag <= onTimeMs) verdict.onTime++;
    else verdict.late++;
  }
  return verdict;
}
