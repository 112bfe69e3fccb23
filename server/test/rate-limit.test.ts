import { afterAll, beforeAll, expect, it } from "vitest";
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { RetryInfoSchema } from "@chime/sdk";
import { AdminService, ApiKeyRole } from "@chime/sdk/gen/admin_service_pb";
import { JobService } from "@chime/sdk/gen/job_service_pb";
import { startTestServer, type TestServer } from "./helpers/test-server.js";

/**
 * CHIME_RATE_LIMIT: a namespace's keys share a token bucket; over it a call is
 * RESOURCE_EXHAUSTED with a RetryInfo, while other namespaces and all-namespaces keys go on.
 * AdminService/SetNamespaceLimits sets a namespace's own rate and its job quota. Rates are
 * a token per 100 s or slower, so no refill happens while the test runs.
 */

const ROOT = "root-token-for-tests";
let server: TestServer;
const asRoot = [(next: Parameters<Interceptor>[0]) => (request: Parameters<ReturnType<Interceptor>>[0]) => {
  request.header.set("authorization", `Bearer ${ROOT}`);
  return next(request);
}];

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

it("takes a namespace's own rate and job quota from SetNamespaceLimits, which only an all-namespaces admin may set", async () => {
  const admin = createClient(AdminService, createGrpcTransport({ baseUrl: server.grpcUrl, interceptors: asRoot }));
  await admin.setNamespaceLimits({ limits: { namespace: "teamC", callsPerSecond: 0.001, callBurst: 1, maxJobs: 2n } });
  expect((await admin.getNamespaceLimits({ namespace: "teamC" })).limits).toMatchObject({ namespace: "teamC", callBurst: 1, maxJobs: 2n });
  const { secret } = await admin.createApiKey({ name: "c", namespace: "teamC", role: ApiKeyRole.ADMIN });
  const teamC = jobsAs(secret);
  await teamC.listJobs({});
  expect((await teamC.listJobs({}).then(() => undefined, (e: unknown) => ConnectError.from(e)))?.code).toBe(Code.ResourceExhausted);
  // A namespace's admin cannot raise its own limits.
  const teamCAdmin = createClient(AdminService, createGrpcTransport({
    baseUrl: server.grpcUrl,
    interceptors: [(next) => (request) => {
      request.header.set("authorization", `Bearer ${secret}`);
      return next(request);
    }],
  }));
  const denied = await teamCAdmin.setNamespaceLimits({ limits: { namespace: "teamC", callsPerSecond: 1000 } }).then(() => undefined, (e: unknown) => ConnectError.from(e));
  expect(denied?.code).toBe(Code.PermissionDenied);
  // The quota holds whoever creates: two jobs fit, the third does not.
  const operator = jobsAs(ROOT);
  const job = { queue: "q", namespace: "teamC", schedule: { kind: { case: "immediate" as const, value: {} } } };
  await operator.createJob({ job: { ...job, name: "c1" } });
  await operator.createJob({ job: { ...job, name: "c2" } });
  const full = await operator.createJob({ job: { ...job, name: "c3" } }).then(() => undefined, (e: unknown) => ConnectError.from(e));
  expect(full?.code).toBe(Code.ResourceExhausted);
  expect(full?.rawMessage).toContain("teamC");
  const bad = await admin.setNamespaceLimits({ limits: { namespace: "", callsPerSecond: -1, maxJobs: -1n } }).then(() => undefined, (e: unknown) => ConnectError.from(e));
  expect(bad?.code).toBe(Code.InvalidArgument);
  for (const field of ["limits.namespace", "limits.calls_per_second", "limits.max_jobs"]) expect(bad?.rawMessage).toContain(field);
});
