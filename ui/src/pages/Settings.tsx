import { useState } from "preact/hooks";
import { appInfo, autostart, usage, vault } from "../ipc";
import { useAction } from "../lib/useAction";
import { useLoad } from "../lib/useLoad";
import { BusyButton } from "../components/BusyButton";
import { Field, TextInput } from "../components/Field";
import { ErrorLine, Loading } from "../components/States";
import { MetricsCard } from "./settings/MetricsCard";
import { VaultCreate, VaultUnlock } from "./settings/VaultForms";
import { SharedBudgetCard } from "./settings/SharedBudgetCard";
import { LimitSettingsForm } from "./SetupGuide";

export function Settings() {
  const load = useLoad(vault.status, []);
  const action = useAction();
  const status = load.data;
  const error = action.error ?? load.error;
  const file = status?.file;

  return (
    <section>
      <header class="page-header">
        <div>
          <h1>Settings</h1>
          <p class="lead">Where your keys are protected, how Keyward starts, its limits, and where it keeps its data.</p>
        </div>
      </header>
      {!status && !error && <Loading>Reading settings…</Loading>}
      {status && (
        <div class="card" data-testid="vault-card">
          <h2>Secret backend</h2>
          <p>
            <strong data-testid="vault-name">{status.name}</strong>{" "}
            <span class={status.available ? "badge ok" : "badge bad"}>{status.available ? "available" : "unavailable"}</span>
          </p>
          <p class="hint wrap">{status.detail}</p>
          <p class="hint wrap">Why this backend: {status.reason}</p>
          {file && !file.exists && (
            <>
              <h3>Create the encrypted vault</h3>
              <VaultCreate onDone={load.setData} />
            </>
          )}
          {file && file.exists && !file.unlocked && (
            <>
              <h3>Unlock the vault</h3>
              <VaultUnlock onDone={load.setData} />
            </>
          )}
          {file && file.unlocked && (
            <div data-testid="vault-unlocked">
              <p class="notice">Unlocked until {file.unlockedUntil ? new Date(file.unlockedUntil).toLocaleString() : "—"}.</p>
              <BusyButton
                busy={action.busy !== null}
                busyLabel="Locking…"
                class="button secondary"
                onClick={() => void action.run(() => vault.lock().then(load.setData))}
              >
                Lock now
              </BusyButton>
            </div>
          )}
        </div>
      )}
      <ErrorLine error={error} testid="vault-error-card" />
      <StartupCard />
      <div class="card" data-testid="limits-settings-card">
        <h2>Rate limits</h2>
        <p class="hint">
          The part of every limit kept free, and how full a limit is when Keyward warns and turns critical (alerts in
          the tray, notifications and webhooks).
        </p>
        <LimitSettingsForm />
      </div>
      <SharedBudgetCard />
      <UsageHistory />
      <MetricsCard />
      <About logDir={status?.logDir ?? null} />
    </section>
  );
}

/** "Start Keyward when I log in": the OS login item, which starts it hidden in the tray. */
function StartupCard() {
  const load = useLoad(autostart.get, []);
  const save = useAction();
  const on = load.data === true;
  return (
    <div class="card" data-testid="startup-card">
      <h2>Startup</h2>
      <label class="check">
        <input
          type="checkbox"
          checked={on}
          disabled={load.data === null || save.busy !== null}
          data-testid="autostart-toggle"
          onChange={() => void save.run(() => autostart.set(!on).then((v) => load.setData(v)))}
        />{" "}
        Start Keyward when I log in
      </label>
      <p class="hint">
        It starts hidden in the tray with monitoring, alerts and the gateway running; open it from the tray icon.
      </p>
      <ErrorLine error={save.error ?? load.error} testid="autostart-error" />
    </div>
  );
}

/** Version, database schema, data directory and secret backend. */
function About({ logDir }: { logDir: string | null }) {
  const info = useLoad(appInfo, []);
  const i = info.data;
  return (
    <div class="card" data-testid="about-card">
      <h2>About Keyward</h2>
      {!i && !info.error && <Loading variant="line">Reading…</Loading>}
      <ErrorLine error={info.error} testid="about-error" />
      {i && (
        <dl class="facts">
          <dt>Version</dt>
          <dd data-testid="info-version">{i.version}</dd>
          <dt>Database schema</dt>
          <dd data-testid="info-schema">
            v{i.schemaVersion}{" "}
            <span class="hint">
              {i.schemaVersion === i.latestSchemaVersion ? "up to date" : `this build knows up to v${i.latestSchemaVersion}`}
            </span>
          </dd>
          <dt>Secret backend</dt>
          <dd data-testid="info-backend">
            {i.secretBackend.name}{" "}
            <span class={i.secretBackend.available ? "badge ok" : "badge bad"} data-testid="info-backend-state">
              {i.secretBackend.available ? "available" : "unavailable"}
            </span>
          </dd>
          <dt>Data directory</dt>
          <dd>
            <code class="path" data-testid="info-data-dir">{i.dataDir}</code>
          </dd>
          <dt>Database</dt>
          <dd>
            <code class="path">{i.databasePath}</code>
          </dd>
          {logDir && (
            <>
              <dt>Logs</dt>
              <dd>
                <code class="path">{logDir}</code> <span class="hint">daily files, the last 7 kept</span>
              </dd>
            </>
          )}
        </dl>
      )}
      {i?.servicesProblem && (
        <p class="field-error" role="alert" data-testid="info-services-problem">
          Monitoring, alerts and the gateway are not running in this window: {i.servicesProblem}
        </p>
      )}
      <p class="hint">Secrets are never written to these folders.</p>
    </div>
  );
}

/** How long every call is kept row by row; older calls count on in the hourly totals that the
 * Usage page reads for long ranges. */
function UsageHistory() {
  const load = useLoad(usage.retention, []);
  const save = useAction();
  const [days, setDays] = useState<string | null>(null);
  const shown = days ?? (load.data == null ? "" : String(load.data));
  const submit = async (e: Event) => {
    e.preventDefault();
    const n = Number(shown);
    const saved = await save.run(() => usage.setRetention(Number.isFinite(n) ? Math.trunc(n) : -1));
    if (saved != null) {
      load.setData(saved);
      setDays(null);
    }
  };
  return (
    <form class="card" data-testid="usage-history" onSubmit={submit}>
      <h2>Usage history</h2>
      <p class="hint">
        Every call is kept row by row for this many days; after that its totals remain per minute for 7 days and per hour
        and day for good (calls, errors, weight, billed units, cost and latency percentiles per provider, endpoint, key and
        caller), so long ranges on the Usage page stay fast and the database stays small.
      </p>
      {load.data == null && !load.error ? (
        <Loading variant="line">Reading the retention…</Loading>
      ) : (
        <div class="form-grid try-row">
          <Field label="Keep every call for (days, 1-400)">
            <TextInput value={shown} onValue={setDays} testid="usage-retention" type="number" />
          </Field>
          <div class="field">
            <span>&nbsp;</span>
            <BusyButton type="submit" busy={save.busy !== null} busyLabel="Saving…" testid="usage-retention-save">
              Save
            </BusyButton>
          </div>
        </div>
      )}
      <ErrorLine error={save.error ?? load.error} testid="usage-retention-error" />
    </form>
  );
}
