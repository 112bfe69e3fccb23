import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fc from "fast-check";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { JobService } from "@chime/sdk/gen/job_service_pb";
import type { JobSchema } from "@chime/sdk/gen/job_pb";
import { BadRequestSchema } from "@chime/sdk";
import { createHealthClient } from "./helpers/grpc-client.js";
import { malformedCorpus, requestOf } from "./helpers/malformed-corpus.js";
import { GET_PROTOCOLS, JSON_PROTOCOLS, RAW_PROTOCOLS, rawCall } from "./helpers/raw-calls.js";
import { MethodOptions_IdempotencyLevel } from "@bufbuild/protobuf/wkt";
import { startTestServer, type TestServer } from "./helpers/test-server.js";

/**
 * A corpus of malformed requests of every class (helpers/malformed-corpus.ts) sent as bytes
 * on gRPC, Connect proto, Connect JSON, gRPC-Web and Connect's GET form (for methods without
 * side effects): each answered INVALID_ARGUMENT naming
 * the field in the message and in a google.rpc.BadRequest detail; after it the server is
 * healthy, and many more passes of the corpus leave its memory flat.
 * Thousands of random malformed CreateJob and UpdateJob requests over gRPC. Each one
 * must be answered INVALID_ARGUMENT with a message naming every field that was made
 * bad, nothing may be written, and the server must be healthy afterwards. BatchCreateJobs
 * calls mixing valid and malformed jobs must refuse each bad item so, and write the rest.
 */

type JobInit = MessageInitShape<typeof JobSchema>;

const MAX_PAYLOAD_BYTES = 2048;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const UPDATABLE = new Set([
  "name", "queue", "payload", "labels", "schedule", "retry_policy", "attempt_timeout",
  "overlap_policy", "max_concurrent_runs", "misfire_policy", "misfire_window", "http",
]);

let server: TestServer;
let client: Client<typeof JobService>;
const existingIds: string[] = [];
let calls = 0;

beforeAll(async () => {
  server = await startTestServer({ CHIME_ROLES: "api", CHIME_MAX_PAYLOAD_BYTES: String(MAX_PAYLOAD_BYTES) });
  client = createClient(JobService, createGrpcTransport({ baseUrl: server.grpcUrl }));
  // A few jobs for UpdateJob to aim at (bad updates of real jobs must leave them as they are).
  for (const [name, schedule] of [
    ["fuzz-cron", { case: "cron", value: { expression: "0 0 1 1 *", timeZone: "Europe/Berlin" } }],
    ["fuzz-interval", { case: "interval", value: { every: { seconds: 3600n } } }],
    ["fuzz-at", { case: "at", value: { time: { seconds: BigInt(Math.floor(Date.now() / 1000) + 86_400 * 365) } } }],
  ] as const) {
    const { job } = await client.createJob({ job: { name, queue: "fuzz", labels: { seed: "yes" }, schedule: { kind: schedule } } });
    existingIds.push(job!.id);
  }
});
afterAll(async () => server?.close());

// ---------------------------------------------------------------------------------------------
// Valid jobs, and mutations that each make one part of a job invalid.

const seconds = (ms: number) => ({ seconds: BigInt(Math.trunc(ms / 1000)), nanos: (ms % 1000) * 1_000_000 });
const at = (date: Date) => ({ seconds: BigInt(Math.floor(date.getTime() / 1000)), nanos: 0 });

const validJob: fc.Arbitrary<JobInit> = fc.record({
  name: fc.stringMatching(/^[a-z0-9][a-z0-9._:/-]{0,40}$/),
  queue: fc.stringMatching(/^[a-z0-9_-]{1,30}$/).filter((q) => q !== "http"),
  labels: fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9]{0,10}$/), fc.string({ maxLength: 20 }), { maxKeys: 3 }),
  schedule: fc.oneof(
    fc.constant({ kind: { case: "immediate" as const, value: {} } }),
    fc.constantFrom("*/5 * * * * *", "0 0 * * *", "0 9 * * MON-FRI", "30 2 * * *").map((expression) => ({
      kind: { case: "cron" as const, value: { expression, timeZone: "America/New_York" } },
    })),
    fc.integer({ min: 1, max: 86_400 }).map((s) => ({ kind: { case: "interval" as const, value: { every: { seconds: BigInt(s) } } } })),
  ),
});

