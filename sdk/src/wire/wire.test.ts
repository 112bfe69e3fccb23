import { fromBinary, toBinary, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { HttpRequest, RetryPolicy } from "../gen/chime/v1/job_pb.js";
import type { RunLogLine } from "../gen/chime/v1/run_pb.js";
import { RunAssignmentSchema, RunStatusBatchSchema, RunStatusUpdateSchema, type RunAssignment, type RunStatusBatch, type RunStatusUpdate } from "../gen/chime/v1/worker_pb.js";
import type { UnknownField } from "./fields.js";
import { decodeRunAssignment, encodeRunAssignment } from "./run-assignment.js";
import { decodeRunStatusBatch, decodeRunStatusUpdate, encodeRunStatusBatch, encodeRunStatusUpdate } from "./run-status.js";

const RUNS = Number(process.env.CHIME_WIRE_RUNS ?? 400);

// Strings over every code point (UTF-8 of 1 to 4 bytes), often empty, sometimes past the
// 127 bytes that a one-byte length holds.
const text = fc.oneof(
  { weight: 1, arbitrary: fc.constant("") },
  { weight: 6, arbitrary: fc.string({ unit: "binary", maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 40, maxLength: 120 }) },
);
const int32 = fc.oneof(fc.constant(0), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
const int64 = fc.oneof(fc.constant(0n), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }));
const double = fc.oneof(fc.constant(0), fc.constant(-0), fc.double());

/** Unknown fields of every wire type but groups, numbered past every field of these messages. */
const unknownField: fc.Arbitrary<UnknownField> = fc
  .record({
    no: fc.integer({ min: 20, max: 2 ** 29 - 1 }),
    kind: fc.constantFrom(WireType.Varint, WireType.Bit64, WireType.Bit32, WireType.LengthDelimited),
    value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    bytes: fc.uint8Array({ maxLength: 10 }),
  })
  .map(({ no, kind, value, bytes }) => {
    const w = new BinaryWriter();
    if (kind === WireType.Varint) w.uint64(value);
    else if (kind === WireType.Bit64) w.fixed64(value);
    else if (kind === WireType.Bit32) w.fixed32(Number(value & 0xffffffffn));
    else w.bytes(bytes);
    return { no, wireType: kind, data: w.finish() };
  });
/** Sets `$unknown` on a message sometimes, as fromBinary leaves it. */
const withUnknown = <T extends object>(arb: fc.Arbitrary<T>) =>
  fc.tuple(arb, fc.option(fc.array(unknownField, { minLength: 1, maxLength: 3 }), { nil: undefined })).map(([m, unknown]) =>
    unknown ? { ...m, $unknown: unknown } : m,
  );
const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
/** Leaves out the keys whose value is undefined, as a message fresh from create() has them. */
const defined = <T extends object>(m: T): T => Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined)) as T;

const timestamp = withUnknown(fc.record({ seconds: int64, nanos: int32 }).map((t): Timestamp => ({ $typeName: "google.protobuf.Timestamp", ...t })));
const duration = withUnknown(fc.record({ seconds: int64, nanos: int32 }).map((t): Duration => ({ $typeName: "google.protobuf.Duration", ...t })));
const stringMap = fc.dictionary(text, text, { maxKeys: 4 });

/** Struct payloads: nested objects and lists, every kind of number (NaN, ±0, ±Infinity), UTF-8 keys. */
const { json } = fc.letrec<{ json: JsonObject; value: JsonValue }>((tie) => ({
  json: fc.dictionary(text, tie("value"), { maxKeys: 4 }),
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    double,
    text,
    fc.array(tie("value"), { maxLength: 3 }),
    tie("json"),
  ),
}));

const retryPolicy = withUnknown(
  fc
    .record({ maxAttempts: int32, initialBackoff: optional(duration), maxBackoff: optional(duration), backoffMultiplier: double, jitter: optional(double) })
    .map((p): RetryPolicy => defined({ $typeName: "chime.v1.RetryPolicy", ...p })),
);
const http = withUnknown(
  fc.record({ method: text, url: text, headers: stringMap, body: text, keepHeaders: fc.array(text, { maxLength: 2 }) }).map((h): HttpRequest => ({ $typeName: "chime.v1.HttpRequest", ...h })),
);
const assignmentFields = {
  runId: text,
  jobId: text,
  jobName: text,
  namespace: text,
  queue: text,
  scheduledTime: optional(timestamp),
  payload: optional(json),
  labels: stringMap,
  retryPolicy: optional(retryPolicy),
  attemptTimeout: optional(duration),
  http: optional(http),
};
const assignment: fc.Arbitrary<RunAssignment> = withUnknown(
  fc.record(assignmentFields).map((a): RunAssignment => defined({ $typeName: "chime.v1.RunAssignment", ...a })),
);
const state = fc.oneof(fc.integer({ min: 0, max: 7 }), int32);
const updateFields = {
  runId: text,
  jobId: text,
  attempt: int32,
  state,
  time: optional(timestamp),
  error: text,
  output: optional(json),
  workerId: text,
  retryTime: optional(timestamp),
  attemptState: state,
  startTime: optional(timestamp),
  dispatchTime: optional(timestamp),
  logLines: fc.array(
    withUnknown(
      fc
        .record({ attempt: int32, seq: int32, level: state, time: optional(timestamp), message: text, fields: optional(json) })
        .map((l): RunLogLine => defined({ $typeName: "chime.v1.RunLogLine", ...l })),
    ),
    { maxLength: 2 },
  ),
};
const update: fc.Arbitrary<RunStatusUpdate> = withUnknown(
  fc.record(updateFields).map((u): RunStatusUpdate => defined({ $typeName: "chime.v1.RunStatusUpdate", ...u })),
);
const batch: fc.Arbitrary<RunStatusBatch> = withUnknown(
  fc.array(update, { maxLength: 4 }).map((updates): RunStatusBatch => ({ $typeName: "chime.v1.RunStatusBatch", updates })),
);

