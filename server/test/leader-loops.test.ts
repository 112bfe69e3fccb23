import { afterAll, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./helpers/test-server.js";

let server: TestServer | undefined;
afterAll(async () => server?.close());

it("the leader's periodic passes leave no listener behind on its leadership signal", async () => {
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => {
    if (warning.name === "MaxListenersExceededWarning") warnings.push(warning);
  };
  process.on("warning", onWarning);
  try {
    // Reconcile and prune every 100 ms: some 25 passes of each in the next 2.5 s. Node warns
    // once a signal has more than 10 listeners.
    server = await startTestServer({ CHIME_RECONCILE_INTERVAL_MS: "100", CHIME_EVENT_PRUNE_INTERVAL_MS: "100" });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(server.scheduler?.isLeader()).toBe(true);
    expect(warnings.map((w) => w.message)).toEqual([]);
  } finally {
    process.off("warning", onWarning);
  }
});
