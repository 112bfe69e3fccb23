import { createHmac } from "node:crypto";
import { AlertChannelKind, AlertCondition } from "@chime/sdk/gen/alert_service_pb";
import { RunState } from "@chime/sdk/gen/run_pb";

/** One run in a notification. */
export interface NotifiedRun {
  id: string;
  state: string;
  attempt: number;
  error: string;
  time: string;
}

/** One schedule event in a notification (FIRE_MISSED, FIRE_LATE): which fire times, decided when. */
export interface NotifiedScheduleEvent {
  /** MISSED or LATE. */
  reason: string;
  /** How many fire times it covers. */
  count: number;
  first_scheduled_time: string;
  last_scheduled_time: string;
  /** When the scheduler decided (Postgres' clock). */
  time: string;
}

/**
 * A notification's body, stored with its delivery and sent as is to webhooks (snake_case
 * JSON, the common webhook style). `count` is how many events it stands for; with more
 * than one, `run` (or `schedule_event`) is the first and `last_run` (`last_schedule_event`)
 * the latest.
 */
export interface Notification {
  delivery_id: string;
  rule: { id: string; name: string; condition: string };
  namespace: string;
  /** Absent for a queue's notification (QUEUE_STALLED). */
  job?: { id: string; name: string };
  count: number;
  /** The run notified (JOB_AUTO_PAUSED: the one that ended the streak); absent for a queue's notification. */
  run?: NotifiedRun;
  last_run?: NotifiedRun;
  /** JOB_AUTO_PAUSED: the streak that paused the job. */
  pause?: { failure_streak: number; last_run_id: string };
  /** QUEUE_STALLED: the queue, its waiting runs, how long it had no worker, and whether this is the recovery. */
  queue?: QueueStallNotice;
  /** FIRE_MISSED, FIRE_LATE: the schedule event notified (no run). */
  schedule_event?: NotifiedScheduleEvent;
  last_schedule_event?: NotifiedScheduleEvent;
}

export interface QueueStallNotice {
  name: string;
  waiting: number;
  stalled_seconds: number;
  recovered: boolean;
}

export const conditionName = (condition: AlertCondition): string => AlertCondition[condition];
export const stateName = (state: RunState): string => RunState[state];

/** The signature header value: `t=<unix seconds>,v1=<hex HMAC-SHA256("<t>.<body>")>` (a timestamp against replay). */
export function signature(secret: string, unixSeconds: number, body: string): string {
  const mac = createHmac("sha256", secret).update(`${unixSeconds}.${body}`).digest("hex");
  return `t=${unixSeconds},v1=${mac}`;
}

export interface OutgoingRequest {
  body: string;
  headers: Record<string, string>;
}

/** The HTTP request a channel of `kind` gets for a notification. */
export function channelRequest(kind: AlertChannelKind, notification: Notification, secret: string, unixSeconds: number): OutgoingRequest {
  const headers: Record<string, string> = { "content-type": "application/json", "user-agent": "chime-alerts" };
  if (kind === AlertChannelKind.SLACK) return { body: JSON.stringify({ text: slackText(notification) }), headers };
  const body = JSON.stringify(notification);
  return {
    body,
    headers: { ...headers, "chime-signature": signature(secret, unixSeconds, body), "chime-delivery-id": notification.delivery_id },
  };
}

/** One line for a chat channel: rule, job, run, outcome, error, and how many more. */
export function slackText(n: Notification): string {
  if (n.queue) {
    const q = n.queue;
    return q.recovered
      ? `[chime] ${n.rule.name}: queue ${q.name} is consumed again after ${q.stalled_seconds}s without a worker`
      : `[chime] ${n.rule.name}: queue ${q.name} has ${q.waiting} run(s) waiting and no worker for ${q.stalled_seconds}s`;
  }
  if (n.schedule_event && n.job) {
    const e = n.schedule_event;
    const span = e.count > 1 ? `${e.count} fire times ${e.first_scheduled_time} to ${e.last_scheduled_time}` : `the fire time ${e.first_scheduled_time}`;
    const what = e.reason === "LATE" ? "fired late (past its max_lag)" : "missed (dropped by its misfire policy)";
    const more = n.count > 1 ? ` (${n.count - 1} more since, latest ${n.last_schedule_event?.last_scheduled_time ?? ""})` : "";
    return `[chime] ${n.rule.name}: job ${n.namespace}/${n.job.name}: ${span} ${what}${more}`;
  }
  if (!n.run || !n.job) return `[chime] ${n.rule.name}`;
  if (n.pause) return `[chime] ${n.rule.name}: job ${n.namespace}/${n.job.name} paused after ${n.pause.failure_streak} failed runs in a row (last ${n.pause.last_run_id})`;
  const error = n.run.error ? `: ${n.run.error.slice(0, 300)}` : "";
  const more = n.count > 1 ? ` (${n.count - 1} more since, latest ${n.last_run?.state ?? ""} ${n.last_run?.id ?? ""})` : "";
  return `[chime] ${n.rule.name}: job ${n.namespace}/${n.job.name} run ${n.run.id} ${n.run.state} (attempt ${n.run.attempt})${error}${more}`;
}
