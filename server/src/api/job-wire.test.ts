import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { JobSchema } from "@chime/sdk/gen/job_pb";
import { BatchCreateJobsResponseSchema, CreateJobResponseSchema } from "@chime/sdk/gen/job_service_pb";
import { jobArbitrary } from "../../test/helpers/job-arbitrary.js";
import { encodeBatchCreateJobsResponse, encodeCreateJobResponse } from "./job-wire.js";

const job = jobArbitrary({ jsonSafe: false });
const text = fc.string({ maxLength: 20 });
const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });

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
