// This month's forecast on the Usage page: the core's numbers and chart (actual, forecast,
// band, quota), for every provider or the one the page's filter picked. The UI computes nothing.
import { useEffect } from "preact/hooks";
import { usageInsight, type UsageForecast } from "../../ipc";
import { CoreChart } from "../../components/CoreChart";
import { ErrorLine, Loading } from "../../components/States";
import { formatAmount, formatMonthUtc, formatPercent, formatTime } from "../../lib/format";
import { useDark } from "../../lib/theme";
import { useLoad } from "../../lib/useLoad";

/** "calls", "billed units" (calls or credits, as the plan counts them), "weight of ticker calls". */
function counted(f: UsageForecast): string {
  if (f.counted === "units") return "billed units";
  if (f.operations.length === 0) return f.counted;
  const ops = f.operations.join(", ");
  return f.counted === "calls" ? `${ops} calls` : `${f.counted} of ${ops} calls`;
}

function Summary({ f }: { f: UsageForecast }) {
  const what = counted(f);
  const month = formatMonthUtc(f.periodStart);
  if (f.projected === null) {
    return (
      <div class="empty" data-testid="forecast-none">
        <p>
          {formatAmount(f.actualToDate)} {what} so far in {month}. No forecast yet: {f.note ?? "there is not enough history"}.
          Keep Keyward running while your apps and bots call through it; the forecast starts once three days of calls are
          recorded.
        </p>
      </div>
    );
  }
  const quota = f.quota;
  const band = f.projectedLow !== null && f.projectedHigh !== null && f.projectedHigh - f.projectedLow >= 0.5;
  return (
    <div data-testid="forecast-summary">
      <p>
        <strong data-testid="forecast-projected">{formatAmount(f.projected)}</strong> {what} expected by the end of {month}
        {band && (
          <span class="muted" data-testid="forecast-band">
            {" "}
            (likely {formatAmount(f.projectedLow ?? 0)} to {formatAmount(f.projectedHigh ?? 0)})
          </span>
        )}
        ; {formatAmount(f.actualToDate)} so far.
      </p>
      {quota && (
        <p class={quota.runsOutAt ? "bad-text" : undefined} data-testid="forecast-quota">
          Quota <code>{quota.rule}</code>: {formatAmount(quota.limit)} a month, {formatPercent(quota.usedPct)} used
          {quota.runsOutAt ? `; runs out about ${formatTime(quota.runsOutAt)}` : "; the forecast stays under it"}.
        </p>
      )}
      <p class="hint">
        From the {f.method === "hour_of_week_profile" ? "hour-of-week" : "hour-of-day"} pattern of the last {f.historyDays} days
        (UTC month).
      </p>
    </div>
  );
}

/** `provider`: one provider's forecast, `null` every provider's; `refresh` changing reads again. */
export function ForecastPanel({ provider, refresh = 0 }: { provider: string | null; refresh?: number }) {
  const dark = useDark();
  const forecast = useLoad(() => usageInsight.forecast(provider), [provider], { keep: false });
  const chart = useLoad(() => usageInsight.forecastChart(provider, dark), [provider, dark], { keep: false });
  useEffect(() => {
    if (refresh > 0) {
      forecast.reload();
      chart.reload();
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [refresh]);

  return (
    <div class="card" data-testid="forecast-panel">
      <div class="detail-head">
        <h2>Forecast{provider ? ` · ${provider}` : ""}</h2>
      </div>
      {forecast.error ? (
        <ErrorLine error={forecast.error} testid="forecast-error" prefix="Could not forecast: " />
      ) : forecast.data === null ? (
        <Loading variant="hint" testid="forecast-loading">
          Forecasting the month…
        </Loading>
      ) : (
        <Summary f={forecast.data} />
      )}
      <CoreChart
        svg={chart.data}
        label="forecast chart"
        testid="forecast-chart"
        loadingText="Rendering the forecast chart…"
        error={chart.error}
        errorTestid="forecast-chart-error"
        errorPrefix="Could not draw the forecast: "
      />
    </div>
  );
}
