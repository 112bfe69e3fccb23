import type { Scenario } from "./scenarios.js";

/**
 * Clock steps of the leader (−1 h, +1 h, +30 s, each for a while): the scheduler's clock
 * work brings the clock-shifted server process these need; they join the suite here.
 */
export const CLOCK_STEP_SCENARIOS: Scenario[] = [];
