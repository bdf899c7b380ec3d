import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import {
  appInfo,
  keys,
  providers,
  IpcError,
  type AppInfoDto,
  type BackupExportDto,
  type BackupImportDto,
  type KeyDto,
  type KeyVersionDto,
  type PermissionReportDto,
  type ProviderSummaryDto,
} from "../ipc";

/** A revealed secret hides itself again after this long. */
export const REVEAL_SECONDS = 20;

const keyId = (k: KeyDto) => `${k.provider}/${k.label}`;

export function Keys() {
  const [list, setList] = useState<KeyDto[] | null>(null);
  const [error, setError] = useState<IpcError | null>(null);
  const [info, setInfo] = useState<AppInfoDto | null>(null);
  const [adding, setAdding] = useState(false);
  const [backup, setBackup] = useState(false);
  const [open, setOpen] = useState<string | null>(null);

  const refresh = useCallback(() => {
    keys
      .list()
      .then((l) => {
        setList(l);
        setError(null);
        // A deleted key's detail does not reopen by itself when the key comes back (import).
        setOpen((o) => (l.some((k) => keyId(k) === o) ? o : null));
      })
      .catch((e: IpcError) => setError(e));
  }, []);
  useEffect(() => {
    refresh();
    appInfo().then(setInfo).catch(() => undefined);
  }, [refresh]);

  const backend = info?.secretBackend;
  return (
    <section>
      <header class="page-header">
        <div>
          <h1>Keys</h1>
          <p class="lead">API keys live in the OS credential store. Keyward keeps only labels, scopes and dates.</p>
        </div>
        <div class="actions">
          <button type="button" class="button secondary" data-testid="key-backup" aria-expanded={backup} onClick={() => setBackup(!backup)}>
            Backup…
          </button>
          <button type="button" class="button" data-testid="key-add" onClick={() => setAdding(true)}>
            Add key
          </button>
        </div>
      </header>
      {backend && (
        <p class={backend.available ? "banner ok" : "banner bad"} data-testid="key-backend">
          Secrets are protected by: <strong>{backend.name}</strong> {backend.available ? "" : "(unavailable)"}
        </p>
      )}
      {error && (
        <div class="card error" role="alert">
          {error.message}
        </div>
      )}
      {backup && <Backup onClose={() => setBackup(false)} onImported={refresh} />}
      {adding && (
        <AddKey
          onCancel={() => setAdding(false)}
          onAdded={(k) => {
            setAdding(false);
            setOpen(keyId(k));
            refresh();
          }}
        />
      )}
      {list === null && !error && (
        <div class="card muted" role="status">
          <span class="spinner" aria-hidden="true" /> Loading keys…
        </div>
      )}
      {list !== null && list.length === 0 && !adding && (
        <div class="card empty" data-testid="keys-empty">
          <h2>No keys yet</h2>
          <p>
            Add your first API key with <strong>Add key</strong>. Its secret goes straight to the credential store;
            give it only the scopes your bots need (read, trade — withdraw almost never).
          </p>
          <p class="hint">Moving from another machine? Bring your keys over with Backup… → Import.</p>
        </div>
      )}
      {list !== null && list.length > 0 && (
        <div class="card">
          <table class="keys" data-testid="keys-table">
            <thead>
              <tr>
                <th>Provider</th>
                <th>Label</th>
                <th>Key</th>
                <th>Scopes</th>
                <th>Age</th>
                <th>Rotation</th>
                <th>Status</th>
              </tr>
            </thead>
            <tbody>
              {list.map((k) => (
                <KeyRow key={keyId(k)} k={k} open={open === keyId(k)} onToggle={() => setOpen(open === keyId(k) ? null : keyId(k))} onChanged={refresh} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function KeyRow({ k, open, onToggle, onChanged }: { k: KeyDto; open: boolean; onToggle: () => void; onChanged: () => void }) {
  const id = keyId(k);
  return (
    <>
      <tr class={open ? "krow open" : "krow"} data-testid={`key-row-${id}`} onClick={onToggle}>
        <td>{k.provider}</td>
        <td>
          <strong>{k.label}</strong> <span class="hint">{k.environment}</span>
        </td>
        <td>
          <code>{k.apiKeyMasked}</code>
        </td>
        <td>
          {k.scopes.map((s) => (
            <span key={s} class={s === "withdraw" ? "badge bad" : "badge info"}>
              {s}
            </span>
          ))}
        </td>
        <td>{k.ageDays} d</td>
        <td>
          {k.rotationDue ? <span class="badge bad">rotation due</span> : <span class="hint">by {k.rotateBy?.slice(0, 10) ?? "—"}</span>}
        </td>
        <td>
          {k.expired && <span class="badge bad">expired</span>}
          {k.risks.map((r) => (
            <span key={r.id} class="badge warn" title={r.message} data-testid={`risk-${r.id}`}>
              {r.id.replace(/_/g, " ")}
            </span>
          ))}
          {!k.expired && k.risks.length === 0 && <span class="hint">{k.permissionsCheckedAt ? "checked" : "not checked"}</span>}
        </td>
      </tr>
      {open && (
        <tr class="kdetail">
          <td colSpan={7}>
            <KeyDetail k={k} onChanged={onChanged} />
          </td>
        </tr>
      )}
    </>
  );
}

function KeyDetail({ k, onChanged }: { k: KeyDto; onChanged: () => void }) {
  const [confirming, setConfirming] = useState(false);
  const [secret, setSecret] = useState<string | null>(null);
  const [left, setLeft] = useState(0);
  const [error, setError] = useState<IpcError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [checking, setChecking] = useState(false);
  const [report, setReport] = useState<PermissionReportDto | null>(null);
  const [rotating, setRotating] = useState(false);
  const [versions, setVersions] = useState<KeyVersionDto[] | null>(null);
  const timer = useRef<number | null>(null);

  const loadVersions = useCallback(() => {
    keys.versions(k.provider, k.label).then(setVersions).catch(setError);
  }, [k.provider, k.label, k.activeVersion]);
  useEffect(loadVersions, [loadVersions]);
  useEffect(() => () => {
    if (timer.current) window.clearInterval(timer.current);
  }, []);

  const reveal = () => {
    setConfirming(false);
    keys
      .reveal(k.provider, k.label)
      .then((s) => {
        setSecret(s);
        setLeft(REVEAL_SECONDS);
        if (timer.current) window.clearInterval(timer.current);
        timer.current = window.setInterval(() => {
          setLeft((n) => {
            if (n <= 1) {
              if (timer.current) window.clearInterval(timer.current);
              setSecret(null);
              return 0;
            }
            return n - 1;
          });
        }, 1000);
      })
      .catch(setError);
  };
  const copy = () =>
    keys
      .copy(k.provider, k.label)
      .then((secs) => setNotice(`Copied. The clipboard is cleared in ${secs} s if it still holds the secret.`))
      .catch(setError);
  const check = () => {
    setChecking(true);
    setError(null);
    keys
      .check(k.provider, k.label)
      .then((r) => {
        setReport(r);
        onChanged();
      })
      .catch(setError)
      .finally(() => setChecking(false));
  };
  const remove = () => {
    if (window.confirm(`Delete key "${k.label}" for ${k.provider} and its secret?`)) keys.remove(k.provider, k.label).then(onChanged).catch(setError);
  };

  return (
    <div class="key-detail" data-testid="key-detail">
      <div class="actions">
        <button type="button" class="button secondary" data-testid="key-reveal" onClick={() => setConfirming(true)}>
          Reveal secret
        </button>
        <button type="button" class="button secondary" data-testid="key-copy" onClick={copy}>
          Copy secret
        </button>
        <button type="button" class="button secondary" data-testid="key-check" disabled={checking} onClick={check}>
          {checking ? "Asking the exchange…" : "Check permissions"}
        </button>
        <button type="button" class="button" data-testid="key-rotate" onClick={() => setRotating(true)}>
          Rotate…
        </button>
        <button type="button" class="button danger" data-testid="key-delete" onClick={remove}>
          Delete
        </button>
      </div>
      {confirming && (
        <div class="confirm" role="dialog" data-testid="reveal-confirm">
          <p>Show the secret of <strong>{k.label}</strong> on screen for {REVEAL_SECONDS} seconds? This is recorded in the audit log.</p>
          <div class="actions">
            <button type="button" class="button" data-testid="reveal-confirm-yes" onClick={reveal}>
              Reveal
            </button>
            <button type="button" class="button secondary" onClick={() => setConfirming(false)}>
              Cancel
            </button>
          </div>
        </div>
      )}
      {secret !== null && (
        <p class="revealed" data-testid="key-secret">
          <code>{secret}</code> <span class="hint">hides in {left} s</span>
        </p>
      )}
      {error && (
        <p class="field-error" role="alert" data-testid="key-error">
          {error.message}
        </p>
      )}
      {notice && (
        <p class="notice" role="status" data-testid="key-notice">
          {notice}
        </p>
      )}
      {report && (
        <div class="checks" data-testid="key-report">
          <p>
            Exchange says — read: {yn(report.read)}, trade: {yn(report.trade)}, withdraw: {yn(report.withdraw)}, IP restricted:{" "}
            {yn(report.ipRestricted)}
          </p>
          {report.risks.length === 0 ? <p class="notice">No risks found.</p> : report.risks.map((r) => <p key={r.id} class="field-error">{r.message}</p>)}
        </div>
      )}
      {rotating && (
        <Rotate
          k={k}
          onDone={() => {
            setRotating(false);
            onChanged();
            loadVersions();
          }}
          onCancel={() => setRotating(false)}
        />
      )}
      {versions && (
        <div>
          <h3>Versions</h3>
          <ul class="versions" data-testid="key-versions">
            {versions.map((v) => (
              <li key={v.version} data-testid={`key-version-${v.version}`}>
                v{v.version} <code>{v.apiKeyMasked}</code> · added {v.createdAt.slice(0, 10)}
                {v.verifiedAt && " · verified"}
                {v.active && <span class="badge ok">active</span>}
                {v.retiredAt && <span class="badge info">retired</span>}
                {!v.active && !v.retiredAt && (
                  <button
                    type="button"
                    class="link"
                    data-testid={`key-retire-${v.version}`}
                    onClick={() => keys.retireVersion(k.provider, k.label, v.version).then(loadVersions).catch(setError)}
                  >
                    retire
                  </button>
                )}
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}

const yn = (b: boolean | null) => (b == null ? "unknown" : b ? "yes" : "no");

function Rotate({ k, onDone, onCancel }: { k: KeyDto; onDone: () => void; onCancel: () => void }) {
  const [apiKey, setApiKey] = useState("");
  const [secret, setSecret] = useState("");
  const [passphrase, setPassphrase] = useState("");
  const [verify, setVerify] = useState(true);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<IpcError | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const submit = () => {
    setBusy(true);
    setError(null);
    keys
      .rotate({ provider: k.provider, label: k.label, apiKey: apiKey || null, secret, passphrase: passphrase || null, verify })
      .then((r) =>
        setDone(
          `Now using version ${r.key.activeVersion}${r.verified ? " (verified with the exchange)" : ""}. Version ${r.previousVersion} is kept until you retire it.`,
        ),
      )
      .catch(setError)
      .finally(() => setBusy(false));
  };
  return (
    <div class="card" data-testid="rotate-panel">
      <h2>Rotate {k.label}</h2>
      {done ? (
        <>
          <p class="notice" data-testid="rotate-done">
            {done}
          </p>
          <button type="button" class="button" onClick={onDone}>
            Done
          </button>
        </>
      ) : (
        <>
          <ol class="steps">
            <li>Create a new key on the exchange.</li>
            <li>Paste it here; Keyward asks the exchange whether it works.</li>
            <li>Keyward switches over; calls in flight finish on the old secret.</li>
          </ol>
          <div class="form-grid">
            <label class="field">
              <span>New API key (leave empty to keep {k.apiKeyMasked})</span>
              <input class="input" value={apiKey} onInput={(e) => setApiKey((e.target as HTMLInputElement).value)} />
            </label>
            <label class="field">
              <span>New secret</span>
              <input class="input" type="password" autocomplete="off" value={secret} data-testid="rotate-secret" onInput={(e) => setSecret((e.target as HTMLInputElement).value)} />
            </label>
            {k.hasPassphrase && (
              <label class="field">
                <span>Passphrase</span>
                <input class="input" type="password" value={passphrase} onInput={(e) => setPassphrase((e.target as HTMLInputElement).value)} />
              </label>
            )}
          </div>
          <label class="check">
            <input type="checkbox" checked={verify} onChange={(e) => setVerify((e.target as HTMLInputElement).checked)} /> Verify with the exchange
            before switching
          </label>
          {error && (
            <p class="field-error" role="alert" data-testid="rotate-error">
              {error.message}
            </p>
          )}
          <div class="actions">
            <button type="button" class="button" disabled={busy || !secret} data-testid="rotate-submit" onClick={submit}>
              {busy ? (verify ? "Verifying with the exchange…" : "Switching…") : "Rotate"}
            </button>
            <button type="button" class="button secondary" onClick={onCancel}>
              Cancel
            </button>
          </div>
        </>
      )}
    </div>
  );
}

function AddKey({ onCancel, onAdded }: { onCancel: () => void; onAdded: (k: KeyDto) => void }) {
  const [provs, setProvs] = useState<ProviderSummaryDto[]>([]);
  const [form, setForm] = useState({ provider: "", label: "", apiKey: "", secret: "", passphrase: "", expiresAt: "", notes: "" });
  const [scopes, setScopes] = useState<string[]>(["read"]);
  const [error, setError] = useState<IpcError | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    providers.list().then((l) => {
      // Exchanges first, then data providers.
      const usable = l
        .filter((p) => !p.discontinued && p.authScheme !== "none")
        .sort((a, b) => (a.kind === b.kind ? a.name.localeCompare(b.name) : a.kind === "exchange" ? -1 : 1));
      setProvs(usable);
      setForm((f) => ({ ...f, provider: f.provider || usable[0]?.id || "" }));
    });
  }, []);
  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value });
  const needsPass = ["kucoin", "okx", "coinbase_exchange"].includes(provs.find((p) => p.id === form.provider)?.authScheme ?? "");
  const toggle = (s: string) => setScopes(scopes.includes(s) ? scopes.filter((x) => x !== s) : [...scopes, s]);
  const submit = () => {
    setBusy(true);
    setError(null);
    keys
      .add({
        provider: form.provider,
        label: form.label,
        environment: null,
        apiKey: form.apiKey,
        secret: form.secret,
        passphrase: form.passphrase || null,
        scopes,
        expiresAt: form.expiresAt || null,
        notes: form.notes,
      })
      .then(onAdded)
      .catch(setError)
      .finally(() => setBusy(false));
  };
  return (
    <div class="card" data-testid="add-key-panel">
      <h2>Add a key</h2>
      <div class="form-grid">
        <label class="field">
          <span>Provider</span>
          <select class="input" value={form.provider} data-testid="add-key-provider" onChange={set("provider")}>
            {provs.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>Label</span>
          <input class="input" value={form.label} placeholder="main" data-testid="add-key-label" onInput={set("label")} />
        </label>
        <label class="field">
          <span>API key (public id)</span>
          <input class="input" value={form.apiKey} data-testid="add-key-apikey" onInput={set("apiKey")} />
        </label>
        <label class="field wide">
          <span>Secret (or private key PEM)</span>
          <input class="input" type="password" autocomplete="off" value={form.secret} data-testid="add-key-secret" onInput={set("secret")} />
        </label>
        {needsPass && (
          <label class="field">
            <span>Passphrase</span>
            <input class="input" type="password" value={form.passphrase} onInput={set("passphrase")} />
          </label>
        )}
        <label class="field">
          <span>Expires (optional)</span>
          <input class="input" type="date" value={form.expiresAt} onInput={set("expiresAt")} />
        </label>
      </div>
      <div class="scopes">
        Scopes:{" "}
        {["read", "trade", "withdraw"].map((s) => (
          <label key={s} class="check">
            <input type="checkbox" checked={scopes.includes(s)} data-testid={`add-key-scope-${s}`} onChange={() => toggle(s)} /> {s}
          </label>
        ))}
      </div>
      {error && (
        <p class="field-error" role="alert" data-testid="add-key-error">
          {error.message}
        </p>
      )}
      <div class="actions">
        <button type="button" class="button" disabled={busy} data-testid="add-key-submit" onClick={submit}>
          {busy ? "Storing…" : "Store key"}
        </button>
        <button type="button" class="button secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}

/** "1 key", "3 keys". */
const keysWord = (n: number) => `${n} ${n === 1 ? "key" : "keys"}`;

/**
 * Encrypted backup of every key: export to a new file protected by a passphrase (entered
 * twice), or import one (keys that already exist here are skipped).
 */
function Backup({ onClose, onImported }: { onClose: () => void; onImported: () => void }) {
  const [exportPath, setExportPath] = useState("");
  const [exportPass, setExportPass] = useState("");
  const [exportConfirm, setExportConfirm] = useState("");
  const [exporting, setExporting] = useState(false);
  const [exported, setExported] = useState<BackupExportDto | null>(null);
  const [exportError, setExportError] = useState<IpcError | null>(null);
  const [importPath, setImportPath] = useState("");
  const [importPass, setImportPass] = useState("");
  const [importing, setImporting] = useState(false);
  const [imported, setImported] = useState<BackupImportDto | null>(null);
  const [importError, setImportError] = useState<IpcError | null>(null);

  const suggest = () =>
    keys
      .backupDefaultPath()
      .then(setExportPath)
      .catch(() => undefined);
  useEffect(() => {
    void suggest();
  }, []);

  const value = (set: (v: string) => void) => (e: Event) => set((e.target as HTMLInputElement).value);

  const runExport = (e: Event) => {
    e.preventDefault();
    setExported(null);
    if (exportPass !== exportConfirm) {
      setExportError(new IpcError("invalid", "The two passphrases do not match; type the same passphrase twice."));
      return;
    }
    setExportError(null);
    setExporting(true);
    keys
      .exportBackup(exportPath, exportPass)
      .then((r) => {
        setExported(r);
        setExportPass("");
        setExportConfirm("");
        setImportPath((p) => p || r.path);
        void suggest();
      })
      .catch((err: IpcError) => setExportError(err))
      .finally(() => setExporting(false));
  };

  const runImport = (e: Event) => {
    e.preventDefault();
    setImported(null);
    setImportError(null);
    setImporting(true);
    keys
      .importBackup(importPath, importPass)
      .then((r) => {
        setImported(r);
        setImportPass("");
        onImported();
      })
      .catch((err: IpcError) => setImportError(err))
      .finally(() => setImporting(false));
  };

  return (
    <div class="card" data-testid="backup-panel">
      <div class="detail-head">
        <h2>Backup</h2>
        <button type="button" class="button secondary small" onClick={onClose}>
          Close
        </button>
      </div>
      <p class="hint">
        A backup holds every key with its secret, encrypted with a passphrase you choose (Argon2id and XChaCha20-Poly1305). Without the
        passphrase nobody can read it — you neither.
      </p>
      <div class="backup-grid">
        <form class="backup-form" noValidate data-testid="backup-export" onSubmit={runExport}>
          <h3>Export</h3>
          <label class="field">
            <span>New backup file</span>
            <input class="input" value={exportPath} data-testid="backup-export-path" onInput={value(setExportPath)} />
          </label>
          <label class="field">
            <span>Passphrase (at least 8 characters)</span>
            <input
              class="input"
              type="password"
              autocomplete="new-password"
              value={exportPass}
              data-testid="backup-export-passphrase"
              onInput={value(setExportPass)}
            />
          </label>
          <label class="field">
            <span>Passphrase again</span>
            <input
              class="input"
              type="password"
              autocomplete="new-password"
              value={exportConfirm}
              data-testid="backup-export-confirm"
              onInput={value(setExportConfirm)}
            />
          </label>
          {exportError && (
            <p class="field-error" role="alert" data-testid="backup-export-error">
              {exportError.message}
            </p>
          )}
          {exported && (
            <p class="notice" role="status" data-testid="backup-export-result">
              {keysWord(exported.exported)} written to <code>{exported.path}</code>. Keep the passphrase somewhere safe.
            </p>
          )}
          <div class="actions">
            <button type="submit" class="button" disabled={exporting || !exportPath || !exportPass} data-testid="backup-export-submit">
              {exporting ? (
                <>
                  <span class="spinner light" aria-hidden="true" /> Encrypting…
                </>
              ) : (
                "Export"
              )}
            </button>
          </div>
        </form>
        <form class="backup-form" noValidate data-testid="backup-import" onSubmit={runImport}>
          <h3>Import</h3>
          <label class="field">
            <span>Backup file</span>
            <input
              class="input"
              value={importPath}
              placeholder="/home/you/keyward-keys-2026-01-31.kwbackup"
              data-testid="backup-import-path"
              onInput={value(setImportPath)}
            />
          </label>
          <label class="field">
            <span>Passphrase</span>
            <input
              class="input"
              type="password"
              autocomplete="off"
              value={importPass}
              data-testid="backup-import-passphrase"
              onInput={value(setImportPass)}
            />
          </label>
          {importError && (
            <p class="field-error" role="alert" data-testid="backup-import-error">
              {importError.message}
            </p>
          )}
          {imported && (
            <div class="notice" role="status" data-testid="backup-import-result">
              <p>
                Imported {keysWord(imported.imported.length)}
                {imported.imported.length > 0 && <>: {imported.imported.join(", ")}</>}.
              </p>
              {imported.skipped.length > 0 && (
                <p>
                  Skipped {keysWord(imported.skipped.length)} already here: {imported.skipped.join(", ")}.
                </p>
              )}
            </div>
          )}
          <div class="actions">
            <button type="submit" class="button" disabled={importing || !importPath || !importPass} data-testid="backup-import-submit">
              {importing ? (
                <>
                  <span class="spinner light" aria-hidden="true" /> Decrypting…
                </>
              ) : (
                "Import"
              )}
            </button>
          </div>
        </form>
      </div>
    </div>
  );
}
