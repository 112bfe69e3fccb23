import { afterAll, beforeAll, expect, it } from "vitest";
import pg from "pg";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createChimeClient, type ChimeClient } from "@chime/sdk";
import { AdminService } from "@chime/sdk/gen/admin_service_pb";
import { readMetric } from "./helpers/metrics.js";
import { readRunPublishes } from "./helpers/stream-messages.js";
import { startTestServer, type TestServer } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";

/**
 * NamespaceLimits.runs_per_second: namespace teamA, limited to 100 fires a second (burst 100),
 * floods the scheduler with 2,000 one-off jobs due at once while teamB's per-second cron goes
 * on. The batch is small (100 jobs), so a limit applied after the batch's claim would leave
 * teamB's fires behind teamA's backlog (about 19 s of it). Judged by what was recorded:
 * JetStream's publish times, the runs' scheduled and dispatch times, schedule events, metrics.
 */

const ROOT = "root-token-for-fire-rate";
const RATE = 100;
const BURST = 100;
const FLOOD = 2000;
/** A bound on teamB's dispatch lag that only a starvation behind teamA's backlog exceeds. */
const STARVED_MS = 5000;

let server: TestServer;
let chime: ChimeClient;
let admin: Client<typeof AdminService>;
let db: pg.Pool;

beforeAll(async () => {
  server = await startTestServer({ CHIME_API_TOKEN: ROOT, CHIME_DISPATCH_BATCH: "100" });
  chime = createChimeClient({ baseUrl: server.grpcUrl, token: ROOT });
  admin = createClient(AdminService, createGrpcTransport({
    baseUrl: server.grpcUrl,
    interceptors: [(next) => (request) => {
      request.header.set("authorization", `Bearer ${ROOT}`);
      return next(request);
    }],
  }));
  db = new pg.Pool({ connectionString: server.db.url, max: 2 });
});
afterAll(async () => {
  await db?.end();
  await server?.close();
});

const failure = (call: Promise<unknown>) => call.then(() => undefined, (e: unknown) => ConnectError.from(e));

it("refuses a negative or non-finite fire rate and a negative burst, naming the field", async () => {
  for (const runsPerSecond of [-1, NaN, Infinity]) {
    const error = await failure(admin.setNamespaceLimits({ limits: { namespace: "teamX", runsPerSecond } }));
    expect(error?.code).toBe(Code.InvalidArgument);
    expect(error?.rawMessage).toContain("limits.runs_per_second");
  }
  const error = await failure(admin.setNamespaceLimits({ limits: { namespace: "teamX", runsPerSecond: 1, runBurst: -1 } }));
  expect(error?.code).toBe(Code.InvalidArgument);
  expect(error?.rawMessage).toContain("limits.run_burst");
  expect(error?.rawMessage).not.toContain("limits.runs_per_second");
});

