import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { createChimeClient, RunState } from "@chime/sdk";
import { TEST_NATS_URL } from "./helpers/env.js";
import { startServerProcess, type ServerProcess } from "./helpers/server-process.js";
import { readRunMessages } from "./helpers/stream-messages.js";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.js";
import { deleteNatsPrefix } from "./helpers/test-nats.js";
import { testNatsPrefix } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";

const JOBS = 500;
const KILLS = 3;

let db: TestDatabase;
let prefix: string;
const servers = new Map<string, ServerProcess>();
let nextServer = 0;

async function startServer(): Promise<ServerProcess> {
  const id = `failover-${nextServer++}`;
  const server = await startServerProcess(id, {
    DATABASE_URL: db.url,
    NATS_URL: TEST_NATS_URL,
    CHIME_NATS_PREFIX: prefix,
    CHIME_ROLES: "api,scheduler,ingest",
    CHIME_LEADER_LEASE_MS: "2000",
    CHIME_ELECTION_INTERVAL_MS: "200",
    CHIME_RECONCILE_INTERVAL_MS: "500",
    // Nothing the failover delays counts as missed: every scheduled second must fire.
    CHIME_MISFIRE_THRESHOLD_MS: "60000",
  });
  servers.set(id, server);
  return server;
}

beforeAll(async () => {
  db = await createTestDatabase();
  prefix = testNatsPrefix();
});

afterAll(async () => {
  await Promise.all([...servers.values()].map((s) => s.kill("SIGKILL")));
  await deleteNatsPrefix(prefix);
  await db?.drop();
});

describe("scheduler failover", () => {
  it("survives repeated kill -9 of the leader with 500 per-second jobs: nothing lost, nothing duplicated", async () => {
    await Promise.all([startServer(), startServer(), startServer()]);
    const first = [...servers.values()][0];
    const chime = createChimeClient({ baseUrl: first.grpcUrl });
    const jobIds: string[] = [];
    for (let i = 0; i < JOBS; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, JOBS - i) }, (_, k) =>
          chime.createJob({ name: `tick-${i + k}`, queue: "ticks", schedule: { cron: "* * * * * *" }, misfire: "run_all" }),
        ),
      );
      jobIds.push(...batch.map((j) => j.id));
    }

    const failovers: { electedMs: number; firstDispatchMs: number }[] = [];
    for (let kill = 0; kill < KILLS; kill++) {
      await new Promise((resolve) => setTimeout(resolve, 2500));
      const live = [...servers.values()].find((s) => s.child.exitCode === null && s.child.signalCode === null)!;
      const client = createChimeClient({ baseUrl: live.grpcUrl });
      const before = await client.jobService.getSchedulerStatus({});
      const leader = servers.get(before.leaderId)!;
      const killedAt = Date.now();
      await leader.kill("SIGKILL");
      servers.delete(before.leaderId);
      const survivor = [...servers.values()][0];
      const status = createChimeClient({ baseUrl: survivor.grpcUrl });
      const after = await waitFor("a new leader", async () => {
        const s = await status.jobService.getSchedulerStatus({});
        return s.epoch > before.epoch ? s : undefined;
      }, { timeoutMs: 10_000 });
      const electedMs = Date.now() - killedAt;
      const pool = new pg.Pool({ connectionString: db.url, max: 1 });
      const firstDispatchMs = await waitFor("a dispatch by the new leader", async () => {
        const { rows } = await pool.query<{ t: Date | null }>("SELECT min(dispatch_time) AS t FROM runs WHERE dispatch_time > $1", [new Date(killedAt)]);
        return rows[0].t ? rows[0].t.getTime() - killedAt : undefined;
      });
      await pool.end();
      failovers.push({ electedMs, firstDispatchMs });
      expect(after.leaderId).not.toBe(before.leaderId);
      // Keep three servers running.
      await startServer();
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));

    // Stop firing, let the reconciler publish anything left, then compare rows and stream.
    const live = [...servers.values()][0];
    const client = createChimeClient({ baseUrl: live.grpcUrl });
    const pausingAt = new Date();
    for (let i = 0; i < jobIds.length; i += 50) await Promise.all(jobIds.slice(i, i + 50).map((id) => client.pauseJob(id)));
    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    try {
      await waitFor("every run published", async () => {
        const { rows } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM runs WHERE dispatch_time IS NULL");
        return rows[0].n === 0;
      }, { timeoutMs: 20_000 });
      const { rows: perJob } = await pool.query<{ job_id: string; n: number; first: Date; last: Date }>(
        "SELECT job_id, count(*)::int AS n, min(scheduled_time) AS first, max(scheduled_time) AS last FROM runs GROUP BY job_id",
      );
      expect(perJob).toHaveLength(JOBS);
      // No scheduled second lost: each job's runs cover every second from its first to its last.
      for (const row of perJob) expect(row.n).toBe((row.last.getTime() - row.first.getTime()) / 1000 + 1);
      const messages = await readRunMessages(prefix);
      const ids = messages.map((m) => m.runId);
      // No run duplicated: one stream message per run row.
      expect(new Set(ids).size).toBe(ids.length);
      const { rows: all } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM runs");
      expect(ids.length).toBe(all[0].n);
      // Every run is QUEUED (no worker runs them), but those written ahead for fires after the
      // pause, which the pause cancelled (the leader still publishes them; workers ack them unrun).
      const { rows: others } = await pool.query<{ state: number; scheduled: Date }>(
        "SELECT state, scheduled_time AS scheduled FROM runs WHERE state <> $1",
        [RunState.QUEUED],
      );
      for (const r of others) {
        expect(r.state).toBe(RunState.CANCELLED);
        expect(r.scheduled.getTime()).toBeGreaterThan(pausingAt.getTime());
      }
      console.log(
        `failover over ${KILLS} kill -9 of the leader (${JOBS} jobs/s, ${all[0].n} runs): ` +
          failovers.map((f) => `elected ${f.electedMs} ms, first dispatch ${f.firstDispatchMs} ms`).join("; "),
      );
      for (const f of failovers) expect(f.electedMs).toBeLessThan(5000);
    } finally {
      await pool.end();
    }
  }, 180_000);
});
