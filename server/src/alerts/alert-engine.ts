import type pg from "pg";
import { AlertCondition } from "@chime/sdk/gen/alert_service_pb";
import { inTransaction } from "../db/pool.js";
import { parseLabelSelector } from "../api/label-selector.js";
import { HorizonTracker, readEventWriters, readLastCursor, readRunEvents } from "../watch/event-source.js";
import { conditionName, stateName, type NotifiedRun } from "./alert-notification.js";
import { rulesFor, streakJustReached, type MatchableRule, type RunOutcome } from "./alert-rules.js";
import { anyRule, enqueue, jobNames, latestOutcomes, listRules, lockCursor, readCursor, saveCursor, type RuleEvents, type RuleRow } from "./alert-store.js";

/** Run outcomes matched per pass at most; a longer backlog takes several passes. */
const EVENTS_PER_PASS = 1000;

/**
 * Matches run outcomes against the alert rules and writes the deliveries they call for.
 * It tails the run event log behind the commit horizon (watch/event-source.ts: no event is
 * skipped because its transaction committed late) from a cursor kept in Postgres, and
 * advances that cursor in the transaction that writes the deliveries: each outcome is
 * matched exactly once, by whichever process locks the cursor first. It never touches the
 * tables the scheduler and the ingester write, so it cannot slow them.
 */
export function createAlertEngine(pool: pg.Pool) {
  let tracker: HorizonTracker | undefined;

  return {
    /** One pass; returns the number of deliveries written or extended. */
    async pass(): Promise<number> {
      const lastCursor = await readLastCursor(pool);
      if (!(await anyRule(pool))) {
        // Nothing to match: keep the cursor at the present, so a new rule starts from now.
        await saveCursor(pool, lastCursor);
        tracker = undefined;
        return 0;
      }
      const cursor = await readCursor(pool);
      tracker ??= new HorizonTracker(cursor);
      // The rule's order: the last cursor first, then the writers that may still hold older ones.
      const horizon = tracker.add({ lastCursor, writers: await readEventWriters(pool) });
      if (horizon <= cursor) return 0;
      const events = await readRunEvents(pool, cursor, horizon, EVENTS_PER_PASS, ["e.state IN (4, 5, 6, 7)"], []);
      const next = events.length === EVENTS_PER_PASS ? events[events.length - 1].cursor : horizon;
      const rules = await listRules(pool, "");
      const groups = await matchOutcomes(pool, events, rules);
      return inTransaction(pool, async (client) => {
        // Another process matched this range meanwhile (or holds the cursor now): leave it.
        if ((await lockCursor(client)) !== cursor) return 0;
        for (const group of groups.values()) await enqueue(client, group);
        await saveCursor(client, next);
        return groups.size;
      });
    },
  };
}

/** The outcomes' notifications, one group per rule (in event order within it). */
async function matchOutcomes(pool: pg.Pool, events: RunOutcome[], rules: RuleRow[]): Promise<Map<string, RuleEvents>> {
  const byId = new Map(rules.map((rule) => [rule.id, rule]));
  const matchable: MatchableRule[] = rules.map((rule) => ({
    id: rule.id,
    namespace: rule.namespace,
    condition: rule.condition,
    jobId: rule.job_id,
    labelTerms: parseLabelSelector(rule.label_selector),
  }));
  const matches: Array<{ rule: RuleRow; event: RunOutcome }> = [];
  for (const event of events) {
    for (const candidate of rulesFor(event, matchable)) {
      const rule = byId.get(candidate.id)!;
      if (rule.condition === AlertCondition.CONSECUTIVE_FAILURES) {
        const states = await latestOutcomes(pool, event.jobId, event.runId, rule.threshold + 1);
        if (!streakJustReached(states, rule.threshold)) continue;
      }
      matches.push({ rule, event });
    }
  }
  const groups = new Map<string, RuleEvents>();
  if (matches.length === 0) return groups;
  const names = await jobNames(pool, [...new Set(matches.map((m) => m.event.jobId))]);
  for (const { rule, event } of matches) {
    const run: NotifiedRun = { id: event.runId, state: stateName(event.state), attempt: event.attempt, error: event.error, time: event.time.toISOString() };
    const group = groups.get(rule.id);
    if (group) {
      group.count += 1;
      group.last = run;
      continue;
    }
    groups.set(rule.id, {
      ruleId: rule.id,
      channelId: rule.channel_id,
      minIntervalMs: rule.min_interval_ms,
      count: 1,
      last: run,
      first: {
        rule: { id: rule.id, name: rule.name, condition: conditionName(rule.condition) },
        namespace: event.namespace,
        job: { id: event.jobId, name: names.get(event.jobId) ?? "" },
        run,
      },
    });
  }
  return groups;
}
