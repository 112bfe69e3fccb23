import { afterAll, beforeAll, expect, it } from "vitest";
import { startPostgres, type ChaosPostgres } from "../../chaos/src/postgres.js";
import { createChimeClient, Worker } from "@chime/sdk";
import { startNatsProcess } from "./helpers/nats-process.js";
import { TEST_NATS_URL } from "./helpers/env.js";
import { freePort, startServerProcess, type ServerProcess } from "./helpers/server-process.js";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.js";
import { testNatsPrefix } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";

/**
 * Stopping has a hard deadline whatever NATS and Postgres do: a server and a Worker whose NATS
 * hangs, and a server whose Postgres hangs (SIGSTOP: connections stay open, nothing answers,
 * no flush, drain or query completes), still end.
 */
let nats: Awaited<ReturnType<typeof startNatsProcess>>;
let db: TestDatabase;
let server: ServerProcess | undefined;
const prefix = testNatsPrefix();
const GRACE_MS = 1000;
/** Generous against a loaded machine: the deadline is the grace plus a few seconds. */
const BOUND_MS = 30_000;

beforeAll(async () => {
  nats = await startNatsProcess();
  db = await createTestDatabase();
});
afterAll(async () => {
  nats?.signal("SIGCONT");
  await server?.kill("SIGKILL");
  await nats?.close();
  await db?.drop();
});

const within = <T>(promise: Promise<T>, ms: number, what: string) =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} did not end in ${ms} ms`)), ms))]);

it("a Worker and a server whose NATS hangs still stop, within their deadlines", async () => {
  server = await startServerProcess("hung-nats", {
    DATABASE_URL: db.url,
    NATS_URL: nats.url,
    CHIME_NATS_PREFIX: prefix,
    CHIME_SHUTDOWN_GRACE_MS: String(GRACE_MS),
  });
  let startedRuns = 0;
  const worker = new Worker({
    natsUrl: nats.url,
    prefix,
    queue: "hung",
    stopGraceMs: GRACE_MS,
    // A handler that never ends, so stop() has a run to hand back and a report to wait for.
    handler: () => {
      startedRuns++;
      return new Promise<never>(() => undefined);
    },
  });
  await worker.start();
  const chime = createChimeClient({ baseUrl: server.grpcUrl });
  await chime.createJob({ name: "forever", queue: "hung", schedule: "immediate" });
  await waitFor("the handler to start", () => startedRuns === 1);

  nats.signal("SIGSTOP");
  await within(worker.stop(), BOUND_MS, "Worker.stop() with NATS hung");
  server.child.kill("SIGTERM");
  const code = await within(server.exited, BOUND_MS, "the server's exit with NATS hung");
  expect(code).not.toBeNull();
  expect(server.logs.join("\n")).toMatch(/shutdown deadline/);
});

it("a server whose Postgres hangs still stops, within its deadline", async () => {
  let postgres: ChaosPostgres | undefined;
  let hung: ServerProcess | undefined;
  try {
    postgres = await startPostgres(await freePort());
    hung = await startServerProcess("hung-postgres", {
      DATABASE_URL: await postgres.createDatabase("chime"),
      NATS_URL: TEST_NATS_URL,
      CHIME_NATS_PREFIX: testNatsPrefix(),
      CHIME_SHUTDOWN_GRACE_MS: String(GRACE_MS),
    });
    postgres.signal("SIGSTOP");
    hung.child.kill("SIGTERM");
    const code = await within(hung.exited, BOUND_MS, "the server's exit with Postgres hung");
    expect(code).not.toBeNull();
  } finally {
    postgres?.signal("SIGCONT");
    await hung?.kill("SIGKILL");
    await postgres?.close();
  }
});
