import { OverlapPolicy, RunTrigger } from "@chime/sdk";
import type pg from "pg";
import { advanceJobs, type JobAdvance } from "../jobs/advance-jobs.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { activeRunCounts, cancelActiveRunsOfJob, insertRuns, markDispatched, type AckedRuns, type NewRun } from "../runs/run-store.js";
import { planFires, type PlanOptions } from "./fire-plan.js";
import { countScheduleEvents, insertScheduleEvents, scheduleEventsOf, type ScheduleEventRecord } from "./schedule-events.js";
import { createJobDefinitions, type VersionedJobRow } from "./job-definitions.js";
import { fencedTransaction } from "./leader-elector.js";
import { createDeferredDispatchRecorder, type PendingRun, type RecordDispatch, type RunPublisher } from "./run-publisher.js";


export interface DispatcherOptions extends PlanOptions {
  pool: pg.Pool;
  publisher: RunPublisher;
  metrics: Metrics;
  logger: Logger;
  /** Jobs claimed per transaction. */
  batchSize: number;
  /**
   * Runs due within this many milliseconds are written now and returned as `later`, to
   * be published at their fire time. Only for jobs whose fires do not depend on the runs
   * active at the fire time (overlap ALLOW, no max_concurrent_runs); others wait until due.
   */
  lookaheadMs: number;
  /** How long acknowledged runs wait before their dispatch is recorded (run-publisher.ts). */
  dispatchRecordDelayMs: number;
  now: () => Date;
  /** Test hook: called after runs are committed and before they are published. */
  afterCommit?: (runIds: string[]) => void;
  /** Tells workers, after commit, about runs cancelled by CANCEL_PREVIOUS. */
  signalCancel?: (runIds: string[]) => Promise<void>;
}

export interface PassResult {
  /** Runs written in this pass. */
  created: number;
  /** The batch was full: more jobs may be due right now. */
  full: boolean;
  /** Settles when this pass's due runs are published and recorded (never rejects). */
  publishing: Promise<void>;
  /** Runs written ahead of their fire time, to be published when they fall due. */
  later: PendingRun[];
  /** The earliest fire time of a job left for later because it may not be prepared ahead. */
  heldBack?: Date;
}

interface DueRow extends VersionedJobRow {
  next_run_time: Date;
}

/**
 * One leader pass: claims due jobs in a batch, writes their runs and advances their
 * next fire times in one fenced transaction, then publishes the runs. Its cost follows
 * the jobs that are due (an index range scan on next_run_time), not the jobs stored.
 */
