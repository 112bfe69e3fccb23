/** Hand-written codecs of the messages on the run hot path (byte-identical to protobuf-es). */
export { encodeRunAssignment, decodeRunAssignment } from "./run-assignment.js";
export { encodeRunStatusUpdate, encodeRunStatusBatch, decodeRunStatusUpdate, decodeRunStatusBatch } from "./run-status.js";
