/**
 * Chime benchmark suite: `npm run bench` (full) or `npm run bench -- --quick`.
 *
 * Options:
 *   --quick                  small sizes (about 10 minutes on a quiet machine: steady windows stay 30 s)
 *   --only=burst,steady,...  workloads to run (burst, steady, cron, api, scale, failover, watch, prune)
 *   --systems=chime,pg-boss  systems to run (chime, graphile-worker, pg-boss)
 *   --chime-consumer=auto    auto (SDK Worker when the SDK has one), worker, or raw (JetStream pull consumer)
 *   --cpu-prof               V8 CPU profiles of every Chime server into bench/results/prof/
 *   --out=DIR                where results go (default bench/results)
 *   --steady-seconds=D       D of the steady, cron and prune workloads (default 60 full, 30 quick; steady never under 30)
 *   --prune-runs=N           old finished runs the prune workload inserts (default 1,000,000 full, 100,000 quick)
 *   --worker-concurrency=N   force the SDK Worker's concurrency (default: the Worker's own default, as the README's Worker runs)
 *   --chime-ingest-process   burst and steady: run Chime's ingest role in a second server process (CHIME_ROLES)
 *
 * Postgres: BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres); NATS: NATS_URL.
 * Debugging: BENCH_TEE=1 copies the Chime servers' stderr to the bench's; BENCH_CONSUMER_PROF_DIR=DIR
 * writes V8 CPU profiles of the consumer processes there.
 */
import "./require-node.js";
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { BATCH_CREATE_IN_FLIGHT, BATCH_CREATE_SIZE, CHIME_SETTINGS, killAllChime, ROOT } from "./chime.js";
import { FULL, MIN_STEADY_SECONDS, QUICK, SYSTEMS, WORKLOADS, type BenchContext, type SystemName, type WorkloadName } from "./config.js";
import { chimeConsumerKind, describeWorkerDefaults, killAllConsumers, sdkWorkerAvailable } from "./consumer.js";
import { describeMachine } from "./machine.js";
import { GRAPHILE_SETTINGS, PGBOSS_SETTINGS } from "./peers.js";
import { dropAllDatabases, dropStaleDatabases } from "./pg.js";
import { checkTargets, jsonLines, markdownReport } from "./report.js";
import { Results } from "./results.js";
import { log } from "./util.js";
import { api } from "./workloads/api.js";
import { burst } from "./workloads/burst.js";
import { cronFleet } from "./workloads/cron.js";
import { failover } from "./workloads/failover.js";
import { scale } from "./workloads/scale.js";
import { steady } from "./workloads/steady.js";
import { prune } from "./workloads/prune.js";
import { watch } from "./workloads/watch.js";

const RUNNERS: Record<WorkloadName, (ctx: BenchContext) => Promise<void>> = {
  burst,
  steady,
  cron: cronFleet,
  api,
  scale,
  failover,
  watch,
  prune,
};

function parseArgs(argv: string[]) {
  const options = new Map<string, string>();
  for (const arg of argv) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`unknown argument ${JSON.stringify(arg)}`);
    options.set(m[1], m[2] ?? "true");
  }
  const known = ["quick", "only", "systems", "chime-consumer", "cpu-prof", "out", "steady-seconds", "worker-concurrency", "chime-ingest-process", "prune-runs"];
  for (const key of options.keys()) if (!known.includes(key)) throw new Error(`unknown option --${key} (known: ${known.map((k) => `--${k}`).join(", ")})`);
  const list = <T extends string>(key: string, all: readonly T[]): T[] => {
    const value = options.get(key);
    if (!value) return [...all];
    const items = value.split(",").map((s) => s.trim()) as T[];
    for (const item of items) if (!all.includes(item)) throw new Error(`--${key}: unknown ${JSON.stringify(item)} (known: ${all.join(", ")})`);
    return items;
  };
  const consumer = options.get("chime-consumer") ?? "auto";
  const seconds = options.get("steady-seconds");
  if (seconds !== undefined && !(Number(seconds) >= MIN_STEADY_SECONDS)) throw new Error(`--steady-seconds: at least ${MIN_STEADY_SECONDS} (a shorter window cannot show whether a rate is held)`);
  const concurrency = options.get("worker-concurrency");
  if (concurrency !== undefined && !(Number.isInteger(Number(concurrency)) && Number(concurrency) >= 1)) throw new Error("--worker-concurrency: a positive integer");
  if (!["auto", "worker", "raw"].includes(consumer)) throw new Error("--chime-consumer: auto, worker or raw");
  const pruneRuns = options.get("prune-runs");
  if (pruneRuns !== undefined && !(Number.isInteger(Number(pruneRuns)) && Number(pruneRuns) >= 1)) throw new Error("--prune-runs: a positive integer");
  return {
    quick: options.has("quick"),
    workloads: list("only", WORKLOADS),
    systems: list("systems", SYSTEMS) as SystemName[],
    chimeConsumer: consumer,
    cpuProf: options.has("cpu-prof"),
    out: options.get("out") ?? join(ROOT, "bench/results"),
    steadySeconds: options.has("steady-seconds") ? Number(options.get("steady-seconds")) : undefined,
    workerConcurrency: options.has("worker-concurrency") ? Number(options.get("worker-concurrency")) : undefined,
    chimeIngestProcess: options.has("chime-ingest-process"),
    pruneRuns: pruneRuns === undefined ? undefined : Number(pruneRuns),
  };
}