export function createDispatcher(options: DispatcherOptions) {
  const definitions = createJobDefinitions();

  /** The current leadership's dispatch recorder: fenced by its epoch, shared by its publishes. */
  let recorder: { epoch: number; record: RecordDispatch } | undefined;
  const recorderOf = (epoch: number): RecordDispatch => {
    if (recorder?.epoch !== epoch) {
      const write = (acked: AckedRuns) => fencedTransaction(options.pool, epoch, (client) => markDispatched(client, acked));
      const onError = (error: unknown) => options.logger.warn({ err: error }, "recording dispatched runs failed; the reconciler will confirm them");
      recorder = { epoch, record: createDeferredDispatchRecorder({ delayMs: options.dispatchRecordDelayMs, write, onError }) };
    }
    return recorder.record;
  };

  /** Publishes committed runs and records their dispatch, fenced by `epoch`; never rejects. */
  function publish(pending: PendingRun[], epoch: number): Promise<void> {
    return options.publisher
      .publish(pending, "scheduler", recorderOf(epoch))
      .then(
        () => undefined,
        (error: unknown) => {
          // The runs stay in the outbox (no dispatch time); the reconciler publishes them.
          options.logger.warn({ err: error }, "recording dispatched runs failed");
        },
      );
  }

  return {
    publish,

    async pass(epoch: number): Promise<PassResult> {
      // (Committed runs are published in the background; see `publishing`.)
      const now = options.now();
      const horizon = new Date(now.getTime() + options.lookaheadMs);
      let cancelled: string[] = [];
      let heldBack: Date | undefined;
      const written = await fencedTransaction(options.pool, epoch, async (client) => {
        cancelled = [];
        const { rows } = await client.query<DueRow>(
          `SELECT id, namespace, name, queue, labels, spec, state, next_run_time, run_count, create_time, update_time, definition_version
           FROM jobs
           WHERE state = 1 AND deleted_time IS NULL AND next_run_time <= $1
           ORDER BY next_run_time
           LIMIT $2
           FOR UPDATE SKIP LOCKED`,
          [horizon, options.batchSize],
        );
        if (rows.length === 0) return { pending: [] as PendingRun[], held: 0, full: false };
        const jobs = [];
        for (const row of rows) {
          const job = definitions.get(row);
          const dependsOnActive = job.overlapPolicy !== OverlapPolicy.ALLOW || job.maxConcurrentRuns > 0;
          if (dependsOnActive && row.next_run_time > now) {
            // Whether it fires depends on the runs active at its fire time: not before then.
            if (!heldBack || row.next_run_time < heldBack) heldBack = row.next_run_time;
            continue;
          }
          jobs.push({ row, job, dependsOnActive });
        }
        const active = await activeRunCounts(client, jobs.filter((j) => j.dependsOnActive).map(({ job }) => job.id));

        const newRuns: NewRun[] = [];
        const advances: JobAdvance[] = [];
        let skipped = 0;
        const scheduleEvents: ScheduleEventRecord[] = [];
        for (const { row, job, dependsOnActive } of jobs) {
          const plan = planFires(
            { job, nextRunTime: row.next_run_time, runCount: row.run_count, createTime: row.create_time },
            now,
            active.get(job.id) ?? { active: 0, held: 0 },
            options,
            // Times up to the horizon are written ahead, unless the job's fires depend on active runs.
            dependsOnActive ? now : horizon,
          );
          if (plan.cancelActive) cancelled.push(...(await cancelActiveRunsOfJob(client, job.id)));
          for (const fire of plan.fires) {
            newRuns.push({ jobId: job.id, queue: job.queue, scheduledTime: fire.scheduledTime, held: fire.held, trigger: RunTrigger.SCHEDULE });
          }
          advances.push({ id: job.id, next: plan.next, state: plan.state, runCount: plan.runCount });
          skipped += plan.skipped;
          // What did not fire on time is recorded in this transaction, with the decision.
          const events = scheduleEventsOf(job, plan, now);
          if (events.length) scheduleEvents.push(...events);
        }
        const inserted = await insertRuns(client, newRuns);
        await advanceJobs(client, advances);
        await insertScheduleEvents(client, scheduleEvents, now);
        if (skipped) options.metrics.firesSkipped.inc(skipped);
        countScheduleEvents(options.metrics, scheduleEvents);
        const byId = new Map(jobs.map(({ job }) => [job.id, job]));
        const pending = inserted
          .filter((r) => !r.held)
          .map((r) => ({ id: r.id, scheduledTime: r.scheduled_time, job: byId.get(r.job_id)! }));
        return { pending, held: inserted.length - pending.length, full: rows.length === options.batchSize && jobs.length > 0 };
      });
      if (cancelled.length) await options.signalCancel?.(cancelled);
      options.afterCommit?.(written.pending.map((r) => r.id));
      const dueBy = options.now().getTime();
      const due = written.pending.filter((r) => r.scheduledTime.getTime() <= dueBy);
      const later = due.length === written.pending.length ? [] : written.pending.filter((r) => r.scheduledTime.getTime() > dueBy);
      // Not awaited: the next pass claims the next batch while this one is being published.
      const publishing = publish(due, epoch);
      return { created: written.pending.length + written.held, full: written.full, publishing, later, heldBack };
    },

    /** The earliest next fire time of any active job (an index lookup), or undefined. */
    async earliestDue(): Promise<Date | undefined> {
      const { rows } = await options.pool.query<{ next: Date | null }>(
        "SELECT min(next_run_time) AS next FROM jobs WHERE state = 1 AND deleted_time IS NULL AND next_run_time IS NOT NULL",
      );
      return rows[0]?.next ?? undefined;
    },
  };
}

export type Dispatcher = ReturnType<typeof createDispatcher>;
