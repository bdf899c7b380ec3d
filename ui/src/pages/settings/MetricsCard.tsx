import { useState } from "preact/hooks";
import { metrics, type MetricsAccess, type MetricsAccessChange } from "../../ipc";
import { useAction } from "../../lib/useAction";
import { useLoad } from "../../lib/useLoad";
import { BusyButton } from "../../components/BusyButton";
import { ErrorLine, Loading } from "../../components/States";
import { CopyButton } from "../Gateway";

const MODES: { id: MetricsAccess; label: string; hint: string }[] = [
  { id: "loopback", label: "This machine only", hint: "no token; Prometheus or Grafana Agent on this computer." },
  { id: "token", label: "Bearer token", hint: "from any address the gateway listens on, with the token." },
];

/**
 * Prometheus metrics at /metrics on the gateway's port: who may scrape them, the URL, and a
 * ready prometheus.yml entry. A new token is shown once, like bot tokens.
 */
export function MetricsCard() {
  const load = useLoad(metrics.status, []);
  const action = useAction<"access" | "rotate">();
  const [token, setToken] = useState<string | null>(null);
  const view = load.data;

  const apply = (change: MetricsAccessChange | undefined) => {
    if (!change) return;
    const { token: made, ...rest } = change;
    load.setData(rest);
    setToken(made);
  };
  const choose = async (access: MetricsAccess) => {
    if (view?.access === access) return;
    apply(await action.run(() => metrics.setAccess(access), "access"));
  };

  return (
    <div class="card" data-testid="metrics-card">
      <h2>Prometheus metrics</h2>
      <p class="hint">
        Calls, errors, limiter waits, weight left on every rate limit, provider health, latency, cost and bots, for
        Prometheus and Grafana. See docs/METRICS.md for every metric and a dashboard.
      </p>
      {!view && !load.error && <Loading variant="line">Reading the metrics settings…</Loading>}
      {view && (
        <>
          <fieldset class="field" data-testid="metrics-access">
            <legend>Who may read them</legend>
            {MODES.map((m) => (
              <label key={m.id} class="radio">
                <input
                  type="radio"
                  name="metrics-access"
                  value={m.id}
                  checked={view.access === m.id}
                  disabled={action.busy !== null}
                  data-testid={`metrics-access-${m.id}`}
                  onChange={() => void choose(m.id)}
                />
                <span>
                  {m.label} <span class="hint">— {m.hint}</span>
                </span>
              </label>
            ))}
          </fieldset>
          <p>
            URL: <code data-testid="metrics-url">{view.url}</code> <CopyButton text={view.url} testid="metrics-url-copy" />
          </p>
          {view.access === "token" && (
            <p>
              Token: <code data-testid="metrics-token-hint">{view.tokenHint ?? "—"}</code>{" "}
              <BusyButton
                class="button secondary small"
                busy={action.busy === "rotate"}
                busyLabel="Making a new token…"
                disabled={action.busy !== null}
                testid="metrics-rotate"
                onClick={() => void action.run(metrics.rotateToken, "rotate").then(apply)}
              >
                New token
              </BusyButton>
            </p>
          )}
          {token && (
            <div class="issued" role="status" data-testid="metrics-token">
              <p class="issued-warning">
                <strong>This token is shown once — put it in Prometheus's credentials file now.</strong> Keyward keeps
                only a hash of it; any older token has stopped working.
              </p>
              <div class="issued-secret">
                <code data-testid="metrics-token-secret">{token}</code>
                <CopyButton text={token} testid="metrics-token-copy" />
              </div>
              <button type="button" class="button secondary small" data-testid="metrics-token-done" onClick={() => setToken(null)}>
                I stored it — hide the token
              </button>
            </div>
          )}
          <h3>prometheus.yml</h3>
          <pre class="snippet" data-testid="metrics-scrape-config">
            {view.scrapeConfig}
          </pre>
          <CopyButton text={view.scrapeConfig} testid="metrics-scrape-copy" label="Copy scrape config" />
        </>
      )}
      <ErrorLine error={action.error ?? load.error} testid="metrics-error" />
    </div>
  );
}
