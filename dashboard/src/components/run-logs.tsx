import { useEffect, useState } from "react";
import { RunLogLevel, type RunLogLine } from "@chime/sdk/gen/run_pb";
import { errorMessage, jobs, watch } from "../api";
import { toDate } from "../format";
import { ErrorNote } from "./bits";

/**
 * A run's log lines (ctx.log, the http executor's record). While the run has not ended they
 * come from WatchRunLogs, which sends the stored lines and then new ones until the run ends;
 * an ended run's lines are read a page at a time with GetRunLogs.
 */
export function RunLogs({ runId, live }: { runId: string; live: boolean }) {
  const [lines, setLines] = useState<RunLogLine[]>([]);
  const [error, setError] = useState("");
  useEffect(() => {
    const abort = new AbortController();
    setLines([]);
    setError("");
    void (async () => {
      if (live) {
        for await (const message of watch.watchRunLogs({ runId }, { signal: abort.signal })) setLines((shown) => [...shown, ...message.lines]);
        return;
      }
      let pageToken = "";
      for (;;) {
        const page = await jobs.getRunLogs({ runId, pageSize: 1000, pageToken }, { signal: abort.signal, timeoutMs: 10_000 });
        setLines((shown) => [...shown, ...page.lines]);
        if (page.lines.length < 1000) return;
        pageToken = page.nextPageToken;
      }
    })().catch((e: unknown) => {
      if (!abort.signal.aborted) setError(errorMessage(e));
    });
    return () => abort.abort();
    // `live` is read once per run: a followed stream ends by itself when the run ends.
  }, [runId]);

  return (
    <>
      <ErrorNote>{error && `Cannot load the log: ${error}`}</ErrorNote>
      {lines.length === 0 ? (
        <p className="muted">{live ? "No log lines yet." : "The run logged nothing."}</p>
      ) : (
        <pre className="payload" data-testid="run-logs">
          {lines.map((line) => (
            <div key={`${line.attempt}/${line.seq}`} data-level={RunLogLevel[line.level]}>
              {toDate(line.time)?.toISOString() ?? "-"} {RunLogLevel[line.level].padEnd(7)} [attempt {line.attempt}] {line.message}
              {line.fields && Object.keys(line.fields).length > 0 ? ` ${JSON.stringify(line.fields)}` : ""}
            </div>
          ))}
        </pre>
      )}
    </>
  );
}
