/**
 * A benchmark consumer in a process of its own, so the orchestrator's work (inserting,
 * computing percentiles) never delays a handler. It runs one system's workers with a
 * no-op handler that records, per run: a key (job index or name), the run id, the
 * scheduled time and the handler's start time. The parent sends {type:"dump"} (records so far,
 * then forgotten) or {type:"stop"}; records go to a TSV file whose name the parent chose.
 *
 * Usage: node --import tsx bench/src/consumer-proc.ts '<json ConsumerSpec>'
 */
import { createWriteStream } from "node:fs";
import { fromBinary } from "@bufbuild/protobuf";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { run } from "graphile-worker";
import { PgBoss } from "pg-boss";
import * as sdk from "@chime/sdk";
import { nowMs } from "./util.js";
import { GRAPHILE_SETTINGS, PGBOSS_QUEUE, PGBOSS_SETTINGS, silentGraphileLogger } from "./peers.js";

export type ConsumerKind = "chime-worker" | "chime-raw" | "graphile" | "pgboss";

export interface ConsumerSpec {
  kind: ConsumerKind;
  out: string;
  databaseUrl?: string;
  natsUrl?: string;
  prefix?: string;
  queue: string;
  /** Chime Worker concurrency; unset: the SDK Worker's default (what the README's Worker gets). */
  concurrency?: number;
  /** Worker instances in this process (Chime). */
  instances?: number;
}

const spec = JSON.parse(process.argv[2]) as ConsumerSpec;
const keys: string[] = [];
const runIds: string[] = [];
const scheduled: number[] = [];
const started: number[] = [];

let total = 0;

function record(key: string, runId: string, scheduledMs: number, startMs: number): void {
  total++;
  keys.push(key);
  runIds.push(runId);
  scheduled.push(scheduledMs);
  started.push(startMs);
}

const send = (message: object) => process.send?.(message);
const stops: Array<() => Promise<void>> = [];

async function startChimeWorker(): Promise<string> {
  const WorkerClass = (sdk as Record<string, unknown>).Worker as typeof sdk.Worker | undefined;
  if (typeof WorkerClass !== "function") throw new Error("the SDK has no Worker");
  const instances = spec.instances ?? 1;
  for (let n = 0; n < instances; n++) {
    const worker = new WorkerClass({
      natsUrl: spec.natsUrl!,
      prefix: spec.prefix!,
      queue: spec.queue,
      // Only what the README's Worker sets (natsUrl, queue, handler) and what the bench needs
      // to find and stop it; every tuning option stays at the SDK's default unless forced.
      ...(spec.concurrency !== undefined ? { concurrency: spec.concurrency } : {}),
      workerId: `bench-worker-${process.pid}-${n}`,
      stopGraceMs: 2000,
      handler: (run) => {
        record(run.jobName, run.runId, run.scheduledTime.getTime(), nowMs());
      },
    });
    await worker.start();
    stops.push(() => worker.stop(2000));
  }
  const concurrency = spec.concurrency ?? workerConcurrency(WorkerClass);
  return `SDK Worker x${instances} (concurrency ${concurrency} each, ${spec.concurrency !== undefined ? "forced by --worker-concurrency" : "the SDK Worker's default"})`;
}

/** The concurrency an SDK Worker resolves when none is given (its options after defaults). */
function workerConcurrency(WorkerClass: typeof sdk.Worker): number | string {
  const probe = new WorkerClass({ natsUrl: "nats://127.0.0.1:4222", queue: "probe", handler: () => undefined });
  return (probe as unknown as { options?: { concurrency?: number } }).options?.concurrency ?? "unknown";
}

