import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { CONFIG_DEFAULTS } from "../src/config.js";

/** The README's configuration table: variable → its Default cell. */
async function documentedVariables(): Promise<Map<string, string>> {
  const readme = await readFile(new URL("../../README.md", import.meta.url), "utf8");
  const table = /<!-- config-table: start -->([\s\S]*?)<!-- config-table: end -->/.exec(readme)?.[1];
  if (!table) throw new Error("README.md has no configuration table between the config-table markers");
  const documented = new Map<string, string>();
  for (const line of table.split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    const name = /^`([A-Z_]+)`$/.exec(cells[1] ?? "")?.[1];
    if (!name) continue;
    if (documented.has(name)) throw new Error(`README.md lists ${name} twice`);
    documented.set(name, cells[2] ?? "");
  }
  return documented;
}

describe("the README's configuration table", () => {
  it("lists exactly the variables config.ts reads, each with its default", async () => {
    const documented = await documentedVariables();
    expect([...documented.keys()].sort()).toEqual(Object.keys(CONFIG_DEFAULTS).sort());
    for (const [name, value] of Object.entries(CONFIG_DEFAULTS)) {
      // An empty default is none, or one computed at start: the README says which in words.
      if (value === "") continue;
      expect(documented.get(name), name).toMatch(new RegExp(`^\`${value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\`( |$)`));
    }
  });
});
