import { describe, expect, it } from "vitest";
import { JobState } from "@chime/sdk/gen/job_pb";
import { RunState } from "@chime/sdk/gen/run_pb";
import { autoPauseDue } from "./auto-pause-decision.js";

const F = RunState.FAILED;
const T = RunState.TIMED_OUT;
const S = RunState.SUCCEEDED;

describe("autoPauseDue", () => {
  const cases: Array<[string, JobState, number, RunState[], boolean]> = [
    ["off (0) however long the streak", JobState.ACTIVE, 0, [F, F, F, F], false],
    ["three failures reach 3", JobState.ACTIVE, 3, [F, F, F], true],
    ["a time-out counts as a failure", JobState.ACTIVE, 3, [T, F, T], true],
    ["three failures after a success reach 3", JobState.ACTIVE, 3, [F, F, F, S], true],
    ["two failures do not reach 3", JobState.ACTIVE, 3, [F, F], false],
    ["a success breaks the streak", JobState.ACTIVE, 3, [F, F, S, F], false],
    ["the newest run succeeded", JobState.ACTIVE, 3, [S, F, F, F], false],
    ["a longer streak (the option set during it) pauses", JobState.ACTIVE, 3, [F, F, F, F], true],
    ["a streak of 1: any failure", JobState.ACTIVE, 1, [F], true],
    ["a streak of 1, the newest run succeeded", JobState.ACTIVE, 1, [S, F], false],
    ["already paused (by hand or by the streak)", JobState.PAUSED, 3, [F, F, F], false],
    ["completed", JobState.COMPLETED, 3, [F, F, F], false],
    // Runs before the last resume are left out by the caller: the new streak starts empty.
    ["after a resume, the first failure of 2", JobState.ACTIVE, 2, [F], false],
    ["after a resume, the second failure of 2", JobState.ACTIVE, 2, [F, F], true],
  ];
  it.each(cases)("%s", (_, state, pauseAfterFailures, states, due) => {
    expect(autoPauseDue({ state, pauseAfterFailures }, states)).toBe(due);
  });
});
