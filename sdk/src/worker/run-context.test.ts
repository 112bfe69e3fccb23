import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RunLogLevel, type RunLogLine } from "../gen/chime/v1/run_pb.js";
import { DEFAULT_RUN_LOG_LIMITS } from "../run-log-bounds.js";
import { LazyAbort } from "./lazy-abort.js";
import { RunContext } from "./run-context.js";
import { AttemptLog } from "./run-log.js";

const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

describe("AttemptLog", () => {
  it("takeNew hands out each line once, in order; take returns them all, the drop marker last", () => {
    const log = new AttemptLog(2, { maxLines: 3, maxChars: 1_000_000 }, () => new Date(0));
    log.info("a");
    log.info("b");
    expect(log.takeNew().map((l) => [l.seq, l.message])).toEqual([[1, "a"], [2, "b"]]);
    expect(log.takeNew()).toEqual([]);
    log.info("c");
    log.info("d (dropped)");
    expect(log.takeNew().map((l) => l.message)).toEqual(["c"]);
    expect(log.take().map((l) => [l.attempt, l.seq, l.level === RunLogLevel.DROPPED ? "marker" : l.message])).toEqual([
      [2, 1, "a"],
      [2, 2, "b"],
      [2, 3, "c"],
      [2, 4, "marker"],
    ]);
  });
});

describe("RunContext live log lines", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  const contextSending = (sent: RunLogLine[][]) =>
    new RunContext(silent, { runId: "r", attempt: 1, queue: "q" }, new LazyAbort(), () => undefined, DEFAULT_RUN_LOG_LIMITS, {
      everyMs: 1000,
      send: (lines) => sent.push(lines),
    });

  it("sends the lines of each span within everyMs of its first line, together", () => {
    const sent: RunLogLine[][] = [];
    const context = contextSending(sent);
    context.log.info("one");
    vi.advanceTimersByTime(500);
    context.log.info("two");
    expect(sent).toEqual([]);
    vi.advanceTimersByTime(500);
    expect(sent.map((lines) => lines.map((l) => l.message))).toEqual([["one", "two"]]);
    vi.advanceTimersByTime(5000);
    expect(sent).toHaveLength(1); // nothing new, nothing sent
    context.log.warn("three");
    vi.advanceTimersByTime(1000);
    expect(sent.map((lines) => lines.map((l) => l.message))).toEqual([["one", "two"], ["three"]]);
  });

  it("sends nothing live once the attempt's end took its lines (all of them)", () => {
    const sent: RunLogLine[][] = [];
    const context = contextSending(sent);
    context.log.info("one");
    vi.advanceTimersByTime(1000);
    context.log.info("two");
    expect(context.takeLogLines()!.map((l) => l.message)).toEqual(["one", "two"]);
    vi.advanceTimersByTime(5000);
    expect(sent.map((lines) => lines.map((l) => l.message))).toEqual([["one"]]);
  });

  it("arms no timer for a handler that never logs", () => {
    const context = contextSending([]);
    void context.signal;
    expect(vi.getTimerCount()).toBe(0);
    expect(context.takeLogLines()).toBeUndefined();
  });
});
