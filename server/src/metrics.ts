import { collectDefaultMetrics, Registry } from "prom-client";

/** A registry per server instance, so several servers in one process (tests) never clash. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "chime_process_" });
  return { registry };
}

export type Metrics = ReturnType<typeof createMetrics>;
