// A watch consumer that survives restarts: it follows run events of a queue and saves the
// resume token of each event it has handled to a file; started again, it picks up right
// after the last one it saved, so no event is missed or handled twice across a restart
// (the server keeps the events; see CHIME_WATCH_* for how far back).
// Run: QUEUE=reports node examples/dist/watch-resume.js (CHIME_URL, CURSOR_FILE); Ctrl-C stops it.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createChimeClient, RunState } from "@chime/sdk";

const chime = createChimeClient({ baseUrl: process.env.CHIME_URL ?? "http://127.0.0.1:8080" });
const cursorFile = process.env.CURSOR_FILE ?? "watch-cursor.txt";
const queue = process.env.QUEUE ?? "reports";

// Written to a temporary file and renamed, so a crash mid-write never leaves half a token.
const saveCursor = (token: string) => {
  writeFileSync(`${cursorFile}.tmp`, token);
  renameSync(`${cursorFile}.tmp`, cursorFile);
};

const saved = existsSync(cursorFile) ? readFileSync(cursorFile, "utf8").trim() : "";
console.log(saved ? "resuming after the saved cursor" : "no saved cursor: live events from now on");

const stop = new AbortController();
process.once("SIGINT", () => stop.abort());
process.once("SIGTERM", () => stop.abort());

const events = chime.watchRuns(
  { queues: [queue] },
  {
    ...(saved ? { resumeToken: saved } : {}),
    signal: stop.signal,
    // Keepalives carry a token too: saving it skips past events of other queues.
    onKeepalive: (keepalive) => saveCursor(keepalive.resumeToken),
  },
);
for await (const event of events) {
  // Handle the event first, then save its token: a crash in between handles it again
  // (at least once), never loses it.
  console.log(`run ${event.runId} ${RunState[event.state]} attempt ${event.attempt}`);
  saveCursor(event.resumeToken);
}
console.log("stopped; cursor saved");
