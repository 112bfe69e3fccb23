import { Empty, ErrorNote } from "../components/bits";
import { TableHead } from "../components/table-head";
import { durationPair, successRate } from "../stats-format";
import { useLoad } from "../hooks";
import { nobodyConsumes, loadQueueStats, runsWaiting, type QueueRow } from "../queue-stats";
import { href } from "../router";
import "../debug-pages.css";

/** Every queue jobs use: its JetStream consumer now and its runs over the last hour (StatsService). */
export function QueuesPage() {
  const list = useLoad((signal) => loadQueueStats(signal), [], 5000);
  const queues = list.data?.queues ?? [];
  const unconsumed = queues.filter((q) => q.stats && nobodyConsumes(q.stats));
  return (
    <section aria-labelledby="queues-title">
      <div className="page-head">
        <h1 id="queues-title">Queues</h1>
        <p className="muted">Workers and waiting runs now; outcomes, durations and start lags of the runs that ended in the last hour. Refreshed every 5 seconds.</p>
      </div>
      <ErrorNote>{list.error && `Cannot load the queues: ${list.error}`}</ErrorNote>
      {unconsumed.length > 0 && (
        <div className="warning-banner" role="alert" data-testid="unconsumed-warning">
          <strong>Runs are waiting and no worker takes them</strong> (no worker pulls from the queue and none is busy with a run):
          <ul>
            {unconsumed.map((q) => (
              <li key={q.queue}>
                <code>{q.queue}</code>: {String(runsWaiting(q.stats!))} waiting
              </li>
            ))}
          </ul>
        </div>
      )}
      {list.data?.truncated && <p className="muted small">Only the queues of the first 20,000 jobs are shown.</p>}
      <div className="table-wrap">
        <table className="table queues-table" aria-labelledby="queues-title">
          <TableHead
            columns={[
              "Queue",
              "Jobs",
              ["Waiting", "runs not yet taken by a worker"],
              ["In flight", "runs a worker holds and has not finished"],
              ["Pull requests", "requests for runs of idle workers: 0 means no worker is waiting for work"],
              ["Running", "runs running or waiting to retry"],
              ["Succeeded / failed", "runs that ended in the last hour (failed includes timed out)"],
              "Success rate",
              ["Duration p50 / p99", "start of the last attempt to the end"],
              ["Start lag p50 / p99", "scheduled time to the last attempt's start"],
              "",
            ]}
          />
          <tbody>
            {queues.map((q) => (
              <QueueLine key={q.queue} row={q} />
            ))}
          </tbody>
        </table>
      </div>
      {list.data && queues.length === 0 && <Empty>No jobs yet, so no queues.</Empty>}
      {list.loading && !list.data && <p className="muted">Loading…</p>}
    </section>
  );
}

function QueueLine({ row }: { row: QueueRow }) {
  const s = row.stats;
  const stranded = s ? nobodyConsumes(s) : false;
  const ended = s?.ended;
  return (
    <tr data-queue={row.queue} className={stranded ? "no-consumer" : undefined}>
      <td>
        <code>{row.queue}</code> {stranded && <span className="badge warn">no worker</span>}
      </td>
      <td className="num">{row.jobs}</td>
      {s ? (
        <>
          <td className="num" data-col="waiting">{String(runsWaiting(s))}</td>
          <td className="num" data-col="in-flight">{String(s.runsInFlight)}</td>
          <td className="num" data-col="pull-requests">{String(s.pullRequests)}</td>
          <td className="num" data-col="running">{String((s.active?.running ?? 0n) + (s.active?.retryWait ?? 0n))}</td>
          <td className="num" data-col="ended">
            {String(ended?.succeeded ?? 0n)} / {String((ended?.failed ?? 0n) + (ended?.timedOut ?? 0n))}
          </td>
          <td className="num" data-col="success-rate">{successRate(ended)}</td>
          <td className="num" data-col="duration">{durationPair(ended?.durationP50, ended?.durationP99)}</td>
          <td className="num" data-col="start-lag">{durationPair(ended?.startLagP50, ended?.startLagP99)}</td>
        </>
      ) : (
        <td colSpan={8}>
          <ErrorNote>{row.error ?? "…"}</ErrorNote>
        </td>
      )}
      <td>
        <a href={href.failures(row.queue)} aria-label={`Failures on ${row.queue}`}>
          Failures
        </a>
      </td>
    </tr>
  );
}
