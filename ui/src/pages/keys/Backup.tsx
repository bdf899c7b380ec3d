// Encrypted backup of every key: export to a new file protected by a passphrase (entered
// twice), or import one (keys that already exist here are skipped).
import { useState } from "preact/hooks";
import { keys, IpcError, type BackupExportDto, type BackupImportDto } from "../../ipc";
import { countOf } from "../../lib/format";
import { useAction } from "../../lib/useAction";
import { useLoad } from "../../lib/useLoad";
import { BusyButton } from "../../components/BusyButton";
import { Field, TextInput } from "../../components/Field";
import { ErrorLine } from "../../components/States";

export function Backup({ onClose, onImported }: { onClose: () => void; onImported: () => void }) {
  // The file just exported is the one most likely to be imported (on this machine, to try it).
  const [lastExport, setLastExport] = useState<string | null>(null);
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
        <ExportForm onExported={setLastExport} />
        <ImportForm suggestedPath={lastExport} onImported={onImported} />
      </div>
    </div>
  );
}

function ExportForm({ onExported }: { onExported: (path: string) => void }) {
  // A new file in the home folder, suggested by the core; the user may type another.
  const suggestion = useLoad(keys.backupDefaultPath, []);
  const [typedPath, setTypedPath] = useState<string | null>(null);
  const [pass, setPass] = useState("");
  const [confirm, setConfirm] = useState("");
  const [exported, setExported] = useState<BackupExportDto | null>(null);
  const action = useAction();
  const path = typedPath ?? suggestion.data ?? "";

  const submit = (e: Event) => {
    e.preventDefault();
    setExported(null);
    if (pass !== confirm) {
      action.fail(new IpcError("invalid", "The two passphrases do not match; type the same passphrase twice."));
      return;
    }
    void action.run(() =>
      keys.exportBackup(path, pass).then((r) => {
        setExported(r);
        setPass("");
        setConfirm("");
        onExported(r.path);
        // The next export goes to a new file, not over this one.
        setTypedPath(null);
        suggestion.reload();
      }),
    );
  };

  return (
    <form class="backup-form" noValidate data-testid="backup-export" onSubmit={submit}>
      <h3>Export</h3>
      <Field label="New backup file">
        <TextInput value={path} testid="backup-export-path" onValue={setTypedPath} />
      </Field>
      <Field label="Passphrase (at least 8 characters)">
        <TextInput type="password" autocomplete="new-password" value={pass} testid="backup-export-passphrase" onValue={setPass} />
      </Field>
      <Field label="Passphrase again">
        <TextInput type="password" autocomplete="new-password" value={confirm} testid="backup-export-confirm" onValue={setConfirm} />
      </Field>
      <ErrorLine error={action.error} testid="backup-export-error" />
      {exported && (
        <p class="notice" role="status" data-testid="backup-export-result">
          {countOf(exported.exported, "key")} written to <code>{exported.path}</code>. Keep the passphrase somewhere safe.
        </p>
      )}
      <div class="actions">
        <BusyButton type="submit" busy={action.busy !== null} busyLabel="Encrypting…" disabled={!path || !pass} testid="backup-export-submit">
          Export
        </BusyButton>
      </div>
    </form>
  );
}

function ImportForm({ suggestedPath, onImported }: { suggestedPath: string | null; onImported: () => void }) {
  const [typedPath, setTypedPath] = useState<string | null>(null);
  const [pass, setPass] = useState("");
  const [imported, setImported] = useState<BackupImportDto | null>(null);
  const action = useAction();
  const path = typedPath ?? suggestedPath ?? "";

  const submit = (e: Event) => {
    e.preventDefault();
    setImported(null);
    void action.run(() =>
      keys.importBackup(path, pass).then((r) => {
        setImported(r);
        setPass("");
        onImported();
      }),
    );
  };

  return (
    <form class="backup-form" noValidate data-testid="backup-import" onSubmit={submit}>
      <h3>Import</h3>
      <Field label="Backup file">
        <TextInput value={path} placeholder="/home/you/keyward-keys-2026-01-31.kwbackup" testid="backup-import-path" onValue={setTypedPath} />
      </Field>
      <Field label="Passphrase">
        <TextInput type="password" autocomplete="off" value={pass} testid="backup-import-passphrase" onValue={setPass} />
      </Field>
      <ErrorLine error={action.error} testid="backup-import-error" />
      {imported && (
        <div class="notice" role="status" data-testid="backup-import-result">
          <p>
            Imported {countOf(imported.imported.length, "key")}
            {imported.imported.length > 0 && <>: {imported.imported.join(", ")}</>}.
          </p>
          {imported.skipped.length > 0 && (
            <p>
              Skipped {countOf(imported.skipped.length, "key")} already here: {imported.skipped.join(", ")}.
            </p>
          )}
        </div>
      )}
      <div class="actions">
        <BusyButton type="submit" busy={action.busy !== null} busyLabel="Decrypting…" disabled={!path || !pass} testid="backup-import-submit">
          Import
        </BusyButton>
      </div>
    </form>
  );
}
