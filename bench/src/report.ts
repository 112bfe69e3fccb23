import type { BenchContext, SystemName } from "./config.js";
import type { Machine } from "./machine.js";
import type { Result, TargetCheck } from "./results.js";
import { highestHeld } from "./workloads/steady.js";
import { SDK_DEFAULTS_NOTE } from "./workloads/api.js";
import { fmt } from "./util.js";

const PEERS: SystemName[] = ["graphile-worker", "pg-boss"];

function num(r: Result | undefined, key: string): number | undefined {
  const v = r?.figures[key];
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** The best peer's value of a figure (max or min), with its name. */
function bestPeer(rows: Result[], key: string, higherIsBetter: boolean): { system: string; value: number } | undefined {
  let best: { system: string; value: number } | undefined;
  for (const r of rows) {
    if (!PEERS.includes(r.system)) continue;
    const v = num(r, key);
    if (v === undefined) continue;
    if (!best || (higherIsBetter ? v > best.value : v < best.value)) best = { system: r.system, value: v };
  }
  return best;
}

/** Headline figures per workload: name, and whether higher is better. */
const HEADLINES: Record<string, Array<[string, boolean]>> = {
  burst: [["throughputPerSec", true], ["lagP99Ms", false]],
  steady: [["lagP99Ms", false]],
  api: [["createdPerSec", true], ["latencyP99Ms", false]],
  cost: [["totalUs", false], ["postgresUs", false], ["rowWritesPerRun", false]],
};

/** Row writes per run by table, one column per system (from the burst's cost rows). */
function rowWritesTable(ctx: BenchContext): string {
  const rows = ctx.results.of("cost").filter((r) => r.breakdown);
  if (rows.length === 0) return "";
  const tables = [...new Set(rows.flatMap((r) => Object.keys(r.breakdown!)))].sort();
  const header = ["table", ...rows.map((r) => r.system)];
  const lines = [`| ${header.join(" | ")} |`, `| ${header.map(() => "---").join(" | ")} |`];
  for (const t of tables) lines.push(`| ${[t, ...rows.map((r) => (r.breakdown![t] === undefined ? "–" : fmt(r.breakdown![t])))].join(" | ")} |`);
  lines.push(`| **total** | ${rows.map((r) => `**${fmt(num(r, "rowWritesPerRun"))}**`).join(" | ")} |`);
  return lines.join("\n");
}

/** A Chime row's headline figures as ratios to the best peer in the same workload and variant. */
function ratioCell(ctx: BenchContext, chime: Result): string {
  if (chime.system !== "chime") return "";
  const rows = ctx.results.of(chime.workload, undefined, chime.variant);
  const parts: string[] = [];
  for (const [key, higher] of HEADLINES[chime.workload] ?? []) {
    const best = bestPeer(rows, key, higher);
    const mine = num(chime, key);
    if (!best || mine === undefined || best.value === 0) continue;
    parts.push(`${key} ×${fmt(mine / best.value)} (${best.system})`);
  }
  return parts.join("; ");
}

function table(ctx: BenchContext, workload: string): string {
  const rows = ctx.results.of(workload);
  if (rows.length === 0) return "";
  const keys: string[] = [];
  for (const r of rows) for (const k of Object.keys(r.figures)) if (!keys.includes(k)) keys.push(k);
  const withRatio = Boolean(HEADLINES[workload]) && rows.some((r) => r.system !== "chime");
  const header = ["variant", "system", ...keys, ...(withRatio ? ["Chime ÷ best peer"] : []), "notes"];
  const lines = [`| ${header.join(" | ")} |`, `| ${header.map(() => "---").join(" | ")} |`];
  for (const r of rows) {
    const cells = keys.map((k) => {
      const v = r.figures[k];
      return typeof v === "number" ? fmt(v) : v === null || v === undefined ? "–" : String(v);
    });
    const notes = r.error ? `ERROR: ${r.error.slice(0, 300)}` : r.notes.join("; ");
    lines.push(`| ${[r.variant, r.system, ...cells, ...(withRatio ? [ratioCell(ctx, r)] : []), notes.replace(/\|/g, "\\|")].join(" | ")} |`);
  }
  return lines.join("\n");
}

/** Checks each target against what was measured; sizes below the target's are said so. */
export function checkTargets(ctx: BenchContext): TargetCheck[] {
  const out: TargetCheck[] = [];
  const R = ctx.results;
  const add = (target: string, status: string, detail: string) => out.push({ target, status, detail });
  const dispatchHint = (r: Result | undefined) =>
    r && num(r, "dispatchLagP99Ms") !== undefined
      ? ` Of Chime's p99, scheduled→published (scheduler: claim, write runs, publish, mark) is ${fmt(num(r, "dispatchLagP99Ms"))} ms; the rest is NATS delivery and the worker.`
      : "";

  // 1. burst
  {
    const rows = R.of("burst");
    const chime = rows.find((r) => r.system === "chime");
    const best = bestPeer(rows, "throughputPerSec", true);
    const mine = num(chime, "throughputPerSec");
    if (mine === undefined || !best) add("burst throughput ≥ best peer", "not measured", chime?.error ?? "missing Chime or peer result");
    else
      add(
        "burst throughput ≥ best peer",
        mine >= best.value ? "met" : "not met",
        `Chime ${fmt(mine)}/s vs ${best.system} ${fmt(best.value)}/s; lost ${chime!.figures.lost}, duplicated ${chime!.figures.duplicated}.${dispatchHint(chime)}`,
      );
  }
  // 1b. CPU per run
  {
    const rows = R.of("cost");
    const chime = rows.find((r) => r.system === "chime");
    const best = bestPeer(rows, "totalUs", false);
    const mine = num(chime, "totalUs");
    if (mine === undefined || !best) add("CPU per run ≤ 1.5× best peer's (burst, all processes)", "not measured", chime?.error ?? "missing Chime or peer cost");
    else {
      const writes = num(chime, "rowWritesPerRun");
      const peerWrites = bestPeer(rows, "rowWritesPerRun", false);
      add(
        "CPU per run ≤ 1.5× best peer's (burst, all processes)",
        mine <= 1.5 * best.value ? "met" : "not met",
        `Chime ${fmt(mine)} µs/run vs ${best.system} ${fmt(best.value)} µs/run (×${fmt(mine / best.value)}); row writes per run ${fmt(writes)} vs ${peerWrites ? `${peerWrites.system} ${fmt(peerWrites.value)}` : "–"}.`,
      );
    }
  }
  // 2. steady
  {
    const rates = [...new Set(R.of("steady").map((r) => num(r, "rate")).filter((x): x is number => x !== undefined))].sort((a, b) => a - b);
    const worse: string[] = [];
    const details: string[] = [];
    for (const rate of rates) {
      const rows = R.of("steady", undefined, `R=${rate}/s`);
      const chime = rows.find((r) => r.system === "chime");
      const best = bestPeer(rows, "lagP99Ms", false);
      const mine = num(chime, "lagP99Ms");
      details.push(`${rate}/s: Chime p99 ${fmt(mine)} ms vs ${best ? `${best.system} ${fmt(best.value)} ms` : "no peer held it"}`);
      if (mine === undefined || (best && mine >= best.value)) worse.push(`${rate}/s`);
    }
    add("steady p99 below best peer at every rate", rates.length === 0 ? "not measured" : worse.length ? "not met" : "met", rates.length === 0 ? "not run" : `${details.join("; ")}.${worse.length ? ` Not below at ${worse.join(", ")}.` : ""}`);
    // A rate skipped because a lower one already failed counts as missed, not as unmeasured.
    const skipped = (row: Result | undefined) => row?.notes.find((n) => n.startsWith("not run"));
    const row10k = R.of("steady", "chime", "R=10000/s")[0];
    const at10k = num(row10k, "lagP99Ms");
    add(
      "steady p99 < 20 ms at 10k/s (aim)",
      at10k !== undefined ? (at10k < 20 ? "met" : "not met") : skipped(row10k) ? "not met" : "not measured",
      at10k !== undefined ? `p99 ${fmt(at10k)} ms.${dispatchHint(row10k)}` : (skipped(row10k) ?? "10k/s is run in full mode only"),
    );
    const row20k = R.of("steady", "chime", "R=20000/s")[0];
    const at20k = num(row20k, "lagP99Ms");
    const held = `highest held with p99 < 2 s: ${highestHeld(ctx, "chime") ?? "none"}/s`;
    add(
      "steady ≥ 20k/s with p99 < 100 ms",
      at20k !== undefined ? (at20k < 100 ? "met" : "not met") : skipped(row20k) ? "not met" : "not measured",
      at20k !== undefined ? `p99 ${fmt(at20k)} ms at 20k/s.` : skipped(row20k) ? `${skipped(row20k)}; ${held}` : `20k/s is run in full mode only; ${held}`,
    );
  }
  // 3. cron
  {
    const r = R.of("cron", "chime")[0];
    const rate = num(r, "runsPerSec");
    const p99 = num(r, "lagP99Ms");
    const target = 10_000;
    if (rate === undefined || p99 === undefined) add("cron fleet 10k/s with p99 < 250 ms", "not measured", r?.error ?? "not run");
    else {
      const fleet = num(r, "targetPerSec")!;
      const ok = p99 < 250 && Number(r.figures.missed) === 0 && fleet >= target;
      add(
        "cron fleet 10k/s with p99 < 250 ms",
        fleet < target ? (ok || p99 < 250 ? "not measured at size" : "not met") : ok ? "met" : "not met",
        `${fleet} jobs: ${fmt(rate)} runs/s, p99 ${fmt(p99)} ms, missed ${r.figures.missed}.${fleet < target ? " (quick mode runs 1,000 jobs; the target needs the full run)" : ""}${dispatchHint(r)}`,
      );
    }
  }
  // 4. api
  {
    // The SDK client as a user gets it (its defaults); the other clients are reported beside it.
    const rows = R.of("api", "chime");
    const r = rows.find((row) => row.notes[0]?.startsWith(SDK_DEFAULTS_NOTE)) ?? rows[0];
    const v = num(r, "createdPerSec");
    const client = r?.notes[0]?.match(/^client: ([^;(]+)/)?.[1]?.trim();
    add(
      "api ≥ 10k CreateJob/s",
      v === undefined ? "not measured" : v >= 10_000 ? "met" : "not met",
      v === undefined
        ? (rows[0]?.error ?? "not run")
        : `${fmt(v)}/s, p99 ${fmt(num(r, "latencyP99Ms"))} ms (64 callers, one HTTP/2 connection from one Node client process${client ? `, ${client}` : ""}).`,
    );
  }
  // 5. scale
  {
    const rows = R.of("scale", "chime");
    const big = rows.find((r) => r.variant.endsWith(" stored"));
    const small = rows.find((r) => r.variant.includes("+ probes"));
    const a = num(big, "lagP99Ms");
    const b = num(small, "lagP99Ms");
    if (a === undefined || b === undefined) add("scale: lag p99 with many jobs within 10% of 1k", "not measured", big?.error ?? small?.error ?? "not run");
    else
      add(
        "scale: lag p99 with many jobs within 10% of 1k",
        a <= b * 1.1 ? "met" : "not met",
        `${big!.variant}: p99 ${fmt(a)} ms vs ${small!.variant}: ${fmt(b)} ms (×${fmt(a / b)}).${ctx.quick ? ` Quick mode stores ${ctx.sizes.scaleJobs}, not 1,000,000.` : ""}`,
      );
    const cpu = num(big, "idleCpuPct");
    add("scale: idle leader CPU < 5%", cpu === undefined ? "not measured" : cpu < 5 ? "met" : "not met", cpu === undefined ? "not run" : `${fmt(cpu)}% of one core with ${big!.figures.storedJobs} stored jobs (baseline ${fmt(num(small, "idleCpuPct"))}%); RSS ${fmt(num(big, "rssMB"))} MB.`);
  }
  // 6. failover
  {
    const r = R.of("failover", "chime")[0];
    const gap = num(r, "firstDispatchAfterKillMs");
    if (gap === undefined) add("failover < 3 s, 0 lost / 0 duplicated", "not measured", r?.error ?? "not run");
    else {
      const ok = gap < 3000 && r!.figures.lost === 0 && r!.figures.duplicated === 0;
      add(
        "failover < 3 s, 0 lost / 0 duplicated",
        ok ? "met" : "not met",
        `first dispatch ${fmt(gap)} ms after kill -9; lost ${r!.figures.lost}, duplicated ${r!.figures.duplicated}; lag max after the kill ${fmt(num(r, "lagMaxAfterKillMs"))} ms. A killed process's Postgres session ends with it, so its lock frees at once; a hung or partitioned leader (not measured here) is evicted only after CHIME_LEADER_LEASE_MS (default 3000).`,
      );
    }
  }
  return out;
}

export function markdownReport(ctx: BenchContext, machine: Machine, startedAt: Date, seconds: number): string {
  const s: string[] = [];
  s.push(`# Chime benchmark — ${startedAt.toISOString()}${ctx.quick ? " — QUICK (small sizes)" : " — full"}`);
  s.push("");
  if (ctx.quick) {
    s.push("> **Quick run: small sizes, and a shared, busy machine — numbers are noisy and only show that the harness works.** Compare systems only within one run.");
    s.push("");
  }
  s.push(`Took ${fmt(seconds)} s. Load average at start ${machine.loadAverageAtStart.join(" / ")}, at end ${machine.loadAverageAtEnd?.join(" / ") ?? "?"} (${machine.nproc} CPUs).`);
  s.push("");
  s.push("## Machine");
  s.push("");
  s.push(`- nproc ${machine.nproc} (${machine.cpuModel}), memory ${machine.memoryGB} GB, kernel ${machine.kernel}`);
  s.push(`- Node ${machine.node}; ${machine.postgres} (${Object.entries(machine.postgresSettings).map(([k, v]) => `${k}=${v || "''"}`).join(", ")}); NATS ${machine.nats} (JetStream ${machine.natsJetStream ? "on" : "off"})`);
  s.push("");
  s.push("## Settings");
  s.push("");
  for (const [k, v] of Object.entries(ctx.results.settings)) s.push(`- **${k}**: ${typeof v === "string" ? v : JSON.stringify(v)}`);
  s.push("");
  s.push("Lag = handler start − scheduled time (all systems' handlers record their start in a separate consumer process). For Chime, `dispatchLag*` = run row `dispatch_time − scheduled_time` (publish acknowledged by JetStream).");
  s.push("");
  const titles: Record<string, string> = {
    burst: "1. Burst — N one-shot jobs due at one instant",
    cost: "1b. CPU per run (µs) and row writes per run — from the burst",
    steady: "2. Steady — jobs due at a uniform rate",
    cron: "3. Cron fleet — every-second cron jobs (Chime only)",
    api: "4. API — one create/enqueue per call, concurrent callers",
    scale: "5. Scale — many stored recurring jobs (Chime only)",
    failover: "6. Failover — kill -9 the leader (Chime only)",
    watch: "7. Watch fan-out (Chime only)",
    prune: "8. Prune — dispatch while run retention deletes a backlog (Chime only)",
  };
  for (const [workload, title] of Object.entries(titles)) {
    const t = table(ctx, workload);
    const skipped = ctx.results.skipped.filter((x) => x.workload === workload);
    if (!t && skipped.length === 0) continue;
    s.push(`## ${title}`);
    s.push("");
    if (workload === "cost") {
      s.push(
        "CPU time (user + system, /proc/<pid>/stat) of every process of each class from T0 − 1.2 s until every run had finished, divided by the runs: `server` = the Chime server, `worker` = the consumer process (SDK Worker, graphile-worker runner, pg-boss workers), `postgres` = the backends of the system's database (by pid from pg_stat_activity), `nats` = nats-server (shared with anything else using it on this machine), `bench` = the producer/orchestrator process (it also runs this measurement). Postgres' WAL writer and checkpointer are not counted. Row writes = n_tup_ins + n_tup_upd + n_tup_del of pg_stat_user_tables over the same window (read after the system's processes stopped, so their backends had flushed), per run.",
      );
      s.push("");
    }
    if (t) s.push(t);
    if (workload === "cost") {
      const w = rowWritesTable(ctx);
      if (w) s.push("", "Row writes per run, by table:", "", w);
    }
    for (const x of skipped) s.push(x.reason);
    if (workload === "steady") {
      const heads = (["chime", ...PEERS] as SystemName[]).map((sys) => {
        const at5k = num(ctx.results.of("steady", sys, "R=5000/s")[0], "lagP99Ms");
        return `${sys}: highest R held (p99 < 2 s, none lost) ${highestHeld(ctx, sys) ?? "none"}/s, p99 at 5k/s ${fmt(at5k)} ms`;
      });
      s.push("");
      s.push(`Headline — ${heads.join("; ")}.`);
    }
    s.push("");
  }
  s.push("## Targets");
  s.push("");
  s.push("| target | status | detail |");
  s.push("| --- | --- | --- |");
  for (const t of ctx.results.targets) s.push(`| ${t.target} | ${t.status} | ${t.detail.replace(/\|/g, "\\|")} |`);
  s.push("");
  s.push("## Where to look");
  s.push("");
  s.push(`- Chime CPU: \`npm run bench -- --cpu-prof\` writes V8 profiles of every server to bench/results/prof/ (open in Chrome DevTools or speedscope).`);
  s.push(
    `- Postgres: ${machine.pgStatStatements ? "pg_stat_statements is loaded: `SELECT query, calls, total_exec_time FROM pg_stat_statements ORDER BY 3 DESC` during a run." : "pg_stat_statements is not loaded (needs shared_preload_libraries = 'pg_stat_statements' and a restart) — it would show the dispatch transaction's statements."}`,
  );
  s.push(`- NATS: ${machine.natsMonitoring ? `monitoring at ${machine.natsMonitoring}` : "no monitoring port (start nats-server with -m 8222 to read /jsz: stream and consumer pending counts)"}.`);
  s.push("");
  return s.join("\n");
}

export function jsonLines(ctx: BenchContext, machine: Machine, startedAt: Date): string {
  const lines: object[] = [{ type: "run", startedAt: startedAt.toISOString(), mode: ctx.quick ? "quick" : "full", machine, settings: ctx.results.settings }];
  for (const r of ctx.results.rows) lines.push({ type: "result", ...r });
  for (const s of ctx.results.skipped) lines.push({ type: "skipped", ...s });
  for (const t of ctx.results.targets) lines.push({ type: "target", ...t });
  return lines.map((l) => JSON.stringify(l)).join("\n") + "\n";
}
