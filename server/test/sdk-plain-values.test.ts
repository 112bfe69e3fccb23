import { describe, expect, it } from "vitest";
import { ChimeError } from "@chime/sdk";
import { useTestServer } from "./helpers/test-server.js";

const fixture = useTestServer();

describe("the SDK's plain values and ChimeError against a real server", () => {
  it("returns jobs and runs as Dates, numbers and enum names", async () => {
    const job = await fixture.chime.jobs.create({
      name: "plain-cron",
      queue: "plain",
      schedule: { cron: "0 0 1 1 *", timeZone: "Europe/Paris" },
      labels: { team: "ops" },
      attemptTimeout: "30s",
      overlap: "skip",
      misfire: "run_once",
    });
    expect(job).toMatchObject({ state: "active", schedule: { cron: "0 0 1 1 *", timeZone: "Europe/Paris" }, attemptTimeout: 30_000, overlap: "skip", misfire: "run_once", runCount: 0 });
    expect(job.nextRunTime).toBeInstanceOf(Date);
    expect(job.createTime).toBeInstanceOf(Date);

    expect((await fixture.chime.jobs.get(job.id)).labels).toEqual({ team: "ops" });
    expect((await fixture.chime.jobs.update(job.id, { schedule: { every: "10s" } })).schedule).toMatchObject({ every: 10_000, anchor: expect.any(Date) });
    expect((await fixture.chime.jobs.pause(job.id)).state).toBe("paused");
    const paused = [];
    for await (const listed of fixture.chime.jobs.list({ state: "paused", queue: "plain" })) paused.push(listed.id);
    expect(paused).toEqual([job.id]);
    expect((await fixture.chime.jobs.resume(job.id)).state).toBe("active");

    const run = await fixture.chime.jobs.trigger(job.id);
    expect(run).toMatchObject({ jobId: job.id, state: "queued", trigger: "manual" });
    expect(run.scheduledTime).toBeInstanceOf(Date);
    expect((await fixture.chime.runs.get(run.id)).id).toBe(run.id);
    const queued = [];
    for await (const listed of fixture.chime.runs.list({ jobId: job.id, states: ["queued"] })) queued.push(listed.id);
    expect(queued).toContain(run.id);
    expect((await fixture.chime.runs.cancel(run.id)).state).toBe("cancelled");

    await fixture.chime.jobs.delete(job.id);
    const gone = await fixture.chime.jobs.get(job.id).then(() => undefined, (e: unknown) => e);
    expect(gone).toBeInstanceOf(ChimeError);
    expect((gone as ChimeError).codeName).toBe("NOT_FOUND");
  });

  it("throws a ChimeError naming the field the server rejected", async () => {
    const error = await fixture.chime.jobs.create({ name: "no-queue", queue: "", schedule: "immediate" }).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(ChimeError);
    const chimeError = error as ChimeError;
    expect(chimeError.codeName).toBe("INVALID_ARGUMENT");
    expect(chimeError.fieldViolations.map((v) => v.field)).toContain("job.queue");
  });

  it("gives watch snapshots as plain values", async () => {
    const job = await fixture.chime.jobs.create({ name: "plain-watch", queue: "plain-watch", schedule: { cron: "0 0 1 1 *" } });
    const controller = new AbortController();
    for await (const message of fixture.chime.jobs.watch(job.id, { signal: controller.signal })) {
      expect(message).toMatchObject({ kind: "snapshot", job: { id: job.id, state: "active" }, activeRuns: [] });
      break;
    }
    controller.abort();
    expect(await fixture.chime.jobs.preview({ cron: "0 0 1 1 *", timeZone: "UTC" }, 2, new Date("2026-06-01T00:00:00Z"))).toEqual([
      new Date("2027-01-01T00:00:00Z"),
      new Date("2028-01-01T00:00:00Z"),
    ]);
  });
});
