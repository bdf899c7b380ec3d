// The app's navigation: one entry per page, in sidebar order.
export type RouteId =
  | "dashboard"
  | "keys"
  | "providers"
  | "status"
  | "limits"
  | "gateway"
  | "failover"
  | "usage"
  | "alerts"
  | "audit"
  | "settings"
  | "setup";

export interface Route {
  id: RouteId;
  label: string;
}

export const ROUTES: Route[] = [
  { id: "dashboard", label: "Dashboard" },
  { id: "keys", label: "Keys" },
  { id: "providers", label: "Providers" },
  { id: "status", label: "Status" },
  { id: "limits", label: "Rate limits" },
  { id: "gateway", label: "Gateway" },
  { id: "failover", label: "Failover" },
  { id: "usage", label: "Usage" },
  { id: "alerts", label: "Alerts" },
  { id: "audit", label: "Audit" },
  { id: "settings", label: "Settings" },
];

/** Pages reached from another page, not from the sidebar. */
export const HIDDEN_ROUTES: RouteId[] = ["setup"];

export function routeFromHash(hash: string): RouteId {
  const id = hash.replace(/^#\/?/, "");
  return ROUTES.some((r) => r.id === id) || HIDDEN_ROUTES.includes(id as RouteId) ? (id as RouteId) : "dashboard";
}
