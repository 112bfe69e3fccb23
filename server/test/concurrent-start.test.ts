import { afterEach, describe, expect, it } from "vitest";
import { createChimeClient } from "@chime/sdk";
import { createPool } from "../src/db/pool.js";
import { loadMigrations, migrate } from "../src/db/migrate.js";
import { databaseExists, uncreatedTestDatabase } from "./helpers/fresh-database.js";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.js";
import { startTestServer, type TestServer } from "./helpers/test-server.js";

/**
 * Two servers started at the same moment against a database with no schema (or no
 * database at all): both come up, each migration is applied exactly once, both serve.
 */

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function startTwo(db: TestDatabase): Promise<[TestServer, TestServer]> {
  cleanups.push(() => db.drop());
  const results = await Promise.allSettled([startTestServer({}, { db }), startTestServer({}, { db })]);
  for (const result of results) if (result.status === "fulfilled") cleanups.push(() => result.value.close());
  for (const result of results) if (result.status === "rejected") throw result.reason;
  return results.map((r) => (r as PromiseFulfilledResult<TestServer>).value) as [TestServer, TestServer];
}

async function expectMigratedOnce(server: TestServer) {
  const expected = (await loadMigrations()).map((m) => ({ version: m.version, name: m.name, count: 1 }));
  expect(expected.length).toBeGreaterThan(0);
  const { rows } = await server.pool.query<{ version: number; name: string; count: number }>(
    "SELECT version, min(name) AS name, count(*)::int AS count FROM schema_migrations GROUP BY version ORDER BY version",
  );
  expect(rows).toEqual(expected);
  const tables = await server.pool.query<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
  );
  expect(tables.rows.map((r) => r.table_name)).toEqual(expect.arrayContaining(["jobs", "runs", "run_events", "schema_migrations"]));
}

async function expectBothServe(a: TestServer, b: TestServer) {
  const clientA = createChimeClient({ baseUrl: a.grpcUrl });
  const clientB = createChimeClient({ baseUrl: b.grpcUrl });
  const fromA = await clientA.createJob({ name: "made-on-a", queue: "q", schedule: { every: "1h" } });
  const fromB = await clientB.createJob({ name: "made-on-b", queue: "q", schedule: { every: "1h" } });
  expect((await clientB.getJob(fromA.id)).name).toBe("made-on-a");
  expect((await clientA.getJob(fromB.id)).name).toBe("made-on-b");
  const names: string[] = [];
  for await (const job of clientA.listJobs({ namePrefix: "made-on-" })) names.push(job.name);
  expect(names.sort()).toEqual(["made-on-a", "made-on-b"]);
}

describe("two servers starting at once", () => {
  it("share an existing empty database: one applies the migrations, both serve", async () => {
    const [a, b] = await startTwo(await createTestDatabase({ empty: true }));
    await expectMigratedOnce(a);
    await expectBothServe(a, b);
  });

  it("share a database that does not exist yet: it is created once and migrated once", async () => {
    const db = uncreatedTestDatabase();
    expect(await databaseExists(db.name)).toBe(false);
    const [a, b] = await startTwo(db);
    expect(await databaseExists(db.name)).toBe(true);
    await expectMigratedOnce(b);
    await expectBothServe(a, b);
  });
});

describe("migrate", () => {
  it("applies each migration once across many concurrent callers, and nothing on a second pass", async () => {
    const db = await createTestDatabase({ empty: true });
    cleanups.push(() => db.drop());
    const pools = Array.from({ length: 5 }, () => createPool(db.url, 2));
    cleanups.push(async () => void (await Promise.all(pools.map((p) => p.end()))));
    const applied = await Promise.all(pools.map((pool) => migrate(pool)));
    const names = (await loadMigrations()).map((m) => m.name);
    expect(applied.flat().sort()).toEqual([...names].sort());
    // Exactly one caller did the work; the others found it done.
    expect(applied.filter((list) => list.length > 0)).toHaveLength(1);
    expect(await migrate(pools[0])).toEqual([]);
  });
});
