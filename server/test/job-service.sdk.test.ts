import { describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { create, toBinary } from "@bufbuild/protobuf";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { BatchCreateJobsRequestSchema, ChimeError, createChimeClient, JobState, RunState, toJob } from "@chime/sdk";
import { codeOf } from "./helpers/error-code.js";
import { useTestServer } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";

const fixture = useTestServer();

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

  it("sends concurrent createJob calls as BatchCreateJobs calls, each caller getting CreateJob's answer", async () => {
    // Counts the RPCs the client makes, on a gRPC transport of its own to the same server.
    const methods: string[] = [];
    const counted = createGrpcTransport({ baseUrl: fixture.server.grpcUrl, interceptors: [(next) => (req) => (methods.push(req.method.name), next(req))] });
    const chime = createChimeClient({ baseUrl: fixture.server.grpcUrl, transport: counted, createBatchSize: 20 });
    const alone = createChimeClient({ baseUrl: fixture.server.grpcUrl, createBatchSize: 1 });
    const spec = (name: string) => ({ name, queue: "coalesced", schedule: { every: "1h" } }) as const;
    const invalid = { name: "coalesced-bad", queue: "coalesced", schedule: { cron: "not a cron" } } as const;
    await alone.createJob(spec("coalesced-taken"));
    const asError = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as ChimeError);

    const calls = [
      ...Array.from({ length: 48 }, (_, i) => chime.createJob(spec(`coalesced-${i}`))),
      chime.createJob(invalid),
      chime.createJob(spec("coalesced-taken")),
    ];
    const results = await Promise.allSettled(calls);
    const jobs = results.slice(0, 48).map((r) => (r.status === "fulfilled" ? r.value.name : `rejected: ${String((r as PromiseRejectedResult).reason)}`));
    expect(jobs).toEqual(Array.from({ length: 48 }, (_, i) => `coalesced-${i}`));
    // 50 calls in batches of at most 20, then the two the batches refused, each alone.
    expect(methods.filter((m) => m === "BatchCreateJobs")).toHaveLength(3);
    expect(methods.filter((m) => m === "CreateJob")).toHaveLength(2);

    // The refused ones got what CreateJob alone answers: code, message and field violations.
    const [badError, takenError] = await Promise.all([asError(calls[48]), asError(calls[49])]);
    for (const [got, again] of [
      [badError, await asError(alone.createJob(invalid))],
      [takenError, await asError(alone.createJob(spec("coalesced-taken")))],
    ] as const) {
      expect(got, "a refused call").toBeInstanceOf(ChimeError);
      expect({ code: got!.code, message: got!.rawMessage, fields: got!.fieldViolations }).toEqual({ code: again!.code, message: again!.rawMessage, fields: again!.fieldViolations });
    }
    expect(badError!.code).toBe(Code.InvalidArgument);
    expect(badError!.fieldViolations.map((v) => v.field)).toEqual(["job.schedule.cron.expression"]);
    expect(takenError!.code).toBe(Code.AlreadyExists);
    const stored = await fixture.server.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM jobs WHERE queue = 'coalesced'");
    expect(stored.rows[0].n).toBe(49);
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

describe("batchCreateJobs through the SDK over HTTP/2", () => {
  const jobsNamed = async (prefix: string) =>
    (await fixture.server.pool.query<{ name: string }>("SELECT name FROM jobs WHERE starts_with(name, $1) ORDER BY name", [prefix])).rows.map((r) => r.name);
  const expectInvalidJobs = async (count: number) => {
    const specs = Array.from({ length: count }, (_, i) => ({ name: `batch-size-${count}-${i}`, queue: "batch", schedule: "immediate" as const }));
    const error = await fixture.chime.batchCreateJobs(specs).then(() => undefined, (e: unknown) => ConnectError.from(e));
    expect(error?.code).toBe(Code.InvalidArgument);
    expect(error?.rawMessage).toBe(`jobs: expected 1 to 1000 items, got ${count}`);
  };

  it("creates every job in order and schedules them: immediate ones run", async () => {
    const specs = Array.from({ length: 40 }, (_, i) => ({
      name: `batch-all-${String(i).padStart(2, "0")}`,
      queue: "batch",
      schedule: i % 2 ? ({ every: "1h" } as const) : ("immediate" as const),
      payload: { i },
      labels: { batch: "all" },
    }));
    const results = await fixture.chime.batchCreateJobs(specs);
    expect(results.map((r) => r.case)).toEqual(specs.map(() => "created"));
    const jobs = results.map((r) => (r.case === "created" ? r.value : undefined)!);
    expect(jobs.map((j) => j.name)).toEqual(specs.map((s) => s.name));
    expect(jobs.map((j) => j.payload)).toEqual(specs.map((s) => s.payload));
    expect(new Set(jobs.map((j) => j.id)).size).toBe(40);
    for (const job of jobs) {
      expect(job.state).toBe(JobState.ACTIVE);
      expect(job.namespace).toBe("default");
      expect(job.nextRunTime).toBeDefined();
      expect(job.retryPolicy?.maxAttempts).toBe(3);
    }
    // What was answered is what is stored.
    const stored = await fixture.chime.getJob(jobs[7].id);
    expect(stored).toEqual(jobs[7]);
    expect(await jobsNamed("batch-all-")).toEqual(specs.map((s) => s.name));
    // The scheduler was woken and fires the immediate ones now, not at its next idle poll.
    const immediate = jobs.filter((_, i) => i % 2 === 0).map((j) => j.id);
    await waitFor("a run of every immediate job", async () => {
      const { rows } = await fixture.server.pool.query<{ n: number }>(
        "SELECT count(DISTINCT job_id)::int AS n FROM runs WHERE job_id = ANY($1::uuid[])",
        [immediate],
      );
      return rows[0].n === immediate.length;
    });
    const recurring = jobs.filter((_, i) => i % 2 === 1).map((j) => j.id);
    const { rows } = await fixture.server.pool.query("SELECT 1 FROM runs WHERE job_id = ANY($1::uuid[])", [recurring]);
    expect(rows).toHaveLength(0);
  });

  it("refuses each invalid item on its own, naming jobs[i]'s field, and writes the valid ones", async () => {
    const results = await fixture.chime.batchCreateJobs([
      { name: "batch-mixed-0", queue: "batch", schedule: { every: "1h" } },
      { name: "batch-mixed-1", queue: "batch", schedule: { cron: "61 * * * *" } },
      { name: "batch-mixed-2", queue: "batch", schedule: { every: "1h" } },
      { name: "batch-mixed-3", queue: "", schedule: { every: "1h" }, retry: { maxAttempts: 500 } },
      { name: "batch-mixed-4", queue: "batch", schedule: { every: "1h" }, requestId: "r".repeat(201) },
    ]);
    expect(results.map((r) => r.case)).toEqual(["created", "error", "created", "error", "error"]);
    const error = (i: number) => (results[i].case === "error" ? results[i].value : undefined)!;
    expect(error(1).code).toBe(Code.InvalidArgument);
    expect(error(1).message).toMatch(/^jobs\[1\]\.job\.schedule\.cron\.expression: invalid cron "61 \* \* \* \*"/);
    expect(error(3).code).toBe(Code.InvalidArgument);
    expect(error(3).message).toMatch(/^jobs\[3\]\.job\.queue: is required; jobs\[3\]\.job\.retry_policy\.max_attempts: /);
    expect(error(4)).toMatchObject({ code: Code.InvalidArgument, message: "jobs[4].request_id: longer than 200 characters" });
    expect(await jobsNamed("batch-mixed-")).toEqual(["batch-mixed-0", "batch-mixed-2"]);
  });

  it("refuses a name taken by a live job, or twice in the batch, with ALREADY_EXISTS", async () => {
    const live = await fixture.chime.createJob({ name: "batch-taken", queue: "batch", schedule: { every: "1h" } });
    const deleted = await fixture.chime.createJob({ name: "batch-freed", queue: "batch", schedule: { every: "1h" } });
    await fixture.chime.deleteJob(deleted.id);
    const results = await fixture.chime.batchCreateJobs([
      { name: "batch-taken", queue: "batch", schedule: { every: "1h" } },
      { name: "batch-twice", queue: "batch", schedule: { every: "1h" } },
      { name: "batch-twice", queue: "other", schedule: { every: "2h" } },
      { name: "batch-freed", queue: "batch", schedule: { every: "1h" } },
      { name: "batch-taken", namespace: "tenant-b", queue: "batch", schedule: { every: "1h" } },
    ]);
    expect(results.map((r) => r.case)).toEqual(["error", "created", "error", "created", "created"]);
    expect(results[0]).toMatchObject({
      value: { code: Code.AlreadyExists, message: 'jobs[0].job.name: a job named "batch-taken" already exists in namespace "default"' },
    });
    expect(results[2]).toMatchObject({
      value: { code: Code.AlreadyExists, message: 'jobs[2].job.name: jobs[1] of this call is also named "batch-twice" in namespace "default"' },
    });
    expect((await fixture.chime.getJob(live.id)).updateTime).toEqual(live.updateTime);
    const { rows } = await fixture.server.pool.query<{ name: string; queue: string }>(
      "SELECT name, queue FROM jobs WHERE name = 'batch-twice'",
    );
    expect(rows).toEqual([{ name: "batch-twice", queue: "batch" }]);
  });

  it("answers a request id seen before, in an earlier call or earlier in the same call, with its job", async () => {
    const spec = (name: string, requestId: string) => ({ name, queue: "batch", schedule: { every: "1h" } as const, requestId });
    const first = await fixture.chime.batchCreateJobs([spec("batch-idem-a", "req-a"), spec("batch-idem-b", "req-b"), spec("batch-idem-a2", "req-a")]);
    expect(first.map((r) => r.case)).toEqual(["created", "created", "existing"]);
    expect(first[2].value).toEqual(first[0].value);
    const single = await fixture.chime.createJob({ name: "batch-idem-c", queue: "batch", schedule: { every: "1h" } }, { requestId: "req-c" });

    // A retried call: the same request ids give the same jobs, whatever the names say now.
    const retried = await fixture.chime.batchCreateJobs([
      spec("batch-idem-b", "req-b"),
      spec("batch-idem-a-renamed", "req-a"),
      spec("batch-idem-c", "req-c"),
      spec("batch-idem-d", "req-d"),
      { ...spec("batch-idem-b", "req-b"), namespace: "tenant-b" },
    ]);
    expect(retried.map((r) => r.case)).toEqual(["existing", "existing", "existing", "created", "created"]);
    expect(retried[0].value).toEqual(first[1].value);
    expect(retried[1].value).toEqual(first[0].value);
    expect((retried[2].value as typeof single).id).toBe(single.id);
    expect(await jobsNamed("batch-idem-")).toEqual(["batch-idem-a", "batch-idem-b", "batch-idem-b", "batch-idem-c", "batch-idem-d"]);
  });

  it("takes 1 to 1000 jobs: 0 and 1001 are INVALID_ARGUMENT naming jobs", async () => {
    await expectInvalidJobs(0);
    await expectInvalidJobs(1001);
    expect(await jobsNamed("batch-size-")).toEqual([]);
    // 1,000 jobs with a 1 KiB payload each (about 1.2 MB, answered with 1.3 MB) fit the
    // default message limit (CHIME_MAX_MESSAGE_BYTES, 4 MiB) both ways.
    expect(fixture.server.config.maxMessageBytes).toBe(4 * 1024 * 1024);
    const payload = { customer: 123_456, email: "someone@example.com", template: "welcome", note: "x".repeat(1000) };
    const specs = Array.from({ length: 1000 }, (_, i) => ({
      name: `batch-max-${i}`,
      queue: "batch",
      schedule: { cron: "0 9 * * MON-FRI", timeZone: "Europe/Paris" },
      labels: { team: "growth", env: "prod" },
      payload,
      requestId: `batch-max-request-${i}`,
    }));
    const request = create(BatchCreateJobsRequestSchema, { jobs: specs.map(({ requestId, ...spec }) => ({ job: toJob(spec), requestId })) });
    expect(toBinary(BatchCreateJobsRequestSchema, request).length).toBeGreaterThan(1_200_000);
    const results = await fixture.chime.batchCreateJobs(specs);
    expect(results.filter((r) => r.case === "created")).toHaveLength(1000);
    expect((await jobsNamed("batch-max-")).length).toBe(1000);
    // A retry answers every one as existing: the same size of answer.
    expect((await fixture.chime.batchCreateJobs(specs)).filter((r) => r.case === "existing")).toHaveLength(1000);
  });
});
