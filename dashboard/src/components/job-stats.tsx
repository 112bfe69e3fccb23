import { stats } from "../api";
import { useLoad } from "../hooks";
import { durationPair, successRate } from "../stats-format";
import { ErrorNote } from "./bits";
import { Stat } from "./stat";

/** A job's runs scheduled in the last hour, from GetJobStats (exact percentiles, computed by the server). */
export function JobStatsPanel({ jobId }: { jobId: string }) {
  const loaded = useLoad((signal) => stats.getJobStats({ jobId }, { signal, timeoutMs: 10_000 }), [jobId], 5000);
  const ended = loaded.data?.ended;
  const active = loaded.data?.active;
  const show = (value: bigint | undefined) => (loaded.data ? String(value ?? 0n) : "…");
  return (
    <div className="panel" aria-labelledby="job-stats-title">
      <div className="panel-head">
        <h2 id="job-stats-title">Last hour</h2>
        <span className="muted small">runs scheduled in the last hour, from the server's stats</span>
      </div>
      <ErrorNote>{loaded.error && `Cannot load the job's stats: ${loaded.error}`}</ErrorNote>
      <div className="cards" data-testid="job-stats">
        <Stat label="Succeeded" value={show(ended?.succeeded)} tone="ok" testId="job-succeeded" />
        <Stat label="Failed" value={show(ended && ended.failed + ended.timedOut)} tone={ended && ended.failed + ended.timedOut > 0n ? "bad" : undefined} hint="failed or timed out" testId="job-failed" />
        <Stat label="Success rate" value={loaded.data ? successRate(ended) : "…"} testId="job-success-rate" />
        <Stat label="Queued or running" value={show(active && active.queued + active.running + active.retryWait)} />
        <Stat label="Duration p50 / p99" value={loaded.data ? durationPair(ended?.durationP50, ended?.durationP99) : "…"} testId="job-duration" />
        <Stat label="Start lag p50 / p99" value={loaded.data ? durationPair(ended?.startLagP50, ended?.startLagP99) : "…"} />
      </div>
    </div>
  );
}
