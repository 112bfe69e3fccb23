import { RunState } from "@chime/sdk";
import type { RunRecord } from "./run-lifecycle.js";

/** A QUEUED run as stored, with `fields` replaced: the starting point of the lifecycle's table tests. */
export function runRecord(fields: Partial<RunRecord> = {}): RunRecord {
  return {
    id: "0190f0b0-0000-7000-8000-000000000001",
    job_id: "0190f0b0-0000-7000-8000-0000000000aa",
    state: RunState.QUEUED,
    attempt: 0,
    start_time: null,
    end_time: null,
    output: null,
    error: "",
    attempts: [],
    cancel_requested_time: null,
    dispatch_time: null,
    start_cursor: null,
    end_cursor: null,
    ...fields,
  };
}
