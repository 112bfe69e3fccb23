/**
 * A run's abort: the AbortController behind the handler's signal is made only when the handler
 * reads its signal or the run is aborted. Most short runs do neither, and a controller with
 * its signal and listener is a noticeable share of a no-op run's cost.
 */
export class LazyAbort {
  private controller?: AbortController;
  private listener?: (reason: unknown) => void;
  aborted = false;
  reason: unknown;

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  /** Calls `listener` once, when (or, if already aborted, as soon as) the run is aborted. */
  onAbort(listener: (reason: unknown) => void): void {
    if (this.aborted) listener(this.reason);
    else this.listener = listener;
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
    const listener = this.listener;
    this.listener = undefined;
    listener?.(reason);
  }
}
