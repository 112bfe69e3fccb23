import { describe, expect, it } from "vitest";
import { AlertCondition } from "@chime/sdk/gen/alert_service_pb";
import { ScheduleEventReason } from "@chime/sdk/gen/watch_service_pb";
import { slackText, type Notification } from "./alert-notification.js";
import type { RuleRow } from "./alert-store.js";
import { groupByRule, type NotifiableScheduleEvent } from "./schedule-alert-engine.js";

const JOB = "11111111-1111-4111-8111-111111111111";

const event = (reason: ScheduleEventReason, over: Partial<NotifiableScheduleEvent> = {}): NotifiableScheduleEvent => ({
  cursor: 1,
  jobId: JOB,
  jobName: "nightly",
  namespace: "team",
  labels: { env: "prod" },
  reason,
  count: 3,
  firstScheduledTime: new Date("2026-12-01T00:00:01Z"),
  lastScheduledTime: new Date("2026-12-01T00:00:03Z"),
  time: new Date("2026-12-01T00:00:09Z"),
  ...over,
});

describe("groupByRule", () => {
  const row = (id: string, condition: AlertCondition): RuleRow => ({
    id,
    namespace: "team",
    name: id,
    channel_id: "c1",
    condition,
    job_id: null,
    label_selector: "",
    threshold: 0,
    min_interval_ms: 1000,
    stall_after_ms: 0,
    queue: "",
    create_time: new Date(0),
  });

  it("one group per rule, counting its events, the first in the body and the latest kept for coalescing", () => {
    const events = [
      event(ScheduleEventReason.MISSED, { cursor: 1 }),
      event(ScheduleEventReason.LATE, { cursor: 2 }),
      event(ScheduleEventReason.MISSED, { cursor: 3, count: 7, lastScheduledTime: new Date("2026-12-01T00:01:00Z") }),
    ];
    const groups = groupByRule(events, [row("missed", AlertCondition.FIRE_MISSED), row("late", AlertCondition.FIRE_LATE)]);
    const missed = groups.get("missed")!;
    expect(missed.count).toBe(2);
    expect(missed.first.schedule_event).toEqual({
      reason: "MISSED",
      count: 3,
      first_scheduled_time: "2026-12-01T00:00:01.000Z",
      last_scheduled_time: "2026-12-01T00:00:03.000Z",
      time: "2026-12-01T00:00:09.000Z",
    });
    expect(missed.first.job).toEqual({ id: JOB, name: "nightly" });
    expect(missed.last).toEqual({ key: "last_schedule_event", value: expect.objectContaining({ count: 7, last_scheduled_time: "2026-12-01T00:01:00.000Z" }) });
    expect(groups.get("late")!.count).toBe(1);
    expect(groups.get("late")!.first.rule).toEqual({ id: "late", name: "late", condition: "FIRE_LATE" });
  });

  it("a Slack line names the job, the fire times and what happened to them", () => {
    const groups = groupByRule([event(ScheduleEventReason.LATE)], [row("late", AlertCondition.FIRE_LATE)]);
    const notification: Notification = { delivery_id: "1", ...groups.get("late")!.first, count: 1 };
    expect(slackText(notification)).toBe(
      "[chime] late: job team/nightly: 3 fire times 2026-12-01T00:00:01.000Z to 2026-12-01T00:00:03.000Z fired late (past its max_lag)",
    );
  });
});
