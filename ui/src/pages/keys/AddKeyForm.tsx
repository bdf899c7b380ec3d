// Adding a key: provider, label, the key and its secret (straight to the credential store),
// scopes and an optional expiry.
import { useState } from "preact/hooks";
import { keys, providers, type KeyView, type ProviderView } from "../../ipc";
import { useAction } from "../../lib/useAction";
import { useLoad } from "../../lib/useLoad";
import { BusyButton } from "../../components/BusyButton";
import { Field, Select, TextInput } from "../../components/Field";
import { ErrorLine } from "../../components/States";

const SCOPES = ["read", "trade", "withdraw"];

/** Auth schemes that sign with a passphrase besides the secret. */
const PASSPHRASE_SCHEMES = ["kucoin", "okx", "coinbase_exchange"];

/** Providers a key can be added for: exchanges first, then data providers, by name. */
function usable(list: ProviderView[]): ProviderView[] {
  return list
    .filter((p) => !p.discontinued && p.authScheme !== "none")
    .sort((a, b) => (a.kind === b.kind ? a.name.localeCompare(b.name) : a.kind === "exchange" ? -1 : 1));
}

/** `embedded`: inside another card (the setup guide), without its own frame and Cancel. */
export function AddKeyForm({
  onCancel,
  onAdded,
  embedded = false,
}: {
  onCancel: () => void;
  onAdded: (k: KeyView) => void;
  embedded?: boolean;
}) {
  const provs = useLoad(() => providers.list().then(usable), []);
  const list = provs.data ?? [];
  const [form, setForm] = useState({ provider: "", label: "", apiKey: "", secret: "", passphrase: "", expiresAt: "", notes: "" });
  const [scopes, setScopes] = useState<string[]>(["read"]);
  const action = useAction();
  // The first provider is chosen until the user picks one (the list may arrive after the form opened).
  const provider = form.provider || list[0]?.id || "";
  const set = (k: keyof typeof form) => (value: string) => setForm({ ...form, [k]: value });
  const needsPass = PASSPHRASE_SCHEMES.includes(list.find((p) => p.id === provider)?.authScheme ?? "");
  const toggle = (s: string) => setScopes(scopes.includes(s) ? scopes.filter((x) => x !== s) : [...scopes, s]);
  const submit = () =>
    void action.run(() =>
      keys
        .add({
          provider,
          label: form.label,
          environment: null,
          apiKey: form.apiKey,
          secret: form.secret,
          passphrase: form.passphrase || null,
          scopes,
          expiresAt: form.expiresAt || null,
          notes: form.notes,
        })
        .then(onAdded),
    );
  return (
    <div class={embedded ? "embedded-form" : "card"} data-testid="add-key-panel">
      {!embedded && <h2>Add a key</h2>}
      <div class="form-grid">
        <Field label="Provider">
          <Select value={provider} options={list.map((p) => ({ id: p.id, label: p.name }))} testid="add-key-provider" onValue={set("provider")} />
        </Field>
        <Field label="Label">
          <TextInput value={form.label} placeholder="main" testid="add-key-label" onValue={set("label")} />
        </Field>
        <Field label="API key (public id)">
          <TextInput value={form.apiKey} testid="add-key-apikey" onValue={set("apiKey")} />
        </Field>
        <Field label="Secret (or private key PEM)" wide>
          <TextInput type="password" autocomplete="off" value={form.secret} testid="add-key-secret" onValue={set("secret")} />
        </Field>
        {needsPass && (
          <Field label="Passphrase">
            <TextInput type="password" value={form.passphrase} onValue={set("passphrase")} />
          </Field>
        )}
        <Field label="Expires (optional)">
          <TextInput type="date" value={form.expiresAt} onValue={set("expiresAt")} />
        </Field>
      </div>
      <div class="scopes">
        Scopes:{" "}
        {SCOPES.map((s) => (
          <label key={s} class="check">
            <input type="checkbox" checked={scopes.includes(s)} data-testid={`add-key-scope-${s}`} onChange={() => toggle(s)} /> {s}
          </label>
        ))}
      </div>
      <ErrorLine error={action.error ?? provs.error} testid="add-key-error" />
      <div class="actions">
        <BusyButton busy={action.busy !== null} busyLabel="Storing…" testid="add-key-submit" onClick={submit}>
          Store key
        </BusyButton>
        {!embedded && (
          <button type="button" class="button secondary" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </div>
  );
}
