import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { AlertChannelKind } from "@chime/sdk/gen/alert_service_pb";
import { channelRequest, signature, slackText, type Notification } from "./alert-notification.js";

const notification: Notification = {
  delivery_id: "7",
  rule: { id: "r1", name: "nightly-failed", condition: "RUN_FAILED" },
  namespace: "team",
  job: { id: "j1", name: "nightly" },
  count: 1,
  run: { id: "run1", state: "FAILED", attempt: 3, error: "boom", time: "2026-12-01T00:00:00.000Z" },
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
    const request = channelRequest(AlertChannelKind.SLACK, { ...notification, count: 3, last_run: { ...notification.run, id: "run3" } }, "s3cret", 1);
    expect(request.headers["chime-signature"]).toBeUndefined();
    const text = (JSON.parse(request.body) as { text: string }).text;
    expect(text).toBe(slackText({ ...notification, count: 3, last_run: { ...notification.run, id: "run3" } }));
    expect(text).toContain("job team/nightly run run1 FAILED (attempt 3): boom");
    expect(text).toContain("2 more since, latest FAILED run3");
  });
});
