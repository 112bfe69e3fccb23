import { useState } from "react";
import { toJson } from "@bufbuild/protobuf";
import { JobState, HttpRequestSchema, type Job } from "@chime/sdk/gen/job_pb";
import { ScheduleSchema } from "@chime/sdk/gen/schedule_pb";
import { type Run } from "@chime/sdk/gen/run_pb";
import { errorMessage, jobs } from "../api";
import { ConfirmButton, Empty, ErrorNote, JobStateBadge, RunStateBadge, TimeCell } from "../components/bits";
import {
  MISFIRE_NAMES,
  OVERLAP_NAMES,
  TERMINAL_RUN_STATES,
  TRIGGER_NAMES,
  durationMs,
  formatMs,
  formatTime,
  relativeTime,
  scheduleInWords,
  toDate,
} from "../format";
import { useLoad, useNow, useToast } from "../hooks";
import { href, navigate } from "../router";
import { Labels } from "./jobs";
import { ownError } from "../run-outcome";
import { JobStatsPanel } from "../components/job-stats";
import { ScheduleEventsPanel } from "../components/schedule-events";

const RUNS_PAGE = 20;

export function JobDetailPage({ id }: { id: string }) {
  const toast = useToast();
  const now = useNow(1000);
  const job = useLoad(async (signal) => (await jobs.getJob({ id }, { signal, timeoutMs: 10_000 })).job, [id], 2000);
  const j = job.data;
  const scheduleKey = j?.schedule ? JSON.stringify(toJson(ScheduleSchema, j.schedule)) : "";
  const preview = useLoad(
    async (signal) => (j?.schedule ? (await jobs.previewSchedule({ schedule: j.schedule, count: 30 }, { signal, timeoutMs: 10_000 })).fireTimes : []),
    [scheduleKey],
    10_000,
  );
  const [busy, setBusy] = useState(false);
  // Bumped by "Trigger now" so the run history shows the new run at once.
  const [runsVersion, setRunsVersion] = useState(0);

  const act = async (what: string, call: () => Promise<unknown>, after?: () => void) => {
    setBusy(true);
    try {
      await call();
      toast(what);
      job.reload();
      after?.();
    } catch (error) {
      toast(`${errorMessage(error)}`, "error");
    } finally {
      setBusy(false);
    }
  };

  if (job.error && !j) {
    return (
      <section>
        <h1>Job</h1>
        <ErrorNote>Cannot load job {id}: {job.error}</ErrorNote>
        <a href={href.jobs()}>Back to the jobs</a>
      </section>
    );
  }
  if (!j) return <p className="muted">Loading…</p>;

  return (
    <section aria-labelledby="job-title">
      <nav className="crumbs" aria-label="Breadcrumb">
        <a href={href.jobs()}>Jobs</a> <span aria-hidden="true">/</span>
      </nav>
      <div className="page-head">
        <h1 id="job-title">
          {j.name} <JobStateBadge state={j.state} />
        </h1>
        <div className="actions" role="toolbar" aria-label="Job actions">
          <a className="button" href={href.edit(j.id)}>
            Edit
          </a>
          {j.state === JobState.PAUSED ? (
            <button type="button" disabled={busy} onClick={() => void act("Job resumed", () => jobs.resumeJob({ id }))}>
              Resume
            </button>
          ) : (
            <button type="button" disabled={busy || j.state === JobState.COMPLETED} onClick={() => void act("Job paused", () => jobs.pauseJob({ id }))}>
              Pause
            </button>
          )}
          <button type="button" disabled={busy} onClick={() => void act("Run triggered", () => jobs.triggerJob({ id }), () => setRunsVersion((v) => v + 1))}>
            Trigger now
          </button>
          <a className="button" href={href.runs(j.id)}>
            Live runs
          </a>
          <ConfirmButton
            label="Delete"
            confirmLabel="Delete this job"
            disabled={busy}
            onConfirm={() => void act("Job deleted", () => jobs.deleteJob({ id }), () => navigate(href.jobs()))}
          />
        </div>
      </div>
      <ErrorNote>{job.error && `Refresh failed: ${job.error}`}</ErrorNote>

      <div className="grid-2">
        <div className="panel">
          <h2>Definition</h2>
          <Definition job={j} now={now} />
        </div>
        <div className="panel">
          <h2>Next fire times</h2>
          <ErrorNote>{preview.error}</ErrorNote>
          {preview.data && preview.data.length === 0 && <Empty>This schedule will not fire again.</Empty>}
          <ol className="fire-times" data-testid="fire-times">
            {/* Fetched every 10 s, shown as of now: times that have passed since drop off. */}
            {preview.data?.filter((t) => toDate(t)!.getTime() > now).slice(0, 10).map((t) => {
              const d = toDate(t)!;
              return (
                <li key={d.toISOString()}>
                  <time dateTime={d.toISOString()}>{formatTime(d)}</time> <span className="muted small">{relativeTime(d, now)}</span>
                </li>
              );
            })}
          </ol>
          {j.state === JobState.PAUSED && <p className="muted small">The job is paused: it fires at these times only once resumed.</p>}
        </div>
      </div>
      <JobStatsPanel jobId={j.id} />
      <ScheduleEventsPanel jobId={j.id} now={now} />
      <RunHistory key={runsVersion} jobId={j.id} now={now} />
    </section>
  );
}

