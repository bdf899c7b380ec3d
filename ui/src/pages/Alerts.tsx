import { useEffect, useState } from "preact/hooks";
import {
  alerts,
  onEvent,
  IpcError,
  toIpcError,
  ALERT_EVENT,
  type AlertView,
  type AlertEventDto,
  type DeliveryResultView,
  type NewWebhookInput,
  type RuleView,
  type WebhookView,
} from "../ipc";
import { formatAgo, formatIntervalSeconds } from "../lib/format";
import { errorText } from "../lib/errors";
import { useAction } from "../lib/useAction";
import { useLoad } from "../lib/useLoad";
import { BusyButton } from "../components/BusyButton";
import { Field, Select, TextInput } from "../components/Field";
import { ErrorLine, Loading } from "../components/States";
import { IncomingHooks } from "./alerts/IncomingHooks";

const FORMATS: { id: NewWebhookInput["format"]; label: string }[] = [
  { id: "json", label: "JSON (signed)" },
  { id: "slack", label: "Slack" },
  { id: "discord", label: "Discord" },
];

/** "just now", "4 min ago": the page does not tick, so no seconds. */
const ago = (ts: string) => formatAgo(ts, Date.now(), "min");

/** "none", "30 s", "15 min", "1 h". */
const cooldown = (secs: number) => (secs === 0 ? "none" : formatIntervalSeconds(secs));

function deliveryText(r: { delivered?: boolean; status?: string; httpStatus: number | null; error: string | null }): string {
  const ok = r.delivered ?? r.status === "delivered";
  const http = r.httpStatus != null ? `HTTP ${r.httpStatus}` : "";
  if (ok) return `Delivered${http ? ` (${http})` : ""}`;
  return `Failed${http ? ` (${http})` : ""}: ${r.error ?? "no answer"}`;
}

export function Alerts() {
  const centreLoad = useLoad(alerts.list, []);
  const rulesLoad = useLoad(alerts.rules, []);
  const hooksLoad = useLoad(alerts.webhooks, []);
  const ack = useAction<number>();
  const [liveError, setLiveError] = useState<IpcError | null>(null);
  // Bumped when alerts arrive (a delivery to an incoming hook raises one), so its list reloads.
  const [alertTick, setAlertTick] = useState(0);
  const { reload: loadAlerts } = centreLoad;
  const centre = centreLoad.data;
  const centreError = liveError ?? centreLoad.error;

  // Raised, resolved and acknowledged alerts arrive as events: re-read the alert centre then.
  useEffect(() => {
    let stop: (() => void) | undefined;
    let gone = false;
    onEvent<AlertEventDto>(ALERT_EVENT, () => {
      loadAlerts();
      setAlertTick((t) => t + 1);
    })
      .then((un) => (gone ? un() : (stop = un)))
      .catch((e: unknown) => setLiveError(new IpcError("internal", `live updates are off: ${String(e)}`)));
    return () => {
      gone = true;
      stop?.();
    };
  }, [loadAlerts]);

  const acknowledge = (id: number) => void ack.run(() => alerts.acknowledge(id).then(loadAlerts), id);

  const open = centre?.open ?? [];
  const history = centre?.history ?? [];

  return (
    <section>
      <header class="page-header">
        <div>
          <h1>Alerts</h1>
          <p class="lead">What needs your attention now, the rules that raise alerts, and where they are sent.</p>
        </div>
      </header>

      <div class="card" data-testid="alert-centre">
        <h2>
          Open alerts {open.length > 0 && <span class="count">{open.length}</span>}
        </h2>
        <ErrorLine error={centreError} testid="alerts-error" />
        <ErrorLine error={ack.error} testid="alert-ack-error" />
        {centre === null && !centreError && <Loading variant="line">Loading alerts…</Loading>}
        {centre !== null && open.length === 0 && (
          <p class="hint" data-testid="alerts-empty">
            All clear: no open alerts. Keyward raises one when a monitored provider goes down or degrades, a rate limit
            nears its cap or a key needs rotating; the rules below decide which conditions count and where they are sent.
          </p>
        )}
        {open.length > 0 && (
          <ul class="alert-list" data-testid="alerts-open">
            {open.map((a) => (
              <AlertRow key={a.id} a={a} busy={ack.busy === a.id} onAck={() => acknowledge(a.id)} />
            ))}
          </ul>
        )}
        <h3>History</h3>
        {centre !== null && history.length === 0 && (
          <p class="hint" data-testid="alerts-history-empty">
            No resolved alerts yet.
          </p>
        )}
        {history.length > 0 && (
          <ul class="alert-list history" data-testid="alerts-history">
            {history.map((a) => (
              <AlertRow key={a.id} a={a} />
            ))}
          </ul>
        )}
      </div>

      <Rules rules={rulesLoad.data} error={rulesLoad.error} hooks={hooksLoad.data ?? []} onChanged={rulesLoad.reload} />
      <Webhooks
        hooks={hooksLoad.data}
        error={hooksLoad.error}
        onChanged={() => {
          hooksLoad.reload();
          rulesLoad.reload();
        }}
      />
      <IncomingHooks reloadKey={alertTick} />
    </section>
  );
}

