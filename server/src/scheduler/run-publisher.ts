import { create, toBinary } from "@bufbuild/protobuf";
import { RunAssignmentSchema, type Job, type NatsLayout } from "@chime/sdk";
import type pg from "pg";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import type { AckedPublisher } from "../nats/acked-publisher.js";
import { toTimestamp } from "../util/time.js";

/** A committed QUEUED run, ready to be published. */
export interface PendingRun {
  id: string;
  scheduledTime: Date;
  job: Job;
}

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
  return {
    /** Returns the ids that were published and recorded. `markWith` runs the bookkeeping write (fenced for the leader). */
    async publish(
      runs: PendingRun[],
      path: PublishPath,
      markWith?: (write: (client: pg.PoolClient | pg.Pool) => Promise<void>) => Promise<void>,
    ): Promise<string[]> {
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
      const acked = runs.flatMap((run, i) => (outcomes[i].ok ? [{ run, ackedAt }] : []));
      const failed = runs.length - acked.length;
      if (failed > 0) {
        options.metrics.publishFailures.inc(failed);
        const reason = outcomes.find((o) => !o.ok) as { error: string };
        options.logger.warn({ failed, reason: reason.error }, "run publish failed; the reconciler will retry");
      }
      if (acked.length === 0) return [];
      const write = async (client: pg.PoolClient | pg.Pool) => {
        await client.query(
          `UPDATE runs r SET dispatch_time = v.acked_at, update_time = now()
           FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, acked_at)
           WHERE r.id = v.id AND r.dispatch_time IS NULL`,
          [acked.map((a) => a.run.id), acked.map((a) => a.ackedAt)],
        );
      };
      await (markWith ? markWith(write) : write(options.pool));
      for (const { run, ackedAt } of acked) {
        options.metrics.dispatchLag.observe(Math.max(0, ackedAt.getTime() - run.scheduledTime.getTime()) / 1000);
      }
      options.metrics.runsDispatched.inc({ path }, acked.length);
      return acked.map((a) => a.run.id);
    },
  };
}

export type RunPublisher = ReturnType<typeof createRunPublisher>;
