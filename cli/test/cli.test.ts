import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../../server/test/helpers/test-server.js";
import { createChimeClient, Worker } from "@chime/sdk";
import { TEST_NATS_URL } from "../../server/test/helpers/env.js";
import { onlyRunOf } from "../../server/test/helpers/worker-runs.js";
import { CLI, runChime, type CliResult } from "./run-cli.js";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => server?.close());

function chime(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runChime(server.grpcUrl, args, env);
}

async function json(args: string[]): Promise<Record<string, unknown>> {
  const result = await chime([...args, "--output", "json"]);
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

describe("chime job and chime run", () => {
  it("create, get, list, update, pause, resume, trigger, delete; run list, get, cancel", async () => {
    const job = await json(["job", "create", "--name", "cli-job", "--queue", "cli-q", "--every", "1h", "--label", "team=ops", "--payload", '{"to":"ops"}']);
    const id = job.id as string;
    expect(job).toMatchObject({ name: "cli-job", queue: "cli-q", state: "JOB_STATE_ACTIVE", labels: { team: "ops" }, payload: { to: "ops" } });

    const shown = await chime(["job", "get", id]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^id:\s+\S+/m);
    expect(shown.stdout).toMatch(/^schedule:\s+every 3600s$/m);

    const listed = await chime(["job", "list", "--queue", "cli-q"]);
    expect(listed.stdout.split("\n")[0]).toMatch(/^ID\s+NAME\s+QUEUE\s+STATE\s+SCHEDULE\s+NEXT RUN$/);
    expect(listed.stdout).toContain("cli-job");
    expect(((await json(["job", "list", "--state", "active"])) as unknown as unknown[]).map((j) => (j as { id: string }).id)).toContain(id);

    expect(await json(["job", "update", id, "--label", "team=platform", "--cron", "0 0 3 * * *", "--tz", "Europe/Berlin", "--dst-repeat", "both"])).toMatchObject({
      labels: { team: "platform" },
      name: "cli-job",
      schedule: { cron: { expression: "0 0 3 * * *", timeZone: "Europe/Berlin", dstGap: "DST_GAP_POLICY_SHIFT", dstRepeat: "DST_REPEAT_POLICY_BOTH" } },
    });
    expect((await chime(["job", "get", id])).stdout).toMatch(/^schedule:\s+cron 0 0 3 \* \* \* \(Europe\/Berlin\), both occurrences of a repeated hour$/m);
    expect(await json(["job", "pause", id])).toMatchObject({ state: "JOB_STATE_PAUSED" });
    expect(await json(["job", "resume", id])).toMatchObject({ state: "JOB_STATE_ACTIVE" });
    expect(await json(["job", "update", id, "--pause-after-failures", "3"])).toMatchObject({ pauseAfterFailures: 3 });
    expect(await chime(["job", "update", id, "--pause-after-failures", "-1"])).toMatchObject({ code: 3, stderr: 'chime: --pause-after-failures: "-1" is not a positive integer\n' });
    expect(await json(["job", "update", id, "--run-retention", "10d"])).toMatchObject({ runRetention: "864000s" });
    expect((await chime(["job", "get", id])).stdout).toMatch(/^run retention:\s+864000s \(finished runs kept after they end\)$/m);
    expect(await json(["job", "update", id, "--run-retention", "0"])).not.toHaveProperty("runRetention");
    expect(await chime(["job", "update", id, "--run-retention", "soon"])).toMatchObject({ code: 3, stderr: 'chime: --run-retention: "soon" is not a duration (e.g. 500ms, 5s, 1m30s, 2h)\n' });

    const run = await json(["job", "trigger", id]);
    expect(run).toMatchObject({ jobId: id, state: "RUN_STATE_QUEUED", trigger: "RUN_TRIGGER_MANUAL" });
    const runs = (await json(["run", "list", "--job", id])) as unknown as Array<{ id: string }>;
    expect(runs.map((r) => r.id)).toEqual([run.id]);
    const runTable = await chime(["run", "list", "--job", id, "--state", "queued"]);
    expect(runTable.stdout).toMatch(/^ID\s+JOB\s+STATE\s+ATTEMPT/);
    expect(runTable.stdout).toContain("QUEUED");
    expect((await chime(["run", "get", run.id as string])).stdout).toMatch(/^state:\s+QUEUED$/m);
    expect(await json(["run", "cancel", run.id as string])).toMatchObject({ state: "RUN_STATE_CANCELLED" });

    expect(await chime(["job", "delete", id])).toMatchObject({ code: 0, stdout: `deleted ${id}\n` });
    const gone = await chime(["job", "get", id]);
    expect(gone.code).toBe(4);
    expect(gone.stderr).toMatch(/^chime: NotFound: /);
  });

  it("exits by error class, naming the field", async () => {
    const usage = await chime(["job", "frobnicate"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain("unknown command");

    expect(await chime(["job", "create", "--queue", "q", "--immediate"])).toMatchObject({ code: 3, stderr: "chime: --name: required\n" });
    expect(await chime(["job", "create", "--name", "x", "--queue", "q", "--immediate", "--payload", "[1]"])).toMatchObject({
      code: 3,
      stderr: "chime: --payload: expected a JSON object\n",
    });
    const badCron = await chime(["job", "create", "--name", "bad-cron", "--queue", "q", "--cron", "not a cron"]);
    expect(badCron.code).toBe(3);
    expect(badCron.stderr).toMatch(/^chime: InvalidArgument: job\.schedule\.cron/);

    await json(["job", "create", "--name", "twice", "--queue", "q", "--every", "1h"]);
    expect((await chime(["job", "create", "--name", "twice", "--queue", "q", "--every", "1h"])).code).toBe(7);

    const down = await chime(["status", "--timeout", "2000"], { CHIME_SERVER: "http://127.0.0.1:1" });
    expect(down.code).toBe(5);
    expect(down.stderr).toMatch(/^chime: Unavailable: /);

    expect((await chime(["--help"])).code).toBe(0);
  });
});

describe("chime preview and chime status", () => {
  it("previews a cron in a time zone across a DST change", async () => {
    const times = (await json(["preview", "0 0 12 * * *", "--tz", "Europe/Berlin", "-n", "3", "--after", "2026-03-28T00:00:00Z"])) as unknown as string[];
    // Noon in Berlin is 11:00 UTC before the spring-forward night of 29 March, 10:00 after.
    expect(times).toEqual(["2026-03-28T11:00:00.000Z", "2026-03-29T10:00:00.000Z", "2026-03-30T10:00:00.000Z"]);
    const table = await chime(["preview", "0 0 12 * * *", "--tz", "Europe/Berlin", "-n", "2", "--after", "2026-03-28T00:00:00Z"]);
    expect(table.stdout.split("\n")[0]).toMatch(/^UTC\s+Europe\/Berlin$/);
    expect(table.stdout).toContain("2026-03-29 12:00:00");
  });

  it("previews with --dst-gap and --dst-repeat, marking the times a DST rule changed", async () => {
    const args = ["preview", "30 2 * * *", "--tz", "America/New_York", "-n", "2", "--after", "2026-03-07T12:00:00Z"];
    // 2026-03-08: 02:30 does not exist in New York. Skipped, it is not a fire time.
    expect(await json([...args, "--dst-gap", "skip"])).toEqual(["2026-03-09T06:30:00.000Z", "2026-03-10T06:30:00.000Z"]);
    const table = await chime([...args, "--dst-gap", "skip"]);
    expect(table.stdout.split("\n")[0]).toMatch(/^UTC\s+America\/New_York\s+DST$/);
    expect(table.stdout).toMatch(/2026-03-08T07:30:00.000Z .* skipped/);
    expect((await chime([...args])).stdout).toMatch(/2026-03-08T07:30:00.000Z .* shifted past the gap/);
    const repeat = await chime(["preview", "30 1 * * *", "--tz", "America/New_York", "-n", "2", "--after", "2026-11-01T00:00:00Z", "--dst-repeat", "both"]);
    expect(repeat.stdout).toMatch(/2026-11-01T06:30:00.000Z .* doubled/);
    expect((await chime([...args, "--dst-gap", "sometimes"])).stderr).toContain('--dst-gap: "sometimes" is not one of shift, skip');
  });

  it("shows the scheduler leader and epoch", async () => {
    const status = await json(["status"]);
    expect(status.serving).toBe(true);
    expect(status.leaderId).toEqual(expect.any(String));
    expect(Number(status.epoch)).toBeGreaterThanOrEqual(1);
    expect((await chime(["status"])).stdout).toMatch(/^epoch:\s+\d+$/m);
  });
});

describe("chime watch", () => {
  /** A running `chime watch`, with its stdout lines as they come. */
  function startWatch(args: string[]) {
    const child = spawn(process.execPath, [CLI, "watch", "--output", "json", ...args], { env: { ...process.env, CHIME_SERVER: server.grpcUrl } });
    const lines: Array<Record<string, unknown>> = [];
    createInterface({ input: child.stdout }).on("line", (line) => lines.push(JSON.parse(line) as Record<string, unknown>));
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    return { child, lines, exited, stderr: () => stderr };
  }

  async function until(check: () => boolean, what: string, act: () => Promise<unknown> = async () => {}) {
    for (let i = 0; i < 100 && !check(); i++) {
      await act();
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    if (!check()) throw new Error(`timed out waiting for ${what}`);
  }

  it("streams live events, stops cleanly on Ctrl-C, and resumes after the last one", async () => {
    const job = await json(["job", "create", "--name", "watched", "--queue", "nobody", "--every", "1h"]);
    const watch = startWatch(["--job", job.id as string]);
    // Live only: trigger until the watch (subscribed some time after start) shows an event.
    await until(() => watch.lines.length > 0, "a watched event", () => chime(["job", "trigger", job.id as string]));
    watch.child.kill("SIGINT");
    expect(await watch.exited).toBe(0);
    const first = watch.lines[0]!;
    expect(first).toMatchObject({ jobId: job.id, state: "RUN_STATE_QUEUED" });
    const token = /resume token: (\S+)/.exec(watch.stderr())?.[1];
    expect(token).toBeTruthy();

    await chime(["run", "cancel", first.runId as string]);
    const resumed = startWatch(["--resume-token", token!, "--job", job.id as string]);
    await until(() => resumed.lines.some((e) => e.runId === first.runId && e.state === "RUN_STATE_CANCELLED"), "the cancel event after resuming");
    resumed.child.kill("SIGINT");
    expect(await resumed.exited).toBe(0);
    // Nothing at or before the token comes again.
    expect(resumed.lines.some((e) => e.resumeToken === first.resumeToken)).toBe(false);
  });
});

describe("chime --token", () => {
  it("sends the token from --token or CHIME_TOKEN; without it the exit status is 6", async () => {
    const guarded = await startTestServer({ CHIME_API_TOKEN: "cli-test-token" });
    try {
      const env = { CHIME_SERVER: guarded.grpcUrl };
      const refused = await chime(["status"], env);
      expect(refused.code).toBe(6);
      expect(refused.stderr).toMatch(/^chime: Unauthenticated: /);
      expect((await chime(["status", "--token", "cli-test-token"], env)).code).toBe(0);
      expect((await chime(["job", "list"], { ...env, CHIME_TOKEN: "cli-test-token" })).code).toBe(0);
    } finally {
      await guarded.close();
    }
  });
});

describe("chime run logs", () => {
  it("prints a run's log lines, and with --follow waits for the run to end", async () => {
    const worker = new Worker({
      natsUrl: TEST_NATS_URL,
      prefix: server.config.natsPrefix,
      queue: "cli-logs",
      workerId: "cli-logs",
      handler: async (_run, ctx) => {
        ctx.log.info("charging", { amount: 12 });
        ctx.log.warn("slow upstream");
      },
    });
    await worker.start();
    try {
      const client = createChimeClient({ baseUrl: server.grpcUrl });
      const job = await client.createJob({ name: "cli-logs", queue: "cli-logs", schedule: "immediate" });
      const runId = (await onlyRunOf(client, job.id)).id;
      // --follow ends by itself once the run has ended and its lines are printed.
      const followed = await chime(["run", "logs", runId, "--follow", "--output", "json"]);
      expect(followed.code).toBe(0);
      const lines = followed.stdout.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.map((l) => [l.level, l.message])).toEqual([["RUN_LOG_LEVEL_INFO", "charging"], ["RUN_LOG_LEVEL_WARN", "slow upstream"]]);
      expect(lines[0].fields).toEqual({ amount: 12 });

      const table = await chime(["run", "logs", runId]);
      expect(table.code).toBe(0);
      expect(table.stdout).toMatch(/^\S+Z INFO\s+\[attempt 1\] charging \{"amount":12\}\n\S+Z WARN\s+\[attempt 1\] slow upstream\n$/);
    } finally {
      await worker.stop();
    }
  });
});
