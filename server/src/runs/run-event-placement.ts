import { RunState } from "@chime/sdk";
import type { RunEventRecord, RunRecord } from "./run-lifecycle.js";

/**
 * Where a run's events are stored (migration 0008): the run row shows its current
 * attempt's RUNNING event (start_cursor) and the event that ended that attempt or the run
 * (end_cursor), their fields read from the row as the view run_event_log does; every other
 * event is a run_events row. Pure, so the rule is table-tested: a row cursor is set only
 * when the row shows exactly that event, and an event the row stops showing (a new attempt
 * started, a waiting run cancelled) moves to run_events under the cursor it had.
 */

/** A row's cursor slot after a write: unchanged, a new cursor, or none. */
export type Slot = "keep" | "new" | "clear";

/** An event the row showed and no longer does, with the cursor it keeps. */
export interface SpilledEvent extends RunEventRecord {
  cursor: string;
}

export interface Placement {
  start: Slot;
  end: Slot;
  /** Events to append to run_events, old cursors first (spilled), then new ones in order. */
  spilled: SpilledEvent[];
  appended: RunEventRecord[];
}

const ROW_END_STATES: ReadonlySet<RunState> = new Set([
  RunState.RETRY_WAIT,
  RunState.SUCCEEDED,
  RunState.FAILED,
  RunState.TIMED_OUT,
  RunState.CANCELLED,
]);

/** The current attempt's history entry, as the view reads it (attempts->-1). */
function currentEntry(run: RunRecord) {
  const last = run.attempts[run.attempts.length - 1];
  return last && last.attempt === run.attempt ? last : undefined;
}

/** The RUNNING event the row shows when its start_cursor is set. */
export function rowStartEvent(run: RunRecord): RunEventRecord | undefined {
  const entry = currentEntry(run);
  if (!entry?.startTime || run.state === RunState.QUEUED) return undefined;
  return { runId: run.id, jobId: run.job_id, state: RunState.RUNNING, attempt: run.attempt, time: entry.startTime, error: "" };
}

/** The end event the row shows when its end_cursor is set. */
export function rowEndEvent(run: RunRecord): RunEventRecord | undefined {
  const entry = currentEntry(run);
  if (!entry?.endTime || !ROW_END_STATES.has(run.state)) return undefined;
  return { runId: run.id, jobId: run.job_id, state: run.state, attempt: run.attempt, time: entry.endTime, error: entry.error ?? "" };
}

const sameEvent = (a: RunEventRecord | undefined, b: RunEventRecord | undefined) =>
  !!a && !!b && a.state === b.state && a.attempt === b.attempt && Date.parse(a.time) === Date.parse(b.time) && a.error === b.error;

/** Decides, for one run written from `before` to `after` with new `events` (in order), where each event lives. */
export function placeEvents(before: RunRecord, after: RunRecord, events: RunEventRecord[]): Placement {
  const spilled: SpilledEvent[] = [];
  const slot = (cursor: string | null, shown: RunEventRecord | undefined, shownAfter: RunEventRecord | undefined) => {
    if (cursor === null) return false;
    if (sameEvent(shown, shownAfter)) return true;
    if (shown) spilled.push({ ...shown, cursor });
    return false;
  };
  const startAfter = rowStartEvent(after);
  const endAfter = rowEndEvent(after);
  const keepStart = slot(before.start_cursor, rowStartEvent(before), startAfter);
  const keepEnd = slot(before.end_cursor, rowEndEvent(before), endAfter);
  // The row's new cursors are taken after run_events' new rows (run-store's statement
  // order), so only a tail of the new events can go in the row.
  let start: Slot = keepStart ? "keep" : "clear";
  let end: Slot = keepEnd ? "keep" : "clear";
  let rowFrom = events.length;
  for (let i = events.length - 1; i >= 0; i--) {
    const event = events[i];
    if (end === "clear" && i === events.length - 1 && sameEvent(event, endAfter)) end = "new";
    else if (start === "clear" && sameEvent(event, startAfter)) start = "new";
    else break;
    rowFrom = i;
  }
  return { start, end, spilled, appended: events.slice(0, rowFrom) };
}
