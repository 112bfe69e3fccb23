import { useMemo, useState } from "react";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Job } from "@chime/sdk/gen/job_pb";
import { RunState, type Run } from "@chime/sdk/gen/run_pb";
import { listAllJobs } from "../all-jobs";
import { jobs } from "../api";
import { Empty, ErrorNote, RunStateBadge, TimeCell } from "../components/bits";
import { TableHead } from "../components/table-head";
import { toDate } from "../format";
import { useLoad, useNow } from "../hooks";
import { href } from "../router";
import { ownError } from "../run-outcome";
import "../debug-pages.css";

const WINDOWS: Array<[string, number]> = [
  ["last hour", 3_600_000],
  ["last 6 hours", 6 * 3_600_000],
  ["last 24 hours", 86_400_000],
  ["last 7 days", 7 * 86_400_000],
  ["last 30 days", 30 * 86_400_000],
];
/** Failed runs read at most per refresh (newest first); namespace and queue are filtered here, as ListRuns has no such filter. */
const MAX_RUNS = 5000;

/** The failed and timed-out runs of the window, newest first, and whether there were more. */
async function failedRuns(signal: AbortSignal, windowMs: number): Promise<{ runs: Run[]; truncated: boolean }> {
  const runs: Run[] = [];
  let pageToken = "";
  const scheduledAfter = timestampFromDate(new Date(Date.now() - windowMs));
  do {
    const page = await jobs.listRuns({ pageSize: 1000, pageToken, states: [RunState.FAILED, RunState.TIMED_OUT], scheduledAfter }, { signal, timeoutMs: 10_000 });
    runs.push(...page.runs);
    pageToken = page.nextPageToken;
  } while (pageToken && runs.length < MAX_RUNS);
  return { runs, truncated: pageToken !== "" };
}

const distinct = (values: string[]) => [...new Set(values)].sort();

/** Failed and timed-out runs across jobs, filtered by namespace, queue and time. */
export function FailuresPage({ queue: initialQueue }: { queue?: string }) {
  const now = useNow(1000);
  const [namespace, setNamespace] = useState("");
  const [queue, setQueue] = useState(initialQueue ?? "");
  const [windowMs, setWindowMs] = useState(WINDOWS[2][1]);
  const jobList = useLoad((signal) => listAllJobs(signal), [], 30_000);
  const failed = useLoad((signal) => failedRuns(signal, windowMs), [windowMs], 10_000);
  const byId = useMemo(() => new Map((jobList.data?.jobs ?? []).map((j) => [j.id, j])), [jobList.data]);
  const namespaces = distinct((jobList.data?.jobs ?? []).map((j) => j.namespace || "default"));
  const queues = distinct([...(jobList.data?.jobs ?? []).map((j) => j.queue), ...(queue ? [queue] : [])]);
  const shown = (failed.data?.runs ?? []).filter(
    (run) => (!queue || run.queue === queue) && (!namespace || (byId.get(run.jobId)?.namespace || "default") === namespace),
  );

  return (
    <section aria-labelledby="failures-title">
      <div className="page-head">
        <h1 id="failures-title">Failures</h1>
        <p className="muted">Runs that failed or timed out after their last attempt, newest first. Refreshed every 10 seconds.</p>
      </div>
      <form className="filters" role="search" aria-label="Filter failures" onSubmit={(e) => e.preventDefault()}>
        <AnyOf id="fl-namespace" label="Namespace" value={namespace} options={namespaces} onChange={setNamespace} />
        <AnyOf id="fl-queue" label="Queue" value={queue} options={queues} onChange={setQueue} />
        <div className="field">
          <label htmlFor="fl-window">Scheduled</label>
          <select id="fl-window" value={windowMs} onChange={(e) => setWindowMs(Number(e.target.value))}>
            {WINDOWS.map(([label, ms]) => (
              <option key={ms} value={ms}>
                {label}
              </option>
            ))}
          </select>
        </div>
      </form>
      <ErrorNote>{failed.error && `Cannot load the runs: ${failed.error}`}</ErrorNote>
      <ErrorNote>{jobList.error && `Cannot load the jobs: ${jobList.error}`}</ErrorNote>
      {failed.data && (
        <p className="muted small" data-testid="failures-count">
          {shown.length} failed run{shown.length === 1 ? "" : "s"}
          {failed.data.truncated && ` among the newest ${failed.data.runs.length} of the window (older ones are not read)`}
        </p>
      )}
      <div className="table-wrap">
        <table className="table failures-table" aria-labelledby="failures-title">
          <TableHead columns={["Scheduled", "Job", "Namespace", "Queue", "State", "Attempts", "Ended", "Error"]} />
          <tbody>
            {shown.map((run) => (
              <FailureLine key={run.id} run={run} job={byId.get(run.jobId)} now={now} />
            ))}
          </tbody>
        </table>
      </div>
      {failed.data && shown.length === 0 && <Empty>No failed runs match.</Empty>}
      {failed.loading && !failed.data && <p className="muted">Loading…</p>}
    </section>
  );
}

/** A filter choosing one of `options`, or any. */
function AnyOf({ id, label, value, options, onChange }: { id: string; label: string; value: string; options: string[]; onChange(value: string): void }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
        <option value="">any</option>
        {options.map((o) => (
          <option key={o}>{o}</option>
        ))}
      </select>
    </div>
  );
}

function FailureLine({ run, job, now }: { run: Run; job?: Job; now: number }) {
  return (
    <tr data-run-id={run.id}>
      <td>
        <a href={href.run(run.id)} aria-label={`Run ${run.id}`}>
          <TimeCell date={toDate(run.scheduledTime)} now={now} />
        </a>
      </td>
      <td>
        <a href={href.job(run.jobId)}>{job?.name ?? run.jobId.slice(0, 8)}</a>
      </td>
      <td>{job ? job.namespace || "default" : <span className="muted">—</span>}</td>
      <td>
        <code>{run.queue}</code>
      </td>
      <td>
        <RunStateBadge state={run.state} />
      </td>
      <td className="num">{run.attempt}</td>
      <td>
        <TimeCell date={toDate(run.endTime)} now={now} />
      </td>
      <td className="error-cell">{ownError(run.state, run.error)}</td>
    </tr>
  );
}
