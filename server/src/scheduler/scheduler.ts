import { setTimeout as delay } from "node:timers/promises";
import type pg from "pg";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { createDispatcher } from "./dispatcher.js";
import { FencedOut, LeaderElector, type Leadership } from "./leader-elector.js";
import { createEventPruner } from "./event-pruner.js";
import { createReconciler } from "./reconciler.js";
import { createReleaseQueue, type ReleaseQueue } from "./release-queue.js";
import { longestRecordWaitMs, type RunPublisher } from "./run-publisher.js";
import { createWakeupListener } from "./wakeup.js";
import { readFireRates } from "../auth/namespace-limits.js";

/** Dispatched batches whose publish may be in flight at once. */
const MAX_BATCHES_PUBLISHING = 4;

export interface SchedulerOptions {
  pool: pg.Pool;
  databaseUrl: string;
  publisher: RunPublisher;
  serverId: string;
  leaseMs: number;
  electionIntervalMs: number;
  batchSize: number;
  /** Runs due within this many milliseconds are written ahead and published at their fire time. */
  lookaheadMs: number;
  misfireThresholdMs: number;
  reconcileIntervalMs: number;
  /** How long acknowledged runs wait before the leader records their dispatch (run-publisher.ts). */
  dispatchRecordDelayMs: number;
  /** Run and job events older than this are deleted (watchers resuming before it get OUT_OF_RANGE). */
  eventRetentionMs: number;
  eventPruneIntervalMs: number;
  /** Longest the leader sleeps without re-reading the earliest due time. */
  maxIdleMs: number;
  /** Postgres' time carried by the monotonic clock (util/database-clock.ts): every fire decision and timer uses it. */
  now: () => Date;
  /** This server's wall clock against Postgres', recorded in the leader row at each heartbeat. */
  clockSkew?: () => { skewMs: number; skewed: boolean };
  metrics: Metrics;
  logger: Logger;
  /** Test hook: called after runs are committed and before they are published. */
  afterCommit?: (runIds: string[]) => void;
  /** Tells workers, after commit, about runs cancelled by CANCEL_PREVIOUS (passed to the dispatcher). */
  signalCancel?: (runIds: string[]) => Promise<void>;
  /** Moves runs left on the subjects of before namespaces (nats/legacy-runs.ts); the leader calls it with each reconcile pass. */
  moveLegacyRuns?: () => Promise<number>;
}

/**
 * The scheduler role: every server runs the election; the leader loops — dispatch what
 * is due, sleep until the earliest next fire time or a wakeup — and reconciles runs whose
 * publish was never confirmed.
 */
