// The system's light or dark theme, so charts the core renders match the window.
import { useEffect, useState } from "preact/hooks";

const DARK = "(prefers-color-scheme: dark)";

/** Whether the system asks for dark colours now (false where it cannot be asked). */
export function prefersDark(): boolean {
  return typeof window.matchMedia === "function" && window.matchMedia(DARK).matches;
}

/** `prefersDark()` that re-renders the component when the system theme changes. */
export function useDark(): boolean {
  const [dark, setDark] = useState(prefersDark);
  useEffect(() => {
    if (typeof window.matchMedia !== "function") return;
    const mq = window.matchMedia(DARK);
    const on = () => setDark(mq.matches);
    mq.addEventListener?.("change", on);
    return () => mq.removeEventListener?.("change", on);
  }, []);
  return dark;
}
