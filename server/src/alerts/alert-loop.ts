import type pg from "pg";
import type { Allowlist } from "../executor/http-guard.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import { createAlertEngine } from "./alert-engine.js";
import { createAlertSender } from "./alert-sender.js";

/**
 * The scheduler role's alerting: every `intervalMs`, match new run outcomes against the
 * rules, then send what is due. Safe in several processes at once (the engine's cursor and
 * the sender's claims are row locks); a failing pass is logged and tried again.
 */
export function startAlerts(options: { pool: pg.Pool; allowlist: Allowlist; intervalMs: number; logger: Logger; metrics: Metrics }) {
  const engine = createAlertEngine(options.pool);
  const sender = createAlertSender(options.pool, options.allowlist, (outcome) => options.metrics.alertDeliveries.inc({ outcome }));
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;

  const loop = (async () => {
    while (!stopped) {
      try {
        await engine.pass();
        await sender.pass();
      } catch (error) {
        if (!stopped) options.logger.warn({ err: error }, "alert pass failed; will retry");
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, options.intervalMs);
      });
    }
  })();

  return {
    async stop(): Promise<void> {
      stopped = true;
      clearTimeout(timer);
      wake?.();
      await loop;
      await sender.close();
    },
  };
}
