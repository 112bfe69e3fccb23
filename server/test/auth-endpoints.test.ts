import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as grpc from "@grpc/grpc-js";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { AdminService, ApiKeyRole } from "@chime/sdk/gen/admin_service_pb";
import { startTestServer, type TestServer } from "./helpers/test-server.js";

/**
 * Reflection and /metrics: open by default (local development), and with
 * CHIME_REFLECTION_ACCESS=key / CHIME_METRICS_ACCESS=key they need a key (/metrics, which
 * counts every tenant, one of all namespaces).
 */

const ROOT = "root-token-for-tests";
// ServerReflectionRequest{list_services: "*"}
const LIST_SERVICES = Buffer.from([0x3a, 0x01, 0x2a]);

/** Whether a reflection stream answers (true) or the error code it ends with. */
function reflect(server: TestServer, key?: string): Promise<true | grpc.status> {
  const client = new grpc.Client(`127.0.0.1:${server.grpcPort}`, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  if (key) metadata.set("authorization", `Bearer ${key}`);
  return new Promise<true | grpc.status>((resolve) => {
    const call = client.makeBidiStreamRequest("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", (b: Buffer) => b, (b: Buffer) => b, metadata, { deadline: Date.now() + 10_000 });
    call.on("data", () => {
      resolve(true);
      call.cancel();
    });
    call.on("error", (error: grpc.ServiceError) => resolve(error.code));
    call.write(LIST_SERVICES);
  }).finally(() => client.close());
}

const metrics = (server: TestServer, key?: string) =>
  fetch(`${server.httpUrl}/metrics`, { headers: key ? { authorization: `Bearer ${key}` } : {} }).then((r) => r.status);

describe("reflection and /metrics, open by default", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ CHIME_ROLES: "api", CHIME_API_TOKEN: ROOT });
  });
  afterAll(async () => server?.close());

  it("answers without a key", async () => {
    expect(await reflect(server)).toBe(true);
    expect(await metrics(server)).toBe(200);
  });
});

describe("reflection and /metrics with CHIME_REFLECTION_ACCESS=key and CHIME_METRICS_ACCESS=key", () => {
  let server: TestServer;
  let teamKey: string;
  beforeAll(async () => {
    server = await startTestServer({ CHIME_ROLES: "api", CHIME_API_TOKEN: ROOT, CHIME_REFLECTION_ACCESS: "key", CHIME_METRICS_ACCESS: "key" });
    const admin = createClient(AdminService, createGrpcTransport({
      baseUrl: server.grpcUrl,
      interceptors: [(next) => (request) => {
        request.header.set("authorization", `Bearer ${ROOT}`);
        return next(request);
      }],
    }));
    teamKey = (await admin.createApiKey({ name: "team", namespace: "teamA", role: ApiKeyRole.READER })).secret;
  });
  afterAll(async () => server?.close());

  it("refuses reflection without a valid key and answers with one", async () => {
    expect(await reflect(server)).toBe(grpc.status.UNAUTHENTICATED);
    expect(await reflect(server, "chime_not-a-key")).toBe(grpc.status.UNAUTHENTICATED);
    expect(await reflect(server, teamKey)).toBe(true);
    expect(await reflect(server, ROOT)).toBe(true);
  });

  it("serves /metrics to a key of all namespaces only", async () => {
    expect(await metrics(server)).toBe(401);
    expect(await metrics(server, "chime_not-a-key")).toBe(401);
    expect(await metrics(server, teamKey)).toBe(403);
    expect(await metrics(server, ROOT)).toBe(200);
    // Health stays open for load balancers.
    expect((await fetch(`${server.httpUrl}/healthz`)).status).toBe(200);
  });
});
