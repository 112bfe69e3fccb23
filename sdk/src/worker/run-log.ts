import { create, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { RunLogLevel, RunLogLineSchema, type RunLogLine } from "../gen/chime/v1/run_pb.js";
import { droppedMarker, runLogLineChars, type RunLogLimits } from "../run-log-bounds.js";

/** What a handler logs onto its run: `ctx.log.info("charged", { amount: 12 })`. */
export interface RunLog {
  debug(message: string, fields?: JsonObject): void;
  info(message: string, fields?: JsonObject): void;
  warn(message: string, fields?: JsonObject): void;
  error(message: string, fields?: JsonObject): void;
}

/**
 * One attempt's log lines, kept in memory for the attempt: `takeNew` hands out the lines
 * logged since it was last called (the worker sends them while the handler runs), `take`
 * all of them for the update that ends the attempt (the server keeps each line once). Once
 * a line does not fit in the limits, it and every later line are only counted; `take` then
 * ends the lines with a marker saying how many were dropped.
 */
export class AttemptLog implements RunLog {
  private readonly lines: RunLogLine[] = [];
  private chars = 0;
  private dropped = 0;
  /** Lines handed out by takeNew. */
  private sent = 0;

  constructor(
    private readonly attempt: number,
    private readonly limits: RunLogLimits,
    private readonly now: () => Date = () => new Date(),
    /** Called after each line kept. */
    private readonly onLine: () => void = () => undefined,
  ) {}

  debug(message: string, fields?: JsonObject): void {
    this.add(RunLogLevel.DEBUG, message, fields);
  }
  info(message: string, fields?: JsonObject): void {
    this.add(RunLogLevel.INFO, message, fields);
  }
  warn(message: string, fields?: JsonObject): void {
    this.add(RunLogLevel.WARN, message, fields);
  }
  error(message: string, fields?: JsonObject): void {
    this.add(RunLogLevel.ERROR, message, fields);
  }

  private add(level: RunLogLevel, message: unknown, fields: JsonObject | undefined): void {
    const text = String(message);
    // Fields go through JSON: what a Struct cannot hold (undefined, functions, cycles) must not fail the handler.
    const json = fields === undefined ? undefined : toJsonObject(fields);
    const size = runLogLineChars({ message: text, fields: json });
    if (this.dropped > 0 || this.lines.length + 1 > this.limits.maxLines || this.chars + size > this.limits.maxChars) {
      this.dropped++;
      return;
    }
    this.chars += size;
    this.lines.push(
      create(RunLogLineSchema, { attempt: this.attempt, seq: this.lines.length + 1, level, time: timestampFromDate(this.now()), message: text, fields: json }),
    );
    this.onLine();
  }

  /** The lines logged since the last call (none dropped are marked yet: `take` does that). */
  takeNew(): RunLogLine[] {
    const lines = this.lines.slice(this.sent);
    this.sent = this.lines.length;
    return lines;
  }

  /** Every line of the attempt, a drop marker last if any were dropped. */
  take(): RunLogLine[] {
    if (this.dropped === 0) return this.lines;
    return [...this.lines, droppedMarker(this.attempt, this.lines.length + 1, this.dropped, this.now())];
  }
}

function toJsonObject(fields: JsonObject): JsonObject | undefined {
  try {
    const json: unknown = JSON.parse(JSON.stringify(fields));
    return json !== null && typeof json === "object" && !Array.isArray(json) ? (json as JsonObject) : undefined;
  } catch {
    return { unserializable: String(fields) };
  }
}
