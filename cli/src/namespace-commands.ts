import { create } from "@bufbuild/protobuf";
import { durationFromMs } from "@bufbuild/protobuf/wkt";
import { NamespaceLimitsSchema, type ChimeClient, type NamespaceLimits } from "@chime/sdk";
import { parseDuration } from "@chime/sdk/web";
import type { Command } from "commander";
import { ArgumentError } from "./exit-codes.js";
import { messageJson, printFields, printJson, type OutputFormat } from "./output.js";

/** `chime namespace limits` and `chime namespace set-limits`: AdminService's per-namespace limits. */

interface LimitFlags {
  callsPerSecond?: string;
  callBurst?: string;
  maxJobs?: string;
  runsPerSecond?: string;
  runBurst?: string;
  runRetention?: string;
}

function nonNegative(flag: string, text: string, integer: boolean): number {
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) {
    throw new ArgumentError(`${flag}: ${JSON.stringify(text)} is not a ${integer ? "whole number" : "number"} of 0 or more (0: no limit)`);
  }
  return n;
}

/** The limits with the flags given applied over them; the other fields stay as they are. */
export function changedLimits(current: NamespaceLimits, flags: LimitFlags): NamespaceLimits {
  const next = create(NamespaceLimitsSchema, current);
  if (flags.callsPerSecond !== undefined) next.callsPerSecond = nonNegative("--calls-per-second", flags.callsPerSecond, false);
  if (flags.callBurst !== undefined) next.callBurst = nonNegative("--call-burst", flags.callBurst, true);
  if (flags.maxJobs !== undefined) next.maxJobs = BigInt(nonNegative("--max-jobs", flags.maxJobs, true));
  if (flags.runsPerSecond !== undefined) next.runsPerSecond = nonNegative("--runs-per-second", flags.runsPerSecond, false);
  if (flags.runBurst !== undefined) next.runBurst = nonNegative("--run-burst", flags.runBurst, true);
  if (flags.runRetention !== undefined) {
    if (flags.runRetention === "0") next.runRetention = undefined;
    else {
      let ms: number;
      try {
        ms = parseDuration(flags.runRetention);
      } catch {
        throw new ArgumentError(`--run-retention: ${JSON.stringify(flags.runRetention)} is not a duration (e.g. 14d, 36h; 0: the server's default)`);
      }
      next.runRetention = durationFromMs(ms);
    }
  }
  return next;
}

const limitText = (value: number | bigint, unit = "") => (Number(value) === 0 ? "no limit" : `${value}${unit}`);

function printLimits(limits: NamespaceLimits, format: OutputFormat): void {
  if (format === "json") return printJson(messageJson(NamespaceLimitsSchema, limits));
  printFields([
    ["namespace", limits.namespace],
    ["calls per second", Number(limits.callsPerSecond) === 0 ? "CHIME_RATE_LIMIT (server default)" : String(limits.callsPerSecond)],
    ["call burst", limits.callBurst === 0 ? "one second's worth" : String(limits.callBurst)],
    ["max jobs", limitText(limits.maxJobs)],
    ["runs per second", limitText(limits.runsPerSecond)],
    ["run burst", limits.runBurst === 0 ? "one second's worth" : String(limits.runBurst)],
    ["run retention", limits.runRetention && Number(limits.runRetention.seconds) > 0 ? `${Number(limits.runRetention.seconds)}s` : "CHIME_RUN_RETENTION_MS (server default)"],
  ]);
}

const required = (namespace: string) => {
  if (namespace.trim() === "") throw new ArgumentError("namespace: required");
  return namespace;
};

export function addNamespaceCommand(program: Command, connect: () => ChimeClient, output: () => OutputFormat): void {
  const ns = program.command("namespace").description("a namespace's call rate, job quota, fire rate and run retention (all-namespaces admin)");
  ns.command("limits <namespace>")
    .description("show a namespace's limits")
    .action(async (namespace: string) => {
      const { limits } = await connect().adminService.getNamespaceLimits({ namespace: required(namespace) });
      printLimits(limits!, output());
    });
  ns.command("set-limits <namespace>")
    .description("change the limits given, keeping the others (0 removes a limit)")
    .option("--calls-per-second <n>", "API calls per second of the namespace's keys (0: CHIME_RATE_LIMIT's)")
    .option("--call-burst <n>", "calls at once after a quiet spell (0: one second's worth)")
    .option("--max-jobs <n>", "jobs the namespace may hold")
    .option("--runs-per-second <n>", "runs the scheduler fires per second for the namespace's jobs")
    .option("--run-burst <n>", "runs fired at once after a quiet spell (0: one second's worth)")
    .option("--run-retention <duration>", "how long finished runs are kept (14d, 36h; 0: the server's default)")
    .action(async (namespace: string, flags: LimitFlags) => {
      if (Object.values(flags).every((value) => value === undefined)) {
        throw new ArgumentError("give at least one of --calls-per-second, --call-burst, --max-jobs, --runs-per-second, --run-burst, --run-retention");
      }
      const chime = connect();
      const { limits: current } = await chime.adminService.getNamespaceLimits({ namespace: required(namespace) });
      // Checked before anything is sent: a bad flag changes nothing.
      const next = changedLimits(current ?? create(NamespaceLimitsSchema, { namespace }), flags);
      const { limits } = await chime.adminService.setNamespaceLimits({ limits: { ...next, namespace } });
      printLimits(limits!, output());
    });
}
