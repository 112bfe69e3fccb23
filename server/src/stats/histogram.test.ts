import { describe, expect, it } from "vitest";
import { addBuckets, BUCKET_BOUNDS_MS, BUCKET_COUNT, bucketOf, emptyBuckets, quantileMs } from "./histogram.js";

const counted = (values: number[]) => values.reduce((b, v) => (b[bucketOf(v)]++, b), emptyBuckets());

describe("histogram buckets", () => {
  it.each([
    [0, 0],
    [1, 0],
    [1.5, 1],
    [2, 1],
    [999, 9],
    [1000, 9],
    [1001, 10],
    [3_600_000, 17],
    [3_600_001, 18],
  ])("%d ms falls in bucket %d", (ms, bucket) => {
    expect(bucketOf(ms)).toBe(bucket);
  });

  it.each([
    ["nothing counted", [], 0.5, undefined],
    ["one value", [7], 0.99, 10],
    ["the median of 1..100 ms", Array.from({ length: 100 }, (_, i) => i + 1), 0.5, 50],
    ["p90 of 1..100 ms", Array.from({ length: 100 }, (_, i) => i + 1), 0.9, 100],
    ["p99 with one slow outlier in 100", [...new Array<number>(99).fill(3), 40_000], 0.99, 5],
    ["p100 with one slow outlier in 100", [...new Array<number>(99).fill(3), 40_000], 1, 60_000],
    ["a value above every bound", [10_000_000], 0.5, 3_600_000],
  ] as Array<[string, number[], number, number | undefined]>)("%s: q=%d is %s ms", (_, values, q, expected) => {
    expect(quantileMs(counted(values), q)).toBe(expected);
  });

  it("adds bucket arrays element-wise", () => {
    expect(addBuckets(counted([1, 1000]), counted([1, 5]))).toEqual(counted([1, 1, 5, 1000]));
    expect(emptyBuckets()).toHaveLength(BUCKET_COUNT);
    expect(BUCKET_COUNT).toBe(BUCKET_BOUNDS_MS.length + 1);
  });
});
