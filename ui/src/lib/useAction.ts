// One hook for "run a change, show that it is running, then its error where it happened".
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { toIpcError, type IpcError } from "../ipc";

export interface Action<K> {
  /** Which action is running (`true` for a single one), or `null`. */
  busy: K | null;
  /** Why the last action failed; cleared when the next one starts. */
  error: IpcError | null;
  /**
   * Runs `work`, marking `key` busy until it settles. Resolves to its value, or to `undefined`
   * when it failed (the error is then in `error`). A page disables what must not run twice.
   */
  run: <T>(work: () => Promise<T>, key?: K) => Promise<T | undefined>;
  /** Shows an error found before anything was sent (a form the user must correct). */
  fail: (e: unknown) => void;
  /** Hides the error. */
  clear: () => void;
}

export function useAction<K = true>(): Action<K> {
  const [busy, setBusy] = useState<K | null>(null);
  const [error, setError] = useState<IpcError | null>(null);
  // Only the latest run clears `busy`: an older one finishing must not hide a newer one's spinner.
  const latest = useRef(0);
  const mounted = useRef(true);
  useEffect(
    () => () => {
      mounted.current = false;
    },
    [],
  );

  const run = useCallback(async <T,>(work: () => Promise<T>, key?: K): Promise<T | undefined> => {
    const mine = ++latest.current;
    setBusy(key ?? (true as K));
    setError(null);
    try {
      return await work();
    } catch (e) {
      if (mounted.current) setError(toIpcError(e));
      return undefined;
    } finally {
      if (mounted.current && mine === latest.current) setBusy(null);
    }
  }, []);
  const fail = useCallback((e: unknown) => setError(toIpcError(e)), []);
  const clear = useCallback(() => setError(null), []);
  return { busy, error, run, fail, clear };
}
