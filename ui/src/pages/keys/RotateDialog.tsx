// Rotation of a key: the new secret (and key), checked with the exchange before Keyward
// switches over; the previous version stays until it is retired.
import { useState } from "preact/hooks";
import { keys, type KeyView } from "../../ipc";
import { useAction } from "../../lib/useAction";
import { BusyButton } from "../../components/BusyButton";
import { Field, TextInput } from "../../components/Field";
import { ErrorLine } from "../../components/States";

/** `onRotated` runs as soon as the key switched (the versions below update at once); `onDone` closes. */
export function RotateDialog({
  k,
  onRotated,
  onDone,
  onCancel,
}: {
  k: KeyView;
  onRotated: () => void;
  onDone: () => void;
  onCancel: () => void;
}) {
  const [apiKey, setApiKey] = useState("");
  const [secret, setSecret] = useState("");
  const [passphrase, setPassphrase] = useState("");
  const [verify, setVerify] = useState(true);
  const action = useAction();
  const [done, setDone] = useState<string | null>(null);
  const submit = () =>
    void action.run(() =>
      keys
        .rotate({ provider: k.provider, label: k.label, apiKey: apiKey || null, secret, passphrase: passphrase || null, verify })
        .then((r) => {
          setDone(
            `Now using version ${r.key.activeVersion}${r.verified ? " (verified with the exchange)" : ""}. Version ${r.previousVersion} is kept until you retire it.`,
          );
          onRotated();
        }),
    );
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
            <Field label={`New API key (leave empty to keep ${k.apiKeyMasked})`}>
              <TextInput value={apiKey} onValue={setApiKey} />
            </Field>
            <Field label="New secret">
              <TextInput type="password" autocomplete="off" value={secret} testid="rotate-secret" onValue={setSecret} />
            </Field>
            {k.hasPassphrase && (
              <Field label="Passphrase">
                <TextInput type="password" value={passphrase} onValue={setPassphrase} />
              </Field>
            )}
          </div>
          <label class="check">
            <input type="checkbox" checked={verify} onChange={(e) => setVerify((e.target as HTMLInputElement).checked)} /> Verify with the exchange
            before switching
          </label>
          <ErrorLine error={action.error} testid="rotate-error" />
          <div class="actions">
            <BusyButton
              busy={action.busy !== null}
              busyLabel={verify ? "Verifying with the exchange…" : "Switching…"}
              disabled={!secret}
              testid="rotate-submit"
              onClick={submit}
            >
              Rotate
            </BusyButton>
            <button type="button" class="button secondary" onClick={onCancel}>
              Cancel
            </button>
          </div>
        </>
      )}
    </div>
  );
}
