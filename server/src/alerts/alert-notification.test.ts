import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { AlertChannelKind } from "@chime/sdk/gen/alert_service_pb";
import { channelRequest, signature, slackText, type Notification, type NotifiedRun } from "./alert-notification.js";

const run: NotifiedRun = { id: "run1", state: "FAILED", attempt: 3, error: "boom", time: "2026-12-01T00:00:00.000Z" };
const notification: Notification = {
  delivery_id: "7",
  rule: { id: "r1", name: "nightly-failed", condition: "RUN_FAILED" },
  namespace: "team",
  job: { id: "j1", name: "nightly" },
  count: 1,
  run,
};

describe("notifications", () => {
  it("signs a webhook body as t=<seconds>,v1=<HMAC-SHA256 of t.body>, which a receiver recomputes", () => {
    const request = channelRequest(AlertChannelKind.WEBHOOK, notification, "s3cret", 1_700_000_000);
    expect(JSON.parse(request.body)).toEqual(notification);
    const header = request.headers["chime-signature"];
    const [t, v1] = header.split(",").map((part) => part.split("=")[1]);
    expect(t).toBe("1700000000");
    expect(v1).toBe(createHmac("sha256", "s3cret").update(`${t}.${request.body}`).digest("hex"));
    expect(signature("other", 1_700_000_000, request.body)).not.toBe(header);
    expect(request.headers["chime-delivery-id"]).toBe("7");
  });

  it("sends a Slack channel one line of text, unsigned", () => {
    const request = channelRequest(AlertChannelKind.SLACK, { ...notification, count: 3, last_run: { ...run, id: "run3" } }, "s3cret", 1);
    expect(request.headers["chime-signature"]).toBeUndefined();
    const text = (JSON.parse(request.body) as { text: string }).text;
    expect(text).toBe(slackText({ ...notification, count: 3, last_run: { ...run, id: "run3" } }));
    expect(text).toContain("job team/nightly run run1 FAILED (attempt 3): boom");
    expect(text).toContain("2 more since, latest FAILED run3");
  });

  it("says in words what a job's auto-pause and a queue's stall and recovery are", () => {
    const rule = { id: "r2", name: "ops", condition: "JOB_AUTO_PAUSED" };
    expect(slackText({ ...notification, rule, pause: { failure_streak: 3, last_run_id: "run1" } })).toBe(
      "[chime] ops: job team/nightly paused after 3 failed runs in a row (last run1)",
    );
    const stall = { delivery_id: "8", rule, namespace: "team", count: 1 };
    expect(slackText({ ...stall, queue: { name: "q", waiting: 4, stalled_seconds: 90, recovered: false } })).toBe("[chime] ops: queue q has 4 run(s) waiting and no worker for 90s");
    expect(slackText({ ...stall, queue: { name: "q", waiting: 0, stalled_seconds: 120, recovered: true } })).toBe("[chime] ops: queue q is consumed again after 120s without a worker");
  });
});
