import { Code, ConnectError } from "@connectrpc/connect";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import type { Run, RunState } from "@chime/sdk/gen/run_pb";
import { jobs, watch, errorMessage } from "./api";

/**
 * A live feed of runs behind one interface, whichever way the server offers it:
 * WatchService.WatchRuns (a server stream, resumed from the last event's token after
 * a break) or, where the server does not implement it, ListRuns polled every second.
 * Both reconnect on their own and report when they are reconnecting.
 */

export interface FeedFilter {
  jobId?: string;
  queue?: string;
  states?: RunState[];
}

export interface FeedRow {
  runId: string;
  jobId: string;
  queue: string;
  state: RunState;
  attempt: number;
  /** The last change of the run seen. */
  time: Date;
  scheduledTime?: Date;
  trigger?: number;
  error: string;
}

export interface FeedStatus {
  mode: "watch" | "poll";
  connection: "connecting" | "live" | "reconnecting";
  /** Why the last attempt failed, while reconnecting. */
  error?: string;
}

export interface FeedHandlers {
  rows(rows: FeedRow[]): void;
  status(status: FeedStatus): void;
}

const MAX_ROWS = 200;
const POLL_MS = 1000;
/** Set once the server answers WatchRuns with UNIMPLEMENTED: this page polls from then on. */
let watchUnimplemented = false;

const ts = (t: Timestamp | undefined) => (t ? timestampDate(t) : undefined);

export function rowOfRun(run: Run): FeedRow {
  return {
    runId: run.id,
    jobId: run.jobId,
    queue: run.queue,
    state: run.state,
    attempt: run.attempt,
    time: ts(run.updateTime) ?? ts(run.createTime) ?? new Date(0),
    scheduledTime: ts(run.scheduledTime),
    trigger: run.trigger,
    error: run.error,
  };
}

function matches(row: FeedRow, filter: FeedFilter): boolean {
  return (
    (!filter.jobId || row.jobId === filter.jobId) &&
    (!filter.queue || row.queue === filter.queue) &&
    (!filter.states?.length || filter.states.includes(row.state))
  );
}

function sortRows(rows: Iterable<FeedRow>): FeedRow[] {
  return [...rows]
    .sort((a, b) => (b.scheduledTime?.getTime() ?? b.time.getTime()) - (a.scheduledTime?.getTime() ?? a.time.getTime()) || b.time.getTime() - a.time.getTime())
    .slice(0, MAX_ROWS);
}

async function listLatest(filter: FeedFilter, signal: AbortSignal): Promise<FeedRow[]> {
  const response = await jobs.listRuns(
    { pageSize: filter.queue ? 500 : 100, jobId: filter.jobId ?? "", states: filter.states ?? [] },
    { signal, timeoutMs: 10_000 },
  );
  return response.runs.map(rowOfRun).filter((row) => matches(row, filter));
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => (clearTimeout(timer), resolve()), { once: true });
  });

/** Starts the feed; returns a function that stops it. */
export function subscribeRuns(filter: FeedFilter, handlers: FeedHandlers): () => void {
  const abort = new AbortController();
  const signal = abort.signal;
  const rows = new Map<string, FeedRow>();
  const publish = () => {
    const sorted = sortRows(rows.values());
    // Forget what fell off the end so memory stays bounded.
    if (rows.size > MAX_ROWS) for (const id of [...rows.keys()]) if (!sorted.some((r) => r.runId === id)) rows.delete(id);
    handlers.rows(sorted);
  };
  const merge = (row: FeedRow) => {
    const known = rows.get(row.runId);
    if (!known || known.time.getTime() <= row.time.getTime()) {
      rows.set(row.runId, { ...known, ...row, queue: row.queue || known?.queue || "", scheduledTime: row.scheduledTime ?? known?.scheduledTime, trigger: row.trigger ?? known?.trigger });
    }
  };

  /** Merges the latest runs into the feed (newer events win over them). */
  const seed = (attemptSignal: AbortSignal) =>
    listLatest(filter, attemptSignal).then(
      (latest) => {
        for (const row of latest) merge(row);
        publish();
      },
      () => undefined,
    );

  const poll = async () => {
    let failures = 0;
    handlers.status({ mode: "poll", connection: "connecting" });
    while (!signal.aborted) {
      try {
        const latest = await listLatest(filter, signal);
        rows.clear();
        for (const row of latest) rows.set(row.runId, row);
        publish();
        failures = 0;
        handlers.status({ mode: "poll", connection: "live" });
        await sleep(POLL_MS, signal);
      } catch (error) {
        if (signal.aborted) return;
        failures++;
        handlers.status({ mode: "poll", connection: "reconnecting", error: errorMessage(error) });
        await sleep(Math.min(POLL_MS * 2 ** Math.min(failures, 3), 5000), signal);
      }
    }
  };

  const watchLoop = async () => {
    let resumeToken = "";
    let failures = 0;
    handlers.status({ mode: "watch", connection: "connecting" });
    while (!signal.aborted) {
      const attempt = new AbortController();
      const stopAttempt = () => attempt.abort();
      signal.addEventListener("abort", stopAttempt, { once: true });
      try {
        const stream = watch.watchRuns(
          { jobIds: filter.jobId ? [filter.jobId] : [], queues: filter.queue ? [filter.queue] : [], states: filter.states ?? [], resumeToken },
          { signal: attempt.signal },
        );
        // Fill the feed with the latest runs while the stream opens (first connection, or a
        // resume whose token the server may no longer hold); newer events win over them.
        const seeding = seed(attempt.signal);
        let registered = false;
        for await (const message of stream) {
          failures = 0;
          handlers.status({ mode: "watch", connection: "live" });
          if (!registered) {
            // The stream's first message says the server is following it: a change made after
            // the seed's list was read but before the stream began is in neither, so the list is
            // read once more (a run page would otherwise wait for the run's next change).
            registered = true;
            void seed(attempt.signal);
          }
          if (message.kind.case !== "event") continue;
          const event = message.kind.value;
          resumeToken = event.resumeToken || resumeToken;
          const isNew = !rows.has(event.runId);
          merge({
            runId: event.runId,
            jobId: event.jobId,
            queue: rows.get(event.runId)?.queue ?? "",
            state: event.state,
            attempt: event.attempt,
            time: ts(event.time) ?? new Date(),
            error: event.error,
          });
          if (isNew) {
            // The event does not carry the run's queue or scheduled time: fetch them once.
            void jobs.getRun({ id: event.runId }, { signal: attempt.signal }).then(
              ({ run }) => {
                if (run && rows.has(run.id)) {
                  const known = rows.get(run.id)!;
                  rows.set(run.id, { ...known, queue: run.queue, scheduledTime: ts(run.scheduledTime), trigger: run.trigger });
                  publish();
                }
              },
              () => undefined,
            );
          }
          publish();
        }
        await seeding;
        if (signal.aborted) return;
        // The server ended the stream (it is shutting down): reconnect.
        throw new ConnectError("the stream ended", Code.Unavailable);
      } catch (error) {
        if (signal.aborted) return;
        if (ConnectError.from(error).code === Code.Unimplemented) {
          watchUnimplemented = true;
          return poll();
        }
        failures++;
        handlers.status({ mode: "watch", connection: "reconnecting", error: errorMessage(error) });
        await sleep(Math.min(500 * 2 ** Math.min(failures - 1, 4), 8000), signal);
      } finally {
        attempt.abort();
        signal.removeEventListener("abort", stopAttempt);
      }
    }
  };

  void (watchUnimplemented ? poll() : watchLoop());
  return () => abort.abort();
}
