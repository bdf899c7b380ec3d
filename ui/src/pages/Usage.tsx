import { useEffect, useRef, useState } from "preact/hooks";
import { IpcError, usage, type UsageGroupBy, type UsageRange, type UsageRowDto, type UsageSummaryDto } from "../ipc";
import { prefersDark } from "./Status";

export const RANGES: { id: UsageRange; label: string }[] = [
  { id: "24h", label: "24 h" },
  { id: "7d", label: "7 days" },
  { id: "30d", label: "30 days" },
];

export const GROUPS: { id: UsageGroupBy; label: string }[] = [
  { id: "endpoint", label: "Endpoint" },
  { id: "caller", label: "Caller" },
  { id: "key", label: "Key" },
  { id: "provider", label: "Provider" },
];

const count = new Intl.NumberFormat("en-US");

/** "0", "0.0004", "12.50": costs are often fractions of a cent per call. */
export function formatCost(cost: number): string {
  if (cost === 0) return "0";
  return cost >= 1 ? cost.toFixed(2) : Number(cost.toPrecision(2)).toString();
}

function Row({ row, total }: { row: UsageRowDto; total?: boolean }) {
  return (
    <tr class={total ? "total" : undefined} data-testid={total ? "usage-totals" : "usage-row"}>
      <td>{total ? <strong>Total</strong> : <code>{row.group}</code>}</td>
      <td class="num">{count.format(row.calls)}</td>
      <td class={row.errors > 0 ? "num bad-text" : "num"}>{count.format(row.errors)}</td>
      <td class="num">{count.format(row.weight)}</td>
      <td class="num">{formatCost(row.cost)}</td>
      <td class="num">{Math.round(row.avgLatencyMs)} ms</td>
    </tr>
  );
}

export function Usage() {
  const [range, setRange] = useState<UsageRange>("24h");
  const [groupBy, setGroupBy] = useState<UsageGroupBy>("endpoint");
  const [summary, setSummary] = useState<UsageSummaryDto | null>(null);
  const [svg, setSvg] = useState<string | null>(null);
  const [error, setError] = useState<IpcError | null>(null);
  const [chartError, setChartError] = useState<IpcError | null>(null);
  const [reload, setReload] = useState(0);
  const [dark] = useState(prefersDark);
  // Answers to an older selection are dropped when a newer request was made.
  const request = useRef(0);

  useEffect(() => {
    const mine = ++request.current;
    setSummary(null);
    setError(null);
    usage
      .summary(range, groupBy)
      .then((s) => mine === request.current && setSummary(s))
      .catch((e: IpcError) => mine === request.current && setError(e));
  }, [range, groupBy, reload]);

  useEffect(() => {
    setSvg(null);
    setChartError(null);
    usage
      .chart(range, dark)
      .then(setSvg)
      .catch((e: IpcError) => setChartError(e));
  }, [range, dark, reload]);

  const groupLabel = GROUPS.find((g) => g.id === groupBy)?.label ?? "Group";

  return (
    <section>
      <header class="page-header">
        <div>
          <h1>Usage</h1>
          <p class="lead">Calls, errors, weight and cost per endpoint, caller, key and provider.</p>
        </div>
        <div class="actions">
          <div class="segmented" role="group" aria-label="Range">
            {RANGES.map((r) => (
              <button
                key={r.id}
                type="button"
                class={r.id === range ? "seg active" : "seg"}
                aria-pressed={r.id === range}
                data-testid={`usage-range-${r.id}`}
                onClick={() => setRange(r.id)}
              >
                {r.label}
              </button>
            ))}
          </div>
          <button type="button" class="button" onClick={() => setReload((n) => n + 1)}>
            Refresh
          </button>
        </div>
      </header>

      <div class="card">
        {chartError ? (
          <p class="field-error" role="alert" data-testid="usage-chart-error">
            Could not draw the chart: {chartError.message}
          </p>
        ) : svg === null ? (
          <div class="chart loading" role="status">
            <span class="spinner" aria-hidden="true" /> Rendering the usage chart…
          </div>
        ) : (
          // The SVG is rendered by Keyward's core (plotters), not taken from the network.
          <div class="chart" data-testid="usage-chart" role="img" aria-label="calls chart" dangerouslySetInnerHTML={{ __html: svg }} />
        )}
      </div>

      <div class="card">
        <div class="detail-head">
          <h2>By {groupLabel.toLowerCase()}</h2>
          <div class="segmented" role="tablist" aria-label="Group by">
            {GROUPS.map((g) => (
              <button
                key={g.id}
                type="button"
                role="tab"
                class={g.id === groupBy ? "seg active" : "seg"}
                aria-selected={g.id === groupBy}
                data-testid={`usage-by-${g.id}`}
                onClick={() => setGroupBy(g.id)}
              >
                {g.label}
              </button>
            ))}
          </div>
        </div>

        {error ? (
          <p class="field-error" role="alert" data-testid="usage-error">
            Could not read usage: {error.message}
          </p>
        ) : summary === null ? (
          <p class="hint" role="status" data-testid="usage-loading">
            <span class="spinner" aria-hidden="true" /> Loading usage…
          </p>
        ) : summary.rows.length === 0 ? (
          <div class="empty" data-testid="usage-empty">
            <p>
              No calls recorded in this range. Calls from the app, the command line and health checks appear here — try
              Test connection on the <a href="#/providers">Providers page</a>.
            </p>
          </div>
        ) : (
          <div class="table-wrap">
            <table class="plain usage" data-testid="usage-table">
              <thead>
                <tr>
                  <th>{groupLabel}</th>
                  <th class="num">Calls</th>
                  <th class="num">Errors</th>
                  <th class="num">Weight</th>
                  <th class="num">Cost</th>
                  <th class="num">Avg latency</th>
                </tr>
              </thead>
              <tbody>
                {summary.rows.map((r) => (
                  <Row key={r.group} row={r} />
                ))}
              </tbody>
              <tfoot>
                <Row row={summary.totals} total />
              </tfoot>
            </table>
            <p class="hint">Every attempt counts, retries included; an error is an attempt that did not end OK.</p>
          </div>
        )}
      </div>
    </section>
  );
}
