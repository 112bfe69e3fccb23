import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { createChimeClient, RunState, type ChimeClient } from "@chime/sdk";
import { startTestServer, type TestServer } from "./helpers/test-server.js";
import { codeOf } from "./helpers/error-code.js";
import { waitFor } from "./helpers/wait.js";

let server: TestServer;
let chime: ChimeClient;

beforeAll(async () => {
  // Events older than 1.5 s are pruned by the leader every 300 ms; runs of the job below are kept 2 s.
  server = await startTestServer({ CHIME_EVENT_RETENTION_MS: "1500", CHIME_EVENT_PRUNE_INTERVAL_MS: "300", CHIME_BACKGROUND_INTERVAL_MS: "100" });
  chime = createChimeClient({ baseUrl: server.grpcUrl });
});
afterAll(async () => server?.close());

describe("event retention", () => {
  it("prunes old run events, keeps the runs until their retention, and refuses resume tokens from before the pruned range", async () => {
    const job = await chime.createJob({ name: "pruned", queue: "nobody-listens", schedule: { every: "1h" }, runRetention: "2s" });
    // Open a stream first, so the triggered run's QUEUED event arrives on it with a resume token.
    const controller = new AbortController();
    const stream = chime.watchRuns({ jobIds: [job.id] }, { signal: controller.signal });
    const firstEvent = stream.next();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const run = await chime.triggerJob(job.id);
    const event = (await firstEvent).value!;
    controller.abort();
    expect(event.runId).toBe(run.id);
    expect(event.state).toBe(RunState.QUEUED);
    // Later events the token has not seen; once they are pruned, resuming would skip them.
    // The later run ends (cancelled), so the job's run retention deletes it as well.
    const later = await chime.triggerJob(job.id);
    await chime.cancelRun(later.id);

    await waitFor("the run's events to be pruned", async () => {
      const { rows } = await server.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM run_event_log WHERE run_id = ANY($1::uuid[])", [[run.id, later.id]]);
      return rows[0].n === 0;
    }, { timeoutMs: 10_000 });
    const { rows } = await server.pool.query<{ pruned: number }>("SELECT pruned_through::bigint AS pruned FROM event_retention");
    expect(Number(rows[0].pruned)).toBeGreaterThan(0);
    // The queued run itself stays readable; the finished one goes 2 s after its end.
    expect((await chime.getRun(run.id)).id).toBe(run.id);
    await waitFor("the finished run to be deleted", async () => (await codeOf(chime.getRun(later.id))) === Code.NotFound, { timeoutMs: 10_000 });

    // A token from before the pruned range cannot resume without a gap: OUT_OF_RANGE, not silence.
    const resumed = chime.watchRuns({ jobIds: [job.id] }, { resumeToken: event.resumeToken, signal: AbortSignal.timeout(10_000) });
    const error = await resumed.next().then(
      () => undefined,
      (e: unknown) => ConnectError.from(e),
    );
    expect(error?.code).toBe(Code.OutOfRange);
  });
});
