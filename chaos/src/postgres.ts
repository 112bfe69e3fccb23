import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chownSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { restartable, untilTrue } from "./wait.js";

const BIN = "/usr/lib/postgresql/15/bin";

/** initdb and postgres refuse to run as root: as root, they run as the postgres user. */
function asPostgres(command: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ["runuser", ["-u", "postgres", "--", command, ...args]] : [command, args];
}

/**
 * A Postgres of the chaos suite's own (initdb into a temp dir, its own port): the suite
 * restarts and pauses it, so it must never be the machine's shared instance.
 */
export async function startPostgres(port: number) {
  const dir = mkdtempSync(join(tmpdir(), "chime-chaos-pg-"));
  if (process.getuid?.() === 0) chownSync(dir, Number(spawnSync("id", ["-u", "postgres"]).stdout.toString().trim()), 0);
  const [cmd, args] = asPostgres(`${BIN}/initdb`, ["-D", join(dir, "data"), "-U", "postgres", "-A", "trust", "--no-sync"]);
  const init = spawnSync(cmd, args, { cwd: "/", encoding: "utf8" });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr}`);
  const url = (db: string) => `postgres://postgres@127.0.0.1:${port}/${db}`;
  let child: ChildProcess | undefined;

  const postmasterPid = () => Number(readFileSync(join(dir, "data", "postmaster.pid"), "utf8").split("\n")[0]);

  async function start(): Promise<void> {
    const [c, a] = asPostgres(`${BIN}/postgres`, [
      "-D", join(dir, "data"), "-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1",
      // fsync off survives a crash of Postgres (the kernel keeps the writes), not of the machine;
      // synchronous_commit stays on: off, an immediate stop loses commits still in WAL buffers.
      "-c", "fsync=off", "-c", "full_page_writes=off", "-c", "max_connections=200",
    ]);
    child = spawn(c, a, { cwd: "/", stdio: "ignore" });
    await untilTrue("postgres to accept connections", async () => {
      const client = new pg.Client({ connectionString: url("postgres") });
      try {
        await client.connect();
        return true;
      } catch {
        return false;
      } finally {
        await client.end().catch(() => undefined);
      }
    }, 30_000);
  }

  /** Stops the postmaster: "fast" (SIGINT: clean) or "immediate" (SIGQUIT: crash recovery on start). */
  async function stop(mode: "fast" | "immediate"): Promise<void> {
    const running = child;
    child = undefined;
    // A child ended by a signal keeps exitCode null: signalCode says it has ended.
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once("exit", resolve));
    // The postmaster itself: runuser does not pass signals on.
    process.kill(postmasterPid(), mode === "fast" ? "SIGINT" : "SIGQUIT");
    // runuser stops itself when it sees its child stopped (signal("SIGSTOP")), maybe after a
    // SIGCONT was sent: keep resuming it until it has reaped postgres and exited.
    const resume = setInterval(() => running.kill("SIGCONT"), 200);
    await exited;
    clearInterval(resume);
  }

  await start();
  return {
    /**
     * Sends `signal` to the postmaster and every backend (SIGSTOP hangs the whole instance:
     * connections stay open, nothing answers; SIGCONT resumes it).
     */
    signal(signal: "SIGSTOP" | "SIGCONT"): void {
      const postmaster = postmasterPid();
      const children = spawnSync("pgrep", ["-P", String(postmaster)], { encoding: "utf8" }).stdout.split("\n").filter(Boolean).map(Number);
      // runuser stops itself when its child stops: it is resumed too, or it never reaps postgres.
      const runuser = child?.pid !== postmaster ? child?.pid : undefined;
      for (const pid of [postmaster, ...children, ...(runuser ? [runuser] : [])]) {
        try {
          process.kill(pid, signal);
        } catch (error) {
          // A backend that ended since pgrep listed it (its connection closed) has nothing to stop.
          if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
        }
      }
    },
    /** Creates a database and returns its URL. */
    async createDatabase(name: string): Promise<string> {
      const admin = new pg.Client({ connectionString: url("postgres") });
      await admin.connect();
      try {
        await admin.query(`CREATE DATABASE ${name}`);
      } finally {
        await admin.end();
      }
      return url(name);
    },
    ...restartable((how: "fast" | "immediate") => stop(how), start, () => stop("immediate"), dir),
  };
}

export type ChaosPostgres = Awaited<ReturnType<typeof startPostgres>>;
