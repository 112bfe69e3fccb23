import { DstAdjustment, GetSchedulerStatusResponseSchema, JobState, RunState, createChimeClient, toSchedule, type ChimeClient } from "@chime/sdk";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Command, Option } from "commander";
import { ArgumentError } from "./exit-codes.js";
import { addDstFlags, addJobFlags, dstOf, enumValues, jobChanges, newJobSpec, positiveInteger, repeatable, type JobFlags } from "./job-options.js";
import { addAuditCommand, addKeyCommand } from "./admin-commands.js";
import { addAlertCommand } from "./alert-commands.js";
import { addNamespaceCommand } from "./namespace-commands.js";
import { addStatsCommand } from "./stats-commands.js";
import { addTlsFlags, tlsConnection, type TlsFlags } from "./tls-options.js";
import { messageJson, printDeleted, printFields, printJson, printTable, timeText, type OutputFormat } from "./output.js";
import { printJob, printJobs, printRun, printRunLogLines, printRuns } from "./render.js";
import { watchCommand } from "./watch-command.js";

export interface GlobalFlags extends TlsFlags {
  server: string;
  token?: string;
  output: OutputFormat;
  timeout: string;
}

/** Takes at most `limit` items of a paging iterator. */
async function take<T>(items: AsyncIterable<T>, limit: number): Promise<T[]> {
  const taken: T[] = [];
  if (limit <= 0) return taken;
  for await (const item of items) {
    taken.push(item);
    if (taken.length >= limit) break;
  }
  return taken;
}

/** The `chime` command tree; `connect` makes the SDK client from the global flags. */
/** The preview's DST column: what a rule did to the time (empty: nothing). */
const DST_TEXT: Record<DstAdjustment, string> = {
  [DstAdjustment.UNSPECIFIED]: "",
  [DstAdjustment.SHIFTED]: "shifted past the gap",
  [DstAdjustment.SKIPPED]: "skipped (in the gap, not fired)",
  [DstAdjustment.DOUBLED]: "doubled (second occurrence)",
};

