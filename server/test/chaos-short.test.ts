import { afterAll, beforeAll, expect, it } from "vitest";
import { startNats, type ChaosNats } from "../../chaos/src/nats.js";
import { startPostgres, type ChaosPostgres } from "../../chaos/src/postgres.js";
import { resultTable, runScenario } from "../../chaos/src/run.js";
import { SCENARIOS } from "../../chaos/src/scenarios.js";
import { freePort } from "./helpers/server-process.js";

/**
 * The short version of `npm run chaos`: a few of its scenarios, with a small load for a
 * short while, on the suite's own Postgres and NATS. Every owed fire runs: none lost, none
 * recorded twice.
 */
const SHORT = ["leader-kill9", "worker-kill9", "worker-sigstop"];
let postgres: ChaosPostgres;
let nats: ChaosNats;

beforeAll(async () => {
  postgres = await startPostgres(await freePort());
  nats = await startNats(await freePort());
});
afterAll(async () => {
  await nats?.close();
  await postgres?.close();
});

it("leader kill -9, worker kill -9 and worker SIGSTOP under per-second crons and one-offs: 0 lost, 0 duplicated", async () => {
  const results = [];
  for (const [i, scenario] of SCENARIOS.filter((s) => SHORT.includes(s.name)).entries()) {
    const verdict = await runScenario(scenario, i, postgres, nats, { loadMs: 14_000, crons: 10, oneOffEveryMs: 1000, outageMs: 0 });
    results.push({ scenario, verdict });
  }
  console.log(resultTable(results));
  expect(results.map((r) => r.scenario.name)).toEqual(SHORT);
  for (const { scenario, verdict } of results) {
    expect({ scenario: scenario.name, lost: verdict.lost, duplicated: verdict.duplicated }).toEqual({ scenario: scenario.name, lost: 0, duplicated: 0 });
    expect(verdict.expected).toBeGreaterThan(100);
  }
}, 180_000);
