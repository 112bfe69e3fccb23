import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createChimeClient } from "@chime/sdk";
import { ensureDatabase } from "../src/db/ensure-database.js";
import { databaseUrl, testDatabaseName } from "./helpers/env.js";
import { startTestServer } from "./helpers/test-server.js";
import { admin, createTestDatabase, type TestDatabase } from "./helpers/test-database.js";

/**
 * Start-up against a Postgres whose maintenance database `postgres` refuses this role (as
 * managed services often do): a role of the test's own, for which connecting to `postgres`
 * fails (a preload library that does not exist, set for that role in that database only).
 */
const role = `chime_r${randomBytes(5).toString("hex")}`;
let owned: TestDatabase;

function urlAs(user: string, database: string): string {
  const url = new URL(databaseUrl(database));
  url.username = user;
  url.password = "";
  return url.toString();
}

beforeAll(async () => {
  owned = await createTestDatabase();
  await admin(async (client) => {
    await client.query(`CREATE ROLE ${role} LOGIN`);
    await client.query(`ALTER DATABASE ${owned.name} OWNER TO ${role}`);
  });
  // The template's migrated schema belongs to postgres: hand each object over to the role.
  const inDb = new pg.Client({ connectionString: owned.url });
  await inDb.connect();
  try {
    await inDb.query(`GRANT ALL ON SCHEMA public TO ${role}`);
    const { rows } = await inDb.query<{ kind: string; name: string }>(
      `SELECT 'TABLE' AS kind, tablename AS name FROM pg_tables WHERE schemaname = 'public'
       UNION ALL SELECT 'SEQUENCE', sequencename FROM pg_sequences WHERE schemaname = 'public'
       UNION ALL SELECT 'VIEW', viewname FROM pg_views WHERE schemaname = 'public'`,
    );
    for (const { kind, name } of rows) await inDb.query(`ALTER ${kind} ${pg.escapeIdentifier(name)} OWNER TO ${role}`);
  } finally {
    await inDb.end();
  }
  await admin((client) => client.query(`ALTER ROLE ${role} IN DATABASE postgres SET session_preload_libraries = 'chime_no_such_library'`));
});
afterAll(async () => {
  await owned?.drop();
  await admin(async (client) => {
    await client.query(`ALTER ROLE ${role} IN DATABASE postgres RESET ALL`).catch(() => undefined);
    await client.query(`DROP ROLE IF EXISTS ${role}`);
  });
});

describe("database set-up", () => {
  it("the role cannot reach the maintenance database (so the rest shows Chime does not need it)", async () => {
    const client = new pg.Client({ connectionString: urlAs(role, "postgres") });
    await expect(client.connect()).rejects.toThrow(/chime_no_such_library/);
    await client.end().catch(() => undefined);
  });

  it("an existing database is used without the maintenance database; a server starts and serves on it", async () => {
    expect(await ensureDatabase(urlAs(role, owned.name))).toBe(false);
    const server = await startTestServer({ DATABASE_URL: urlAs(role, owned.name) }, { db: owned });
    try {
      const chime = createChimeClient({ baseUrl: server.grpcUrl });
      const job = await chime.createJob({ name: "no-maintenance-db", queue: "q", schedule: { every: "1h" } });
      expect((await chime.getJob(job.id)).name).toBe("no-maintenance-db");
    } finally {
      await server.stop();
    }
  });

  it("a missing database is created through the maintenance database", async () => {
    const name = testDatabaseName(randomBytes(6).toString("hex"));
    try {
      expect(await ensureDatabase(databaseUrl(name))).toBe(true);
      expect(await ensureDatabase(databaseUrl(name))).toBe(false);
    } finally {
      await admin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    }
  });
});
