import { useEffect, useMemo, useRef, useState } from "react";
import { RunState } from "@chime/sdk/gen/run_pb";
import { jobs } from "../api";
import { ErrorNote, RunStateBadge, TimeCell } from "../components/bits";
import { RUN_STATE_NAMES, TERMINAL_RUN_STATES, TRIGGER_NAMES } from "../format";
import { useDebounced, useNow, useToast, AuthEpoch } from "../hooks";
import { useContext } from "react";
import { href } from "../router";
import { subscribeRuns, type FeedRow, type FeedStatus } from "../runs-feed";
import { errorMessage } from "../api";
import { ownError } from "../run-outcome";

const STATE_CHOICES = [RunState.QUEUED, RunState.RUNNING, RunState.RETRY_WAIT, RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.TIMED_OUT];

export function LiveRunsPage({ jobId }: { jobId?: string }) {
  const epoch = useContext(AuthEpoch);
  const toast = useToast();
  const now = useNow(1000);
  const [jobFilter, setJobFilter] = useState(jobId ?? "");
  const [queue, setQueue] = useState("");
  const [states, setStates] = useState<RunState[]>([]);
  const filter = useDebounced(useMemo(() => ({ jobId: jobFilter.trim() || undefined, queue: queue.trim() || undefined, states }), [jobFilter, queue, states]), 300);
  const [rows, setRows] = useState<FeedRow[]>([]);
  const [status, setStatus] = useState<FeedStatus>({ mode: "watch", connection: "connecting" });
  const [names, setNames] = useState<Record<string, string>>({});
  const changedAt = useRef(new Map<string, { state: RunState; at: number }>());

  useEffect(() => {
    setRows([]);
    return subscribeRuns(filter, { rows: setRows, status: setStatus });
  }, [filter, epoch]);

  // Job names for the ids seen, fetched once each.
  useEffect(() => {
    const missing = [...new Set(rows.map((r) => r.jobId))].filter((id) => !(id in names));
    if (missing.length === 0) return;
    setNames((n) => ({ ...n, ...Object.fromEntries(missing.map((id) => [id, ""])) }));
    for (const id of missing.slice(0, 50)) {
      jobs.getJob({ id }).then(
        ({ job }) => setNames((n) => ({ ...n, [id]: job?.name ?? id })),
        () => setNames((n) => ({ ...n, [id]: id })),
      );
    }
  }, [rows, names]);

  // Remember when each run last changed state, to highlight fresh changes.
  for (const row of rows) {
    const seen = changedAt.current.get(row.runId);
    if (!seen || seen.state !== row.state) changedAt.current.set(row.runId, { state: row.state, at: seen ? Date.now() : 0 });
  }

  const cancel = async (row: FeedRow) => {
    try {
      await jobs.cancelRun({ id: row.runId });
      toast("Run cancelled");
    } catch (error) {
      toast(errorMessage(error), "error");
    }
  };

  const connectionText =
    status.connection === "live"
      ? status.mode === "watch"
        ? "Live (streaming)"
        : "Live (polling every second)"
      : status.connection === "connecting"
        ? "Connecting…"
        : "Reconnecting…";

  return (
    <section aria-labelledby="live-title">
      <div className="page-head">
        <h1 id="live-title">Live runs</h1>
        <span className={`connection ${status.connection}`} role="status" data-testid="feed-status" data-mode={status.mode} data-connection={status.connection}>
          <span className="pulse" aria-hidden="true" /> {connectionText}
        </span>
      </div>
      {status.connection === "reconnecting" && <ErrorNote>Lost the connection ({status.error}); retrying on its own.</ErrorNote>}
      <form className="filters" role="search" aria-label="Filter runs" onSubmit={(e) => e.preventDefault()}>
        <div className="field">
          <label htmlFor="r-job">Job ID</label>
          <input id="r-job" value={jobFilter} onChange={(e) => setJobFilter(e.target.value)} placeholder="any job" />
        </div>
        <div className="field">
          <label htmlFor="r-queue">Queue</label>
          <input id="r-queue" value={queue} onChange={(e) => setQueue(e.target.value)} placeholder="any queue" />
        </div>
        <fieldset className="field states">
          <legend>States</legend>
          {STATE_CHOICES.map((s) => (
            <label key={s} className="check-label">
              <input
                type="checkbox"
                checked={states.includes(s)}
                onChange={() => setStates((list) => (list.includes(s) ? list.filter((x) => x !== s) : [...list, s]))}
              />{" "}
              {RUN_STATE_NAMES[s]}
            </label>
          ))}
        </fieldset>
      </form>
      <div className="table-wrap">
        <table className="table feed" aria-describedby="live-title">
          <thead>
            <tr>
              <th scope="col">Scheduled</th>
              <th scope="col">Job</th>
              <th scope="col">Queue</th>
              <th scope="col">Trigger</th>
              <th scope="col">State</th>
              <th scope="col">Attempt</th>
              <th scope="col">Last change</th>
              <th scope="col">Error</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => {
              const fresh = now - (changedAt.current.get(row.runId)?.at ?? 0) < 2000;
              return (
                <tr key={row.runId} className={fresh ? "fresh" : undefined} data-run-id={row.runId} data-job-id={row.jobId} data-state={RUN_STATE_NAMES[row.state]}>
                  <td>
                    <a href={href.run(row.runId)} aria-label={`Run ${row.runId}`}>
                      <TimeCell date={row.scheduledTime} now={now} />
                    </a>
                  </td>
                  <td>
                    <a href={href.job(row.jobId)}>{names[row.jobId] || row.jobId.slice(0, 8)}</a>
                  </td>
                  <td>
                    <code>{row.queue || "—"}</code>
                  </td>
                  <td>{row.trigger === undefined ? "—" : TRIGGER_NAMES[row.trigger]}</td>
                  <td>
                    <RunStateBadge state={row.state} />
                  </td>
                  <td>{row.attempt || "—"}</td>
                  <td>
                    <TimeCell date={row.time} now={now} />
                  </td>
                  <td className="error-cell">{ownError(row.state, row.error) || <span className="muted">—</span>}</td>
                  <td>
                    {!TERMINAL_RUN_STATES.has(row.state) && (
                      <button type="button" className="small-button" onClick={() => void cancel(row)} aria-label={`Cancel run ${row.runId}`}>
                        Cancel
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {rows.length === 0 && status.connection === "live" && <p className="empty">No runs yet. They appear here as they are scheduled and change state.</p>}
    </section>
  );
}