interface Mutation {
  /** Which part of the job it touches; a case mutates each part at most once. */
  slot: string;
  /** The update_mask paths that carry this part in an UpdateJob. */
  paths: string[];
  /** The field the error message must name. */
  field: string;
  describe: string;
  apply(job: JobInit): void;
}

const mutation = (slot: string, paths: string[], field: string, describe: string, apply: (job: JobInit) => void): Mutation => ({
  slot,
  paths,
  field,
  describe,
  apply,
});

const cronField = "job.schedule.cron.expression";
const cron = (expression: string, timeZone = "UTC") => (job: JobInit) => {
  job.schedule = { kind: { case: "cron", value: { expression, timeZone } } };
};

const badCron = fc.oneof(
  // Wrong number of fields.
  fc
    .array(fc.constantFrom("*", "0", "*/5", "1-3", "1,2"), { minLength: 0, maxLength: 9 })
    .filter((f) => f.length !== 5 && f.length !== 6)
    .map((f) => mutation("schedule", ["schedule"], cronField, `cron with ${f.length} fields`, cron(f.join(" ")))),
  // A value out of its field's range.
  fc
    .tuple(
      fc.constantFrom<[number, number, number]>([0, 60, 1000], [1, 24, 1000], [2, 32, 1000], [3, 13, 1000], [4, 8, 1000]),
      fc.boolean(),
      fc.integer({ min: 0, max: 999 }),
    )
    .map(([[index, min, max], withSeconds, r]) => {
      const fields = ["*", "*", "*", "*", "*"];
      fields[index] = String(min + (r % (max - min)));
      const expression = (withSeconds ? ["0", ...fields] : fields).join(" ");
      return mutation("schedule", ["schedule"], cronField, `cron ${expression}`, cron(expression));
    }),
  fc.integer({ min: 60, max: 10_000 }).map((s) => mutation("schedule", ["schedule"], cronField, `seconds ${s}`, cron(`${s} * * * * *`))),
  // Zero days of month and months.
  fc.constantFrom("* * 0 * *", "* * * 0 *", "*/0 * * * *", "5-1 * * * *", "1,,2 * * * *", "* * 31 2 *", "1-2-3 * * * *", "* * * * 1#6")
    .map((e) => mutation("schedule", ["schedule"], cronField, `cron ${e}`, cron(e))),
  // Garbage tokens, and hashed values (H), which would make fire times random.
  fc
    .tuple(fc.stringMatching(/^[a-gi-z%$!.@~^&]{1,6}$/), fc.integer({ min: 0, max: 4 }))
    .filter(([token]) => !/^(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|sun|mon|tue|wed|thu|fri|sat|l|w|\?)$/i.test(token))
    .map(([token, index]) => {
      const fields = ["*", "*", "*", "*", "*"];
      fields[index] = token;
      return mutation("schedule", ["schedule"], cronField, `cron token ${token}`, cron(fields.join(" ")));
    }),
  fc.constantFrom("H * * * *", "0 H * * *", "H/5 * * * *", "0 0 H(1-7) * *")
    .map((e) => mutation("schedule", ["schedule"], cronField, `cron ${e}`, cron(e))),
  fc.constantFrom("", " ", "\t\n").map((e) => mutation("schedule", ["schedule"], cronField, "empty cron", cron(e))),
);

