import type { JetStreamClient } from "@nats-io/jetstream";
import { queueFigures, readQueueConsumers, type QueueConsumerStats } from "./nats/queue-consumers.js";
import type pg from "pg";
import { Gauge, type Registry } from "prom-client";
import type { NatsLayout } from "@chime/sdk";
import { RunState } from "@chime/sdk/gen/run_pb";
import type { Logger } from "./logger.js";

/**
 * Gauges read from Postgres and JetStream when /metrics is scraped (the api role), rather
 * than kept by a process: any replica reports the same values, whoever leads or ingests.
 * A source that does not answer leaves its gauges without series for that scrape.
 */
export function registerScrapedMetrics(
  registry: Registry,
  sources: { pool: pg.Pool; js: () => JetStreamClient | undefined; layout: NatsLayout; logger: Logger },
): void {
  const { pool, layout, logger } = sources;
  const failed = (what: string) => (error: unknown) => {
    logger.debug({ err: error }, `metrics: cannot read ${what}`);
    return undefined;
  };

  new Gauge({
    name: "chime_runs_active",
    help: "Runs not yet ended (QUEUED, RUNNING, RETRY_WAIT), by queue and state.",
    labelNames: ["queue", "state"],
    registers: [registry],
    async collect() {
      this.reset();
      // runs_active (a partial index on the active states) bounds the scan to the backlog.
      const rows = await pool
        .query<{ queue: string; state: number; count: string }>(
          "SELECT queue, state, count(*) AS count FROM runs WHERE state IN (1, 2, 3) GROUP BY queue, state",
        )
        .then((r) => r.rows, failed("active runs"));
      for (const row of rows ?? []) this.set({ queue: row.queue, state: RunState[row.state] }, Number(row.count));
    },
  });

  new Gauge({
    name: "chime_scheduler_heartbeat_age_seconds",
    help: "Seconds since the scheduler leader last confirmed its lease, by Postgres' clock (no series when no leader was ever elected).",
    registers: [registry],
    async collect() {
      this.reset();
      const rows = await pool
        .query<{ age: number }>("SELECT extract(epoch FROM now() - heartbeat_time)::float8 AS age FROM scheduler_leader WHERE singleton")
        .then((r) => r.rows, failed("the leader heartbeat"));
      if (rows?.[0]) this.set(Math.max(0, rows[0].age));
    },
  });

  // One read of the runs stream's consumers serves the three queue gauges of a scrape (and
  // any scrape within a second of it).
  let cached: { at: number; stats: Promise<QueueConsumerStats[] | undefined> } | undefined;
  const queueStats = (): Promise<QueueConsumerStats[] | undefined> => {
    const now = performance.now();
    if (cached && now - cached.at <= 1000) return cached.stats;
    const stats = readQueueConsumers(sources.js(), layout).catch(failed("queue consumers"));
    cached = { at: now, stats };
    return stats;
  };
  const queueGauge = (name: string, help: string, pick: (q: QueueConsumerStats) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ["queue"],
      registers: [registry],
      async collect() {
        this.reset();
        // A queue served per namespace has a consumer per namespace: its series is their sum.
        const consumers = (await queueStats()) ?? [];
        for (const queue of new Set(consumers.map((c) => c.queue))) this.set({ queue }, pick(queueFigures(consumers, queue)!));
      },
    });
  queueGauge("chime_queue_runs_waiting", "Runs in a queue's JetStream consumer not yet delivered to any worker.", (q) => q.waiting);
  queueGauge("chime_queue_runs_in_flight", "Runs delivered to a worker of the queue and not yet acknowledged.", (q) => q.inFlight);
  queueGauge(
    "chime_queue_pull_requests",
    "Pull requests of the queue's workers waiting for runs (about one per idle worker); 0 while runs wait means no worker consumes the queue.",
    (q) => q.pullRequests,
  );
}
