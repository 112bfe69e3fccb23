import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { status } from "@grpc/grpc-js";
import {
  createJobServiceClient,
  duration,
  fromStruct,
  fromTimestamp,
  grpcError,
  timestamp,
  toStruct,
  type Message,
  type RawClient,
} from "./helpers/grpc-client.js";
import { startTestServer, type TestServer } from "./helpers/test-server.js";

/**
 * JobService through a client that shares nothing with the SDK: @grpc/grpc-js and
 * @grpc/proto-loader reading proto/ directly (snake_case JSON-ish objects).
 */

let server: TestServer;
let client: RawClient;
const UNKNOWN_ID = "00000000-0000-7000-8000-000000000000";
const YEARLY = { cron: { expression: "0 0 1 1 *", time_zone: "UTC" } };

beforeAll(async () => {
  // api only: no scheduler may create runs behind the test's back.
  server = await startTestServer({ CHIME_ROLES: "api" });
  client = createJobServiceClient(`127.0.0.1:${server.grpcPort}`);
});
afterAll(async () => {
  client?.close();
  await server?.close();
});

function job(overrides: Message = {}): Message {
  return { name: "grpc-js-job", queue: "emails", schedule: YEARLY, ...overrides };
}

async function createJob(overrides: Message = {}): Promise<Message> {
  const { job: created } = await client.call("CreateJob", { job: job(overrides) });
  return created;
}

