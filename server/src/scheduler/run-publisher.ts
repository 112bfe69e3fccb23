import { create, toBinary } from "@bufbuild/protobuf";
import type { JetStreamClient } from "@nats-io/jetstream";
import { RunAssignmentSchema, type Job, type NatsLayout } from "@chime/sdk";
import type pg from "pg";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { toTimestamp } from "../util/time.js";

/** A committed QUEUED run, ready to be published. */
export interface PendingRun {
  id: string;
  scheduledTime: Date;
  job: Job;
}

export type PublishPath = "scheduler" | "trigger" | "reconciler";

const PUBLISH_TIMEOUT_MS = 5000;

export function buildAssignment(run: PendingRun) {
  const { job } = run;
  return create(RunAssignmentSchema, {
    runId: run.id,
    jobId: job.id,
    jobName: job.name,
    namespace: job.namespace,
    queue: job.queue,
    scheduledTime: toTimestamp(run.scheduledTime),
    payload: job.payload,
    labels: job.labels,
    retryPolicy: job.retryPolicy,
    attemptTimeout: job.attemptTimeout,
    http: job.http,
  });
}

/**
 * Publishes runs to JetStream (all at once, awaiting every ack) with the run id as
 * Nats-Msg-Id, then records their dispatch time. A run whose publish fails keeps a NULL
 * dispatch time, and the reconciler publishes it again; a duplicate inside the dedup
 * window is dropped by JetStream.
 */
export function createRunPublisher(options: {
  pool: pg.Pool;
  js: () => JetStreamClient | undefined;
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
      const js = options.js();
      if (!js) {
        options.metrics.publishFailures.inc(runs.length);
        return [];
      }
      const results = await Promise.allSettled(
        runs.map(async (run) => {
          await js.publish(options.layout.runSubject(run.job.queue), toBinary(RunAssignmentSchema, buildAssignment(run)), {
            msgID: run.id,
            timeout: PUBLISH_TIMEOUT_MS,
          });
          return { run, ackedAt: new Date() };
        }),
      );
      const acked = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
      const failed = results.length - acked.length;
      if (failed > 0) {
        options.metrics.publishFailures.inc(failed);
        const reason = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
        options.logger.warn({ failed, err: reason.reason }, "run publish failed; the reconciler will retry");
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
