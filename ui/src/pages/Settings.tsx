import { useState } from "preact/hooks";
import { usage, vault, type VaultStatus } from "../ipc";
import { useAction } from "../lib/useAction";
import { useLoad } from "../lib/useLoad";
import { BusyButton } from "../components/BusyButton";
import { Field, TextInput } from "../components/Field";
import { ErrorLine, Loading } from "../components/States";
import { MetricsCard } from "./settings/MetricsCard";

const DURATIONS = [
  { minutes: 15, label: "15 minutes" },
  { minutes: 60, label: "1 hour" },
  { minutes: 240, label: "4 hours" },
  { minutes: 1440, label: "24 hours" },
];

export function Settings() {
  const load = useLoad(vault.status, []);
  const action = useAction();
  const [pass, setPass] = useState("");
  const [confirm, setConfirm] = useState("");
  const [minutes, setMinutes] = useState(60);

  const act = (work: () => Promise<VaultStatus>) =>
    action.run(() =>
      work().then((s) => {
        load.setData(s);
        setPass("");
        setConfirm("");
      }),
    );
  const status = load.data;
  const busy = action.busy !== null;
  const error = action.error ?? load.error;
  const file = status?.file;

  return (
    <section>
      <header class="page-header">
        <div>
          <h1>Settings</h1>
          <p class="lead">Where your keys are protected, and where Keyward keeps its data.</p>
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
          <p class="hint">{status.detail}</p>
          <p class="hint">Why this backend: {status.reason}</p>
          {file && !file.exists && (
            <div data-testid="vault-init">
              <h3>Create the encrypted vault</h3>
              <p class="hint">
                No OS credential store answers on this machine, so keys go to an encrypted file ({file.path}). Choose a
                passphrase of at least 8 characters; it is never stored.
              </p>
              <div class="form-grid">
                <Field label="Passphrase">
                  <TextInput type="password" value={pass} onValue={setPass} />
                </Field>
                <Field label="Repeat it" error={pass && confirm && pass !== confirm ? "The passphrases differ." : null}>
                  <TextInput type="password" value={confirm} onValue={setConfirm} invalid={!!confirm && pass !== confirm} />
                </Field>
              </div>
              <BusyButton busy={busy} busyLabel="Creating the vault…" disabled={!pass || pass !== confirm} onClick={() => void act(() => vault.init(pass))}>
                Create vault
              </BusyButton>
            </div>
          )}
          {file && file.exists && !file.unlocked && (
            <div data-testid="vault-unlock">
              <h3>Unlock the vault</h3>
              <div class="form-grid">
                <Field label="Passphrase">
                  <TextInput type="password" value={pass} testid="vault-passphrase" onValue={setPass} />
                </Field>
                <label class="field">
                  <span>Keep unlocked for</span>
                  <select class="input" value={String(minutes)} onChange={(e) => setMinutes(Number((e.target as HTMLSelectElement).value))}>
                    {DURATIONS.map((d) => (
                      <option key={d.minutes} value={String(d.minutes)}>
                        {d.label}
                      </option>
                    ))}
                  </select>
                </label>
              </div>
              <BusyButton
                busy={busy}
                busyLabel="Deriving the key…"
                disabled={!pass}
                testid="vault-unlock-submit"
                onClick={() => void act(() => vault.unlock(pass, minutes))}
              >
                Unlock
              </BusyButton>
            </div>
          )}
          {file && file.unlocked && (
            <div data-testid="vault-unlocked">
              <p class="notice">Unlocked until {file.unlockedUntil ? new Date(file.unlockedUntil).toLocaleString() : "—"}.</p>
              <BusyButton busy={busy} busyLabel="Locking…" class="button secondary" onClick={() => void act(vault.lock)}>
                Lock now
              </BusyButton>
            </div>
          )}
        </div>
      )}
      <ErrorLine error={error} testid="vault-error" />
      {status && (
        <div class="card">
          <h2>Data</h2>
          <p>
            Database and settings: <code>{status.dataDir}</code>
          </p>
          <p>
            Logs (daily files, the last 7 kept): <code>{status.logDir}</code>
          </p>
          <p class="hint">Secrets are never written to these folders.</p>
        </div>
      )}
      <UsageHistory />
      <MetricsCard />
    </section>
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
