import { useState } from "preact/hooks";
import { providers, usage, type UsageGroupBy, type UsageRange, type UsageRow } from "../ipc";
import { formatAmount, formatCount, formatMoney, formatMs } from "../lib/format";
import { useDark } from "../lib/theme";
import { useLoad } from "../lib/useLoad";
import { CoreChart } from "../components/CoreChart";
import { Segmented } from "../components/Segmented";
import { Select } from "../components/Field";
import { ErrorLine, Loading } from "../components/States";
import { BillingPanel } from "./usage/BillingPanel";
import { AnomaliesPanel } from "./usage/AnomaliesPanel";
import { ForecastPanel } from "./usage/ForecastPanel";
import { ExportButton } from "./usage/ExportButton";

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

function Row({ row, total, currency }: { row: UsageRow; total?: boolean; currency: string | null }) {
  return (
    <tr class={total ? "total" : undefined} data-testid={total ? "usage-totals" : "usage-row"}>
      <td>{total ? <strong>Total</strong> : <code>{row.group}</code>}</td>
      <td class="num">{formatCount(row.calls)}</td>
      <td class={row.errors > 0 ? "num bad-text" : "num"} title={row.throttled > 0 ? `${row.throttled} throttled by the provider` : undefined}>
        {formatCount(row.errors)}
        {row.throttled > 0 && <span class="hint"> ({formatCount(row.throttled)} throttled)</span>}
      </td>
      <td class="num">{formatCount(row.weight)}</td>
      <td class="num">{formatAmount(row.units)}</td>
      <td class="num">{currency ? formatMoney(row.cost, currency) : row.cost.toFixed(2)}</td>
      <td class="num">{formatMs(row.avgLatencyMs)}</td>
      <td class="num">{row.p95Ms == null ? "—" : formatMs(row.p95Ms)}</td>
    </tr>
  );
}

const ALL = "";

export function Usage() {
  const [range, setRange] = useState<UsageRange>("24h");
  const [groupBy, setGroupBy] = useState<UsageGroupBy>("endpoint");
  const [provider, setProvider] = useState<string>(ALL);
  const [refreshTick, setRefreshTick] = useState(0);
  const dark = useDark();
  const only = provider === ALL ? null : provider;
  // A new range, grouping or provider shows loading again; an answer to an older one is dropped.
  const summary = useLoad(() => usage.summary(range, groupBy, only), [range, groupBy, only], { keep: false });
  const chart = useLoad(() => usage.chart(range, dark, only), [range, dark, only], { keep: false });
  const known = useLoad(providers.list, []);
  const providerOptions = [
    { id: ALL, label: "All providers" },
    ...(known.data ?? [])
      .filter((p) => p.enabled || p.id === provider)
      .map((p) => ({ id: p.id, label: p.name })),
  ];
  const refresh = () => {
    summary.reload();
    chart.reload();
    setRefreshTick((t) => t + 1);
  };

  const groupLabel = GROUPS.find((g) => g.id === groupBy)?.label ?? "Group";
  const data = summary.data;

  return (
    <section>
      <header class="page-header">
        <div>
          <h1>Usage</h1>
          <p class="lead">What your tools called and what it costs: calls, errors, billed units and cost per endpoint, caller, key and provider, and this month against plans and budgets.</p>
        </div>
        <div class="actions">
          <Select value={provider} options={providerOptions} onValue={setProvider} small testid="usage-provider" aria-label="Provider" />
          <Segmented options={RANGES} value={range} onChange={setRange} label="Range" testid={(id) => `usage-range-${id}`} />
          <button type="button" class="button" onClick={refresh}>
            Refresh
          </button>
        </div>
      </header>

      <BillingPanel refresh={refreshTick} />

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

      <ForecastPanel provider={only} refresh={refreshTick} />
      <AnomaliesPanel range={range} refresh={refreshTick} />

      <div class="card">
        <div class="detail-head">
          <h2>By {groupLabel.toLowerCase()}</h2>
          <Segmented options={GROUPS} value={groupBy} onChange={setGroupBy} label="Group by" tabs testid={(id) => `usage-by-${id}`} />
        </div>
        <ExportButton range={range} groupBy={groupBy} provider={only} />

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
                  <th class="num" title="What the providers bill: calls or credits">Billed units</th>
                  <th class="num">Cost{data.currency ? ` (${data.currency})` : ""}</th>
                  <th class="num">Avg latency</th>
                  <th class="num" title="95 % of calls answered faster than this">p95</th>
                </tr>
              </thead>
              <tbody>
                {data.rows.map((r) => (
                  <Row key={r.group} row={r} currency={data.currency} />
                ))}
              </tbody>
              <tfoot>
                <Row row={data.totals} total currency={data.currency} />
              </tfoot>
            </table>
            <p class="hint">
              Every attempt counts, retries included; an error is an attempt that did not end OK. Cost here is what metered
              plans bill per call; a plan's monthly fee and overage are in This month above.
              {data.currency === null && " The providers in this range bill in different currencies: see each one above."}
            </p>
          </div>
        )}
      </div>
    </section>
  );
}
