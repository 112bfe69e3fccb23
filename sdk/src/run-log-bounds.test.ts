import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { RunLogLevel, RunLogLineSchema, type RunLogLine } from "./gen/chime/v1/run_pb.js";
import { boundRunLogLines } from "./run-log-bounds.js";
import { AttemptLog } from "./worker/run-log.js";

const T = new Date("2026-01-01T00:00:00Z");
const line = (seq: number, message: string): RunLogLine =>
  create(RunLogLineSchema, { attempt: 1, seq, level: RunLogLevel.INFO, time: timestampFromDate(T), message });
const lines = (...messages: string[]) => messages.map((m, i) => line(i + 1, m));
/** A line as [seq, level, message], or [seq, "DROPPED", count] for a marker. */
const shape = (l: RunLogLine) => (l.level === RunLogLevel.DROPPED ? [l.seq, "DROPPED", l.fields?.dropped] : [l.seq, RunLogLevel[l.level], l.message]);

describe("boundRunLogLines", () => {
  const cases: { name: string; input: RunLogLine[]; maxLines: number; maxChars: number; used?: { lines: number; chars: number }; want: unknown[] }[] = [
    { name: "all fit", input: lines("a", "b"), maxLines: 5, maxChars: 100, want: [[1, "INFO", "a"], [2, "INFO", "b"]] },
    { name: "line limit drops the rest", input: lines("a", "b", "c", "d"), maxLines: 2, maxChars: 100, want: [[1, "INFO", "a"], [2, "INFO", "b"], [3, "DROPPED", 2]] },
    {
      name: "char limit drops from the first line that does not fit, even if a later one would",
      input: lines("aaaa", "bbbbbb", "c"),
      maxLines: 10,
      maxChars: 6,
      want: [[1, "INFO", "aaaa"], [2, "DROPPED", 2]],
    },
    { name: "usage of earlier attempts counts", input: lines("a", "b"), maxLines: 3, maxChars: 100, used: { lines: 2, chars: 2 }, want: [[1, "INFO", "a"], [2, "DROPPED", 1]] },
    { name: "nothing left: only a marker", input: lines("a"), maxLines: 1, maxChars: 100, used: { lines: 1, chars: 1 }, want: [[1, "DROPPED", 1]] },
    {
      name: "a worker's marker is merged into the server's",
      input: [...lines("a", "b"), create(RunLogLineSchema, { attempt: 1, seq: 3, level: RunLogLevel.DROPPED, message: "x", fields: { dropped: 7 } })],
      maxLines: 1,
      maxChars: 100,
      want: [[1, "INFO", "a"], [2, "DROPPED", 8]],
    },
    {
      name: "a worker's marker within the limits is kept as it was",
      input: [...lines("a"), create(RunLogLineSchema, { attempt: 1, seq: 2, level: RunLogLevel.DROPPED, message: "x", fields: { dropped: 3 } })],
      maxLines: 10,
      maxChars: 100,
      want: [[1, "INFO", "a"], [2, "DROPPED", 3]],
    },
    { name: "fields count against the char limit", input: [create(RunLogLineSchema, { attempt: 1, seq: 1, message: "a", fields: { k: "vvvvvvvv" } })], maxLines: 10, maxChars: 5, want: [[1, "DROPPED", 1]] },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(boundRunLogLines(c.input, { maxLines: c.maxLines, maxChars: c.maxChars }, c.used).map(shape)).toEqual(c.want);
    });
  }
});

describe("AttemptLog (the Worker's side)", () => {
  it("numbers lines, keeps levels and fields, and marks what it dropped past the limits", () => {
    const log = new AttemptLog(2, { maxLines: 2, maxChars: 1000 }, () => T);
    log.debug("one");
    log.warn("two", { n: 2 });
    log.error("three");
    log.info("four");
    const taken = log.take();
    expect(taken.map(shape)).toEqual([[1, "DEBUG", "one"], [2, "WARN", "two"], [3, "DROPPED", 2]]);
    expect(taken.every((l) => l.attempt === 2)).toBe(true);
    expect(taken[1].fields).toEqual({ n: 2 });
  });

  it("drops on the char limit and takes fields that JSON cannot hold without throwing", () => {
    const log = new AttemptLog(1, { maxLines: 100, maxChars: 40 }, () => T);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    log.info("x", cyclic as never);
    log.info("0123456789");
    const taken = log.take();
    expect(taken.map(shape)).toEqual([[1, "INFO", "x"], [2, "DROPPED", 1]]);
    expect(taken[0].fields).toEqual({ unserializable: "[object Object]" });
  });
});
