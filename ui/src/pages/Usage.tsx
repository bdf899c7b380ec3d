import { useState } from "preact/hooks";
import { usage, type UsageGroupBy, type UsageRange, type UsageRow } from "../ipc";
import { formatCost, formatCount, formatMs } from "../lib/format";
import { useDark } from "../lib/theme";
import { useLoad } from "../lib/useLoad";
import { CoreChart } from "../components/CoreChart";
import { Segmented } from "../components/Segmented";
import { ErrorLine, Loading } from "../components/States";
import { AnomaliesPanel } from "./usage/AnomaliesPanel";
import { ForecastPanel } from "./usage/ForecastPanel";

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

function Row({ row, total }: { row: UsageRow; total?: boolean }) {
  return (
    <tr class={total ? "total" : undefined} data-testid={total ? "usage-totals" : "usage-row"}>
      <td>{total ? <strong>Total</strong> : <code>{row.group}</code>}</td>
      <td class="num">{formatCount(row.calls)}</td>
      <td class={row.errors > 0 ? "num bad-text" : "num"}>{formatCount(row.errors)}</td>
      <td class="num">{formatCount(row.weight)}</td>
      <td class="num">{formatCost(row.cost)}</td>
      <td class="num">{formatMs(row.avgLatencyMs)}</td>
    </tr>
  );
}

export function Usage() {
  const [range, setRange] = useState<UsageRange>("24h");
  const [groupBy, setGroupBy] = useState<UsageGroupBy>("endpoint");
  const dark = useDark();
  // A new range or grouping shows loading again; an answer to an older one is dropped.
  const summary = useLoad(() => usage.summary(range, groupBy), [range, groupBy], { keep: false });
  const chart = useLoad(() => usage.chart(range, dark), [range, dark], { keep: false });
  const refresh = () => {
    summary.reload();
    chart.reload();
  };

  const groupLabel = GROUPS.find((g) => g.id === groupBy)?.label ?? "Group";
  const data = summary.data;

  return (
    <section>
      <header class="page-header">
        <div>
          <h1>Usage</h1>
          <p class="lead">Calls, errors, weight and cost per endpoint, caller, key and provider.</p>
        </div>
        <div class="actions">
          <Segmented options={RANGES} value={range} onChange={setRange} label="Range" testid={(id) => `usage-range-${id}`} />
          <button type="button" class="button" onClick={refresh}>
            Refresh
          </button>
        </div>
      </header>

      <div class="card">
        <CoreChart
          svg={chart.data}
          label="calls chart"
          testid="usage-chart"
          loadingText="Rendering the usage chart…"
          error={chart.error}
          errorTestid="usage-chart-error"
          errorPrefix="Could not draw the chart: "
        />
      </div>

      <ForecastPanel />
      <AnomaliesPanel range={range} />

      <div class="card">
        <div class="detail-head">
          <h2>By {groupLabel.toLowerCase()}</h2>
          <Segmented options={GROUPS} value={groupBy} onChange={setGroupBy} label="Group by" tabs testid={(id) => `usage-by-${id}`} />
        </div>

        {summary.error ? (
          <ErrorLine error={summary.error} testid="usage-error" prefix="Could not read usage: " />
        ) : data === null ? (
          <Loading variant="hint" testid="usage-loading">
            Loading usage…
          </Loading>
        ) : data.rows.length === 0 ? (
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
                {data.rows.map((r) => (
                  <Row key={r.group} row={r} />
                ))}
              </tbody>
              <tfoot>
                <Row row={data.totals} total />
              </tfoot>
            </table>
            <p class="hint">Every attempt counts, retries included; an error is an attempt that did not end OK.</p>
          </div>
        )}
      </div>
    </section>
  );
}