const badSchedule = fc.oneof(
  { arbitrary: badCron, weight: 4 },
  fc
    .oneof(fc.stringMatching(/^[A-Z][a-z]{2,10}\/[A-Z][a-z]{2,10}$/), fc.string({ minLength: 1, maxLength: 20 }))
    .filter((zone) => zone.trim() !== "" && !isZone(zone))
    .map((zone) => mutation("schedule", ["schedule"], "job.schedule.cron.time_zone", `zone ${zone}`, cron("0 0 * * *", zone))),
  fc.integer({ min: 2_000, max: 10 * 365 * DAY }).map((ago) =>
    mutation("schedule", ["schedule"], "job.schedule.at.time", `at ${ago} ms ago`, (job) => {
      job.schedule = { kind: { case: "at", value: { time: at(new Date(Date.now() - ago)) } } };
    }),
  ),
  fc.constantFrom(
    mutation("schedule", ["schedule"], "job.schedule.at.time", "at without time", (job) => {
      job.schedule = { kind: { case: "at", value: {} } };
    }),
    mutation("schedule", ["schedule"], "job.schedule.at.time", "at after year 9999", (job) => {
      job.schedule = { kind: { case: "at", value: { time: { seconds: 253_402_300_800n } } } };
    }),
    mutation("schedule", ["schedule"], "job.schedule.interval.every", "interval without every", (job) => {
      job.schedule = { kind: { case: "interval", value: {} } };
    }),
    mutation("schedule", ["schedule"], "job.schedule.interval.every", "interval with bad nanos", (job) => {
      job.schedule = { kind: { case: "interval", value: { every: { seconds: 5n, nanos: 2_000_000_000 } } } };
    }),
    mutation("schedule", ["schedule"], "job.schedule", "no schedule kind", (job) => {
      job.schedule = { maxRuns: 3n };
    }),
  ),
  fc
    .oneof(fc.integer({ min: -366 * DAY, max: 999 }), fc.integer({ min: 366 * DAY + 1000, max: 3650 * DAY }))
    .map((ms) =>
      mutation("schedule", ["schedule"], "job.schedule.interval.every", `every ${ms} ms`, (job) => {
        job.schedule = { kind: { case: "interval", value: { every: seconds(ms) } } };
      }),
    ),
  fc.bigInt({ min: -(2n ** 62n), max: -1n }).map((maxRuns) =>
    mutation("schedule", ["schedule"], "job.schedule.max_runs", `max_runs ${maxRuns}`, (job) => {
      job.schedule = { kind: { case: "cron", value: { expression: "0 0 * * *" } }, maxRuns };
    }),
  ),
  fc.tuple(fc.integer({ min: HOUR, max: 100 * DAY }), fc.integer({ min: 0, max: 30 * DAY })).map(([startIn, before]) =>
    mutation("schedule", ["schedule"], "job.schedule.end_time", "end before start", (job) => {
      const start = Date.now() + startIn;
      job.schedule = {
        kind: { case: "interval", value: { every: { seconds: 60n } } },
        startTime: at(new Date(start)),
        endTime: at(new Date(start - before)),
      };
    }),
  ),
  fc.integer({ min: 2_000, max: 365 * DAY }).map((ago) =>
    mutation("schedule", ["schedule"], "job.schedule.end_time", "end in the past", (job) => {
      job.schedule = { kind: { case: "cron", value: { expression: "0 0 * * *" } }, endTime: at(new Date(Date.now() - ago)) };
    }),
  ),
);

const badName = fc.oneof(
  fc.constant(mutation("name", ["name"], "job.name", "empty name", (job) => void (job.name = ""))),
  fc.stringMatching(/^[a-z]{201,300}$/).map((name) => mutation("name", ["name"], "job.name", "long name", (job) => void (job.name = name))),
  fc
    .tuple(fc.stringMatching(/^[a-z0-9]{0,10}$/), fc.constantFrom(" ", "*", ">", "é", "\n", "?", "#", "\u0000", "…"), fc.stringMatching(/^[a-z]{0,5}$/))
    .map(([a, bad, b]) => mutation("name", ["name"], "job.name", `name with ${JSON.stringify(bad)}`, (job) => void (job.name = `${a}${bad}${b}`))),
  fc.constantFrom(".", "_", "-", ":", "/").map((lead) => mutation("name", ["name"], "job.name", `name starting ${lead}`, (job) => void (job.name = `${lead}x`))),
);

const badQueue = fc.oneof(
  fc.constant(mutation("queue", ["queue"], "job.queue", "empty queue", (job) => void (job.queue = ""))),
  fc.stringMatching(/^[a-z]{65,100}$/).map((queue) => mutation("queue", ["queue"], "job.queue", "long queue", (job) => void (job.queue = queue))),
  fc
    .tuple(fc.stringMatching(/^[a-z0-9]{0,10}$/), fc.constantFrom(".", "*", ">", " ", "/", ":", "é", "\t"), fc.stringMatching(/^[a-z]{0,5}$/))
    .map(([a, bad, b]) => mutation("queue", ["queue"], "job.queue", `queue with ${JSON.stringify(bad)}`, (job) => void (job.queue = `${a}${bad}${b}`))),
);

