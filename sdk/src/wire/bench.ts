/**
 * Micro-benchmark of the hand-written codecs against protobuf-es's reflective toBinary and
 * fromBinary, on messages shaped like the hot path's: `npx tsx sdk/src/wire/bench.ts`.
 */
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { RunState } from "../gen/chime/v1/run_pb.js";
import { RunAssignmentSchema, RunStatusBatchSchema, RunStatusUpdateSchema } from "../gen/chime/v1/worker_pb.js";
import { decodeRunAssignment, encodeRunAssignment } from "./run-assignment.js";
import { decodeRunStatusBatch, encodeRunStatusBatch, encodeRunStatusUpdate } from "./run-status.js";

const uuid = () => crypto.randomUUID();
const assignment = (payload: object) =>
  create(RunAssignmentSchema, {
    runId: uuid(),
    jobId: uuid(),
    jobName: "nightly-report-42",
    namespace: "default",
    queue: "reports",
    scheduledTime: timestampFromDate(new Date()),
    payload: payload as never,
    labels: { team: "data" },
    retryPolicy: { maxAttempts: 3, initialBackoff: { seconds: 1n }, maxBackoff: { seconds: 300n }, backoffMultiplier: 2, jitter: 0.2 },
  });
const update = () =>
  create(RunStatusUpdateSchema, {
    runId: uuid(),
    jobId: uuid(),
    attempt: 1,
    state: RunState.SUCCEEDED,
    time: timestampFromDate(new Date()),
    output: {},
    workerId: "host-1234-abcd",
    startTime: timestampFromDate(new Date()),
  });

/** Nanoseconds per call of `fn`, the best of five rounds. */
function time(fn: () => unknown, iterations: number): number {
  for (let i = 0; i < iterations / 10; i++) fn();
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) fn();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / iterations);
  }
  return best;
}

const rows: string[][] = [];
function compare(what: string, reflective: () => unknown, handWritten: () => unknown, iterations = 50_000) {
  const a = time(reflective, iterations);
  const b = time(handWritten, iterations);
  rows.push([what, `${(a / 1000).toFixed(2)} µs`, `${(b / 1000).toFixed(2)} µs`, `×${(a / b).toFixed(1)}`]);
}

for (const [name, payload] of [
  ["empty payload", {}],
  ["small payload", { reportId: 42, format: "pdf", recipients: ["a@example.com", "b@example.com"], draft: false }],
] as const) {
  const m = assignment(payload);
  const bytes = toBinary(RunAssignmentSchema, m);
  compare(`RunAssignment encode, ${name} (${bytes.length} B)`, () => toBinary(RunAssignmentSchema, m), () => encodeRunAssignment(m));
  compare(`RunAssignment decode, ${name}`, () => fromBinary(RunAssignmentSchema, bytes), () => decodeRunAssignment(bytes));
}
const u = update();
compare(`RunStatusUpdate encode (${toBinary(RunStatusUpdateSchema, u).length} B)`, () => toBinary(RunStatusUpdateSchema, u), () => encodeRunStatusUpdate(u));
const batch = create(RunStatusBatchSchema, { updates: Array.from({ length: 200 }, update) });
const batchBytes = toBinary(RunStatusBatchSchema, batch);
compare(`RunStatusBatch of 200 encode (${batchBytes.length} B)`, () => toBinary(RunStatusBatchSchema, batch), () => encodeRunStatusBatch(batch), 500);
compare("RunStatusBatch of 200 decode", () => fromBinary(RunStatusBatchSchema, batchBytes), () => decodeRunStatusBatch(batchBytes), 500);

console.log("| message | protobuf-es | hand-written | speed-up |\n| --- | --- | --- | --- |");
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
