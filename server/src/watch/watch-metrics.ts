import { Counter, Gauge, type Registry } from "prom-client";
import type { WatchHub } from "./watch-hub.js";

/** Watch streams on /metrics, read from the hub when scraped. */
export function registerWatchMetrics(registry: Registry, hub: WatchHub): void {
  new Gauge({
    name: "chime_watch_subscribers",
    help: "Watch streams (WatchRuns, WatchJob) registered with this replica's event tail.",
    registers: [registry],
    collect() {
      this.set(hub.stats().subscribers);
    },
  });
  new Gauge({
    name: "chime_watch_buffered_events",
    help: "Events queued for watch streams and not yet sent, over all streams.",
    registers: [registry],
    collect() {
      this.set(hub.stats().bufferedEvents);
    },
  });
  new Gauge({
    name: "chime_watch_tail_cursor",
    help: "The event cursor up to which this replica's tail has read (its commit horizon).",
    registers: [registry],
    collect() {
      this.set(hub.stats().position);
    },
  });
  // Totals since start are counters (rate() works on them); the hub keeps the running sums.
  new Counter({
    name: "chime_watch_events_read_total",
    help: "Events this replica's tail read from Postgres to offer to watch streams (none while no stream is open).",
    registers: [registry],
    collect() {
      setTotal(this, hub.stats().eventsRead);
    },
  });
  new Counter({
    name: "chime_watch_overflows_total",
    help: "Watch streams ended because their reader fell too far behind.",
    registers: [registry],
    collect() {
      setTotal(this, hub.stats().overflows);
    },
  });
}

/** A counter whose running total is kept elsewhere: reported as that total at each scrape. */
function setTotal(counter: Counter, total: number): void {
  counter.reset();
  counter.inc(total);
}