function Definition({ job, now }: { job: Job; now: number }) {
  const retry = job.retryPolicy;
  return (
    <dl className="definition">
      <dt>ID</dt>
      <dd>
        <code>{job.id}</code>
      </dd>
      <dt>Namespace</dt>
      <dd>{job.namespace || "default"}</dd>
      <dt>Queue</dt>
      <dd>
        <code>{job.queue}</code>
      </dd>
      <dt>Schedule</dt>
      <dd data-testid="schedule-words">{scheduleInWords(job.schedule)}</dd>
      <dt>Next run</dt>
      <dd>{job.state === JobState.ACTIVE ? <TimeCell date={toDate(job.nextRunTime)} now={now} /> : <span className="muted">— ({job.state === JobState.PAUSED ? "paused" : "will not fire again"})</span>}</dd>
      <dt>Runs so far</dt>
      <dd>{String(job.runCount)}</dd>
      <dt>Labels</dt>
      <dd>
        <Labels labels={job.labels} />
      </dd>
      <dt>Retry</dt>
      <dd>
        {retry
          ? `${retry.maxAttempts} attempt${retry.maxAttempts === 1 ? "" : "s"}, backoff ${formatMs(durationMs(retry.initialBackoff))} × ${retry.backoffMultiplier} up to ${formatMs(durationMs(retry.maxBackoff))}, jitter ${retry.jitter ?? 0.2}`
          : "server default"}
      </dd>
      <dt>Attempt timeout</dt>
      <dd>{formatMs(durationMs(job.attemptTimeout))}</dd>
      <dt>Overlap</dt>
      <dd>
        {OVERLAP_NAMES[job.overlapPolicy]}
        {job.maxConcurrentRuns > 0 && `, at most ${job.maxConcurrentRuns} at once`}
      </dd>
      <dt>Misfire</dt>
      <dd>
        {MISFIRE_NAMES[job.misfirePolicy]}
        {job.misfireWindow && `, window ${formatMs(durationMs(job.misfireWindow))}`}
      </dd>
      <dt>Run retention</dt>
      <dd>{job.runRetention ? formatMs(durationMs(job.runRetention)) : "namespace or server default"}</dd>
      {job.http && (
        <>
          <dt>HTTP request</dt>
          <dd>
            <code>{JSON.stringify(toJson(HttpRequestSchema, job.http))}</code>
          </dd>
        </>
      )}
      <dt>Payload</dt>
      <dd>
        <pre className="payload">{job.payload ? JSON.stringify(job.payload, null, 2) : "—"}</pre>
      </dd>
      <dt>Created</dt>
      <dd>{formatTime(toDate(job.createTime))}</dd>
      <dt>Updated</dt>
      <dd>{formatTime(toDate(job.updateTime))}</dd>
    </dl>
  );
}

