import type { RouteId } from "../routes";

export interface PlaceholderProps {
  title: string;
  lead: string;
  coming: string[];
}

/** Pages whose capability has not landed yet: say what will live there, show no fake data. */
export const PLACEHOLDERS: Record<Exclude<RouteId, "dashboard" | "providers" | "keys">, PlaceholderProps> = {
  status: {
    title: "Status",
    lead: "Live health of every provider: latency, uptime history, degradation and maintenance.",
    coming: [
      "Live indicators per provider, updated as checks complete",
      "Response-time charts, a 90-day uptime strip and incidents",
    ],
  },
  limits: {
    title: "Rate limits",
    lead: "One live budget per exchange limit, shared by the app, the CLI and your bots.",
    coming: [
      "A gauge per limit with queue length and time to the next window",
      "Which endpoints and callers spent the budget",
    ],
  },
  usage: {
    title: "Usage",
    lead: "Calls, weight and cost per endpoint, key and bot.",
    coming: ["Charts per day, week and month", "Cost forecasts and unusual-usage detection"],
  },
  alerts: {
    title: "Alerts",
    lead: "Rules and channels for outages, degradation, rate-limit pressure and key expiry.",
    coming: [
      "Desktop notifications and the tray icon's colour",
      "Webhooks (signed JSON, Slack, Discord) with retries",
      "Quiet hours, cooldown and acknowledgement",
    ],
  },
  audit: {
    title: "Audit",
    lead: "An append-only, hash-chained record of every key and settings event.",
    coming: ["Filter and export the log", "Verify the chain: any edited, inserted or deleted row is named"],
  },
  settings: {
    title: "Settings",
    lead: "Preferences for the app, the local gateway and monitoring.",
    coming: ["Theme and notifications", "Gateway port and client tokens", "Data retention"],
  },
};

export function Placeholder({ title, lead, coming }: PlaceholderProps) {
  return (
    <section>
      <header class="page-header">
        <div>
          <h1>{title}</h1>
          <p class="lead">{lead}</p>
        </div>
      </header>
      <div class="card empty" data-testid="placeholder">
        <h2>Not in this build yet</h2>
        <p>This page will hold:</p>
        <ul>
          {coming.map((c) => (
            <li key={c}>{c}</li>
          ))}
        </ul>
        <p class="hint">Nothing here is simulated: the page fills in when the capability lands.</p>
      </div>
    </section>
  );
}
