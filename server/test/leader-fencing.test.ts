import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type pg from "pg";
import { createPool } from "../src/db/pool.js";
import { createLogger } from "../src/logger.js";
import { FencedOut, fencedTransaction, LeaderElector, type Leadership } from "../src/scheduler/leader-elector.js";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.js";
import { waitFor } from "./helpers/wait.js";

let db: TestDatabase;
let pool: pg.Pool;
const electors: LeaderElector[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool(db.url);
});
afterAll(async () => {
  for (const elector of electors) await elector.stop();
  await pool?.end();
  await db?.drop();
});

function elector(serverId: string): { elector: LeaderElector; elected: Promise<Leadership> } {
  const e = new LeaderElector({ databaseUrl: db.url, serverId, leaseMs: 3000, intervalMs: 100, logger: createLogger("silent") });
  electors.push(e);
  const elected = new Promise<Leadership>((resolve) => e.once("elected", resolve));
  e.start();
  return { elector: e, elected };
}

const heartbeatOf = async () => (await pool.query<{ t: Date }>("SELECT heartbeat_time AS t FROM scheduler_leader")).rows[0].t.getTime();

describe("leader fencing", () => {
  it("lets heartbeats pass an open fenced transaction, holds a takeover until it ends, then fences the old epoch out", async () => {
    const a = elector("fence-a");
    const { epoch } = await a.elected;

    // A long leader write is open...
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let inside!: () => void;
    const entered = new Promise<void>((resolve) => (inside = resolve));
    const write = fencedTransaction(pool, epoch, async (client) => {
      await client.query("CREATE TABLE IF NOT EXISTS fenced_probe (v int)");
      await client.query("INSERT INTO fenced_probe VALUES (1)");
      inside();
      await held;
    });
    await entered;
    // ...and the leader's heartbeat still advances (it is not queued behind the write).
    const before = await heartbeatOf();
    await waitFor("a heartbeat during the open write", async () => (await heartbeatOf()) > before, { timeoutMs: 3000 });

    // A takeover's epoch bump (what the elector does on winning the lock) waits for the open write.
    const challenger = await pool.connect();
    const bump = (async () => {
      await challenger.query("BEGIN");
      await challenger.query("SELECT 1 FROM scheduler_leader WHERE singleton FOR UPDATE");
      await challenger.query("UPDATE scheduler_leader SET epoch = epoch + 1, leader_id = 'challenger' WHERE singleton");
      await challenger.query("COMMIT");
    })().finally(() => challenger.release());
    let bumped = false;
    void bump.then(() => (bumped = true));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(bumped).toBe(false);
    release();
    await write;
    await bump;
    expect((await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM fenced_probe")).rows[0].n).toBe(1);

    // The old epoch can no longer write.
    await expect(fencedTransaction(pool, epoch, async (client) => client.query("INSERT INTO fenced_probe VALUES (2)"))).rejects.toBeInstanceOf(FencedOut);
    expect((await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM fenced_probe")).rows[0].n).toBe(1);
  });
});
