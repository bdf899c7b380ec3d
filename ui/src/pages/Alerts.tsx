import { useCallback, useEffect, useState } from "preact/hooks";
import {
  alerts,
  onEvent,
  IpcError,
  ALERT_EVENT,
  type AlertCentreDto,
  type AlertDto,
  type AlertEventDto,
  type DeliveryResultDto,
  type NewWebhookInput,
  type RuleDto,
  type WebhookDto,
} from "../ipc";

const FORMATS: { id: NewWebhookInput["format"]; label: string }[] = [
  { id: "json", label: "JSON (signed)" },
  { id: "slack", label: "Slack" },
  { id: "discord", label: "Discord" },
];

/** "just now", "4 min ago", "3 h ago", "2 d ago". */
export function ago(ts: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(ts)) / 1000));
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

function cooldown(secs: number): string {
  if (secs === 0) return "none";
  if (secs % 3600 === 0) return `${secs / 3600} h`;
  if (secs % 60 === 0) return `${secs / 60} min`;
  return `${secs} s`;
}

function deliveryText(r: { delivered?: boolean; status?: string; httpStatus: number | null; error: string | null }): string {
  const ok = r.delivered ?? r.status === "delivered";
  const http = r.httpStatus != null ? `HTTP ${r.httpStatus}` : "";
  if (ok) return `Delivered${http ? ` (${http})` : ""}`;
  return `Failed${http ? ` (${http})` : ""}: ${r.error ?? "no answer"}`;
}

