// One hook for "read something from the core, show loading, then the data or the error".
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { toIpcError, type IpcError } from "../ipc";

export interface Load<T> {
  /** The last answer; `null` until the first one arrives. */
  data: T | null;
  /** Why the last read failed; cleared by the next answer. */
  error: IpcError | null;
  /** A read is in flight. */
  loading: boolean;
  /** Reads again (the previous read's answer, if it is still out, is dropped). */
  reload: () => void;
  /** Replaces the data locally (an event or a command already returned the new value). */
  setData: (next: T | null | ((cur: T | null) => T | null)) => void;
}

export interface LoadOptions {
  /**
   * Keep showing the previous data and error while a new read is in flight (a refresh).
   * `false` clears them, so the page shows loading again (a new selection). Default `true`.
   */
  keep?: boolean;
  /** Do not read now; read when it turns false (or `deps` change). */
  skip?: boolean;
}

/**
 * Calls `fetcher` on mount and whenever `deps` change or `reload()` is called. Only the
 * latest read's answer is applied: an answer to an older selection, or one arriving after the
 * component unmounted, is dropped, so a slow reply can never overwrite a newer one.
 */
export function useLoad<T>(fetcher: () => Promise<T>, deps: unknown[], options: LoadOptions = {}): Load<T> {
  const { keep = true, skip = false } = options;
  const [state, setState] = useState<{ data: T | null; error: IpcError | null; loading: boolean }>({
    data: null,
    error: null,
    loading: !skip,
  });
  const [tick, setTick] = useState(0);
  // The fetcher is a new closure each render; the read uses the one of the render that asked.
  const latest = useRef(fetcher);
  latest.current = fetcher;

  useEffect(() => {
    if (skip) return;
    let current = true;
    setState((s) => (keep ? { ...s, loading: true } : { data: null, error: null, loading: true }));
    let work: Promise<T>;
    try {
      work = latest.current();
    } catch (e) {
      work = Promise.reject(e);
    }
    work.then(
      (data) => current && setState({ data, error: null, loading: false }),
      (e: unknown) => current && setState((s) => ({ data: s.data, error: toIpcError(e), loading: false })),
    );
    return () => {
      current = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the caller's deps decide
  }, [...deps, tick, skip]);

  const reload = useCallback(() => setTick((n) => n + 1), []);
  const setData = useCallback(
    (next: T | null | ((cur: T | null) => T | null)) =>
      setState((s) => ({ ...s, data: typeof next === "function" ? (next as (cur: T | null) => T | null)(s.data) : next })),
    [],
  );
  return { ...state, reload, setData };
}
