import type { JsonObject } from "@bufbuild/protobuf";
import { parseDuration, type DstSpec, type JobSpec, type ScheduleSpec } from "@chime/sdk/web";
import type { Command } from "commander";
import { ArgumentError } from "./exit-codes.js";

/** The flags of `job create` and `job update`, as commander parses them. */
export interface JobFlags {
  name?: string;
  queue?: string;
  namespace?: string;
  cron?: string;
  tz?: string;
  dstGap?: string;
  dstRepeat?: string;
  every?: string;
  at?: string;
  immediate?: boolean;
  payload?: string;
  label?: string[];
  maxAttempts?: string;
  attemptTimeout?: string;
  overlap?: string;
  misfire?: string;
  httpUrl?: string;
  httpMethod?: string;
  pauseAfterFailures?: string;
  runRetention?: string;
}

const OVERLAP = ["allow", "skip", "buffer_one", "cancel_previous"] as const;
const MISFIRE = ["skip", "run_once", "run_all"] as const;
const DST_GAP = ["shift", "skip"] as const;
const DST_REPEAT = ["first", "both"] as const;

/** Adds --dst-gap and --dst-repeat, the DST policy of a cron schedule. */
export function addDstFlags(command: Command): Command {
  return command
    .option("--dst-gap <policy>", `a cron time in a spring-forward gap: ${DST_GAP.join(", ")} (default shift)`)
    .option("--dst-repeat <policy>", `a cron time in a fall-back repeat: ${DST_REPEAT.join(", ")} (default first)`);
}

/** The DST policy the flags give (only the ones given). */
export function dstOf(flags: Pick<JobFlags, "dstGap" | "dstRepeat">): DstSpec {
  const dst: DstSpec = {};
  if (flags.dstGap !== undefined) dst.dstGap = oneOf("--dst-gap", flags.dstGap, DST_GAP);
  if (flags.dstRepeat !== undefined) dst.dstRepeat = oneOf("--dst-repeat", flags.dstRepeat, DST_REPEAT);
  return dst;
}

export function addJobFlags(command: Command): Command {
  return addDstFlags(command)
    .option("--name <name>", "job name, unique in its namespace")
    .option("--queue <queue>", "queue the job's runs go to")
    .option("--namespace <namespace>", "namespace (default: the server's)")
    .option("--cron <expression>", "cron schedule, 6 fields with seconds or 5")
    .option("--tz <zone>", "IANA time zone of --cron, e.g. Europe/Berlin")
    .option("--every <duration>", "interval schedule, e.g. 30s, 5m, 1h30m")
    .option("--at <time>", "one run at an ISO 8601 time")
    .option("--immediate", "one run now")
    .option("--payload <json>", "JSON object handed to the worker")
    .option("--label <key=value>", "label (repeatable)", repeatable)
    .option("--max-attempts <n>", "attempts before the run fails")
    .option("--attempt-timeout <duration>", "deadline of each attempt")
    .option("--overlap <policy>", `when a run is due while one runs: ${OVERLAP.join(", ")}`)
    .option("--misfire <policy>", `runs missed during downtime: ${MISFIRE.join(", ")}`)
    .option("--http-url <url>", "run as an http job: the built-in executor calls this URL")
    .option("--http-method <method>", "method of the http job (default POST)")
    .option("--pause-after-failures <n>", "pause the job after n failed runs in a row (0: never)")
    .option("--run-retention <duration>", "keep finished runs this long, e.g. 90d (0: the namespace's or server's retention)");
}

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new ArgumentError(`${flag}: ${JSON.stringify(value)} is not one of ${allowed.join(", ")}`);
}

function checkedDuration(flag: string, value: string): string {
  try {
    parseDuration(value);
  } catch {
    throw new ArgumentError(`${flag}: ${JSON.stringify(value)} is not a duration (e.g. 500ms, 5s, 1m30s, 2h)`);
  }
  return value;
}

