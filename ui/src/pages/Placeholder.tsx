import type { RouteId } from "../routes";

export interface PlaceholderProps {
  title: string;
  lead: string;
  coming: string[];
}

/** Pages whose capability has not landed yet: say what will live there, show no fake data. */
export const PLACEHOLDERS: Record<Exclude<RouteId, "dashboard" | "providers" | "keys" | "status" | "alerts" | "limits" | "audit" | "settings">, PlaceholderProps> = {
  usage: {
    title: "Usage",
    lead: "Calls, weight and cost per endpoint, key and bot.",
    coming: ["Charts per day, week and month", "Cost forecasts and unusual-usage detection"],
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
