import type { Scenario } from "./scenarios.js";
import { sleep, untilTrue } from "./wait.js";

/** How long the leader's clock stays stepped each time. */
const STEP_HELD_MS = 10_000;

/**
 * A step of the leader's wall clock, as NTP makes when it corrects a clock far off: held for
 * STEP_HELD_MS, then stepped back. The scheduler decides on Postgres' clock
 * (util/database-clock.ts), so the checker must find nothing early (a start before its time),
 * nothing late beyond the usual and nothing lost or doubled, during the step or after it.
 */
const clockStep = (name: string, offsetMs: number, label: string): Scenario => ({
  name,
  description: `the leader's wall clock stepped ${label} for ${STEP_HELD_MS / 1000} s, then back`,
  everyMs: 5000,
  steppedClocks: true,
  async inject(ctx) {
    const { server } = await ctx.cluster.leader();
    ctx.log(`${name}: ${server.id}'s clock ${label}`);
    ctx.cluster.stepClock(server.id, offsetMs);
    const stepped = Date.now();
    // The step took: the leader's heartbeat measures its clock that far off Postgres'.
    await untilTrue(
      `${server.id} to report its clock ${label} off`,
      async () => {
        const { rows } = await ctx.cluster.pool
          .query<{ skew: number | null }>("SELECT clock_skew_ms AS skew FROM scheduler_leader WHERE singleton")
          .catch(() => ({ rows: [] as { skew: number | null }[] }));
        return rows[0]?.skew != null && Math.abs(rows[0].skew - offsetMs) < 1000;
      },
      STEP_HELD_MS,
    );
    await sleep(STEP_HELD_MS - (Date.now() - stepped));
    ctx.cluster.stepClock(server.id, 0);
  },
});

export const CLOCK_STEP_SCENARIOS: Scenario[] = [
  clockStep("clock-step-plus-1h", 3_600_000, "+1 h"),
  clockStep("clock-step-minus-1h", -3_600_000, "−1 h"),
  clockStep("clock-step-plus-30s", 30_000, "+30 s"),
];
