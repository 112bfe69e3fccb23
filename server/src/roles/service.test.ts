import { describe, expect, it } from "vitest";
import type { ChimeConfig, Role } from "../config.js";
import { createLogger } from "../logger.js";
import { runsIn, startInOrder, type ChimeService, type ServiceContext } from "./service.js";

/** startInOrder needs only the logger and the grace period of the context. */
const context = { logger: createLogger("silent"), config: { shutdownGraceMs: 1000 } as ChimeConfig } as ServiceContext;

function recorded(names: string[], failing?: string) {
  const events: string[] = [];
  const deadlines: number[] = [];
  const services: ChimeService[] = names.map((name) => ({
    name,
    start() {
      if (name === failing) throw new Error(`${name} cannot start`);
      events.push(`start ${name}`);
      return {
        stop(deadline) {
          events.push(`stop ${name}`);
          deadlines.push(deadline);
        },
      };
    },
  }));
  return { events, deadlines, services };
}

describe("startInOrder", () => {
  it("starts in table order and stops in reverse, every service with the same deadline", async () => {
    const { events, deadlines, services } = recorded(["a", "b", "c"]);
    const started = await startInOrder(services, context);
    expect(started.names).toEqual(["a", "b", "c"]);
    await started.stopInReverse(12_345);
    expect(events).toEqual(["start a", "start b", "start c", "stop c", "stop b", "stop a"]);
    expect(deadlines).toEqual([12_345, 12_345, 12_345]);
  });

  it("stops what started, in reverse, when a later service fails to start", async () => {
    const { events, services } = recorded(["a", "b", "c"], "c");
    await expect(startInOrder(services, context)).rejects.toThrow("c cannot start");
    expect(events).toEqual(["start a", "start b", "stop b", "stop a"]);
  });

  it("keeps stopping the rest when one service's stop throws", async () => {
    const events: string[] = [];
    const services: ChimeService[] = ["a", "b"].map((name) => ({
      name,
      start: () => ({
        stop() {
          events.push(`stop ${name}`);
          if (name === "b") throw new Error("b hung up");
        },
      }),
    }));
    await (await startInOrder(services, context)).stopInReverse(0);
    expect(events).toEqual(["stop b", "stop a"]);
  });
});

describe("runsIn", () => {
  const cases: Array<{ roles?: ChimeService["roles"]; process: Role[]; runs: boolean }> = [
    { roles: undefined, process: ["ingest"], runs: true },
    { roles: ["api"], process: ["api", "scheduler"], runs: true },
    { roles: ["api"], process: ["scheduler"], runs: false },
    { roles: ["scheduler", "ingest"], process: ["ingest"], runs: true },
  ];
  it.each(cases)("a service of $roles runs in a process of $process: $runs", ({ roles, process, runs }) => {
    const service: ChimeService = { name: "s", roles, start: () => ({ stop() {} }) };
    expect(runsIn(service, new Set(process))).toBe(runs);
  });
});
