import { encodeRunAssignment, type Job, type NatsLayout, type RunAssignment } from "@chime/sdk";
import type pg from "pg";
import type { Logger } from "../logger.js";
import { markDispatched, type AckedRuns } from "../runs/run-store.js";
import type { Metrics } from "../metrics.js";
import type { AckedPublisher } from "../nats/acked-publisher.js";
import { toTimestamp } from "../util/time.js";

/** A committed QUEUED run, ready to be published. */
export interface PendingRun {
  id: string;
  scheduledTime: Date;
  job: Job;
}

export type { AckedRuns };

export type PublishPath = "scheduler" | "trigger" | "reconciler";

const PUBLISH_TIMEOUT_MS = 5000;

/** A RunAssignment with every field at its default (the codec writes only what is set). */
const EMPTY_ASSIGNMENT: RunAssignment = { $typeName: "chime.v1.RunAssignment", runId: "", jobId: "", jobName: "", namespace: "", queue: "", labels: {} };

/** The part of a run's RunAssignment that comes from its job, encoded once per Job object. */
const encodedJobParts = new WeakMap<Job, Uint8Array>();

function encodedJobPart(job: Job): Uint8Array {
  let encoded = encodedJobParts.get(job);
  if (!encoded) {
    encoded = encodeRunAssignment({
      ...EMPTY_ASSIGNMENT,
      jobId: job.id,
      jobName: job.name,
      namespace: job.namespace,
      queue: job.queue,
      payload: job.payload,
      labels: job.labels,
      retryPolicy: job.retryPolicy,
      attemptTimeout: job.attemptTimeout,
      http: job.http,
    });
    encodedJobParts.set(job, encoded);
  }
  return encoded;
}

/**
 * A run's RunAssignment, encoded. Protobuf reads concatenated encodings as one message
 * with the fields of both, so the run's own fields are encoded and followed by its job's
 * part, which the leader encodes once for all the fires of a (cached) job definition.
 */
export function encodeAssignment(run: PendingRun): Uint8Array {
  const own = encodeRunAssignment({ ...EMPTY_ASSIGNMENT, runId: run.id, scheduledTime: toTimestamp(run.scheduledTime) });
  const jobPart = encodedJobPart(run.job);
  const encoded = new Uint8Array(own.length + jobPart.length);
  encoded.set(own, 0);
  encoded.set(jobPart, own.length);
  return encoded;
}

/** Records the dispatch of acknowledged runs (their `dispatch_time`). */
export type RecordDispatch = (acked: AckedRuns) => Promise<void>;

/** Acknowledged runs waiting at most; past this they are written at once (a bound on memory). */
const MAX_DEFERRED = 100_000;

/**
 * Records dispatches late and only where still needed: each acknowledged run waits at least
 * `delayMs`, then one `write` (for the leader, one fenced statement) sets the dispatch time of
 * those that still have none. A worker that takes a run meanwhile confirms its dispatch with
 * its first report (the message's stream timestamp, written with the status update: see
 * RunStatusUpdate.dispatch_time), so a run picked up within the delay costs no write of its
 * own for its dispatch; only runs left waiting in the queue are written here. A write takes
 * every run whose delay is over and none younger (a run published just before a write would
 * be written before its worker could report it: a second write of its row, and a wait on the
 * ingester's lock of it); writes come at most every half delay, so a run waits at most one and
 * a half (`longestRecordWaitMs`).
 *
 * It resolves at once: a publish never waits for its record. A write that fails is logged
 * by `onError`; its runs stay in the outbox, the reconciler (whose grace period is longer
 * than the longest wait) publishes them again, and JetStream drops the duplicate inside its
 * window.
 */
