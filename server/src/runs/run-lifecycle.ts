import type { JsonObject } from "@bufbuild/protobuf";
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { RunState, RunStateSchema, type RunAttemptJson, type RunStateJson, type RunStatusUpdate } from "@chime/sdk";

/**
 * The run state machine: every change of a run's state is decided here, by pure functions
 * (no I/O, the time passed in), and written by run-store.ts. The scheduler, the API and
 * status ingestion describe what happened (a worker's report, a cancellation); this module
 * says what the run becomes, which events that makes, or why the input is refused.
 *
 *   QUEUED ──RUNNING(a)──► RUNNING(a) ──► SUCCEEDED | FAILED | TIMED_OUT | CANCELLED
 *      │                      │  └──RETRY_WAIT(a)──► RETRY_WAIT ──RUNNING(a+1)──► …
 *      └──cancel──► CANCELLED └──cancel: flagged (cancel_requested_time); its worker ends it
 *
 * Attempt fencing (DESIGN invariant 4): a run's attempt only grows, and a report of an
 * attempt below the stored one — a superseded delivery — never changes it.
 */

/**
 * A point in time as text, as Postgres writes a timestamptz or as toISOString() does; both
 * are read back by Postgres. Runs pass through here by the thousand per second, and a Date
 * costs a parse on the way in and a toJSON on the way out (JSON.stringify of a batch of
 * records spent most of its time in Date.prototype.toJSON).
 */
export type Instant = string;

/** The part of a stored run the lifecycle decides on (column names as stored). */
export interface RunRecord {
  id: string;
  job_id: string;
  state: RunState;
  attempt: number;
  start_time: Instant | null;
  end_time: Instant | null;
  output: JsonObject | null;
  error: string;
  /**
   * The attempt history in the proto3 JSON form it is stored in, and edited as such:
   * converting every attempt to a message and back on each update cost ingestion most of
   * its CPU.
   */
  attempts: RunAttemptJson[];
  cancel_requested_time: Instant | null;
  /** When JetStream stored the run's message; NULL while unconfirmed (the outbox). */
  dispatch_time: Instant | null;
  /** Cursors of the events the row shows (run-event-placement.ts); the lifecycle leaves them to the store. */
  start_cursor: string | null;
  end_cursor: string | null;
}

/** One state change, as it is appended to the run's event log. */
export interface RunEventRecord {
  runId: string;
  jobId: string;
  state: RunState;
  attempt: number;
  time: Instant;
  error: string;
}

/** Why an input was refused; each is counted (chime_status_rejected_total{reason}). */
export type Rejection = "stale_attempt" | "run_ended";

export type Transition =
  | { ok: true; run: RunRecord; events: RunEventRecord[] }
  | { ok: false; reason: Rejection };

/** What can happen to a run after it is queued. */
export type RunInput =
  /** A worker's report of one of its attempts (RUNNING, RETRY_WAIT or an end state). */
  | { kind: "report"; update: RunStatusUpdate }
  /** CancelRun, DeleteJob, PauseJob (runs written ahead), CANCEL_PREVIOUS. */
  | { kind: "cancel" };

export const ACTIVE_RUN_STATES: readonly RunState[] = [RunState.QUEUED, RunState.RUNNING, RunState.RETRY_WAIT];
const ACTIVE = new Set(ACTIVE_RUN_STATES);

/** States a worker may report. */
export const REPORTABLE_STATES: ReadonlySet<RunState> = new Set([
  RunState.RUNNING,
  RunState.RETRY_WAIT,
  RunState.SUCCEEDED,
  RunState.FAILED,
  RunState.TIMED_OUT,
  RunState.CANCELLED,
]);

/** Every run starts here; its first event is written with its row. */
export const INITIAL_RUN_STATE = RunState.QUEUED;

export const MAX_ERROR_CHARS = 4096;

function isActive(state: RunState): boolean {
  return ACTIVE.has(state);
}

/** A run state's proto3 JSON name ("RUN_STATE_RUNNING"), as stored in attempts. */
const stateJson = (state: RunState) => RunStateSchema.value[state].name as RunStateJson;

const truncate = (text: string) => (text.length > MAX_ERROR_CHARS ? `${text.slice(0, MAX_ERROR_CHARS)}…` : text);

/** Decides what `input` makes of `run` at `now`. Never mutates `run`. */
export function transition(run: RunRecord, input: RunInput, now: Date): Transition {
  return input.kind === "cancel" ? cancel(run, now.toISOString()) : report(run, input.update, now);
}

/** A Timestamp as ISO text (what toISOString gives, without making a Date of the Timestamp first). */
function instantOf(ts: Timestamp): Instant {
  return new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1_000_000)).toISOString();
}

