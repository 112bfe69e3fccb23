import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { check, type Verdict } from "./checker.js";
import { createCluster } from "./cluster.js";
import { createLoad } from "./load.js";
import type { ChaosNats } from "./nats.js";
import type { ChaosPostgres } from "./postgres.js";
import type { FaultContext, Scenario } from "./scenarios.js";
import { sleep } from "./wait.js";

export interface RunSettings {
  /** How long the load fires (its crons' end time), in ms. */
  loadMs: number;
  crons: number;
  oneOffEveryMs: number;
  outageMs: number;
  log?: (message: string) => void;
}

const LEASE_MS = 3000;
const ACK_WAIT_MS = 3000;
const QUEUE = "chaos";

/** Handler runs that reached their end, per run id, from the workers' log. */
function handlerEnds(logFile: string): Map<string, number> {
  const ends = new Map<string, number>();
  let text: string;
  try {
    text = readFileSync(logFile, "utf8");
  } catch {
    return ends;
  }
  for (const line of text.split("\n")) {
    if (!line.includes('"end"')) continue;
    try {
      const { runId } = JSON.parse(line) as { runId: string };
      ends.set(runId, (ends.get(runId) ?? 0) + 1);
    } catch {
      // a line cut by kill -9
    }
  }
  return ends;
}

/**
 * One scenario: a fresh database and NATS prefix, a cluster (servers and two workers), the
 * load, the fault injected until the load's last fire, then (once every run had its chance
 * to end) the checker's verdict.
 */
export async function runScenario(scenario: Scenario, index: number, postgres: ChaosPostgres, nats: ChaosNats, settings: RunSettings): Promise<Verdict> {
  const log = (message: string) => settings.log?.(`[${scenario.name}] ${message}`);
  const dir = mkdtempSync(join(tmpdir(), "chime-chaos-"));
  const workerLog = join(dir, "workers.jsonl");
  const database = `chaos_${index}_${Date.now()}`;
  const cluster = createCluster({
    databaseUrl: await postgres.createDatabase(database),
    natsUrl: nats.url,
    prefix: `chaos${index}${Date.now().toString(36)}`,
    queue: QUEUE,
    workerLog,
    leaseMs: LEASE_MS,
    ackWaitMs: ACK_WAIT_MS,
    clockDir: scenario.steppedClocks ? dir : undefined,
  });
  let workerCount = 0;
  const ctx: FaultContext = {
    cluster,
    postgres,
    nats,
    leaseMs: LEASE_MS,
    ackWaitMs: ACK_WAIT_MS,
    outageMs: settings.outageMs,
    restartServer: async (id) => void (await cluster.startServer(id)),
    startWorker: async () => void (await cluster.startWorker(`w${++workerCount}`)),
    log,
  };
  try {
    for (let i = 0; i < (scenario.servers ?? 2); i++) await cluster.startServer(`s${i}`);
    await ctx.startWorker();
    await ctx.startWorker();
    const load = await createLoad({ grpcUrl: cluster.grpcUrl, queue: QUEUE, crons: settings.crons, oneOffEveryMs: settings.oneOffEveryMs, durationMs: settings.loadMs });
    log(`load: ${load.crons.length} per-second crons and ${load.oneOffs.length} one-offs until ${load.end.toISOString()}`);
    await sleep(2000);
    for (;;) {
      await scenario.inject(ctx);
      if (Date.now() + scenario.everyMs >= load.end.getTime()) break;
      await sleep(scenario.everyMs);
    }
    // Every owed fire gets its chance to end: retries, redeliveries, catch-up after an outage.
    const settleBy = Math.max(Date.now(), load.end.getTime()) + 60_000;
    let verdict: Verdict;
    for (;;) {
      await sleep(2000);
      verdict = await check(cluster.pool, load, handlerEnds(workerLog));
      if (verdict.lost === 0 || Date.now() > settleBy) break;
    }
    log(`verdict: ${JSON.stringify(verdict)}`);
    return verdict;
  } finally {
    await cluster.close();
    // CHAOS_KEEP=1 keeps the scenario's directory (workers.jsonl: every handler start and end) to look into.
    if (!process.env.CHAOS_KEEP) rmSync(dir, { recursive: true, force: true });
  }
}

/** The results as a markdown table. */
export function resultTable(results: Array<{ scenario: Scenario; verdict: Verdict }>): string {
  const lines = [
    "| scenario | fault | fires owed | on time | late | recovered | lost | duplicated | early | re-executed | max lag |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const { scenario, verdict: v } of results) {
    lines.push(
      `| ${scenario.name} | ${scenario.description} | ${v.expected} | ${v.onTime} | ${v.late} | ${v.recovered} | ${v.lost} | ${v.duplicated} | ${v.early} | ${v.reExecuted} | ${(v.maxLagMs / 1000).toFixed(1)} s |`,
    );
  }
  return lines.join("\n");
}
