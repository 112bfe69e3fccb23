import { describe, expect, it } from "vitest";
import { createRateLimiter, parseRateLimit } from "./rate-limit.js";

describe("parseRateLimit", () => {
  it.each([
    ["", undefined],
    ["50", { perSecond: 50, burst: 50 }],
    ["0.5", { perSecond: 0.5, burst: 1 }],
    ["0.5,10", { perSecond: 0.5, burst: 10 }],
  ])("reads %j", (raw, expected) => {
    expect(parseRateLimit(raw)).toEqual(expected);
  });

  it.each(["0", "-1", "fast", "5,", "5,0", "1e3"])("refuses %j", (raw) => {
    expect(() => parseRateLimit(raw)).toThrow(/expected calls per second|burst/);
  });
});

describe("createRateLimiter", () => {
  it("lets a burst through, then one call per refilled token, per namespace", () => {
    let now = 0;
    const limiter = createRateLimiter(() => now);
    const limit = { perSecond: 2, burst: 3 };
    expect([1, 2, 3].map(() => limiter.take("a", limit))).toEqual([undefined, undefined, undefined]);
    expect(limiter.take("a", limit)).toBe(500);
    // Another namespace has its own bucket.
    expect(limiter.take("b", limit)).toBeUndefined();
    now = 250;
    expect(limiter.take("a", limit)).toBe(250);
    now = 500;
    expect(limiter.take("a", limit)).toBeUndefined();
    expect(limiter.take("a", limit)).toBe(500);
    // A long quiet spell refills to the burst, not beyond.
    now = 60_000;
    expect([1, 2, 3, 4].map(() => limiter.take("a", limit))).toEqual([undefined, undefined, undefined, 500]);
  });
});
