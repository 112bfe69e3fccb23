import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { create, fromBinary, toBinary, type JsonValue, type MessageInitShape } from "@bufbuild/protobuf";
import { JobSchema } from "@chime/sdk/gen/job_pb";
import { BatchCreateJobsResponseSchema, CreateJobResponseSchema } from "@chime/sdk/gen/job_service_pb";
import { encodeBatchCreateJobsResponse, encodeCreateJobResponse } from "./job-wire.js";

type JobInit = MessageInitShape<typeof JobSchema>;

const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
const seconds = fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 253_402_300_799n }), int64);
const time = fc.record({ seconds, nanos: fc.oneof(fc.constant(0), int32) });
const text = fc.oneof(fc.constant(""), fc.string({ maxLength: 20 }), fc.string({ unit: "grapheme", maxLength: 10 }), fc.string({ minLength: 130, maxLength: 300 }));
const stringMap = fc.dictionary(text, text, { maxKeys: 4 });
const json: fc.Arbitrary<JsonValue> = fc.letrec<{ value: JsonValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.integer(),
    text,
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(text, tie("value"), { maxKeys: 4 }),
  ),
})).value;

const schedule = fc.record(
  {
    kind: fc.oneof(
      fc.constant({ case: "immediate" as const, value: {} }),
      fc.record({ time: fc.option(time, { nil: undefined }) }).map((value) => ({ case: "at" as const, value })),
      fc.record({ expression: text, timeZone: text }).map((value) => ({ case: "cron" as const, value })),
      fc.record({ every: fc.option(time, { nil: undefined }), anchor: fc.option(time, { nil: undefined }) }).map((value) => ({ case: "interval" as const, value })),
      fc.constant({ case: undefined }),
    ),
    startTime: time,
    endTime: time,
    maxRuns: int64,
  },
  { requiredKeys: ["kind"] },
);

const job: fc.Arbitrary<JobInit> = fc.record(
  {
    id: text,
    namespace: text,
    name: text,
    queue: text,
    payload: fc.dictionary(text, json, { maxKeys: 5 }),
    labels: stringMap,
    schedule,
    retryPolicy: fc.record(
      {
        maxAttempts: int32,
        initialBackoff: time,
        maxBackoff: time,
        backoffMultiplier: fc.oneof(fc.constant(0), fc.constant(-0), fc.double()),
        jitter: fc.oneof(fc.constant(0), fc.double()),
      },
      { requiredKeys: [] },
    ),
    attemptTimeout: time,
    overlapPolicy: fc.integer({ min: 0, max: 4 }),
    maxConcurrentRuns: int32,
    misfirePolicy: fc.integer({ min: 0, max: 3 }),
    misfireWindow: time,
    http: fc.record({ method: text, url: text, headers: stringMap, body: text }, { requiredKeys: [] }),
    state: fc.integer({ min: 0, max: 3 }),
    nextRunTime: time,
    runCount: int64,
    createTime: time,
    updateTime: time,
  },
  { requiredKeys: [] },
);

const result = fc.oneof(
  job.map((value) => ({ result: { case: "created" as const, value } })),
  job.map((value) => ({ result: { case: "existing" as const, value } })),
  fc.record({ code: int32, message: text }).map((value) => ({ result: { case: "error" as const, value } })),
  fc.constant({}),
);

describe("job-wire", () => {
  it("encodes CreateJobResponse byte for byte as protobuf-es does", () => {
    fc.assert(
      fc.property(fc.option(job, { nil: undefined }), (init) => {
        const response = create(CreateJobResponseSchema, { job: init });
        expect(Buffer.from(encodeCreateJobResponse(response))).toEqual(Buffer.from(toBinary(CreateJobResponseSchema, response)));
      }),
      { numRuns: 500 },
    );
  });

  it("encodes BatchCreateJobsResponse byte for byte as protobuf-es does, large answers too", () => {
    fc.assert(
      fc.property(fc.array(result, { maxLength: 30 }), (results) => {
        const response = create(BatchCreateJobsResponseSchema, { results });
        expect(Buffer.from(encodeBatchCreateJobsResponse(response))).toEqual(Buffer.from(toBinary(BatchCreateJobsResponseSchema, response)));
      }),
      { numRuns: 200 },
    );
    // Length prefixes of three and four bytes, and a buffer grown many times over.
    const big = create(JobSchema, { name: "big", payload: { blob: "x".repeat(200_000), list: [{ deep: "y".repeat(20_000) }] } });
    const many = create(BatchCreateJobsResponseSchema, { results: Array.from({ length: 20 }, () => ({ result: { case: "created" as const, value: big } })) });
    const encoded = Buffer.from(encodeBatchCreateJobsResponse(many));
    expect(encoded.length).toBeGreaterThan(4_000_000);
    expect(encoded.equals(toBinary(BatchCreateJobsResponseSchema, many))).toBe(true);
  });

  it("keeps unknown fields, as protobuf-es does", () => {
    // A job whose client sent a field this server does not know (number 99, a string).
    const withUnknown = new Uint8Array([...toBinary(JobSchema, create(JobSchema, { name: "n" })), 0x9a, 0x06, 0x01, 0x78]);
    const decoded = fromBinary(JobSchema, withUnknown);
    expect(decoded.$unknown).toHaveLength(1);
    const response = create(BatchCreateJobsResponseSchema, { results: [{ result: { case: "created", value: decoded } }] });
    expect(Buffer.from(encodeBatchCreateJobsResponse(response))).toEqual(Buffer.from(toBinary(BatchCreateJobsResponseSchema, response)));
  });
});
