import { setTimeout as sleep } from "node:timers/promises";
import type { RunLogLine } from "@chime/sdk/gen/run_pb";
import type pg from "pg";
import { notFound } from "../api/errors.js";
import { ACTIVE_RUN_STATES } from "./run-lifecycle.js";
import { readRunLogs, runLogToken, type RunLogKey } from "./run-log-store.js";

/** Lines per read at most. */
const PAGE = 1000;

/**
 * A run's stored lines after `after`, then new ones as they are stored, until the run has
 * ended and every line is sent. It polls (a primary-key range read every `intervalMs`, only
 * while someone follows) rather than listening: lines are stored with the update that
 * ends an attempt, so they come in a few bursts per run.
 */
export async function* followRunLogs(
  pool: pg.Pool,
  runId: string,
  after: RunLogKey | undefined,
  signal: AbortSignal,
  intervalMs = 250,
): AsyncGenerator<{ lines: RunLogLine[]; pageToken: string }> {
  let key = after;
  while (!signal.aborted) {
    // The state is read before the lines: lines of an ended run are all stored by then.
    const { rows } = await pool.query<{ state: number }>("SELECT state FROM runs WHERE id = $1", [runId]);
    if (rows.length === 0) throw notFound("run", runId);
    const ended = !ACTIVE_RUN_STATES.includes(rows[0].state);
    for (;;) {
      const lines = await readRunLogs(pool, runId, key, PAGE);
      if (lines.length === 0) break;
      key = lines[lines.length - 1];
      yield { lines, pageToken: runLogToken(runId, key) };
      if (lines.length < PAGE) break;
    }
    if (ended) return;
    await sleep(intervalMs, undefined, { signal }).catch(() => undefined); // an abort ends the loop
  }
}
