import { describe, expect, it } from "vitest";
import { Worker } from "./worker.js";

const base = { natsUrl: "nats://127.0.0.1:1", queue: "q", handler: () => undefined };

describe("Worker options: queue and namespace are single subject tokens", () => {
  it.each([
    ["queue with a dot", { queue: "a.b" }, /queue "a\.b" is not a valid queue name/],
    ["queue *", { queue: "*" }, /queue "\*" is not a valid queue name/],
    ["queue >", { queue: ">" }, /queue ">" is not a valid queue name/],
    ["queue with a space", { queue: "a b" }, /not a valid queue name/],
    ["empty queue", { queue: "" }, /not a valid queue name/],
    ["namespace with a dot", { namespace: "team.a" }, /namespace "team\.a" is not a valid namespace/],
    ["namespace *", { namespace: "*" }, /not a valid namespace/],
    ["namespace >", { namespace: ">" }, /not a valid namespace/],
    ["namespace with a tab", { namespace: "a\tb" }, /not a valid namespace/],
    ["empty namespace", { namespace: "" }, /not a valid namespace/],
    ["namespace of 65 characters", { namespace: "n".repeat(65) }, /not a valid namespace/],
  ])("refuses a %s", (_what, options, message) => {
    expect(() => new Worker({ ...base, ...options })).toThrow(message);
  });

  it.each([
    ["no namespace", {}],
    ["a namespace", { namespace: "team-a_1" }],
    ["a namespace of 64 characters", { namespace: "n".repeat(64) }],
  ])("accepts %s", (_what, options) => {
    expect(() => new Worker({ ...base, ...options })).not.toThrow();
  });
});