/**
 * A cancellation: a run that has not started (QUEUED, or RETRY_WAIT between attempts) ends
 * CANCELLED at once; a RUNNING one is only flagged, and the worker holding it aborts its
 * handler and reports CANCELLED. An ended run cannot be cancelled.
 */
function cancel(run: RunRecord, now: Instant): Transition {
  if (!isActive(run.state)) return { ok: false, reason: "run_ended" };
  const flagged = { ...run, cancel_requested_time: run.cancel_requested_time ?? now };
  if (run.state === RunState.RUNNING) return { ok: true, run: flagged, events: [] };
  return {
    ok: true,
    run: { ...flagged, state: RunState.CANCELLED, end_time: now },
    events: [{ runId: run.id, jobId: run.job_id, state: RunState.CANCELLED, attempt: run.attempt, time: now, error: "" }],
  };
}

/**
 * A worker's report of attempt a, with attempt fencing:
 * - RUNNING(a) starts attempt a: the run must be active and its stored attempt below a.
 * - RETRY_WAIT/SUCCEEDED/FAILED/TIMED_OUT/CANCELLED(a) end attempt a: the run must be
 *   RUNNING attempt a — or active with a stored attempt below a, when the worker left the
 *   RUNNING out (the attempt ended before it was sent) or the report overtook it (another
 *   ingest replica, a redelivered batch): the start is implied, at the report's start_time.
 * - Anything for an attempt below the stored one (a superseded, lost attempt) and anything
 *   after the run ended is refused.
 * Starting attempt a closes any attempt still open: its worker stopped heartbeating and
 * JetStream handed the run on, so it is recorded as lost.
 */
function report(run: RunRecord, update: RunStatusUpdate, now: Date): Transition {
  const a = update.attempt;
  if (!isActive(run.state)) return { ok: false, reason: "run_ended" };
  if (a < run.attempt) return { ok: false, reason: "stale_attempt" };
  if (update.state === RunState.RUNNING && a === run.attempt && run.state === RunState.RUNNING && update.logLines.length > 0) {
    // The lines the running attempt's handler logged so far (the worker sends them while it
    // runs): accepted for their lines, the run as it was.
    return { ok: true, run, events: [] };
  }
  if (update.state === RunState.RUNNING ? a === run.attempt : a === run.attempt && run.state !== RunState.RUNNING) {
    return { ok: false, reason: "stale_attempt" };
  }
  const time = update.time ? instantOf(update.time) : now.toISOString();
  const next: RunRecord = { ...run, attempts: run.attempts };
  // A worker that has the run was sent it: its stream timestamp confirms the dispatch the
  // leader records lazily (or has not recorded, having crashed after the publish).
  if (!next.dispatch_time && update.dispatchTime) next.dispatch_time = instantOf(update.dispatchTime);
  const events: RunEventRecord[] = [];

  if (a > run.attempt) {
    const at = update.state === RunState.RUNNING || !update.startTime ? time : instantOf(update.startTime);
    next.attempts = [
      ...run.attempts.map((entry) =>
        entry.endTime
          ? entry
          : {
              ...entry,
              state: stateJson(RunState.FAILED),
              endTime: at,
              error: `lost: no heartbeat from worker ${entry.workerId || "?"}; superseded by attempt ${a}`,
            },
      ),
      { attempt: a, state: stateJson(RunState.RUNNING), startTime: at, workerId: update.workerId },
    ];
    next.state = RunState.RUNNING;
    next.attempt = a;
    next.start_time = run.start_time ?? at;
    next.end_time = null;
    events.push({ runId: run.id, jobId: run.job_id, state: RunState.RUNNING, attempt: a, time: at, error: "" });
  }
  if (update.state === RunState.RUNNING) return { ok: true, run: next, events };

  const error = truncate(update.error);
  // The attempt's own outcome: a retried attempt failed or timed out; the run waits.
  const attemptState =
    update.state === RunState.RETRY_WAIT ? (update.attemptState === RunState.TIMED_OUT ? RunState.TIMED_OUT : RunState.FAILED) : update.state;
  const last = next.attempts.findLastIndex((entry) => entry.attempt === a);
  if (last >= 0) {
    next.attempts = next.attempts.slice();
    next.attempts[last] = { ...next.attempts[last], state: stateJson(attemptState), endTime: time, error };
  }
  next.state = update.state;
  // A run that succeeded on a retry has no error: the earlier attempts keep theirs.
  next.error = update.state === RunState.SUCCEEDED ? "" : error;
  if (update.state === RunState.SUCCEEDED) next.output = (update.output as JsonObject | undefined) ?? null;
  if (update.state !== RunState.RETRY_WAIT) next.end_time = time;
  events.push({ runId: run.id, jobId: run.job_id, state: update.state, attempt: a, time, error });
  return { ok: true, run: next, events };
}