const badNamespace = fc
  .oneof(fc.stringMatching(/^[a-z]{0,5}[.* >/][a-z]{0,5}$/), fc.stringMatching(/^[a-z]{65,80}$/))
  .map((ns) => mutation("namespace", [], "job.namespace", `namespace ${ns}`, (job) => void (job.namespace = ns)));

const badPayload = fc
  .tuple(fc.integer({ min: MAX_PAYLOAD_BYTES + 1, max: MAX_PAYLOAD_BYTES * 3 }), fc.boolean())
  .map(([size, nested]) =>
    mutation("payload", ["payload"], "job.payload", `payload of ${size} bytes`, (job) => {
      const blob = "x".repeat(size);
      job.payload = nested ? { a: { b: [1, true, null, { blob }] } } : { blob };
    }),
  );

const badLabels = fc.oneof(
  fc
    .oneof(
      fc.constant(""),
      fc.stringMatching(/^[-._/][a-z]{0,5}$/),
      fc.stringMatching(/^[a-z]{1,5}[-._/]$/),
      fc.stringMatching(/^[a-z]{1,5}[ =,!*é][a-z]{1,5}$/),
      fc.stringMatching(/^[a-z]{64,80}$/),
    )
    .map((key) => mutation("labels", ["labels"], "job.labels[", `label key ${JSON.stringify(key)}`, (job) => void (job.labels = { ok: "1", [key]: "v" }))),
  fc.integer({ min: 256, max: 600 }).map((n) =>
    mutation("labels", ["labels"], "job.labels[", `label value of ${n}`, (job) => void (job.labels = { big: "v".repeat(n) })),
  ),
  fc.integer({ min: 65, max: 100 }).map((n) =>
    mutation("labels", ["labels"], "job.labels", `${n} labels`, (job) => {
      job.labels = Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, "v"]));
    }),
  ),
);

const badRetry = fc.oneof(
  fc.oneof(fc.integer({ min: -(2 ** 31), max: -1 }), fc.integer({ min: 101, max: 2 ** 31 - 1 })).map((n) =>
    mutation("retry", ["retry_policy"], "job.retry_policy.max_attempts", `max_attempts ${n}`, (job) => void (job.retryPolicy = { maxAttempts: n })),
  ),
  fc
    .oneof(fc.double({ min: 0.0001, max: 0.9999, noNaN: true }), fc.double({ min: 100.01, max: 1e300, noNaN: true }), fc.double({ max: -0.0001, noNaN: true }), fc.constantFrom(NaN, Infinity, -Infinity))
    .map((m) =>
      mutation("retry", ["retry_policy"], "job.retry_policy.backoff_multiplier", `multiplier ${m}`, (job) => void (job.retryPolicy = { backoffMultiplier: m })),
    ),
  fc
    .oneof(fc.double({ max: -1e-9, noNaN: true }), fc.double({ min: 1.0001, noNaN: true }), fc.constantFrom(NaN, Infinity))
    .map((j) => mutation("retry", ["retry_policy"], "job.retry_policy.jitter", `jitter ${j}`, (job) => void (job.retryPolicy = { jitter: j }))),
  fc.oneof(fc.integer({ min: -DAY * 10, max: -1000 }), fc.integer({ min: DAY + 1000, max: DAY * 100 })).map((ms) =>
    mutation("retry", ["retry_policy"], "job.retry_policy.initial_backoff", `initial_backoff ${ms}`, (job) => void (job.retryPolicy = { initialBackoff: seconds(ms), maxBackoff: seconds(DAY) })),
  ),
  fc.tuple(fc.integer({ min: 2_000, max: HOUR }), fc.integer({ min: 1000, max: HOUR })).map(([initial, less]) =>
    mutation("retry", ["retry_policy"], "job.retry_policy.max_backoff", "max_backoff below initial", (job) => {
      job.retryPolicy = { initialBackoff: seconds(initial + less), maxBackoff: seconds(initial) };
    }),
  ),
);