function scheduleOf(flags: JobFlags): ScheduleSpec | undefined {
  const given = (["cron", "every", "at", "immediate"] as const).filter((key) => flags[key] !== undefined);
  if (given.length > 1) throw new ArgumentError(`--${given.join(", --")}: give one schedule`);
  for (const [flag, value] of [["--tz", flags.tz], ["--dst-gap", flags.dstGap], ["--dst-repeat", flags.dstRepeat]] as const) {
    if (value !== undefined && flags.cron === undefined) throw new ArgumentError(`${flag}: applies to --cron only`);
  }
  if (flags.cron !== undefined) return { cron: flags.cron, ...(flags.tz === undefined ? {} : { timeZone: flags.tz }), ...dstOf(flags) };
  if (flags.every !== undefined) return { every: checkedDuration("--every", flags.every) };
  if (flags.at !== undefined) {
    const at = new Date(flags.at);
    if (Number.isNaN(at.getTime())) throw new ArgumentError(`--at: ${JSON.stringify(flags.at)} is not an ISO 8601 time`);
    return { at };
  }
  return flags.immediate ? "immediate" : undefined;
}

function payloadOf(text: string): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ArgumentError(`--payload: not JSON (${(error as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new ArgumentError("--payload: expected a JSON object");
  return value as JsonObject;
}

function labelsOf(pairs: string[]): Record<string, string> {
  return Object.fromEntries(
    pairs.map((pair) => {
      const at = pair.indexOf("=");
      if (at <= 0) throw new ArgumentError(`--label: ${JSON.stringify(pair)} is not key=value`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
}

/** Commander's collector for an option given several times. */
export const repeatable = (value: string, all: string[] = []): string[] => [...all, value];

export function positiveInteger(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new ArgumentError(`${flag}: ${JSON.stringify(text)} is not a positive integer`);
  return n;
}

/** Values of an enum flag such as --state running, checked against the generated enum. */
export function enumValues<E extends Record<string, string | number>>(flag: string, names: string[], values: E): Array<E[keyof E]> {
  const allowed = Object.keys(values).filter((key) => Number.isNaN(Number(key)) && key !== "UNSPECIFIED");
  return names.map((name) => {
    const key = name.toUpperCase();
    if (!allowed.includes(key)) throw new ArgumentError(`${flag}: ${JSON.stringify(name)} is not one of ${allowed.map((a) => a.toLowerCase()).join(", ")}`);
    return values[key] as E[keyof E];
  });
}

/** The JobSpec fields the flags set (only those: `job update` changes just them). */
export function jobChanges(flags: JobFlags): Partial<JobSpec> {
  const spec: Partial<JobSpec> = {};
  if (flags.name !== undefined) spec.name = flags.name;
  if (flags.queue !== undefined) spec.queue = flags.queue;
  if (flags.namespace !== undefined) spec.namespace = flags.namespace;
  const schedule = scheduleOf(flags);
  if (schedule !== undefined) spec.schedule = schedule;
  if (flags.payload !== undefined) spec.payload = payloadOf(flags.payload);
  if (flags.label !== undefined) spec.labels = labelsOf(flags.label);
  if (flags.maxAttempts !== undefined) spec.retry = { maxAttempts: positiveInteger("--max-attempts", flags.maxAttempts) };
  if (flags.attemptTimeout !== undefined) spec.attemptTimeout = checkedDuration("--attempt-timeout", flags.attemptTimeout);
  if (flags.overlap !== undefined) spec.overlap = oneOf("--overlap", flags.overlap, OVERLAP);
  if (flags.misfire !== undefined) spec.misfire = oneOf("--misfire", flags.misfire, MISFIRE);
  if (flags.httpUrl !== undefined) spec.http = flags.httpMethod === undefined ? { url: flags.httpUrl } : { url: flags.httpUrl, method: flags.httpMethod };
  else if (flags.httpMethod !== undefined) throw new ArgumentError("--http-method: needs --http-url");
  if (flags.pauseAfterFailures !== undefined) {
    spec.pauseAfterFailures = flags.pauseAfterFailures === "0" ? 0 : positiveInteger("--pause-after-failures", flags.pauseAfterFailures);
  }
  // "0" clears the job's own retention (the job inherits again).
  if (flags.runRetention !== undefined) spec.runRetention = flags.runRetention === "0" ? 0 : checkedDuration("--run-retention", flags.runRetention);
  return spec;
}

/** A whole JobSpec for `job create`: name, queue and a schedule are required. */
export function newJobSpec(flags: JobFlags): JobSpec {
  const spec = jobChanges(flags);
  for (const [key, flag] of [["name", "--name"], ["queue", "--queue"], ["schedule", "--cron, --every, --at or --immediate"]] as const) {
    if (spec[key] === undefined) throw new ArgumentError(`${flag}: required`);
  }
  return spec as JobSpec;
}

