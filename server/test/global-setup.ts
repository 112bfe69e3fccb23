import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { createPool } from "../src/db/pool.js";
import { migrate } from "../src/db/migrate.js";
import { databaseUrl, TEST_DATABASE_PREFIX, TEST_POSTGRES_URL, testDatabaseName } from "./helpers/env.js";

/** Databases of test runs that died this long ago are dropped. */
const STALE_AFTER_MS = 2 * 3_600_000;

declare module "vitest" {
  export interface ProvidedContext {
    templateDatabase: string;
  }
}

/**
 * Builds a freshly migrated template database of this run's own (so concurrent runs never
 * touch each other's), which every test file clones, and drops it afterwards.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  buildCompiledPrograms();
  const template = testDatabaseName(`tpl${randomBytes(3).toString("hex")}`);
  const admin = async (work: (client: pg.Client) => Promise<void>) => {
    const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
    await client.connect();
    try {
      await work(client);
    } finally {
      await client.end();
    }
  };
  await admin(async (client) => {
    const { rows } = await client.query<{ datname: string }>("SELECT datname FROM pg_database WHERE starts_with(datname, $1)", [
      TEST_DATABASE_PREFIX,
    ]);
    for (const { datname } of rows) {
      const created = Number(datname.slice(TEST_DATABASE_PREFIX.length).split("_")[0]) * 1000;
      if (Number.isFinite(created) && Date.now() - created > STALE_AFTER_MS) {
        await client.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(datname)} WITH (FORCE)`);
      }
    }
    await client.query(`CREATE DATABASE ${template}`);
  });
  const pool = createPool(databaseUrl(template), 1);
  await migrate(pool);
  await pool.end();
  project.provide("templateDatabase", template);
  return () => admin(async (client) => void (await client.query(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`)));
}

/**
 * The server and worker processes that tests spawn run compiled JavaScript (dist/): bring it
 * up to date with the sources (scripts/build-node.sh; tsc -b rebuilds only what changed), so
 * a test file run on its own never spawns stale code.
 */
function buildCompiledPrograms(): void {
  execFileSync("bash", ["scripts/build-node.sh"], { cwd: fileURLToPath(new URL("../../", import.meta.url)), stdio: "inherit" });
}
