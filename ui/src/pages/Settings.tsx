import { useEffect, useState } from "preact/hooks";
import { vault, IpcError, type VaultStatusDto } from "../ipc";

const DURATIONS = [
  { minutes: 15, label: "15 minutes" },
  { minutes: 60, label: "1 hour" },
  { minutes: 240, label: "4 hours" },
  { minutes: 1440, label: "24 hours" },
];

export function Settings() {
  const [status, setStatus] = useState<VaultStatusDto | null>(null);
  const [error, setError] = useState<IpcError | null>(null);
  const [pass, setPass] = useState("");
  const [confirm, setConfirm] = useState("");
  const [minutes, setMinutes] = useState(60);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    vault.status().then(setStatus).catch(setError);
  }, []);

  const act = (p: Promise<VaultStatusDto>) => {
    setBusy(true);
    setError(null);
    p.then((s) => {
      setStatus(s);
      setPass("");
      setConfirm("");
    })
      .catch(setError)
      .finally(() => setBusy(false));
  };
  const file = status?.file;

  return (
    <section>
      <header class="page-header">
        <div>
          <h1>Settings</h1>
          <p class="lead">Where your keys are protected, and where Keyward keeps its data.</p>
        </div>
      </header>
      {!status && !error && (
        <div class="card muted" role="status">
          <span class="spinner" aria-hidden="true" /> Reading settings…
        </div>
      )}
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
                <label class="field">
                  <span>Passphrase</span>
                  <input class="input" type="password" value={pass} onInput={(e) => setPass((e.target as HTMLInputElement).value)} />
                </label>
                <label class="field">
                  <span>Repeat it</span>
                  <input class="input" type="password" value={confirm} onInput={(e) => setConfirm((e.target as HTMLInputElement).value)} />
                </label>
              </div>
              {pass && confirm && pass !== confirm && <p class="field-error">The passphrases differ.</p>}
              <button type="button" class="button" disabled={busy || !pass || pass !== confirm} onClick={() => act(vault.init(pass))}>
                Create vault
              </button>
            </div>
          )}
          {file && file.exists && !file.unlocked && (
            <div data-testid="vault-unlock">
              <h3>Unlock the vault</h3>
              <div class="form-grid">
                <label class="field">
                  <span>Passphrase</span>
                  <input class="input" type="password" value={pass} data-testid="vault-passphrase"
                    onInput={(e) => setPass((e.target as HTMLInputElement).value)} />
                </label>
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
              <button type="button" class="button" disabled={busy || !pass} data-testid="vault-unlock-submit" onClick={() => act(vault.unlock(pass, minutes))}>
                {busy ? "Deriving the key…" : "Unlock"}
              </button>
            </div>
          )}
          {file && file.unlocked && (
            <div data-testid="vault-unlocked">
              <p class="notice">Unlocked until {file.unlockedUntil ? new Date(file.unlockedUntil).toLocaleString() : "—"}.</p>
              <button type="button" class="button secondary" disabled={busy} onClick={() => act(vault.lock())}>
                Lock now
              </button>
            </div>
          )}
        </div>
      )}
      {error && (
        <p class="field-error" role="alert" data-testid="vault-error">
          {error.message}
        </p>
      )}
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
