import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cors } from "@connectrpc/connect";
import { startTestServer, type TestServer } from "./helpers/test-server.js";

/** CHIME_CORS_ORIGINS: listed origins may call the HTTP port from a browser, others are refused. */

const ALLOWED = "https://app.example.com";
let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ CHIME_ROLES: "api", CHIME_CORS_ORIGINS: `${ALLOWED},http://localhost:5173` });
});
afterAll(async () => server?.close());

const rpc = (method: string) => `${server.httpUrl}/chime.v1.JobService/${method}`;
const preflight = (origin: string) =>
  fetch(rpc("CreateJob"), {
    method: "OPTIONS",
    headers: { Origin: origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,authorization,x-grpc-web" },
  });
const listJobs = (headers: Record<string, string>) =>
  fetch(rpc("ListJobs"), { method: "POST", headers: { "Content-Type": "application/json", ...headers }, body: "{}" });

describe("CORS", () => {
  it("answers a listed origin's preflight with connect-es's methods and headers", async () => {
    const response = await preflight(ALLOWED);
    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe(ALLOWED);
    expect(response.headers.get("vary")).toContain("Origin");
    const methods = response.headers.get("access-control-allow-methods")!.split(", ");
    expect(methods).toEqual(expect.arrayContaining([...cors.allowedMethods]));
    const headers = response.headers.get("access-control-allow-headers")!.toLowerCase().split(", ");
    expect(headers).toEqual(expect.arrayContaining([...cors.allowedHeaders.map((h) => h.toLowerCase()), "authorization"]));
  });

  it("exposes grpc-status and grpc-message to a listed origin", async () => {
    const response = await listJobs({ Origin: ALLOWED });
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBe(ALLOWED);
    const exposed = response.headers.get("access-control-expose-headers")!.toLowerCase();
    expect(exposed).toContain("grpc-status");
    expect(exposed).toContain("grpc-message");
  });

  it.each(["https://evil.example", "http://app.example.com", "null"])("refuses the preflight and the call of %s", async (origin) => {
    const answer = await preflight(origin);
    expect(answer.status).toBe(403);
    expect(answer.headers.get("access-control-allow-origin")).toBeNull();
    const call = await listJobs({ Origin: origin });
    expect(call.status).toBe(403);
    expect(await call.text()).toContain("CHIME_CORS_ORIGINS");
  });

  it("serves same-origin and non-browser calls without CORS headers", async () => {
    const own = await listJobs({ Origin: server.httpUrl });
    expect(own.status).toBe(200);
    expect(own.headers.get("access-control-allow-origin")).toBeNull();
    const curl = await listJobs({});
    expect(curl.status).toBe(200);
    expect(curl.headers.get("access-control-allow-origin")).toBeNull();
  });
});
