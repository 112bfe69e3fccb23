import { describe, expect, it } from "vitest";
import { createFireRate } from "./fire-rate.js";

type Limit = { perSecond: number; burst: number };
const limits = (entries: Record<string, Limit>) => new Map(Object.entries(entries));

/** Commits one pass at `now` in which namespace `a` fires `fires` (at `now`) and is left waiting or not. */
function pass(rate: ReturnType<typeof createFireRate>, now: number, fires: number, waiting: boolean) {
  const p = rate.pass(now);
  p.fired("a", Array.from({ length: fires }, () => now), waiting);
  return p.commit();
}

describe("createFireRate", () => {
  it.each<[string, Limit, number, number]>([
    // [case, limit, whole tokens, claim]
    ["a full bucket claims its burst and one more", { perSecond: 50, burst: 50 }, 50, 51],
    ["a fraction of a token is none", { perSecond: 0.5, burst: 1 }, 1, 2],
    ["the claim stops at the batch", { perSecond: 5000, burst: 5000 }, 5000, 1001],
  ])("claims: %s", (_, limit, tokens, claim) => {
    const rate = createFireRate({ maxClaim: 1000 });
    expect(rate.claims(limits({ a: limit }), 0)).toEqual([{ namespace: "a", claim }]);
    expect(rate.tokens("a")).toBe(tokens);
    expect(rate.tokens("unlimited")).toBe(Infinity);
  });

  it("takes a token per fire at commit, refills at the rate, and claims one job to look with none", () => {
    const rate = createFireRate({ maxClaim: 1000 });
    const a = limits({ a: { perSecond: 10, burst: 5 } });
    rate.claims(a, 0);
    const uncommitted = rate.pass(0);
    uncommitted.fired("a", [0, 0], false);
    expect(rate.tokens("a")).toBe(5);
    pass(rate, 0, 5, true);
    expect(rate.tokens("a")).toBe(0);
    // [ms, whole tokens, claim]
    const timeline: [number, number, number][] = [
      [50, 0, 1],
      [100, 1, 2],
      [350, 3, 4],
      [10_000, 5, 6],
    ];
    for (const [now, tokens, claim] of timeline) {
      expect(rate.claims(a, now)).toEqual([{ namespace: "a", claim }]);
      expect(rate.tokens("a")).toBe(tokens);
    }
  });

  it("admits a namespace's due jobs while its tokens last, and unlimited ones always", () => {
    const rate = createFireRate({ maxClaim: 1000 });
    rate.claims(limits({ a: { perSecond: 1, burst: 3 } }), 0);
    const p = rate.pass(0);
    // [namespace, fires of the admitted job, tokens offered]
    const steps: [string, number, number][] = [
      ["a", 2, 3],
      ["b", 7, Infinity],
      ["a", 1, 1],
      ["a", 0, 0],
    ];
    for (const [namespace, fires, tokens] of steps) {
      expect(p.admit(namespace)).toBe(tokens);
      if (tokens >= 1) p.fired(namespace, Array.from({ length: fires }, () => 0), false);
    }
    p.commit();
    expect(rate.tokens("a")).toBe(0);
    // A job refused for want of tokens leaves the namespace waiting.
    expect(rate.waiting(0).namespaces).toEqual(["a"]);
  });

  it("keeps each namespace's bucket apart and forgets a namespace whose limit is lifted", () => {
    const rate = createFireRate({ maxClaim: 1000 });
    rate.claims(limits({ a: { perSecond: 1, burst: 2 }, b: { perSecond: 1, burst: 2 } }), 0);
    pass(rate, 0, 2, true);
    expect([rate.tokens("a"), rate.tokens("b")]).toEqual([0, 2]);
    expect(rate.claims(limits({ b: { perSecond: 1, burst: 2 } }), 10)).toEqual([{ namespace: "b", claim: 3 }]);
    expect(rate.tokens("a")).toBe(Infinity);
    expect(rate.waiting(10).namespaces).toEqual([]);
  });

  it("counts the wait for tokens, not lateness from before it, toward the misfire threshold", () => {
    const rate = createFireRate({ maxClaim: 1000 });
    rate.claims(limits({ a: { perSecond: 1, burst: 1 } }), 0);
    expect(rate.waitedMs("a", 0, 5000)).toBe(0);
    pass(rate, 1000, 0, true);
    pass(rate, 2000, 0, true);
    // [fire due at, now, waited]
    const cases: [number, number, number][] = [
      // Due during the wait: all its lateness is the wait.
      [1500, 9000, 7500],
      // Due before the wait began: late already by 800 ms when it began, which still counts.
      [200, 9000, 8000],
      // Due after now: nothing yet.
      [9500, 9000, 0],
    ];
    for (const [due, now, waited] of cases) expect(rate.waitedMs("a", due, now)).toBe(waited);
    expect(rate.waitedMs("b", 0, 9000)).toBe(0);
    // A pass that leaves nothing waiting ends the wait.
    pass(rate, 3000, 0, false);
    expect(rate.waitedMs("a", 1500, 9000)).toBe(0);
  });

  it("counts the fires that an earlier pass left waiting, once each, when they fire", () => {
    const rate = createFireRate({ maxClaim: 1000 });
    rate.claims(limits({ a: { perSecond: 100, burst: 100 } }), 0);
    expect(rate.wasThrottled("a", 0)).toBe(false);
    pass(rate, 1000, 1, true);
    // [scheduled, throttled]
    const cases: [number, boolean][] = [
      [500, true],
      [1000, true],
      [1001, false],
    ];
    for (const [scheduled, throttled] of cases) expect(rate.wasThrottled("a", scheduled)).toBe(throttled);
    expect(rate.wasThrottled("b", 500)).toBe(false);
    const p = rate.pass(2000);
    p.fired("a", [500, 1000, 1500], false);
    expect(p.commit()).toEqual(new Map([["a", 2]]));
    expect(rate.wasThrottled("a", 500)).toBe(false);
  });

  it.each<[string, Limit, number, number]>([
    // [case, limit, tokens taken at 0, wake at]
    ["wakes for a tenth of a second's worth", { perSecond: 50, burst: 50 }, 50, 100],
    ["at least one token", { perSecond: 2, burst: 2 }, 2, 500],
    ["no more than the burst", { perSecond: 100, burst: 5 }, 5, 50],
    ["at once when tokens are left (the claim stopped at the batch)", { perSecond: 5000, burst: 5000 }, 1000, 0],
  ])("waiting: %s", (_, limit, taken, until) => {
    const rate = createFireRate({ maxClaim: 1000 });
    rate.claims(limits({ a: limit, idle: limit }), 0);
    pass(rate, 0, taken, true);
    expect(rate.waiting(0)).toEqual({ namespaces: ["a"], until });
  });

  it("has no wake time while nothing waits", () => {
    const rate = createFireRate({ maxClaim: 1000 });
    rate.claims(limits({ a: { perSecond: 1, burst: 1 } }), 0);
    pass(rate, 0, 1, false);
    expect(rate.waiting(0)).toEqual({ namespaces: [], until: undefined });
  });
});
