import { expect, it } from "vitest";
import { RunState } from "@chime/sdk";
import { waitFor } from "./helpers/wait.js";
import { readWorkerLog } from "./helpers/worker-process.js";
import { onlyRunOf, terminalRun } from "./helpers/worker-runs.js";
import { useWorkerTestbed } from "./helpers/worker-testbed.js";

const ACK_WAIT_MS = 2000;
const bed = useWorkerTestbed("stale");

it("a worker resumed after a pause past its ack wait starts none of the deliveries it held meanwhile", async () => {
  const { chime, logFile } = bed;
  const start = (workerId: string, concurrency: number) => bed.start(workerId, concurrency, ACK_WAIT_MS);
  // A holds 4 runs: 2 running and 2 waiting for a slot (prefetch = concurrency).
  const a = await start("A", 2);
  const jobs = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      chime.createJob({ name: `slow-${i}`, queue: "stale", schedule: "immediate", payload: { sleepMs: 1500 }, retry: { maxAttempts: 5, initialBackoff: "100ms" } }),
    ),
  );
  const runs = await Promise.all(jobs.map((j) => onlyRunOf(chime, j.id)));
  await waitFor("A to start 2 runs", () => readWorkerLog(logFile).filter((e) => e.workerId === "A" && e.event === "start").length === 2, { timeoutMs: 20_000 });
  process.kill(a.child.pid!, "SIGSTOP");
  await start("B", 10);
  // Past A's ack wait, B has every run A held, redelivered.
  await waitFor("B to start all 10 runs", () => new Set(readWorkerLog(logFile).filter((e) => e.workerId === "B" && e.event === "start").map((e) => e.runId)).size === 10, {
    timeoutMs: 20_000,
  });
  const resumedAt = Date.now();
  process.kill(a.child.pid!, "SIGCONT");

  const ended = await Promise.all(runs.map((r) => terminalRun(chime, r.id, 30_000)));
  expect(ended.map((r) => r.state)).toEqual(runs.map(() => RunState.SUCCEEDED));
  // Give A time to do what it would do with the deliveries it still held.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const log = readWorkerLog(logFile);
  expect(log.filter((e) => e.workerId === "A" && e.event === "start" && e.t >= resumedAt)).toEqual([]);
  expect(log.filter((e) => e.event === "start")).toHaveLength(12);
});