export function startScheduler(options: SchedulerOptions) {
  const { logger, metrics } = options;
  const elector = new LeaderElector({
    databaseUrl: options.databaseUrl,
    serverId: options.serverId,
    leaseMs: options.leaseMs,
    intervalMs: options.electionIntervalMs,
    clockSkew: options.clockSkew,
    logger,
  });
  const dispatcher = createDispatcher({ ...options, maxFiresPerPass: 1000, fireRates: () => readFireRates(options.pool) });
  const reconciler = createReconciler({
    pool: options.pool,
    publisher: options.publisher,
    // Longer than the leader's deferred dispatch records wait, so the reconciler leaves them be.
    graceMs: Math.max(longestRecordWaitMs(options.dispatchRecordDelayMs) + 1000, options.reconcileIntervalMs),
    batchSize: options.batchSize,
  });
  const pruner = createEventPruner({ pool: options.pool, retentionMs: options.eventRetentionMs });
  /** Ends the current sleep when `at` (a wake time, ms) comes before the time it would end. */
  let wake: ((at: number) => void) | undefined;
  // The earliest wake time asked for during a pass: the following sleep ends by then.
  let wakeRequested = Infinity;
  /**
   * When to wake for a job firing at `fireAt` (ms): half the lookahead before it (the pass
   * still claims the whole lookahead). Fires cluster on whole seconds, and a pass woken a full
   * lookahead ahead would run at the very instant the runs written for the previous second
   * are released, delaying their publish.
   */
  const wakeTimeFor = (fireAt: number) => fireAt - options.lookaheadMs / 2;
  /** A job may now fire at `at` (undefined: at any time): wake for it as for a job already known. */
  const wakeup = (at?: Date) => {
    const wakeAt = at ? wakeTimeFor(at.getTime()) : -Infinity;
    if (wake) wake(wakeAt);
    else wakeRequested = Math.min(wakeRequested, wakeAt);
  };
  let loops: Promise<void>[] = [];
  const listener = createWakeupListener(options.databaseUrl, wakeup, logger);

  /** Sleeps until `until` (ms), an earlier wakeup, or the end of the leadership, whichever comes first. */
  const sleep = (until: number, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      if (wakeRequested <= until || signal.aborted) {
        wakeRequested = Infinity;
        resolve();
        return;
      }
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, until - options.now().getTime()));
      wake = (at) => {
        if (at < until) done();
      };
      signal.addEventListener("abort", done, { once: true });
    });

  async function dispatchLoop(leadership: Leadership): Promise<void> {
    const { epoch, signal } = leadership;
    // Publishing of earlier batches overlaps with claiming the next ones, up to a bound.
    const publishing = new Set<Promise<void>>();
    const release = createReleaseQueue({ publish: (runs) => dispatcher.publish(runs, epoch), now: () => options.now().getTime() });
    try {
      await dispatchPasses(epoch, signal, publishing, release);
    } finally {
      const dropped = release.clear();
      if (dropped) logger.info({ runs: dropped }, "leadership ended with runs written ahead; the next leader's reconciler publishes them");
      await Promise.all([...publishing, release.drain()]);
    }
  }

  async function dispatchPasses(epoch: number, signal: AbortSignal, publishing: Set<Promise<void>>, release: ReleaseQueue): Promise<void> {
    while (!signal.aborted) {
      try {
        wakeRequested = Infinity;
        while (publishing.size >= MAX_BATCHES_PUBLISHING) await Promise.race(publishing);
        metrics.dispatchPasses.inc();
        const result = await dispatcher.pass(epoch);
        release.add(result.later);
        publishing.add(result.publishing);
        void result.publishing.then(() => publishing.delete(result.publishing));
        if (result.full) continue;
        // Caught up: sleep until the next due time while this batch is being published
        // (waiting for its publish first would add a round of acks to the next run's lag).
        // Fires waiting for their namespace's tokens are due already: the next due time is
        // another's, or theirs once their tokens come (`throttled.until`). (Meanwhile a due job
        // the pass skipped, locked by an API call, waits for that wakeup or the call's own.)
        const earliest = await dispatcher.earliestDue(result.throttled ? result.passTime : undefined);
        const now = options.now().getTime();
        // A job held back until its fire time (it may not be prepared ahead) is the earliest
        // only when nothing else is within the lookahead.
        let wakeAt = earliest ? wakeTimeFor(earliest.getTime()) : Infinity;
        if (result.heldBack && wakeAt <= now) wakeAt = Math.max(wakeAt, result.heldBack.getTime());
        const until = Math.min(wakeAt, now + options.maxIdleMs, result.throttled?.until ?? Infinity);
        // A due job that the pass skipped (locked by an API call) is retried after a short pause.
        await sleep(Math.max(until, now + (result.created === 0 && earliest && !result.heldBack ? 5 : 0)), signal);
      } catch (error) {
        if (error instanceof FencedOut) {
          logger.warn({ epoch }, "fenced out: a newer leader exists");
          return;
        }
        logger.error({ err: error }, "dispatch pass failed; retrying");
        await sleep(options.now().getTime() + 500, signal);
      }
    }
  }

  /** Runs `work` every `intervalMs` while this leadership lasts. */
  async function periodicLoop(leadership: Leadership, intervalMs: number, what: string, work: (epoch: number) => Promise<void>): Promise<void> {
    const { epoch, signal } = leadership;
    while (!signal.aborted) {
      // Node's own abortable delay: it stops listening to the leadership's signal when the
      // time is up, where a listener added per pass would pile up for the whole leadership.
      await delay(intervalMs, undefined, { signal }).catch(() => undefined);
      if (signal.aborted) return;
      try {
        await work(epoch);
      } catch (error) {
        if (error instanceof FencedOut) return;
        logger.warn({ err: error }, `${what} pass failed`);
      }
    }
  }

  const reconcile = async (epoch: number) => {
    const republished = await reconciler.pass(epoch);
    if (republished) logger.info({ republished }, "reconciler published runs that were never confirmed");
    await options.moveLegacyRuns?.();
  };
  const prune = async (epoch: number) => {
    const deleted = await pruner.pass(epoch);
    if (deleted) logger.info({ deleted }, "pruned events older than the retention");
  };

  elector.on("elected", (leadership: Leadership) => {
    metrics.isLeader.set(1);
    metrics.leaderEpoch.set(leadership.epoch);
    loops = [
      dispatchLoop(leadership),
      periodicLoop(leadership, options.reconcileIntervalMs, "reconcile", reconcile),
      periodicLoop(leadership, options.eventPruneIntervalMs, "event prune", prune),
    ];
  });
  elector.on("deposed", () => metrics.isLeader.set(0));
  elector.start();

  return {
    /** Tells the leader (when it runs in this process) that a job may now fire at `at`. */
    wakeup,
    isLeader: () => elector.leadership !== undefined,
    epoch: () => elector.leadership?.epoch,
    async stop() {
      await elector.stop();
      await Promise.all(loops);
      await listener.stop();
    },
  };
}

export type Scheduler = ReturnType<typeof startScheduler>;