const badTimeouts = fc.oneof(
  fc.oneof(fc.integer({ min: -DAY * 10, max: -1000 }), fc.integer({ min: DAY + 1000, max: DAY * 1000 })).map((ms) =>
    mutation("attempt_timeout", ["attempt_timeout"], "job.attempt_timeout", `attempt_timeout ${ms}`, (job) => void (job.attemptTimeout = seconds(ms))),
  ),
  fc.oneof(fc.integer({ min: -DAY * 10, max: -1000 }), fc.integer({ min: 7 * DAY + 1000, max: DAY * 1000 })).map((ms) =>
    mutation("misfire_window", ["misfire_window"], "job.misfire_window", `misfire_window ${ms}`, (job) => void (job.misfireWindow = seconds(ms))),
  ),
  // Negative, shorter than the event retention (the default, 7 days), or longer than 3650 days.
  fc.oneof(fc.integer({ min: -DAY * 10, max: -1000 }), fc.integer({ min: 1000, max: 7 * DAY - 1000 }), fc.integer({ min: 3651 * DAY, max: DAY * 100_000 })).map((ms) =>
    mutation("run_retention", ["run_retention"], "job.run_retention", `run_retention ${ms}`, (job) => void (job.runRetention = seconds(ms))),
  ),
);

const unknownEnum = (min: number) => fc.oneof(fc.integer({ min, max: 2 ** 31 - 1 }), fc.integer({ min: -(2 ** 31), max: -1 }));
const badEnums = fc.oneof(
  unknownEnum(5).map((n) => mutation("overlap", ["overlap_policy"], "job.overlap_policy", `overlap ${n}`, (job) => void (job.overlapPolicy = n))),
  unknownEnum(4).map((n) => mutation("misfire", ["misfire_policy"], "job.misfire_policy", `misfire ${n}`, (job) => void (job.misfirePolicy = n))),
  fc.oneof(fc.integer({ min: -(2 ** 31), max: -1 }), fc.integer({ min: 10_001, max: 2 ** 31 - 1 })).map((n) =>
    mutation("concurrency", ["max_concurrent_runs"], "job.max_concurrent_runs", `max_concurrent_runs ${n}`, (job) => void (job.maxConcurrentRuns = n)),
  ),
);

const badHttp = fc.constantFrom(
  mutation("http", ["http"], "job.http", "http on another queue", (job) => void (job.http = { url: "https://example.com/hook" })),
);

const anyMutation = fc.oneof(
  { arbitrary: badSchedule, weight: 6 },
  { arbitrary: badName, weight: 2 },
  { arbitrary: badQueue, weight: 2 },
  { arbitrary: badNamespace, weight: 1 },
  { arbitrary: badPayload, weight: 1 },
  { arbitrary: badLabels, weight: 2 },
  { arbitrary: badRetry, weight: 2 },
  { arbitrary: badTimeouts, weight: 1 },
  { arbitrary: badEnums, weight: 2 },
  { arbitrary: badHttp, weight: 1 },
);

const mutations = fc.uniqueArray(anyMutation, { minLength: 1, maxLength: 3, selector: (m) => m.slot });

function isZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Calls and checks.

const describeRequest = (request: unknown) =>
  JSON.stringify(request, (_, v) => (typeof v === "bigint" ? `${v}n` : typeof v === "string" && v.length > 80 ? `${v.slice(0, 40)}…(${v.length})` : v));

/** Every "; "-separated problem must start with a field path: `job.schedule.cron.expression: ...`. */
const FIELD_PATH = /^(job|update_mask|request_id)((\.[a-z_]+)|(\[[^\]]*\]))*: /;

async function expectInvalid(call: () => Promise<unknown>, request: unknown, fields: string[], what = ""): Promise<void> {
  calls += 1;
  let error: ConnectError | undefined;
  try {
    await call();
  } catch (e) {
    error = ConnectError.from(e);
  }
  const context = `${what ? `[${what}] ` : ""}${describeRequest(request)} -> ${error ? `${Code[error.code]}: ${error.rawMessage}` : "OK"}`;
  expect(error, context).toBeDefined();
  expect(Code[error!.code], context).toBe("InvalidArgument");
  expect(error!.rawMessage, context).toMatch(FIELD_PATH);
  for (const field of fields) expect(error!.rawMessage, context).toContain(field);
}

