import { useEffect, useState } from "react";
import type { GetRunSeriesResponse } from "@chime/sdk/gen/stats_service_pb";
import { jobs, stats } from "../api";
import { BarChart, LineChart, type TimeSpan } from "../components/charts";
import { ErrorNote, TimeCell } from "../components/bits";
import { QueueNowCards, UnconsumedBanner, useQueueNow } from "../components/server-stats";
import { Stat } from "../components/stat";
import { durationMs, formatMs, relativeTime, toDate } from "../format";
import { useDebounced, useLoad, useNow } from "../hooks";
import { href, navigate } from "../router";
import { successRate } from "../stats-format";
import "../debug-pages.css";

/** The ranges the picker offers, by their key in the URL (#/?range=6h), and how often each refreshes. */
const RANGES = [
  { key: "15m", label: "15 min", words: "the last 15 minutes", ms: 15 * 60_000, refreshMs: 5000 },
  { key: "1h", label: "1 h", words: "the last hour", ms: 3_600_000, refreshMs: 5000 },
  { key: "6h", label: "6 h", words: "the last 6 hours", ms: 6 * 3_600_000, refreshMs: 10_000 },
  { key: "24h", label: "24 h", words: "the last 24 hours", ms: 86_400_000, refreshMs: 30_000 },
  { key: "7d", label: "7 d", words: "the last 7 days", ms: 7 * 86_400_000, refreshMs: 60_000 },
] as const;
type Range = (typeof RANGES)[number];
const DEFAULT_RANGE = RANGES[1];

const rangeOf = (key: string | undefined): Range => RANGES.find((r) => r.key === key) ?? DEFAULT_RANGE;
const ms = (t: { seconds: bigint; nanos: number } | undefined) => (t ? Number(t.seconds) * 1000 + t.nanos / 1e6 : 0);

/** The chart's values, one per bucket, and the span they cover (through the end of the last bucket). */
function chartData(series: GetRunSeriesResponse) {
  const width = durationMs(series.bucketWidth) ?? 60_000;
  const start = ms(series.windowStart);
  const span: TimeSpan = { startMs: start, endMs: start + series.buckets.length * width };
  const ended = series.buckets.map((b) => b.ended);
  return {
    width,
    span,
    succeeded: ended.map((e) => Number(e?.succeeded ?? 0n)),
    failed: ended.map((e) => Number((e?.failed ?? 0n) + (e?.timedOut ?? 0n))),
    cancelled: ended.map((e) => Number(e?.cancelled ?? 0n)),
    lagP50: ended.map((e) => durationMs(e?.startLagP50)),
    lagP99: ended.map((e) => durationMs(e?.startLagP99)),
    durationP50: ended.map((e) => durationMs(e?.durationP50)),
    durationP99: ended.map((e) => durationMs(e?.durationP99)),
  };
}

/** Runs ended per second over the series' window (window start to now). */
function runsPerSecond(series: GetRunSeriesResponse): number {
  const t = series.total;
  const ended = Number((t?.succeeded ?? 0n) + (t?.failed ?? 0n) + (t?.timedOut ?? 0n) + (t?.cancelled ?? 0n));
  const seconds = (ms(series.windowEnd) - ms(series.windowStart)) / 1000;
  return seconds > 0 ? ended / seconds : 0;
}

/** "0.43", "12", or "< 0.01" for a rate that rounds to nothing but is not. */
function formatRate(perSecond: number): string {
  if (perSecond === 0) return "0";
  if (perSecond < 0.01) return "< 0.01";
  return perSecond >= 10 ? perSecond.toFixed(0) : perSecond.toFixed(2);
}

function RangePicker({ value, onChange }: { value: Range; onChange(range: Range): void }) {
  return (
    <fieldset className="field range-picker">
      <legend>Range</legend>
      <div className="segmented">
        {RANGES.map((r) => (
          <label key={r.key} className={r.key === value.key ? "selected" : undefined}>
            <input type="radio" name="overview-range" value={r.key} checked={r.key === value.key} onChange={() => onChange(r)} aria-label={`the last ${r.label}`} />
            {r.label}
          </label>
        ))}
      </div>
    </fieldset>
  );
}

/**
 * Runs that ended over a range, from the server's per-minute stats (StatsService.GetRunSeries:
 * counts and percentiles per bucket, whatever the number of runs), with the range and the
 * namespace in the URL so a reload or a shared link shows the same.
 */
