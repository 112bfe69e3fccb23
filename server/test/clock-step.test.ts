import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { createChimeClient, type ChimeClient, type Job } from "@chime/sdk";
import { TEST_NATS_URL } from "./helpers/env.js";
import { startServerProcess, type ServerProcess } from "./helpers/server-process.js";
import { readRunPublishes } from "./helpers/stream-messages.js";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.js";
import { deleteNatsPrefix } from "./helpers/test-nats.js";
import { testNatsPrefix } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";

// The leader's JavaScript wall clock is stepped (as NTP steps it) while per-second crons and
// one-offs fire; Postgres, NATS and this test keep the real time. Each step lasts longer than
// the misfire threshold, so a scheduler that stalls through one loses seconds (RUN_ONCE
// coalesces them), and one that trusts the stepped clock fires early.
const PRELOAD = fileURLToPath(new URL("./helpers/shifted-clock.mjs", import.meta.url));
const THRESHOLD_MS = 5000;
const STEP_MS = THRESHOLD_MS + 1500;
const STEPS = [3_600_000, -3_600_000, 30_000];
const CRONS = 10;

let db: TestDatabase;
let prefix: string;
let dir: string;
let offsetFile: string;
let server: ServerProcess;
let chime: ChimeClient;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function stepClock(offsetMs: number): void {
  writeFileSync(offsetFile, String(offsetMs));
  server.child.kill("SIGUSR2");
}

beforeAll(async () => {
  db = await createTestDatabase();
  prefix = testNatsPrefix();
  dir = mkdtempSync(join(tmpdir(), "chime-clock-"));
  offsetFile = join(dir, "offset-ms");
  writeFileSync(offsetFile, "0");
  server = await startServerProcess(
    "stepped",
    {
      DATABASE_URL: db.url,
      NATS_URL: TEST_NATS_URL,
      CHIME_NATS_PREFIX: prefix,
      CHIME_ROLES: "api,scheduler,ingest",
      CHIME_MISFIRE_THRESHOLD_MS: String(THRESHOLD_MS),
      CHIME_RECONCILE_INTERVAL_MS: "1000",
      CHIME_TEST_CLOCK_OFFSET_FILE: offsetFile,
    },
    { nodeArgs: ["--import", PRELOAD] },
  );
  chime = createChimeClient({ baseUrl: server.grpcUrl });
});

afterAll(async () => {
  await server?.kill("SIGKILL");
  await deleteNatsPrefix(prefix);
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("a step of the leader's wall clock", () => {
  it("fires nothing early, stalls nothing, loses and doubles nothing (+1 h, -1 h, +30 s)", async () => {
    const crons: Job[] = [];
    for (let i = 0; i < CRONS; i++) crons.push(await chime.createJob({ name: `tick-${i}`, queue: "ticks", schedule: { cron: "* * * * * *" } }));
    const oneOffs: { job: Job; at: Date }[] = [];
    const createOneOff = async (inMs: number) => {
      const at = new Date(Date.now() + inMs);
      oneOffs.push({ job: await chime.createJob({ name: `once-${oneOffs.length}`, queue: "once", schedule: { at } }), at });
    };
    await sleep(2000);
    const coveredFrom = Date.now();

    for (const offset of STEPS) {
      // One-offs due during the step, one due after it, and one created while the clock is off.
      await createOneOff(1500);
      await createOneOff(STEP_MS - 1000);
      await createOneOff(STEP_MS + 1500);
      stepClock(offset);
      await sleep(1000);
      await createOneOff(2000);
      const status = await waitFor("the skew reported", async () => {
        const s = await chime.jobService.getSchedulerStatus({});
        return s.leaderClockSkewed ? s : undefined;
      });
      const skewMs = Number(status.leaderClockSkew!.seconds) * 1000 + status.leaderClockSkew!.nanos / 1e6;
      expect(Math.abs(skewMs - offset)).toBeLessThan(2000);
      await sleep(STEP_MS - 1000);
      stepClock(0);
      await sleep(3000);
    }
    const coveredUntil = Date.now();
    await waitFor("the skew cleared", async () => !(await chime.jobService.getSchedulerStatus({})).leaderClockSkewed);
    expect(server.logs.some((line) => line.includes("clock disagrees with the database"))).toBe(true);
    await sleep(2000);
    for (const job of crons) await chime.pauseJob(job.id);

    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    try {
      // Every one-off is due by now; wait for each run to be published.
      await waitFor("every run published", async () => {
        const { rows } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM runs WHERE dispatch_time IS NULL AND state = 1");
        return rows[0].n === 0;
      }, { timeoutMs: 20_000 });
      const { rows: runs } = await pool.query<{ id: string; job_id: string; scheduled_time: Date }>(
        "SELECT id, job_id, scheduled_time FROM runs WHERE state <> 6 ORDER BY scheduled_time",
      );
      const publishes = await readRunPublishes(prefix);
      // Nothing doubled: one stream message per run, and one run per message.
      const ids = publishes.map((p) => p.run.runId);
      expect(new Set(ids).size).toBe(ids.length);
      expect([...ids].sort()).toEqual(runs.map((r) => r.id).sort());

      const storedAt = new Map(publishes.map((p) => [p.run.runId, p.storedAt.getTime()]));
      const late: string[] = [];
      for (const run of runs) {
        const published = storedAt.get(run.id)!;
        const scheduled = run.scheduled_time.getTime();
        // Nothing early: no run reaches the stream before its time (NATS keeps the real time).
        expect(published, `run ${run.id} of ${run.job_id} published before ${run.scheduled_time.toISOString()}`).toBeGreaterThanOrEqual(scheduled);
        // Nothing stalled: each run within the misfire threshold of its time.
        if (published - scheduled > THRESHOLD_MS) late.push(`${run.scheduled_time.toISOString()} published ${new Date(published).toISOString()}`);
      }
      expect(late).toEqual([]);

      // Nothing lost: every second of the covered span ran once per cron.
      for (const job of crons) {
        const seconds = runs.filter((r) => r.job_id === job.id).map((r) => r.scheduled_time.getTime() / 1000);
        for (let s = Math.ceil(coveredFrom / 1000); s <= Math.floor(coveredUntil / 1000); s++) {
          expect(seconds, `job ${job.name} second ${new Date(s * 1000).toISOString()}`).toContain(s);
        }
        for (let i = 1; i < seconds.length; i++) expect(seconds[i] - seconds[i - 1]).toBe(1);
      }
      for (const { job, at } of oneOffs) {
        const own = runs.filter((r) => r.job_id === job.id);
        expect(own.map((r) => r.scheduled_time.getTime()), `one-off ${job.name}`).toEqual([at.getTime()]);
      }
    } finally {
      await pool.end();
    }
  }, 120_000);
});
