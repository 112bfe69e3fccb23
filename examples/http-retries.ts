// An http job with retries: no worker to write, the server's executor sends the request.
// A non-2xx answer fails the attempt and the run is retried with backoff, always with the
// same Idempotency-Key header (the run id), so the target can tell a retry from a new run.
// Run: TARGET_URL=https://example.com/hook node examples/dist/http-retries.js (CHIME_URL);
// the server must allow the target's host (CHIME_HTTP_ALLOWLIST for private addresses).
import { createChimeClient, RunState, type Run } from "@chime/sdk";

const chime = createChimeClient({ baseUrl: process.env.CHIME_URL ?? "http://127.0.0.1:8080", timeoutMs: 5000 });
const url = process.env.TARGET_URL ?? "http://localhost:3000/hook";

const job = await chime.createJob({
  name: `http-retries-${Date.now()}`,
  queue: "http",
  schedule: "immediate", // one run now; a cron or interval works the same way
  http: { method: "POST", url, headers: { "content-type": "application/json" }, body: '{"report":"daily"}' },
  // Up to 3 attempts, 1 s then 2 s apart; each attempt gets 10 s.
  retry: { maxAttempts: 3, initialBackoff: "1s", multiplier: 2, jitter: 0 },
  attemptTimeout: "10s",
});
console.log(`created http job ${job.id} -> POST ${url}`);

// Poll the run until it ends (watchRuns would stream the same changes).
const ended = new Set([RunState.SUCCEEDED, RunState.FAILED, RunState.TIMED_OUT, RunState.CANCELLED]);
let run: Run | undefined;
for (;;) {
  for await (const first of chime.listRuns({ jobId: job.id })) {
    run = first; // an immediate job has one run
    break;
  }
  if (run && ended.has(run.state)) break;
  await new Promise((resolve) => setTimeout(resolve, 250));
}
for (const attempt of run.attempts) console.log(`attempt ${attempt.attempt}: ${RunState[attempt.state]}${attempt.error ? ` (${attempt.error})` : ""}`);
console.log(`run ${run.id}: ${RunState[run.state]} after ${run.attempt} attempt(s)`);
await chime.deleteJob(job.id);
