// Hours whose usage left its usual pattern, as the core found them over the page's range.
import { useEffect } from "preact/hooks";
import { usageInsight, type Anomaly, type UsageRange } from "../../ipc";
import { ErrorLine, Loading } from "../../components/States";
import { formatAmount, formatTime } from "../../lib/format";
import { useLoad } from "../../lib/useLoad";

const KINDS: Record<string, string> = {
  calls_spike: "Calls spike",
  error_rate: "Unusual error rate",
  error_burst: "Error burst",
  new_endpoint: "New endpoint",
  unusual_trading_hour: "Trading at an unusual hour",
  weight_jump: "Weight jump",
};

const RANGE_WORDS: Record<UsageRange, string> = { "24h": "last 24 h", "7d": "last 7 days", "30d": "last 30 days" };

function Row({ a }: { a: Anomaly }) {
  return (
    <tr data-testid="anomaly-row">
      <td>{formatTime(a.hour)}</td>
      <td>{KINDS[a.kind] ?? a.kind}</td>
      <td>
        <code>
          {a.provider} {a.operation}
        </code>
        {a.key && <span class="muted"> key “{a.key}”</span>}
      </td>
      <td class="num">{formatAmount(a.observed)}</td>
      <td class="num">{formatAmount(a.expected)}</td>
      <td>{a.message}</td>
    </tr>
  );
}

/** Anomalies over the page's `range`; `refresh` changing looks again. */
export function AnomaliesPanel({ range, refresh = 0 }: { range: UsageRange; refresh?: number }) {
  const load = useLoad(() => usageInsight.anomalies(range), [range], { keep: false });
  useEffect(() => {
    if (refresh > 0) load.reload();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [refresh]);
  const data = load.data;
  return (
    <div class="card" data-testid="anomalies-panel">
      <div class="detail-head">
        <h2>Anomalies</h2>
        <button type="button" class="button secondary small" onClick={load.reload} disabled={load.loading}>
          Check again
        </button>
      </div>
      {load.error ? (
        <ErrorLine error={load.error} testid="anomalies-error" prefix="Could not look for anomalies: " />
      ) : data === null ? (
        <Loading variant="hint" testid="anomalies-loading">
          Looking for unusual hours…
        </Loading>
      ) : data.anomalies.length === 0 ? (
        <div class="empty" data-testid="anomalies-empty">
          <p>
            Nothing unusual in the {RANGE_WORDS[range]}: each hour is compared with the same hour over the {data.lookbackDays}{" "}
            days before it. New anomalies also raise an alert through the <em>Usage anomaly</em> rule on the{" "}
            <a href="#/alerts">Alerts page</a>.
          </p>
        </div>
      ) : (
        <div class="table-wrap">
          <table class="plain anomalies" data-testid="anomalies-table">
            <thead>
              <tr>
                <th>Hour</th>
                <th>Kind</th>
                <th>Endpoint</th>
                <th class="num">Seen</th>
                <th class="num">Usual</th>
                <th>What happened</th>
              </tr>
            </thead>
            <tbody>
              {data.anomalies.map((a) => (
                <Row key={`${a.kind}|${a.provider}|${a.operation}|${a.key ?? ""}|${a.hour}`} a={a} />
              ))}
            </tbody>
          </table>
          <p class="hint">
            Seen and usual count calls, errors for error kinds, weight for a weight jump. The hourly scan raises an alert for
            each new one through the <em>Usage anomaly</em> rule on the <a href="#/alerts">Alerts page</a>.
          </p>
        </div>
      )}
    </div>
  );
}