async function snapshot() {
  const jobs = await server.pool.query("SELECT * FROM jobs ORDER BY id");
  const counts = await server.pool.query(
    "SELECT (SELECT count(*) FROM jobs)::int AS jobs, (SELECT count(*) FROM runs)::int AS runs, (SELECT count(*) FROM run_event_log)::int AS events",
  );
  return { rows: JSON.stringify(jobs.rows), counts: counts.rows[0] };
}

describe("malformed requests, fuzzed", () => {
  it("answers every malformed CreateJob and UpdateJob with INVALID_ARGUMENT naming the field, and writes nothing", async () => {
    const before = await snapshot();
    expect(before.counts.jobs).toBe(existingIds.length);
    const started = Date.now();

    // CreateJob: a valid job with one to three parts made invalid; 25 calls in flight at a time.
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(validJob, mutations), { minLength: 25, maxLength: 25 }), async (cases) => {
        await Promise.all(
          cases.map(async ([base, applied]) => {
            const job: JobInit = structuredClone(base);
            for (const m of applied) m.apply(job);
            await expectInvalid(() => client.createJob({ job }), job, applied.map((m) => m.field), applied.map((m) => m.describe).join(", "));
          }),
        );
      }),
      { numRuns: 90 },
    );

    // UpdateJob of a real job: an invalid value under a valid mask, or a bad mask, or a bad id.
    const updatable = anyMutation.filter((m) => m.paths.length > 0);
    const updateCase = fc.oneof(
      { weight: 5, arbitrary: fc.tuple(fc.constantFrom(...existingIds), updatable).map(([id, m]) => {
        const job: JobInit = { id };
        m.apply(job);
        return { request: { job, updateMask: { paths: m.paths } }, fields: [m.field], what: m.describe };
      }) },
      { weight: 2, arbitrary: fc
        .tuple(
          fc.constantFrom(...existingIds),
          fc.oneof(
            fc.constantFrom("id", "state", "namespace", "next_run_time", "run_count", "create_time", "update_time", "job.name", "Name", "retryPolicy", "schedule.cron", "",
              "toString", "__proto__", "constructor", "hasOwnProperty", "valueOf"),
            fc.string({ maxLength: 30 }).filter((p) => !UPDATABLE.has(p)),
          ),
          fc.subarray([...UPDATABLE]),
        )
        .map(([id, bad, good]) => ({ request: { job: { id, name: "renamed" }, updateMask: { paths: [...good, bad] } }, fields: ["update_mask"] })) },
      { weight: 1, arbitrary: fc.constantFrom(...existingIds).map((id) => ({ request: { job: { id, name: "renamed" }, updateMask: { paths: [] } }, fields: ["update_mask"] })) },
      { weight: 2, arbitrary: fc
        .oneof(fc.string({ maxLength: 40 }), fc.uuid().map((u) => `${u}x`), fc.uuid().map((u) => u.replace(/-/g, "")), fc.constant(""))
        .filter((id) => !UUID.test(id))
        .map((id) => ({ request: { job: { id, name: "renamed" }, updateMask: { paths: ["name"] } }, fields: ["job.id"] })) },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(updateCase, { minLength: 25, maxLength: 25 }), async (cases) => {
        await Promise.all(
          cases.map((c) => expectInvalid(() => client.updateJob(c.request), c.request, c.fields, "what" in c ? c.what : "")),
        );
      }),
      { numRuns: 40 },
    );

    expect(calls).toBeGreaterThanOrEqual(2000);
    // Generous: the whole fuzz run should take seconds, not minutes.
    expect(Date.now() - started).toBeLessThan(60_000);

    // Nothing was written: same jobs, byte for byte, and no runs or events.
    const after = await snapshot();
    expect(after.counts).toEqual(before.counts);
    expect(after.rows).toBe(before.rows);

    // And the server is well.
    const health = createHealthClient(`127.0.0.1:${server.grpcPort}`);
    try {
      expect((await health.call("Check", { service: "" })).status).toBe("SERVING");
    } finally {
      health.close();
    }
    const { job } = await client.createJob({ job: { name: "fuzz-after", queue: "fuzz", schedule: { kind: { case: "immediate", value: {} } } } });
    expect(job?.id).toMatch(UUID);
    expect((await snapshot()).counts.jobs).toBe(existingIds.length + 1);
  });

  it("answers a BatchCreateJobs with malformed items item by item, naming jobs[i]'s fields, and writes only its valid items", async () => {
    const before = await snapshot();
    let batchNo = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(validJob, fc.option(mutations, { freq: 2, nil: undefined })), { minLength: 1, maxLength: 40 }),
        async (cases) => {
          // Names unique per item, so every valid item is created and nothing else can collide.
          const prefix = `fuzz-batch-${batchNo++}-`;
          const jobs = cases.map(([base, applied], i) => {
            const job: JobInit = { ...structuredClone(base), name: `${prefix}${i}-${base.name}` };
            for (const m of applied ?? []) m.apply(job);
            return { job };
          });
          const { results } = await client.batchCreateJobs({ jobs });
          expect(results).toHaveLength(cases.length);
          const validNames: string[] = [];
          cases.forEach(([, applied], i) => {
            const result = results[i].result;
            const context = `jobs[${i}] ${describeRequest(jobs[i])} -> ${describeRequest(result)}`;
            if (!applied) {
              expect(result.case, context).toBe("created");
              validNames.push(jobs[i].job.name!);
              return;
            }
            expect(result.case, context).toBe("error");
            const error = result.value as { code: number; message: string };
            expect(Code[error.code], context).toBe("InvalidArgument");
            // Every problem is about this item: it names jobs[i]'s fields and no other item.
            expect(error.message, context).toMatch(new RegExp(`^jobs\\[${i}\\]\\.${FIELD_PATH.source.slice(1)}`));
            const itemsNamed = new Set([...error.message.matchAll(/jobs\[(\d+)\]/g)].map((match) => Number(match[1])));
            expect([...itemsNamed], context).toEqual([i]);
            for (const m of applied) expect(error.message, context).toContain(`jobs[${i}].${m.field}`);
          });
          const { rows } = await server.pool.query<{ name: string }>("SELECT name FROM jobs WHERE starts_with(name, $1)", [prefix]);
          expect(rows.map((r) => r.name).sort()).toEqual(validNames.sort());
        },
      ),
      { numRuns: 40 },
    );
    // Nothing of the bad items was written anywhere: no other jobs, runs or events appeared.
    const { rows } = await server.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM jobs WHERE NOT starts_with(name, 'fuzz-batch-')");
    expect(rows[0].n).toBe(before.counts.jobs);
    expect((await snapshot()).counts).toMatchObject({ runs: before.counts.runs, events: before.counts.events });
  });
});

