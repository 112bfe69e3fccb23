import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { Code, ConnectError } from "@connectrpc/connect";
import { labelConditions, labelsMatch, parseLabelSelector } from "./label-selector.js";

function invalid(selector: string, field?: string): string {
  try {
    parseLabelSelector(selector, field);
  } catch (error) {
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    return (error as ConnectError).rawMessage;
  }
  throw new Error(`expected ${JSON.stringify(selector)} to be refused`);
}

describe("parseLabelSelector", () => {
  it("reads the four kinds of term, trimming spaces and skipping empty terms", () => {
    expect(parseLabelSelector(" env=prod , team!=ops, tier ,!legacy,, ")).toEqual([
      { kind: "equals", key: "env", value: "prod" },
      { kind: "notEquals", key: "team", value: "ops" },
      { kind: "exists", key: "tier" },
      { kind: "notExists", key: "legacy" },
    ]);
    expect(parseLabelSelector("")).toEqual([]);
  });

  it("accepts == as =, empty values, and = inside a value", () => {
    expect(parseLabelSelector("a==b")).toEqual([{ kind: "equals", key: "a", value: "b" }]);
    expect(parseLabelSelector("a=")).toEqual([{ kind: "equals", key: "a", value: "" }]);
    expect(parseLabelSelector("a!=")).toEqual([{ kind: "notEquals", key: "a", value: "" }]);
    expect(parseLabelSelector("a=b=c")).toEqual([{ kind: "equals", key: "a", value: "b=c" }]);
    expect(parseLabelSelector("app.kubernetes.io/name=chime")).toEqual([{ kind: "equals", key: "app.kubernetes.io/name", value: "chime" }]);
  });

  it("refuses terms without a valid key, naming the field", () => {
    for (const selector of ["=x", "!=x", "!", "!a=b", "-a", "a-", "a b=c", "é=1", `${"k".repeat(64)}=v`, "a,=b"]) {
      expect(invalid(selector), selector).toMatch(/^label_selector: .* is not key=value, key!=value, key or !key$/);
    }
    expect(invalid("=x", "watch.label_selector")).toMatch(/^watch\.label_selector: /);
  });
});

describe("labelsMatch", () => {
  const labels = { env: "prod", team: "ops" };
  it("matches each kind of term", () => {
    expect(labelsMatch(parseLabelSelector("env=prod"), labels)).toBe(true);
    expect(labelsMatch(parseLabelSelector("env=dev"), labels)).toBe(false);
    expect(labelsMatch(parseLabelSelector("env!=dev"), labels)).toBe(true);
    expect(labelsMatch(parseLabelSelector("env!=prod"), labels)).toBe(false);
    // key!=value also matches when the key is absent (as the SQL condition does).
    expect(labelsMatch(parseLabelSelector("tier!=gold"), labels)).toBe(true);
    expect(labelsMatch(parseLabelSelector("team"), labels)).toBe(true);
    expect(labelsMatch(parseLabelSelector("tier"), labels)).toBe(false);
    expect(labelsMatch(parseLabelSelector("!tier"), labels)).toBe(true);
    expect(labelsMatch(parseLabelSelector("!team"), labels)).toBe(false);
    expect(labelsMatch(parseLabelSelector("env=prod,team=ops,!tier"), labels)).toBe(true);
    expect(labelsMatch(parseLabelSelector("env=prod,team=dev"), labels)).toBe(false);
    expect(labelsMatch([], {})).toBe(true);
  });

  it("does not mistake inherited properties for labels", () => {
    expect(labelsMatch(parseLabelSelector("constructor"), {})).toBe(false);
    expect(labelsMatch(parseLabelSelector("!toString"), {})).toBe(true);
  });

  it("agrees with itself: a selector built from a label set matches it, and its negation does not", () => {
    const key = fc.stringMatching(/^[a-z][a-z0-9]{0,8}$/);
    fc.assert(
      fc.property(fc.dictionary(key, fc.stringMatching(/^[a-z0-9]{0,8}$/), { minKeys: 1, maxKeys: 5 }), (set) => {
        const selector = Object.entries(set).map(([k, v]) => `${k}=${v}`).join(",");
        expect(labelsMatch(parseLabelSelector(selector), set)).toBe(true);
        const [firstKey, firstValue] = Object.entries(set)[0];
        expect(labelsMatch(parseLabelSelector(`${firstKey}!=${firstValue}`), set)).toBe(false);
        expect(labelsMatch(parseLabelSelector(`!${firstKey}`), set)).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});

describe("labelConditions", () => {
  it("builds parameterised jsonb conditions, numbering after existing parameters", () => {
    const params: unknown[] = ["already"];
    const sql = labelConditions(parseLabelSelector("env=prod,team!=ops,tier,!legacy"), "labels", params);
    expect(sql).toEqual(["labels @> $2::jsonb", "NOT labels @> $3::jsonb", "labels ? $4", "NOT labels ? $5"]);
    expect(params).toEqual(["already", '{"env":"prod"}', '{"team":"ops"}', "tier", "legacy"]);
  });

  it("never puts a key or value into the SQL text", () => {
    const params: unknown[] = [];
    const sql = labelConditions([{ kind: "equals", key: "a", value: "'; DROP TABLE jobs; --" }], "j.labels", params);
    expect(sql.join(" ")).not.toContain("DROP");
    expect(params).toEqual([JSON.stringify({ a: "'; DROP TABLE jobs; --" })]);
  });
});
