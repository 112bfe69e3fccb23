// A tour of Chime through the SDK: create three jobs, preview their fire times,
// run a worker for them, trigger one by hand, and follow every state change of their
// runs live over WatchService.
// Run it with `npm run demo` (which starts the server), or against a running
// server with `npm run build && node examples/dist/demo.js` (CHIME_URL, default
// http://127.0.0.1:8080).
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { createChimeClient, RunState, Worker, type JobSpec } from "@chime/sdk";

const baseUrl = process.env.CHIME_URL ?? `http://127.0.0.1:${process.env.CHIME_PORT || "8080"}`;
const chime = createChimeClient({ baseUrl, timeoutMs: 5000 });

const time = (t: Timestamp | undefined) => (t ? timestampDate(t).toISOString().slice(11, 23) : "-");

const specs: JobSpec[] = [
  { name: "demo-every-2s", queue: "demo", schedule: { cron: "*/2 * * * * *" }, payload: { hello: "cron" } },
  { name: "demo-every-5s", queue: "demo", schedule: { every: "5s" }, payload: { hello: "interval" } },
  { name: "demo-once", queue: "demo", schedule: { at: new Date(Date.now() + 10_000) }, payload: { hello: "at" } },
];

console.log(`Chime demo against ${baseUrl} (times are UTC)\n`);

// Idempotent: jobs left by an earlier demo are deleted and created afresh.
const existing = new Map<string, string>();
for await (const job of chime.listJobs({ namePrefix: "demo-" })) existing.set(job.name, job.id);

const jobNames = new Map<string, string>(); // job id -> name, for the run lines below
for (const spec of specs) {
  const old = existing.get(spec.name);
  if (old) await chime.deleteJob(old);
  const job = await chime.createJob(spec);
  jobNames.set(job.id, job.name);
  // Preview the schedule as the server stored it (an interval is anchored at creation).
  const { fireTimes } = await chime.jobService.previewSchedule({ schedule: job.schedule, count: 3 });
  console.log(`${old ? "replaced" : "created "} ${job.name.padEnd(14)} next run ${time(job.nextRunTime)}`);
  console.log(`         upcoming: ${fireTimes.map(time).join(", ")}`);
}

// A worker for the "demo" queue: it takes each run from NATS JetStream and reports
// RUNNING, then SUCCEEDED with the handler's result.
const worker = new Worker({
  natsUrl: process.env.NATS_URL ?? "nats://127.0.0.1:4222",
  prefix: process.env.CHIME_NATS_PREFIX || "chime",
  queue: "demo",
  handler: async (run) => {
    await new Promise((resolve) => setTimeout(resolve, 300)); // pretend to work
    return { greeted: run.payload.hello ?? null, attempt: run.attempt };
  },
});
await worker.start();

// On Ctrl-C, delete the demo's jobs so that they do not keep firing after it ends.
// (The signal may arrive twice, e.g. from the terminal and from a wrapper that relays it: act once.)
let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    const deletions = [...jobNames.keys()].map((id) => chime.deleteJob(id).catch(() => undefined));
    deletions.push(worker.stop(1000).catch(() => undefined));
    const deadline = new Promise((resolve) => setTimeout(resolve, 3000));
    void Promise.race([Promise.all(deletions), deadline]).then(() => {
      console.log("\ndeleted the demo jobs");
      process.exit(0);
    });
  });
}

// Follow the runs live: WatchRuns streams every state change of the demo jobs' runs
// (the SDK iterator reconnects on its own, resuming from its last event).
console.log("\nfollowing runs of the demo jobs (Ctrl-C to stop)...");
const stream = chime.watchRuns({ jobIds: [...jobNames.keys()] });

// TriggerJob creates a run now, whatever the schedule (once the stream is open, so its events show).
const [firstId] = jobNames.keys();
setTimeout(() => {
  chime.triggerJob(firstId).then(
    (run) => console.log(`triggered ${jobNames.get(firstId)} by hand: run ${run.id.slice(-8)}`),
    (error: unknown) => console.error(`trigger failed: ${(error as Error).message}`),
  );
}, 1000);

for await (const event of stream) {
  const output = event.outputExcerpt ? `  output ${event.outputExcerpt}` : "";
  const error = event.error ? `  error ${event.error}` : "";
  console.log(
    `${time(event.time)}  run ${event.runId.slice(-8)}  ${jobNames.get(event.jobId)?.padEnd(14)}` +
      `  ${RunState[event.state].padEnd(10)} attempt ${event.attempt}${output}${error}`,
  );
}
