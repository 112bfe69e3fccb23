import { describe, expect, it } from "vitest";
import { HorizonTracker } from "./event-source.js";

const sample = (lastCursor: number, ...writers: string[]) => ({ lastCursor, writers: new Set(writers) });

describe("HorizonTracker", () => {
  it("moves to the last cursor at once when no transaction holds an event write lock", () => {
    const t = new HorizonTracker(0);
    expect(t.add(sample(12))).toBe(12);
    expect(t.add(sample(12))).toBe(12);
  });

  it("waits until every writer seen with a sample has ended, however many later samples come", () => {
    const t = new HorizonTracker(10);
    // 11 is taken by 3/7 (in flight), 12 committed by another: the sample at 12 must wait for 3/7.
    expect(t.add(sample(12, "3/7"))).toBe(10);
    expect(t.add(sample(15, "3/7", "4/9"))).toBe(10);
    // 3/7 ended; 4/9 (which may hold 13..15) still runs: 12 is safe, 15 not yet.
    expect(t.add(sample(15, "4/9"))).toBe(12);
    expect(t.add(sample(16, "5/1"))).toBe(15);
    expect(t.add(sample(16))).toBe(16);
  });

  it("skips rolled-back cursors (a gap) without waiting once the writer is gone", () => {
    const t = new HorizonTracker(0);
    expect(t.add(sample(5, "1/1"))).toBe(0);
    expect(t.add(sample(5))).toBe(5);
  });

  it("never goes backwards and keeps a bounded list under constant load", () => {
    const t = new HorizonTracker(0);
    let last = 0;
    for (let i = 1; i <= 10_000; i++) {
      // A new writer every sample, each ending one sample later.
      const h = t.add(sample(i * 2, `w/${i}`, `w/${i - 1}`));
      expect(h).toBeGreaterThanOrEqual(last);
      last = h;
    }
    expect(last).toBeGreaterThan(19_000);
  });
});
