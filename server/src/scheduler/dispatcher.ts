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
import { createFireRate, type FireRate } from "./fire-rate.js";
import type { BucketLimit } from "../util/token-bucket.js";

/** How long the leader uses the rate-limited namespaces it read (a change is seen within this). */
const FIRE_RATES_MAX_AGE_MS = 1000;

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
  /** The rate-limited namespaces and their fire rates (NamespaceLimits.runs_per_second, run_burst). */
  fireRates: () => Promise<Map<string, BucketLimit>>;
}

export interface PassResult {
  /** Runs written in this pass. */
  created: number;
  /** The time the pass judged due fires by. */
  passTime: Date;
  /** The batch was full: more jobs may be due right now. */
  full: boolean;
  /** Settles when this pass's due runs are published and recorded (never rejects). */
  publishing: Promise<void>;
  /** Runs written ahead of their fire time, to be published when they fall due. */
  later: PendingRun[];
  /** The earliest fire time of a job left for later because it may not be prepared ahead. */
  heldBack?: Date;
  /**
   * Rate-limited namespaces that have due fires waiting for tokens, and when (ms) to wake for
   * them; absent when none waits.
   */
  throttled?: { namespaces: string[]; until: number };
}

interface DueRow extends VersionedJobRow {
  next_run_time: Date;
}

/** The columns a pass reads of a due job. */
const DUE_COLUMNS = "id, namespace, name, queue, labels, spec, state, next_run_time, run_count, create_time, update_time, definition_version";

/**
 * One leader pass: claims due jobs in a batch, writes their runs and advances their
 * next fire times in one fenced transaction, then publishes the runs. Its cost follows
 * the jobs that are due (an index range scan on next_run_time), not the jobs stored.
 *
 * Namespaces with a fire rate (NamespaceLimits.runs_per_second) are claimed apart, each up to
 * its tokens (fire-rate.ts), so a flooding namespace never fills the batch that the others'
 * due jobs are claimed in: their fires go on in the same pass while its fires wait, still due,
 * for a later one. The batch's claim steps over the waiting namespaces' due jobs in the index
 * (a cost that follows their backlog).
 */
