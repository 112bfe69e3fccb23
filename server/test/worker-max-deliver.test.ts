import { expect, it } from "vitest";
import { RunState } from "@chime/sdk";
import { readWorkerLog } from "./helpers/worker-process.js";
import { onlyRunOf, terminalRun } from "./helpers/worker-runs.js";
import { useWorkerTestbed } from "./helpers/worker-testbed.js";

const bed = useWorkerTestbed("crash");
const isEnded = (state: RunState) => [RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.TIMED_OUT].includes(state);

it("a run that takes down every worker it reaches ends FAILED after the queue's max_deliver, though its retry policy allows more", async () => {
  const { chime, logFile } = bed;
  const job = await chime.createJob({ name: "crasher", queue: "crash", schedule: "immediate", payload: { crash: true }, retry: { maxAttempts: 10 } });
  const run = await onlyRunOf(chime, job.id);
  // A worker process per delivery: each one dies in the handler (exit 3), the next takes the redelivery.
  for (let i = 0; i < 8 && !isEnded((await chime.getRun(run.id)).state); i++) {
    const worker = await bed.start(`w${i}`, 1, 1000, 3).catch(() => undefined); // it may die before it says "ready"
    if (worker) await Promise.race([new Promise((resolve) => worker.child.once("exit", resolve)), new Promise((resolve) => setTimeout(resolve, 5000))]);
  }
  const ended = await terminalRun(chime, run.id, 20_000);
  expect(ended.state).toBe(RunState.FAILED);
  expect(ended.error).toMatch(/delivered 3 times/);
  expect(readWorkerLog(logFile).filter((e) => e.event === "start")).toHaveLength(3);
});
