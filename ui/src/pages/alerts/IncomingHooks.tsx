import { useState } from "preact/hooks";
import { hooks, type HookDeliveryView, type HookView, type IssuedHookView, type NewHookInput } from "../../ipc";
import { formatAgo } from "../../lib/format";
import { useAction } from "../../lib/useAction";
import { useLoad } from "../../lib/useLoad";
import { BusyButton } from "../../components/BusyButton";
import { Field, Select, TextInput } from "../../components/Field";
import { ErrorLine, Loading } from "../../components/States";

const AUTHS: { id: NewHookInput["auth"]; label: string }[] = [
  { id: "signature", label: "Signed (X-Keyward-Signature)" },
  { id: "urlSecret", label: "Secret in the URL (Statuspage)" },
];

const ago = (ts: string) => formatAgo(ts, Date.now(), "min");

/** "accepted" → ok, refusals → bad, flood limiting → warn. */
function resultClass(result: string): string {
  if (result === "accepted") return "ok";
  if (result === "rate_limited") return "warn";
  return "bad";
}

/**
 * Incoming webhooks: other services (a status page, TradingView, your own scripts) post to
 * `/hooks/<id>` on the gateway's port; each delivery becomes an alert, and a provider state
 * where it names one. `reloadKey` changes when alerts arrive, so new deliveries show up.
 */
export function IncomingHooks({ reloadKey }: { reloadKey: number }) {
  const list = useLoad(hooks.list, []);
  const deliveries = useLoad(hooks.deliveries, [reloadKey]);
  const removal = useAction<string>();
  const [issued, setIssued] = useState<IssuedHookView | null>(null);

  const remove = (h: HookView) => {
    if (!window.confirm(`Remove the hook “${h.name}”? Deliveries to its URL are refused from then on.`)) return;
    void removal.run(
      () =>
        hooks.remove(h.id).then(() => {
          if (issued?.hook.id === h.id) setIssued(null);
          list.reload();
          deliveries.reload();
        }),
      h.id,
    );
  };

  return (
    <div class="card" data-testid="incoming-hooks">
      <h2>Incoming hooks</h2>
      <p class="hint">
        Let other services tell Keyward about trouble: a provider’s status page, a charting tool or your own scripts
        post to a hook’s URL on the gateway’s port. Each delivery becomes an alert; a status-page maintenance or
        incident also sets the provider’s state on the Status page. The format and signature are in docs/WEBHOOKS.md.
      </p>
      <ErrorLine error={removal.error ?? list.error} testid="hooks-error" />
      {list.data === null && !list.error && <Loading variant="line">Loading hooks…</Loading>}
      {list.data !== null && list.data.length === 0 && (
        <p class="hint" data-testid="hooks-empty">
          No incoming hooks yet. Create one below and give its URL to the sending service.
        </p>
      )}
      {list.data !== null && list.data.length > 0 && (
        <ul class="webhook-list" data-testid="hooks-list">
          {list.data.map((h) => (
            <li key={h.id} data-testid={`hook-${h.name}`}>
              <div class="webhook-main">
                <div class="alert-main">
                  <strong>{h.name}</strong>
                  <span class="badge info">{h.auth === "urlSecret" ? "secret in URL" : "signed"}</span>
                  {h.provider && <span class="badge ok">{h.provider}</span>}
                </div>
                <code class="path" data-testid={`hook-url-${h.name}`}>
                  {h.url}
                  {h.auth === "urlSecret" && "?secret=…"}
                </code>
              </div>
              <div class="actions">
                <BusyButton
                  busy={removal.busy === h.id}
                  busyLabel="Removing…"
                  class="button secondary small danger-text"
                  onClick={() => remove(h)}
                  testid={`hook-remove-${h.name}`}
                >
                  Remove
                </BusyButton>
              </div>
            </li>
          ))}
        </ul>
      )}
      {issued && <Issued issued={issued} onDone={() => setIssued(null)} />}
      <AddHook
        onAdded={(h) => {
          setIssued(h);
          list.reload();
        }}
      />
      <Deliveries data={deliveries.data} error={deliveries.error} loading={deliveries.loading} onRefresh={deliveries.reload} />
    </div>
  );
}

