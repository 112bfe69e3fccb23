import { describe, expect, it } from "vitest";
import type { QueueConsumerStats } from "../nats/queue-consumers.js";
import { judgeStall, type StallJudgement, type StallState } from "./queue-stall.js";

const T = 30_000;
const at = (ms: number) => new Date(ms);
const figures = (waiting: number, pullRequests = 0, inFlight = 0): QueueConsumerStats => ({ queue: "q", waiting, pullRequests, inFlight });

describe("judgeStall", () => {
  const cases: Array<[string, StallState | undefined, QueueConsumerStats | undefined, number, StallJudgement]> = [
    ["runs waiting, no worker: a stall starts, not yet notified", undefined, figures(5), 1000, { next: { since: at(1000), notified: false } }],
    ["nothing waiting: no stall", undefined, figures(0), 1000, { next: undefined }],
    ["runs waiting, a worker pulling: no stall", undefined, figures(5, 1), 1000, { next: undefined }],
    ["runs waiting, a busy worker (runs in flight): no stall", undefined, figures(5, 0, 2), 1000, { next: undefined }],
    ["exactly T: not yet (longer than T notifies)", { since: at(1000), notified: false }, figures(5), 1000 + T, { next: { since: at(1000), notified: false } }],
    [
      "longer than T: notified once, with the waiting count and how long",
      { since: at(1000), notified: false },
      figures(7),
      1001 + T,
      { next: { since: at(1000), notified: true }, notice: { waiting: 7, stalledMs: T + 1, recovered: false } },
    ],
    ["still stalled after the notice: nothing more", { since: at(1000), notified: true }, figures(9), 1000 + 10 * T, { next: { since: at(1000), notified: true } }],
    [
      "a worker back after the notice: the recovery",
      { since: at(1000), notified: true },
      figures(9, 1),
      1000 + 2 * T,
      { next: undefined, notice: { waiting: 9, stalledMs: 2 * T, recovered: true } },
    ],
    ["runs gone before T: the stall ends unnotified", { since: at(1000), notified: false }, figures(0), 2000, { next: undefined }],
    ["JetStream not read: the state is kept", { since: at(1000), notified: true }, undefined, 5000, { next: { since: at(1000), notified: true } }],
    ["JetStream not read, no stall: still none", undefined, undefined, 5000, { next: undefined }],
  ];
  it.each(cases)("%s", (_, previous, seen, now, expected) => {
    expect(judgeStall(previous, seen, at(now), T)).toEqual(expected);
  });
});
