import { describe, expect, it } from "vitest";
import { RunState } from "@chime/sdk";
import { createLogger } from "../src/logger.js";
import { startWatchHub } from "../src/watch/watch-hub.js";
import { useTestServer } from "./helpers/test-server.js";
import { readMetric } from "./helpers/metrics.js";
import { waitFor } from "./helpers/wait.js";

const fixture = useTestServer();

const metric = (name: string) => readMetric(fixture.server.httpUrl, name);

describe("watch tail without streams", () => {
  it("advances past events without reading them while no stream is open; a stream starts after what was committed before it", async () => {
    const job = await fixture.chime.createJob({ name: "tail", queue: "nobody-listens", schedule: { every: "1h" } });
    const start = await metric("chime_watch_tail_cursor");
    for (let i = 0; i < 5; i++) await fixture.chime.triggerJob(job.id);
    await waitFor("the tail to pass the new events", async () => ((await metric("chime_watch_tail_cursor")) >= start + 5 ? true : undefined));
    expect(await metric("chime_watch_events_read_total")).toBe(0);

    // A stream opened now starts after everything committed before it (the idle tail is
    // brought up to date first, though it polls slowly), and gets the next run's events.
    await fixture.chime.triggerJob(job.id);
    const controller = new AbortController();
    const stream = fixture.chime.watchRuns({ jobIds: [job.id] }, { signal: controller.signal });
    const first = stream.next();
    await waitFor("the stream to register", async () => ((await metric("chime_watch_subscribers")) === 1 ? true : undefined));
    const run = await fixture.chime.triggerJob(job.id);
    const event = (await first).value!;
    controller.abort();
    expect(event.runId).toBe(run.id);
    expect(event.state).toBe(RunState.QUEUED);
    expect(await metric("chime_watch_events_read_total")).toBeGreaterThan(0);
  });
});

it("the first subscriber ends the tail's slow idle poll at once", async () => {
  const job = await fixture.chime.createJob({ name: "idle-wake", queue: "nobody-listens", schedule: { every: "1h" } });
  // A hub of the test's own whose idle poll would outlast the test.
  const hub = startWatchHub({ pool: fixture.server.pool, logger: createLogger("silent"), pollMs: 50, bufferLimit: 100, idlePollMs: 600_000 });
  try {
    await hub.ready;
    await new Promise((resolve) => setTimeout(resolve, 200)); // the tail is in its idle sleep now
    const sub = hub.subscribe({ jobIds: [job.id], matches: () => true });
    const run = await fixture.chime.triggerJob(job.id);
    await sub.changed(AbortSignal.timeout(10_000), 10_000);
    expect(sub.queue.map((e) => e.runId)).toContain(run.id);
  } finally {
    await hub.stop();
  }
});
