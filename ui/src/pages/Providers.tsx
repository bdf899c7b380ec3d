import { useEffect, useMemo, useState } from "preact/hooks";
import { providers, IpcError, type CheckDto, type ProviderDetailDto } from "../ipc";
import { countOf, formatMs } from "../lib/format";
import { errorText } from "../lib/errors";
import { useAction } from "../lib/useAction";
import { useLoad } from "../lib/useLoad";
import { BusyButton } from "../components/BusyButton";
import { Field, TextInput } from "../components/Field";
import { ErrorCard, Loading } from "../components/States";
import { buildChange, formOf, type EndpointForm, type SettingsForm } from "./providerSettings";

const CUSTOM_TEMPLATE = `id = "my_exchange"
name = "My exchange"
kind = "exchange"
default_environment = "production"

[environments.production]
base_url = "https://api.example.com"

[auth]
scheme = "api_key_header"
header_name = "X-API-KEY"

[endpoints.server_time]
method = "GET"
path = "/v1/time"
`;

type Busy = "saving" | "testing" | "importing" | "removing";

export function Providers() {
  const load = useLoad(providers.list, []);
  const { data: list, error: listError, reload: refresh } = load;
  const [selected, setSelected] = useState<string | null>(null);
  const [filter, setFilter] = useState("");
  const [adding, setAdding] = useState(false);
  // The first provider is shown until the user picks one (or after the shown one is removed).
  useEffect(() => {
    if (list) setSelected((cur) => cur ?? list[0]?.id ?? null);
  }, [list]);

  const shown = useMemo(() => {
    const q = filter.trim().toLowerCase();
    return (list ?? []).filter((p) => !q || p.id.includes(q) || p.name.toLowerCase().includes(q));
  }, [list, filter]);

  return (
    <section>
      <header class="page-header">
        <div>
          <h1>Providers</h1>
          <p class="lead">Exchanges and data providers: where Keyward sends calls, how it signs them, and their limits.</p>
        </div>
        <button type="button" class="button" data-testid="provider-add" onClick={() => setAdding(true)}>
          Add custom provider
        </button>
      </header>

      <ErrorCard error={listError} />
      {adding && (
        <ImportPanel
          onClose={() => setAdding(false)}
          onDone={(d) => {
            setAdding(false);
            setSelected(d.summary.id);
            refresh();
          }}
        />
      )}

      {list === null && !listError ? (
        <Loading>Loading providers…</Loading>
      ) : (
        <div class="split">
          <aside class="card list-panel">
            <TextInput type="search" placeholder="Filter providers" value={filter} onValue={setFilter} aria-label="Filter providers" />
            {shown.length === 0 && <p class="hint">No provider matches “{filter}”.</p>}
            {(["exchange", "market_data"] as const).map((kind) => {
              const group = shown.filter((p) => p.kind === kind);
              if (group.length === 0) return null;
              return (
                <div key={kind}>
                  <h3 class="group-title">{kind === "exchange" ? "Exchanges" : "Market data"}</h3>
                  <ul class="plist">
                    {group.map((p) => (
                      <li key={p.id}>
                        <button
                          type="button"
                          class={p.id === selected ? "prow active" : "prow"}
                          data-testid={`provider-row-${p.id}`}
                          onClick={() => setSelected(p.id)}
                        >
                          <span class="prow-name">{p.name}</span>
                          <span class="prow-meta">
                            {p.authScheme} · {p.environment}
                            {p.origin !== "preset" && <span class="badge info">{p.origin}</span>}
                            {p.discontinued && <span class="badge bad">discontinued</span>}
                            {p.enabled && !p.discontinued && <span class="badge ok">on</span>}
                          </span>
                        </button>
                      </li>
                    ))}
                  </ul>
                </div>
              );
            })}
          </aside>
          <div class="detail">
            {selected ? (
              <ProviderDetail key={selected} id={selected} onChanged={refresh} onRemoved={() => { setSelected(null); refresh(); }} />
            ) : (
              <div class="card empty">Choose a provider on the left, or add your own.</div>
            )}
          </div>
        </div>
      )}
    </section>
  );
}

