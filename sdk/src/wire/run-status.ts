/**
 * chime.v1.RunStatusBatch and RunStatusUpdate without reflection: workers encode an update per
 * state change and the api role decodes every batch. Writes exactly toBinary's bytes and reads
 * exactly fromBinary's object (wire.test.ts checks both on generated messages).
 */
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import { WireType, BinaryReader } from "@bufbuild/protobuf/wire";
import { RunLogLineSchema } from "../gen/chime/v1/run_pb.js";
import { Writer } from "./writer.js";
import { RunStatusBatchSchema, RunStatusUpdateSchema, type RunStatusBatch, type RunStatusUpdate } from "../gen/chime/v1/worker_pb.js";
import {
  fieldNumbers,
  fork,
  newTimestamp,
  readSecondsNanos,
  readUnknown,
  writeSecondsNanos,
  writeStruct,
  writeUnknown,
  type UnknownField,
} from "./fields.js";
import { readStruct } from "./struct-reader.js";

const F = fieldNumbers(RunStatusUpdateSchema);
const BATCH = fieldNumbers(RunStatusBatchSchema);
/** Whether strings are checked for valid UTF-8 when read (proto3: yes), as the descriptors say. */
const UTF8 = RunStatusUpdateSchema.field.runId.utf8Validation;

type Unknown = { $unknown?: UnknownField[] };

const writer = new Writer();

export function encodeRunStatusUpdate(update: RunStatusUpdate): Uint8Array {
  return writeUpdateFields(writer.reset(), update).finish();
}

export function encodeRunStatusBatch(batch: RunStatusBatch): Uint8Array {
  const w = writer.reset();
  for (const update of batch.updates) {
    fork(w, BATCH.updates);
    writeUpdateFields(w, update).join();
  }
  writeUnknown(w, (batch as Unknown).$unknown);
  return w.finish();
}

function writeUpdateFields(w: Writer, u: RunStatusUpdate): Writer {
  if (u.runId !== "") w.tag(F.runId, WireType.LengthDelimited).string(u.runId);
  if (u.jobId !== "") w.tag(F.jobId, WireType.LengthDelimited).string(u.jobId);
  if (u.attempt !== 0) w.tag(F.attempt, WireType.Varint).int32(u.attempt);
  if (u.state !== 0) w.tag(F.state, WireType.Varint).int32(u.state);
  if (u.time !== undefined) writeSecondsNanos(w, F.time, u.time);
  if (u.error !== "") w.tag(F.error, WireType.LengthDelimited).string(u.error);
  if (u.output !== undefined) writeStruct(w, F.output, u.output);
  if (u.workerId !== "") w.tag(F.workerId, WireType.LengthDelimited).string(u.workerId);
  if (u.retryTime !== undefined) writeSecondsNanos(w, F.retryTime, u.retryTime);
  if (u.attemptState !== 0) w.tag(F.attemptState, WireType.Varint).int32(u.attemptState);
  if (u.startTime !== undefined) writeSecondsNanos(w, F.startTime, u.startTime);
  if (u.dispatchTime !== undefined) writeSecondsNanos(w, F.dispatchTime, u.dispatchTime);
  // Rare (only handlers that log) and not on the hot path: the generated codec is used for them.
  for (const line of u.logLines) {
    const bytes = toBinary(RunLogLineSchema, line);
    w.tag(F.logLines, WireType.LengthDelimited).uint32(bytes.length).raw(bytes);
  }
  writeUnknown(w, (u as Unknown).$unknown);
  return w;
}

export function decodeRunStatusBatch(bytes: Uint8Array): RunStatusBatch {
  const r = new BinaryReader(bytes);
  const batch: RunStatusBatch = { $typeName: "chime.v1.RunStatusBatch", updates: [] };
  while (r.pos < r.len) {
    const [no, wireType] = r.tag();
    if (no === BATCH.updates) batch.updates.push(readUpdate(r, r.uint32() + r.pos, 2));
    else readUnknown(r, no, wireType, 1, batch);
  }
  return batch;
}

export function decodeRunStatusUpdate(bytes: Uint8Array): RunStatusUpdate {
  const r = new BinaryReader(bytes);
  return readUpdate(r, r.len, 1);
}

/** An update's fields up to `end`, the update being at `depth` (1 alone, 2 in a batch). */
function readUpdate(r: BinaryReader, end: number, depth: number): RunStatusUpdate {
  const u: RunStatusUpdate = {
    $typeName: "chime.v1.RunStatusUpdate",
    runId: "",
    jobId: "",
    attempt: 0,
    state: 0,
    error: "",
    workerId: "",
    attemptState: 0,
    logLines: [],
  };
  while (r.pos < end) {
    const [no, wireType] = r.tag();
    switch (no) {
      case F.runId:
        u.runId = r.string(UTF8);
        break;
      case F.jobId:
        u.jobId = r.string(UTF8);
        break;
      case F.attempt:
        u.attempt = r.int32();
        break;
      case F.state:
        u.state = r.int32(); // open enum: any number is kept
        break;
      case F.time:
        u.time = readSecondsNanos(r, depth + 1, u.time ?? newTimestamp());
        break;
      case F.error:
        u.error = r.string(UTF8);
        break;
      case F.output:
        u.output = readStruct(r, r.uint32(), depth + 1, u.output ?? {});
        break;
      case F.workerId:
        u.workerId = r.string(UTF8);
        break;
      case F.retryTime:
        u.retryTime = readSecondsNanos(r, depth + 1, u.retryTime ?? newTimestamp());
        break;
      case F.attemptState:
        u.attemptState = r.int32();
        break;
      case F.startTime:
        u.startTime = readSecondsNanos(r, depth + 1, u.startTime ?? newTimestamp());
        break;
      case F.dispatchTime:
        u.dispatchTime = readSecondsNanos(r, depth + 1, u.dispatchTime ?? newTimestamp());
        break;
      case F.logLines:
        u.logLines.push(fromBinary(RunLogLineSchema, r.bytes()));
        break;
      default:
        readUnknown(r, no, wireType, depth, u);
    }
  }
  return u;
}
