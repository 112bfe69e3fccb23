import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

// The built `chime` (cli/dist, compiled by vitest's global setup) run as a child process
// against a real server, as a user or a script runs it.
export const CLI = fileURLToPath(new URL("../dist/main.js", import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `chime args...` with CHIME_SERVER set to `server` (env may override it). */
export function runChime(server: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, CHIME_SERVER: server, ...env } }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
