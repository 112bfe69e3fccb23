// A worker service that shuts down gracefully: on SIGTERM (what Kubernetes, systemd and
// docker stop send) or Ctrl-C it stops taking runs, lets the running handler finish, reports
// its result, and only then exits. A run cut short would be retried elsewhere; this one is not.
// Run: node examples/dist/worker-service.js (NATS_URL, CHIME_NATS_PREFIX and QUEUE as the server's).
import { Worker } from "@chime/sdk";

const worker = new Worker({
  natsUrl: process.env.NATS_URL ?? "nats://127.0.0.1:4222",
  prefix: process.env.CHIME_NATS_PREFIX ?? "chime",
  queue: process.env.QUEUE ?? "reports",
  // How long stop() lets running handlers finish before handing their runs back.
  stopGraceMs: 10_000,
  handler: async (run, ctx) => {
    console.log(`run ${run.runId}: started`);
    // Stands in for real work; ctx.signal aborts it if the run is cancelled.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    ctx.log.info("report written");
    console.log(`run ${run.runId}: done`);
    return { ok: true };
  },
});

await worker.start();
console.log("worker ready");

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    console.log(`${signal}: stopping (running handlers finish first)`);
    void worker.stop().then(() => {
      console.log("stopped cleanly");
      process.exit(0);
    });
  });
}
