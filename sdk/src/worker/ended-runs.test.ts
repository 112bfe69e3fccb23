import { describe, expect, it } from "vitest";
import { EndedRuns } from "./ended-runs.js";

describe("EndedRuns", () => {
  it("remembers a run for keepMs and then forgets it", () => {
    let now = 0;
    const ended = new EndedRuns(1000, 10, () => now);
    ended.add("a");
    now = 1000;
    expect(ended.has("a")).toBe(true);
    now = 1001;
    expect(ended.has("a")).toBe(false);
    expect(ended.has("never")).toBe(false);
  });

  it("drops the oldest past its capacity and prunes expired entries as it records", () => {
    let now = 0;
    const ended = new EndedRuns(1000, 3, () => now);
    for (const id of ["a", "b", "c", "d"]) {
      ended.add(id);
      now += 10;
    }
    expect(["a", "b", "c", "d"].map((id) => ended.has(id))).toEqual([false, true, true, true]);
    now += 2000;
    ended.add("e");
    expect(ended.size).toBe(1);
    expect(ended.has("e")).toBe(true);
  });

  it("re-adding a run moves it to the newest end", () => {
    const now = 0;
    const ended = new EndedRuns(1000, 2, () => now);
    ended.add("a");
    ended.add("b");
    ended.add("a");
    ended.add("c");
    expect(["a", "b", "c"].map((id) => ended.has(id))).toEqual([true, false, true]);
  });
});
