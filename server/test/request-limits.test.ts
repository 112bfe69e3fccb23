import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { status } from "@grpc/grpc-js";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";
import { JobService } from "@chime/sdk/gen/job_service_pb";
import { createJobServiceClient, grpcError, toStruct, type Message, type RawClient } from "./helpers/grpc-client.js";
import { startTestServer, type TestServer } from "./helpers/test-server.js";

/**
 * Request limits: a message over CHIME_MAX_MESSAGE_BYTES is refused on both stacks,
 * and a unary call past its deadline (the client's, or the server's cap
 * CHIME_REQUEST_TIMEOUT_MS) ends DEADLINE_EXCEEDED instead of hanging.
 */

const MAX_MESSAGE_BYTES = 64 * 1024;
const REQUEST_TIMEOUT_MS = 800;

let server: TestServer;
let client: RawClient;

beforeAll(async () => {
  server = await startTestServer({
    CHIME_ROLES: "api",
    CHIME_MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES),
    // Larger than the message limit, so the message limit is what refuses a big request.
    CHIME_MAX_PAYLOAD_BYTES: String(1024 * 1024),
    CHIME_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
  });
  client = createJobServiceClient(`127.0.0.1:${server.grpcPort}`);
});
afterAll(async () => {
  client?.close();
  await server?.close();
});

const jobWithPayload = (name: string, bytes: number) => ({
  name,
  queue: "limits",
  schedule: { cron: { expression: "0 0 1 1 *" } },
  payload: { blob: "x".repeat(bytes) },
});

/** Holds an exclusive lock on the jobs table, so any call that reads jobs waits. */
async function lockJobs(): Promise<() => Promise<void>> {
  const locker = new pg.Client({ connectionString: server.db.url });
  await locker.connect();
  await locker.query("BEGIN");
  await locker.query("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE");
  return async () => {
    await locker.query("ROLLBACK").catch(() => undefined);
    await locker.end();
  };
}

async function countJobs(prefix: string): Promise<number> {
  const { rows } = await server.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM jobs WHERE starts_with(name, $1)", [prefix]);
  return rows[0].n;
}

describe("message size limit", () => {
  it("refuses a gRPC request larger than CHIME_MAX_MESSAGE_BYTES with RESOURCE_EXHAUSTED", async () => {
    const grpcJob = (name: string, bytes: number) => ({ ...jobWithPayload(name, 0), payload: toStruct({ blob: "x".repeat(bytes) }) });
    const error = await grpcError(client.call("CreateJob", { job: grpcJob("limits-big", MAX_MESSAGE_BYTES + 1024) }));
    expect(status[error.code], error.details).toBe("RESOURCE_EXHAUSTED");
    // Just under the limit is fine: the size is what was refused.
    const { job } = await client.call("CreateJob", { job: grpcJob("limits-fits", MAX_MESSAGE_BYTES - 2048) });
    expect(job.name).toBe("limits-fits");
    expect(await countJobs("limits-big")).toBe(0);
  });

  it("refuses one over Connect (HTTP/1.1) and gRPC-Web with resource_exhausted", async () => {
    const response = await fetch(`${server.httpUrl}/chime.v1.JobService/CreateJob`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ job: jobWithPayload("limits-big-connect", MAX_MESSAGE_BYTES + 1024) }),
    });
    const body = (await response.json()) as { code: string };
    expect(body.code).toBe("resource_exhausted");
    expect(response.status).toBe(429);

    const web = createClient(JobService, createGrpcWebTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }));
    const error = await web.createJob({ job: { name: "limits-big-web", queue: "limits", payload: { blob: "x".repeat(MAX_MESSAGE_BYTES + 1024) } } }).then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(error && Code[error.code]).toBe("ResourceExhausted");
    expect(await countJobs("limits-big")).toBe(0);
  });

  it("refuses a BatchCreateJobs over the limit as a whole: none of its jobs is written", async () => {
    // 100 jobs of about 1 KiB: about 110 KB, over the 64 KiB limit; 40 of them fit.
    const items = (prefix: string, count: number) =>
      Array.from({ length: count }, (_, i) => ({ job: { ...jobWithPayload(`${prefix}-${i}`, 0), payload: toStruct({ blob: "x".repeat(1000) }) } }));
    const error = await grpcError(client.call("BatchCreateJobs", { jobs: items("limits-batch-big", 100) }));
    expect(status[error.code], error.details).toBe("RESOURCE_EXHAUSTED");
    expect(await countJobs("limits-batch-big")).toBe(0);
    const { results } = await client.call("BatchCreateJobs", { jobs: items("limits-batch-fits", 40) });
    expect(results.map((r: Message) => r.result)).toEqual(Array(40).fill("created"));
    expect(await countJobs("limits-batch-fits")).toBe(40);
    // Out of the way of the listings below, which must fit the limit too.
    for (const r of results) await client.call("DeleteJob", { id: r.created.id });
  });
});

