import { randomBytes } from "node:crypto";
import { afterAll, beforeAll } from "vitest";
import { createChimeClient, type ChimeClient } from "@chime/sdk";
import { startChimeServer, type ChimeServerOptions, type RunningChimeServer } from "../../src/app.js";
import { loadConfig, type ChimeConfig } from "../../src/config.js";
import { TEST_NATS_URL } from "./env.js";
import { deleteNatsPrefix } from "./test-nats.js";
import { createTestDatabase, type TestDatabase } from "./test-database.js";

export interface TestServer extends RunningChimeServer {
  db: TestDatabase;
  config: ChimeConfig;
  grpcUrl: string;
  httpUrl: string;
  /** Stops the server and drops its database. */
  close(): Promise<void>;
}

/** A NATS name prefix of the test's own, so tests never see each other's streams. */
export function testNatsPrefix(): string {
  return `t${randomBytes(5).toString("hex")}`;
}

/** Starts an in-process server on free ports against a fresh database and NATS prefix. */
export async function startTestServer(
  env: Record<string, string> = {},
  options: { db?: TestDatabase } & ChimeServerOptions = {},
): Promise<TestServer> {
  const db = options.db ?? (await createTestDatabase());
  const config = loadConfig({
    DATABASE_URL: db.url,
    NATS_URL: TEST_NATS_URL,
    CHIME_NATS_PREFIX: testNatsPrefix(),
    CHIME_PORT: "0",
    CHIME_HTTP_PORT: "0",
    CHIME_HOST: "127.0.0.1",
    CHIME_LOG_LEVEL: process.env.CHIME_TEST_LOG_LEVEL ?? "silent",
    CHIME_SHUTDOWN_GRACE_MS: "1000",
    ...env,
  });
  const server = await startChimeServer(config, { now: options.now, afterDispatchCommit: options.afterDispatchCommit });
  return {
    ...server,
    db,
    config,
    grpcUrl: `${config.tls ? "https" : "http"}://127.0.0.1:${server.grpcPort}`,
    httpUrl: `${config.tls ? "https" : "http"}://127.0.0.1:${server.httpPort}`,
    async close() {
      await server.stop();
      await deleteNatsPrefix(config.natsPrefix);
      if (!options.db) await db.drop();
    },
  };
}

/** A test file's server and an SDK client of it. */
export interface ServerFixture {
  server: TestServer;
  chime: ChimeClient;
}

/**
 * Starts a test server (and an SDK client of it) before the file's tests and closes it after
 * them. The fields are set once the file's beforeAll hooks ran: read them inside tests.
 */
export function useTestServer(env: Record<string, string> = {}, options: Parameters<typeof startTestServer>[1] = {}): ServerFixture {
  const fixture = {} as ServerFixture;
  beforeAll(async () => {
    fixture.server = await startTestServer(env, options);
    fixture.chime = createChimeClient({ baseUrl: fixture.server.grpcUrl });
  });
  afterAll(async () => fixture.server?.close());
  return fixture;
}
