// The app's navigation: one entry per page, in sidebar order.
export type RouteId =
  | "dashboard"
  | "keys"
  | "providers"
  | "status"
  | "limits"
  | "usage"
  | "alerts"
  | "audit"
  | "settings";

export interface Route {
  id: RouteId;
  label: string;
  icon: string;
}

export const ROUTES: Route[] = [
  { id: "dashboard", label: "Dashboard", icon: "◧" },
  { id: "keys", label: "Keys", icon: "⚿" },
  { id: "providers", label: "Providers", icon: "⇄" },
  { id: "status", label: "Status", icon: "◉" },
  { id: "limits", label: "Rate limits", icon: "◔" },
  { id: "usage", label: "Usage", icon: "▤" },
  { id: "alerts", label: "Alerts", icon: "⚑" },
  { id: "audit", label: "Audit", icon: "☰" },
  { id: "settings", label: "Settings", icon: "⚙" },
];

export function routeFromHash(hash: string): RouteId {
  const id = hash.replace(/^#\/?/, "");
  return ROUTES.some((r) => r.id === id) ? (id as RouteId) : "dashboard";
}