export function createDeferredDispatchRecorder(options: {
  delayMs: number;
  write: (acked: AckedRuns) => Promise<void>;
  onError: (error: unknown) => void;
  /** A monotonic clock in ms (tests: the fake timers' Date.now): a wall clock step must not hold or hurry records. */
  now?: () => number;
}): RecordDispatch {
  const now = options.now ?? (() => performance.now());
  /** Runs by publish, oldest first, each with the time its delay is over (on `now`'s clock). */
  const waiting: Array<{ runs: AckedRuns; dueAt: number }> = [];
  let count = 0;
  let timer: NodeJS.Timeout | undefined;
  const write = (rows: AckedRuns) => {
    if (rows.length > 0) options.write(rows).catch(options.onError);
  };
  const arm = (at: number) => {
    timer = setTimeout(flushDue, Math.max(0, Math.ceil(at - now())));
  };
  function flushDue() {
    timer = undefined;
    const at = now();
    const rows: AckedRuns = [];
    while (waiting.length > 0 && waiting[0].dueAt <= at) {
      const { runs } = waiting.shift()!;
      count -= runs.length;
      for (const run of runs) rows.push(run);
    }
    write(rows);
    // After a write the next comes half a delay later at the soonest. A timer may also fire a
    // little early (it counts from the event loop's cached time), nothing due yet: it is armed
    // again for the oldest.
    if (waiting.length > 0) arm(rows.length > 0 ? Math.max(waiting[0].dueAt, at + options.delayMs / 2) : waiting[0].dueAt);
  }
  return (acked) => {
    if (acked.length === 0) return Promise.resolve();
    waiting.push({ runs: acked, dueAt: now() + options.delayMs });
    count += acked.length;
    if (count >= MAX_DEFERRED) {
      // Past the memory bound: everything now, the young runs too.
      clearTimeout(timer);
      timer = undefined;
      const rows = waiting.splice(0).flatMap((w) => w.runs);
      count = 0;
      write(rows);
    } else if (!timer) arm(waiting[0].dueAt);
    return Promise.resolve();
  };
}

/** The longest a run waits in a deferred dispatch recorder of `delayMs`: the reconciler's grace is longer. */
export const longestRecordWaitMs = (delayMs: number): number => delayMs * 1.5;

/**
 * Publishes runs to JetStream (as one batch, awaiting every ack) with the run id as
 * Nats-Msg-Id, then records their dispatch time. A run whose publish fails keeps a NULL
 * dispatch time, and the reconciler publishes it again; a duplicate inside the dedup
 * window is dropped by JetStream.
 */
export function createRunPublisher(options: {
  pool: pg.Pool;
  nats: () => AckedPublisher | undefined;
  layout: NatsLayout;
  metrics: Metrics;
  logger: Logger;
  /** CHIME_DISPATCH_RECORD_DELAY_MS: runs a worker reports within it have their dispatch recorded with the report. */
  recordDelayMs: number;
  /** Postgres' time (database-clock.ts): dispatch times and lag are not taken from a stepped wall clock. */
  now: () => Date;
}) {
  // TriggerJob's runs: recorded like the leader's, late and only where no worker confirmed them.
  const recordLater = createDeferredDispatchRecorder({
    delayMs: options.recordDelayMs,
    write: (acked) => markDispatched(options.pool, acked),
    onError: (error) => options.logger.warn({ err: error }, "recording dispatched runs failed; the reconciler will confirm them"),
  });
  return {
    /** Returns the ids that were published. `record` writes their dispatch (fenced, for the leader). */
    async publish(runs: PendingRun[], path: PublishPath, record: RecordDispatch = recordLater): Promise<string[]> {
      if (runs.length === 0) return [];
      const nats = options.nats();
      if (!nats) {
        options.metrics.publishFailures.inc(runs.length);
        return [];
      }
      const outcomes = await nats.publish(
        runs.map((run) => ({
          subject: options.layout.runSubject(run.job.namespace, run.job.queue),
          data: encodeAssignment(run),
          msgId: run.id,
        })),
        PUBLISH_TIMEOUT_MS,
      );
      const ackedAt = options.now();
      const acked = runs.filter((_, i) => outcomes[i].ok);
      const failed = runs.length - acked.length;
      if (failed > 0) {
        options.metrics.publishFailures.inc(failed);
        const reason = outcomes.find((o) => !o.ok) as { error: string };
        options.logger.warn({ failed, reason: reason.error }, "run publish failed; the reconciler will retry");
      }
      if (acked.length === 0) return [];
      await record(acked.map((run) => ({ id: run.id, ackedAt })));
      for (const run of acked) {
        options.metrics.dispatchLag.observe(Math.max(0, ackedAt.getTime() - run.scheduledTime.getTime()) / 1000);
      }
      countByQueue(acked, (queue, count) => options.metrics.runsDispatched.inc({ path, queue }, count));
      return acked.map((run) => run.id);
    },
  };
}

export type RunPublisher = ReturnType<typeof createRunPublisher>;

/** Calls `each` once per queue with its number of runs (a batch usually holds a few queues). */
function countByQueue(runs: PendingRun[], each: (queue: string, count: number) => void): void {
  const counts = new Map<string, number>();
  for (const run of runs) counts.set(run.job.queue, (counts.get(run.job.queue) ?? 0) + 1);
  for (const [queue, count] of counts) each(queue, count);
}
