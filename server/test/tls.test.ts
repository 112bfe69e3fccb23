import { copyFileSync } from "node:fs";
import https from "node:https";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { createChimeClient, type ClientTlsOptions } from "@chime/sdk";
import { JobService } from "@chime/sdk/gen/job_service_pb";
import { createTestCa, type IssuedCert, type TestCa } from "./helpers/tls-certs.js";
import { startTestServer, type TestServer } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";

/**
 * TLS on both ports from CHIME_TLS_CERT_FILE/KEY_FILE (certificates made by openssl for the
 * test), the certificate reloaded when its files change, and mTLS with CHIME_TLS_CLIENT_CA_FILE.
 */

type Protocol = "gRPC" | "Connect" | "gRPC-Web";
const PROTOCOLS: Protocol[] = ["gRPC", "Connect", "gRPC-Web"];

function transportFor(server: TestServer, protocol: Protocol, tls: ClientTlsOptions): Transport {
  const nodeOptions = { ca: tls.ca, cert: tls.cert, key: tls.key };
  if (protocol === "gRPC") return createGrpcTransport({ baseUrl: server.grpcUrl, nodeOptions });
  const options = { baseUrl: server.httpUrl, httpVersion: "1.1" as const, nodeOptions };
  return protocol === "Connect" ? createConnectTransport(options) : createGrpcWebTransport(options);
}

/** A call every protocol serves: ListJobs, which needs nothing to exist. */
async function listJobs(server: TestServer, protocol: Protocol, tls: ClientTlsOptions) {
  return createClient(JobService, transportFor(server, protocol, tls)).listJobs({ pageSize: 1 }, { timeoutMs: 5000 });
}

/** The call failed on the client (the handshake was refused: which code the client reports depends on its transport). */
async function refusal(call: Promise<unknown>): Promise<ConnectError> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, "the call should have been refused").toBeInstanceOf(ConnectError);
  return error as ConnectError;
}

function healthz(server: TestServer, tls: ClientTlsOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    https
      .get(`${server.httpUrl}/healthz`, { ca: tls.ca, cert: tls.cert, key: tls.key }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      })
      .on("error", reject);
  });
}

let ca: TestCa;
let serverCert: IssuedCert;

beforeAll(() => {
  ca = createTestCa();
  serverCert = ca.issue("server", "server");
});
afterAll(() => ca?.remove());

describe("TLS", () => {
  let server: TestServer;
  let certFile: string;
  let keyFile: string;
  beforeAll(async () => {
    // The server reads copies, so the reload test can replace them.
    certFile = `${ca.dir}/served.pem`;
    keyFile = `${ca.dir}/served.key`;
    copyFileSync(serverCert.certFile, certFile);
    copyFileSync(serverCert.keyFile, keyFile);
    server = await startTestServer({ CHIME_ROLES: "api", CHIME_TLS_CERT_FILE: certFile, CHIME_TLS_KEY_FILE: keyFile });
  });
  afterAll(async () => server?.close());

  it.each(PROTOCOLS)("serves %s over TLS to a client that trusts the CA", async (protocol) => {
    expect((await listJobs(server, protocol, { ca: ca.ca })).jobs).toEqual([]);
  });

  it("serves the SDK client and /healthz over TLS", async () => {
    const chime = createChimeClient({ baseUrl: server.grpcUrl, tls: { ca: ca.ca } });
    const job = await chime.createJob({ name: "over-tls", queue: "q", schedule: { every: "1h" } });
    expect((await chime.getJob(job.id)).name).toBe("over-tls");
    expect(await healthz(server, { ca: ca.ca })).toBe(200);
  });

  it("refuses a client that does not trust the certificate, and plain text on both ports", async () => {
    const stranger = createTestCa("stranger-ca");
    try {
      for (const protocol of PROTOCOLS) {
        await refusal(listJobs(server, protocol, { ca: stranger.ca }));
      }
    } finally {
      stranger.remove();
    }
    const plainGrpc = createClient(JobService, createGrpcTransport({ baseUrl: server.grpcUrl.replace("https:", "http:") }));
    await refusal(plainGrpc.listJobs({}, { timeoutMs: 3000 }));
    const plainHttp = createClient(JobService, createConnectTransport({ baseUrl: server.httpUrl.replace("https:", "http:"), httpVersion: "1.1" }));
    await refusal(plainHttp.listJobs({}, { timeoutMs: 3000 }));
  });

  it("serves a replaced certificate on both ports without a restart", async () => {
    const next = createTestCa("rotated-ca");
    try {
      const rotated = next.issue("server", "server");
      copyFileSync(rotated.keyFile, keyFile);
      copyFileSync(rotated.certFile, certFile);
      for (const protocol of PROTOCOLS) {
        await waitFor(`${protocol} with the rotated certificate`, async () => (await listJobs(server, protocol, { ca: next.ca })).jobs);
      }
      // New connections no longer get the old certificate (kept-alive HTTP/1.1 ones keep their handshake).
      await refusal(listJobs(server, "gRPC", { ca: ca.ca }));
    } finally {
      next.remove();
    }
  });
});

describe("mTLS", () => {
  let server: TestServer;
  let client: IssuedCert;
  beforeAll(async () => {
    client = ca.issue("client", "client");
    server = await startTestServer({
      CHIME_ROLES: "api",
      CHIME_TLS_CERT_FILE: serverCert.certFile,
      CHIME_TLS_KEY_FILE: serverCert.keyFile,
      CHIME_TLS_CLIENT_CA_FILE: ca.caFile,
    });
  });
  afterAll(async () => server?.close());

  it.each(PROTOCOLS)("serves %s to a client with a certificate the CA signed", async (protocol) => {
    expect((await listJobs(server, protocol, { ca: ca.ca, cert: client.cert, key: client.key })).jobs).toEqual([]);
  });

  it.each(PROTOCOLS)("refuses %s from a client without a certificate", async (protocol) => {
    await refusal(listJobs(server, protocol, { ca: ca.ca }));
  });

  it.each(PROTOCOLS)("refuses %s from a client whose certificate another CA signed", async (protocol) => {
    const other = createTestCa("other-ca");
    try {
      const stranger = other.issue("stranger", "client");
      await refusal(listJobs(server, protocol, { ca: ca.ca, cert: stranger.cert, key: stranger.key }));
    } finally {
      other.remove();
    }
  });

  it("serves the SDK client with its certificate, and /healthz only to one", async () => {
    const chime = createChimeClient({ baseUrl: server.grpcUrl, tls: { ca: ca.ca, cert: client.cert, key: client.key } });
    expect((await chime.createJob({ name: "over-mtls", queue: "q", schedule: { every: "1h" } })).name).toBe("over-mtls");
    expect(await healthz(server, { ca: ca.ca, cert: client.cert, key: client.key })).toBe(200);
    await expect(healthz(server, { ca: ca.ca })).rejects.toThrow();
  });
});