export function Alerts() {
  const [centre, setCentre] = useState<AlertCentreDto | null>(null);
  const [centreError, setCentreError] = useState<IpcError | null>(null);
  const [ackError, setAckError] = useState<IpcError | null>(null);
  const [acking, setAcking] = useState<number | null>(null);
  const [rules, setRules] = useState<RuleDto[] | null>(null);
  const [rulesError, setRulesError] = useState<IpcError | null>(null);
  const [hooks, setHooks] = useState<WebhookDto[] | null>(null);
  const [hooksError, setHooksError] = useState<IpcError | null>(null);

  const loadAlerts = useCallback(() => {
    alerts
      .list()
      .then((c) => {
        setCentre(c);
        setCentreError(null);
      })
      .catch((e: IpcError) => setCentreError(e));
  }, []);
  const loadRules = useCallback(() => {
    alerts
      .rules()
      .then((r) => {
        setRules(r);
        setRulesError(null);
      })
      .catch((e: IpcError) => setRulesError(e));
  }, []);
  const loadHooks = useCallback(() => {
    alerts
      .webhooks()
      .then((h) => {
        setHooks(h);
        setHooksError(null);
      })
      .catch((e: IpcError) => setHooksError(e));
  }, []);

  useEffect(() => {
    loadAlerts();
    loadRules();
    loadHooks();
  }, [loadAlerts, loadRules, loadHooks]);

  // Raised, resolved and acknowledged alerts arrive as events: re-read the alert centre then.
  useEffect(() => {
    let stop: (() => void) | undefined;
    let gone = false;
    onEvent<AlertEventDto>(ALERT_EVENT, () => loadAlerts())
      .then((un) => (gone ? un() : (stop = un)))
      .catch((e: unknown) => setCentreError(new IpcError("internal", `live updates are off: ${String(e)}`)));
    return () => {
      gone = true;
      stop?.();
    };
  }, [loadAlerts]);

  const acknowledge = (id: number) => {
    setAcking(id);
    setAckError(null);
    alerts
      .acknowledge(id)
      .then(loadAlerts)
      .catch((e: IpcError) => setAckError(e))
      .finally(() => setAcking(null));
  };

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
        {centreError && (
          <p class="field-error" role="alert" data-testid="alerts-error">
            {centreError.message}
          </p>
        )}
        {ackError && (
          <p class="field-error" role="alert" data-testid="alert-ack-error">
            {ackError.message}
          </p>
        )}
        {centre === null && !centreError && (
          <p class="muted-line" role="status">
            <span class="spinner" aria-hidden="true" /> Loading alerts…
          </p>
        )}
        {centre !== null && open.length === 0 && (
          <p class="hint" data-testid="alerts-empty">
            All clear: no open alerts. Keyward raises one when a monitored provider goes down or degrades, a rate limit
            nears its cap or a key needs rotating; the rules below decide which conditions count and where they are sent.
          </p>
        )}
        {open.length > 0 && (
          <ul class="alert-list" data-testid="alerts-open">
            {open.map((a) => (
              <AlertRow key={a.id} a={a} busy={acking === a.id} onAck={() => acknowledge(a.id)} />
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

      <Rules rules={rules} error={rulesError} hooks={hooks ?? []} onChanged={loadRules} />
      <Webhooks hooks={hooks} error={hooksError} onChanged={() => { loadHooks(); loadRules(); }} />
    </section>
  );
}

function AlertRow({ a, busy, onAck }: { a: AlertDto; busy?: boolean; onAck?: () => void }) {
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
        <button type="button" class="button secondary small" disabled={busy} onClick={onAck} data-testid={`alert-ack-${a.id}`}>
          {busy ? "Acknowledging…" : "Acknowledge"}
        </button>
      )}
    </li>
  );
}

function Rules({ rules, error, hooks, onChanged }: { rules: RuleDto[] | null; error: IpcError | null; hooks: WebhookDto[]; onChanged: () => void }) {
  const [busy, setBusy] = useState<number | "restore" | null>(null);
  const [actionError, setActionError] = useState<IpcError | null>(null);
  const act = (id: number | "restore", p: Promise<unknown>) => {
    setBusy(id);
    setActionError(null);
    p.then(onChanged)
      .catch((e: IpcError) => setActionError(e))
      .finally(() => setBusy(null));
  };
  return (
    <div class="card" data-testid="alert-rules">
      <h2>Rules</h2>
      <p class="hint">
        Every alert is recorded above. A rule decides which condition raises one and where it is sent: a desktop
        notification, and any webhooks ticked here.
      </p>
      {(error || actionError) && (
        <p class="field-error" role="alert" data-testid="rules-error">
          {(actionError ?? error)?.message}
        </p>
      )}
      {rules === null && !error && (
        <p class="muted-line" role="status">
          <span class="spinner" aria-hidden="true" /> Loading rules…
        </p>
      )}
      {rules !== null && rules.length === 0 && (
        <div data-testid="rules-empty">
          <p>There are no rules, so nothing raises an alert.</p>
          <button type="button" class="button" disabled={busy !== null} onClick={() => act("restore", alerts.restoreDefaultRules())}>
            Restore the default rules
          </button>
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
                        onChange={() => act(r.id, alerts.setRuleEnabled(r.id, !r.enabled))}
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
                            act(
                              r.id,
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

function Webhooks({ hooks, error, onChanged }: { hooks: WebhookDto[] | null; error: IpcError | null; onChanged: () => void }) {
  const [testing, setTesting] = useState<number | null>(null);
  const [results, setResults] = useState<Record<number, DeliveryResultDto | IpcError>>({});
  const [removeError, setRemoveError] = useState<IpcError | null>(null);

  const test = (id: number) => {
    setTesting(id);
    alerts
      .testWebhook(id)
      .then((r) => setResults((m) => ({ ...m, [id]: r })))
      .catch((e: IpcError) => setResults((m) => ({ ...m, [id]: e })))
      .finally(() => {
        setTesting(null);
        onChanged();
      });
  };
  const remove = (h: WebhookDto) => {
    if (!window.confirm(`Remove the webhook “${h.name}”? Rules stop sending to it.`)) return;
    setRemoveError(null);
    alerts.removeWebhook(h.id).then(onChanged).catch((e: IpcError) => setRemoveError(e));
  };

  return (
    <div class="card" data-testid="webhooks">
      <h2>Webhooks</h2>
      {(error || removeError) && (
        <p class="field-error" role="alert" data-testid="webhooks-error">
          {(removeError ?? error)?.message}
        </p>
      )}
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
                      {r instanceof IpcError ? r.message : `${deliveryText(r)} in ${r.elapsedMs} ms`}
                    </p>
                  )}
                </div>
                <div class="actions">
                  <button type="button" class="button secondary small" disabled={testing === h.id} onClick={() => test(h.id)} data-testid={`webhook-test-${h.id}`}>
                    {testing === h.id ? (
                      <>
                        <span class="spinner" aria-hidden="true" /> Sending…
                      </>
                    ) : (
                      "Send test"
                    )}
                  </button>
                  <button type="button" class="button secondary small danger-text" onClick={() => remove(h)} data-testid={`webhook-remove-${h.id}`}>
                    Remove
                  </button>
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
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<IpcError | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const submit = (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setNotice(null);
    alerts
      .addWebhook({ ...form, name: form.name.trim(), url: form.url.trim(), secret: form.secret || null })
      .then((h) => {
        setForm(empty);
        setNotice(`Added “${h.name}”. Send a test, then tick it in the rules that should use it.`);
        onAdded();
      })
      .catch((err: IpcError) => setError(err))
      .finally(() => setBusy(false));
  };
  return (
    <form class="webhook-form" onSubmit={submit} data-testid="webhook-form">
      <h3>Add a webhook</h3>
      <div class="form-grid">
        <label class="field">
          <span>Name</span>
          <input class="input" value={form.name} data-testid="webhook-name"
            onInput={(e) => setForm({ ...form, name: (e.target as HTMLInputElement).value })} />
        </label>
        <label class="field wide">
          <span>URL</span>
          <input class="input" inputMode="url" placeholder="https://hooks.slack.com/services/…" value={form.url} data-testid="webhook-url"
            onInput={(e) => setForm({ ...form, url: (e.target as HTMLInputElement).value })} />
        </label>
        <label class="field">
          <span>Format</span>
          <select class="input" value={form.format} data-testid="webhook-format"
            onChange={(e) => setForm({ ...form, format: (e.target as HTMLSelectElement).value as NewWebhookInput["format"] })}>
            {FORMATS.map((f) => (
              <option key={f.id} value={f.id}>
                {f.label}
              </option>
            ))}
          </select>
        </label>
        <label class="field wide">
          <span>Secret (optional, signs JSON with X-Keyward-Signature; kept in the credential store)</span>
          <input class="input" type="password" autocomplete="new-password" value={form.secret ?? ""} data-testid="webhook-secret"
            onInput={(e) => setForm({ ...form, secret: (e.target as HTMLInputElement).value })} />
        </label>
      </div>
      {error && (
        <p class="field-error" role="alert" data-testid="webhook-add-error">
          {error.message}
        </p>
      )}
      {notice && (
        <p class="notice" role="status" data-testid="webhook-add-notice">
          {notice}
        </p>
      )}
      <div class="actions">
        <button type="submit" class="button" disabled={busy} data-testid="webhook-add">
          {busy ? "Adding…" : "Add webhook"}
        </button>
      </div>
    </form>
  );
}