/** Sends the whole corpus on every protocol it can be expressed in; answers the calls sent and those answered wrong. */
async function sendCorpus(): Promise<{ sent: number; wrong: string[] }> {
  const target = { grpcAddress: `127.0.0.1:${server.grpcPort}`, httpUrl: server.httpUrl };
  const wrong: string[] = [];
  let sent = 0;
  for (const item of malformedCorpus()) {
    const bodies = RAW_PROTOCOLS.flatMap((protocol) => {
      if (GET_PROTOCOLS.has(protocol) && (item.method.idempotency !== MethodOptions_IdempotencyLevel.NO_SIDE_EFFECTS || item.method.methodKind !== "unary")) return [];
      const body = JSON_PROTOCOLS.has(protocol) ? item.json : item.binary;
      return body === undefined ? [] : [{ protocol, body }];
    });
    await Promise.all(
      bodies.map(async ({ protocol, body }) => {
        sent += 1;
        const error = await rawCall(target, protocol, requestOf(item.method, body));
        const context = `${protocol} ${item.method.name} [${item.what}] -> ${error ? `${Code[error.code]}: ${error.rawMessage}` : "OK"}`;
        const violations = error?.findDetails(BadRequestSchema).flatMap((d) => d.fieldViolations) ?? [];
        if (
          error?.code !== Code.InvalidArgument ||
          !error.rawMessage.startsWith(item.field) ||
          !violations.some((v) => v.field.startsWith(item.field)) ||
          /RangeError|TypeError|Error:/.test(error.rawMessage)
        ) {
          wrong.push(`${context} (violations: ${violations.map((v) => v.field).join(", ")})`);
        }
      }),
    );
  }
  return { sent, wrong };
}

