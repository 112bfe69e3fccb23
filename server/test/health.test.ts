import { afterEach, describe, expect, it } from "vitest";
import { status } from "@grpc/grpc-js";
import type { ClientReadableStream } from "@grpc/grpc-js";
import { createHealthClient, createJobServiceClient, grpcError, type Message, type RawClient } from "./helpers/grpc-client.js";
import { TEST_POSTGRES_URL } from "./helpers/env.js";
import { startTcpProxy, type TcpProxy } from "./helpers/tcp-proxy.js";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.js";
import { startTestServer, type TestServer } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";

/**
 * grpc.health.v1 and /healthz follow Postgres: the server reaches Postgres through a
 * TCP proxy of the test's own, which the test closes (Postgres unreachable for this
 * server only) and reopens.
 */

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function startBehindProxy(): Promise<{ server: TestServer; proxy: TcpProxy; db: TestDatabase }> {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  const postgres = new URL(TEST_POSTGRES_URL);
  const proxy = await startTcpProxy({ host: postgres.hostname, port: Number(postgres.port || 5432) });
  cleanups.push(() => proxy.close());
  const proxied = new URL(db.url);
  proxied.port = String(proxy.port);
  const server = await startTestServer({ DATABASE_URL: proxied.toString(), CHIME_HEALTH_INTERVAL_MS: "250", CHIME_ROLES: "api" }, { db });
  cleanups.push(() => server.close());
  return { server, proxy, db };
}

function clients(server: TestServer): { health: RawClient; jobs: RawClient } {
  const health = createHealthClient(`127.0.0.1:${server.grpcPort}`);
  const jobs = createJobServiceClient(`127.0.0.1:${server.grpcPort}`);
  cleanups.push(() => {
    health.close();
    jobs.close();
  });
  return { health, jobs };
}

/** Opens Health/Watch and records every status it streams. */
function watch(health: RawClient, service: string): { statuses: string[]; call: ClientReadableStream<Message> } {
  const statuses: string[] = [];
  const call = health.stream("Watch", { service });
  call.on("data", (message: Message) => statuses.push(message.status));
  call.on("error", () => undefined); // CANCELLED when the test ends it.
  cleanups.push(() => call.cancel());
  return { statuses, call };
}

const json = (response: Response): Promise<Message> => response.json() as Promise<Message>;

async function healthz(server: TestServer): Promise<{ status: number; body: Message }> {
  const response = await fetch(`${server.httpUrl}/healthz`);
  return { status: response.status, body: await json(response) };
}

const check = async (health: RawClient, service = "") => (await health.call("Check", { service }, { deadlineMs: 2000 })).status as string;

describe("health", () => {
  it("reports SERVING on Check, Watch and /healthz, and NOT_FOUND for an unknown service", async () => {
    const server = await startTestServer({ CHIME_ROLES: "api" });
    cleanups.push(() => server.close());
    const { health } = clients(server);
    expect(await check(health)).toBe("SERVING");
    expect(await check(health, "chime.v1.JobService")).toBe("SERVING");
    const unknown = await grpcError(health.call("Check", { service: "no.such.Service" }));
    expect(unknown.code).toBe(status.NOT_FOUND);

    const { statuses } = watch(health, "");
    await waitFor("the first Watch message", () => statuses.length > 0);
    expect(statuses[0]).toBe("SERVING");
    const unknownWatch = watch(health, "no.such.Service");
    await waitFor("the first Watch message", () => unknownWatch.statuses.length > 0);
    expect(unknownWatch.statuses[0]).toBe("SERVICE_UNKNOWN");

    const ok = await healthz(server);
    expect(ok).toEqual({ status: 200, body: { status: "SERVING", postgres: true, nats: true } });
  });

  it("goes NOT_SERVING while Postgres is unreachable, answers RPCs UNAVAILABLE, and recovers", async () => {
    const { server, proxy } = await startBehindProxy();
    const { health, jobs } = clients(server);
    const job = { name: "health-job", queue: "q", schedule: { interval: { every: { seconds: "3600" } } } };
    await jobs.call("CreateJob", { job });
    expect(await check(health)).toBe("SERVING");
    const watched = watch(health, "");
    const watchedService = watch(health, "chime.v1.JobService");
    await waitFor("the first Watch message", () => watched.statuses.length > 0 && watchedService.statuses.length > 0);
    expect((await healthz(server)).status).toBe(200);

    // Postgres goes away (for this server only).
    await proxy.close();
    await waitFor("Check to report NOT_SERVING", async () => (await check(health)) === "NOT_SERVING", { timeoutMs: 10_000 });
    expect(await check(health, "chime.v1.JobService")).toBe("NOT_SERVING");
    await waitFor("Watch to stream NOT_SERVING", () => watched.statuses.includes("NOT_SERVING"));
    const down = await healthz(server);
    expect(down).toEqual({ status: 503, body: { status: "NOT_SERVING", postgres: false, nats: true } });

    // Calls that need Postgres fail cleanly with UNAVAILABLE (retryable), and the server stays up.
    for (const [method, request] of [
      ["ListJobs", {}],
      ["CreateJob", { job: { ...job, name: "health-job-2" } }],
    ] as const) {
      const error = await grpcError(jobs.call(method, request, { deadlineMs: 10_000 }));
      expect(status[error.code], `${method}: ${error.details}`).toBe("UNAVAILABLE");
      expect(error.details).toMatch(/database is unavailable/);
    }
    const overConnect = await fetch(`${server.httpUrl}/chime.v1.JobService/ListJobs`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    expect(overConnect.status).toBe(503);
    expect((await json(overConnect)).code).toBe("unavailable");
    // Validation does not need Postgres: bad input is still INVALID_ARGUMENT.
    expect((await grpcError(jobs.call("GetJob", { id: "nope" }))).code).toBe(status.INVALID_ARGUMENT);

    // Postgres comes back.
    await proxy.open();
    await waitFor("Check to report SERVING", async () => (await check(health)) === "SERVING", { timeoutMs: 10_000 });
    await waitFor("Watch to stream SERVING again", () => watched.statuses.length >= 3);
    expect((await healthz(server)).status).toBe(200);
    const listed = await waitFor("ListJobs to work again", async () => {
      try {
        return await jobs.call("ListJobs", {});
      } catch {
        return undefined;
      }
    });
    expect(listed.jobs.map((j: Message) => j.name)).toEqual(["health-job"]);
    await jobs.call("CreateJob", { job: { ...job, name: "health-job-3" } });

    // One message per change of status, not one per probe (the probe runs every 250 ms).
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(watched.statuses).toEqual(["SERVING", "NOT_SERVING", "SERVING"]);
    expect(watchedService.statuses).toEqual(["SERVING", "NOT_SERVING", "SERVING"]);
  });
});