export function createDispatcher(options: DispatcherOptions) {
  const definitions = createJobDefinitions();

  /** The leadership's fire-rate buckets: a new epoch (even in this process) starts afresh. */
  let fireRate: { epoch: number; rate: FireRate } | undefined;
  const fireRateOf = (epoch: number): FireRate => {
    if (fireRate?.epoch !== epoch) fireRate = { epoch, rate: createFireRate({ maxClaim: options.batchSize }) };
    return fireRate.rate;
  };
  let fireRates: { limits: Map<string, BucketLimit>; at: number } | undefined;
  const currentFireRates = async (now: number) => {
    if (!fireRates || Math.abs(now - fireRates.at) >= FIRE_RATES_MAX_AGE_MS) fireRates = { limits: await options.fireRates(), at: now };
    return fireRates.limits;
  };

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
      const nowMs = now.getTime();
      const horizon = new Date(nowMs + options.lookaheadMs);
      const rate = fireRateOf(epoch);
      const claims = rate.claims(await currentFireRates(nowMs), nowMs);
      const limited = claims.map((c) => c.namespace);
      let cancelled: string[] = [];
      let heldBack: Date | undefined;
      // Tokens are taken once the transaction commits (a failed pass takes none).
      const ratePass = rate.pass(nowMs);
      const written = await fencedTransaction(options.pool, epoch, async (client) => {
        cancelled = [];
        const { rows } = await client.query<DueRow>(
          `SELECT ${DUE_COLUMNS}
           FROM jobs
           WHERE state = 1 AND deleted_time IS NULL AND next_run_time <= $1 AND namespace <> ALL($3::text[])
           ORDER BY next_run_time
           LIMIT $2
           FOR UPDATE SKIP LOCKED`,
          [horizon, options.batchSize, limited],
        );
        // Each rate-limited namespace's oldest jobs within the horizon (those not due yet are
        // held back below), as many as it has tokens and one more.
        const limitedRows = claims.length === 0 ? [] : (await client.query<DueRow>(
          `SELECT j.* FROM unnest($1::text[], $2::int[]) AS c(namespace, claim)
           CROSS JOIN LATERAL (
             SELECT ${DUE_COLUMNS} FROM jobs
             WHERE jobs.namespace = c.namespace AND state = 1 AND deleted_time IS NULL AND next_run_time <= $3
             ORDER BY next_run_time
             LIMIT c.claim
             FOR UPDATE SKIP LOCKED
           ) j`,
          [limited, claims.map((c) => c.claim), horizon],
        )).rows;
        if (rows.length === 0 && limitedRows.length === 0) return { pending: [] as PendingRun[], held: 0, full: false };
        const jobs = [];
        let batchJobs = 0;
        for (const row of limitedRows.length === 0 ? rows : rows.concat(limitedRows)) {
          const job = definitions.get(row);
          const dependsOnActive = job.overlapPolicy !== OverlapPolicy.ALLOW || job.maxConcurrentRuns > 0;
          // A rate-limited namespace's runs are not written ahead: each takes its token when it is
          // published, so the rate holds at dispatch.
          const rateLimited = rate.tokens(row.namespace) !== Infinity;
          if ((dependsOnActive || rateLimited) && row.next_run_time > now) {
            // Whether it fires depends on the runs active (or the tokens left) at its fire time:
            // not before then.
            if (!heldBack || row.next_run_time < heldBack) heldBack = row.next_run_time;
            continue;
          }
          if (!rateLimited) batchJobs++;
          jobs.push({ row, job, dependsOnActive, rateLimited });
        }
        const active = await activeRunCounts(client, jobs.filter((j) => j.dependsOnActive).map(({ job }) => job.id));

        const newRuns: NewRun[] = [];
        const advances: JobAdvance[] = [];
        let skipped = 0;
        const scheduleEvents: ScheduleEventRecord[] = [];
        for (const { row, job, dependsOnActive, rateLimited } of jobs) {
          let planOptions: PlanOptions = options;
          if (rateLimited) {
            const tokens = ratePass.admit(job.namespace);
            // Out of tokens: the job stays as it is, due, for a later pass.
            if (tokens < 1) continue;
            planOptions = {
              // The time it waited for tokens is no misfire (fire-rate.ts, waitedMs).
              misfireThresholdMs: options.misfireThresholdMs + rate.waitedMs(job.namespace, row.next_run_time.getTime(), nowMs),
              // Under ALLOW the fires are the candidates, at most one per token; the other
              // policies fire one at most, and must see every candidate to pick the latest.
              maxFiresPerPass: job.overlapPolicy !== OverlapPolicy.ALLOW ? options.maxFiresPerPass : Math.min(options.maxFiresPerPass, tokens),
            };
          }
          const plan = planFires(
            { job, nextRunTime: row.next_run_time, runCount: row.run_count, createTime: row.create_time },
            now,
            active.get(job.id) ?? { active: 0, held: 0 },
            planOptions,
            // Times up to the horizon are written ahead, unless the job's fires depend on active
            // runs or its namespace's rate.
            dependsOnActive || rateLimited ? now : horizon,
          );
          if (rateLimited) {
            // Fires still due (the plan stopped at the tokens) wait for the next tokens.
            ratePass.fired(job.namespace, plan.fires.map((f) => f.scheduledTime.getTime()), plan.next !== null && plan.next.getTime() <= nowMs);
          }
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
        return { pending, held: inserted.length - pending.length, full: rows.length === options.batchSize && batchJobs > 0 };
      });
      for (const [namespace, count] of ratePass.commit()) options.metrics.firesThrottled.inc({ namespace }, count);
      const waiting = rate.waiting(nowMs);
      if (cancelled.length) await options.signalCancel?.(cancelled);
      options.afterCommit?.(written.pending.map((r) => r.id));
      const dueBy = options.now().getTime();
      const due = written.pending.filter((r) => r.scheduledTime.getTime() <= dueBy);
      const later = due.length === written.pending.length ? [] : written.pending.filter((r) => r.scheduledTime.getTime() > dueBy);
      // Not awaited: the next pass claims the next batch while this one is being published.
      const publishing = publish(due, epoch);
      const throttled = waiting.until === undefined ? undefined : { namespaces: waiting.namespaces, until: waiting.until };
      return { created: written.pending.length + written.held, passTime: now, full: written.full, publishing, later, heldBack, throttled };
    },

    /**
     * The earliest next fire time of any active job (an index lookup), or undefined; only
     * after `after` when given (while fires wait for tokens, the earliest would be theirs).
     */
    async earliestDue(after?: Date): Promise<Date | undefined> {
      const active = "FROM jobs WHERE state = 1 AND deleted_time IS NULL AND next_run_time IS NOT NULL";
      const { rows } = await (after
        ? options.pool.query<{ next: Date | null }>(`SELECT min(next_run_time) AS next ${active} AND next_run_time > $1`, [after])
        : options.pool.query<{ next: Date | null }>(`SELECT min(next_run_time) AS next ${active}`));
      return rows[0]?.next ?? undefined;
    },
  };
}

export type Dispatcher = ReturnType<typeof createDispatcher>;
