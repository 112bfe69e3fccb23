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

  constructor(
    private readonly base: WorkerLogger,
    private readonly fields: { runId: string; attempt: number; queue: string },
    private readonly abort: LazyAbort,
    readonly heartbeat: () => void,
    private readonly logLimits: RunLogLimits,
  ) {}

  /** The run's own log, made on first use like `logger`: a handler that never logs costs nothing. */
  get log(): RunLog {
    return (this.runLog ??= new AttemptLog(this.fields.attempt, this.logLimits));
  }

  /** The lines logged onto the run, if any; undefined when the handler never used `log`. */
  takeLogLines(): RunLogLine[] | undefined {
    return this.runLog?.take();
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
