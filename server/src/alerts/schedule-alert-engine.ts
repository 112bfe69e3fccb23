import type pg from "pg";
import { ScheduleEventReason } from "@chime/sdk/gen/watch_service_pb";
import { createLogConsumerPass } from "../events/log-consumer.js";
import { scheduleEventReasonName } from "../scheduler/schedule-events.js";
import type { NotifiedScheduleEvent } from "./alert-notification.js";
import { matchableRule } from "./alert-engine.js";
import { rulesForScheduleEvent, SCHEDULE_CONDITIONS } from "./alert-rules.js";
import { enqueue, listRules, ruleEvent, type RuleEvents, type RuleRow } from "./alert-store.js";

/** A MISSED or LATE schedule event, with its job, as the matcher takes it. */
export interface NotifiableScheduleEvent {
  cursor: number;
  jobId: string;
  jobName: string;
  namespace: string;
  labels: Record<string, string>;
  reason: ScheduleEventReason;
  count: number;
  firstScheduledTime: Date;
  lastScheduledTime: Date;
  time: Date;
}

/**
 * Matches the scheduler's MISSED and LATE schedule events against FIRE_MISSED and FIRE_LATE
 * rules and writes the deliveries they call for: its own consumer of the event log (cursor
 * `schedule_alerts`), so each decision notifies exactly once whichever scheduler process
 * consumes it, and the dispatch pass that wrote the event is never slowed by it.
 */
export function createScheduleAlertEngine(pool: pg.Pool): () => Promise<number> {
  let rules: RuleRow[] = [];
  return createLogConsumerPass(pool, {
    name: "schedule_alerts",
    active: async () => (rules = (await listRules(pool, "")).filter((rule) => SCHEDULE_CONDITIONS.has(rule.condition))).length > 0,
    read: readNotifiableScheduleEvents,
    prepare: async (events) => groupByRule(events, rules),
    write: async (client, groups) => {
      for (const group of groups.values()) await enqueue(client, group);
      return groups.size;
    },
  });
}

/** The events' notifications, one group per rule (in event order within it). Pure. */
export function groupByRule(events: readonly NotifiableScheduleEvent[], rules: readonly RuleRow[]): Map<string, RuleEvents> {
  const byId = new Map(rules.map((rule) => [rule.id, rule]));
  const matchable = rules.map(matchableRule);
  const groups = new Map<string, RuleEvents>();
  for (const event of events) {
    const notified = notifiedScheduleEvent(event);
    for (const candidate of rulesForScheduleEvent(event, matchable)) {
      const group = groups.get(candidate.id);
      if (group) {
        group.count += 1;
        group.last = { key: "last_schedule_event", value: notified };
        continue;
      }
      const body = { namespace: event.namespace, job: { id: event.jobId, name: event.jobName }, schedule_event: notified };
      groups.set(candidate.id, ruleEvent(byId.get(candidate.id)!, body, { key: "last_schedule_event", value: notified }));
    }
  }
  return groups;
}

/** A schedule event as a notification shows it. */
export const notifiedScheduleEvent = (event: NotifiableScheduleEvent): NotifiedScheduleEvent => ({
  reason: scheduleEventReasonName(event.reason).toUpperCase(),
  count: event.count,
  first_scheduled_time: event.firstScheduledTime.toISOString(),
  last_scheduled_time: event.lastScheduledTime.toISOString(),
  time: event.time.toISOString(),
});

interface ScheduleEventRow {
  cursor: string;
  job_id: string;
  job_name: string;
  namespace: string;
  labels: Record<string, string>;
  reason: number;
  count: number;
  first_scheduled_time: Date;
  last_scheduled_time: Date;
  time: Date;
}

/** MISSED and LATE schedule events with a cursor in (after, upTo], oldest first, with their job. */
async function readNotifiableScheduleEvents(client: pg.PoolClient, after: number, upTo: number, limit: number): Promise<NotifiableScheduleEvent[]> {
  const { rows } = await client.query<ScheduleEventRow>(
    `SELECT se.cursor, se.job_id, j.name AS job_name, j.namespace, j.labels, se.reason, se.count, se.first_scheduled_time, se.last_scheduled_time, se.time
     FROM schedule_events se JOIN jobs j ON j.id = se.job_id
     WHERE se.cursor > $1 AND se.cursor <= $2 AND se.reason = ANY($4::smallint[])
     ORDER BY se.cursor LIMIT $3`,
    [after, upTo, limit, [ScheduleEventReason.MISSED, ScheduleEventReason.LATE]],
  );
  return rows.map((row) => ({
    cursor: Number(row.cursor),
    jobId: row.job_id,
    jobName: row.job_name,
    namespace: row.namespace,
    labels: row.labels,
    reason: row.reason,
    count: row.count,
    firstScheduledTime: row.first_scheduled_time,
    lastScheduledTime: row.last_scheduled_time,
    time: row.time,
  }));
}