function ImportPanel({ onClose, onDone }: { onClose: () => void; onDone: (d: ProviderDetailDto) => void }) {
  const [text, setText] = useState(CUSTOM_TEMPLATE);
  const action = useAction();
  const submit = (confirmed = false) => void action.run(() => providers.importToml(text, confirmed).then(onDone));
  const loadFile = (file: File | undefined) => file?.text().then(setText);
  return (
    <div class="card" data-testid="import-panel">
      <h2>Add or import a provider spec (TOML)</h2>
      <p class="hint">
        A new id adds a custom provider; a preset's id replaces that preset's settings (reset brings the preset back).
      </p>
      <input type="file" accept=".toml,text/plain" onChange={(e) => loadFile((e.target as HTMLInputElement).files?.[0])} />
      <textarea
        class="code-edit"
        rows={14}
        value={text}
        spellcheck={false}
        data-testid="import-text"
        onInput={(e) => setText((e.target as HTMLTextAreaElement).value)}
      />
      {action.error && <ChangeError error={action.error} testid="import-error" onConfirm={() => submit(true)} />}
      <div class="actions">
        <BusyButton busy={action.busy !== null} busyLabel="Checking…" onClick={() => submit()} testid="import-submit">
          Add provider
        </BusyButton>
        <button type="button" class="button secondary" onClick={onClose}>
          Cancel
        </button>
      </div>
    </div>
  );
}

/**
 * Whether a refusal names `field` (as the spec names it, like the core's messages do:
 * `provider "x": timeout_ms -5 …; endpoints.ticker.weight 1.5 …`), so its input is marked.
 * `name` must not match inside `auth.header_name`.
 */
export function namesField(message: string, field: string): boolean {
  const escaped = field.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  return new RegExp(`(^|[:;] )${escaped} `).test(message);
}

