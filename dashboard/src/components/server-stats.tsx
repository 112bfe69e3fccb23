import { useLoad } from "../hooks";
import { loadQueueStats, nobodyConsumes, runsWaiting, type QueueRow } from "../queue-stats";
import { href } from "../router";
import { ErrorNote } from "./bits";
import { Stat } from "./stat";

interface Now {
  active: bigint;
  waiting: bigint;
  unconsumed: number;
}

function now(queues: QueueRow[]): Now {
  const t: Now = { active: 0n, waiting: 0n, unconsumed: 0 };
  for (const { stats: s } of queues) {
    if (!s) continue;
    t.active += (s.active?.queued ?? 0n) + (s.active?.running ?? 0n) + (s.active?.retryWait ?? 0n);
    t.waiting += runsWaiting(s);
    if (nobodyConsumes(s)) t.unconsumed++;
  }
  return t;
}

/**
 * The overview's figures of right now, from GetQueueStats of every queue jobs use: runs not
 * ended, runs waiting for a worker, and queues nobody consumes (every namespace: JetStream's
 * figures are the queue's).
 */
export function useQueueNow() {
  const loaded = useLoad((signal) => loadQueueStats(signal), [], 5000);
  return { now: loaded.data ? now(loaded.data.queues) : undefined, error: loaded.error };
}

const show = (value: bigint | undefined) => (value === undefined ? "…" : String(value));

/** The cards of right now, to sit among other cards. */
export function QueueNowCards({ now: t, filtered }: { now?: Now; filtered: boolean }) {
  // Said where the cards beside them are of one namespace: these never are.
  const hint = filtered ? "now, every namespace" : "now";
  return (
    <>
      <Stat label="Queued or running" value={show(t?.active)} hint={hint} testId="stat-active" />
      <Stat label="Waiting for a worker" value={show(t?.waiting)} hint={hint} testId="stat-waiting" />
    </>
  );
}

/** Says so when runs wait on a queue no worker consumes. */
export function UnconsumedBanner({ now: t, error }: { now?: Now; error?: string }) {
  return (
    <>
      <ErrorNote>{error && `Cannot load the queue stats: ${error}`}</ErrorNote>
      {t && t.unconsumed > 0 && (
        <p className="warning-banner" role="alert" data-testid="overview-unconsumed">
          {t.unconsumed} queue{t.unconsumed === 1 ? " has" : "s have"} runs waiting and no worker. <a href={href.queues()}>See the queues</a>.
        </p>
      )}
    </>
  );
}