export function OverviewPage({ range: rangeKey, namespace = "" }: { range?: string; namespace?: string }) {
  const range = rangeOf(rangeKey);
  const [typed, setTyped] = useState(namespace);
  const filter = useDebounced(typed.trim(), 300);
  const show = (view: { range?: Range; namespace?: string }) => {
    const next = { range: view.range ?? range, namespace: view.namespace ?? namespace };
    navigate(href.overview({ range: next.range === DEFAULT_RANGE ? undefined : next.range.key, namespace: next.namespace }));
  };
  // The typed namespace goes to the URL once typing pauses; a URL changed otherwise (back, a link) wins.
  useEffect(() => {
    if (filter !== namespace) show({ namespace: filter });
  }, [filter]);
  useEffect(() => setTyped(namespace), [namespace]);

  const now = useNow(1000);
  const series = useLoad(
    (signal) => stats.getRunSeries({ window: { seconds: BigInt(range.ms / 1000) }, namespace }, { signal, timeoutMs: 10_000 }),
    [range.key, namespace],
    range.refreshMs,
  );
  const queues = useQueueNow();
  const leader = useLoad((signal) => jobs.getSchedulerStatus({}, { signal, timeoutMs: 10_000 }), [], 3000);
  const s = series.data;
  const data = s && chartData(s);
  const per = data ? `per ${formatMs(data.width, true)}` : "";
  const total = s?.total;
  const heartbeat = toDate(leader.data?.heartbeatTime);
  const stale = heartbeat ? now - heartbeat.getTime() > 10_000 : true;
  const where = namespace ? `, namespace ${namespace}` : "";

  return (
    <section aria-labelledby="overview-title">
      <div className="page-head">
        <h1 id="overview-title">Overview</h1>
        <p className="muted">
          Runs that ended in {range.words}{where}, from the server's per-minute stats of every queue; times in your time zone. Refreshed every{" "}
          {range.refreshMs / 1000} seconds.
        </p>
      </div>
      <form className="filters" role="search" aria-label="Overview range and namespace" onSubmit={(e) => e.preventDefault()}>
        <RangePicker value={range} onChange={(r) => show({ range: r })} />
        <div className="field">
          <label htmlFor="ov-namespace">Namespace</label>
          <input id="ov-namespace" value={typed} onChange={(e) => setTyped(e.target.value)} placeholder="every namespace" />
        </div>
      </form>
      <ErrorNote>{series.error && `Cannot load the run stats: ${series.error}`}</ErrorNote>
      <div className="cards cards-8" data-testid="server-stats" data-window-start={s ? ms(s.windowStart) : undefined} data-bucket-ms={data?.width}>
        <Stat label="Succeeded" value={total ? String(total.succeeded) : "…"} tone="ok" hint={range.words} testId="stat-succeeded" />
        <Stat
          label="Failed"
          value={total ? String(total.failed + total.timedOut) : "…"}
          tone={total && total.failed + total.timedOut > 0n ? "bad" : undefined}
          hint="failed or timed out"
          testId="stat-failed"
        />
        <Stat label="Success rate" value={total ? successRate(total) : "…"} hint={range.words} testId="stat-success-rate" />
        <Stat label="Runs per second" value={s ? formatRate(runsPerSecond(s)) : "…"} hint={`ended, ${range.words}`} testId="stat-rate" />
        <Stat label="Start lag p50" value={total ? formatMs(durationMs(total.startLagP50)) : "…"} hint="scheduled to started" testId="stat-lag-p50" />
        <Stat label="Start lag p99" value={total ? formatMs(durationMs(total.startLagP99)) : "…"} hint="as a bucket bound" testId="stat-lag-p99" />
        <QueueNowCards now={queues.now} filtered={namespace !== ""} />
      </div>
      <UnconsumedBanner now={queues.now} error={queues.error} />

      <div className="grid-2">
        <div className="panel">
          <h2>Runs ended</h2>
          <BarChart
            title={`Runs ended ${per}`}
            span={data?.span}
            series={[
              { label: "succeeded", tone: "tone-ok", values: data?.succeeded ?? [] },
              { label: "failed or timed out", tone: "tone-bad", values: data?.failed ?? [] },
              { label: "cancelled", tone: "tone-muted", values: data?.cancelled ?? [] },
            ]}
          />
        </div>
        <div className="panel">
          <h2>Failures</h2>
          <BarChart title={`Failures ${per}`} span={data?.span} series={[{ label: "failed or timed out", tone: "tone-bad", values: data?.failed ?? [] }]} />
        </div>
        <div className="panel">
          <h2>Start lag</h2>
          <LineChart
            title={`Start lag ${per}`}
            span={data?.span}
            format={(v) => formatMs(v)}
            series={[
              { label: "p50", tone: "tone-info", values: data?.lagP50 ?? [] },
              { label: "p99", tone: "tone-warn", values: data?.lagP99 ?? [] },
            ]}
          />
        </div>
        <div className="panel">
          <h2>Duration</h2>
          <LineChart
            title={`Duration ${per}`}
            span={data?.span}
            format={(v) => formatMs(v)}
            series={[
              { label: "p50", tone: "tone-info", values: data?.durationP50 ?? [] },
              { label: "p99", tone: "tone-warn", values: data?.durationP99 ?? [] },
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
      <p className="muted small">
        Bars {per || "per bucket"}; percentiles are the upper bounds of fixed histogram buckets (1, 2, 5, 10, 20, 50 ms …), summed from the
        server's per-minute rollups.
      </p>
    </section>
  );
}
