import { fork, type ChildProcess } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as sdk from "@chime/sdk";
import type { ConsumerKind, ConsumerSpec } from "./consumer-proc.js";
import { ROOT } from "./chime.js";
import { log, nowMs, randomId, sleep } from "./util.js";

/** One handler start as the consumer recorded it. */
export interface Start {
  key: string;
  runId: string;
  scheduledMs: number;
  startMs: number;
}

export interface Consumer {
  kind: ConsumerKind;
  description: string;
  /** The consumer process (its CPU is the worker's cost). */
  pid: number;
  /** Handler starts so far (updated every 200 ms). */
  count(): number;
  /** Waits until `count() >= target`, or no progress for `idleMs` (counted from the call at the earliest), or `deadlineMs` (wall clock) passes. */
  waitFor(target: number, options: { idleMs: number; deadlineMs: number }): Promise<boolean>;
  /** Every handler start recorded since the last take (the workers keep running). */
  take(): Promise<Start[]>;
  /** Stops the workers and returns the handler starts not taken yet. */
  stop(): Promise<Start[]>;
  kill(): void;
}

const running = new Set<Consumer>();

/** Whether the SDK exports a Worker (another engineer is building it). */
export function sdkWorkerAvailable(): boolean {
  return typeof (sdk as Record<string, unknown>).Worker === "function";
}

/**
 * The SDK Worker's defaults, read from a Worker built as the README builds one (natsUrl,
 * queue, handler; nothing connects until start()), so the report names what was measured
 * even as the defaults change.
 */
export function describeWorkerDefaults(): string {
  if (!sdkWorkerAvailable()) return "no SDK Worker";
  const probe = new sdk.Worker({ natsUrl: "nats://127.0.0.1:4222", queue: "probe", handler: () => undefined });
  const resolved = (probe as unknown as { options?: Record<string, unknown> }).options;
  if (!resolved) return "unknown";
  const shown = Object.entries(resolved).filter(([k, v]) => !["handler", "queue", "prefix"].includes(k) && typeof v !== "function");
  return shown.map(([k, v]) => `${k} ${JSON.stringify(v)}`).join(", ");
}

/** Starts a consumer child process and waits until its workers run. */
export async function startConsumer(spec: Omit<ConsumerSpec, "out">): Promise<Consumer> {
  const out = join(tmpdir(), `chime-bench-${process.pid}-${randomId(6)}.tsv`);
  const child: ChildProcess = fork(fileURLToPath(new URL("./consumer-proc.ts", import.meta.url)), [JSON.stringify({ ...spec, out })], {
    cwd: ROOT,
    // BENCH_CONSUMER_PROF_DIR: V8 CPU profiles of the consumer processes (they share the machine's two cores).
    execArgv: ["--import", "tsx", ...(process.env.BENCH_CONSUMER_PROF_DIR ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CONSUMER_PROF_DIR}`] : [])],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  let count = 0;
  let lastProgressAt = nowMs();
  let done: ((n: number) => void) | undefined;
  let failed: ((error: Error) => void) | undefined;
  const ready = new Promise<string>((resolve, reject) => {
    child.on("message", (message: { type: string; count?: number; description?: string; message?: string }) => {
      if (message.type === "ready") resolve(message.description!);
      else if (message.type === "progress") {
        if (message.count !== count) lastProgressAt = nowMs();
        count = message.count!;
      } else if (message.type === "done" || message.type === "dumped") done?.(message.count!);
      else if (message.type === "error") {
        const error = new Error(`consumer ${spec.kind}: ${message.message}`);
        reject(error);
        failed?.(error);
      }
    });
    child.once("exit", (code) => {
      const error = new Error(`consumer ${spec.kind} exited (${code})`);
      reject(error);
      failed?.(error);
    });
  });
  const description = await ready;
  const readStarts = (): Start[] => {
    const starts: Start[] = [];
    const text = readFileSync(out, "utf8");
    rmSync(out, { force: true });
    for (const line of text.split("\n")) {
      if (!line) continue;
      const [key, runId, s, t] = line.split("\t");
      starts.push({ key, runId, scheduledMs: Number(s), startMs: Number(t) });
    }
    return starts;
  };
  const consumer: Consumer = {
    kind: spec.kind,
    description,
    pid: child.pid!,
    count: () => count,
    async waitFor(target, { idleMs, deadlineMs }) {
      const since = nowMs();
      for (;;) {
        if (count >= target) return true;
        if (nowMs() > deadlineMs) return false;
        // Idle counts from the last progress or the start of this wait, whichever is later.
        if (nowMs() - Math.max(lastProgressAt, since) > idleMs) return false;
        await sleep(100);
      }
    },
    async take() {
      const dumped = new Promise<number>((resolve, reject) => {
        done = resolve;
        failed = reject;
      });
      child.send({ type: "dump" });
      await dumped;
      return readStarts();
    },
    async stop() {
      running.delete(consumer);
      const finished = new Promise<number>((resolve, reject) => {
        done = resolve;
        failed = reject;
      });
      child.send({ type: "stop" });
      await finished;
      const starts = readStarts();
      await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once("exit", resolve)));
      return starts;
    },
    kill() {
      running.delete(consumer);
      // A profiled consumer exits on SIGTERM so that V8 writes its profile.
      if (child.exitCode === null) child.kill(process.env.BENCH_CONSUMER_PROF_DIR ? "SIGTERM" : "SIGKILL");
      rmSync(out, { force: true });
    },
  };
  running.add(consumer);
  log(`consumer ready: ${description}`);
  return consumer;
}

export function killAllConsumers(): void {
  for (const c of running) c.kill();
}

/** The Chime consumer kind to use: the SDK Worker when it exists, else a raw JetStream consumer (or as forced). */
export function chimeConsumerKind(forced?: string): ConsumerKind {
  if (forced === "raw") return "chime-raw";
  if (forced === "worker") return "chime-worker";
  return sdkWorkerAvailable() ? "chime-worker" : "chime-raw";
}
