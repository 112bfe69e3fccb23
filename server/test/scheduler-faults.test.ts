import { afterEach, describe, expect, it } from "vitest";
import pg from "pg";
import { createChimeClient } from "@chime/sdk";
import { startNatsProcess } from "./helpers/nats-process.js";
import { readRunMessages } from "./helpers/stream-messages.js";
import { createTestDatabase } from "./helpers/test-database.js";
import { startTestServer, type TestServer } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const FAST = { CHIME_LEADER_LEASE_MS: "2000", CHIME_ELECTION_INTERVAL_MS: "200", CHIME_RECONCILE_INTERVAL_MS: "300" };

/** Every run of the job was published exactly once, and its seconds are contiguous. */
async function expectCompleteAndUnique(server: TestServer, jobId: string, natsUrl?: string) {
  const pool = new pg.Pool({ connectionString: server.db.url, max: 1 });
  try {
    await waitFor("every run published", async () => {
      const { rows } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM runs WHERE dispatch_time IS NULL");
      return rows[0].n === 0;
    }, { timeoutMs: 20_000 });
    const { rows } = await pool.query<{ id: string; scheduled_time: Date }>(
      "SELECT id, scheduled_time FROM runs WHERE job_id = $1 ORDER BY scheduled_time",
      [jobId],
    );
    expect(rows.length).toBeGreaterThan(2);
    const span = (rows[rows.length - 1].scheduled_time.getTime() - rows[0].scheduled_time.getTime()) / 1000 + 1;
    expect(rows.length).toBe(span);
    const messages = (await readRunMessages(server.config.natsPrefix, natsUrl)).filter((m) => m.jobId === jobId);
    const ids = messages.map((m) => m.runId);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort()).toEqual(rows.map((r) => r.id).sort());
  } finally {
    await pool.end();
  }
}

describe("scheduler faults", () => {
  it("a leader whose lock connection is terminated stops; a new leadership takes over with no double dispatch", async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const a = await startTestServer(FAST, { db });
    cleanups.push(() => a.close());
    const b = await startTestServer({ ...FAST, CHIME_NATS_PREFIX: a.config.natsPrefix }, { db });
    cleanups.push(() => b.close());
    const chime = createChimeClient({ baseUrl: a.grpcUrl });
    const job = await chime.createJob({ name: "terminated", queue: "q", schedule: { cron: "* * * * * *" }, misfire: "run_all" });
    await sleep(2000);
    const before = await chime.jobService.getSchedulerStatus({});
    const oldLeader = [a, b].find((s) => s.config.serverId === before.leaderId)!;
    expect(oldLeader.scheduler!.isLeader()).toBe(true);
    const { rows } = await a.pool.query<{ backend_pid: number }>("SELECT backend_pid FROM scheduler_leader");
    await a.pool.query("SELECT pg_terminate_backend($1)", [rows[0].backend_pid]);
    // The old leadership ends at once, and a new epoch takes over within seconds.
    await waitFor("the old leadership to end", () => oldLeader.scheduler!.epoch() !== Number(before.epoch), { timeoutMs: 2000 });
    const after = await waitFor("a new epoch", async () => {
      const s = await chime.jobService.getSchedulerStatus({});
      return s.epoch > before.epoch ? s : undefined;
    }, { timeoutMs: 10_000 });
    expect(Number(after.epoch)).toBeGreaterThan(Number(before.epoch));
    expect([a, b].filter((s) => s.scheduler!.isLeader())).toHaveLength(1);
    await sleep(2000);
    await chime.pauseJob(job.id);
    await expectCompleteAndUnique(a, job.id);
    // A job created through the follower wakes the leader (LISTEN/NOTIFY), which otherwise sleeps 30 s.
    const follower = [a, b].find((s) => !s.scheduler!.isLeader())!;
    const viaFollower = createChimeClient({ baseUrl: follower.grpcUrl });
    await sleep(1000);
    const created = Date.now();
    const immediate = await viaFollower.createJob({ name: "wake-the-leader", queue: "q", schedule: "immediate" });
    const dispatched = await waitFor("the immediate job's run to be published", async () => {
      const page = await viaFollower.jobService.listRuns({ jobId: immediate.id });
      return page.runs[0]?.dispatchTime ? Date.now() : undefined;
    });
    expect(dispatched - created).toBeLessThan(5000);
  });

  it("repairs a crash between commit and publish with the reconciler", async () => {
    let crashes = 0;
    const lost: string[] = [];
    const server = await startTestServer(FAST, {
      afterDispatchCommit: (ids) => {
        if (ids.length && crashes < 2) {
          crashes++;
          lost.push(...ids);
          throw new Error("injected crash between commit and publish");
        }
      },
    });
    cleanups.push(() => server.close());
    const chime = createChimeClient({ baseUrl: server.grpcUrl });
    const job = await chime.createJob({ name: "crashy", queue: "q", schedule: { cron: "* * * * * *" } });
    await waitFor("two injected crashes", () => crashes === 2);
    await sleep(1500);
    await chime.pauseJob(job.id);
    expect(lost.length).toBeGreaterThanOrEqual(2);
    await expectCompleteAndUnique(server, job.id);
    for (const id of lost) expect((await chime.getRun(id)).dispatchTime).toBeDefined();
  });

  it("resumes dispatch after NATS restarts, losing nothing", async () => {
    const nats = await startNatsProcess();
    cleanups.push(() => nats.close());
    const server = await startTestServer({ ...FAST, NATS_URL: nats.url });
    cleanups.push(() => server.close());
    const chime = createChimeClient({ baseUrl: server.grpcUrl });
    const job = await chime.createJob({ name: "through-restart", queue: "q", schedule: { cron: "* * * * * *" }, misfire: "run_all" });
    await sleep(2000);
    await nats.restart(2000);
    await sleep(3000);
    await chime.pauseJob(job.id);
    await expectCompleteAndUnique(server, job.id, nats.url);
  });
});
