import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { Worker } from "@chime/sdk";
import { useTestServer } from "./helpers/test-server.js";
import { readMetric } from "./helpers/metrics.js";
import { TEST_NATS_URL } from "./helpers/env.js";
import { waitFor } from "./helpers/wait.js";

const fixture = useTestServer({ CHIME_BACKGROUND_INTERVAL_MS: "100" });
const workers: Worker[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
});

interface Documented {
  type: string;
  labels: string[];
}

/** The README's metrics table: series name → type and labels. */
async function documentedMetrics(): Promise<Map<string, Documented>> {
  const readme = await readFile(new URL("../../README.md", import.meta.url), "utf8");
  const table = /<!-- metrics-table: start -->([\s\S]*?)<!-- metrics-table: end -->/.exec(readme)?.[1];
  if (!table) throw new Error("README.md has no metrics table between the metrics-table markers");
  const documented = new Map<string, Documented>();
  for (const line of table.split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    const name = /^`([a-z_]+)`$/.exec(cells[1] ?? "")?.[1];
    if (!name) continue;
    const labels = [...(cells[3] ?? "").matchAll(/`([a-z_]+)`/g)].map((m) => m[1]).sort();
    documented.set(name, { type: cells[2], labels });
  }
  return documented;
}

interface Exported {
  type: string;
  /** Every distinct label-name set seen on the metric's samples (histogram `le` left out). */
  labelSets: Set<string>;
}

