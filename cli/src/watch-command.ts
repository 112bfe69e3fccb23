import { RunEventSchema, RunState, type ChimeClient } from "@chime/sdk";
import { Command } from "commander";
import { positiveInteger, repeatable } from "./job-options.js";
import { enumText, messageJson, timeText, type OutputFormat } from "./output.js";


/**
 * `chime watch`: run events live, one line each (NDJSON with --output json), until Ctrl-C.
 * The SDK reconnects on its own with its last token; on Ctrl-C the stream is closed and the
 * last resume token printed to stderr, so `--resume-token` picks up with no event missed.
 */
export function watchCommand(connect: () => ChimeClient, output: () => OutputFormat): Command {
  return new Command("watch")
    .description("stream run events live (Ctrl-C stops; resume later with --resume-token)")
    .option("--job <id>", "only this job's runs (repeatable)", repeatable)
    .option("--queue <queue>", "only this queue's runs (repeatable)", repeatable)
    .option("--resume-token <token>", "start after this event (a token printed by an earlier watch)")
    .option("--limit <n>", "stop after this many events")
    .action(async (flags: { job?: string[]; queue?: string[]; resumeToken?: string; limit?: string }) => {
      const abort = new AbortController();
      const stop = () => abort.abort();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
      let lastToken = flags.resumeToken ?? "";
      let seen = 0;
      const limit = flags.limit === undefined ? Infinity : positiveInteger("--limit", flags.limit);
      try {
        const events = connect().watchRuns(
          { ...(flags.job ? { jobIds: flags.job } : {}), ...(flags.queue ? { queues: flags.queue } : {}) },
          { signal: abort.signal, ...(flags.resumeToken ? { resumeToken: flags.resumeToken } : {}), onKeepalive: (k) => (lastToken = k.resumeToken || lastToken),
            // The SDK retries on its own; say so, or a watch of a server that is down looks idle.
            onReconnect: ({ error, attempt }) => process.stderr.write(`chime: watch reconnecting (attempt ${attempt}): ${error instanceof Error ? error.message : String(error)}\n`),
          },
        );
        for await (const event of events) {
          lastToken = event.resumeToken;
          const line =
            output() === "json"
              ? JSON.stringify(messageJson(RunEventSchema, event))
              : [timeText(event.time), event.runId, event.jobId, enumText(RunState, event.state).padEnd(10), `attempt ${event.attempt}`, event.error].join("  ").trimEnd();
          process.stdout.write(`${line}\n`);
          if (++seen >= limit) break;
        }
      } finally {
        process.off("SIGINT", stop);
        process.off("SIGTERM", stop);
        process.stderr.write(`resume token: ${lastToken}\n`);
      }
    });
}