function RunHistory({ jobId, now }: { jobId: string; now: number }) {
  const toast = useToast();
  // Tokens of the pages before the one shown, so "Newer" can go back.
  const [tokens, setTokens] = useState<string[]>([""]);
  const token = tokens[tokens.length - 1];
  const runs = useLoad(
    async (signal) => jobs.listRuns({ jobId, pageSize: RUNS_PAGE, pageToken: token }, { signal, timeoutMs: 10_000 }),
    [jobId, token],
    2000,
  );
  const [expanded, setExpanded] = useState<string | undefined>();

  const cancel = async (run: Run) => {
    try {
      await jobs.cancelRun({ id: run.id });
      toast("Run cancelled");
      runs.reload();
    } catch (error) {
      toast(errorMessage(error), "error");
    }
  };

  return (
    <div className="panel">
      <div className="panel-head">
        <h2 id="runs-title">Runs</h2>
        <span className="muted small">newest first · refreshed every 2 seconds</span>
      </div>
      <ErrorNote>{runs.error && `Cannot load runs: ${runs.error}`}</ErrorNote>
      <div className="table-wrap">
        <table className="table runs-table" aria-labelledby="runs-title">
          <thead>
            <tr>
              <th scope="col">Scheduled</th>
              <th scope="col">Trigger</th>
              <th scope="col">State</th>
              <th scope="col">Attempt</th>
              <th scope="col" title="dispatch time − scheduled time">Lag</th>
              <th scope="col">Duration</th>
              <th scope="col">Error</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {runs.data?.runs.map((run) => {
              const start = toDate(run.startTime);
              const end = toDate(run.endTime);
              const duration = start ? (end ?? new Date(now)).getTime() - start.getTime() : undefined;
              const error = ownError(run.state, run.error);
              return (
                <tr key={run.id} data-run-id={run.id}>
                  <td>
                    <a href={href.run(run.id)} aria-label={`Run scheduled ${formatTime(toDate(run.scheduledTime))}`}>
                      <TimeCell date={toDate(run.scheduledTime)} now={now} />
                    </a>
                  </td>
                  <td>{TRIGGER_NAMES[run.trigger]}</td>
                  <td>
                    <RunStateBadge state={run.state} />
                  </td>
                  <td>{run.attempt || "—"}</td>
                  <td>{formatMs(durationMs(run.dispatchLag))}</td>
                  <td>{duration === undefined ? "—" : `${formatMs(duration)}${end ? "" : " so far"}`}</td>
                  <td className="error-cell">
                    {error ? (
                      <button type="button" className="link-button" aria-expanded={expanded === run.id} onClick={() => setExpanded(expanded === run.id ? undefined : run.id)}>
                        {expanded === run.id ? error : error.length > 60 ? `${error.slice(0, 60)}…` : error}
                      </button>
                    ) : (
                      <span className="muted">—</span>
                    )}
                  </td>
                  <td>
                    {!TERMINAL_RUN_STATES.has(run.state) && (
                      <button type="button" className="small-button" onClick={() => void cancel(run)} aria-label={`Cancel the run scheduled ${formatTime(toDate(run.scheduledTime))}`}>
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
      {runs.data && runs.data.runs.length === 0 && tokens.length === 1 && <Empty>No runs yet.</Empty>}
      <div className="pager">
        <button type="button" disabled={tokens.length === 1} onClick={() => setTokens((t) => t.slice(0, -1))}>
          Newer
        </button>
        <span className="muted small">page {tokens.length}</span>
        <button type="button" disabled={!runs.data?.nextPageToken} onClick={() => setTokens((t) => [...t, runs.data!.nextPageToken])}>
          Older
        </button>
      </div>
    </div>
  );
}
