import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { createHealthClient } from "./helpers/grpc-client.js";
import { SERVER_MAIN } from "./helpers/server-process.js";
import { TEST_NATS_URL } from "./helpers/env.js";
import { createTestDatabase } from "./helpers/test-database.js";
import { testNatsPrefix } from "./helpers/test-server.js";
import { deleteNatsPrefix } from "./helpers/test-nats.js";
import { waitFor } from "./helpers/wait.js";

/**
 * The real program (server/dist/main.js, compiled from server/src/main.ts) as a child process: it starts and serves,
 * stops cleanly on SIGTERM, and refuses a bad configuration naming every bad variable.
 */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface Spawned {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Parsed JSON log lines so far. */
  logs: () => Array<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startProcess(env: Record<string, string>): Spawned {
  // The child's configuration is exactly what the test gives it, not the developer's CHIME_* variables.
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !key.startsWith("CHIME_") && key !== "DATABASE_URL" && key !== "NATS_URL"),
  );
  const child = spawn(process.execPath, [SERVER_MAIN], { cwd: ROOT, env: { ...base, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => resolve({ code, signal })),
  );
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
  });
  const logs = () =>
    stdout
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .flatMap((line) => {
        try {
          return [JSON.parse(line) as Record<string, unknown>];
        } catch {
          return [];
        }
      });
  return { child, stdout: () => stdout, stderr: () => stderr, logs, exited };
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe("the server process", () => {
  it("starts, serves, and exits 0 on SIGTERM with a stopped log line", async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const prefix = testNatsPrefix();
    cleanups.push(() => deleteNatsPrefix(prefix));
    const grpcPort = await freePort();
    let httpPort = await freePort();
    while (httpPort === grpcPort) httpPort = await freePort();

    const server = startProcess({
      DATABASE_URL: db.url,
      NATS_URL: TEST_NATS_URL,
      CHIME_NATS_PREFIX: prefix,
      CHIME_HOST: "127.0.0.1",
      CHIME_PORT: String(grpcPort),
      CHIME_HTTP_PORT: String(httpPort),
      CHIME_LOG_LEVEL: "info",
      CHIME_SHUTDOWN_GRACE_MS: "2000",
    });
    await waitFor(
      "the started log line",
      () => {
        if (server.child.exitCode !== null) throw new Error(`exited early: ${server.stderr()}${server.stdout()}`);
        return server.logs().find((line) => line.msg === "chime server started");
      },
      { timeoutMs: 30_000 },
    );
    const started = server.logs().find((line) => line.msg === "chime server started")!;
    expect(started).toMatchObject({ grpcPort, httpPort });

    // It serves: Connect over HTTP/1.1, and gRPC health over HTTP/2.
    const response = await fetch(`http://127.0.0.1:${httpPort}/chime.v1.JobService/CreateJob`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ job: { name: "process-job", queue: "q", schedule: { cron: { expression: "0 0 1 1 *" } } } }),
    });
    expect(response.status).toBe(200);
    const health = createHealthClient(`127.0.0.1:${grpcPort}`);
    try {
      expect((await health.call("Check", { service: "" }, { deadlineMs: 5000 })).status).toBe("SERVING");
    } finally {
      health.close();
    }

    const stopAt = Date.now();
    server.child.kill("SIGTERM");
    const exit = await withTimeout(server.exited, 10_000, "exit after SIGTERM");
    const tookMs = Date.now() - stopAt;
    expect(exit, server.stderr()).toEqual({ code: 0, signal: null });
    expect(tookMs).toBeLessThan(8_000);
    const messages = server.logs().map((line) => line.msg);
    expect(messages).toContain("chime server stopped");
    expect(messages.indexOf("chime server stopped")).toBeGreaterThan(messages.indexOf("chime server started"));
    // Nothing went wrong on the way out.
    expect(server.logs().filter((line) => typeof line.level === "number" && line.level >= 50)).toEqual([]);
    // The ports are free again.
    await new Promise<void>((resolve, reject) => {
      const probe = net.createServer().once("error", reject);
      probe.listen(grpcPort, "127.0.0.1", () => probe.close(() => resolve()));
    });
  });

  it("exits 2 on a bad configuration, naming every bad variable on stderr", async () => {
    const server = startProcess({
      CHIME_PORT: "abc",
      CHIME_ROLES: "api,foo",
      CHIME_LOG_LEVEL: "loud",
      CHIME_HEALTH_INTERVAL_MS: "-5",
    });
    const exit = await withTimeout(server.exited, 20_000, "exit on a bad configuration");
    expect(exit.code, server.stderr()).toBe(2);
    const stderr = server.stderr();
    expect(stderr).toMatch(/CHIME_PORT="abc"/);
    expect(stderr).toMatch(/CHIME_ROLES: unknown role "foo"/);
    expect(stderr).toMatch(/CHIME_LOG_LEVEL="loud"/);
    expect(stderr).toMatch(/CHIME_HEALTH_INTERVAL_MS="-5"/);
    expect(server.logs().map((line) => line.msg)).not.toContain("chime server started");
  });

  it("stops on SIGTERM when its NATS was never reachable", async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const closedPort = await freePort();
    const server = startProcess({
      DATABASE_URL: db.url,
      NATS_URL: `nats://127.0.0.1:${closedPort}`,
      CHIME_HOST: "127.0.0.1",
      CHIME_PORT: "0",
      CHIME_HTTP_PORT: "0",
      CHIME_LOG_LEVEL: "info",
      CHIME_SHUTDOWN_GRACE_MS: "2000",
    });
    await waitFor("the started log line", () => server.logs().find((line) => line.msg === "chime server started"), { timeoutMs: 30_000 });
    await waitFor("a failed NATS attempt", () => server.logs().find((line) => line.msg === "cannot connect to NATS yet; retrying"), { timeoutMs: 10_000 });
    server.child.kill("SIGTERM");
    const exit = await withTimeout(server.exited, 10_000, "exit after SIGTERM without NATS");
    expect(exit, server.stderr()).toEqual({ code: 0, signal: null });
    expect(server.logs().map((line) => line.msg)).toContain("chime server stopped");
  });

  it("exits 1 with a clear message when Postgres cannot be reached", async () => {
    const closedPort = await freePort();
    const server = startProcess({
      DATABASE_URL: `postgres://postgres@127.0.0.1:${closedPort}/chime_unreachable`,
      NATS_URL: TEST_NATS_URL,
      CHIME_HOST: "127.0.0.1",
      CHIME_PORT: "0",
      CHIME_HTTP_PORT: "0",
    });
    const exit = await withTimeout(server.exited, 20_000, "exit without Postgres");
    expect(exit.code).toBe(1);
    expect(server.stdout() + server.stderr()).toMatch(/cannot reach Postgres at postgres:\/\/postgres@127\.0\.0\.1:\d+\/chime_unreachable/);
  });
});
