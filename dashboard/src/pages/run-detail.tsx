import { useEffect, useRef, useState } from "react";
import { RunState, type Run, type RunAttempt } from "@chime/sdk/gen/run_pb";
import { errorMessage, jobs } from "../api";
import { RunLogs } from "../components/run-logs";
import { Empty, ErrorNote, RunStateBadge, TimeCell } from "../components/bits";
import { TableHead } from "../components/table-head";
import { TERMINAL_RUN_STATES, TRIGGER_NAMES, durationMs, formatMs, toDate } from "../format";
import { useLoad, useNow, useToast } from "../hooks";
import { href, navigate } from "../router";
import { ownError } from "../run-outcome";
import { subscribeRuns, type FeedStatus } from "../runs-feed";
import "../debug-pages.css";

/** A run: its outcome, times, attempts and output; followed live until it ends. */
export function RunDetailPage({ id }: { id: string }) {
  const now = useNow(1000);
  const run = useLoad(async (signal) => (await jobs.getRun({ id }, { signal, timeoutMs: 10_000 })).run, [id]);
  const r = run.data;
  const job = useLoad(async (signal) => (r ? (await jobs.getJob({ id: r.jobId }, { signal, timeoutMs: 10_000 })).job : undefined), [r?.jobId]);
  const live = useRunFollower(r, run.reload);

  if (run.error && !r) {
    return (
      <section>
        <h1>Run</h1>
        <ErrorNote>Cannot load run {id}: {run.error}</ErrorNote>
        <a href={href.runs()}>See the live runs</a>
      </section>
    );
  }
  if (!r) return <p className="muted">Loading…</p>;
  const jobName = job.data?.name ?? (job.error ? r.jobId : "…");

  return (
    <section aria-labelledby="run-title">
      <nav className="crumbs" aria-label="Breadcrumb">
        <a href={href.jobs()}>Jobs</a> <span aria-hidden="true">/</span> <a href={href.job(r.jobId)}>{jobName}</a> <span aria-hidden="true">/</span>
      </nav>
      <div className="page-head">
        <h1 id="run-title">
          Run <code className="small">{r.id}</code> <RunStateBadge state={r.state} />
        </h1>
        <RunActions run={r} onChange={run.reload} />
        {live && (
          <span className={`connection ${live.connection}`} role="status" data-testid="run-live" data-connection={live.connection}>
            <span className="pulse" aria-hidden="true" /> {live.connection === "live" ? "Following live" : live.connection === "connecting" ? "Connecting…" : "Reconnecting…"}
          </span>
        )}
      </div>
      <ErrorNote>{run.error && `Refresh failed: ${run.error}`}</ErrorNote>
      <div className="grid-2">
        <div className="panel">
          <h2>Outcome</h2>
          <Outcome run={r} now={now} />
          <h3>Output</h3>
          {r.output ? <pre className="payload" data-testid="run-output">{JSON.stringify(r.output, null, 2)}</pre> : <p className="muted">{r.state === RunState.SUCCEEDED ? "The handler returned nothing." : "Only a run that succeeded has output."}</p>}
        </div>
        <div className="panel">
          <h2>Details</h2>
          <RunFacts run={r} now={now} jobName={jobName} />
        </div>
      </div>
      <div className="panel">
        <h2 id="attempts-title">Attempts</h2>
        <Attempts attempts={r.attempts} now={now} />
      </div>
      <div className="panel">
        <h2 id="logs-title">Logs</h2>
        <RunLogs runId={r.id} live={!TERMINAL_RUN_STATES.has(r.state)} />
      </div>
    </section>
  );
}

/**
 * Follows the run's job on the live feed (WatchRuns, or ListRuns polled where the server
 * lacks it) while the run has not ended, and reloads the run whenever its state or attempt
 * moves. Returns the feed's status, or undefined once there is nothing left to follow.
 */
function useRunFollower(run: Run | undefined, reload: () => void): FeedStatus | undefined {
  const [status, setStatus] = useState<FeedStatus | undefined>();
  const shown = useRef("");
  shown.current = run ? `${run.state}/${run.attempt}` : "";
  const following = run && !TERMINAL_RUN_STATES.has(run.state) ? run : undefined;
  const runId = following?.id;
  const jobId = following?.jobId;
  useEffect(() => {
    if (!runId || !jobId) return setStatus(undefined);
    return subscribeRuns(
      { jobId },
      {
        rows: (rows) => {
          const row = rows.find((r) => r.runId === runId);
          if (row && `${row.state}/${row.attempt}` !== shown.current) reload();
        },
        status: setStatus,
      },
    );
  }, [runId, jobId, reload]);
  return following ? status : undefined;
}

