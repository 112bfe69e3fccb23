import type pg from "pg";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { NatsLayout } from "@chime/sdk";
import type { Allowlist } from "../executor/http-guard.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { createAlertEngine } from "../alerts/alert-engine.js";
import { createAlertSender } from "../alerts/alert-sender.js";
import { createQueueStallWatch } from "../alerts/queue-stall-watch.js";
import { createScheduleAlertEngine } from "../alerts/schedule-alert-engine.js";
import { createAutoPause } from "../jobs/auto-pause.js";
import { createQueueStatsRollup, pruneQueueStats } from "../stats/queue-stats-rollup.js";
import { createRunPruner } from "../runs/run-retention.js";

/** How often rollup rows past their retention are deleted. */
const ROLLUP_PRUNE_EVERY_MS = 600_000;

/**
 * The scheduler role's work behind the scheduler, every `intervalMs`: match new run ends
 * and missed or late fires against the alert rules, pause jobs at the end of a failure streak, judge queue stalls,
 * send due notifications, roll run ends up into the queue stats,
 * and now and then delete runs past their retention.
 * Safe in several processes at once (the consumers' cursors and the sender's claims are row
 * locks); a failing step is logged and tried again next time, without holding up the others.
 */
export function startBackgroundWork(options: {
  pool: pg.Pool;
  allowlist: Allowlist;
  intervalMs: number;
  /**
   * CHIME_RUN_RETENTION_MS (0: keep runs, unless a namespace or job sets a retention) and
   * how often to prune (CHIME_EVENT_PRUNE_INTERVAL_MS).
   */
  runRetentionMs: number;
  pruneIntervalMs: number;
  logger: Logger;
  metrics: Metrics;
  /** The runs stream's consumers, for queue stall alerts. */
  js: () => JetStreamClient | undefined;
  layout: NatsLayout;
}) {
  const { pool, logger } = options;
  const sender = createAlertSender(pool, options.allowlist, (outcome) => options.metrics.alertDeliveries.inc({ outcome }));
  const steps: Array<[string, () => Promise<unknown>]> = [
    ["alert matching", createAlertEngine(pool)],
    ["missed and late fire alerts", createScheduleAlertEngine(pool)],
    ["failure-streak auto-pause", createAutoPause(pool, logger)],
    ["queue stall alerts", createQueueStallWatch(pool, options.js, options.layout)],
    ["alert sending", sender.pass],
    ["queue stats", createQueueStatsRollup(pool, options.metrics)],
    ["queue stats pruning", atMostEvery(ROLLUP_PRUNE_EVERY_MS, () => pruneQueueStats(pool))],
  ];
  // Always a step: a namespace or a job may set a retention while the server keeps runs;
  // a pass with none in force costs one indexed query.
  const runPruner = createRunPruner({ pool, defaultRetentionMs: options.runRetentionMs });
  steps.push([
    "run retention",
    atMostEvery(options.pruneIntervalMs, async () => {
      const deleted = await runPruner.pass();
      if (deleted.runs > 0) logger.info(deleted, "deleted runs past their retention");
    }),
  ]);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;

  const loop = (async () => {
    while (!stopped) {
      for (const [name, step] of steps) {
        if (stopped) break;
        try {
          await step();
        } catch (error) {
          if (!stopped) logger.warn({ err: error }, `${name} failed; will retry`);
        }
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, options.intervalMs);
      });
    }
  })();

  return {
    async stop(): Promise<void> {
      stopped = true;
      clearTimeout(timer);
      wake?.();
      await loop;
      await sender.close();
    },
  };
}

/** A step that does its work at most once per `ms` (the loop runs every interval; some work need not). */
function atMostEvery(ms: number, work: () => Promise<unknown>): () => Promise<unknown> {
  let last = -Infinity;
  return async () => {
    if (performance.now() - last < ms) return;
    last = performance.now();
    await work();
  };
}
