// Throwaway probe (not committed): row writes and CPU per run for a burst of one-off jobs.
import { it } from "vitest";
import { Session } from "node:inspector/promises";
import { writeFileSync } from "node:fs";
import { createChimeClient, Worker } from "@chime/sdk";
import { startTestServer } from "./helpers/test-server.js";
import { TEST_NATS_URL } from "./helpers/env.js";

const N = Number(process.env.PROBE_N ?? 20000);

it("probe", async () => {
  const server = await startTestServer({ CHIME_DISPATCH_BATCH: "1000", CHIME_ROLES: process.env.PROBE_ROLES ?? "api,scheduler,ingest" });
  const chime = createChimeClient({ baseUrl: server.grpcUrl });
  const pool = server.pool;
  const stats = async () => (await pool.query<{ relname: string; w: number }>("SELECT relname, (n_tup_ins + n_tup_upd + n_tup_del)::int AS w FROM pg_stat_user_tables")).rows;
  const at = new Date(Date.now() + 6000 + N);
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next < N) { const i = next++; await chime.createJob({ name: `p${i}`, queue: "probe", schedule: { at }, payload: { i } }); }
  }));
  console.log("PROBE created", new Date().toISOString(), "due", at.toISOString());
  await new Promise((r) => setTimeout(r, 1200));
  const before = new Map((await stats()).map((r) => [r.relname, r.w]));
  const worker = new Worker({ natsUrl: TEST_NATS_URL, prefix: server.config.natsPrefix, queue: "probe", concurrency: Number(process.env.PROBE_CONC ?? 1000), handler: () => undefined });
  await worker.start();
  await new Promise((r) => setTimeout(r, Math.max(0, at.getTime() - Date.now())));
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (;;) {
    const { rows } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM runs WHERE state = 4");
    if (rows[0].n >= N) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const ms = performance.now() - t0;
  const { profile } = await session.post("Profiler.stop");
  writeFileSync("/tmp/prof/probe.cpuprofile", JSON.stringify(profile));
  const cpu = process.cpuUsage(cpu0);
  await new Promise((r) => setTimeout(r, 2500));
  const after = await stats();
  const per = after.map((r) => [r.relname, ((r.w - (before.get(r.relname) ?? 0)) / N).toFixed(2)]).filter((r) => r[1] !== "0.00");
  console.log(`PROBE N=${N} ${ms.toFixed(0)} ms, ${(N / (ms / 1000)).toFixed(0)} runs/s, node cpu ${(((cpu.user + cpu.system) / N)).toFixed(1)} us/run`, JSON.stringify(per));
  await worker.stop();
  await server.close();
}, 300_000);
