import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { GetJobRequestSchema, JobService } from "@chime/sdk/gen/job_service_pb";
import { JobState } from "@chime/sdk/gen/job_pb";
import { startTestServer, type TestServer } from "./helpers/test-server.js";

/**
 * The HTTP/1.1 port, as a browser reaches it: the Connect protocol with plain fetch
 * (POST JSON, GET for side-effect-free methods, the JSON error shape), and the
 * Connect and gRPC-Web protocols through connect-node's HTTP/1.1 transports.
 */

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ CHIME_ROLES: "api" });
});
afterAll(async () => server?.close());

const YEARLY = { cron: { expression: "0 0 1 1 *" } };

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const bodyOf = (response: Response): Promise<Record<string, any>> => response.json() as Promise<Record<string, any>>;

function post(method: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${server.httpUrl}/chime.v1.JobService/${method}`, {
    method: "POST",
    headers: { "Content-Type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

describe("Connect protocol with plain fetch over HTTP/1.1", () => {
  it("creates a job with a POST of JSON", async () => {
    const response = await post("CreateJob", {
      job: { name: "fetch-create", queue: "web", payload: { from: "browser" }, labels: { ui: "yes" }, schedule: YEARLY },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    const { job } = await bodyOf(response);
    expect(job.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(job.name).toBe("fetch-create");
    expect(job.state).toBe("JOB_STATE_ACTIVE");
    expect(job.payload).toEqual({ from: "browser" });
    expect(job.schedule.cron.timeZone).toBe("UTC");
    expect(Date.parse(job.nextRunTime)).toBeGreaterThan(Date.now());
  });

  it("reads with GET for NO_SIDE_EFFECTS methods, JSON or base64 binary", async () => {
    const created = await bodyOf(await post("CreateJob", { job: { name: "fetch-get", queue: "web", schedule: YEARLY } }));
    const id: string = created.job.id;

    const json = new URLSearchParams({ connect: "v1", encoding: "json", message: JSON.stringify({ id }) });
    const byJson = await fetch(`${server.httpUrl}/chime.v1.JobService/GetJob?${json}`);
    expect(byJson.status).toBe(200);
    expect((await bodyOf(byJson)).job).toEqual(created.job);

    const binary = Buffer.from(toBinary(GetJobRequestSchema, create(GetJobRequestSchema, { id }))).toString("base64url");
    const byBinary = await fetch(`${server.httpUrl}/chime.v1.JobService/GetJob?connect=v1&encoding=proto&base64=1&message=${binary}`);
    expect(byBinary.status).toBe(200);
    expect(byBinary.headers.get("content-type")).toBe("application/proto");

    const list = await fetch(
      `${server.httpUrl}/chime.v1.JobService/ListJobs?${new URLSearchParams({ encoding: "json", message: JSON.stringify({ namePrefix: "fetch-get" }) })}`,
    );
    expect(list.status).toBe(200);
    expect((await bodyOf(list)).jobs.map((j: { id: string }) => j.id)).toEqual([id]);

    // A method with side effects is not reachable by GET.
    const createByGet = await fetch(
      `${server.httpUrl}/chime.v1.JobService/CreateJob?${new URLSearchParams({ encoding: "json", message: JSON.stringify({ job: { name: "x", queue: "q", schedule: YEARLY } }) })}`,
    );
    expect(createByGet.status).toBe(405);
    const after = await bodyOf(await post("ListJobs", { namePrefix: "x" }));
    expect(after.jobs ?? []).toHaveLength(0);
  });

  it("answers errors in the Connect JSON shape with the matching HTTP status", async () => {
    const invalid = await post("CreateJob", { job: { name: "", queue: "web", schedule: YEARLY } });
    expect(invalid.status).toBe(400);
    expect(invalid.headers.get("content-type")).toMatch(/^application\/json/);
    const body = await bodyOf(invalid);
    expect(body.code).toBe("invalid_argument");
    expect(body.message).toMatch(/^job\.name: is required/);

    const missing = await post("GetJob", { id: "00000000-0000-7000-8000-000000000000" });
    expect(missing.status).toBe(404);
    expect((await bodyOf(missing)).code).toBe("not_found");

    await post("CreateJob", { job: { name: "fetch-dup", queue: "web", schedule: YEARLY } });
    const duplicate = await post("CreateJob", { job: { name: "fetch-dup", queue: "web", schedule: YEARLY } });
    expect(duplicate.status).toBe(409);
    expect((await bodyOf(duplicate)).code).toBe("already_exists");

    // Malformed JSON is the client's error too, not a crash.
    const garbage = await fetch(`${server.httpUrl}/chime.v1.JobService/CreateJob`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{not json",
    });
    expect(garbage.status).toBe(400);
    expect((await bodyOf(garbage)).code).toBe("invalid_argument");

    const unknownMethod = await post("NoSuchMethod", {});
    expect(unknownMethod.status).toBe(404);
  });

  it("refuses a CORS preflight from another origin unless CHIME_CORS_ORIGINS lists it", async () => {
    const response = await fetch(`${server.httpUrl}/chime.v1.JobService/CreateJob`, {
      method: "OPTIONS",
      headers: { Origin: "http://localhost:5173", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type" },
    });
    expect(response.status).toBe(403);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("connect-node transports over HTTP/1.1", () => {
  const transports = {
    "gRPC-Web (binary)": () => createGrpcWebTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }),
    "gRPC-Web (JSON)": () => createGrpcWebTransport({ baseUrl: server.httpUrl, httpVersion: "1.1", useBinaryFormat: false }),
    "Connect (JSON, GET for reads)": () => createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1", useHttpGet: true }),
    "Connect (binary)": () => createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1", useBinaryFormat: true }),
  };

  for (const [name, makeTransport] of Object.entries(transports)) {
    it(`runs a job's lifecycle and reports error codes: ${name}`, async () => {
      const client = createClient(JobService, makeTransport());
      const jobName = `transport-${name.replace(/[^a-z]+/gi, "-").toLowerCase()}`;
      const { job } = await client.createJob({
        job: { name: jobName, queue: "web", schedule: { kind: { case: "interval", value: { every: { seconds: 3600n } } } } },
      });
      expect(job?.state).toBe(JobState.ACTIVE);
      expect((await client.getJob({ id: job!.id })).job?.name).toBe(jobName);
      const listed = await client.listJobs({ namePrefix: jobName });
      expect(listed.jobs.map((j) => j.id)).toEqual([job!.id]);
      expect((await client.pauseJob({ id: job!.id })).job?.state).toBe(JobState.PAUSED);
      const { run } = await client.triggerJob({ id: job!.id });
      expect((await client.getRun({ id: run!.id })).run?.jobId).toBe(job!.id);
      await client.deleteJob({ id: job!.id });

      const codeOf = (promise: Promise<unknown>) =>
        promise.then(
          () => undefined,
          (error: unknown) => ConnectError.from(error),
        );
      const notFound = await codeOf(client.getJob({ id: job!.id }));
      expect(notFound?.code).toBe(Code.NotFound);
      const invalid = await codeOf(client.createJob({ job: { name: jobName, queue: "bad queue" } }));
      expect(invalid?.code).toBe(Code.InvalidArgument);
      expect(invalid?.rawMessage).toMatch(/job\.queue: /);
      expect(invalid?.rawMessage).toMatch(/job\.schedule: /);
    });
  }
});