/** The server's healthy: it serves health checks on both ports and a normal call on every protocol. */
async function expectHealthy(): Promise<void> {
  const target = { grpcAddress: `127.0.0.1:${server.grpcPort}`, httpUrl: server.httpUrl };
  const health = createHealthClient(`127.0.0.1:${server.grpcPort}`);
  try {
    expect((await health.call("Check", { service: "" })).status).toBe("SERVING");
  } finally {
    health.close();
  }
  expect((await fetch(`${server.httpUrl}/healthz`)).status).toBe(200);
  const listJobs = JobService.methods.find((m) => m.name === "ListJobs")!;
  expect(await rawCall(target, "gRPC", requestOf(listJobs, new Uint8Array([0x08, 0x01])))).toBeUndefined();
  expect(await rawCall(target, "Connect JSON", requestOf(listJobs, '{"pageSize":1}'))).toBeUndefined();
  expect(await rawCall(target, "Connect GET JSON", requestOf(listJobs, '{"pageSize":1}'))).toBeUndefined();
  expect(await rawCall(target, "Connect GET proto", requestOf(listJobs, new Uint8Array([0x08, 0x01])))).toBeUndefined();
}

/**
 * The test process's live memory (the server runs in it): V8's heap and the ArrayBuffers
 * outside it (request bodies are Buffers), after full collections. vitest starts its workers
 * with --expose-gc (vitest.config.ts).
 */
async function liveBytes(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("global.gc is missing: run the tests with node --expose-gc (vitest.config.ts execArgv)");
  for (let i = 0; i < 4; i += 1) {
    gc();
    // Let finalizers and sockets closed by the last calls settle between collections.
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

/**
 * The memory check: warm-up rounds of the corpus (the first connections, lazily compiled
 * code, caches: a megabyte or two that levels off), then measured rounds of it, each sent
 * twice at once, after which live memory may have grown by at most this much per call. A
 * leak that keeps anything of each request (its body, its context, its error) costs more
 * than that: keeping just the request bodies costs about 700 bytes a call.
 */
const WARM_UP_ROUNDS = 3;
const MEASURED_ROUNDS = 8;
const MAX_GROWTH_PER_CALL = 450;

describe("malformed requests on every protocol", () => {
  it("answers each corpus request INVALID_ARGUMENT naming the field, in the message and a BadRequest detail, on every protocol", async () => {
    const before = await snapshot();
    const { sent, wrong } = await sendCorpus();
    expect(wrong).toEqual([]);
    expect(sent).toBeGreaterThan(200);
    // Nothing was written, and the server still serves on both ports.
    expect((await snapshot()).counts).toEqual(before.counts);
    await expectHealthy();
  });

  it("keeps memory flat over repeated corpus runs, and stays healthy", async () => {
    // The previous test was the first warm-up round.
    for (let round = 0; round < WARM_UP_ROUNDS; round += 1) await sendCorpus();
    const baseline = await liveBytes();
    let sent = 0;
    for (let round = 0; round < MEASURED_ROUNDS; round += 1) {
      for (const result of await Promise.all([sendCorpus(), sendCorpus()])) {
        expect(result.wrong).toEqual([]);
        sent += result.sent;
      }
    }
    const growth = (await liveBytes()) - baseline;
    console.log(`memory: ${sent} malformed calls after warming up, live memory ${growth >= 0 ? "+" : ""}${(growth / 1024).toFixed(0)} KiB (at most ${((sent * MAX_GROWTH_PER_CALL) / 1024).toFixed(0)} KiB)`);
    expect(sent).toBeGreaterThan(MEASURED_ROUNDS * 400);
    expect(growth).toBeLessThan(sent * MAX_GROWTH_PER_CALL);
    await expectHealthy();
  }, 300_000); // time enough on a loaded machine: this is about memory, not speed
});