function RunActions({ run, onChange }: { run: Run; onChange(): void }) {
  const toast = useToast();
  const [busy, setBusy] = useState(false);
  const act = async (call: () => Promise<void>) => {
    setBusy(true);
    try {
      await call();
    } catch (error) {
      toast(errorMessage(error), "error");
    } finally {
      setBusy(false);
    }
  };
  // A retry is a new manual run of the job (TriggerJob): the finished run stays as it ended.
  const retry = () =>
    act(async () => {
      const { run: created } = await jobs.triggerJob({ id: run.jobId });
      toast("New run triggered");
      if (created) navigate(href.run(created.id));
    });
  const cancel = () =>
    act(async () => {
      await jobs.cancelRun({ id: run.id });
      toast("Run cancelled");
      onChange();
    });
  return (
    <div className="actions" role="toolbar" aria-label="Run actions">
      {TERMINAL_RUN_STATES.has(run.state) ? (
        <button type="button" className="primary" disabled={busy} onClick={() => void retry()}>
          Retry as a new run
        </button>
      ) : (
        <button type="button" disabled={busy} onClick={() => void cancel()}>
          Cancel run
        </button>
      )}
      <a className="button" href={href.runs(run.jobId)}>
        Job's live runs
      </a>
    </div>
  );
}

/** What became of the run itself: the last attempt decides, never an earlier one's error. */
function Outcome({ run, now }: { run: Run; now: number }) {
  const attempts = `${run.attempt} attempt${run.attempt === 1 ? "" : "s"}`;
  const last = run.attempts.at(-1);
  const [tone, text] = (() => {
    switch (run.state) {
      case RunState.SUCCEEDED:
        return ["ok", `Succeeded on attempt ${run.attempt}${run.attempt > 1 ? ` (after ${run.attempt - 1} failed)` : ""}.`];
      case RunState.FAILED:
        return ["bad", `Failed after ${attempts}.`];
      case RunState.TIMED_OUT:
        return ["bad", `Timed out on attempt ${run.attempt}.`];
      case RunState.CANCELLED:
        return ["muted", "Cancelled."];
      case RunState.RETRY_WAIT:
        return ["warn", `Attempt ${run.attempt} failed; waiting to retry.`];
      case RunState.RUNNING:
        return ["info", `Running attempt ${run.attempt}${last?.workerId ? ` on ${last.workerId}` : ""}, for ${formatMs(now - (toDate(run.startTime)?.getTime() ?? now), true)} so far.`];
      default:
        return ["info", `Queued on ${run.queue}, waiting for a worker.`];
    }
  })();
  const error = ownError(run.state, run.error);
  return (
    <div className={`outcome ${tone}`} data-testid="run-outcome">
      <p className="outcome-text">{text}</p>
      {error && <pre className="error-text" data-testid="run-error">{error}</pre>}
    </div>
  );
}

/** How long from start to end, or to now ("so far") while it has not ended. */
function spanText(start: Date | undefined, end: Date | undefined, now: number): string {
  if (!start) return "—";
  return `${formatMs((end ?? new Date(now)).getTime() - start.getTime())}${end ? "" : " so far"}`;
}

function RunFacts({ run, now, jobName }: { run: Run; now: number; jobName: string }) {
  const start = toDate(run.startTime);
  const end = toDate(run.endTime);
  return (
    <dl className="definition">
      <dt>Job</dt>
      <dd>
        <a href={href.job(run.jobId)}>{jobName}</a>
      </dd>
      <dt>Queue</dt>
      <dd>
        <code>{run.queue}</code>
      </dd>
      <dt>Trigger</dt>
      <dd>{TRIGGER_NAMES[run.trigger]}</dd>
      <dt>Scheduled</dt>
      <dd>
        <TimeCell date={toDate(run.scheduledTime)} now={now} />
      </dd>
      <dt>Dispatched</dt>
      <dd>
        <TimeCell date={toDate(run.dispatchTime)} now={now} /> {run.dispatchLag && <span className="muted small">lag {formatMs(durationMs(run.dispatchLag))}</span>}
      </dd>
      <dt>Started</dt>
      <dd>
        <TimeCell date={start} now={now} />
      </dd>
      <dt>Ended</dt>
      <dd>
        <TimeCell date={end} now={now} />
      </dd>
      <dt title="of the last attempt">Duration</dt>
      <dd>{spanText(start, end, now)}</dd>
    </dl>
  );
}

function Attempts({ attempts, now }: { attempts: RunAttempt[]; now: number }) {
  if (attempts.length === 0) return <Empty>No attempt has started yet.</Empty>;
  return (
    <div className="table-wrap">
      <table className="table attempts-table" aria-labelledby="attempts-title">
        <TableHead columns={["Attempt", "State", "Worker", "Started", "Ended", "Duration", "Error"]} />
        <tbody>
          {attempts.map((a) => {
            const start = toDate(a.startTime);
            const end = toDate(a.endTime);
            return (
              <tr key={a.attempt} data-attempt={a.attempt}>
                <td>{a.attempt}</td>
                <td>
                  <RunStateBadge state={a.state} />
                </td>
                <td>{a.workerId ? <code>{a.workerId}</code> : <span className="muted">—</span>}</td>
                <td>
                  <TimeCell date={start} now={now} />
                </td>
                <td>
                  <TimeCell date={end} now={now} />
                </td>
                <td>{spanText(start, end, now)}</td>
                <td>{a.error ? <pre className="attempt-error error-text">{a.error}</pre> : <span className="muted">—</span>}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
