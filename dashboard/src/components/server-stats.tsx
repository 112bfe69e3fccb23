import { durationMs, formatMs } from "../format";
import { useLoad } from "../hooks";
import { loadQueueStats, nobodyConsumes, runsWaiting, type QueueRow } from "../queue-stats";
import { href } from "../router";
import { ErrorNote } from "./bits";
import { Stat } from "./stat";

interface Totals {
  succeeded: bigint;
  failed: bigint;
  active: bigint;
  waiting: bigint;
  unconsumed: number;
  /** The slowest queue's start lag p99 (percentiles of different queues do not add up). */
  worstLagP99?: number;
}

function totals(queues: QueueRow[]): Totals {
  const t: Totals = { succeeded: 0n, failed: 0n, active: 0n, waiting: 0n, unconsumed: 0 };
  for (const { stats: s } of queues) {
    if (!s) continue;
    t.succeeded += s.ended?.succeeded ?? 0n;
    t.failed += (s.ended?.failed ?? 0n) + (s.ended?.timedOut ?? 0n);
    t.active += (s.active?.queued ?? 0n) + (s.active?.running ?? 0n) + (s.active?.retryWait ?? 0n);
    t.waiting += runsWaiting(s);
    if (nobodyConsumes(s)) t.unconsumed++;
    const lag = durationMs(s.ended?.startLagP99);
    if (lag !== undefined && (t.worstLagP99 === undefined || lag > t.worstLagP99)) t.worstLagP99 = lag;
  }
  return t;
}

/** The overview's cards from the server's stats (GetQueueStats of every queue, the last hour). */
export function ServerStatsCards() {
  const loaded = useLoad((signal) => loadQueueStats(signal), [], 5000);
  const t = loaded.data ? totals(loaded.data.queues) : undefined;
  const ended = t ? t.succeeded + t.failed : 0n;
  const show = (value: bigint | undefined) => (value === undefined ? "…" : String(value));
  return (
    <>
      <ErrorNote>{loaded.error && `Cannot load the queue stats: ${loaded.error}`}</ErrorNote>
      <div className="cards" data-testid="server-stats">
        <Stat label="Succeeded" value={show(t?.succeeded)} tone="ok" hint="last hour" testId="stat-succeeded" />
        <Stat label="Failed" value={show(t?.failed)} tone={t && t.failed > 0n ? "bad" : undefined} hint="failed or timed out, last hour" testId="stat-failed" />
        <Stat label="Success rate" value={!t ? "…" : ended === 0n ? "—" : `${Math.round((Number(t.succeeded) / Number(ended)) * 1000) / 10} %`} hint="last hour" testId="stat-success-rate" />
        <Stat label="Queued or running" value={show(t?.active)} hint="now" testId="stat-active" />
        <Stat label="Waiting for a worker" value={show(t?.waiting)} hint="now" testId="stat-waiting" />
        <Stat label="Start lag p99" value={t ? formatMs(t.worstLagP99) : "…"} hint="slowest queue, last hour" testId="stat-lag" />
      </div>
      {t && t.unconsumed > 0 && (
        <p className="warning-banner" role="alert" data-testid="overview-unconsumed">
          {t.unconsumed} queue{t.unconsumed === 1 ? " has" : "s have"} runs waiting and no worker. <a href={href.queues()}>See the queues</a>.
        </p>
      )}
    </>
  );
}
