import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { JobSchema } from "@chime/sdk";
import { createReleaseQueue } from "./release-queue.js";
import type { PendingRun } from "./run-publisher.js";

const job = create(JobSchema, { id: "j", queue: "q" });
const run = (id: string, at: number): PendingRun => ({ id, scheduledTime: new Date(at), job });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("release queue", () => {
  it("publishes each run at (never before) its scheduled time, in time order, across interleaved adds", async () => {
    const published: { id: string; at: number }[] = [];
    const queue = createReleaseQueue({
      now: Date.now,
      publish: async (runs) => {
        for (const r of runs) published.push({ id: r.id, at: Date.now() });
      },
    });
    const t0 = Date.now();
    queue.add([run("c", t0 + 240), run("a", t0 + 80)]);
    queue.add([run("b", t0 + 160), run("d", t0 + 320)]);
    expect(queue.size).toBe(4);
    await sleep(450);
    await queue.drain();
    expect(published.map((p) => p.id)).toEqual(["a", "b", "c", "d"]);
    const due = { a: 80, b: 160, c: 240, d: 320 } as Record<string, number>;
    for (const p of published) expect(p.at).toBeGreaterThanOrEqual(t0 + due[p.id]);
    expect(queue.size).toBe(0);
  });

  it("drops what waits when cleared, and publishes nothing after", async () => {
    const published: string[] = [];
    const queue = createReleaseQueue({ now: Date.now, publish: async (runs) => void published.push(...runs.map((r) => r.id)) });
    queue.add([run("x", Date.now() + 50), run("y", Date.now() + 60)]);
    expect(queue.clear()).toBe(2);
    await sleep(120);
    expect(published).toEqual([]);
  });
});