const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  return out;
};

describe("generated messages", () => {
  // A field added to the contract but not to a codec would otherwise go unseen: the
  // messages generated here would simply never set it.
  it("set every field the contract defines", () => {
    expect(Object.keys(assignmentFields).sort()).toEqual(RunAssignmentSchema.fields.map((f) => f.localName).sort());
    expect(Object.keys(updateFields).sort()).toEqual(RunStatusUpdateSchema.fields.map((f) => f.localName).sort());
  });
});

describe("RunAssignment codec", () => {
  it("encodes exactly the bytes of toBinary", () => {
    fc.assert(
      fc.property(assignment, (m) => {
        expect(encodeRunAssignment(m)).toEqual(toBinary(RunAssignmentSchema, m));
      }),
      { numRuns: RUNS },
    );
  });

  it("decodes exactly the message of fromBinary, merging repeated occurrences as it does", () => {
    fc.assert(
      fc.property(assignment, fc.option(assignment, { nil: undefined }), (a, b) => {
        // The scheduler sends a run's own fields followed by its job's: one message of both.
        const bytes = b ? concat(toBinary(RunAssignmentSchema, a), toBinary(RunAssignmentSchema, b)) : toBinary(RunAssignmentSchema, a);
        expect(decodeRunAssignment(bytes)).toStrictEqual(fromBinary(RunAssignmentSchema, bytes));
      }),
      { numRuns: RUNS },
    );
  });

  it("writes and reads large messages (lengths of two and three bytes) as protobuf-es does", () => {
    const payload: JsonObject = { big: "é".repeat(20_000), list: Array.from({ length: 300 }, (_, i) => ({ i, s: `item-${i}` })) };
    const m: RunAssignment = { $typeName: "chime.v1.RunAssignment", runId: "r".repeat(200), jobId: "", jobName: "", namespace: "", queue: "", labels: {}, payload };
    const bytes = toBinary(RunAssignmentSchema, m);
    expect(bytes.length).toBeGreaterThan(1 << 14);
    expect(encodeRunAssignment(m)).toEqual(bytes);
    expect(decodeRunAssignment(bytes)).toStrictEqual(fromBinary(RunAssignmentSchema, bytes));
  });

  it("keeps a payload key named __proto__ as a key (never a prototype), as protobuf-es does", () => {
    const payload = JSON.parse('{"__proto__": {"a": 1}, "b": [{"__proto__": 2}]}') as JsonObject;
    const m: RunAssignment = { $typeName: "chime.v1.RunAssignment", runId: "r", jobId: "", jobName: "", namespace: "", queue: "", labels: {}, payload };
    const bytes = encodeRunAssignment(m);
    expect(bytes).toEqual(toBinary(RunAssignmentSchema, m));
    const decoded = decodeRunAssignment(bytes);
    expect(decoded).toStrictEqual(fromBinary(RunAssignmentSchema, bytes));
    expect(Object.keys(decoded.payload!)).toEqual(["__proto__", "b"]);
    expect(Object.getPrototypeOf(decoded.payload)).toBe(Object.prototype);
  });

  it("reads Struct payloads written by other encoders as fromBinary does: kinds repeated in a Value, missing keys and values, unknown fields", () => {
    const w = new BinaryWriter();
    const value = (write: (v: BinaryWriter) => void) => {
      w.tag(2, WireType.LengthDelimited).fork();
      write(w);
      w.join();
    };
    const struct = (v: BinaryWriter, no: number, key: string, n: number) =>
      v.tag(no, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(key)
        .tag(2, WireType.LengthDelimited).fork().tag(2, WireType.Bit64).double(n).join().join().join();
    const list = (v: BinaryWriter, n: number) => v.tag(6, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).fork().tag(3, WireType.LengthDelimited).string(`s${n}`).join().join();
    const entry = (key: string | undefined, write?: (v: BinaryWriter) => void) => {
      w.tag(7, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).fork();
      if (key !== undefined) w.tag(1, WireType.LengthDelimited).string(key);
      if (write) value(write);
      w.join().join();
    };
    entry("twoStructs", (v) => (struct(v, 5, "x", 1), struct(v, 5, "y", 2)));
    entry("twoLists", (v) => (list(v, 1), list(v, 2)));
    entry("structThenNumber", (v) => (struct(v, 5, "x", 1), v.tag(2, WireType.Bit64).double(3)));
    entry("numberThenStruct", (v) => (v.tag(4, WireType.Varint).bool(true), struct(v, 5, "z", 4)));
    entry("unknownInValue", (v) => v.tag(99, WireType.Varint).uint32(7).tag(3, WireType.LengthDelimited).string("kept"));
    entry("noValue");
    entry(undefined, (v) => v.tag(3, WireType.LengthDelimited).string("empty key"));
    entry("__proto__", (v) => struct(v, 5, "polluted", 1));
    const bytes = w.tag(1, WireType.LengthDelimited).string("run").finish();
    const expected = fromBinary(RunAssignmentSchema, bytes);
    expect(decodeRunAssignment(bytes)).toStrictEqual(expected);
    expect(expected.payload).toMatchObject({ twoStructs: { x: 1, y: 2 }, twoLists: ["s1", "s2"], structThenNumber: 3, noValue: null, "": "empty key" });
  });

  it("nests payloads as deep as fromBinary allows, and no deeper", () => {
    const outcomes = new Set<string>();
    // Each style reaches every depth near the limit: 2 per object level, 3 per object-in-list level.
    const styles: Array<[JsonValue, (inner: JsonObject, i: number) => JsonObject]> = [
      [true, (inner) => ({ a: inner })],
      [{}, (inner) => ({ a: inner })],
      [true, (inner, i): JsonObject => (i % 2 ? { a: inner } : { b: [inner] })],
    ];
    for (const [leaf, wrap] of styles) for (let levels = 30; levels <= 52; levels++) {
      let payload: JsonObject = { leaf };
      for (let i = 0; i < levels; i++) payload = wrap(payload, i);
      const bytes = toBinary(RunAssignmentSchema, { $typeName: "chime.v1.RunAssignment", runId: "", jobId: "", jobName: "", namespace: "", queue: "", labels: {}, payload });
      let expected: unknown;
      try {
        expected = fromBinary(RunAssignmentSchema, bytes);
      } catch {
        expect(() => decodeRunAssignment(bytes), `${levels} levels`).toThrow(/maximum recursion depth/);
        outcomes.add("too deep");
        continue;
      }
      expect(decodeRunAssignment(bytes), `${levels} levels`).toStrictEqual(expected);
      outcomes.add("read");
    }
    expect([...outcomes].sort()).toEqual(["read", "too deep"]); // the limit lies within the range
  });

  it("reads an empty message and rejects what fromBinary rejects", () => {
    expect(decodeRunAssignment(new Uint8Array())).toStrictEqual(fromBinary(RunAssignmentSchema, new Uint8Array()));
    for (const bad of [[0xff, 0xff, 0xff, 0x01], [0x0a, 0x05, 0x61], [0x0a, 0x02, 0xc3, 0x28]]) {
      const bytes = new Uint8Array(bad);
      expect(() => fromBinary(RunAssignmentSchema, bytes)).toThrow();
      expect(() => decodeRunAssignment(bytes)).toThrow();
    }
  });
});

describe("RunStatusBatch and RunStatusUpdate codecs", () => {
  it("encode exactly the bytes of toBinary", () => {
    fc.assert(
      fc.property(batch, (b) => {
        expect(encodeRunStatusBatch(b)).toEqual(toBinary(RunStatusBatchSchema, b));
        for (const u of b.updates) expect(encodeRunStatusUpdate(u)).toEqual(toBinary(RunStatusUpdateSchema, u));
      }),
      { numRuns: RUNS },
    );
  });

  it("decode exactly the messages of fromBinary", () => {
    fc.assert(
      fc.property(batch, update, (b, u) => {
        const bytes = toBinary(RunStatusBatchSchema, b);
        expect(decodeRunStatusBatch(bytes)).toStrictEqual(fromBinary(RunStatusBatchSchema, bytes));
        // An update that appears twice in a row within one frame is merged field by field.
        const merged = concat(toBinary(RunStatusUpdateSchema, u), ...b.updates.map((x) => toBinary(RunStatusUpdateSchema, x)));
        expect(decodeRunStatusUpdate(merged)).toStrictEqual(fromBinary(RunStatusUpdateSchema, merged));
      }),
      { numRuns: RUNS },
    );
  });
});
