import { createRequire } from "node:module";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";

/** The server package's version, for chime_build_info. */
const CHIME_VERSION = (createRequire(import.meta.url)("../package.json") as { version: string }).version;

/** A registry per server instance, so several servers in one process (tests) never clash. */
export function createMetrics() {
  const registry = new Registry();
  // Unprefixed, as prom-client names them (process_*, nodejs_*): the names standard Node.js
  // dashboards and alerts look for.
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: "chime_build_info",
    help: "Always 1; its labels say which Chime and Node.js this server runs.",
    labelNames: ["version", "node_version"],
    registers: [registry],
  }).set({ version: CHIME_VERSION, node_version: process.versions.node }, 1);
  return {
    registry,
    rpcRequests: new Counter({
      name: "chime_rpc_requests_total",
      help: "RPCs answered (unary) or ended (streams), by method and status code, over both ports.",
      labelNames: ["method", "code"],
      registers: [registry],
    }),
    rpcDuration: new Histogram({
      name: "chime_rpc_duration_seconds",
      help: "Time to answer a unary RPC, by method.",
      labelNames: ["method"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    rpcStreamsOpen: new Gauge({
      name: "chime_rpc_streams_open",
      help: "Server streams (WatchRuns, WatchJob) open now, by method.",
      labelNames: ["method"],
      registers: [registry],
    }),
    dispatchLag: new Histogram({
      name: "chime_dispatch_lag_seconds",
      help: "Time from a run's scheduled time to its publish acknowledgement by JetStream.",
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers: [registry],
    }),
    runsDispatched: new Counter({
      name: "chime_runs_dispatched_total",
      help: "Runs published to JetStream, by path (scheduler, trigger, reconciler) and queue.",
      labelNames: ["path", "queue"],
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
    firesThrottled: new Counter({
      name: "chime_fires_throttled_total",
      help: "Fires that waited for their namespace's tokens (NamespaceLimits.runs_per_second), counted once each when they fire, by namespace.",
      labelNames: ["namespace"],
      registers: [registry],
    }),
    scheduleEvents: new Counter({
      name: "chime_schedule_events_total",
      help: "Schedule events recorded (fire decisions that did not produce an on-time run), by reason.",
      labelNames: ["reason"],
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
      help: "Worker status updates dropped, by reason (stale attempt, run ended, unknown run, wrong namespace, invalid).",
      labelNames: ["reason"],
      registers: [registry],
    }),
    cancelSignals: new Counter({
      name: "chime_cancel_signals_total",
      help: "Run cancellations put into the cancel bucket for workers, by outcome (ok, failed).",
      labelNames: ["outcome"],
      registers: [registry],
    }),
    runsEnded: new Counter({
      name: "chime_runs_ended_total",
      help: "Runs that ended, by queue and state (counted by the scheduler process that rolled them up).",
      labelNames: ["queue", "state"],
      registers: [registry],
    }),
    runDuration: new Histogram({
      name: "chime_run_duration_seconds",
      help: "Ended runs' last attempt, start to end, by queue.",
      labelNames: ["queue"],
      buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600],
      registers: [registry],
    }),
    runStartLag: new Histogram({
      name: "chime_run_start_lag_seconds",
      help: "Ended runs' scheduled time to their last attempt's start, by queue.",
      labelNames: ["queue"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      registers: [registry],
    }),
    alertDeliveries: new Counter({
      name: "chime_alert_deliveries_total",
      help: "Alert notification attempts, by outcome (sent, retry: failed and retried later, failed: given up).",
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
