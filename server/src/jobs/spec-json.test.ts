import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { create, toJson, type JsonObject } from "@bufbuild/protobuf";
import { JobSchema } from "@chime/sdk/gen/job_pb";
import { jobArbitrary } from "../../test/helpers/job-arbitrary.js";
import { specJson } from "./spec-json.js";

/** The fields a job row keeps in columns, by proto3 JSON name: not part of the spec. */
const COLUMNS = ["id", "namespace", "name", "queue", "labels", "state", "nextRunTime", "runCount", "createTime", "updateTime", "autoPause"];

describe("specJson", () => {
  it("equals protobuf-es's toJson of the job without its column fields", () => {
    fc.assert(
      fc.property(jobArbitrary({ jsonSafe: true }), (init) => {
        const job = create(JobSchema, init);
        const expected = toJson(JobSchema, job) as JsonObject;
        for (const column of COLUMNS) delete expected[column];
        // Through JSON text, as it is stored: -0 and 0 are one number there.
        expect(JSON.parse(JSON.stringify(specJson(job)))).toStrictEqual(JSON.parse(JSON.stringify(expected)));
      }),
      { numRuns: 2000 },
    );
  });
});
