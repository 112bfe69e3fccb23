// Preloaded (node --import) into a server child process to step its JavaScript wall
// clock the way an NTP step does: Date.now() and new Date() move by the offset (in ms)
// written to the file named by CHIME_TEST_CLOCK_OFFSET_FILE, read again on SIGUSR2; the
// monotonic clock (performance.now(), timers) is left alone.
import { readFileSync } from "node:fs";

const file = process.env.CHIME_TEST_CLOCK_OFFSET_FILE;
const RealDate = globalThis.Date;
let offset = 0;

function readOffset() {
  if (!file) return;
  try {
    offset = Number(readFileSync(file, "utf8").trim()) || 0;
  } catch {
    offset = 0;
  }
}

class ShiftedDate extends RealDate {
  constructor(...args) {
    if (args.length === 0) super(RealDate.now() + offset);
    else super(...args);
  }

  static now() {
    return RealDate.now() + offset;
  }
}

readOffset();
globalThis.Date = ShiftedDate;
process.on("SIGUSR2", readOffset);