describe("deadlines", () => {
  it("ends a call with a tiny client deadline DEADLINE_EXCEEDED", async () => {
    const error = await grpcError(client.call("ListJobs", {}, { deadlineMs: 1 }));
    expect(status[error.code]).toBe("DEADLINE_EXCEEDED");
  });

  it("answers DEADLINE_EXCEEDED from the server when a call outlives the client's deadline or the server cap", async () => {
    const unlock = await lockJobs();
    try {
      // gRPC with a client deadline shorter than the server cap.
      let started = Date.now();
      const short = await grpcError(client.call("ListJobs", {}, { deadlineMs: 300 }));
      expect(status[short.code]).toBe("DEADLINE_EXCEEDED");
      expect(Date.now() - started).toBeLessThan(5_000);

      // gRPC with no client deadline: the server's cap applies.
      started = Date.now();
      const capped = await grpcError(client.call("GetJob", { id: "00000000-0000-7000-8000-000000000000" }));
      const took = Date.now() - started;
      expect(status[capped.code], capped.details).toBe("DEADLINE_EXCEEDED");
      expect(capped.details).toBe(`the request took longer than ${REQUEST_TIMEOUT_MS} ms`);
      expect(took).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 100);
      expect(took).toBeLessThan(REQUEST_TIMEOUT_MS + 5_000);

      // Connect over HTTP/1.1: the deadline travels as a header and the server ends the call itself.
      started = Date.now();
      const response = await fetch(`${server.httpUrl}/chime.v1.JobService/ListJobs`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Connect-Timeout-Ms": "300" },
        body: "{}",
      });
      expect(((await response.json()) as { code: string }).code).toBe("deadline_exceeded");
      expect(Date.now() - started).toBeLessThan(5_000);

      // A client deadline longer than the server cap is capped, not refused.
      started = Date.now();
      const longer = await fetch(`${server.httpUrl}/chime.v1.JobService/ListJobs`, {
        method: "POST",
        headers: { "Content-Type": "application/json", "Connect-Timeout-Ms": String(REQUEST_TIMEOUT_MS * 20) },
        body: "{}",
      });
      expect(((await longer.json()) as { code: string }).code).toBe("deadline_exceeded");
      expect(Date.now() - started).toBeLessThan(REQUEST_TIMEOUT_MS + 5_000);
    } finally {
      await unlock();
    }
    // Once the lock is gone, calls go through again, with or without a long deadline.
    expect((await client.call("ListJobs", { name_prefix: "limits-fits" }, { deadlineMs: 10_000 })).jobs).toBeInstanceOf(Array);
    const ok = await fetch(`${server.httpUrl}/chime.v1.JobService/ListJobs`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Connect-Timeout-Ms": String(REQUEST_TIMEOUT_MS * 20) },
      body: "{}",
    });
    expect(ok.status).toBe(200);
  });
});
