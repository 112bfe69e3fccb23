import pg from "pg";
import { createPool } from "../src/db/pool.js";
import { migrate } from "../src/db/migrate.js";
import { databaseUrl, TEMPLATE_DATABASE, TEST_POSTGRES_URL } from "./helpers/env.js";

/** Builds a freshly migrated template database that every test file clones. */
export default async function setup(): Promise<() => Promise<void>> {
  const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DATABASE} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${TEMPLATE_DATABASE}`);
    // Leftovers of an interrupted earlier run.
    const { rows } = await admin.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'chime_t\\_%'");
    for (const { datname } of rows) await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(datname)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
  const pool = createPool(databaseUrl(TEMPLATE_DATABASE), 1);
  await migrate(pool);
  await pool.end();
  return async () => undefined;
}
