import type { RunLogLine } from "../gen/chime/v1/run_pb.js";
import type { RunLogLimits } from "../run-log-bounds.js";
import type { LazyAbort } from "./lazy-abort.js";
import { AttemptLog, type RunLog } from "./run-log.js";
import type { WorkerContext, WorkerLogger } from "./worker.js";

/**
 * A handler's context. Its logger, which adds the run's fields to every line, is made on
 * first use: most handlers never log, and four closures per run add up at thousands a second.
 */
export class RunContext implements WorkerContext {
  private own?: WorkerLogger;
  private runLog?: AttemptLog;
  private flushTimer?: NodeJS.Timeout;
  private ended = false;

  constructor(
    private readonly base: WorkerLogger,
    private readonly fields: { runId: string; attempt: number; queue: string },
    private readonly abort: LazyAbort,
    readonly heartbeat: () => void,
    private readonly logLimits: RunLogLimits,
    /** Sends the lines logged while the handler runs, at most once per `live.everyMs`. */
    private readonly live?: { everyMs: number; send: (lines: RunLogLine[]) => void },
  ) {}

  /** The run's own log, made on first use like `logger`: a handler that never logs costs nothing. */
  get log(): RunLog {
    return (this.runLog ??= new AttemptLog(this.fields.attempt, this.logLimits, undefined, () => this.scheduleFlush()));
  }

  /**
   * The attempt's lines for the update that ends it, if the handler ever used `log` (every
   * line, those sent already too: the server keeps each once). Nothing is sent live after it.
   */
  takeLogLines(): RunLogLine[] | undefined {
    this.ended = true;
    clearTimeout(this.flushTimer);
    return this.runLog?.take();
  }

  /** A line was logged: its lines go out within `live.everyMs`, in one update with any that follow meanwhile. */
  private scheduleFlush(): void {
    if (!this.live || this.ended || this.flushTimer) return;
    const { everyMs, send } = this.live;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      if (this.ended) return;
      const lines = this.runLog!.takeNew();
      if (lines.length > 0) send(lines);
    }, everyMs);
    this.flushTimer.unref();
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  get logger(): WorkerLogger {
    if (!this.own) {
      const { base, fields } = this;
      this.own = {
        debug: (f, message) => base.debug({ ...fields, ...f }, message),
        info: (f, message) => base.info({ ...fields, ...f }, message),
        warn: (f, message) => base.warn({ ...fields, ...f }, message),
        error: (f, message) => base.error({ ...fields, ...f }, message),
      };
    }
    return this.own;
  }
}