let cleaningUp: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaningUp ??= (async () => {
    killAllConsumers();
    await killAllChime();
    await dropAllDatabases();
  })();
  return cleaningUp;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const startedAt = new Date();
  const results = new Results();
  const ctx: BenchContext = {
    quick: args.quick,
    sizes: {
      ...(args.quick ? QUICK : FULL),
      ...(args.steadySeconds ? { steadySeconds: args.steadySeconds, cronSeconds: args.steadySeconds } : {}),
      ...(args.pruneRuns ? { pruneRuns: args.pruneRuns } : {}),
    },
    systems: args.systems,
    results,
    chimeConsumer: args.chimeConsumer,
    workerConcurrency: args.workerConcurrency,
    chimeIngestProcess: args.chimeIngestProcess,
    cpuProfDir: args.cpuProf ? join(args.out, "prof") : undefined,
  };
  process.on("uncaughtException", (error) => {
    log(`uncaught: ${error.stack ?? String(error)}`);
    void cleanup().finally(() => process.exit(1));
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      log(`${signal}: cleaning up`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  log(`mode ${args.quick ? "quick" : "full"}; workloads ${args.workloads.join(", ")}; systems ${args.systems.join(", ")}`);
  const machine = await describeMachine();
  await dropStaleDatabases();

  const kind = chimeConsumerKind(args.chimeConsumer);
  results.settings["mode"] = args.quick ? "quick (noisy, small sizes)" : "full";
  results.settings["sizes"] = ctx.sizes;
  results.settings["Chime code"] = chimeCodeVersion();
  results.settings["Chime server"] = `node server/dist/main.js (compiled), env ${JSON.stringify(CHIME_SETTINGS)}, other settings at their defaults (dispatch batch 1000, lease 3000 ms, election 500 ms)`;
  if (args.chimeIngestProcess) results.settings["Chime ingest"] = "burst and steady: the ingest role in a second server process (--chime-ingest-process); both count as server CPU";
  results.settings["Chime consumer"] =
    kind === "chime-worker"
      ? `SDK Worker (sdk/src/worker) as the README's example builds it (natsUrl, queue, handler): ${
          args.workerConcurrency !== undefined ? `concurrency forced to ${args.workerConcurrency} with --worker-concurrency` : `the Worker's defaults (${describeWorkerDefaults()})`
        }; no-op handler; handler start = when the handler is called`
      : `minimal JetStream pull consumer (records receipt time and acks)${sdkWorkerAvailable() ? " — forced with --chime-consumer=raw" : " — the SDK has no Worker yet"}`;
  results.settings["Chime insert"] = `every workload's jobs through the SDK client's BatchCreateJobs (${BATCH_CREATE_SIZE} jobs a call, ${BATCH_CREATE_IN_FLIGHT} calls in flight), but prune's backlog of finished runs 40 days old and their jobs, by SQL (no API makes a run in the past)`;
  results.settings["graphile-worker"] = { version: await packageVersion("graphile-worker"), ...GRAPHILE_SETTINGS, pollIntervalNote: "pollInterval 100 ms: future-dated jobs are found by polling" };
  results.settings["pg-boss"] = { version: await packageVersion("pg-boss"), ...PGBOSS_SETTINGS, pollIntervalNote: "pollingIntervalSeconds 0.5 is pg-boss's minimum; burstWhenBatchFull fetches again at once after a full batch" };
  for (const [k, v] of Object.entries(results.settings)) log(`setting ${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`);

  for (const workload of args.workloads) {
    const t = performance.now();
    log(`=== ${workload}`);
    try {
      await RUNNERS[workload](ctx);
    } catch (error) {
      log(`${workload} failed: ${(error as Error).stack ?? String(error)}`);
    }
    log(`=== ${workload} took ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  results.targets.push(...checkTargets(ctx));
  machine.loadAverageAtEnd = loadavg().map((l) => Math.round(l * 100) / 100);
  const seconds = (Date.now() - startedAt.getTime()) / 1000;

  mkdirSync(args.out, { recursive: true });
  const stamp = startedAt.toISOString().replace(/:/g, "").replace(/\..*/, "").replace("T", "-");
  const base = join(args.out, `${stamp}-${args.quick ? "quick" : "full"}`);
  const markdown = markdownReport(ctx, machine, startedAt, seconds);
  writeFileSync(`${base}.md`, markdown);
  writeFileSync(`${base}.jsonl`, jsonLines(ctx, machine, startedAt));
  process.stdout.write(`${markdown}\n`);
  log(`results: ${base}.md, ${base}.jsonl (${seconds.toFixed(0)} s)`);
}

/** The commit measured, and whether server/ or sdk/ had uncommitted changes (then the numbers are of that working tree). */
function chimeCodeVersion(): string {
  try {
    const sha = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: ROOT, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--", "server", "sdk"], { cwd: ROOT, encoding: "utf8" }).trim();
    return dirty ? `${sha} plus uncommitted changes in server/ or sdk/ (use bench/run-at-commit.sh to measure a commit)` : `${sha} (clean server/ and sdk/)`;
  } catch {
    return "unknown (not a git checkout)";
  }
}

async function packageVersion(name: string): Promise<string> {
  const { readFileSync } = await import("node:fs");
  return (JSON.parse(readFileSync(join(ROOT, "node_modules", name, "package.json"), "utf8")) as { version: string }).version;
}

main()
  .catch((error: unknown) => {
    log(`benchmark failed: ${(error as Error).stack ?? String(error)}`);
    process.exitCode = 1;
  })
  .finally(async () => {
    await cleanup();
    // Pools and NATS connections of peers' libraries may keep the loop alive.
    setTimeout(() => process.exit(process.exitCode ?? 0), 200).unref();
  });
