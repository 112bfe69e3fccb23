import type { Start } from "./consumer.js";
import { summarize, type Summary } from "./util.js";

export interface RecurringOutcome {
  expected: number;
  received: number;
  missed: number;
  duplicated: number;
  lag: Summary;
  /** Handler starts of fires scheduled in each whole second of the window. */
  perSecond: number[];
}

/**
 * Fires of `jobs` every-second jobs named `${prefix}<i>` whose scheduled times fall in
 * [fromMs, toMs): each (job, second) is expected once.
 */
export function analyzeRecurring(starts: Start[], prefix: string, jobs: number, fromMs: number, toMs: number, lagFilter?: (s: Start) => boolean): RecurringOutcome {
  const seconds = Math.round((toMs - fromMs) / 1000);
  const seen = new Set<string>();
  const lags: number[] = [];
  const perSecond = new Array<number>(seconds).fill(0);
  let duplicated = 0;
  for (const s of starts) {
    if (!s.key.startsWith(prefix) || s.scheduledMs < fromMs || s.scheduledMs >= toMs) continue;
    const id = `${s.key}@${s.scheduledMs}`;
    if (seen.has(id)) {
      duplicated++;
      continue;
    }
    seen.add(id);
    perSecond[Math.floor((s.scheduledMs - fromMs) / 1000)]++;
    if (!lagFilter || lagFilter(s)) lags.push(s.startMs - s.scheduledMs);
  }
  const expected = jobs * seconds;
  return { expected, received: seen.size, missed: expected - seen.size, duplicated, lag: summarize(lags), perSecond };
}
