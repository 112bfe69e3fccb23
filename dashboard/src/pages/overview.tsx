import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { RunState, type Run } from "@chime/sdk/gen/run_pb";
import { jobs } from "../api";
import { BarChart, LineChart } from "../components/charts";
import { ErrorNote, TimeCell } from "../components/bits";
import { durationMs, formatMs, quantile, relativeTime, toDate } from "../format";
import { useLoad, useNow } from "../hooks";
import { href } from "../router";
import { ServerStatsCards } from "../components/server-stats";
import { Stat } from "../components/stat";

const WINDOW_MS = 10 * 60_000;
const BUCKET_MS = 10_000;
const MAX_RUNS = 5000;

interface Stats {
  buckets: Array<{ runs: number; succeeded: number; failed: number; lagP50?: number; lagP99?: number }>;
  runsPerSecond: number;
  lagP50?: number;
  lagP99?: number;
  total: number;
  truncated: boolean;
  from: number;
}

/** The runs scheduled in the last ten minutes (at most MAX_RUNS, newest first). */
async function recentRuns(signal: AbortSignal, from: number): Promise<{ runs: Run[]; truncated: boolean }> {
  const runs: Run[] = [];
  let pageToken = "";
  do {
    const page = await jobs.listRuns({ pageSize: 1000, pageToken, scheduledAfter: timestampFromDate(new Date(from)) }, { signal, timeoutMs: 10_000 });
    runs.push(...page.runs);
    pageToken = page.nextPageToken;
  } while (pageToken && runs.length < MAX_RUNS);
  return { runs, truncated: pageToken !== "" };
}

function computeStats(runs: Run[], truncated: boolean, now: number): Stats {
  const from = now - WINDOW_MS;
  const n = WINDOW_MS / BUCKET_MS;
  const lags: number[][] = Array.from({ length: n }, () => []);
  const buckets: Stats["buckets"] = Array.from({ length: n }, () => ({ runs: 0, succeeded: 0, failed: 0 }));
  const allLags: number[] = [];
  let lastMinute = 0;
  for (const run of runs) {
    const at = toDate(run.scheduledTime)?.getTime() ?? 0;
    if (at > now) continue;
    const i = Math.min(n - 1, Math.max(0, Math.floor((at - from) / BUCKET_MS)));
    const bucket = buckets[i];
    bucket.runs++;
    if (at >= now - 60_000) lastMinute++;
    if (run.state === RunState.SUCCEEDED) bucket.succeeded++;
    else if (run.state === RunState.FAILED || run.state === RunState.TIMED_OUT) bucket.failed++;
    const lag = durationMs(run.dispatchLag);
    if (lag !== undefined) {
      lags[i].push(lag);
      allLags.push(lag);
    }
  }
  buckets.forEach((b, i) => {
    b.lagP50 = quantile(lags[i], 0.5);
    b.lagP99 = quantile(lags[i], 0.99);
  });
  return {
    buckets,
    runsPerSecond: lastMinute / 60,
    lagP50: quantile(allLags, 0.5),
    lagP99: quantile(allLags, 0.99),
    total: runs.length,
    truncated,
    from,
  };
}

export function OverviewPage() {
  const now = useNow(1000);
  const stats = useLoad(
    async (signal) => {
      const at = Date.now();
      const { runs, truncated } = await recentRuns(signal, at - WINDOW_MS);
      return computeStats(runs, truncated, at);
    },
    [],
    5000,
  );
  const leader = useLoad((signal) => jobs.getSchedulerStatus({}, { signal, timeoutMs: 10_000 }), [], 3000);
  const s = stats.data;
  const heartbeat = toDate(leader.data?.heartbeatTime);
  const stale = heartbeat ? now - heartbeat.getTime() > 10_000 : true;

  return (
    <section aria-labelledby="overview-title">
      <div className="page-head">
        <h1 id="overview-title">Overview</h1>
        <p className="muted">
          Outcomes, active runs and start lag from the server's stats of every queue (the last hour); the rate, dispatch lag and charts from
          the runs scheduled in the last 10 minutes. Refreshed every 5 seconds.
        </p>
      </div>
      <ServerStatsCards />
      <ErrorNote>{stats.error && `Cannot load runs: ${stats.error}`}</ErrorNote>
      <div className="cards">
        <Stat label="Runs per second" value={s ? s.runsPerSecond.toFixed(2) : "…"} hint="scheduled in the last minute" />
        <Stat label="Dispatch lag p50" value={s ? formatMs(s.lagP50) : "…"} hint="last 10 minutes" />
        <Stat label="Dispatch lag p99" value={s ? formatMs(s.lagP99) : "…"} hint="last 10 minutes" />
      </div>
      {s?.truncated && <p className="muted small">Counting the newest {s.total} runs only.</p>}

      <div className="grid-2">
        <div className="panel">
          <h2>Runs</h2>
          <BarChart
            title="Runs per 10 seconds"
            series={[
              { label: "succeeded", tone: "tone-ok", values: s?.buckets.map((b) => b.succeeded) ?? [] },
              { label: "failed", tone: "tone-bad", values: s?.buckets.map((b) => b.failed) ?? [] },
              { label: "other", tone: "tone-muted", values: s?.buckets.map((b) => b.runs - b.succeeded - b.failed) ?? [] },
            ]}
          />
        </div>
        <div className="panel">
          <h2>Failures</h2>
          <BarChart title="Failures per 10 seconds" series={[{ label: "failed or timed out", tone: "tone-bad", values: s?.buckets.map((b) => b.failed) ?? [] }]} />
        </div>
        <div className="panel">
          <h2>Dispatch lag</h2>
          <LineChart
            title="Dispatch lag per 10 seconds"
            format={(ms) => formatMs(ms)}
            series={[
              { label: "p50", tone: "tone-info", values: s?.buckets.map((b) => b.lagP50) ?? [] },
              { label: "p99", tone: "tone-warn", values: s?.buckets.map((b) => b.lagP99) ?? [] },
            ]}
          />
        </div>
        <div className="panel" aria-labelledby="leader-title">
          <h2 id="leader-title">Scheduler</h2>
          <ErrorNote>{leader.error && `Cannot load the scheduler status: ${leader.error}`}</ErrorNote>
          {leader.data && (
            <dl className="definition">
              <dt>Leader</dt>
              <dd data-testid="leader-id">
                {leader.data.leaderId || <span className="muted">no server has led yet</span>}{" "}
                {leader.data.leaderId && <span className={`badge ${stale ? "warn" : "ok"}`}>{stale ? "lease not renewed" : "leading"}</span>}
              </dd>
              <dt>Epoch</dt>
              <dd>{String(leader.data.epoch)}</dd>
              <dt>Leading since</dt>
              <dd>
                <TimeCell date={toDate(leader.data.leaderSince)} now={now} />
              </dd>
              <dt>Last heartbeat</dt>
              <dd>{heartbeat ? relativeTime(heartbeat, now) : "—"}</dd>
            </dl>
          )}
          <p className="small">
            <a href={href.runs()}>Watch runs live</a>
          </p>
        </div>
      </div>
    </section>
  );
}
