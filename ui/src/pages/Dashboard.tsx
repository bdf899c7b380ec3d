import { appInfo, type AppInfoDto } from "../ipc";
import type { RouteId } from "../routes";
import { errorText } from "../lib/errors";
import { useLoad } from "../lib/useLoad";
import { Loading } from "../components/States";

export function Dashboard({ onNavigate }: { onNavigate: (id: RouteId) => void }) {
  // Refresh shows loading again rather than values that may be stale.
  const info = useLoad(appInfo, [], { keep: false });

  return (
    <section>
      <header class="page-header">
        <div>
          <h1>Dashboard</h1>
          <p class="lead">Your control room for exchange and data-provider APIs.</p>
        </div>
        <button type="button" class="button secondary" onClick={info.reload} disabled={info.loading}>
          Refresh
        </button>
      </header>

      {info.loading && <Loading testid="dashboard-loading">Reading from the Keyward core…</Loading>}

      {!info.loading && info.error && (
        <div class="card error" role="alert" data-testid="dashboard-error">
          <h2>Keyward could not start its core</h2>
          <p data-testid="dashboard-error-message">{errorText(info.error)}</p>
          <p class="hint">Error kind: <code>{info.error.kind}</code></p>
        </div>
      )}

      {!info.loading && info.data && <InfoCards info={info.data} />}

      <div class="card">
        <h2>Getting started</h2>
        <ol class="steps">
          <li>
            <button type="button" class="link" onClick={() => onNavigate("providers")}>Providers</button>: choose
            the exchanges and data providers your bots use, and point them at production or testnet.
          </li>
          <li>
            <button type="button" class="link" onClick={() => onNavigate("keys")}>Keys</button>: store each API key
            in the OS credential store, with its scopes and rotation date.
          </li>
          <li>
            <button type="button" class="link" onClick={() => onNavigate("status")}>Status</button> and{" "}
            <button type="button" class="link" onClick={() => onNavigate("limits")}>Rate limits</button>: watch
            health and budgets live, with alerts in the tray.
          </li>
        </ol>
      </div>
    </section>
  );
}

function InfoCards({ info }: { info: AppInfoDto }) {
  const backend = info.secretBackend;
  return (
    <div class="grid" data-testid="dashboard-info">
      {info.servicesProblem && (
        <div class="card stat wide" role="alert" data-testid="info-services-problem">
          <span class="stat-label">Monitoring, alerts and the local control port are not running in this window</span>
          <span class="stat-note">{info.servicesProblem}</span>
          <span class="stat-note">
            Everything else here works. Quit the other Keyward and restart this app to run them here.
          </span>
        </div>
      )}
      <div class="card stat">
        <span class="stat-label">Version</span>
        <span class="stat-value" data-testid="info-version">{info.version}</span>
      </div>
      <div class="card stat">
        <span class="stat-label">Database schema</span>
        <span class="stat-value" data-testid="info-schema">v{info.schemaVersion}</span>
        <span class="stat-note">
          {info.schemaVersion === info.latestSchemaVersion
            ? "up to date"
            : `this build knows up to v${info.latestSchemaVersion}`}
        </span>
      </div>
      <div class="card stat">
        <span class="stat-label">Secret backend</span>
        <span class="stat-value" data-testid="info-backend">{backend.name}</span>
        <span class={backend.available ? "badge ok" : "badge bad"} data-testid="info-backend-state">
          {backend.available ? "available" : "unavailable"}
        </span>
        <span class="stat-note">{backend.detail}</span>
      </div>
      <div class="card stat wide">
        <span class="stat-label">Data directory</span>
        <code class="path" data-testid="info-data-dir">{info.dataDir}</code>
        <span class="stat-note">
          Database <code>{info.databasePath}</code>. Secrets are never written here.
        </span>
      </div>
    </div>
  );
}