/** The /metrics page parsed: metric name → type and the label names of its samples. */
async function exportedMetrics(): Promise<Map<string, Exported>> {
  const text = await (await fetch(`${fixture.server.httpUrl}/metrics`)).text();
  const exported = new Map<string, Exported>();
  for (const line of text.split("\n")) {
    const type = /^# TYPE ([a-z_]+) ([a-z]+)$/.exec(line);
    if (type) exported.set(type[1], { type: type[2], labelSets: new Set() });
    const sample = /^([a-z_]+?)(_bucket|_sum|_count)?(\{([^}]*)\})? \S+$/.exec(line);
    if (!sample) continue;
    const metric = exported.get(sample[1]) ?? exported.get(sample[1] + (sample[2] ?? ""));
    if (!metric) continue;
    const labels = [...(sample[4] ?? "").matchAll(/([a-z_]+)="/g)].map((m) => m[1]).filter((l) => l !== "le");
    metric.labelSets.add(labels.sort().join(","));
  }
  return exported;
}

describe("/metrics", () => {
  it("exports exactly the README's series, with their types and labels, beside unprefixed process metrics", async () => {
    // Give labelled series samples: RPCs (one failing), dispatches, a queue consumer, a run
    // left queued on a queue nobody consumes, a cancellation.
    const job = await fixture.chime.createJob({ name: "metrics", queue: "metrics-q", schedule: { every: "1h" } });
    await fixture.chime.triggerJob(job.id);
    const stranded = await fixture.chime.createJob({ name: "stranded", queue: "nobody-q", schedule: { every: "1h" } });
    await fixture.chime.triggerJob(stranded.id);
    await fixture.chime.cancelRun((await fixture.chime.triggerJob(stranded.id)).id);
    await expect(fixture.chime.getJob("00000000-0000-0000-0000-000000000000")).rejects.toBeInstanceOf(ConnectError);
    const ran: string[] = [];
    const worker = new Worker({ natsUrl: TEST_NATS_URL, prefix: fixture.server.config.natsPrefix, queue: "metrics-q", workerId: "m", handler: async (run) => void ran.push(run.runId) });
    await worker.start();
    workers.push(worker);
    await waitFor("the triggered run to end, counted", async () => ((await readMetric(fixture.server.httpUrl, "chime_runs_ended_total", { queue: "metrics-q", state: "SUCCEEDED" })) >= 1 ? true : undefined));
    const controller = new AbortController();
    const stream = fixture.chime.watchRuns({ jobIds: [job.id] }, { signal: controller.signal });
    void stream.next().catch(() => undefined);
    await waitFor("the stream to open", async () => ((await readMetric(fixture.server.httpUrl, "chime_rpc_streams_open")) === 1 ? true : undefined));

    const documented = await documentedMetrics();
    const exported = await exportedMetrics();
    controller.abort();
    const chime = [...exported.keys()].filter((name) => name.startsWith("chime_")).sort();
    expect(chime).toEqual([...documented.keys()].sort());
    for (const [name, doc] of documented) {
      const got = exported.get(name)!;
      expect(`${name}: ${got.type}`).toBe(`${name}: ${doc.type}`);
      // A labelled series nothing has happened to yet (no rejected update here) has no samples.
      for (const labels of got.labelSets) expect({ name, labels }).toEqual({ name, labels: doc.labels.join(",") });
    }
    const sampled = (name: string) => exported.get(name)!.labelSets.size > 0;
    for (const name of ["chime_rpc_requests_total", "chime_rpc_duration_seconds", "chime_runs_dispatched_total", "chime_runs_active", "chime_runs_ended_total", "chime_run_duration_seconds", "chime_queue_pull_requests", "chime_cancel_signals_total", "chime_build_info", "chime_scheduler_heartbeat_age_seconds"]) {
      expect({ name, sampled: sampled(name) }).toEqual({ name, sampled: true });
    }
    // Standard names, which Node.js dashboards look for.
    expect(exported.get("process_cpu_seconds_total")?.type).toBe("counter");
    expect(exported.has("nodejs_eventloop_lag_seconds")).toBe(true);
    expect([...exported.keys()].filter((name) => !/^(chime|process|nodejs)_/.test(name))).toEqual([]);
  });

  it("passes promtool check metrics, but for the three gauges prom-client's default Node.js metrics name *_total", async () => {
    // scripts/test.sh (npm test) fetches promtool; run it once when calling vitest directly.
    const promtool = process.env.CHIME_TEST_PROMTOOL ?? fileURLToPath(new URL("../../.chime/promtool/usr/bin/promtool", import.meta.url));
    expect(existsSync(promtool), `no promtool at ${promtool}: run bash scripts/promtool.sh (npm test does)`).toBe(true);
    await fixture.chime.createJob({ name: "promtool", queue: "promtool-q", schedule: { every: "1h" } });
    const text = await (await fetch(`${fixture.server.httpUrl}/metrics`)).text();
    const checked = spawnSync(promtool, ["check", "metrics"], { input: text, encoding: "utf8" });
    const findings = `${checked.stdout}${checked.stderr}`.split("\n").filter(Boolean);
    // Their names are the ones Node.js dashboards look for, so they stay as prom-client has them.
    const defaults = ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"];
    expect(findings.filter((line) => !defaults.some((name) => line.startsWith(`${name} non-counter metrics should not have "_total" suffix`)))).toEqual([]);
    expect(checked.error).toBeUndefined();
  });

  it("counts RPCs by method and code, and reads queues and active runs when scraped", async () => {
    const method = (name: string) => `chime.v1.JobService/${name}`;
    const before = await readMetric(fixture.server.httpUrl, "chime_rpc_requests_total", { method: method("CreateJob"), code: "INVALID_ARGUMENT" });
    const bad = await fixture.chime.createJob({ name: "", queue: "q", schedule: { every: "1h" } }).catch((e: unknown) => e);
    expect(ConnectError.from(bad).code).toBe(Code.InvalidArgument);
    expect(await readMetric(fixture.server.httpUrl, "chime_rpc_requests_total", { method: method("CreateJob"), code: "INVALID_ARGUMENT" })).toBe(before + 1);
    expect(await readMetric(fixture.server.httpUrl, "chime_rpc_duration_seconds_count", { method: method("CreateJob") })).toBeGreaterThanOrEqual(2);

    // A queue nobody consumes: its run stays QUEUED in Postgres; once a consumer exists
    // and stops, the run waits in it with no pull request.
    const job = await fixture.chime.createJob({ name: "unconsumed", queue: "idle-q", schedule: { every: "1h" } });
    const worker = new Worker({ natsUrl: TEST_NATS_URL, prefix: fixture.server.config.natsPrefix, queue: "idle-q", workerId: "i", handler: async () => undefined });
    await worker.start();
    await waitFor("the worker's pull request", async () => ((await readMetric(fixture.server.httpUrl, "chime_queue_pull_requests", { queue: "idle-q" })) >= 1 ? true : undefined));
    await worker.stop();
    await waitFor("no pull request left", async () => ((await readMetric(fixture.server.httpUrl, "chime_queue_pull_requests", { queue: "idle-q" })) === 0 ? true : undefined));
    await fixture.chime.triggerJob(job.id);
    await waitFor("the run to wait in the queue", async () => ((await readMetric(fixture.server.httpUrl, "chime_queue_runs_waiting", { queue: "idle-q" })) === 1 ? true : undefined));
    expect(await readMetric(fixture.server.httpUrl, "chime_runs_active", { queue: "idle-q", state: "QUEUED" })).toBe(1);
    expect(await readMetric(fixture.server.httpUrl, "chime_scheduler_heartbeat_age_seconds")).toBeLessThan(60);
  });
});
