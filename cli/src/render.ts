import { DstGapPolicy, DstRepeatPolicy, JobSchema, JobState, RunLogLevel, RunLogLineSchema, RunSchema, RunState, type Cron, type Job, type Run, type RunLogLine } from "@chime/sdk";
import { enumText, messageJson, printFields, printJson, printTable, timeText, type OutputFormat } from "./output.js";

/** How jobs and runs are shown: one table row each, or their proto JSON. */

/** The DST policies that differ from the default: ", skipped in a DST gap, both occurrences of a repeated hour". */
function dstText(cron: Cron): string {
  return (cron.dstGap === DstGapPolicy.SKIP ? ", skipped in a DST gap" : "") + (cron.dstRepeat === DstRepeatPolicy.BOTH ? ", both occurrences of a repeated hour" : "");
}

function scheduleText(job: Job): string {
  const kind = job.schedule?.kind;
  switch (kind?.case) {
    case "cron":
      return `cron ${kind.value.expression}${kind.value.timeZone ? ` (${kind.value.timeZone})` : ""}${dstText(kind.value)}`;
    case "interval":
      return `every ${Number(kind.value.every?.seconds ?? 0n)}s`;
    case "at":
      return `at ${timeText(kind.value.time)}`;
    case "immediate":
      return "immediate";
    default:
      return "-";
  }
}

const JOB_HEADERS = ["ID", "NAME", "QUEUE", "STATE", "SCHEDULE", "NEXT RUN"];
const jobRow = (job: Job) => [job.id, job.name, job.queue, enumText(JobState, job.state), scheduleText(job), timeText(job.nextRunTime)];

const RUN_HEADERS = ["ID", "JOB", "STATE", "ATTEMPT", "SCHEDULED", "ENDED", "ERROR"];
const runRow = (run: Run) => [run.id, run.jobId, enumText(RunState, run.state), String(run.attempt), timeText(run.scheduledTime), timeText(run.endTime), run.error];

export function printJobs(jobs: Job[], format: OutputFormat): void {
  if (format === "json") printJson(jobs.map((job) => messageJson(JobSchema, job)));
  else printTable(JOB_HEADERS, jobs.map(jobRow));
}

export function printRuns(runs: Run[], format: OutputFormat): void {
  if (format === "json") printJson(runs.map((run) => messageJson(RunSchema, run)));
  else printTable(RUN_HEADERS, runs.map(runRow));
}

export function printJob(job: Job, format: OutputFormat): void {
  if (format === "json") return printJson(messageJson(JobSchema, job));
  printFields([
    ...JOB_HEADERS.map((header, i): [string, string] => [header.toLowerCase(), jobRow(job)[i] ?? ""]),
    ["namespace", job.namespace],
    ["labels", Object.entries(job.labels).map(([k, v]) => `${k}=${v}`).join(",") || "-"],
    ["payload", job.payload ? JSON.stringify(job.payload) : "-"],
    ...(job.runRetention ? [["run retention", `${Number(job.runRetention.seconds)}s (finished runs kept after they end)`] as [string, string]] : []),
    ...(job.autoPause ? [["paused by", `${job.autoPause.failureStreak} failed runs in a row (last ${job.autoPause.lastRunId})`] as [string, string]] : []),
  ]);
}

export function printRun(run: Run, format: OutputFormat): void {
  if (format === "json") return printJson(messageJson(RunSchema, run));
  printFields([
    ...RUN_HEADERS.map((header, i): [string, string] => [header.toLowerCase(), runRow(run)[i] ?? ""]),
    ["started", timeText(run.startTime)],
    ["output", run.output ? JSON.stringify(run.output) : "-"],
  ]);
}

/**
 * Log lines as they come, one a line: "time LEVEL [attempt n] message {fields}", or NDJSON of
 * their proto JSON with --output json (a follow prints as lines arrive, so no table widths).
 */
export function printRunLogLines(lines: RunLogLine[], format: OutputFormat): void {
  const text = lines.map((line) => {
    if (format === "json") return JSON.stringify(messageJson(RunLogLineSchema, line));
    const fields = line.fields && Object.keys(line.fields).length > 0 ? ` ${JSON.stringify(line.fields)}` : "";
    return `${timeText(line.time)} ${enumText(RunLogLevel, line.level).padEnd(7)} [attempt ${line.attempt}] ${line.message}${fields}`;
  });
  if (text.length > 0) process.stdout.write(text.join("\n") + "\n");
}
