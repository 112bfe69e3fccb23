import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pino } from "pino";
import type pg from "pg";
import { createPool } from "../src/db/pool.js";
import { createDatabaseClock, createManualClock } from "../src/util/database-clock.js";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.js";

let db: TestDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase({ empty: true });
  pool = createPool(db.url);
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

const databaseNow = async () => (await pool.query<{ ms: number }>("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms")).rows[0].ms;

describe("the database clock", () => {
  it("keeps Postgres' time on the monotonic clock, never ahead of it, whatever the wall clock does", async () => {
    // A fake monotonic clock that only moves when told, and a wall clock the test steps.
    const monotonic = createManualClock(1_000);
    const wall = createManualClock(Date.now());
    const reported: boolean[] = [];
    const clock = createDatabaseClock({
      pool,
      intervalMs: 60_000,
      maxSkewMs: 1000,
      logger: pino({ level: "silent" }),
      local: { monotonic: monotonic.now, wall: wall.now },
      onSkew: (_skew, skewed) => reported.push(skewed),
    });
    await clock.sample();
    const read = clock.now();
    expect(read).toBeLessThanOrEqual(await databaseNow());
    expect(clock.skewed()).toBe(false);

    // The wall clock jumps an hour ahead: the time moves only as Postgres' did (the fake
    // monotonic clock stood still meanwhile), and the skew is reported.
    wall.set(Date.now() + 3_600_000);
    await clock.sample();
    expect(clock.now() - read).toBeGreaterThanOrEqual(0);
    expect(clock.now() - read).toBeLessThan(1000);
    expect(clock.skewed()).toBe(true);
    expect(Math.abs(clock.skewMs() - 3_600_000)).toBeLessThan(60_000);

    // Time passes on the monotonic clock only: the clock follows it exactly.
    const before = clock.now();
    monotonic.advance(250);
    expect(clock.now()).toBe(before + 250);

    // An hour behind, then back: reported both ways, and the time still never runs ahead.
    wall.set(Date.now() - 3_600_000);
    await clock.sample();
    expect(clock.skewMs()).toBeLessThan(-3_500_000);
    wall.set(Date.now());
    await clock.sample();
    expect(clock.skewed()).toBe(false);
    expect(reported).toEqual([false, true, true, false]);
    expect(clock.now()).toBeLessThanOrEqual(await databaseNow());
    clock.stop();
  });
});
