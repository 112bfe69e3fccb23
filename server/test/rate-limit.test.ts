import { afterAll, beforeAll, expect, it } from "vitest";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { RetryInfoSchema } from "@chime/sdk";
import { AdminService, ApiKeyRole } from "@chime/sdk/gen/admin_service_pb";
import { JobService } from "@chime/sdk/gen/job_service_pb";
import { startTestServer, type TestServer } from "./helpers/test-server.js";

/**
 * CHIME_RATE_LIMIT: a namespace's keys share a token bucket; over it a call is
 * RESOURCE_EXHAUSTED with a RetryInfo, while other namespaces and all-namespaces keys go on.
 * The rate is one token per 100 s so no refill happens while the test runs.
 */

const ROOT = "root-token-for-tests";
let server: TestServer;

const jobsAs = (secret: string): Client<typeof JobService> =>
  createClient(JobService, createGrpcTransport({
    baseUrl: server.grpcUrl,
    interceptors: [(next) => (request) => {
      request.header.set("authorization", `Bearer ${secret}`);
      return next(request);
    }],
  }));

beforeAll(async () => {
  server = await startTestServer({ CHIME_ROLES: "api", CHIME_API_TOKEN: ROOT, CHIME_RATE_LIMIT: "0.01,3" });
});
afterAll(async () => server?.close());

it("limits a flooding namespace without touching the others", async () => {
  const admin = createClient(AdminService, createGrpcTransport({
    baseUrl: server.grpcUrl,
    interceptors: [(next) => (request) => {
      request.header.set("authorization", `Bearer ${ROOT}`);
      return next(request);
    }],
  }));
  const [a, b] = await Promise.all(["teamA", "teamB"].map(async (namespace) => (await admin.createApiKey({ name: namespace, namespace, role: ApiKeyRole.READER })).secret));
  const teamA = jobsAs(a!);
  for (let i = 0; i < 3; i++) await teamA.listJobs({});
  const error = await teamA.listJobs({}).then(() => undefined, (e: unknown) => ConnectError.from(e));
  expect(error?.code).toBe(Code.ResourceExhausted);
  const [retry] = error!.findDetails(RetryInfoSchema);
  expect(Number(retry.retryDelay!.seconds)).toBeGreaterThan(0);
  // teamB has its own bucket, and the operator's token is not limited.
  const teamB = jobsAs(b!);
  for (let i = 0; i < 3; i++) await teamB.listJobs({});
  const operator = jobsAs(ROOT);
  for (let i = 0; i < 10; i++) await operator.listJobs({});
});
