import { createChimeClient } from "@chime/sdk";

export interface Load {
  /** Per-second cron jobs: id and creation time. */
  crons: Array<{ id: string; createdAt: Date }>;
  /** One-off jobs (`at`): id and fire time. */
  oneOffs: Array<{ id: string; at: Date }>;
  /** The last fire time of the load. */
  end: Date;
}

/**
 * The load of a scenario: `crons` per-second cron jobs ending at `end` (misfire RUN_ALL
 * with a window past any outage, so every second is owed exactly one run), and one-off
 * jobs, one every `oneOffEveryMs` until `end`. Handlers sleep 50 ms.
 */
export async function createLoad(options: { grpcUrl: string; queue: string; crons: number; oneOffEveryMs: number; durationMs: number }): Promise<Load> {
  const chime = createChimeClient({ baseUrl: options.grpcUrl });
  const start = Date.now();
  const end = new Date(Math.floor((start + options.durationMs) / 1000) * 1000);
  const crons = await Promise.all(
    Array.from({ length: options.crons }, async (_, i) => {
      const job = await chime.createJob({
        name: `cron-${i}`,
        queue: options.queue,
        schedule: { cron: "* * * * * *", endTime: end },
        misfire: "run_all",
        misfireWindow: "1h",
        payload: { sleepMs: 50 },
        retry: { maxAttempts: 10, initialBackoff: "200ms" },
      });
      return { id: job.id, createdAt: new Date(Number(job.createTime!.seconds) * 1000 + job.createTime!.nanos / 1e6) };
    }),
  );
  const oneOffs: Load["oneOffs"] = [];
  for (let t = start + 2000; t <= end.getTime(); t += options.oneOffEveryMs) {
    const at = new Date(t);
    const job = await chime.createJob({
      name: `once-${t}`,
      queue: options.queue,
      schedule: { at },
      payload: { sleepMs: 50 },
      retry: { maxAttempts: 10, initialBackoff: "200ms" },
    });
    oneOffs.push({ id: job.id, at });
  }
  return { crons, oneOffs, end };
}