function Issued({ issued, onDone }: { issued: IssuedHookView; onDone: () => void }) {
  return (
    <div class="notice hook-issued" role="status" data-testid="hook-issued">
      <p>
        <strong>Hook “{issued.hook.name}” created.</strong> Copy its secret now: Keyward keeps it only in the
        credential store and will not show it again.
      </p>
      <div class="issued-grid">
        <span>Send to</span>
        <code data-testid="hook-issued-url">{issued.sendUrl}</code>
        <span>Secret</span>
        <code data-testid="hook-issued-secret">{issued.secret}</code>
      </div>
      {issued.hook.auth === "signature" ? (
        <p class="hint">
          Sign each body: <code>X-Keyward-Signature: sha256=&lt;hex HMAC-SHA256(secret, body)&gt;</code>, with the send
          time as <code>"timestamp"</code> in the body (within 5 minutes).
        </p>
      ) : (
        <p class="hint">The URL holds the secret: give it only to the sending service.</p>
      )}
      <button type="button" class="button secondary small" onClick={onDone} data-testid="hook-issued-done">
        Done
      </button>
    </div>
  );
}

function AddHook({ onAdded }: { onAdded: (h: IssuedHookView) => void }) {
  const empty: NewHookInput = { name: "", provider: null, auth: "signature" };
  const [form, setForm] = useState<NewHookInput>(empty);
  const action = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    void action.run(() =>
      hooks.add({ ...form, name: form.name.trim(), provider: form.provider?.trim() || null }).then((h) => {
        setForm(empty);
        onAdded(h);
      }),
    );
  };
  return (
    <form class="webhook-form" onSubmit={submit} data-testid="hook-form">
      <h3>Create a hook</h3>
      <div class="form-grid">
        <Field label="Name">
          <TextInput value={form.name} placeholder="kraken-status" testid="hook-name" onValue={(name) => setForm({ ...form, name })} />
        </Field>
        <Field label="Provider (optional: the one its reports are about)">
          <TextInput
            value={form.provider ?? ""}
            placeholder="kraken"
            testid="hook-provider"
            onValue={(provider) => setForm({ ...form, provider })}
          />
        </Field>
        <Field label="Authentication">
          <Select value={form.auth} options={AUTHS} testid="hook-auth" onValue={(auth) => setForm({ ...form, auth })} />
        </Field>
      </div>
      <ErrorLine error={action.error} testid="hook-add-error" />
      <div class="actions">
        <BusyButton type="submit" busy={action.busy !== null} busyLabel="Creating…" testid="hook-add">
          Create hook
        </BusyButton>
      </div>
    </form>
  );
}

function Deliveries({
  data,
  error,
  loading,
  onRefresh,
}: {
  data: HookDeliveryView[] | null;
  error: import("../../ipc").IpcError | null;
  loading: boolean;
  onRefresh: () => void;
}) {
  return (
    <div data-testid="hook-deliveries">
      <div class="section-head">
        <h3>Deliveries</h3>
        <BusyButton busy={loading} busyLabel="Refreshing…" class="button secondary small" onClick={onRefresh} testid="hook-deliveries-refresh">
          Refresh
        </BusyButton>
      </div>
      <ErrorLine error={error} testid="hook-deliveries-error" />
      {data !== null && data.length === 0 && (
        <p class="hint" data-testid="hook-deliveries-empty">
          Nothing received yet. Every delivery is listed here with what it became, or why it was refused.
        </p>
      )}
      {data !== null && data.length > 0 && (
        <div class="table-wrap">
          <table class="plain">
            <thead>
              <tr>
                <th>When</th>
                <th>Hook</th>
                <th>Result</th>
                <th>What it became</th>
              </tr>
            </thead>
            <tbody>
              {data.map((d) => (
                <tr key={d.id} data-testid={`hook-delivery-${d.id}`}>
                  <td>
                    <time dateTime={d.ts} title={new Date(d.ts).toLocaleString()}>
                      {ago(d.ts)}
                    </time>
                  </td>
                  <td>{d.hookName}</td>
                  <td>
                    <span class={`badge ${resultClass(d.result)}`}>
                      {d.httpStatus} {d.result.replace("_", " ")}
                    </span>
                  </td>
                  <td>{d.detail}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}
