// A cron job in a time zone, and where its fire times land around a daylight-saving change.
// "Every day at 02:30 in Berlin": on 29 March 2026 the clocks jump from 02:00 to 03:00, so
// that night has no 02:30 (the run comes at 03:30 CEST); PreviewSchedule shows what the
// server will do before you create the job.
// Run: node examples/dist/cron-dst-preview.js (CHIME_URL, default http://127.0.0.1:8080).
import { createChimeClient } from "@chime/sdk";

const chime = createChimeClient({ baseUrl: process.env.CHIME_URL ?? "http://127.0.0.1:8080", timeoutMs: 5000 });
const zone = "Europe/Berlin";
const schedule = { cron: "0 30 2 * * *", timeZone: zone };

// Wall-clock time in the job's zone next to UTC, so the jump is visible.
const local = new Intl.DateTimeFormat("sv-SE", {
  timeZone: zone,
  year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  timeZoneName: "short",
});

const times = await chime.previewSchedule(schedule, 4, new Date("2026-03-27T00:00:00Z"));
console.log(`${schedule.cron} in ${zone}, from 27 March 2026:`);
for (const time of times) console.log(`  ${time.toISOString()}  ${local.format(time)}`);

// The same schedule as a job (paused, so this example never fires anything).
const job = await chime.createJob({ name: `dst-example-${Date.now()}`, queue: "reports", schedule });
await chime.pauseJob(job.id);
console.log(`created job ${job.id} (paused); deleting it again`);
await chime.deleteJob(job.id);