export function createProgram(): Command {
  const program = addTlsFlags(new Command("chime")
    .description("Command line of the Chime job scheduler")
    .version("0.1.0")
    .addOption(new Option("-s, --server <url>", "server gRPC address").env("CHIME_SERVER").default("http://localhost:8080"))
    .addOption(new Option("--token <token>", "API token, sent as a bearer token").env("CHIME_TOKEN"))
    .addOption(new Option("-o, --output <format>", "output format").choices(["table", "json"]).env("CHIME_OUTPUT").default("table"))
    .addOption(new Option("--timeout <ms>", "deadline of each call, in milliseconds").env("CHIME_TIMEOUT_MS").default("30000")))
    .showHelpAfterError()
    .exitOverride();

  const globals = () => program.opts<GlobalFlags>();
  const connect = (options: { stream?: boolean } = {}): ChimeClient => {
    const { server, token, timeout, ...tlsFlags } = globals();
    const timeoutMs = positiveInteger("--timeout", timeout);
    const { baseUrl, tls } = tlsConnection(server, tlsFlags);
    return createChimeClient({ baseUrl, ...(tls ? { tls } : {}), ...(token ? { token } : {}), ...(options.stream ? {} : { timeoutMs }) });
  };
  const output = () => globals().output;

  const job = program.command("job").description("create, read, change and delete jobs");
  addJobFlags(job.command("create").description("create a job"))
    .option("--request-id <id>", "idempotency key: a retried create returns the first one's job")
    .action(async (flags: JobFlags & { requestId?: string }) => {
      printJob(await connect().createJob(newJobSpec(flags), flags.requestId ? { requestId: flags.requestId } : {}), output());
    });
  job.command("get <id>").description("show a job").action(async (id: string) => printJob(await connect().getJob(id), output()));
  job
    .command("list")
    .description("list jobs")
    .option("--queue <queue>", "only this queue")
    .option("--state <state>", "only this state: active, paused, completed")
    .option("--selector <labels>", 'label selector, e.g. "env=prod,team,!legacy"')
    .option("--name-prefix <prefix>", "only names starting so")
    .option("--namespace <namespace>", "namespace")
    .option("--limit <n>", "at most this many", "100")
    .action(async (flags: { queue?: string; state?: string; selector?: string; namePrefix?: string; namespace?: string; limit: string }) => {
      const [state] = flags.state === undefined ? [] : enumValues("--state", [flags.state], JobState);
      const jobs = connect().listJobs({
        ...(state === undefined ? {} : { state }),
        ...(flags.queue === undefined ? {} : { queue: flags.queue }),
        ...(flags.selector === undefined ? {} : { labelSelector: flags.selector }),
        ...(flags.namePrefix === undefined ? {} : { namePrefix: flags.namePrefix }),
        ...(flags.namespace === undefined ? {} : { namespace: flags.namespace }),
      });
      printJobs(await take(jobs, positiveInteger("--limit", flags.limit)), output());
    });
  addJobFlags(job.command("update <id>").description("change the given fields of a job, leaving the others")).action(async (id: string, flags: JobFlags) => {
    const changes = jobChanges(flags);
    if (Object.keys(changes).length === 0) throw new ArgumentError("update: give at least one field to change (see chime job update --help)");
    printJob(await connect().updateJob(id, changes), output());
  });
  job.command("pause <id>").description("stop firing a job's schedule").action(async (id: string) => printJob(await connect().pauseJob(id), output()));
  job.command("resume <id>").description("fire a paused job's schedule again").action(async (id: string) => printJob(await connect().resumeJob(id), output()));
  job.command("trigger <id>").description("start a run of a job now").action(async (id: string) => printRun(await connect().triggerJob(id), output()));
  job
    .command("delete <id>")
    .description("delete a job (its queued runs are cancelled)")
    .action(async (id: string) => {
      await connect().deleteJob(id);
      printDeleted(id, output());
    });

  const run = program.command("run").description("read and cancel runs");
  run
    .command("list")
    .description("list runs, newest scheduled first")
    .option("--job <id>", "only this job's runs")
    .option("--state <state>", "only runs in this state (repeatable)", repeatable)
    .option("--limit <n>", "at most this many", "100")
    .action(async (flags: { job?: string; state?: string[]; limit: string }) => {
      const runs = connect().listRuns({
        ...(flags.job === undefined ? {} : { jobId: flags.job }),
        ...(flags.state === undefined ? {} : { states: enumValues("--state", flags.state, RunState) }),
      });
      printRuns(await take(runs, positiveInteger("--limit", flags.limit)), output());
    });
  run.command("get <id>").description("show a run").action(async (id: string) => printRun(await connect().getRun(id), output()));
  run
    .command("logs <id>")
    .description("show a run's log lines (with --follow, new ones too, until the run ends)")
    .option("-f, --follow", "keep printing lines as the run stores them, until it ends")
    .action(async (id: string, flags: { follow?: boolean }) => {
      const chime = connect({ stream: flags.follow === true });
      const format = output();
      if (flags.follow) {
        for await (const message of chime.watchService.watchRunLogs({ runId: id })) printRunLogLines(message.lines, format);
        return;
      }
      let pageToken = "";
      for (;;) {
        const page = await chime.jobService.getRunLogs({ runId: id, pageSize: 1000, pageToken });
        printRunLogLines(page.lines, format);
        if (page.lines.length < 1000) return;
        pageToken = page.nextPageToken;
      }
    });
  run.command("cancel <id>").description("cancel a run (a running handler is aborted)").action(async (id: string) => printRun(await connect().cancelRun(id), output()));

  program.addCommand(watchCommand(() => connect({ stream: true }), output));
  addKeyCommand(program, connect, output);
  addAuditCommand(program, connect, output);
  addNamespaceCommand(program, connect, output);
  addAlertCommand(program, connect, output);
  addStatsCommand(program, connect, output);

  addDstFlags(
    program
      .command("preview <cron>")
      .description("the next fire times of a cron expression, with what a DST rule did to each")
      .option("--tz <zone>", "IANA time zone, e.g. Europe/Berlin")
      .option("-n, --count <n>", "how many", "10")
      .option("--after <time>", "from this ISO 8601 time on (default: now)"),
  ).action(async (cron: string, flags: { tz?: string; count: string; after?: string; dstGap?: string; dstRepeat?: string }) => {
    const after = flags.after === undefined ? undefined : new Date(flags.after);
    if (after && Number.isNaN(after.getTime())) throw new ArgumentError(`--after: ${JSON.stringify(flags.after)} is not an ISO 8601 time`);
    const schedule = toSchedule({ cron, ...(flags.tz === undefined ? {} : { timeZone: flags.tz }), ...dstOf(flags) });
    const count = positiveInteger("--count", flags.count);
    const { fireTimes, times } = await connect().jobService.previewSchedule({ schedule, count, after: after && timestampFromDate(after) });
    if (output() === "json") return printJson(fireTimes.map((time) => timestampDate(time).toISOString()));
    const zone = flags.tz ?? "UTC";
    const local = new Intl.DateTimeFormat("sv-SE", {
      timeZone: zone,
      year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
      hourCycle: "h23",
      timeZoneName: "short",
    });
    const rows = times.map(({ time, dstAdjustment }) => [timestampDate(time!).toISOString(), local.format(timestampDate(time!)), DST_TEXT[dstAdjustment]]);
    // The DST column only when a rule changed a time: most previews have none.
    if (rows.some((row) => row[2])) printTable(["UTC", zone, "DST"], rows);
    else printTable(["UTC", zone], rows.map((row) => row.slice(0, 2)));
  });

  program
    .command("status")
    .description("the scheduler's leader and epoch, and whether the server serves")
    .action(async () => {
      const status = await connect().jobService.getSchedulerStatus({});
      if (output() === "json") return printJson({ serving: true, ...(messageJson(GetSchedulerStatusResponseSchema, status) as object) });
      const heartbeatAge = status.heartbeatTime ? `${((Date.now() - timestampDate(status.heartbeatTime).getTime()) / 1000).toFixed(1)} s ago` : "-";
      printFields([
        ["health", "serving"],
        ["leader", status.leaderId || "(none yet)"],
        ["epoch", String(status.epoch)],
        ["leader since", timeText(status.leaderSince)],
        ["heartbeat", `${timeText(status.heartbeatTime)} (${heartbeatAge})`],
      ]);
    });

  return program;
}
