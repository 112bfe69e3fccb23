import pg from "pg";

// Return int8 (bigint) columns as JS numbers: counters and cursors stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export function createPool(databaseUrl: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: databaseUrl, max, connectionTimeoutMillis: 5000 });
  // An idle client losing its connection must not crash the process; the pool replaces it.
  pool.on("error", () => undefined);
  return pool;
}

/**
 * How every transaction begins. The hot statements join a batch (unnest or
 * jsonb_to_recordset of up to a thousand rows) to runs or jobs by primary key. At the
 * default random_page_cost (4, a spinning disk's) the planner prefers hashing a sequential
 * scan of the whole table once it holds some ten thousand rows, which costs Postgres about
 * twice the CPU of the index lookups, and more as the table grows; Chime's tables are
 * read from memory, where 1.1 is the usual setting. SET LOCAL, not a session or startup
 * option, so it also holds behind a transaction-pooling PgBouncer.
 */
const BEGIN = "BEGIN; SET LOCAL random_page_cost = 1.1";

/** Runs `work` in a transaction on one pooled client. */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query(BEGIN);
    const result = await work(client);
    await client.query("COMMIT");
    return result;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}
