import { useEffect, useMemo, useState } from "react";
import { JobState, type Job } from "@chime/sdk/gen/job_pb";
import { errorMessage, fieldErrors, jobs } from "../api";
import { ConfirmButton, Empty, ErrorNote, JobStateBadge, TimeCell } from "../components/bits";
import { scheduleInWords, toDate } from "../format";
import { useDebounced, useLoad, useNow, useToast } from "../hooks";
import { href } from "../router";
import { LastRun } from "../components/last-run";
import { lastRuns } from "../last-runs";

interface Filters {
  state: JobState;
  queue: string;
  labelSelector: string;
  namePrefix: string;
}

const EMPTY: Filters = { state: JobState.UNSPECIFIED, queue: "", labelSelector: "", namePrefix: "" };
const PAGE_SIZE = 50;
const FILTER_KEY = "chime.jobFilters";

function savedFilters(): Filters {
  try {
    return { ...EMPTY, ...(JSON.parse(sessionStorage.getItem(FILTER_KEY) ?? "{}") as Partial<Filters>) };
  } catch {
    return EMPTY;
  }
}

export function JobsPage() {
  const [filters, setFilters] = useState<Filters>(savedFilters);
  const applied = useDebounced(filters, 250);
  const [pages, setPages] = useState(1);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [busy, setBusy] = useState(false);
  const toast = useToast();
  const now = useNow(1000);

  useEffect(() => {
    sessionStorage.setItem(FILTER_KEY, JSON.stringify(filters));
  }, [filters]);
  useEffect(() => {
    setPages(1);
    setSelected(new Set());
  }, [applied]);

  const list = useLoad(
    async (signal) => {
      const found: Job[] = [];
      let pageToken = "";
      for (let i = 0; i < pages; i++) {
        const page = await jobs.listJobs({ ...applied, pageSize: PAGE_SIZE, pageToken }, { signal, timeoutMs: 10_000 });
        found.push(...page.jobs);
        pageToken = page.nextPageToken;
        if (!pageToken) break;
      }
      return { jobs: found, more: pageToken !== "" };
    },
    [applied, pages],
    5000,
  );

  const listed = list.data?.jobs ?? [];
  const visibleIds = useMemo(() => listed.map((j) => j.id), [listed]);
  const last = useLoad((signal) => lastRuns(visibleIds, signal), [visibleIds.join()], 5000);
  const allSelected = visibleIds.length > 0 && visibleIds.every((id) => selected.has(id));

  const bulk = async (action: "pause" | "resume" | "trigger" | "delete") => {
    const ids = [...selected];
    setBusy(true);
    const results = await Promise.allSettled(
      ids.map((id) =>
        action === "pause"
          ? jobs.pauseJob({ id })
          : action === "resume"
            ? jobs.resumeJob({ id })
            : action === "trigger"
              ? jobs.triggerJob({ id })
              : jobs.deleteJob({ id }),
      ),
    );
    setBusy(false);
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    const verb = { pause: "paused", resume: "resumed", trigger: "triggered", delete: "deleted" }[action];
    if (failed.length === 0) toast(`${ids.length} job${ids.length === 1 ? "" : "s"} ${verb}`);
    else toast(`${ids.length - failed.length} ${verb}, ${failed.length} failed: ${errorMessage(failed[0].reason)}`, "error");
    if (action === "delete") setSelected(new Set());
    list.reload();
  };

  const set = <K extends keyof Filters>(key: K, value: Filters[K]) => setFilters((f) => ({ ...f, [key]: value }));
  // An INVALID_ARGUMENT names the filter at fault (label_selector, name_prefix, queue).
  const problems = (list.error && fieldErrors(list.cause)) || {};

  return (
    <section aria-labelledby="jobs-title">
      <div className="page-head">
        <h1 id="jobs-title">Jobs</h1>
        <a className="button primary" href={href.newJob()}>
          New job
        </a>
      </div>
      <form className="filters" role="search" aria-label="Filter jobs" onSubmit={(e) => e.preventDefault()}>
        <div className="field">
          <label htmlFor="f-name">Name starts with</label>
          <input id="f-name" type="search" value={filters.namePrefix} onChange={(e) => set("namePrefix", e.target.value)} />
          <ErrorNote>{problems.name_prefix?.join("; ")}</ErrorNote>
        </div>
        <div className="field">
          <label htmlFor="f-state">State</label>
          <select id="f-state" value={filters.state} onChange={(e) => set("state", Number(e.target.value) as JobState)}>
            <option value={JobState.UNSPECIFIED}>any</option>
            <option value={JobState.ACTIVE}>active</option>
            <option value={JobState.PAUSED}>paused</option>
            <option value={JobState.COMPLETED}>completed</option>
          </select>
        </div>
        <div className="field">
          <label htmlFor="f-queue">Queue</label>
          <input id="f-queue" value={filters.queue} onChange={(e) => set("queue", e.target.value.trim())} />
          <ErrorNote>{problems.queue?.join("; ")}</ErrorNote>
        </div>
        <div className="field grow">
          <label htmlFor="f-labels">Labels</label>
          <input
            id="f-labels"
            placeholder="env=prod,team,!legacy"
            value={filters.labelSelector}
            aria-invalid={problems.label_selector ? true : undefined}
            aria-describedby="f-labels-error"
            onChange={(e) => set("labelSelector", e.target.value)}
          />
          <ErrorNote id="f-labels-error">{problems.label_selector?.join("; ")}</ErrorNote>
        </div>
        {(filters.namePrefix || filters.queue || filters.labelSelector || filters.state !== JobState.UNSPECIFIED) && (
          <button type="button" className="link-button" onClick={() => setFilters(EMPTY)}>
            Clear filters
          </button>
        )}
      </form>
      {list.error && !Object.keys(problems).some((k) => k) && <ErrorNote>Cannot load jobs: {list.error}</ErrorNote>}

      <div className="bulk" role="toolbar" aria-label="Actions on selected jobs">
        <span className="muted">{selected.size > 0 ? `${selected.size} selected` : "Select jobs to act on several at once"}</span>
        <button type="button" disabled={busy || selected.size === 0} onClick={() => void bulk("pause")}>
          Pause
        </button>
        <button type="button" disabled={busy || selected.size === 0} onClick={() => void bulk("resume")}>
          Resume
        </button>
        <button type="button" disabled={busy || selected.size === 0} onClick={() => void bulk("trigger")}>
          Trigger now
        </button>
        <ConfirmButton label="Delete" confirmLabel={`Delete ${selected.size}`} disabled={busy || selected.size === 0} onConfirm={() => void bulk("delete")} />
      </div>

      <div className="table-wrap">
        <table className="table jobs-table">
          <thead>
            <tr>
              <th scope="col" className="check">
                <input
                  type="checkbox"
                  aria-label="Select all jobs shown"
                  checked={allSelected}
                  onChange={() => setSelected(allSelected ? new Set() : new Set(visibleIds))}
                />
              </th>
              <th scope="col">Name</th>
              <th scope="col">State</th>
              <th scope="col">Queue</th>
              <th scope="col">Schedule</th>
              <th scope="col">Next run</th>
              <th scope="col">Last run</th>
              <th scope="col">Labels</th>
            </tr>
          </thead>
          <tbody>
            {listed.map((job) => (
              <tr key={job.id} className={selected.has(job.id) ? "selected" : undefined}>
                <td className="check">
                  <input
                    type="checkbox"
                    aria-label={`Select ${job.name}`}
                    checked={selected.has(job.id)}
                    onChange={() =>
                      setSelected((s) => {
                        const next = new Set(s);
                        if (next.has(job.id)) next.delete(job.id);
                        else next.add(job.id);
                        return next;
                      })
                    }
                  />
                </td>
                <td>
                  <a href={href.job(job.id)}>{job.name}</a>
                  {job.namespace && job.namespace !== "default" && <span className="muted small"> · {job.namespace}</span>}
                </td>
                <td>
                  <JobStateBadge state={job.state} />
                </td>
                <td>
                  <code>{job.queue}</code>
                </td>
                <td>{scheduleInWords(job.schedule)}</td>
                <td>{job.state === JobState.ACTIVE ? <TimeCell date={toDate(job.nextRunTime)} now={now} /> : <span className="muted">—</span>}</td>
                <td>{last.data ? <LastRun run={last.data.get(job.id)} now={now} /> : <span className="muted">…</span>}</td>
                <td>
                  <Labels labels={job.labels} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {list.data && listed.length === 0 && (
        <Empty>
          No jobs match. <a href={href.newJob()}>Create one</a>.
        </Empty>
      )}
      {list.loading && !list.data && <p className="muted">Loading…</p>}
      {list.data?.more && (
        <button type="button" onClick={() => setPages((p) => p + 1)}>
          Show more
        </button>
      )}
    </section>
  );
}

export function Labels({ labels }: { labels: Record<string, string> }) {
  const entries = Object.entries(labels);
  if (entries.length === 0) return <span className="muted">—</span>;
  return (
    <span className="labels">
      {entries.map(([k, v]) => (
        <span key={k} className="chip">
          {k}
          {v ? `=${v}` : ""}
        </span>
      ))}
    </span>
  );
}
