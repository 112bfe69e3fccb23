import pg from "pg";
import { log, randomId } from "./util.js";

// int8 counters (count(*), sizes) as JS numbers.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

/** Where the benchmark finds Postgres (an admin database it may create and drop databases from). */
export const ADMIN_URL = process.env.BENCH_POSTGRES_URL ?? process.env.CHIME_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres";
export const NATS_URL = process.env.BENCH_NATS_URL ?? process.env.NATS_URL ?? "nats://127.0.0.1:4222";

/** Every benchmark database is named chime_bench_<unix seconds>_<system>_<random>. */
const DB_PREFIX = "chime_bench_";

export function databaseUrl(name: string): string {
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function admin<T>(work: (client: pg.Client) => Promise<T>, url = ADMIN_URL): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export interface BenchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

const live = new Set<BenchDatabase>();

/**
 * A fresh, empty database for one system in one workload. `create: false` leaves the
 * creation to the system under test (Chime creates its database at start).
 */
export async function freshDatabase(system: string, options: { create?: boolean } = {}): Promise<BenchDatabase> {
  const name = `${DB_PREFIX}${Math.floor(Date.now() / 1000)}_${system.replace(/[^a-z0-9]/gi, "").toLowerCase()}_${randomId(5)}`;
  if (options.create !== false) await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const db: BenchDatabase = {
    name,
    url: databaseUrl(name),
    async drop() {
      live.delete(db);
      await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).catch((error: unknown) =>
        log(`cannot drop database ${name}: ${(error as Error).message}`),
      );
    },
  };
  live.add(db);
  return db;
}

/** Drops every database this run created and has not dropped yet. */
export async function dropAllDatabases(): Promise<void> {
  await Promise.all([...live].map((db) => db.drop()));
}

/** Drops benchmark databases left by an interrupted run (older than two hours, so a concurrent run is spared). */
export async function dropStaleDatabases(): Promise<void> {
  const cutoff = Math.floor(Date.now() / 1000) - 7200;
  await admin(async (c) => {
    const { rows } = await c.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'chime\\_bench\\_%'");
    for (const { datname } of rows) {
      const created = Number(datname.slice(DB_PREFIX.length).split("_")[0]);
      if (Number.isFinite(created) && created < cutoff) {
        log(`dropping stale benchmark database ${datname}`);
        await c.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`).catch(() => undefined);
      }
    }
  });
}

/** Size of a relation with its indexes and toast, in bytes. */
export async function relationSize(url: string, relation: string): Promise<number> {
  return admin(async (c) => (await c.query<{ size: number }>("SELECT pg_total_relation_size($1::regclass) AS size", [relation])).rows[0].size, url);
}
