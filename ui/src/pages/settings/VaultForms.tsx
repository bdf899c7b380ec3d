// Creating and unlocking the encrypted vault file (the secret backend when no OS credential
// store answers): on Settings and in the setup guide's first step, never a terminal hint.
import { useState } from "preact/hooks";
import { vault, type VaultStatus } from "../../ipc";
import { useAction } from "../../lib/useAction";
import { BusyButton } from "../../components/BusyButton";
import { Field, TextInput } from "../../components/Field";
import { ErrorLine } from "../../components/States";

export const UNLOCK_DURATIONS = [
  { minutes: 15, label: "15 minutes" },
  { minutes: 60, label: "1 hour" },
  { minutes: 240, label: "4 hours" },
  { minutes: 1440, label: "24 hours" },
];

/** The shortest passphrase the core accepts. */
const MIN_PASSPHRASE = 8;

/** A new vault file with a passphrase; `unlockAfter` unlocks it for an hour straight away. */
export function VaultCreate({ onDone, unlockAfter = false }: { onDone: (s: VaultStatus) => void; unlockAfter?: boolean }) {
  const [pass, setPass] = useState("");
  const [confirm, setConfirm] = useState("");
  const action = useAction();
  const short = pass.length > 0 && pass.length < MIN_PASSPHRASE;
  const differ = !!confirm && pass !== confirm;
  const create = () =>
    void action.run(async () => {
      let s = await vault.init(pass);
      if (unlockAfter) s = await vault.unlock(pass, 60);
      setPass("");
      setConfirm("");
      onDone(s);
    });
  return (
    <div data-testid="vault-init">
      <p class="hint">
        No OS credential store answers on this machine, so keys go to an encrypted file in Keyward's data folder. Choose a
        passphrase of at least {MIN_PASSPHRASE} characters; it is never stored, and nobody can recover it for you.
      </p>
      <div class="form-grid">
        <Field label="Passphrase" error={short ? `${pass.length} characters: at least ${MIN_PASSPHRASE}` : null}>
          <TextInput type="password" value={pass} testid="vault-new-passphrase" onValue={setPass} invalid={short} />
        </Field>
        <Field label="Repeat it" error={differ ? "The passphrases differ." : null}>
          <TextInput type="password" value={confirm} testid="vault-new-confirm" onValue={setConfirm} invalid={differ} />
        </Field>
      </div>
      <ErrorLine error={action.error} testid="vault-init-error" />
      <BusyButton
        busy={action.busy !== null}
        busyLabel="Creating the vault…"
        disabled={!pass || short || pass !== confirm}
        testid="vault-create"
        onClick={create}
      >
        Create vault
      </BusyButton>
    </div>
  );
}

/** Unlocks the vault file for a while. */
export function VaultUnlock({ onDone }: { onDone: (s: VaultStatus) => void }) {
  const [pass, setPass] = useState("");
  const [minutes, setMinutes] = useState(60);
  const action = useAction();
  const unlock = () =>
    void action.run(() =>
      vault.unlock(pass, minutes).then((s) => {
        setPass("");
        onDone(s);
      }),
    );
  return (
    <div data-testid="vault-unlock">
      <div class="form-grid">
        <Field label="Passphrase">
          <TextInput type="password" value={pass} testid="vault-passphrase" onValue={setPass} />
        </Field>
        <label class="field">
          <span>Keep unlocked for</span>
          <select class="input" value={String(minutes)} onChange={(e) => setMinutes(Number((e.target as HTMLSelectElement).value))}>
            {UNLOCK_DURATIONS.map((d) => (
              <option key={d.minutes} value={String(d.minutes)}>
                {d.label}
              </option>
            ))}
          </select>
        </label>
      </div>
      <ErrorLine error={action.error} testid="vault-error" />
      <BusyButton busy={action.busy !== null} busyLabel="Deriving the key…" disabled={!pass} testid="vault-unlock-submit" onClick={unlock}>
        Unlock
      </BusyButton>
    </div>
  );
}