async function startChimeRaw(): Promise<string> {
  const nc = await connect({ servers: spec.natsUrl!, name: "chime-bench-raw-consumer" });
  const layout = sdk.natsLayout(spec.prefix!);
  const jsm = await jetstreamManager(nc);
  const durable = `${layout.queueConsumer(undefined, spec.queue)}`;
  await jsm.consumers
    .add(layout.runsStream, {
      durable_name: durable,
      filter_subject: layout.queueFilter(undefined, spec.queue),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      max_ack_pending: 20_000,
    })
    .catch(async (error: unknown) => {
      if (!/already|exist/i.test(String(error))) throw error;
    });
  const consumer = await jetstream(nc).consumers.get(layout.runsStream, durable);
  const messages = await consumer.consume({ max_messages: 2000 });
  void (async () => {
    for await (const msg of messages) {
      const at = nowMs();
      const run = fromBinary(sdk.RunAssignmentSchema, msg.data);
      const s = run.scheduledTime ? Number(run.scheduledTime.seconds) * 1000 + run.scheduledTime.nanos / 1e6 : NaN;
      record(run.jobName, run.runId, s, at);
      msg.ack();
    }
  })();
  stops.push(async () => {
    messages.stop();
    await nc.drain();
  });
  return "minimal JetStream pull consumer (receipt time, then ack)";
}

async function startGraphile(): Promise<string> {
  const runner = await run({
    preset: { worker: { connectionString: spec.databaseUrl!, ...GRAPHILE_SETTINGS } },
    noHandleSignals: true,
    logger: silentGraphileLogger(),
    taskList: {
      bench: async (payload) => {
        const at = nowMs();
        const p = payload as { i: number; t: number };
        record(String(p.i), "", p.t, at);
      },
    },
  });
  stops.push(() => runner.stop());
  return `graphile-worker ${JSON.stringify(GRAPHILE_SETTINGS)}`;
}

async function startPgBoss(): Promise<string> {
  const { max, schedule, ...work } = PGBOSS_SETTINGS;
  const boss = new PgBoss({ connectionString: spec.databaseUrl!, max, schedule });
  boss.on("error", (error: Error) => {
    if (process.env.BENCH_DEBUG) console.error(`pg-boss: ${error.message}`);
  });
  await boss.start();
  await boss.work<{ i: number; t: number }>(PGBOSS_QUEUE, work, async (jobs) => {
    await Promise.all(
      jobs.map(async (job) => {
        record(String(job.data.i), job.id, job.data.t, nowMs());
      }),
    );
  });
  stops.push(() => boss.stop({ graceful: true, timeout: 5000 }));
  return `pg-boss ${JSON.stringify(PGBOSS_SETTINGS)}`;
}

async function main(): Promise<void> {
  const starters: Record<ConsumerKind, () => Promise<string>> = {
    "chime-worker": startChimeWorker,
    "chime-raw": startChimeRaw,
    graphile: startGraphile,
    pgboss: startPgBoss,
  };
  const description = await starters[spec.kind]();
  send({ type: "ready", description });
  const progress = setInterval(() => send({ type: "progress", count: total }), 200);
  /** Writes the records so far to the file and forgets them. */
  const dump = async () => {
    const out = createWriteStream(spec.out);
    const n = keys.length;
    for (let i = 0; i < n; i++) {
      if (!out.write(`${keys[i]}\t${runIds[i]}\t${scheduled[i]}\t${started[i]}\n`)) await new Promise<void>((r) => out.once("drain", () => r()));
    }
    if (process.env.BENCH_DEBUG) console.error(`consumer ${spec.kind}: wrote ${n}`);
    await new Promise<void>((resolve) => out.end(resolve));
    if (process.env.BENCH_DEBUG) console.error(`consumer ${spec.kind}: closed`);
    keys.splice(0, n);
    runIds.splice(0, n);
    scheduled.splice(0, n);
    started.splice(0, n);
    return n;
  };
  let queue = Promise.resolve();
  process.on("message", (message: { type: string }) => {
    if (process.env.BENCH_DEBUG) console.error(`consumer ${spec.kind}: ${message.type} (${keys.length} records)`);
    queue = queue.then(async () => {
      if (message.type === "dump") {
        send({ type: "dumped", count: await dump() });
      } else if (message.type === "stop") {
        clearInterval(progress);
        for (const stop of stops) await stop().catch((error: unknown) => console.error(`consumer stop: ${String(error)}`));
        send({ type: "done", count: await dump() });
        setTimeout(() => process.exit(0), 100);
      }
    });
  });
}

if (process.env.BENCH_CONSUMER_PROF_DIR) process.on("SIGTERM", () => process.exit(0));

main().catch((error: unknown) => {
  console.error(`consumer ${spec.kind} failed: ${(error as Error).stack ?? String(error)}`);
  send({ type: "error", message: String(error) });
  process.exit(1);
});
