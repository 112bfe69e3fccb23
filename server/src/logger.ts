import { pino, type Logger } from "pino";

export type { Logger };

/** One JSON line per event on stdout. */
export function createLogger(level: string, name = "chime"): Logger {
  return pino({ name, level });
}
