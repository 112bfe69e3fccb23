import { startBackgroundWork } from "../events/background-work.js";
import { moveLegacyRuns } from "../nats/legacy-runs.js";
import { startScheduler } from "../scheduler/scheduler.js";
import type { ChimeService } from "./service.js";

/**
 * The scheduler role: leader election, dispatch of due runs through the outbox, and, behind
 * the leader, alerts, queue stats and retention. Scales by replicas that stand by for the lease.
 */
export const schedulerRole: ChimeService = {
  name: "scheduler",
  roles: ["scheduler"],
  start({ config, options, pool, publisher, cancelSignal, now, clockSkew, metrics, logger, links, jetStream, layout }) {
    const scheduler = startScheduler({
      pool,
      databaseUrl: config.databaseDirectUrl,
      publisher,
      serverId: config.serverId,
      leaseMs: config.leaderLeaseMs,
      electionIntervalMs: config.electionIntervalMs,
      batchSize: config.dispatchBatchSize,
      lookaheadMs: config.dispatchLookaheadMs,
      misfireThresholdMs: config.misfireThresholdMs,
      reconcileIntervalMs: config.reconcileIntervalMs,
      dispatchRecordDelayMs: config.dispatchRecordDelayMs,
      eventRetentionMs: config.eventRetentionMs,
      eventPruneIntervalMs: config.eventPruneIntervalMs,
      maxIdleMs: 30_000,
      now,
      clockSkew,
      metrics,
      logger,
      afterCommit: options.afterDispatchCommit,
      signalCancel: (runIds) => cancelSignal.signal(runIds),
      moveLegacyRuns: async () => {
        const js = jetStream.client();
        return js ? moveLegacyRuns(js, layout, logger) : 0;
      },
    });
    links.scheduler = scheduler;
    const background = startBackgroundWork({
      pool,
      allowlist: config.httpAllowlist,
      intervalMs: config.backgroundIntervalMs,
      runRetentionMs: config.runRetentionMs,
      pruneIntervalMs: config.eventPruneIntervalMs,
      logger,
      metrics,
      js: jetStream.client,
      layout,
    });
    return {
      async stop() {
        await scheduler.stop();
        await background.stop();
      },
    };
  },
};
