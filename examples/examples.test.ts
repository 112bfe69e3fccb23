import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createChimeClient, RunState } from "@chime/sdk";
import { startTestServer, type TestServer } from "../server/test/helpers/test-server.js";
import { TEST_NATS_URL } from "../server/test/helpers/env.js";
import { onlyRunOf, terminalRun } from "../server/test/helpers/worker-runs.js";
import { startHttpTarget, type HttpTarget } from "../server/test/helpers/worker-http-target.js";
import { CLI } from "../cli/test/run-cli.js";

// Each example run as it is (the compiled examples/dist, built by vitest's global setup)
// against a real server, checking what it prints and does.
const file = (name: string) => fileURLToPath(new URL(name, import.meta.url));

let server: TestServer;
let target: HttpTarget;
beforeAll(async () => {
  // The http example calls a local target, which the executor refuses unless allowed.
  server = await startTestServer({ CHIME_HTTP_ALLOWLIST: "localhost" });
  target = await startHttpTarget();
});
afterAll(async () => {
  await server?.close();
  await target?.close();
});

function run(command: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { env: { ...process.env, CHIME_URL: server.grpcUrl, CHIME_SERVER: server.grpcUrl, ...env } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** A long-running example as a child process, its stdout lines as they come. */
function startExample(name: string, env: Record<string, string>) {
  const child = spawn(process.execPath, [file(`dist/${name}`)], { env: { ...process.env, CHIME_URL: server.grpcUrl, ...env } });
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stdout }).on("line", (line) => {
    lines.push(line);
    waiters.forEach((wake) => wake());
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  const printed = (pattern: RegExp) =>
    new Promise<void>((resolve) => {
      const check = () => lines.some((l) => pattern.test(l)) && resolve();
      waiters.push(check);
      check();
    });
  return { child, lines, exited, printed };
}

describe("examples", () => {
  it("cron-dst-preview: 02:30 Berlin skips to 03:30 on the spring-forward night", async () => {
    const result = await run(process.execPath, [file("dist/cron-dst-preview.js")]);
    expect(result).toMatchObject({ code: 0, stderr: "" });
    const lines = result.stdout.split("\n").filter((l) => l.startsWith("  ")).map((l) => l.trim().split(/\s+/)[0]);
    // 01:30 UTC (CET) before, 00:30 UTC (CEST) after; on 29 March 02:30 does not exist and
    // the run is at 03:30 CEST (01:30 UTC).
    expect(lines).toEqual(["2026-03-27T01:30:00.000Z", "2026-03-28T01:30:00.000Z", "2026-03-29T01:30:00.000Z", "2026-03-30T00:30:00.000Z"]);
    expect(result.stdout).toMatch(/created job \S+ \(paused\); deleting it again/);
  });

  it("http-retries: a 503 fails the first attempt, the retry with the same Idempotency-Key succeeds", async () => {
    const result = await run(process.execPath, [file("dist/http-retries.js")], { TARGET_URL: `http://localhost:${target.port}/flaky` });
    expect(result).toMatchObject({ code: 0, stderr: "" });
    const runId = /^run (\S+): SUCCEEDED after 2 attempt\(s\)$/m.exec(result.stdout)?.[1];
    expect(runId, result.stdout).toBeTruthy();
    expect(result.stdout).toMatch(/^attempt 1: FAILED \(HTTP 503 from http:\/\/localhost:\d+\/flaky: try again/m);
    expect(result.stdout).toMatch(/^attempt 2: SUCCEEDED$/m);
    const requests = target.requests.filter((r) => r.path === "/flaky");
    expect(requests.map((r) => [r.method, r.headers["idempotency-key"], r.body])).toEqual([
      ["POST", runId, '{"report":"daily"}'],
      ["POST", runId, '{"report":"daily"}'],
    ]);
  });

  it("cli-session.sh: creates, triggers, lists and deletes a job, exit 4 after", async () => {
    const result = await run("bash", [file("cli-session.sh")], { CHIME: `${process.execPath} ${CLI}` });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const id = /^created (\S+)$/m.exec(result.stdout)?.[1];
    expect(id).toBeTruthy();
    expect(result.stdout).toMatch(/^schedule:\s+cron 0 0 6 \* \* 1-5 \(Europe\/Berlin\)$/m);
    expect(result.stdout).toMatch(new RegExp(`^\\S+\\s+${id}\\s+QUEUED\\s`, "m"));
    expect(result.stdout).toContain("2026-03-30 06:00:00");
    expect(result.stdout).toContain(`deleted ${id}`);
    expect(result.stdout).toMatch(/get after delete: exit 4$/m);
  });

  it("worker-service: SIGTERM lets the running handler finish, then exits 0", async () => {
    const { child, lines, exited, printed } = startExample("worker-service.js", {
      NATS_URL: TEST_NATS_URL,
      CHIME_NATS_PREFIX: server.config.natsPrefix,
      QUEUE: "example-worker",
    });
    try {
      await printed(/^worker ready$/);
      const chime = createChimeClient({ baseUrl: server.grpcUrl });
      const job = await chime.createJob({ name: "example-worker", queue: "example-worker", schedule: "immediate" });
      await printed(/: started$/);
      child.kill("SIGTERM"); // mid-handler
      expect(await exited).toBe(0);
      // The stop waited for the handler: "done" comes after the signal and before the exit.
      expect(lines.map((l) => l.replace(/^run \S+: /, ""))).toEqual([
        "worker ready",
        "started",
        "SIGTERM: stopping (running handlers finish first)",
        "done",
        "stopped cleanly",
      ]);
      const finished = await terminalRun(chime, (await onlyRunOf(chime, job.id)).id);
      expect(finished.state).toBe(RunState.SUCCEEDED);
      expect(finished.attempt).toBe(1);
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("watch-resume: after a restart it picks up after the saved cursor, nothing again", async () => {
    const dir = mkdtempSync(join(tmpdir(), "chime-watch-example-"));
    const env = { CURSOR_FILE: join(dir, "cursor"), QUEUE: "example-watch" };
    const chime = createChimeClient({ baseUrl: server.grpcUrl });
    const job = await chime.createJob({ name: "example-watch", queue: "example-watch", schedule: { every: "1h" } });
    try {
      const first = startExample("watch-resume.js", env);
      await first.printed(/^no saved cursor/);
      // Live from the start: trigger until the watch (subscribing meanwhile) shows a run.
      for (let i = 0; i < 50 && !first.lines.some((l) => l.startsWith("run ")); i++) {
        await chime.triggerJob(job.id);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      await first.printed(/^run \S+ QUEUED/);
      first.child.kill("SIGINT");
      expect(await first.exited).toBe(0);
      expect(first.lines.at(-1)).toBe("stopped; cursor saved");
      const seen = first.lines.filter((l) => l.startsWith("run "));

      // While it is down, one run is cancelled; the restarted consumer gets that event.
      const runId = /^run (\S+) /.exec(seen[0]!)![1]!;
      await chime.cancelRun(runId);
      const second = startExample("watch-resume.js", env);
      await second.printed(new RegExp(`^run ${runId} CANCELLED`));
      second.child.kill("SIGINT");
      expect(await second.exited).toBe(0);
      expect(second.lines[0]).toBe("resuming after the saved cursor");
      // Nothing handled before the restart comes again.
      expect(second.lines.filter((l) => seen.includes(l))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