function AlertRow({ a, busy, onAck }: { a: AlertView; busy?: boolean; onAck?: () => void }) {
  return (
    <li class={`alert-row ${a.severity} ${a.state}`} data-testid={`alert-${a.id}`}>
      <div class="alert-main">
        <span class={`badge sev ${a.severity}`}>{a.severity}</span>
        <strong class="alert-title">{a.title}</strong>
        {a.state === "acknowledged" && <span class="badge info">acknowledged</span>}
        <span class="hint">
          {a.provider && <>{a.provider} · </>}
          <time dateTime={a.ts} title={new Date(a.ts).toLocaleString()}>
            {ago(a.ts)}
          </time>
          {a.resolvedAt && <> · resolved {ago(a.resolvedAt)}</>}
          {a.suppressed && <> · notification held back ({a.suppressed.replace("_", " ")})</>}
        </span>
      </div>
      <p class="alert-body">{a.body}</p>
      {onAck && a.state === "active" && (
        <BusyButton busy={!!busy} busyLabel="Acknowledging…" class="button secondary small" onClick={onAck} testid={`alert-ack-${a.id}`}>
          Acknowledge
        </BusyButton>
      )}
    </li>
  );
}

function Rules({ rules, error, hooks, onChanged }: { rules: RuleView[] | null; error: IpcError | null; hooks: WebhookView[]; onChanged: () => void }) {
  const action = useAction<number | "restore">();
  const busy = action.busy;
  const act = (id: number | "restore", p: () => Promise<unknown>) => void action.run(() => p().then(onChanged), id);
  return (
    <div class="card" data-testid="alert-rules">
      <h2>Rules</h2>
      <p class="hint">
        Every alert is recorded above. A rule decides which condition raises one and where it is sent: a desktop
        notification, and any webhooks ticked here.
      </p>
      <ErrorLine error={action.error ?? error} testid="rules-error" />
      {rules === null && !error && <Loading variant="line">Loading rules…</Loading>}
      {rules !== null && rules.length === 0 && (
        <div data-testid="rules-empty">
          <p>There are no rules, so nothing raises an alert.</p>
          <BusyButton busy={busy === "restore"} busyLabel="Restoring…" disabled={busy !== null} onClick={() => act("restore", alerts.restoreDefaultRules)}>
            Restore the default rules
          </BusyButton>
        </div>
      )}
      {rules !== null && rules.length > 0 && (
        <div class="table-wrap">
          <table class="plain rules">
            <thead>
              <tr>
                <th>On</th>
                <th>Rule</th>
                <th>Providers</th>
                <th>Send to</th>
                <th>Cooldown</th>
              </tr>
            </thead>
            <tbody>
              {rules.map((r) => (
                <tr key={r.id} class={r.enabled ? "" : "off"} data-testid={`rule-${r.id}`}>
                  <td>
                    <label class="switch">
                      <input
                        type="checkbox"
                        checked={r.enabled}
                        disabled={busy === r.id}
                        aria-label={`${r.enabled ? "Disable" : "Enable"} ${r.name}`}
                        data-testid={`rule-toggle-${r.id}`}
                        onChange={() => act(r.id, () => alerts.setRuleEnabled(r.id, !r.enabled))}
                      />
                      <span class="slider" aria-hidden="true" />
                    </label>
                  </td>
                  <td>
                    <strong>{r.name}</strong>
                    {r.severity && <span class={`badge sev ${r.severity}`}>{r.severity}</span>}
                    <div class="hint">{r.condition}</div>
                  </td>
                  <td>{r.providers.length === 0 ? "all" : r.providers.join(", ")}</td>
                  <td>
                    <span class="channel">{r.desktop ? "desktop" : "alert centre only"}</span>
                    {hooks.map((h) => (
                      <label key={h.id} class="channel check">
                        <input
                          type="checkbox"
                          checked={r.webhooks.includes(h.id)}
                          disabled={busy === r.id}
                          data-testid={`rule-${r.id}-webhook-${h.id}`}
                          onChange={() =>
                            act(r.id, () =>
                              alerts.setRuleWebhooks(
                                r.id,
                                r.webhooks.includes(h.id) ? r.webhooks.filter((w) => w !== h.id) : [...r.webhooks, h.id],
                              ),
                            )
                          }
                        />
                        {h.name}
                      </label>
                    ))}
                  </td>
                  <td>{cooldown(r.cooldownSecs)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function Webhooks({ hooks, error, onChanged }: { hooks: WebhookView[] | null; error: IpcError | null; onChanged: () => void }) {
  const [testing, setTesting] = useState<number | null>(null);
  const [results, setResults] = useState<Record<number, DeliveryResultView | IpcError>>({});
  const removal = useAction<number>();

  const test = (id: number) => {
    setTesting(id);
    alerts
      .testWebhook(id)
      .then((r) => setResults((m) => ({ ...m, [id]: r })))
      .catch((e: unknown) => setResults((m) => ({ ...m, [id]: toIpcError(e) })))
      .finally(() => {
        setTesting(null);
        onChanged();
      });
  };
  const remove = (h: WebhookView) => {
    if (!window.confirm(`Remove the webhook “${h.name}”? Rules stop sending to it.`)) return;
    void removal.run(() => alerts.removeWebhook(h.id).then(onChanged), h.id);
  };

  return (
    <div class="card" data-testid="webhooks">
      <h2>Webhooks</h2>
      <ErrorLine error={removal.error ?? error} testid="webhooks-error" />
      {hooks !== null && hooks.length === 0 && (
        <p class="hint" data-testid="webhooks-empty">
          No webhooks yet. Add one below to send alerts to Slack, Discord or your own service (JSON, signed with
          HMAC-SHA256 when you give a secret), then tick it in the rules that should use it.
        </p>
      )}
      {hooks !== null && hooks.length > 0 && (
        <ul class="webhook-list">
          {hooks.map((h) => {
            const r = results[h.id];
            return (
              <li key={h.id} data-testid={`webhook-${h.id}`}>
                <div class="webhook-main">
                  <div class="alert-main">
                    <strong>{h.name}</strong>
                    <span class="badge info">{h.format}</span>
                    {h.hasSecret && <span class="badge ok">signed</span>}
                    {!h.enabled && <span class="badge warn">off</span>}
                  </div>
                  <code class="path">{h.url}</code>
                  {h.lastDelivery && !r && (
                    <div class="hint">
                      Last delivery {ago(h.lastDelivery.ts)}: {deliveryText(h.lastDelivery)}
                    </div>
                  )}
                  {r && (
                    <p
                      class={r instanceof IpcError ? "field-error" : r.delivered ? "notice" : "field-error"}
                      role="status"
                      data-testid={`webhook-result-${h.id}`}
                    >
                      {r instanceof IpcError ? errorText(r) : `${deliveryText(r)} in ${r.elapsedMs} ms`}
                    </p>
                  )}
                </div>
                <div class="actions">
                  <BusyButton busy={testing === h.id} busyLabel="Sending…" class="button secondary small" onClick={() => test(h.id)} testid={`webhook-test-${h.id}`}>
                    Send test
                  </BusyButton>
                  <BusyButton
                    busy={removal.busy === h.id}
                    busyLabel="Removing…"
                    class="button secondary small danger-text"
                    onClick={() => remove(h)}
                    testid={`webhook-remove-${h.id}`}
                  >
                    Remove
                  </BusyButton>
                </div>
              </li>
            );
          })}
        </ul>
      )}
      <AddWebhook onAdded={onChanged} />
    </div>
  );
}

function AddWebhook({ onAdded }: { onAdded: () => void }) {
  const empty: NewWebhookInput = { name: "", url: "", format: "json", secret: null };
  const [form, setForm] = useState<NewWebhookInput>(empty);
  const [notice, setNotice] = useState<string | null>(null);
  const action = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    setNotice(null);
    void action.run(() =>
      alerts.addWebhook({ ...form, name: form.name.trim(), url: form.url.trim(), secret: form.secret || null }).then((h) => {
        setForm(empty);
        setNotice(`Added “${h.name}”. Send a test, then tick it in the rules that should use it.`);
        onAdded();
      }),
    );
  };
  return (
    <form class="webhook-form" onSubmit={submit} data-testid="webhook-form">
      <h3>Add a webhook</h3>
      <div class="form-grid">
        <Field label="Name">
          <TextInput value={form.name} testid="webhook-name" onValue={(name) => setForm({ ...form, name })} />
        </Field>
        <Field label="URL" wide>
          <TextInput
            inputMode="url"
            placeholder="https://hooks.slack.com/services/…"
            value={form.url}
            testid="webhook-url"
            onValue={(url) => setForm({ ...form, url })}
          />
        </Field>
        <Field label="Format">
          <Select value={form.format} options={FORMATS} testid="webhook-format" onValue={(format) => setForm({ ...form, format })} />
        </Field>
        <Field label="Secret (optional, signs JSON with X-Keyward-Signature; kept in the credential store)" wide>
          <TextInput
            type="password"
            autocomplete="new-password"
            value={form.secret ?? ""}
            testid="webhook-secret"
            onValue={(secret) => setForm({ ...form, secret })}
          />
        </Field>
      </div>
      <ErrorLine error={action.error} testid="webhook-add-error" />
      {notice && (
        <p class="notice" role="status" data-testid="webhook-add-notice">
          {notice}
        </p>
      )}
      <div class="actions">
        <BusyButton type="submit" busy={action.busy !== null} busyLabel="Adding…" testid="webhook-add">
          Add webhook
        </BusyButton>
      </div>
    </form>
  );
}
