import { describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { JobState, RunState } from "@chime/sdk";
import { useTestServer } from "./helpers/test-server.js";

const fixture = useTestServer();

async function codeOf(promise: Promise<unknown>): Promise<Code | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return ConnectError.from(error).code;
  }
}

describe("JobService through the SDK over HTTP/2", () => {
  it("creates, reads, updates, pauses, resumes, triggers and deletes a job", async () => {
    const job = await fixture.chime.createJob({
      name: "sdk-cron",
      queue: "emails",
      schedule: { cron: "*/5 * * * * *", timeZone: "Europe/Paris" },
      payload: { to: "ops@example.com" },
      labels: { team: "ops" },
    });
    expect(job.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(job.state).toBe(JobState.ACTIVE);
    expect(job.nextRunTime).toBeDefined();
    expect(job.payload).toEqual({ to: "ops@example.com" });

    const fetched = await fixture.chime.getJob(job.id);
    expect(fetched.name).toBe("sdk-cron");
    expect(fetched.schedule?.kind.case).toBe("cron");

    const updated = await fixture.chime.updateJob(job.id, { labels: { team: "platform" }, schedule: { every: "10s" } });
    expect(updated.labels).toEqual({ team: "platform" });
    expect(updated.schedule?.kind.case).toBe("interval");
    expect(updated.name).toBe("sdk-cron");
    expect(updated.payload).toEqual({ to: "ops@example.com" });

    expect((await fixture.chime.pauseJob(job.id)).state).toBe(JobState.PAUSED);
    expect((await fixture.chime.resumeJob(job.id)).state).toBe(JobState.ACTIVE);

    const run = await fixture.chime.triggerJob(job.id);
    expect(run.jobId).toBe(job.id);
    expect(run.state).toBe(RunState.QUEUED);
    expect((await fixture.chime.getRun(run.id)).id).toBe(run.id);

    await fixture.chime.deleteJob(job.id);
    expect(await codeOf(fixture.chime.getJob(job.id))).toBe(Code.NotFound);
    // Deleting cancels the job's queued runs; they stay readable.
    expect((await fixture.chime.getRun(run.id)).state).toBe(RunState.CANCELLED);
  });

  it("pages through jobs and runs with filters", async () => {
    for (let i = 0; i < 25; i++) {
      await fixture.chime.createJob({
        name: `page-${String(i).padStart(2, "0")}`,
        queue: i % 2 ? "odd" : "even",
        schedule: { every: "1h" },
        labels: i % 5 === 0 ? { tier: "gold" } : {},
      });
    }
    const all: string[] = [];
    for await (const job of fixture.chime.listJobs({ namePrefix: "page-", pageSize: 4 })) all.push(job.name);
    expect(all).toHaveLength(25);
    expect(new Set(all).size).toBe(25);

    const odd: string[] = [];
    for await (const job of fixture.chime.listJobs({ namePrefix: "page-", queue: "odd", pageSize: 3 })) odd.push(job.name);
    expect(odd).toHaveLength(12);

    const gold: string[] = [];
    for await (const job of fixture.chime.listJobs({ namePrefix: "page-", labelSelector: "tier=gold" })) gold.push(job.name);
    expect(gold.sort()).toEqual(["page-00", "page-05", "page-10", "page-15", "page-20"]);

    const notGold: string[] = [];
    for await (const job of fixture.chime.listJobs({ namePrefix: "page-", labelSelector: "!tier" })) notGold.push(job.name);
    expect(notGold).toHaveLength(20);

    const target = (await fixture.chime.listJobs({ namePrefix: "page-00" }).next()).value!;
    const triggered = [];
    for (let i = 0; i < 7; i++) triggered.push((await fixture.chime.triggerJob(target.id)).id);
    const runs: string[] = [];
    for await (const run of fixture.chime.listRuns({ jobId: target.id, pageSize: 3 })) runs.push(run.id);
    expect(runs).toEqual([...triggered].reverse());
    const cancelled = await fixture.chime.cancelRun(triggered[0]);
    expect(cancelled.state).toBe(RunState.CANCELLED);
    const queued: string[] = [];
    for await (const run of fixture.chime.listRuns({ jobId: target.id, states: [RunState.QUEUED], pageSize: 2 })) queued.push(run.id);
    expect(queued).toHaveLength(6);
    expect(await codeOf(fixture.chime.cancelRun(triggered[0]))).toBe(Code.FailedPrecondition);
  });

  it("answers each error with the right code and a message naming the field", async () => {
    const base = { name: "errs", queue: "q", schedule: { every: "5s" } } as const;
    const cases: Array<[() => Promise<unknown>, Code, RegExp]> = [
      [() => fixture.chime.createJob({ ...base, schedule: { cron: "61 * * * *" } }), Code.InvalidArgument, /job\.schedule\.cron\.expression/],
      [() => fixture.chime.createJob({ ...base, schedule: { cron: "* * * * *", timeZone: "Mars/Olympus" } }), Code.InvalidArgument, /job\.schedule\.cron\.time_zone/],
      [() => fixture.chime.createJob({ ...base, schedule: { at: new Date(Date.now() - 60_000) } }), Code.InvalidArgument, /job\.schedule\.at\.time.*past/],
      [() => fixture.chime.createJob({ ...base, schedule: { every: 0 } }), Code.InvalidArgument, /job\.schedule\.interval\.every/],
      [() => fixture.chime.createJob({ ...base, schedule: { every: -5000 } }), Code.InvalidArgument, /job\.schedule\.interval\.every/],
      [() => fixture.chime.createJob({ ...base, name: "" }), Code.InvalidArgument, /job\.name: is required/],
      [() => fixture.chime.createJob({ ...base, queue: "" }), Code.InvalidArgument, /job\.queue: is required/],
      [() => fixture.chime.createJob({ ...base, payload: { blob: "x".repeat(300 * 1024) } }), Code.InvalidArgument, /job\.payload: .*exceeds the limit/],
      [() => fixture.chime.jobService.updateJob({ job: { id: "00000000-0000-7000-8000-000000000000" }, updateMask: { paths: ["bogus"] } }), Code.InvalidArgument, /update_mask: unknown/],
      [() => fixture.chime.getJob("00000000-0000-7000-8000-000000000000"), Code.NotFound, /not found/],
      [() => fixture.chime.getJob("not-an-id"), Code.InvalidArgument, /^.*id: .*not a valid id/],
    ];
    for (const [call, code, message] of cases) {
      const error = await call().then(
        () => undefined,
        (e: unknown) => ConnectError.from(e),
      );
      expect(error, String(message)).toBeDefined();
      expect(Code[error!.code], error!.rawMessage).toBe(Code[code]);
      expect(error!.rawMessage).toMatch(message);
    }

    const first = await fixture.chime.createJob(base);
    expect(await codeOf(fixture.chime.createJob(base))).toBe(Code.AlreadyExists);
    expect(await codeOf(fixture.chime.resumeJob(first.id))).toBe(Code.FailedPrecondition);
    const paused = await fixture.chime.pauseJob(first.id);
    expect(await codeOf(fixture.chime.pauseJob(paused.id))).toBe(Code.FailedPrecondition);
    const other = await fixture.chime.createJob({ ...base, name: "errs-2" });
    expect(await codeOf(fixture.chime.updateJob(other.id, { name: "errs" }))).toBe(Code.AlreadyExists);
  });

  it("returns the same job for a retried create with the same request id", async () => {
    const spec = { name: "idempotent", queue: "q", schedule: { every: "1m" } } as const;
    const [a, b] = await Promise.all([
      fixture.chime.createJob(spec, { requestId: "req-1" }),
      fixture.chime.createJob(spec, { requestId: "req-1" }),
    ]);
    expect(a.id).toBe(b.id);
    const again = await fixture.chime.createJob(spec, { requestId: "req-1" });
    expect(again.id).toBe(a.id);
    let count = 0;
    for await (const job of fixture.chime.listJobs({ namePrefix: "idempotent" })) count += job.name === "idempotent" ? 1 : 0;
    expect(count).toBe(1);
  });

  it("answers many concurrent creates (coalesced into shared statements) each on its own", async () => {
    const names = Array.from({ length: 300 }, (_, i) => `burst-${i % 250}`);
    const results = await Promise.allSettled(
      names.map((name, i) => fixture.chime.createJob({ name, queue: "burst", schedule: { every: "1h" } }, i % 7 === 0 ? { requestId: `burst-req-${i}` } : {})),
    );
    const created = results.filter((r) => r.status === "fulfilled");
    const refused = results.filter((r) => r.status === "rejected").map((r) => ConnectError.from((r as PromiseRejectedResult).reason));
    expect(created).toHaveLength(250);
    expect(refused).toHaveLength(50);
    for (const error of refused) expect(error.code).toBe(Code.AlreadyExists);
    let stored = 0;
    for await (const job of fixture.chime.listJobs({ queue: "burst" })) stored += job.name.startsWith("burst-") ? 1 : 0;
    expect(stored).toBe(250);
  });

  it("previews upcoming fire times", async () => {
    const after = new Date("2030-01-01T00:00:00Z");
    const times = await fixture.chime.previewSchedule({ cron: "0 */15 * * * *" }, 3, after);
    expect(times.map((t) => t.toISOString())).toEqual([
      "2030-01-01T00:15:00.000Z",
      "2030-01-01T00:30:00.000Z",
      "2030-01-01T00:45:00.000Z",
    ]);
  });
});
