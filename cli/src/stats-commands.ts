import { GetJobStatsResponseSchema, GetQueueStatsResponseSchema, type ActiveRunCounts, type ChimeClient, type EndedRunStats } from "@chime/sdk";
import type { Duration } from "@bufbuild/protobuf/wkt";
import type { Command } from "commander";
import { durationFlag } from "./alert-commands.js";
import { messageJson, printFields, printJson, timeText, type OutputFormat } from "./output.js";

/** `chime stats`: the StatsService's figures of a job or a queue over a window. */

function durationText(duration: Duration | undefined): string {
  if (!duration) return "-";
  const ms = Number(duration.seconds) * 1000 + duration.nanos / 1e6;
  return ms < 1000 ? `${ms.toFixed(ms < 10 ? 1 : 0)} ms` : `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

function endedFields(ended: EndedRunStats | undefined): Array<[string, string]> {
  if (!ended) return [];
  const total = ended.succeeded + ended.failed + ended.timedOut + ended.cancelled;
  return [
    ["ended", `${total} (succeeded ${ended.succeeded}, failed ${ended.failed}, timed out ${ended.timedOut}, cancelled ${ended.cancelled})`],
    ["success rate", total > 0n ? `${(ended.successRate * 100).toFixed(1)}%` : "-"],
    ["start lag", `p50 ${durationText(ended.startLagP50)}, p90 ${durationText(ended.startLagP90)}, p99 ${durationText(ended.startLagP99)}`],
    ["duration", `p50 ${durationText(ended.durationP50)}, p90 ${durationText(ended.durationP90)}, p99 ${durationText(ended.durationP99)}`],
  ];
}

function activeFields(active: ActiveRunCounts | undefined): Array<[string, string]> {
  return active ? [["active", `queued ${active.queued}, running ${active.running}, retry wait ${active.retryWait}`]] : [];
}

export function addStatsCommand(program: Command, connect: () => ChimeClient, output: () => OutputFormat): void {
  const stats = program.command("stats").description("run statistics computed by the server: outcomes, success rate, lag and duration percentiles");
  stats
    .command("job <id>")
    .description("one job's runs scheduled within the window")
    .option("--window <duration>", "how far back from now (1s to 31d)", "1h")
    .action(async (id: string, flags: { window: string }) => {
      const response = await connect().statsService.getJobStats({ jobId: id, window: durationFlag("--window", flags.window) });
      if (output() === "json") return printJson(messageJson(GetJobStatsResponseSchema, response));
      printFields([["job", id], ["since", timeText(response.windowStart)], ...endedFields(response.ended), ...activeFields(response.active)]);
    });
  stats
    .command("queue <queue>")
    .description("one queue's runs that ended within the window, and its JetStream consumer now")
    .option("--window <duration>", "how far back from now, in whole minutes (1m to 31d)", "1h")
    .option("--namespace <namespace>", "only this namespace's runs", "")
    .action(async (queue: string, flags: { window: string; namespace: string }) => {
      const response = await connect().statsService.getQueueStats({ queue, namespace: flags.namespace, window: durationFlag("--window", flags.window) });
      if (output() === "json") return printJson(messageJson(GetQueueStatsResponseSchema, response));
      printFields([
        ["queue", queue],
        ["since", timeText(response.windowStart)],
        ...endedFields(response.ended),
        ...activeFields(response.active),
        ["jetstream", `waiting ${response.runsWaiting}, in flight ${response.runsInFlight}, idle worker pulls ${response.pullRequests}`],
      ]);
    });
}
