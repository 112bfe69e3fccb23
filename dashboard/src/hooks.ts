import { createContext, useCallback, useContext, useEffect, useRef, useState } from "react";
import { errorMessage } from "./api";

/** Grows when the API token changes, so every page loads again with it. */
export const AuthEpoch = createContext(0);

export interface Loaded<T> {
  data?: T;
  error?: string;
  /** The error itself, e.g. for fieldErrors(). */
  cause?: unknown;
  loading: boolean;
  reload(): void;
}

/**
 * Runs `load` now, whenever `deps` change, and every `everyMs` if given (skipping a
 * tick while the previous load is still out). The last good data stays shown while a
 * refresh fails; the error says why.
 */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[], everyMs?: number): Loaded<T> {
  const epoch = useContext(AuthEpoch);
  const [state, setState] = useState<{ data?: T; error?: string; cause?: unknown; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;
  useEffect(() => {
    const abort = new AbortController();
    let busy = false;
    const run = async () => {
      if (busy) return;
      busy = true;
      try {
        const data = await loadRef.current(abort.signal);
        if (!abort.signal.aborted) setState({ data, loading: false });
      } catch (error) {
        if (!abort.signal.aborted) setState((s) => ({ data: s.data, error: errorMessage(error), cause: error, loading: false }));
      } finally {
        busy = false;
      }
    };
    setState((s) => ({ ...s, loading: true }));
    void run();
    const timer = everyMs ? setInterval(() => void run(), everyMs) : undefined;
    return () => {
      abort.abort();
      clearInterval(timer);
    };
  }, [...deps, tick, epoch, everyMs]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

/** A value that follows `value` after it has been still for `ms`. */
export function useDebounced<T>(value: T, ms: number): T {
  const [debounced, setDebounced] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setDebounced(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return debounced;
}

/** The current time, updated every `ms` (for "in 4 s" labels). */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

export interface Toast {
  id: number;
  text: string;
  kind: "ok" | "error";
}

export const ToastContext = createContext<(text: string, kind?: Toast["kind"]) => void>(() => undefined);
export const useToast = () => useContext(ToastContext);
