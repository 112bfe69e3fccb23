import { randomBytes, randomUUID } from "node:crypto";
import type pg from "pg";
import { AlertDeliveryState, type AlertCondition, type AlertChannelKind } from "@chime/sdk/gen/alert_service_pb";
import { conditionName, type Notification, type NotifiedRun, type NotifiedScheduleEvent } from "./alert-notification.js";

/** Every statement on the alert tables (migration 0016). */

export interface ChannelRow {
  id: string;
  namespace: string;
  name: string;
  kind: AlertChannelKind;
  url: string;
  secret: string;
  create_time: Date;
}

export interface RuleRow {
  id: string;
  namespace: string;
  name: string;
  channel_id: string;
  condition: AlertCondition;
  job_id: string | null;
  label_selector: string;
  threshold: number;
  min_interval_ms: number;
  /** QUEUE_STALLED only (0 and '' otherwise). */
  stall_after_ms: number;
  queue: string;
  create_time: Date;
}

export interface DeliveryRow {
  id: string;
  rule_id: string;
  channel_id: string;
  state: AlertDeliveryState;
  event_count: number;
  payload: Notification;
  attempts: number;
  last_error: string;
  create_time: Date;
  next_attempt_time: Date;
  sent_time: Date | null;
}

type Queryable = pg.Pool | pg.PoolClient;

export async function insertChannel(db: Queryable, channel: Omit<ChannelRow, "id" | "create_time" | "secret"> & { secret: string }): Promise<ChannelRow | undefined> {
  const secret = channel.secret || randomBytes(32).toString("base64url");
  const { rows } = await db.query<ChannelRow>(
    `INSERT INTO alert_channels (id, namespace, name, kind, url, secret) VALUES ($1, $2, $3, $4, $5, $6)
     ON CONFLICT (namespace, name) DO NOTHING RETURNING *`,
    [randomUUID(), channel.namespace, channel.name, channel.kind, channel.url, secret],
  );
  return rows[0];
}

export async function listChannels(db: Queryable, namespace: string): Promise<ChannelRow[]> {
  const { rows } = await db.query<ChannelRow>(
    "SELECT * FROM alert_channels WHERE ($1 = '' OR namespace = $1) ORDER BY namespace, name",
    [namespace],
  );
  return rows;
}

export async function getChannel(db: Queryable, id: string): Promise<ChannelRow | undefined> {
  return (await db.query<ChannelRow>("SELECT * FROM alert_channels WHERE id = $1", [id])).rows[0];
}

/** Deletes a channel with its rules and their deliveries (ON DELETE CASCADE). */
export async function deleteChannel(db: Queryable, id: string): Promise<boolean> {
  return ((await db.query("DELETE FROM alert_channels WHERE id = $1", [id])).rowCount ?? 0) > 0;
}

export async function insertRule(db: Queryable, rule: Omit<RuleRow, "id" | "create_time">): Promise<RuleRow | undefined> {
  const { rows } = await db.query<RuleRow>(
    `INSERT INTO alert_rules (id, namespace, name, channel_id, condition, job_id, label_selector, threshold, min_interval_ms, stall_after_ms, queue)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (namespace, name) DO NOTHING RETURNING *`,
    [randomUUID(), rule.namespace, rule.name, rule.channel_id, rule.condition, rule.job_id, rule.label_selector, rule.threshold, rule.min_interval_ms, rule.stall_after_ms, rule.queue],
  );
  return rows[0];
}

export async function listRules(db: Queryable, namespace: string): Promise<RuleRow[]> {
  const { rows } = await db.query<RuleRow>(
    "SELECT * FROM alert_rules WHERE ($1 = '' OR namespace = $1) ORDER BY namespace, name",
    [namespace],
  );
  return rows;
}

export async function deleteRule(db: Queryable, id: string): Promise<boolean> {
  return ((await db.query("DELETE FROM alert_rules WHERE id = $1", [id])).rowCount ?? 0) > 0;
}

/** Whether a job (not deleted) of this namespace has this id: what a rule may name. */
export async function jobInNamespace(db: Queryable, jobId: string, namespace: string): Promise<boolean> {
  const { rowCount } = await db.query("SELECT 1 FROM jobs WHERE id = $1 AND namespace = $2 AND deleted_time IS NULL", [jobId, namespace]);
  return (rowCount ?? 0) > 0;
}

/** Deliveries newest first, of one rule or every rule, of one namespace's rules or every namespace's ('' for all). */
export async function listDeliveries(db: Queryable, ruleId: string, namespace: string, limit: number): Promise<DeliveryRow[]> {
  const { rows } = await db.query<DeliveryRow>(
    `SELECT d.id::text, d.rule_id, d.channel_id, d.state, d.event_count, d.payload, d.attempts, d.last_error, d.create_time, d.next_attempt_time, d.sent_time
     FROM alert_deliveries d JOIN alert_rules r ON r.id = d.rule_id
     WHERE ($1::uuid IS NULL OR d.rule_id = $1) AND ($3 = '' OR r.namespace = $3) ORDER BY d.id DESC LIMIT $2`,
    [ruleId || null, limit, namespace],
  );
  return rows;
}

/**
 * The states of a job's latest ended runs up to and including `runId` (CANCELLED left out),
 * newest scheduled time first, scheduled at or after `since` when given: what a failure
 * streak is judged on. It walks the (job_id, scheduled_time) index backwards, so a job
 * with millions of runs costs a few rows.
 */
