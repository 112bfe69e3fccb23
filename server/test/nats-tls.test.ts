import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "@nats-io/transport-node";
import { createChimeClient, RunState, Worker } from "@chime/sdk";
import { freePort } from "./helpers/server-process.js";
import { startTestServer, type TestServer } from "./helpers/test-server.js";
import { createTestCa, type TestCa } from "./helpers/tls-certs.js";
import { onlyRunOf, terminalRun } from "./helpers/worker-runs.js";
import { waitFor } from "./helpers/wait.js";

/**
 * NATS over TLS with a user and password, from a nats-server of the test's own (started
 * from a config file): the server connects with CHIME_NATS_CA_FILE and the URL's
 * credentials, and an SDK Worker with natsOptions ({ tls, user, pass }) runs a job through it.
 */

let ca: TestCa;
let dir: string;
let nats: ChildProcess;
let natsUrl: string;
let server: TestServer;
const workers: Worker[] = [];

beforeAll(async () => {
  ca = createTestCa("nats-ca");
  const cert = ca.issue("nats", "server");
  dir = mkdtempSync(join(tmpdir(), "chime-nats-tls-"));
  const port = await freePort();
  const config = join(dir, "nats.conf");
  writeFileSync(config, [
    "listen: 127.0.0.1:" + port,
    `jetstream { store_dir: ${JSON.stringify(join(dir, "js"))} }`,
    `tls { cert_file: ${JSON.stringify(cert.certFile)}, key_file: ${JSON.stringify(cert.keyFile)} }`,
    'authorization { users = [ { user: chime, password: "s3cret-pass" } ] }',
  ].join("\n"));
  nats = spawn("/usr/sbin/nats-server", ["-c", config], { stdio: "ignore" });
  natsUrl = `tls://127.0.0.1:${port}`;
  await waitFor("the TLS nats-server", async () => {
    const nc = await connect({ servers: natsUrl, tls: { caFile: ca.caFile }, user: "chime", pass: "s3cret-pass", reconnect: false }).catch(() => undefined);
    await nc?.close();
    return nc !== undefined;
  }, { timeoutMs: 10_000, intervalMs: 100 });
  server = await startTestServer({
    CHIME_ROLES: "api,scheduler,ingest",
    NATS_URL: `tls://chime:s3cret-pass@127.0.0.1:${port}`,
    CHIME_NATS_CA_FILE: ca.caFile,
  });
  // SERVING once the server reached NATS over TLS and made its streams.
  await waitFor("the server to reach NATS", async () => (await fetch(`${server.httpUrl}/healthz`)).status === 200, { timeoutMs: 15_000, intervalMs: 100 });
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop(500)));
  await server?.close();
  nats?.kill("SIGKILL");
  if (dir) rmSync(dir, { recursive: true, force: true });
  ca?.remove();
});

describe("NATS over TLS with credentials", () => {
  it("serves the server and runs a job on a Worker that connects with natsOptions", async () => {
    const worker = new Worker({
      natsUrl,
      natsOptions: { tls: { ca: ca.ca.toString() }, user: "chime", pass: "s3cret-pass" },
      prefix: server.config.natsPrefix,
      queue: "tls-jobs",
      handler: (run) => ({ ranFor: run.jobId }),
      logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
    });
    workers.push(worker);
    await worker.start();
    const chime = createChimeClient({ baseUrl: server.grpcUrl });
    const job = await chime.createJob({ name: "over-nats-tls", queue: "tls-jobs", schedule: "immediate" });
    const run = await terminalRun(chime, (await onlyRunOf(chime, job.id)).id);
    expect(run.state).toBe(RunState.SUCCEEDED);
    expect(run.output).toEqual({ ranFor: job.id });
  });

  it("refuses a Worker without the password or without trusting the certificate", async () => {
    for (const natsOptions of [{ tls: { ca: ca.ca.toString() } }, { user: "chime", pass: "s3cret-pass" }]) {
      const worker = new Worker({ natsUrl, natsOptions: { ...natsOptions, maxReconnectAttempts: 0 }, prefix: server.config.natsPrefix, queue: "tls-jobs", handler: () => undefined });
      await expect(worker.start()).rejects.toThrow();
    }
  });
});
