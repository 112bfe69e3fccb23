import fc from "fast-check";
import type { JsonValue, MessageInitShape } from "@bufbuild/protobuf";
import type { JobSchema } from "@chime/sdk/gen/job_pb";

export type JobInit = MessageInitShape<typeof JobSchema>;

/**
 * Random chime.v1.Job messages for checking hand-written codecs against protobuf-es. With
 * `jsonSafe`, only values proto3 JSON can hold (and validation lets through): times and
 * durations in range, finite numbers, known enum values.
 */
export function jobArbitrary({ jsonSafe }: { jsonSafe: boolean }): fc.Arbitrary<JobInit> {
  const int64 = jsonSafe ? fc.bigInt({ min: 0n, max: 2n ** 62n }) : fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
  const int32 = jsonSafe ? fc.integer({ min: 0, max: 2 ** 31 - 1 }) : fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
  const nanos = fc.oneof(fc.constant(0), fc.constantFrom(1_000_000, 250_000_000, 1_000, 1), fc.integer({ min: 0, max: 999_999_999 }));
  const time = jsonSafe
    ? fc.record({ seconds: fc.bigInt({ min: -62_135_596_800n, max: 253_402_300_799n }), nanos })
    : fc.record({ seconds: fc.oneof(fc.constant(0n), int64), nanos: fc.oneof(fc.constant(0), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })) });
  const duration = jsonSafe
    ? fc.oneof(
        fc.record({ seconds: fc.bigInt({ min: 0n, max: 315_576_000_000n }), nanos }),
        fc.record({ seconds: fc.bigInt({ min: -315_576_000_000n, max: 0n }), nanos: nanos.map((n) => -n) }),
      )
    : time;
  const double = jsonSafe ? fc.double({ noNaN: true, noDefaultInfinity: true }) : fc.double();
  const text = fc.oneof(fc.constant(""), fc.string({ maxLength: 20 }), fc.string({ unit: "grapheme", maxLength: 10 }), fc.string({ minLength: 130, maxLength: 300 }));
  // An own "__proto__" key cannot come out of decoding (protobuf-es assigns keys), only out of fast-check.
  const key = text.filter((k) => k !== "__proto__");
  const stringMap = fc.dictionary(key, text, { maxKeys: 4 });
  const json: fc.Arbitrary<JsonValue> = fc.letrec<{ value: JsonValue }>((tie) => ({
    value: fc.oneof(
      { depthSize: "small" },
      fc.constant(null),
      fc.boolean(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.integer(),
      text,
      fc.array(tie("value"), { maxLength: 4 }),
      fc.dictionary(key, tie("value"), { maxKeys: 4 }),
    ),
  })).value;
  const optional = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined });
  const schedule = fc.record(
    {
      kind: fc.oneof(
        fc.constant({ case: "immediate" as const, value: {} }),
        fc.record({ time: optional(time) }).map((value) => ({ case: "at" as const, value })),
        fc.record({ expression: text, timeZone: text, dstGap: fc.integer({ min: 0, max: 2 }), dstRepeat: fc.integer({ min: 0, max: 2 }) }).map((value) => ({ case: "cron" as const, value })),
        fc.record({ every: optional(duration), anchor: optional(time) }).map((value) => ({ case: "interval" as const, value })),
        fc.constant({ case: undefined }),
      ),
      startTime: time,
      endTime: time,
      maxRuns: int64,
    },
    { requiredKeys: ["kind"] },
  );
  return fc.record(
    {
      id: text,
      namespace: text,
      name: text,
      queue: text,
      payload: fc.dictionary(key, json, { maxKeys: 5 }),
      labels: stringMap,
      schedule,
      retryPolicy: fc.record(
        {
          maxAttempts: int32,
          initialBackoff: duration,
          maxBackoff: duration,
          backoffMultiplier: fc.oneof(fc.constant(0), fc.constant(-0), double),
          jitter: fc.oneof(fc.constant(0), double),
        },
        { requiredKeys: [] },
      ),
      attemptTimeout: duration,
      overlapPolicy: fc.integer({ min: 0, max: 4 }),
      maxConcurrentRuns: int32,
      misfirePolicy: fc.integer({ min: 0, max: 3 }),
      misfireWindow: duration,
      http: fc.record({ method: text, url: text, headers: stringMap, body: text, keepHeaders: fc.array(text, { maxLength: 2 }) }, { requiredKeys: [] }),
      pauseAfterFailures: int32,
      runRetention: duration,
      state: fc.integer({ min: 0, max: 3 }),
      nextRunTime: time,
      runCount: int64,
      createTime: time,
      updateTime: time,
      autoPause: fc.record({ failureStreak: int32, lastRunId: text, time }, { requiredKeys: [] }),
    },
    { requiredKeys: [] },
  );
}
