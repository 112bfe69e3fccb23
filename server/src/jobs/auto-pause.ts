import type pg from "pg";
import { AlertCondition } from "@chime/sdk/gen/alert_service_pb";
import { concernsJob, isFailure } from "../alerts/alert-rules.js";
import { matchableRule, notifiedRun } from "../alerts/alert-engine.js";
import { enqueue, latestOutcomes, listRules, ruleEvent, type RuleRow } from "../alerts/alert-store.js";
import { createLogConsumerPass, readEndedRuns, type EndedRun } from "../events/log-consumer.js";
import { cancelWrittenAheadRunsOfJob } from "../runs/run-store.js";
import { autoPauseDue } from "./auto-pause-decision.js";
import type { AutoPauseRow } from "./job-store.js";
import type { Logger } from "../logger.js";

/** A failed run that completes its job's streak, and the JOB_AUTO_PAUSED rules to notify. */
interface Pause {
  event: EndedRun;
  streak: number;
  rules: RuleRow[];
  /** Set by the write: the job was still active and is now paused. */
  applied?: boolean;
}

interface StreakJobRow {
  id: string;
  state: number;
  pause_after_failures: number;
  streak_since: Date | null;
}

/**
 * Pauses jobs after pause_after_failures consecutive failed runs: a consumer of the run event
 * log (events/log-consumer.ts) like the alert engine, judging the streak the same way (the
 * job's latest outcomes through the (job_id, scheduled_time) index), so each failure is
 * judged once, by one scheduler process, and the pause, its job event (the jobs trigger:
 * JOB_CHANGE_KIND_AUTO_PAUSED), its JOB_AUTO_PAUSED deliveries and the cursor commit together.
 */
export function createAutoPause(pool: pg.Pool, logger?: Logger): () => Promise<number> {
  return createLogConsumerPass(pool, {
    name: "auto_pause",
    read: readEndedRuns,
    // While no job asks for it, the cursor just follows the present (a partial index keeps this cheap).
    active: async () => (await pool.query("SELECT 1 FROM jobs WHERE spec ? 'pauseAfterFailures' AND deleted_time IS NULL LIMIT 1")).rowCount! > 0,
    prepare: (ended) => findPauses(pool, ended),
    write: async (client, pauses) => {
      let paused = 0;
      for (const pause of pauses) if ((pause.applied = await applyPause(client, pause))) paused++;
      return paused;
    },
    committed: (_, pauses) => {
      for (const { event, streak, applied } of pauses) {
        if (applied) logger?.warn({ jobId: event.jobId, job: event.jobName, namespace: event.namespace, runId: event.runId, failureStreak: streak }, "job paused after a failure streak");
      }
    },
  });
}

async function findPauses(pool: pg.Pool, ended: EndedRun[]): Promise<Pause[]> {
  const failed = ended.filter((event) => isFailure(event.state));
  if (failed.length === 0) return [];
  const { rows } = await pool.query<StreakJobRow>(
    `SELECT id, state, (spec->>'pauseAfterFailures')::int AS pause_after_failures, streak_since FROM jobs
     WHERE id = ANY($1::uuid[]) AND spec ? 'pauseAfterFailures' AND deleted_time IS NULL`,
    [[...new Set(failed.map((event) => event.jobId))]],
  );
  const jobs = new Map(rows.map((row) => [row.id, row]));
  if (jobs.size === 0) return [];
  const rules = (await listRules(pool, "")).filter((rule) => rule.condition === AlertCondition.JOB_AUTO_PAUSED);
  const pauses: Pause[] = [];
  for (const event of failed) {
    const job = jobs.get(event.jobId);
    if (!job) continue;
    const states = await latestOutcomes(pool, job.id, event.runId, job.pause_after_failures, job.streak_since);
    if (!autoPauseDue({ state: job.state, pauseAfterFailures: job.pause_after_failures }, states)) continue;
    pauses.push({ event, streak: job.pause_after_failures, rules: rules.filter((rule) => concernsJob(matchableRule(rule), event)) });
  }
  return pauses;
}

/**
 * Pauses the job unless it is no longer active (paused meanwhile, or by an earlier failure
 * of the same page), with its reason; cancels the runs written ahead of time, as PauseJob
 * does; and raises the rules' notifications. Returns whether it paused the job.
 */
async function applyPause(client: pg.PoolClient, { event, streak, rules }: Pause): Promise<boolean> {
  const reason: AutoPauseRow = { failure_streak: streak, last_run_id: event.runId, time: new Date().toISOString() };
  const { rowCount } = await client.query(
    "UPDATE jobs SET state = 2, auto_pause = $2, update_time = now() WHERE id = $1 AND state = 1 AND deleted_time IS NULL",
    [event.jobId, JSON.stringify(reason)],
  );
  if (rowCount !== 1) return false;
  await cancelWrittenAheadRunsOfJob(client, event.jobId);
  const run = notifiedRun(event);
  for (const rule of rules) {
    await enqueue(client, ruleEvent(rule, { namespace: event.namespace, job: { id: event.jobId, name: event.jobName }, run, pause: { failure_streak: streak, last_run_id: event.runId } }, undefined));
  }
  return true;
}
