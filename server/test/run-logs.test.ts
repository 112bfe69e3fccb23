import { afterAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { WatchService } from "@chime/sdk/gen/watch_service_pb";
import { RunLogLevel, RunState, Worker, type RunLogLine, type WorkerHandler, type WorkerOptions } from "@chime/sdk";
import { createLogger } from "../src/logger.js";
import { TEST_NATS_URL } from "./helpers/env.js";
import { useTestServer } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";
import { onlyRunOf, terminalRun } from "./helpers/worker-runs.js";

// Retention on (a day) so the last test can age a run past it.
const fixture = useTestServer({
  CHIME_EVENT_RETENTION_MS: "86400000",
  CHIME_RUN_RETENTION_MS: "86400000",
  CHIME_EVENT_PRUNE_INTERVAL_MS: "200",
  CHIME_BACKGROUND_INTERVAL_MS: "100",
});
const QUIET = createLogger("silent");
const workers: Worker[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
});

let n = 0;
/** A Worker with the handler on a queue of its own, started; resolves with the queue. */
async function workerFor(handler: WorkerHandler, options: Partial<WorkerOptions> = {}): Promise<string> {
  const queue = `logs-${++n}`;
  const worker = new Worker({ natsUrl: TEST_NATS_URL, prefix: fixture.server.config.natsPrefix, queue, workerId: `w${n}`, logger: QUIET, handler, ...options });
  await worker.start();
  workers.push(worker);
  return queue;
}

/** A job on a queue of its own, run once by a Worker with the handler; resolves with its ended run. */
async function runWith(handler: WorkerHandler, options: Partial<WorkerOptions> = {}, maxAttempts = 1) {
  const queue = await workerFor(handler, options);
  const job = await fixture.chime.createJob({ name: queue, queue, schedule: "immediate", retry: { maxAttempts, initialBackoff: "10ms" } });
  return terminalRun(fixture.chime, (await onlyRunOf(fixture.chime, job.id)).id);
}

/** Every line of the run, read a page of `pageSize` at a time; also how many pages it took. */
async function readAll(runId: string, pageSize: number): Promise<{ lines: RunLogLine[]; pages: number }> {
  const lines: RunLogLine[] = [];
  let pageToken = "";
  let pages = 0;
  for (;;) {
    const page = await fixture.chime.jobService.getRunLogs({ runId, pageSize, pageToken });
    pages++;
    lines.push(...page.lines);
    if (page.lines.length < pageSize) return { lines, pages };
    pageToken = page.nextPageToken;
  }
}
const brief = (l: RunLogLine) => [l.attempt, l.seq, RunLogLevel[l.level], l.message];

