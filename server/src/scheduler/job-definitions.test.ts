import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { JobSchema, toSchedule, type ScheduleSpec } from "@chime/sdk";
import { specJson } from "../jobs/spec-json.js";
import { createJobDefinitions, type VersionedJobRow } from "./job-definitions.js";

function row(id: string, schedule: ScheduleSpec, version: number, queue = "q"): VersionedJobRow {
  const spec = specJson(create(JobSchema, { schedule: toSchedule(schedule) }));
  const t = new Date("2026-03-01T00:00:00Z");
  return { id, namespace: "default", name: id, queue, labels: {}, spec, state: 1, next_run_time: t, run_count: 0, create_time: t, update_time: t, definition_version: version };
}

describe("job definitions cache", () => {
  it("parses a recurring job once per definition version", () => {
    const definitions = createJobDefinitions();
    const first = definitions.get(row("a", { cron: "* * * * * *" }, 0));
    expect(definitions.get(row("a", { cron: "* * * * * *" }, 0))).toBe(first);
    const changed = definitions.get(row("a", { cron: "*/2 * * * * *" }, 1, "other"));
    expect(changed).not.toBe(first);
    expect(changed.queue).toBe("other");
    expect(changed.schedule?.kind.case).toBe("cron");
  });

  it("does not keep one-off jobs, and drops the oldest entry when full", () => {
    const definitions = createJobDefinitions(2);
    definitions.get(row("once", { at: new Date("2026-03-01T00:00:01Z") }, 0));
    expect(definitions.size).toBe(0);
    const a = definitions.get(row("a", { every: "1s" }, 0));
    definitions.get(row("b", { every: "1s" }, 0));
    definitions.get(row("c", { every: "1s" }, 0));
    expect(definitions.size).toBe(2);
    expect(definitions.get(row("a", { every: "1s" }, 0))).not.toBe(a);
  });
});