function ProviderDetail({ id, onChanged, onRemoved }: { id: string; onChanged: () => void; onRemoved: () => void }) {
  const load = useLoad(() => providers.get(id), [id]);
  const detail = load.data;
  const action = useAction<Busy>();
  const busy = action.busy;
  // Edits belong to the detail they were made on: a new detail from the core starts the form over.
  const [edits, setEdits] = useState<{ of: ProviderDetailDto | null; values: SettingsForm | null }>({ of: null, values: null });
  const [notice, setNotice] = useState<string | null>(null);
  const [checks, setChecks] = useState<CheckDto[] | null>(null);
  const [toml, setToml] = useState<string | null>(null);
  // The last change, to repeat with the user's confirmation when the core asks for it.
  const [pending, setPending] = useState<(() => void) | null>(null);
  if (!detail) {
    return load.error ? <div class="card error">{errorText(load.error)}</div> : <Loading>Loading {id}…</Loading>;
  }

  const error = action.error;
  const s = detail.summary;
  const original = formOf(detail.settings, s.environments);
  const form = (edits.of === detail && edits.values) || original;
  const setForm = (values: SettingsForm) => setEdits({ of: detail, values });
  const edited = buildChange(original, form);
  const run = (what: Busy, p: () => Promise<ProviderDetailDto>, message: string, confirmed?: () => void) => {
    setNotice(null);
    setPending(() => confirmed ?? null);
    void action.run(
      () =>
        p().then((d) => {
          load.setData(d);
          setNotice(message);
          onChanged();
        }),
      what,
    );
  };
  const refused = (specField: string) => !!error && namesField(error.message, specField);
  type TextKey = Exclude<keyof SettingsForm, "baseUrls" | "endpoints">;
  const field = (key: TextKey, specField: string, label: string, opts: { type?: string; testid?: string } = {}) => (
    <Field label={label}>
      <TextInput
        invalid={refused(specField)}
        type={opts.type ?? "text"}
        value={form[key]}
        testid={opts.testid}
        onValue={(v) => setForm({ ...form, [key]: v })}
      />
    </Field>
  );
  const setRow = (op: string, row: EndpointForm) => setForm({ ...form, endpoints: { ...form.endpoints, [op]: row } });
  const test = () => {
    setChecks(null);
    void action.run(() => providers.test(id).then(setChecks), "testing");
  };
  const saveLabel = countOf(edited.count, "change");
  const save = () => {
    const { change } = edited;
    if (change instanceof IpcError) {
      setNotice(null);
      setPending(null);
      action.fail(change);
      return;
    }
    const saved = `Saved ${saveLabel}.`;
    run("saving", () => providers.applySettings(id, change), saved, () =>
      run("saving", () => providers.applySettings(id, change, true), saved),
    );
  };

  return (
    <div data-testid="provider-detail">
      <div class="card">
        <div class="detail-head">
          <div>
            <h2 data-testid="provider-title">{s.name}</h2>
            <p class="hint">
              <code>{s.id}</code> · {s.kind === "exchange" ? "exchange" : "market data"} · {s.origin}
              {s.docsUrl && (
                <>
                  {" "}· docs: <code>{s.docsUrl}</code>
                </>
              )}
            </p>
          </div>
          <div class="actions">
            <BusyButton busy={busy === "testing"} busyLabel="Testing…" onClick={test} disabled={busy !== null || !!s.discontinued} testid="provider-test">
              Test connection
            </BusyButton>
            <button
              type="button"
              class="button secondary"
              disabled={busy !== null}
              data-testid="provider-toggle"
              onClick={() => run("saving", () => providers.setEnabled(id, !s.enabled), s.enabled ? "Disabled." : "Enabled.")}
            >
              {s.enabled ? "Disable" : "Enable"}
            </button>
            <button type="button" class="button secondary" onClick={() => setToml(toml === null ? detail.toml : null)} data-testid="provider-export">
              {toml === null ? "Export / edit TOML" : "Hide TOML"}
            </button>
            {s.origin === "modified" && (
              <button type="button" class="button secondary" disabled={busy !== null} data-testid="provider-reset"
                onClick={() => run("saving", () => providers.reset(id), "Reset to the preset.")}>
                Reset to preset
              </button>
            )}
            {s.origin === "custom" && (
              <BusyButton
                busy={busy === "removing"}
                busyLabel="Removing…"
                class="button danger"
                disabled={busy !== null}
                onClick={() => {
                  if (window.confirm(`Remove the custom provider ${s.name}?`)) void action.run(() => providers.remove(id).then(onRemoved), "removing");
                }}
              >
                Remove
              </BusyButton>
            )}
          </div>
        </div>
        {s.discontinued && (
          <p class="banner bad" data-testid="provider-discontinued">
            {s.discontinued}
          </p>
        )}
        {error && <ChangeError error={error} testid="provider-error" onConfirm={pending ?? undefined} />}
        {notice && (
          <p class="notice" role="status" data-testid="provider-notice">
            {notice}
          </p>
        )}
        {checks && (
          <ul class="checks" data-testid="provider-checks">
            {checks.length === 0 && <li>This provider maps neither server_time nor system_status.</li>}
            {checks.map((c) => (
              <li key={c.operation} class={c.ok ? "ok" : "bad"} data-testid={`check-${c.operation}`}>
                <strong>{c.operation}</strong> {c.ok ? "OK" : "failed"} · {formatMs(c.latencyMs)}
                {c.status != null && <> · HTTP {c.status}</>}
                <div class="hint">{c.summary}</div>
              </li>
            ))}
          </ul>
        )}
      </div>

      {toml !== null && (
        <div class="card">
          <h2>Spec as TOML</h2>
          <p class="hint">Edit any setting here (headers, endpoints, parameters, rate limits) and apply, or copy it to share.</p>
          <textarea class="code-edit" rows={18} spellcheck={false} value={toml} data-testid="provider-toml"
            onInput={(e) => setToml((e.target as HTMLTextAreaElement).value)} />
          <div class="actions">
            <BusyButton
              busy={busy === "importing"}
              busyLabel="Applying…"
              disabled={busy !== null}
              testid="provider-apply-toml"
              onClick={() =>
                run("importing", () => providers.importToml(toml), "Spec applied.", () =>
                  run("importing", () => providers.importToml(toml, true), "Spec applied."),
                )
              }
            >
              Apply TOML
            </BusyButton>
            <button type="button" class="button secondary" onClick={() => navigator.clipboard?.writeText(toml)}>
              Copy
            </button>
          </div>
        </div>
      )}

      <div class="card">
        <div class="detail-head">
          <h2>Settings</h2>
        <div class="actions">
            <BusyButton
              busy={busy === "saving"}
              busyLabel="Saving…"
              disabled={edited.count === 0 || busy !== null}
              testid="provider-save"
              onClick={save}
            >
              {edited.count ? `Save ${saveLabel}` : "No changes"}
            </BusyButton>
            {edited.count > 0 && (
              <button type="button" class="button secondary" onClick={() => setForm(original)}>
                Discard
              </button>
            )}
          </div>
        </div>
        <h3>Connection</h3>
        <div class="form-grid">
          <label class="field">
            <span>Environment used for calls</span>
            <select
              class="input"
              value={s.environment}
              data-testid="provider-environment"
              onChange={(e) => {
                const environment = (e.target as HTMLSelectElement).value;
                run("saving", () => providers.setEnvironment(id, environment), "Environment changed.");
              }}
            >
              {s.environments.map((e) => (
                <option key={e.name} value={e.name}>
                  {e.name}
                </option>
              ))}
            </select>
          </label>
          {field("name", "name", "Display name")}
          {s.environments.map((e) => (
            <Field key={e.name} label={`Base URL (${e.name})`} wide>
              <TextInput
                invalid={refused(`environments.${e.name}.base_url`)}
                value={form.baseUrls[e.name] ?? ""}
                testid={`base-url-${e.name}`}
                onValue={(v) => setForm({ ...form, baseUrls: { ...form.baseUrls, [e.name]: v } })}
              />
            </Field>
          ))}
          <Field label="Status feed (the status page's /api/v2/summary.json; maintenance and incidents feed the provider's health)" wide>
            <TextInput
              invalid={refused("status_feed")}
              inputMode="url"
              placeholder="https://status.example.com/api/v2/summary.json"
              value={form.statusFeed}
              testid="status-feed"
              onValue={(statusFeed) => setForm({ ...form, statusFeed })}
            />
          </Field>
          {field("timeoutMs", "timeout_ms", "Timeout (ms)", { type: "number", testid: "timeout" })}
          {field("maxResponseBytes", "max_response_bytes", "Max response size (bytes)", { type: "number" })}
          {field("retryMaxAttempts", "retry.max_attempts", "Attempts (with retries)", { type: "number" })}
          {field("retryBaseDelayMs", "retry.base_delay_ms", "Retry base delay (ms)", { type: "number" })}
          {field("retryMaxDelayMs", "retry.max_delay_ms", "Retry max delay (ms)", { type: "number" })}
          {field("retryReadMaxAttempts", "retry_by_class.read.max_attempts", "Attempts for reads (empty: as above)", {
            type: "number",
          })}
          {field("retryTradeMaxAttempts", "retry_by_class.trade.max_attempts", "Attempts for orders (empty: as above)", {
            type: "number",
          })}
        </div>
        <h3>When it fails</h3>
        <p class="hint">
          The circuit breaker stops calls to a failing provider for a while, so they fail over (or fail at once) instead
          of waiting on timeouts. A cached answer may still be served, marked stale, while every provider fails.
        </p>
        <div class="form-grid">
          {field("breakerConsecutiveFailures", "breaker.consecutive_failures", "Open after failures in a row (0: off)", {
            type: "number",
            testid: "breaker-failures",
          })}
          {field("breakerFailureRatePercent", "breaker.failure_rate_percent", "…or failure rate (%)", { type: "number" })}
          {field("breakerMinCalls", "breaker.min_calls", "…over at least (calls a minute)", { type: "number" })}
          {field("breakerOpenMs", "breaker.open_ms", "Stop calls for (ms)", { type: "number", testid: "breaker-open" })}
          {field("breakerMaxOpenMs", "breaker.max_open_ms", "…growing up to (ms)", { type: "number" })}
          {field("breakerHalfOpenProbes", "breaker.half_open_probes", "Probe calls before resuming", { type: "number" })}
          {field("staleIfErrorMs", "stale_if_error_ms", "Serve a stale answer for up to (ms)", { type: "number" })}
        </div>
        <h3>Authentication</h3>
        <div class="form-grid">
          <label class="field">
            <span>Scheme</span>
            <select class="input" value={form.authScheme} onChange={(e) => setForm({ ...form, authScheme: (e.target as HTMLSelectElement).value })}>
              {detail.authSchemes.map((a) => (
                <option key={a} value={a}>
                  {a}
                </option>
              ))}
            </select>
          </label>
          {field("authHeaderName", "auth.header_name", "Key header name")}
          {field("authQueryParam", "auth.query_param", "Key query parameter")}
          {field("authRecvWindowMs", "auth.recv_window_ms", "Receive window (ms)", { type: "number" })}
          {field("authKeyVersion", "auth.key_version", "Key version", { type: "number" })}
        </div>
        {detail.settings.headers.length > 0 && (
          <p class="hint">
            Custom headers: {detail.settings.headers.map((h) => `${h.name}: ${h.value}`).join(", ")} (edit them in the TOML).
          </p>
        )}
        <h3>Endpoints</h3>
        <div class="table-wrap">
          <table class="endpoints">
            <thead>
              <tr>
                <th>Operation</th>
                <th>Method</th>
                <th>Path</th>
                <th>Weight</th>
                <th>Cost (USD)</th>
                <th>Cache (ms)</th>
                <th>Class</th>
                <th>Signed</th>
              </tr>
            </thead>
            <tbody>
              {detail.settings.endpoints.map((ep) => {
                const row = form.endpoints[ep.operation];
                if (!row) return null;
                const set = (column: keyof EndpointForm, value: string) => setRow(ep.operation, { ...row, [column]: value });
                const cell = (column: "path" | "weight" | "cost" | "cacheTtlMs", specColumn: string, type = "text") => (
                  <input
                    class={refused(`endpoints.${ep.operation}.${specColumn}`) ? "input small invalid" : "input small"}
                    type={type}
                    value={row[column]}
                    data-testid={`endpoint-${ep.operation}-${specColumn}`}
                    onInput={(e) => set(column, (e.target as HTMLInputElement).value)}
                  />
                );
                return (
                  <tr key={ep.operation}>
                    <td><code>{ep.operation}</code></td>
                    <td>
                      <select class="input small" value={row.method} onChange={(e) => set("method", (e.target as HTMLSelectElement).value)}>
                        {["GET", "POST", "PUT", "DELETE", "PATCH"].map((m) => <option key={m}>{m}</option>)}
                      </select>
                    </td>
                    <td>{cell("path", "path")}</td>
                    <td>{cell("weight", "weight", "number")}</td>
                    <td>{cell("cost", "cost", "number")}</td>
                    <td>{cell("cacheTtlMs", "cache_ttl_ms", "number")}</td>
                    <td>
                      <select class="input small" value={row.class} onChange={(e) => set("class", (e.target as HTMLSelectElement).value)}>
                        {["read", "trade", "withdraw"].map((m) => <option key={m}>{m}</option>)}
                      </select>
                    </td>
                    <td>{ep.signed ? "yes" : "no"}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      </div>
    </div>
  );
}

/** A change the core refused, next to the form. When the core asks for a confirmation (a change
 * that removes every rate limit), it offers to make the change anyway. */
function ChangeError({ error, testid, onConfirm }: { error: IpcError; testid: string; onConfirm?: () => void }) {
  return (
    <div class="field-error" role="alert" data-testid={testid}>
      <p>{errorText(error)}</p>
      {error.kind === "confirmationNeeded" && onConfirm && (
        <button type="button" class="button danger" data-testid={`${testid}-confirm`} onClick={onConfirm}>
          Remove every rate limit anyway
        </button>
      )}
    </div>
  );
}