describe("run logs", () => {
  it("stores a handler's lines per attempt and reads them back in order, a page at a time", async () => {
    const run = await runWith(async (r, ctx) => {
      ctx.log.info(`start ${r.attempt}`, { attempt: r.attempt });
      if (r.attempt === 1) {
        ctx.log.error("upstream refused");
        throw new Error("boom");
      }
      ctx.log.debug("retrying went fine");
      ctx.log.warn("slow", { ms: 1200 });
      return { ok: true };
    }, {}, 2);
    expect(run.state).toBe(RunState.SUCCEEDED);
    const { lines, pages } = await readAll(run.id, 2);
    expect(lines.map(brief)).toEqual([
      [1, 1, "INFO", "start 1"],
      [1, 2, "ERROR", "upstream refused"],
      [2, 1, "INFO", "start 2"],
      [2, 2, "DEBUG", "retrying went fine"],
      [2, 3, "WARN", "slow"],
    ]);
    expect(pages).toBe(3);
    expect(lines[4].fields).toEqual({ ms: 1200 });
    expect(lines.every((l) => l.time !== undefined)).toBe(true);
  });

  it("follows a run's lines live while it runs, and ends when it ends", async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const queue = await workerFor(async (r, ctx) => {
      ctx.log.info(`attempt ${r.attempt}`);
      if (r.attempt === 1) throw new Error("first try fails");
      await gate;
      ctx.log.info("done");
    });
    const job = await fixture.chime.createJob({ name: queue, queue, schedule: "immediate", retry: { maxAttempts: 2, initialBackoff: "10ms" } });
    const run = await onlyRunOf(fixture.chime, job.id);
    const watch = createClient(WatchService, createGrpcTransport({ baseUrl: fixture.server.grpcUrl }));
    const seen: { lines: string[]; runState: RunState }[] = [];
    const following = (async () => {
      for await (const message of watch.watchRunLogs({ runId: run.id })) {
        const runState = (await fixture.chime.getRun(run.id)).state;
        seen.push({ lines: message.lines.map((l) => `${l.attempt}:${l.message}`), runState });
        if (seen.length === 1) release();
      }
    })();
    await following; // ends by itself once the run has ended
    expect(seen.map((m) => m.lines)).toEqual([["1:attempt 1"], ["2:attempt 2", "2:done"]]);
    // The first attempt's lines arrived while the run was still going (the second attempt waited for them).
    expect([RunState.RUNNING, RunState.RETRY_WAIT, RunState.QUEUED]).toContain(seen[0].runState);
    expect((await fixture.chime.getRun(run.id)).state).toBe(RunState.SUCCEEDED);
  });

  it("stores a long attempt's lines while it runs, each once, and a follower sees them before it ends", async () => {
    const gate = () => {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      return { promise, resolve };
    };
    const gates = [gate(), gate()];
    const queue = await workerFor(
      async (_r, ctx) => {
        ctx.log.info("step 1");
        await gates[0].promise;
        ctx.log.info("step 2", { rows: 42 });
        await gates[1].promise;
        return { ok: true };
      },
      { logFlushMs: 100 },
    );
    const job = await fixture.chime.createJob({ name: queue, queue, schedule: "immediate" });
    const run = await onlyRunOf(fixture.chime, job.id);
    const watch = createClient(WatchService, createGrpcTransport({ baseUrl: fixture.server.grpcUrl }));
    const followed: string[] = [];
    const following = (async () => {
      for await (const message of watch.watchRunLogs({ runId: run.id })) followed.push(...message.lines.map((l) => l.message));
    })();
    const stored = async () => (await fixture.chime.jobService.getRunLogs({ runId: run.id })).lines.map((l) => l.message);

    await waitFor("step 1 stored while the handler runs", async () => (await stored()).join() === "step 1", { timeoutMs: 10_000 });
    expect((await fixture.chime.getRun(run.id)).state).toBe(RunState.RUNNING);
    await waitFor("the follower to see step 1", () => followed.length === 1);
    gates[0].resolve();
    await waitFor("step 2 stored while the handler runs", async () => (await stored()).join() === "step 1,step 2", { timeoutMs: 10_000 });
    expect((await fixture.chime.getRun(run.id)).state).toBe(RunState.RUNNING);
    await waitFor("the follower to see step 2", () => followed.length === 2);
    gates[1].resolve();
    expect((await terminalRun(fixture.chime, run.id)).state).toBe(RunState.SUCCEEDED);
    await following;

    // The end carried both lines again; each is stored once, and the run's events are its usual three.
    const { lines } = await readAll(run.id, 100);
    expect(lines.map(brief)).toEqual([[1, 1, "INFO", "step 1"], [1, 2, "INFO", "step 2"]]);
    expect(lines[1].fields).toEqual({ rows: 42 });
    expect(followed).toEqual(["step 1", "step 2"]);
    const { rows } = await fixture.server.pool.query<{ state: number }>("SELECT state FROM run_event_log WHERE run_id = $1 ORDER BY cursor", [run.id]);
    expect(rows.map((r) => r.state)).toEqual([RunState.QUEUED, RunState.RUNNING, RunState.SUCCEEDED]);
  });

  it("keeps no row for a run whose handler logged nothing", async () => {
    const run = await runWith(() => ({ ok: true }));
    expect((await fixture.chime.jobService.getRunLogs({ runId: run.id })).lines).toEqual([]);
    const { rows } = await fixture.server.pool.query("SELECT 1 FROM run_logs WHERE run_id = $1", [run.id]);
    expect(rows).toHaveLength(0);
  });

  it("bounds the lines in the Worker, with a marker counting what it dropped", async () => {
    const run = await runWith((_r, ctx) => {
      for (let i = 1; i <= 10; i++) ctx.log.info(`line ${i}`);
    }, { runLogLimits: { maxLines: 3, maxChars: 1_000_000 } });
    const { lines } = await readAll(run.id, 100);
    expect(lines.map(brief)).toEqual([[1, 1, "INFO", "line 1"], [1, 2, "INFO", "line 2"], [1, 3, "INFO", "line 3"], [1, 4, "DROPPED", lines[3].message]]);
    expect(lines[3].fields).toEqual({ dropped: 7 });
  });

  it("bounds the lines again on the server (1,000 per run) whatever the Worker sends", async () => {
    const run = await runWith((_r, ctx) => {
      for (let i = 1; i <= 1200; i++) ctx.log.info(`line ${i}`);
    }, { runLogLimits: { maxLines: 100_000, maxChars: 100_000_000 } });
    const { lines } = await readAll(run.id, 1000);
    expect(lines).toHaveLength(1001);
    expect(brief(lines[999])).toEqual([1, 1000, "INFO", "line 1000"]);
    expect(lines[1000].level).toBe(RunLogLevel.DROPPED);
    expect(lines[1000].fields).toEqual({ dropped: 200 });
  });

  it("answers NOT_FOUND for an unknown run and INVALID_ARGUMENT naming run_id for a bad id", async () => {
    const code = async (call: Promise<unknown>) => ConnectError.from(await call.then(() => new Error("no error"), (e: unknown) => e));
    expect((await code(fixture.chime.jobService.getRunLogs({ runId: "0190a8f0-0000-7000-8000-000000000000" }))).code).toBe(Code.NotFound);
    const bad = await code(fixture.chime.jobService.getRunLogs({ runId: "nope" }));
    expect(bad.code).toBe(Code.InvalidArgument);
    expect(bad.rawMessage).toContain("run_id");
  });

  it("is pruned with its run by run retention", async () => {
    const run = await runWith((_r, ctx) => ctx.log.info("old news"));
    expect((await fixture.chime.jobService.getRunLogs({ runId: run.id })).lines).toHaveLength(1);
    await fixture.server.pool.query(
      `UPDATE runs SET scheduled_time = scheduled_time - interval '2 days', create_time = create_time - interval '2 days',
         start_time = start_time - interval '2 days', end_time = end_time - interval '2 days' WHERE id = $1`,
      [run.id],
    );
    await waitFor("the old run to be deleted", async () => {
      const { rows } = await fixture.server.pool.query("SELECT 1 FROM runs WHERE id = $1", [run.id]);
      return rows.length === 0 ? true : undefined;
    });
    const { rows } = await fixture.server.pool.query("SELECT 1 FROM run_logs WHERE run_id = $1", [run.id]);
    expect(rows).toHaveLength(0);
  });
});
