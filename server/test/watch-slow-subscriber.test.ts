import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createChimeClient, WatchService, type ChimeClient, type WatchRunsResponse } from "@chime/sdk";
import { startTestServer, type TestServer } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";

/**
 * A subscriber that stops reading while thousands of events flow: the server's queue for
 * it never exceeds CHIME_WATCH_BUFFER_EVENTS, then it is cut off (its queue dropped, its
 * registration removed) while a healthy subscriber keeps receiving everything. When the
 * stalled reader reads again it gets what the transport held, then RESOURCE_EXHAUSTED;
 * resuming with its last token yields exactly the rest. The SDK iterator does that by itself.
 * Events: TriggerJob (QUEUED) on a queue no worker serves, then DeleteJob (CANCELLED).
 */

const BUFFER = 1000;
const JOBS = 10;
const RUNS = 1500;

let server: TestServer;
let chime: ChimeClient;
let pool: pg.Pool;

beforeAll(async () => {
  server = await startTestServer({ CHIME_WATCH_BUFFER_EVENTS: String(BUFFER), CHIME_ROLES: "api" });
  chime = createChimeClient({ baseUrl: server.grpcUrl });
  pool = new pg.Pool({ connectionString: server.db.url, max: 2 });
});

afterAll(async () => {
  await pool?.end();
  await server?.close();
});

const key = (e: { runId?: string; run_id?: string; state: number; attempt: number }) => `${e.runId ?? e.run_id}/${e.state}/${e.attempt}`;

describe("slow subscriber", () => {
  it("is cut off with a resumable RESOURCE_EXHAUSTED, with bounded server memory, and resuming yields the rest", async () => {
    const jobs = await Promise.all(
      Array.from({ length: JOBS }, (_, i) => chime.createJob({ name: `slow-${i}`, queue: "stall", schedule: { at: new Date(Date.now() + 86_400_000) } })),
    );
    const controller = new AbortController();

    // 1. Healthy: reads everything as it comes.
    const healthy: string[] = [];
    const healthyDone = (async () => {
      for await (const e of chime.watchRuns({ queues: ["stall"] }, { signal: controller.signal })) healthy.push(key(e));
    })();
    // 2. Raw stalled reader: takes the first message, then stops reading.
    const raw = createClient(WatchService, createGrpcTransport({ baseUrl: server.grpcUrl }));
    const stalled = raw.watchRuns({ queues: ["stall"] }, { signal: controller.signal, timeoutMs: 0 })[Symbol.asyncIterator]();
    const firstStalled = stalled.next();
    // 3. SDK iterator whose loop body blocks until the flood is over, then reads on.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const sdkSlow: string[] = [];
    const reconnects: Array<Code | undefined> = [];
    const sdkDone = (async () => {
      for await (const e of chime.watchRuns(
        { queues: ["stall"] },
        { signal: controller.signal, onReconnect: ({ error }) => reconnects.push(error instanceof ConnectError ? error.code : undefined) },
      )) {
        if (sdkSlow.length === 0) await released;
        sdkSlow.push(key(e));
      }
    })();
    await waitFor("three streams registered", () => server.watch!.stats().subscribers === 3);

    // The flood, while the hub's queues are sampled.
    let maxBuffered = 0;
    const heapBefore = process.memoryUsage().heapUsed;
    let maxHeap = heapBefore;
    const sampler = setInterval(() => {
      maxBuffered = Math.max(maxBuffered, server.watch!.stats().bufferedEvents);
      maxHeap = Math.max(maxHeap, process.memoryUsage().heapUsed);
    }, 5);
    for (let n = 0; n < RUNS; n += 50) await Promise.all(Array.from({ length: 50 }, (_, k) => chime.triggerJob(jobs[(n + k) % JOBS].id)));
    for (const job of jobs) await chime.deleteJob(job.id);
    const { rows } = await pool.query<{ run_id: string; state: number; attempt: number }>(
      "SELECT e.run_id, e.state, e.attempt FROM run_event_log e JOIN runs r ON r.id = e.run_id WHERE r.queue = 'stall' ORDER BY e.cursor",
    );
    const expected = rows.map(key);
    expect(expected.length).toBe(RUNS * 2);
    await waitFor("the healthy stream to have everything", () => healthy.length >= expected.length, { timeoutMs: 20_000 });
    await waitFor("both slow streams cut off", () => server.watch!.stats().overflows >= 2 && server.watch!.stats().subscribers === 1, { timeoutMs: 10_000 });
    clearInterval(sampler);
    const afterCutoff = server.watch!.stats();
    // Bounded: no queue beyond the limit (three streams: at most one full queue each).
    expect(maxBuffered).toBeLessThanOrEqual(3 * BUFFER);
    expect(afterCutoff.bufferedEvents).toBe(0); // the healthy one has drained, the cut-off ones were dropped

    // The raw reader reads again: what the transport held, then RESOURCE_EXHAUSTED.
    const got: WatchRunsResponse[] = [(await firstStalled).value as WatchRunsResponse];
    let ended: ConnectError | undefined;
    try {
      for (;;) {
        const next = await stalled.next();
        if (next.done) break;
        got.push(next.value as WatchRunsResponse);
      }
    } catch (error) {
      ended = ConnectError.from(error);
    }
    expect(ended?.code).toBe(Code.ResourceExhausted);
    expect(ended?.rawMessage).toMatch(/resume with the resume_token of the last message you received/);
    const events = got.flatMap((m) => (m.kind.case === "event" ? [m.kind.value] : []));
    expect(events.length).toBeLessThan(expected.length);
    // Resume from its last token: exactly the rest.
    const rest: string[] = [];
    const resumeController = new AbortController();
    const resuming = (async () => {
      for await (const m of raw.watchRuns({ queues: ["stall"], resumeToken: events[events.length - 1].resumeToken }, { signal: resumeController.signal, timeoutMs: 0 })) {
        if (m.kind.case === "event") rest.push(key(m.kind.value));
      }
    })().catch(() => undefined);
    await waitFor("the rest", () => events.length + rest.length >= expected.length, { timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    resumeController.abort();
    await resuming;
    expect([...events.map(key), ...rest]).toEqual(expected);

    // The SDK iterator resumed on its own.
    release();
    await waitFor("the SDK reader to have everything", () => sdkSlow.length >= expected.length, { timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    controller.abort();
    await Promise.all([healthyDone, sdkDone]);
    expect(healthy).toEqual(expected);
    expect(sdkSlow).toEqual(expected);
    expect(reconnects).toContain(Code.ResourceExhausted);
    await waitFor("no stream left", () => server.watch!.stats().subscribers === 0);
    console.log(
      `slow subscriber: ${expected.length} events, buffer ${BUFFER}/stream; peak queued over all streams ${maxBuffered}; ` +
        `stalled raw reader got ${events.length} (held by the transport) then RESOURCE_EXHAUSTED and ${rest.length} on resume; ` +
        `SDK reader reconnected ${reconnects.length}x (${reconnects.map((c) => (c !== undefined ? Code[c] : "?")).join(", ")}); ` +
        `test-process heap (server in process) ${Math.round(heapBefore / 1048576)} → peak ${Math.round(maxHeap / 1048576)} MB`,
    );
  });
});