it("holds a flooding namespace to its fire rate without delaying another's fires", { timeout: 180_000 }, async () => {
  await admin.setNamespaceLimits({ limits: { namespace: "teamA", runsPerSecond: RATE, runBurst: BURST } });
  const limitsSet = Date.now();
  expect((await admin.getNamespaceLimits({ namespace: "teamA" })).limits).toMatchObject({ runsPerSecond: RATE, runBurst: BURST });
  const cron = await chime.createJob({ namespace: "teamB", name: "every-second", queue: "b", schedule: { cron: "* * * * * *" } });
  // The leader reads the limits anew when its copy is a second old. A run is written at most
  // the lookahead (1 s) ahead of its time, so a teamB run due over 2 s after the limits were
  // set was written by a pass more than a second after: that pass had read them. (Two runs
  // alone prove nothing: written ahead, they can exist within a second of the limits.)
  await waitFor("a pass a second after the limits were set", async () =>
    (await db.query("SELECT 1 FROM runs WHERE job_id = $1 AND scheduled_time > $2", [cron.id, new Date(limitsSet + 2100)])).rowCount! > 0);

  // A new leadership starts with full buckets: a lease lost and taken again on a loaded
  // machine lets one more burst through (counted by the epochs taken during the flood).
  const epochOf = async () => Number((await db.query<{ epoch: string }>("SELECT epoch FROM scheduler_leader")).rows[0].epoch);
  const epochBefore = await epochOf();
  const floodStart = new Date();
  // SKIP: were the wait for tokens judged a misfire (it is longer than the 5 s threshold), the
  // fires would be dropped, and the count below would fall short.
  for (let batch = 0; batch < FLOOD / 1000; batch++) {
    const results = await chime.batchCreateJobs(
      Array.from({ length: 1000 }, (_, i) => ({ namespace: "teamA", name: `flood-${batch}-${i}`, queue: "a", schedule: "immediate" as const, misfire: "skip" as const })),
    );
    expect(results.every((r) => r.case === "created")).toBe(true);
  }
  // Done when every flooded job has completed (fired, or dropped) and its run is dispatched.
  const flood = await waitFor(
    "teamA's flood to be decided and dispatched",
    async () => {
      const { rows } = await db.query<{ open: number; undispatched: number; last: Date }>(
        `SELECT (SELECT count(*) FROM jobs WHERE namespace = 'teamA' AND state <> 3)::int AS open,
                count(*) FILTER (WHERE r.dispatch_time IS NULL)::int AS undispatched,
                max(r.dispatch_time) AS last
         FROM runs r JOIN jobs j ON j.id = r.job_id WHERE j.namespace = 'teamA'`,
      );
      return rows[0].open === 0 && rows[0].undispatched === 0 && rows[0];
    },
    { timeoutMs: 150_000, intervalMs: 500 },
  );
  await chime.pauseJob(cron.id);
  const leaderships = (await epochOf()) - epochBefore + 1;

  // Every flooded job fired exactly once, none before it was due, none missed.
  const { rows: perJob } = await db.query<{ runs: string; early: boolean; state: number }>(
    `SELECT count(r.id) AS runs, bool_or(r.dispatch_time < r.scheduled_time) AS early, j.state
     FROM jobs j LEFT JOIN runs r ON r.job_id = j.id WHERE j.namespace = 'teamA' GROUP BY j.id, j.state`,
  );
  expect(perJob).toHaveLength(FLOOD);
  expect(perJob.filter((j) => Number(j.runs) !== 1 || j.early || j.state !== 3)).toEqual([]);
  const { rows: missed } = await db.query(
    "SELECT e.reason, e.count FROM schedule_events e JOIN jobs j ON j.id = e.job_id WHERE j.namespace = 'teamA'",
  );
  expect(missed).toEqual([]);

  // teamA's fires at no more than its rate, judged over 5-second windows: the burst and five
  // seconds' worth, plus a second's worth for the skew between a token's time and what is
  // recorded (the runs' create_time is their transaction's start; a publish follows its decision
  // by a round trip, later when the process is busy with the flood's own BatchCreateJobs), plus
  // one more burst for each leadership (a new leader starts with full buckets), and one burst
  // of slack. Unlimited, the 2,000 would go out within a second or two.
  const bound = (leaderships + 1) * BURST + 6 * RATE;
  const { rows: decided } = await db.query<{ at: Date }>(
    "SELECT r.create_time AS at FROM runs r JOIN jobs j ON j.id = r.job_id WHERE j.namespace = 'teamA'",
  );
  expect(busiestWindow(decided.map((r) => r.at.getTime()), 5000)).toBeLessThanOrEqual(bound);
  const publishes = (await readRunPublishes(server.config.natsPrefix)).filter((p) => p.run.namespace === "teamA");
  expect(publishes).toHaveLength(FLOOD);
  expect(new Set(publishes.map((p) => p.run.runId)).size).toBe(FLOOD);
  expect(busiestWindow(publishes.map((p) => p.storedAt.getTime()), 5000)).toBeLessThanOrEqual(bound);

  // teamB fired every second of the flood, each run published within the bound of its time.
  await waitFor("teamB's dispatches to be recorded", async () =>
    (await db.query("SELECT 1 FROM runs WHERE job_id = $1 AND dispatch_time IS NULL", [cron.id])).rowCount === 0);
  const { rows: ticks } = await db.query<{ scheduled: Date; lag_ms: number }>(
    `SELECT scheduled_time AS scheduled, extract(epoch FROM dispatch_time - scheduled_time) * 1000 AS lag_ms
     FROM runs WHERE job_id = $1 AND scheduled_time BETWEEN $2 AND $3 ORDER BY scheduled_time`,
    [cron.id, floodStart, flood.last],
  );
  const floodSeconds = Math.floor((flood.last.getTime() - floodStart.getTime()) / 1000);
  expect(floodSeconds, `${leaderships} leadership(s) during the flood`).toBeGreaterThanOrEqual(Math.floor((FLOOD - (leaderships + 1) * BURST) / RATE));
  expect(ticks.length).toBeGreaterThanOrEqual(floodSeconds - 1);
  for (let i = 1; i < ticks.length; i++) expect(ticks[i].scheduled.getTime() - ticks[i - 1].scheduled.getTime()).toBe(1000);
  expect(ticks.filter((t) => t.lag_ms >= STARVED_MS)).toEqual([]);

  // The fires that waited for teamA's tokens are counted for teamA: all but the first burst or
  // so of each leadership (a new leader knows of no wait, and its full bucket lets a burst go).
  const throttled = await readMetric(server.httpUrl, "chime_fires_throttled_total", { namespace: "teamA" });
  expect(throttled, `${leaderships} leadership(s) during the flood`).toBeGreaterThan(FLOOD - (leaderships + 1) * BURST);
  expect(throttled).toBeLessThanOrEqual(FLOOD);
  expect(await readMetric(server.httpUrl, "chime_fires_throttled_total", { namespace: "teamB" })).toBe(0);
});

/** The most of `times` (ms) within any `windowMs`. */
function busiestWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let busiest = 0;
  for (let first = 0, last = 0; first < sorted.length; first++) {
    while (last < sorted.length && sorted[last] < sorted[first] + windowMs) last++;
    busiest = Math.max(busiest, last - first);
  }
  return busiest;
}
