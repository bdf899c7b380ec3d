// Small stroke icons drawn inline (no icon font, nothing fetched).
import type { RouteId } from "../routes";

const PATHS: Record<RouteId | "key", string> = {
  key: "M14.5 9.5a4 4 0 1 1-3.2-3.9M11 10l9 0m-3 0v3m-3-3v2",
  dashboard: "M4 4h7v7H4zM13 4h7v4h-7zM13 10h7v10h-7zM4 13h7v7H4z",
  setup: "M5 12l4 4L19 6",
  keys: "M8.5 14.5a4 4 0 1 1 2.8-6.8L20 7v3h-2v2h-2v2h-3.2A4 4 0 0 1 8.5 14.5z",
  providers: "M4 7h13l-3-3M20 17H7l3 3",
  status: "M3 12h4l2-6 4 12 2-6h6",
  limits: "M12 21a8 8 0 1 1 8-8M12 13l4-4",
  gateway: "M4 6h6v12H4zM14 6h6v12h-6zM10 10h4M10 14h4",
  usage: "M5 20V10M10 20V4M15 20v-7M20 20v-4",
  failover: "M4 7h10a4 4 0 0 1 0 8H9M4 7l3-3M4 7l3 3M9 15l3-3M9 15l3 3",
  alerts: "M12 3a6 6 0 0 0-6 6v4l-2 3h16l-2-3V9a6 6 0 0 0-6-6zM10 19a2 2 0 0 0 4 0",
  audit: "M7 3h8l4 4v14H7zM15 3v4h4M10 12h6M10 16h6",
  settings:
    "M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6zM19.4 13a7.8 7.8 0 0 0 0-2l2-1.5-2-3.4-2.3.9a7 7 0 0 0-1.7-1L15 3.5h-4l-.4 2.5a7 7 0 0 0-1.7 1l-2.3-.9-2 3.4 2 1.5a7.8 7.8 0 0 0 0 2l-2 1.5 2 3.4 2.3-.9a7 7 0 0 0 1.7 1l.4 2.5h4l.4-2.5a7 7 0 0 0 1.7-1l2.3.9 2-3.4z",
};

export function Icon({ name, size = 18 }: { name: RouteId | "key"; size?: number }) {
  return (
    <svg
      width={size}
      height={size}
      viewBox="0 0 24 24"
      fill="none"
      stroke="currentColor"
      stroke-width="1.8"
      stroke-linecap="round"
      stroke-linejoin="round"
      aria-hidden="true"
    >
      <path d={PATHS[name]} />
    </svg>
  );
}
