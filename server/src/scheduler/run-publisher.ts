import { create, toBinary } from "@bufbuild/protobuf";
import { RunAssignmentSchema, type Job, type NatsLayout } from "@chime/sdk";
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

/** The part of a run's RunAssignment that comes from its job, encoded once per Job object. */
const encodedJobParts = new WeakMap<Job, Uint8Array>();

function encodedJobPart(job: Job): Uint8Array {
  let encoded = encodedJobParts.get(job);
  if (!encoded) {
    encoded = toBinary(
      RunAssignmentSchema,
      create(RunAssignmentSchema, {
        jobId: job.id,
        jobName: job.name,
        namespace: job.namespace,
        queue: job.queue,
        payload: job.payload,
        labels: job.labels,
        retryPolicy: job.retryPolicy,
        attemptTimeout: job.attemptTimeout,
        http: job.http,
      }),
    );
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
  const own = toBinary(RunAssignmentSchema, create(RunAssignmentSchema, { runId: run.id, scheduledTime: toTimestamp(run.scheduledTime) }));
  const jobPart = encodedJobPart(run.job);
  const encoded = new Uint8Array(own.length + jobPart.length);
  encoded.set(own, 0);
  encoded.set(jobPart, own.length);
  return encoded;
}

/** Records the dispatch of acknowledged runs (their `dispatch_time`). */
export type RecordDispatch = (acked: AckedRuns) => Promise<void>;

/** Acknowledged runs recorded at once, without waiting for others to share the write. */
const RECORD_AT_ONCE = 500;

/**
 * Records dispatches in batches: the runs of publishes acknowledged within `windowMs` of the
 * first one waiting share one `write` (for the leader, one fenced transaction). Runs written
 * ahead are released a few at a time, as each falls due; marking them one small transaction
 * per release was, at a few thousand runs per second, a transaction per millisecond. Waiting
 * is safe: a run without a dispatch time is only republished by the reconciler after its
 * grace period, and JetStream drops a republish inside its duplicate window.
 */
export function createDispatchRecorder(options: { windowMs: number; write: (acked: AckedRuns) => Promise<void> }): RecordDispatch {
  let pending: AckedRuns = [];
  let waiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    const rows = pending;
    const settle = waiters;
    pending = [];
    waiters = [];
    options.write(rows).then(
      () => settle.forEach((w) => w.resolve()),
      (error: unknown) => settle.forEach((w) => w.reject(error)),
    );
  };
  return (acked) =>
    new Promise<void>((resolve, reject) => {
      pending.push(...acked);
      waiters.push({ resolve, reject });
      if (pending.length >= RECORD_AT_ONCE) flush();
      else timer ??= setTimeout(flush, options.windowMs);
    });
}

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
}) {
  const recordDirectly: RecordDispatch = (acked) => markDispatched(options.pool, acked);
  return {
    /** Returns the ids that were published and recorded. `record` writes their dispatch (fenced, for the leader). */
    async publish(runs: PendingRun[], path: PublishPath, record: RecordDispatch = recordDirectly): Promise<string[]> {
      if (runs.length === 0) return [];
      const nats = options.nats();
      if (!nats) {
        options.metrics.publishFailures.inc(runs.length);
        return [];
      }
      const outcomes = await nats.publish(
        runs.map((run) => ({
          subject: options.layout.runSubject(run.job.queue),
          data: encodeAssignment(run),
          msgId: run.id,
        })),
        PUBLISH_TIMEOUT_MS,
      );
      const ackedAt = new Date();
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
      options.metrics.runsDispatched.inc({ path }, acked.length);
      return acked.map((run) => run.id);
    },
  };
}

export type RunPublisher = ReturnType<typeof createRunPublisher>;