export async function latestOutcomes(db: Queryable, jobId: string, runId: string, limit: number, since: Date | null = null): Promise<number[]> {
  const { rows } = await db.query<{ state: number }>(
    `SELECT r.state FROM runs r, (SELECT scheduled_time FROM runs WHERE id = $2) this
     WHERE r.job_id = $1 AND r.scheduled_time <= this.scheduled_time AND r.state IN (4, 5, 7)
       AND ($4::timestamptz IS NULL OR r.scheduled_time >= $4)
     ORDER BY r.scheduled_time DESC LIMIT $3`,
    [jobId, runId, limit, since],
  );
  return rows.map((r) => r.state);
}

/**
 * The latest of the events a notification stands for, under the body's key for it: a run
 * (`last_run`) or a schedule event (`last_schedule_event`).
 */
export type LatestEvent = { key: "last_run"; value: NotifiedRun } | { key: "last_schedule_event"; value: NotifiedScheduleEvent };

/** Events of one rule in one pass, to notify as one delivery. */
export interface RuleEvents {
  ruleId: string;
  channelId: string;
  minIntervalMs: number;
  first: Omit<Notification, "delivery_id" | "count" | LatestEvent["key"]>;
  /** The latest of the events; undefined for a notification that is never coalesced (one per pause, per stall). */
  last: LatestEvent | undefined;
  count: number;
}

/** A rule's first event of a pass, as a group of one, for `enqueue`. */
export function ruleEvent(rule: RuleRow, body: Omit<RuleEvents["first"], "rule">, last: LatestEvent | undefined): RuleEvents {
  return {
    ruleId: rule.id,
    channelId: rule.channel_id,
    minIntervalMs: rule.min_interval_ms,
    count: 1,
    last,
    first: { rule: { id: rule.id, name: rule.name, condition: conditionName(rule.condition) }, ...body },
  };
}

/**
 * Adds a rule's events to its latest delivery while that one is still waiting to be sent
 * (the rate limit: a storm is one notification with a count); otherwise starts a delivery,
 * sent no sooner than `min_interval` after the rule's previous one.
 */
export async function enqueue(client: pg.PoolClient, events: RuleEvents): Promise<void> {
  const { rows } = await client.query<{ id: string; state: number; claimed: boolean; create_time: Date }>(
    `SELECT id::text, state, coalesce(claimed_until > now(), false) AS claimed, create_time
     FROM alert_deliveries WHERE rule_id = $1 ORDER BY id DESC LIMIT 1 FOR UPDATE`,
    [events.ruleId],
  );
  const latest = rows[0];
  if (events.last && latest && latest.state === AlertDeliveryState.PENDING && !latest.claimed) {
    await client.query(
      `UPDATE alert_deliveries SET event_count = event_count + $2,
         payload = payload || jsonb_build_object('count', event_count + $2, $4::text, $3::jsonb)
       WHERE id = $1`,
      [latest.id, events.count, JSON.stringify(events.last.value), events.last.key],
    );
    return;
  }
  const payload: Omit<Notification, "delivery_id"> = {
    ...events.first,
    count: events.count,
    ...(events.count > 1 && events.last ? { [events.last.key]: events.last.value } : {}),
  };
  await client.query(
    `INSERT INTO alert_deliveries (rule_id, channel_id, state, event_count, payload, next_attempt_time)
     VALUES ($1, $2, 1, $3, $4, greatest(now(), $5::timestamptz + make_interval(secs => $6::float8 / 1000)))`,
    [events.ruleId, events.channelId, events.count, JSON.stringify(payload), latest?.create_time ?? new Date(0), events.minIntervalMs],
  );
}

/** A delivery claimed for sending, with its channel. */
export interface ClaimedDelivery {
  id: string;
  attempts: number;
  payload: Notification;
  kind: AlertChannelKind;
  url: string;
  secret: string;
}

/** Claims due deliveries for `claimMs` (another sender skips them meanwhile). */
export async function claimDue(db: Queryable, limit: number, claimMs: number): Promise<ClaimedDelivery[]> {
  const { rows } = await db.query<ClaimedDelivery>(
    `UPDATE alert_deliveries d SET claimed_until = now() + make_interval(secs => $2::float8 / 1000)
     FROM alert_channels c
     WHERE c.id = d.channel_id AND d.id IN (
       SELECT id FROM alert_deliveries
       WHERE state = 1 AND next_attempt_time <= now() AND (claimed_until IS NULL OR claimed_until <= now())
       ORDER BY next_attempt_time LIMIT $1 FOR UPDATE SKIP LOCKED)
     RETURNING d.id::text, d.attempts, d.payload || jsonb_build_object('delivery_id', d.id::text) AS payload, c.kind, c.url, c.secret`,
    [limit, claimMs],
  );
  return rows;
}

export async function markSent(db: Queryable, id: string): Promise<void> {
  await db.query("UPDATE alert_deliveries SET state = 2, attempts = attempts + 1, sent_time = now(), claimed_until = NULL WHERE id = $1", [id]);
}

/** Records a failed attempt: retried after `retryMs`, or given up (FAILED) when `retryMs` is undefined. */
export async function markAttemptFailed(db: Queryable, id: string, error: string, retryMs: number | undefined): Promise<void> {
  await db.query(
    `UPDATE alert_deliveries SET attempts = attempts + 1, last_error = $2, claimed_until = NULL,
       state = CASE WHEN $3::float8 IS NULL THEN 3 ELSE 1 END,
       next_attempt_time = CASE WHEN $3::float8 IS NULL THEN next_attempt_time ELSE now() + make_interval(secs => $3::float8 / 1000) END
     WHERE id = $1`,
    [id, error.slice(0, 1000), retryMs ?? null],
  );
}
