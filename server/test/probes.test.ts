import { afterEach, describe, expect, it } from "vitest";
import { createChimeClient } from "@chime/sdk";
import { status } from "@grpc/grpc-js";
import { createHealthClient, grpcError } from "./helpers/grpc-client.js";
import { TEST_NATS_URL } from "./helpers/env.js";
import { startNatsProcess } from "./helpers/nats-process.js";
import { startTcpProxy } from "./helpers/tcp-proxy.js";
import { startTestServer, type TestServer } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";

/**
 * /livez and /readyz: liveness is the process serving; readiness is each role's own
 * dependencies, which grpc.health.v1 also reports per role (`chime.role.<role>`). NATS is made unreachable for one server only, through a TCP proxy of the
 * test's own in front of the shared NATS.
 */

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** grpc.health.v1 Check of each role's service name. */
async function roleHealth(server: TestServer, roles: string[]): Promise<Record<string, string>> {
  const health = createHealthClient(`127.0.0.1:${server.grpcPort}`);
  try {
    const statuses: Record<string, string> = {};
    for (const role of roles) statuses[role] = (await health.call("Check", { service: `chime.role.${role}` }, { deadlineMs: 2000 })).status as string;
    return statuses;
  } finally {
    health.close();
  }
}

async function probe(server: TestServer, path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${server.httpUrl}${path}`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe("/livez and /readyz", () => {
  it("are live and ready with every role's dependencies up; an unknown role is refused naming it", async () => {
    const server = await startTestServer();
    cleanups.push(() => server.close());
    expect(await probe(server, "/livez")).toEqual({ status: 200, body: { live: true } });
    const ready = await probe(server, "/readyz");
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({
      ready: true,
      postgres: true,
      nats: true,
      roles: { api: { ready: true }, scheduler: { ready: true }, ingest: { ready: true }, executor: { ready: true } },
    });
    expect(await roleHealth(server, ["api", "scheduler", "ingest", "executor"])).toEqual({
      api: "SERVING",
      scheduler: "SERVING",
      ingest: "SERVING",
      executor: "SERVING",
    });
    const unknown = await probe(server, "/readyz?role=janitor");
    expect(unknown.status).toBe(400);
    expect(unknown.body.error).toMatch(/^role: "janitor"/);
  });

  it("keeps the api ready and serving while NATS is down; the NATS roles are not ready", async () => {
    const nats = new URL(TEST_NATS_URL);
    const proxy = await startTcpProxy({ host: nats.hostname, port: Number(nats.port || 4222) });
    cleanups.push(() => proxy.close());
    const server = await startTestServer({ NATS_URL: `nats://127.0.0.1:${proxy.port}`, CHIME_HEALTH_INTERVAL_MS: "200" });
    cleanups.push(() => server.close());
    await waitFor("ready", async () => (await probe(server, "/readyz")).status === 200);

    await proxy.close();
    await waitFor("not ready without NATS", async () => (await probe(server, "/readyz")).status === 503);
    const down = await probe(server, "/readyz");
    expect(down.body).toMatchObject({
      ready: false,
      nats: false,
      postgres: true,
      roles: { api: { ready: true }, scheduler: { ready: false }, ingest: { ready: false }, executor: { ready: false } },
    });
    expect(await probe(server, "/readyz?role=api")).toMatchObject({ status: 200, body: { ready: true } });
    expect((await probe(server, "/readyz?role=scheduler")).status).toBe(503);
    expect((await probe(server, "/livez")).status).toBe(200);
    await waitFor("the NATS roles NOT_SERVING over gRPC", async () => (await roleHealth(server, ["scheduler"])).scheduler === "NOT_SERVING");
    expect(await roleHealth(server, ["api", "scheduler", "ingest", "executor"])).toEqual({
      api: "SERVING",
      scheduler: "NOT_SERVING",
      ingest: "NOT_SERVING",
      executor: "NOT_SERVING",
    });

    // The API reads and writes all the same.
    const chime = createChimeClient({ baseUrl: server.grpcUrl, timeoutMs: 10_000 });
    const job = await chime.createJob({ name: "during-outage", queue: "q", schedule: { every: "1h" } });
    expect((await chime.getJob(job.id)).name).toBe("during-outage");

    await proxy.open();
    await waitFor("ready again", async () => (await probe(server, "/readyz")).status === 200);
    await waitFor("every role SERVING again", async () => Object.values(await roleHealth(server, ["scheduler", "ingest", "executor"])).every((s) => s === "SERVING"));
  });

  it("turns not ready while NATS hangs (SIGSTOP: the connection stays open, nothing answers), ready again once it answers", async () => {
    const nats = await startNatsProcess();
    cleanups.push(() => nats.close());
    const server = await startTestServer({ NATS_URL: nats.url, CHIME_HEALTH_INTERVAL_MS: "200" });
    cleanups.push(() => server.close());
    await waitFor("ready", async () => (await probe(server, "/readyz")).status === 200);

    nats.signal("SIGSTOP");
    await waitFor("not ready while NATS hangs", async () => (await probe(server, "/readyz")).status === 503);
    expect((await probe(server, "/readyz")).body).toMatchObject({ nats: false, postgres: true });
    expect((await probe(server, "/livez")).status).toBe(200);

    nats.signal("SIGCONT");
    await waitFor("ready again", async () => (await probe(server, "/readyz")).status === 200);
  });

  it("reports over gRPC only the roles the process runs", async () => {
    const server = await startTestServer({ CHIME_ROLES: "api,ingest" });
    cleanups.push(() => server.close());
    expect(await roleHealth(server, ["api", "ingest"])).toEqual({ api: "SERVING", ingest: "SERVING" });
    const health = createHealthClient(`127.0.0.1:${server.grpcPort}`);
    cleanups.push(() => health.close());
    const notHere = await grpcError(health.call("Check", { service: "chime.role.scheduler" }));
    expect(notHere.code).toBe(status.NOT_FOUND);
  });
});
