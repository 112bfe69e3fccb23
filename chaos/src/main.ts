/**
 * npm run chaos [-- --quick] [-- --only name,name]: the fault suite. Starts its own Postgres
 * and NATS (never the machine's), runs each scenario under load, prints the table and
 * writes it to chaos/results/.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { startNats } from "./nats.js";
import { startPostgres } from "./postgres.js";
import { resultTable, runScenario } from "./run.js";
import { SCENARIOS } from "./scenarios.js";
import { freePort } from "../../server/test/helpers/server-process.js";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const only = args.includes("--only") ? args[args.indexOf("--only") + 1].split(",") : undefined;
const scenarios = only ? SCENARIOS.filter((s) => only.includes(s.name)) : SCENARIOS;
if (scenarios.length === 0) throw new Error(`no scenario named ${only?.join(", ")}; known: ${SCENARIOS.map((s) => s.name).join(", ")}`);
const settings = quick
  ? { loadMs: 20_000, crons: 20, oneOffEveryMs: 500, outageMs: 15_000 }
  : { loadMs: 60_000, crons: 100, oneOffEveryMs: 200, outageMs: 600_000 };

const postgres = await startPostgres(await freePort());
const nats = await startNats(await freePort());
const results = [];
try {
  for (const [i, scenario] of scenarios.entries()) {
    // The outage scenario's load spans the outage.
    const loadMs = scenario.name === "server-outage" ? settings.outageMs + settings.loadMs : settings.loadMs;
    const verdict = await runScenario(scenario, i, postgres, nats, { ...settings, loadMs, log: (m) => console.log(m) });
    results.push({ scenario, verdict });
  }
} finally {
  await nats.close();
  await postgres.close();
}
const table = resultTable(results);
console.log(`\n${table}\n`);
const dir = fileURLToPath(new URL("../results/", import.meta.url));
mkdirSync(dir, { recursive: true });
const file = `${dir}${new Date().toISOString().replace(/[:.]/g, "-")}-${quick ? "quick" : "full"}.md`;
writeFileSync(file, `# Chime chaos run (${quick ? "quick" : "full"}), ${new Date().toISOString()}\n\n${table}\n`);
console.log(`written to ${file}`);
const failed = results.filter((r) => r.verdict.lost > 0 || r.verdict.duplicated > 0 || r.verdict.early > 0);
process.exit(failed.length ? 1 : 0);
