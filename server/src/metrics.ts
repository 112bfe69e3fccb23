import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

/** A registry per server instance, so several servers in one process (tests) never clash. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "chime_process_" });
  return {
    registry,
    dispatchLag: new Histogram({
      name: "chime_dispatch_lag_seconds",
      help: "Time from a run's scheduled time to its publish acknowledgement by JetStream.",
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers: [registry],
    }),
    runsDispatched: new Counter({
      name: "chime_runs_dispatched_total",
      help: "Runs published to JetStream, by path (scheduler, trigger, reconciler).",
      labelNames: ["path"],
      registers: [registry],
    }),
    publishFailures: new Counter({
      name: "chime_publish_failures_total",
      help: "Run publishes that failed (the reconciler retries them).",
      registers: [registry],
    }),
    firesSkipped: new Counter({
      name: "chime_fires_skipped_total",
      help: "Fire times dropped by a misfire or overlap policy.",
      registers: [registry],
    }),
    dispatchPasses: new Counter({
      name: "chime_dispatch_passes_total",
      help: "Dispatch passes the leader ran (claims of due jobs), whether or not anything was due.",
      registers: [registry],
    }),
    isLeader: new Gauge({
      name: "chime_scheduler_is_leader",
      help: "1 while this server leads the scheduler.",
      registers: [registry],
    }),
    statusIngested: new Counter({
      name: "chime_status_updates_ingested_total",
      help: "Worker status updates applied to runs, by state.",
      labelNames: ["state"],
      registers: [registry],
    }),
    statusRejected: new Counter({
      name: "chime_status_updates_rejected_total",
      help: "Worker status updates dropped, by reason (stale attempt, run ended, unknown run, invalid).",
      labelNames: ["reason"],
      registers: [registry],
    }),
    cancelSignals: new Counter({
      name: "chime_cancel_signals_total",
      help: "Run cancellations put into the cancel bucket for workers, by outcome (ok, failed).",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    clockSkew: new Gauge({
      name: "chime_clock_skew_seconds",
      help: "This server's wall clock minus Postgres' clock, as last measured (the scheduler keeps Postgres' time).",
      registers: [registry],
    }),
    clockSkewed: new Gauge({
      name: "chime_clock_skewed",
      help: "1 while this server's wall clock disagrees with Postgres' by more than CHIME_MAX_CLOCK_SKEW_MS.",
      registers: [registry],
    }),
    leaderEpoch: new Gauge({
      name: "chime_scheduler_epoch",
      help: "The fencing epoch of this server's current or last leadership.",
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
