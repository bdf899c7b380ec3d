import { useState } from "preact/hooks";
import { vault, type VaultStatus } from "../ipc";
import { useAction } from "../lib/useAction";
import { useLoad } from "../lib/useLoad";
import { BusyButton } from "../components/BusyButton";
import { Field, TextInput } from "../components/Field";
import { ErrorLine, Loading } from "../components/States";

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
    </section>
  );
}
