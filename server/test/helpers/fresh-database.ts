import { randomBytes } from "node:crypto";
import pg from "pg";
import { databaseUrl, TEST_POSTGRES_URL, testDatabaseName } from "./env.js";
import type { TestDatabase } from "./test-database.js";

/**
 * A database name of the test's own that does not exist yet: the server under test
 * creates it (ensureDatabase). drop() removes it if it was made. Named like every test
 * database, so the global setup clears leftovers of an interrupted run.
 */
export function uncreatedTestDatabase(): TestDatabase {
  const name = testDatabaseName(randomBytes(6).toString("hex"));
  return {
    name,
    url: databaseUrl(name),
    async drop() {
      const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** Whether a database of that name exists. */
export async function databaseExists(name: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await client.connect();
  try {
    return ((await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name])).rowCount ?? 0) > 0;
  } finally {
    await client.end();
  }
}
