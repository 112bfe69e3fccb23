import { describe, expect, it } from "vitest";
import { defaultBurst, msUntil, refill, type Bucket } from "./token-bucket.js";

const limit = { perSecond: 2, burst: 4 };

describe("refill", () => {
  it.each<[string, Bucket | undefined, number, Bucket]>([
    ["starts a new bucket full", undefined, 100, { tokens: 4, at: 100 }],
    ["adds the rate's tokens for the time passed", { tokens: 1, at: 0 }, 500, { tokens: 2, at: 500 }],
    ["holds no more than the burst", { tokens: 3, at: 0 }, 60_000, { tokens: 4, at: 60_000 }],
    ["adds nothing for a clock read before its time", { tokens: 1, at: 1000 }, 400, { tokens: 1, at: 1000 }],
  ])("%s", (_, bucket, now, expected) => {
    expect(refill(bucket && { ...bucket }, limit, now)).toEqual(expected);
  });
});

describe("msUntil", () => {
  it.each<[Bucket, number, number]>([
    [{ tokens: 2, at: 0 }, 1, 0],
    [{ tokens: 0, at: 0 }, 1, 500],
    [{ tokens: 0.5, at: 0 }, 1, 250],
    [{ tokens: 0, at: 0 }, 3, 1500],
  ])("%j reaches %d tokens in %d ms", (bucket, tokens, ms) => {
    expect(msUntil(bucket, limit, tokens)).toBe(ms);
  });
});

describe("defaultBurst", () => {
  it.each([
    [0.1, 1],
    [1, 1],
    [2.5, 3],
    [50, 50],
  ])("of %d per second is %d", (perSecond, burst) => {
    expect(defaultBurst(perSecond)).toBe(burst);
  });
});
