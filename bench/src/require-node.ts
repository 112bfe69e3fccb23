/**
 * Imported first by main.ts: the peers at their current releases need a current Node
 * (graphile-worker 0.18: >= 22.18; pg-boss 12: >= 22.12), and an older one fails later with
 * errors that do not say so.
 */
const [major, minor] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(`bench: Node ${process.versions.node} is too old: graphile-worker 0.18 needs Node 22.18 or later (pg-boss 12: 22.12). Run it with the project's Node 24.\n`);
  process.exit(1);
}
