import type { JetStreamClient } from "@nats-io/jetstream";
import type pg from "pg";
import type { NatsLayout } from "@chime/sdk";
import { AlertCondition } from "@chime/sdk/gen/alert_service_pb";
import { inTransaction } from "../db/pool.js";
import { queueFigures, readQueueConsumers, readUnconsumedQueue, type QueueConsumerStats } from "../nats/queue-consumers.js";
import { enqueue, listRules, ruleEvent } from "./alert-store.js";
import { judgeStall, type StallState } from "./queue-stall.js";

/** Taken for a pass, so one scheduler process judges the stalls at a time. */
const STALL_LOCK = 0x43_48_53_54; // "CHST"

/**
 * Judges the queues of QUEUE_STALLED rules (alerts/queue-stall.ts) from one read of the runs
 * stream's consumers, the figures GetQueueStats shows for the rule's namespace (the consumer
 * serving the namespace's runs of the queue; for a queue no worker ever consumed, the
 * namespace's runs on its subject), on the database's clock.
 * It runs behind the scheduler (events/background-work.ts) and writes only its own table and
 * the alert deliveries: the scheduler and the ingester never wait for it. Returns the
 * notifications it raised.
 */
export function createQueueStallWatch(pool: pg.Pool, js: () => JetStreamClient | undefined, layout: NatsLayout): () => Promise<number> {
  return async function pass(): Promise<number> {
    const rules = (await listRules(pool, "")).filter((rule) => rule.condition === AlertCondition.QUEUE_STALLED);
    if (rules.length === 0) return 0;
    const jetStream = js();
    const consumers = await readQueueConsumers(jetStream, layout);
    if (!jetStream || !consumers) return 0;
    const figures = new Map<string, QueueConsumerStats>();
    const keyOf = (namespace: string, queue: string) => `${namespace}/${queue}`;
    for (const rule of rules) {
      const key = keyOf(rule.namespace, rule.queue);
      if (figures.has(key)) continue;
      figures.set(key, queueFigures(consumers, rule.queue, rule.namespace) ?? (await readUnconsumedQueue(jetStream, layout, rule.queue, rule.namespace)));
    }
    return inTransaction(pool, async (db) => {
      const lock = await db.query<{ locked: boolean; now: Date }>("SELECT pg_try_advisory_xact_lock($1) AS locked, now()", [STALL_LOCK]);
      if (!lock.rows[0].locked) return 0;
      const now = lock.rows[0].now;
      const { rows } = await db.query<{ rule_id: string; since: Date; notified: boolean }>("SELECT rule_id, since, notified FROM queue_stalls FOR UPDATE");
      const stalls = new Map<string, StallState>(rows.map((row) => [row.rule_id, { since: row.since, notified: row.notified }]));
      let raised = 0;
      for (const rule of rules) {
        const previous = stalls.get(rule.id);
        const { next, notice } = judgeStall(previous, figures.get(keyOf(rule.namespace, rule.queue)), now, rule.stall_after_ms);
        if (!next) {
          if (previous) await db.query("DELETE FROM queue_stalls WHERE rule_id = $1", [rule.id]);
        } else if (!previous || previous.notified !== next.notified) {
          await db.query(
            `INSERT INTO queue_stalls (rule_id, since, notified) VALUES ($1, $2, $3)
             ON CONFLICT (rule_id) DO UPDATE SET since = excluded.since, notified = excluded.notified`,
            [rule.id, next.since, next.notified],
          );
        }
        if (!notice) continue;
        const queue = { name: rule.queue, waiting: notice.waiting, stalled_seconds: Math.round(notice.stalledMs / 1000), recovered: notice.recovered };
        await enqueue(db, ruleEvent(rule, { namespace: rule.namespace, queue }, undefined));
        raised++;
      }
      return raised;
    });
  };
}