describe("JobService over grpc-js with proto-loader", () => {
  it("creates and gets a job, with defaults filled in and output fields set", async () => {
    const before = Date.now();
    const created = await createJob({
      name: "grpc-js/create",
      payload: toStruct({ to: "ops@example.com", n: 3, nested: { ok: true, list: [1, "a", null] } }),
      labels: { team: "ops", env: "prod" },
      schedule: { cron: { expression: "0 30 9 * * 1-5", time_zone: "Europe/Paris" } },
      attempt_timeout: duration(90_000),
    });
    expect(created.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(created.namespace).toBe("default");
    expect(created.state).toBe("JOB_STATE_ACTIVE");
    expect(created.schedule.kind).toBe("cron");
    expect(created.schedule.cron).toEqual({
      expression: "0 30 9 * * 1-5",
      time_zone: "Europe/Paris",
      // The DST policies the server fills in: today's behaviour (shifted out of a gap, the first of a repeat).
      dst_gap: "DST_GAP_POLICY_SHIFT",
      dst_repeat: "DST_REPEAT_POLICY_FIRST",
    });
    expect(fromStruct(created.payload)).toEqual({ to: "ops@example.com", n: 3, nested: { ok: true, list: [1, "a", null] } });
    expect(created.labels).toEqual({ team: "ops", env: "prod" });
    expect(created.run_count).toBe("0");
    expect(created.attempt_timeout).toEqual(duration(90_000));
    // Defaults the server fills in.
    expect(created.retry_policy.max_attempts).toBe(3);
    expect(created.overlap_policy).toBe("OVERLAP_POLICY_ALLOW");
    expect(created.misfire_policy).toBe("MISFIRE_POLICY_RUN_ONCE");
    // 09:30 Paris on a weekday, in the future.
    const next = fromTimestamp(created.next_run_time)!;
    expect(next.getTime()).toBeGreaterThan(before);
    expect(next.toLocaleString("en-GB", { timeZone: "Europe/Paris", hour: "2-digit", minute: "2-digit", weekday: "short" })).toMatch(
      /^(Mon|Tue|Wed|Thu|Fri) 09:30$/,
    );
    expect(fromTimestamp(created.create_time)!.getTime()).toBeGreaterThanOrEqual(before - 1000);

    const { job: fetched } = await client.call("GetJob", { id: created.id });
    expect(fetched).toEqual(created);
  });

  it("lists jobs page by page with filters, and refuses a token reused with other filters", async () => {
    const names: string[] = [];
    for (let i = 0; i < 7; i++) {
      const name = `grpc-js/page-${i}`;
      names.push(name);
      await createJob({ name, queue: i % 2 ? "odd" : "even", labels: i < 3 ? { tier: "gold" } : {} });
    }
    const seen: string[] = [];
    const tokens: string[] = [];
    let token = "";
    do {
      const response = await client.call("ListJobs", { name_prefix: "grpc-js/page-", page_size: 3, page_token: token });
      expect(response.jobs.length).toBeLessThanOrEqual(3);
      seen.push(...response.jobs.map((j: Message) => j.name));
      token = response.next_page_token;
      if (token) tokens.push(token);
    } while (token);
    expect(tokens).toHaveLength(2);
    expect(seen.sort()).toEqual(names.sort());

    const odd = await client.call("ListJobs", { name_prefix: "grpc-js/page-", queue: "odd" });
    expect(odd.jobs.map((j: Message) => j.name).sort()).toEqual(["grpc-js/page-1", "grpc-js/page-3", "grpc-js/page-5"]);
    expect(odd.next_page_token).toBe("");
    const gold = await client.call("ListJobs", { name_prefix: "grpc-js/page-", label_selector: "tier=gold,!absent" });
    expect(gold.jobs).toHaveLength(3);
    const paused = await client.call("ListJobs", { name_prefix: "grpc-js/page-", state: "JOB_STATE_PAUSED" });
    expect(paused.jobs).toHaveLength(0);

    const reused = await grpcError(client.call("ListJobs", { name_prefix: "grpc-js/page-", queue: "odd", page_token: tokens[0] }));
    expect(reused.code).toBe(status.INVALID_ARGUMENT);
    expect(reused.details).toMatch(/^page_token: /);
    const forged = await grpcError(client.call("ListJobs", { page_token: "not-a-token" }));
    expect(forged.code).toBe(status.INVALID_ARGUMENT);
    expect(forged.details).toMatch(/^page_token: /);
  });

  it("updates only the fields named in the update mask", async () => {
    const created = await createJob({ name: "grpc-js/update", payload: toStruct({ keep: "me" }), labels: { a: "1" } });
    const { job: updated } = await client.call("UpdateJob", {
      // Queue and payload are sent changed but are not in the mask: they must stay.
      job: {
        id: created.id,
        queue: "ignored",
        payload: toStruct({ replaced: true }),
        labels: { b: "2" },
        schedule: { interval: { every: duration(45_000) } },
      },
      update_mask: { paths: ["labels", "schedule"] },
    });
    expect(updated.id).toBe(created.id);
    expect(updated.labels).toEqual({ b: "2" });
    expect(updated.schedule.kind).toBe("interval");
    expect(updated.schedule.interval.every).toEqual(duration(45_000));
    // An interval with no anchor is anchored when the schedule is set.
    expect(updated.schedule.interval.anchor).not.toBeNull();
    expect(updated.queue).toBe("emails");
    expect(fromStruct(updated.payload)).toEqual({ keep: "me" });
    expect(updated.name).toBe("grpc-js/update");
    expect(fromTimestamp(updated.update_time)!.getTime()).toBeGreaterThanOrEqual(fromTimestamp(created.update_time)!.getTime());

    const { job: renamed } = await client.call("UpdateJob", {
      job: { id: created.id, name: "grpc-js/updated", queue: "other" },
      update_mask: { paths: ["name", "queue"] },
    });
    expect(renamed.name).toBe("grpc-js/updated");
    expect(renamed.queue).toBe("other");
    expect(renamed.labels).toEqual({ b: "2" });
    expect((await client.call("GetJob", { id: created.id })).job).toEqual(renamed);
  });

  it("pauses, resumes, triggers, reads, lists and cancels runs, and deletes", async () => {
    const created = await createJob({ name: "grpc-js/lifecycle" });
    const { job: paused } = await client.call("PauseJob", { id: created.id });
    expect(paused.state).toBe("JOB_STATE_PAUSED");
    const { job: resumed } = await client.call("ResumeJob", { id: created.id });
    expect(resumed.state).toBe("JOB_STATE_ACTIVE");
    expect(resumed.next_run_time).toEqual(created.next_run_time);

    const triggered: Message[] = [];
    for (let i = 0; i < 5; i++) triggered.push((await client.call("TriggerJob", { id: created.id })).run);
    for (const run of triggered) {
      expect(run.job_id).toBe(created.id);
      expect(run.queue).toBe("emails");
      expect(run.state).toBe("RUN_STATE_QUEUED");
      expect(run.trigger).toBe("RUN_TRIGGER_MANUAL");
      expect(run.attempt).toBe(0);
    }
    expect(new Set(triggered.map((r) => r.id)).size).toBe(5);
    const { run: fetched } = await client.call("GetRun", { id: triggered[2].id });
    // A triggered run is dispatched at once (dispatch_time may be set by now); no worker takes it here.
    const { id, job_id, scheduled_time, trigger, create_time } = triggered[2];
    expect(fetched).toMatchObject({ id, job_id, scheduled_time, trigger, create_time, state: "RUN_STATE_QUEUED" });

    // Newest scheduled time first, two at a time.
    const listed: string[] = [];
    let token = "";
    let pages = 0;
    do {
      const page = await client.call("ListRuns", { job_id: created.id, page_size: 2, page_token: token });
      listed.push(...page.runs.map((r: Message) => r.id));
      token = page.next_page_token;
      pages += 1;
    } while (token);
    expect(pages).toBe(3);
    expect(listed).toEqual(triggered.map((r) => r.id).reverse());

    const { run: cancelled } = await client.call("CancelRun", { id: triggered[0].id });
    expect(cancelled.state).toBe("RUN_STATE_CANCELLED");
    expect(cancelled.end_time).not.toBeNull();
    const queued = await client.call("ListRuns", { job_id: created.id, states: ["RUN_STATE_QUEUED"] });
    expect(queued.runs).toHaveLength(4);
    const again = await grpcError(client.call("CancelRun", { id: triggered[0].id }));
    expect(again.code).toBe(status.FAILED_PRECONDITION);
    expect(again.details).toMatch(/already ended/);

    await client.call("DeleteJob", { id: created.id });
    expect((await grpcError(client.call("GetJob", { id: created.id }))).code).toBe(status.NOT_FOUND);
    expect((await grpcError(client.call("DeleteJob", { id: created.id }))).code).toBe(status.NOT_FOUND);
    expect((await grpcError(client.call("TriggerJob", { id: created.id }))).code).toBe(status.NOT_FOUND);
    // Its queued runs were cancelled and stay readable.
    const after = await client.call("ListRuns", { job_id: created.id });
    expect(after.runs).toHaveLength(5);
    expect(after.runs.every((r: Message) => r.state === "RUN_STATE_CANCELLED")).toBe(true);
    // The name is free again.
    expect((await createJob({ name: "grpc-js/lifecycle" })).id).not.toBe(created.id);
  });

  it("previews each kind of schedule", async () => {
    const after = new Date("2030-06-01T10:00:00Z");
    const preview = async (schedule: Message, count = 3) =>
      ((await client.call("PreviewSchedule", { schedule, count, after: timestamp(after) })).fire_times as Message[]).map(
        (t) => fromTimestamp(t)!.toISOString(),
      );
    expect(await preview({ cron: { expression: "0 0 * * *", time_zone: "UTC" } })).toEqual([
      "2030-06-02T00:00:00.000Z",
      "2030-06-03T00:00:00.000Z",
      "2030-06-04T00:00:00.000Z",
    ]);
    expect(await preview({ cron: { expression: "*/20 * * * * *" } })).toEqual([
      "2030-06-01T10:00:20.000Z",
      "2030-06-01T10:00:40.000Z",
      "2030-06-01T10:01:00.000Z",
    ]);
    expect(await preview({ interval: { every: duration(90_000), anchor: timestamp(new Date("2030-06-01T09:59:00Z")) } })).toEqual([
      "2030-06-01T10:00:30.000Z",
      "2030-06-01T10:02:00.000Z",
      "2030-06-01T10:03:30.000Z",
    ]);
    expect(await preview({ at: { time: timestamp(new Date("2031-01-01T00:00:00Z")) } })).toEqual(["2031-01-01T00:00:00.000Z"]);
    expect(
      await preview({ cron: { expression: "0 * * * *" }, max_runs: "2", start_time: timestamp(new Date("2030-06-01T12:30:00Z")) }, 10),
    ).toEqual(["2030-06-01T13:00:00.000Z", "2030-06-01T14:00:00.000Z"]);
    // Default count is 10.
    expect((await client.call("PreviewSchedule", { schedule: { cron: { expression: "* * * * *" } } })).fire_times).toHaveLength(10);

    const bad = await grpcError(client.call("PreviewSchedule", { schedule: { cron: { expression: "* * *" } } }));
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.details).toMatch(/^schedule\.cron\.expression: /);
    const tooMany = await grpcError(client.call("PreviewSchedule", { schedule: YEARLY, count: 101 }));
    expect(tooMany.code).toBe(status.INVALID_ARGUMENT);
    expect(tooMany.details).toMatch(/^count: /);
  });

  it("answers bad input with INVALID_ARGUMENT naming the field", async () => {
    const cases: Array<[string, Message, RegExp]> = [
      ["CreateJob", {}, /^job: is required/],
      ["CreateJob", { job: job({ name: "" }) }, /job\.name: is required/],
      ["CreateJob", { job: job({ name: " spaced name" }) }, /job\.name: expected letters/],
      ["CreateJob", { job: job({ queue: "" }) }, /job\.queue: is required/],
      ["CreateJob", { job: job({ queue: "a.b" }) }, /job\.queue: expected/],
      ["CreateJob", { job: job({ schedule: undefined }) }, /job\.schedule: one of immediate, at, cron or interval is required/],
      ["CreateJob", { job: job({ schedule: { cron: { expression: "61 * * * *" } } }) }, /job\.schedule\.cron\.expression: invalid cron/],
      ["CreateJob", { job: job({ schedule: { cron: { expression: "* * * * * * *" } } }) }, /job\.schedule\.cron\.expression: .*got 7/],
      ["CreateJob", { job: job({ schedule: { cron: { expression: "* * * * *", time_zone: "Mars/Olympus" } } }) }, /job\.schedule\.cron\.time_zone: unknown time zone/],
      ["CreateJob", { job: job({ schedule: { at: { time: timestamp(new Date(Date.now() - 60_000)) } } }) }, /job\.schedule\.at\.time: .* is in the past/],
      ["CreateJob", { job: job({ schedule: { interval: { every: duration(0) } } }) }, /job\.schedule\.interval\.every: must be at least 1s/],
      ["CreateJob", { job: job({ schedule: { interval: {} } }) }, /job\.schedule\.interval\.every: is required/],
      ["CreateJob", { job: job({ schedule: { interval: { every: duration(-5000) } } }) }, /job\.schedule\.interval\.every: must be at least 1s/],
      ["CreateJob", { job: job({ labels: { "-bad": "x" } }) }, /job\.labels\["-bad"\]/],
      ["CreateJob", { job: job({ retry_policy: { max_attempts: 101 } }) }, /job\.retry_policy\.max_attempts: /],
      ["CreateJob", { job: job({ overlap_policy: 42 }) }, /job\.overlap_policy: unknown value 42/],
      ["CreateJob", { job: job({ http: { url: "https://example.com" } }) }, /job\.http: only allowed on the "http" queue/],
      ["CreateJob", { job: job({ queue: "http", http: { url: "ftp://example.com" } }) }, /job\.http\.url: expected an http or https URL/],
      ["CreateJob", { job: job({ name: "", queue: "" }) }, /job\.name: is required; job\.queue: is required/],
      // Binary doubles can be NaN or infinite, which the job's JSON form cannot hold.
      ["CreateJob", { job: job({ payload: toStruct({ x: [NaN] }) }) }, /^job\.payload\.x\[0\]: NaN is not a JSON number/],
      ["CreateJob", { job: job({ payload: toStruct({ y: { z: -Infinity } }) }) }, /^job\.payload\.y\.z: -Infinity is not a JSON number/],
      ["GetJob", { id: "" }, /^id: is required/],
      ["GetJob", { id: "not-a-uuid" }, /^id: "not-a-uuid" is not a valid id/],
      ["GetRun", { id: "42" }, /^id: /],
      ["ListRuns", { job_id: "nope" }, /^job_id: /],
      ["ListRuns", { states: [17] }, /^states: unknown value 17/],
      ["ListJobs", { page_size: -1 }, /^page_size: /],
      ["ListJobs", { label_selector: "=x" }, /^label_selector: /],
      ["UpdateJob", { job: { id: UNKNOWN_ID }, update_mask: { paths: [] } }, /^update_mask: at least one/],
      ["UpdateJob", { job: { id: UNKNOWN_ID }, update_mask: { paths: ["state"] } }, /^update_mask: unknown or read-only field "state"/],
      ["UpdateJob", { job: { id: UNKNOWN_ID }, update_mask: { paths: ["toString"] } }, /^update_mask: unknown or read-only field "toString"/],
      ["UpdateJob", { job: { id: UNKNOWN_ID }, update_mask: { paths: ["__proto__"] } }, /^update_mask: unknown or read-only field "__proto__"/],
      ["UpdateJob", { job: { id: "x" }, update_mask: { paths: ["name"] } }, /^job\.id: /],
      ["CreateJob", { job: job(), request_id: "r".repeat(201) }, /^request_id: /],
    ];
    for (const [method, request, message] of cases) {
      const error = await grpcError(client.call(method, request));
      expect(status[error.code], `${method} ${JSON.stringify(request)}: ${error.details}`).toBe("INVALID_ARGUMENT");
      expect(error.details).toMatch(message);
    }
    // None of them wrote anything.
    const listed = await client.call("ListJobs", { name_prefix: "grpc-js-job" });
    expect(listed.jobs).toHaveLength(0);
  });

  it("answers NOT_FOUND, ALREADY_EXISTS and FAILED_PRECONDITION", async () => {
    for (const method of ["GetJob", "DeleteJob", "PauseJob", "ResumeJob", "TriggerJob", "GetRun", "CancelRun"]) {
      const error = await grpcError(client.call(method, { id: UNKNOWN_ID }));
      expect(status[error.code], method).toBe("NOT_FOUND");
      expect(error.details).toContain(UNKNOWN_ID);
    }
    const missing = await grpcError(client.call("UpdateJob", { job: { id: UNKNOWN_ID, name: "x" }, update_mask: { paths: ["name"] } }));
    expect(missing.code).toBe(status.NOT_FOUND);

    const first = await createJob({ name: "grpc-js/dup" });
    const duplicate = await grpcError(client.call("CreateJob", { job: job({ name: "grpc-js/dup", queue: "other" }) }));
    expect(duplicate.code).toBe(status.ALREADY_EXISTS);
    expect(duplicate.details).toMatch(/^job\.name: /);
    // The same name in another namespace is fine.
    await createJob({ name: "grpc-js/dup", namespace: "tenant-b" });
    const second = await createJob({ name: "grpc-js/dup-2" });
    const rename = await grpcError(client.call("UpdateJob", { job: { id: second.id, name: "grpc-js/dup" }, update_mask: { paths: ["name"] } }));
    expect(rename.code).toBe(status.ALREADY_EXISTS);

    const resumeActive = await grpcError(client.call("ResumeJob", { id: first.id }));
    expect(resumeActive.code).toBe(status.FAILED_PRECONDITION);
    expect(resumeActive.details).toMatch(/is active; only paused jobs can be resumed/);
    await client.call("PauseJob", { id: first.id });
    expect((await grpcError(client.call("PauseJob", { id: first.id }))).code).toBe(status.FAILED_PRECONDITION);
  });

  it("creates a batch, answering each item in order: created, existing or an error naming jobs[i]", async () => {
    const item = (name: string, overrides: Message = {}, request_id = "") => ({ job: job({ name, ...overrides }), request_id });
    const taken = await createJob({ name: "grpc-js/batch-taken" });
    const { results } = await client.call("BatchCreateJobs", {
      jobs: [
        item("grpc-js/batch-0", { payload: toStruct({ n: 1 }) }, "batch-req"),
        item("grpc-js/batch-1", { schedule: { cron: { expression: "* * * * * * *" } } }),
        item("grpc-js/batch-taken"),
        item("grpc-js/batch-0-again", {}, "batch-req"),
        { request_id: "x" },
        item("grpc-js/batch-5", { schedule: { immediate: {} } }),
      ],
    });
    expect(results.map((r: Message) => r.result)).toEqual(["created", "error", "error", "existing", "error", "created"]);
    expect(results[0].created.name).toBe("grpc-js/batch-0");
    expect(fromStruct(results[0].created.payload)).toEqual({ n: 1 });
    expect(results[0].created.state).toBe("JOB_STATE_ACTIVE");
    expect(results[3].existing.id).toBe(results[0].created.id);
    expect(results[1].error.code).toBe(status.INVALID_ARGUMENT);
    expect(results[1].error.message).toMatch(/^jobs\[1\]\.job\.schedule\.cron\.expression: .*got 7/);
    expect(results[2].error).toEqual({ code: status.ALREADY_EXISTS, message: 'jobs[2].job.name: a job named "grpc-js/batch-taken" already exists in namespace "default"' });
    expect(results[4].error).toEqual({ code: status.INVALID_ARGUMENT, message: "jobs[4].job: is required" });
    expect(results[5].created.schedule.kind).toBe("immediate");

    // A retry of the call: the request id answers with the same job; the rest as before.
    const retried = await client.call("BatchCreateJobs", { jobs: [item("grpc-js/batch-0", {}, "batch-req"), item("grpc-js/batch-5")] });
    expect(retried.results.map((r: Message) => r.result)).toEqual(["existing", "error"]);
    expect(retried.results[0].existing.id).toBe(results[0].created.id);
    expect(retried.results[1].error.code).toBe(status.ALREADY_EXISTS);

    const listed = await client.call("ListJobs", { name_prefix: "grpc-js/batch-" });
    expect(listed.jobs.map((j: Message) => j.name).sort()).toEqual(["grpc-js/batch-0", "grpc-js/batch-5", "grpc-js/batch-taken"]);
    expect(listed.jobs.find((j: Message) => j.name === "grpc-js/batch-taken").id).toBe(taken.id);
  });

  it("refuses a batch of 0 or more than 1000 jobs with INVALID_ARGUMENT naming jobs", async () => {
    for (const count of [0, 1001]) {
      const jobs = Array.from({ length: count }, (_, i) => ({ job: job({ name: `grpc-js/batch-size-${i}` }) }));
      const error = await grpcError(client.call("BatchCreateJobs", { jobs }));
      expect(status[error.code]).toBe("INVALID_ARGUMENT");
      expect(error.details).toBe(`jobs: expected 1 to 1000 items, got ${count}`);
    }
    expect((await client.call("ListJobs", { name_prefix: "grpc-js/batch-size-" })).jobs).toHaveLength(0);
  });
});
