import { afterEach, describe, expect, it, vi } from "vitest";
import { create } from "@bufbuild/protobuf";
import { AutoPauseSchema, JobSchema, JobState } from "@chime/sdk";
import { printJob } from "./render.js";

describe("printJob", () => {
  afterEach(() => vi.restoreAllMocks());

  const printed = (job: Parameters<typeof printJob>[0]) => {
    let out = "";
    vi.spyOn(process.stdout, "write").mockImplementation((chunk) => ((out += String(chunk)), true));
    printJob(job, "table");
    return out;
  };

  it("says why a job paused itself, and says nothing of it otherwise", () => {
    const job = create(JobSchema, { id: "j1", name: "nightly", queue: "q", state: JobState.PAUSED });
    expect(printed(job)).not.toContain("paused by");
    job.autoPause = create(AutoPauseSchema, { failureStreak: 3, lastRunId: "r9" });
    expect(printed(job)).toMatch(/^paused by: +3 failed runs in a row \(last r9\)$/m);
  });
});
