// The Keys page: which backend protects the secrets, the list of keys, and the panels to add
// a key or back them all up. Each part lives in ./keys/.
import { useEffect, useState } from "preact/hooks";
import { appInfo, keys } from "../ipc";
import { useLoad } from "../lib/useLoad";
import { EmptyState, ErrorCard, Loading } from "../components/States";
import { AddKeyForm } from "./keys/AddKeyForm";
import { Backup } from "./keys/Backup";
import { KeyList, keyId } from "./keys/KeyList";

export { REVEAL_SECONDS } from "./keys/KeyDetail";

export function Keys() {
  const list = useLoad(keys.list, []);
  const info = useLoad(appInfo, []);
  const [adding, setAdding] = useState(false);
  const [backup, setBackup] = useState(false);
  const [open, setOpen] = useState<string | null>(null);

  const data = list.data;
  // Each new list closes the detail of a key that is gone, so it does not reopen by itself
  // when the key comes back (import). A key just added is opened before it is listed.
  useEffect(() => {
    if (data) setOpen((o) => (data.some((k) => keyId(k) === o) ? o : null));
  }, [data]);

  const backend = info.data?.secretBackend;
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
      <ErrorCard error={list.error} />
      {backup && <Backup onClose={() => setBackup(false)} onImported={list.reload} />}
      {adding && (
        <AddKeyForm
          onCancel={() => setAdding(false)}
          onAdded={(k) => {
            setAdding(false);
            setOpen(keyId(k));
            list.reload();
          }}
        />
      )}
      {data === null && !list.error && <Loading>Loading keys…</Loading>}
      {data !== null && data.length === 0 && !adding && (
        <EmptyState title="No keys yet" testid="keys-empty">
          <p>
            Add your first API key with <strong>Add key</strong>. Its secret goes straight to the credential store; give it only the
            scopes your bots need (read, trade — withdraw almost never).
          </p>
          <p class="hint">Moving from another machine? Bring your keys over with Backup… → Import.</p>
        </EmptyState>
      )}
      {data !== null && data.length > 0 && (
        <KeyList keys={data} open={open} onToggle={(id) => setOpen(open === id ? null : id)} onChanged={list.reload} />
      )}
    </section>
  );
}
