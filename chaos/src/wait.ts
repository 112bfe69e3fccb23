import { rmSync } from "node:fs";

/** Polls `check` until it returns true, or throws after `timeoutMs`. */
export async function untilTrue(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** restart() and close() of a server process the suite owns, with its data directory. */
export function restartable<How>(stop: (how: How) => Promise<void>, start: () => Promise<void>, kill: () => Promise<void>, dir: string) {
  return {
    /** Stops it (`how`: the signal or shutdown mode), then starts it again on the same data after `downMs`. */
    async restart(how: How, downMs: number): Promise<void> {
      await stop(how);
      await sleep(downMs);
      await start();
    },
    async close(): Promise<void> {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
