// The table of keys: one row per key (masked, scopes, age, rotation, risks); a click opens
// the key's detail under its row.
import type { KeyView } from "../../ipc";
import { formatDate } from "../../lib/format";
import { KeyDetail } from "./KeyDetail";

/** A key's id in the list and in test ids: "binance/main". */
export const keyId = (k: KeyView) => `${k.provider}/${k.label}`;

interface Props {
  keys: KeyView[];
  /** The key whose detail is open. */
  open: string | null;
  onToggle: (id: string) => void;
  /** A key changed or went away: read the list again. */
  onChanged: () => void;
}

export function KeyList({ keys, open, onToggle, onChanged }: Props) {
  return (
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
          {keys.map((k) => (
            <KeyRow key={keyId(k)} k={k} open={open === keyId(k)} onToggle={() => onToggle(keyId(k))} onChanged={onChanged} />
          ))}
        </tbody>
      </table>
    </div>
  );
}

function KeyRow({ k, open, onToggle, onChanged }: { k: KeyView; open: boolean; onToggle: () => void; onChanged: () => void }) {
  return (
    <>
      <tr class={open ? "krow open" : "krow"} data-testid={`key-row-${keyId(k)}`} onClick={onToggle}>
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
        <td>{k.rotationDue ? <span class="badge bad">rotation due</span> : <span class="hint">by {formatDate(k.rotateBy)}</span>}</td>
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
