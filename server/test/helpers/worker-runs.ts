import { RunState, type ChimeClient, type Run } from "@chime/sdk";
import type pg from "pg";
import { waitFor } from "./wait.js";

const TERMINAL = [RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.TIMED_OUT];

/** The only run of a job, once it exists. */
export async function onlyRunOf(chime: ChimeClient, jobId: string, timeoutMs = 15_000): Promise<Run> {
  return waitFor(`a run of job ${jobId}`, async () => {
    for await (const run of chime.listRuns({ jobId })) return run;
    return undefined;
  }, { timeoutMs });
}

/** Waits until the run ended and returns it. */
export async function terminalRun(chime: ChimeClient, runId: string, timeoutMs = 30_000): Promise<Run> {
  return waitFor(`run ${runId} to end`, async () => {
    const run = await chime.getRun(runId);
    return TERMINAL.includes(run.state) ? run : undefined;
  }, { timeoutMs, intervalMs: 50 });
}

/** The run's events, oldest first. */
export async function eventsOf(pool: pg.Pool, runId: string): Promise<Array<{ state: RunState; attempt: number; error: string }>> {
  const { rows } = await pool.query<{ state: number; attempt: number; error: string }>(
    "SELECT state, attempt, error FROM run_event_log WHERE run_id = $1 ORDER BY cursor",
    [runId],
  );
  return rows;
}
