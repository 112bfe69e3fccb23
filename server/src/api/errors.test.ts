import { describe, expect, it } from "vitest";
import { BadRequestSchema } from "@chime/sdk";
import { invalidArgument } from "./errors.js";

const violationsOf = (message: string) =>
  invalidArgument(message).findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations.map(({ field, description }) => [field, description]));

describe("invalidArgument's field violations", () => {
  it.each([
    ["job.queue: required", [["job.queue", "required"]]],
    ["job.queue: required; jobs[2].job.name: too long", [["job.queue", "required"], ["jobs[2].job.name", "too long"]]],
    // A problem whose own text holds "; " stays one violation.
    ["job.schedule.cron.expression: invalid cron \"x\": bad; got 1; job.queue: required", [["job.schedule.cron.expression", "invalid cron \"x\": bad; got 1"], ["job.queue", "required"]]],
    ["no field named here", [["", "no field named here"]]],
    ["first; second", [["", "first"], ["", "second"]]],
  ])("%s", (message, expected) => {
    expect(violationsOf(message)).toEqual(expected);
  });
});
