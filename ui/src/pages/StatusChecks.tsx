import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { monitor, IpcError, toIpcError, type CheckView, type CheckInputDto, type MonitorSettingsDto } from "../ipc";
import { formatIntervalMs, formatMs } from "../lib/format";
import { useAction } from "../lib/useAction";
import { useLoad } from "../lib/useLoad";
import { BusyButton } from "../components/BusyButton";
import { Field } from "../components/Field";
import { ErrorLine, Loading } from "../components/States";

/** What a new check starts with (the core's defaults). */
const DEFAULT_INTERVAL_SECS = 30;
const DEFAULT_TIMEOUT_SECS = 10;

/** The form's fields as typed (text, so an empty field stays empty). */
interface Draft {
  operation: string;
  interval: string;
  timeout: string;
  expectStatus: string;
  degradedAboveMs: string;
  enabled: boolean;
}

function draftOf(c: CheckView): Draft {
  return {
    operation: c.operation,
    interval: String(c.intervalMs / 1000),
    timeout: String(c.timeoutMs / 1000),
    expectStatus: c.expectStatus == null ? "" : String(c.expectStatus),
    degradedAboveMs: c.degradedAboveMs == null ? "" : String(c.degradedAboveMs),
    enabled: c.enabled,
  };
}

function inputOf(c: CheckView, over: Partial<CheckInputDto> = {}): CheckInputDto {
  return {
    operation: c.operation,
    intervalSecs: c.intervalMs / 1000,
    timeoutSecs: c.timeoutMs / 1000,
    expectStatus: c.expectStatus,
    degradedAboveMs: c.degradedAboveMs,
    enabled: c.enabled,
    ...over,
  };
}

/**
 * Turns the typed fields into what the command takes. Only "is it a number" is checked here;
 * ranges (minimum interval, HTTP status, …) are the core's, and its message names the field.
 */
export function parseDraft(d: Draft): CheckInputDto | IpcError {
  const num = (field: string, text: string, unit: string): number | IpcError => {
    const v = Number(text.trim());
    return text.trim() === "" || !Number.isFinite(v) ? new IpcError("invalid", `${field} "${text}" is not a number of ${unit}`) : v;
  };
  const optional = (field: string, text: string, unit: string): number | null | IpcError => {
    if (text.trim() === "") return null;
    const v = num(field, text, unit);
    return v instanceof IpcError || Number.isInteger(v) ? v : new IpcError("invalid", `${field} "${text}" is not a whole number of ${unit}`);
  };
  if (!d.operation) return new IpcError("invalid", "operation: choose one of the provider's operations");
  const intervalSecs = num("interval", d.interval, "seconds");
  if (intervalSecs instanceof IpcError) return intervalSecs;
  const timeoutSecs = num("timeout", d.timeout, "seconds");
  if (timeoutSecs instanceof IpcError) return timeoutSecs;
  const expectStatus = optional("expected status", d.expectStatus, "an HTTP status");
  if (expectStatus instanceof IpcError) return expectStatus;
  const degradedAboveMs = optional("latency threshold", d.degradedAboveMs, "milliseconds");
  if (degradedAboveMs instanceof IpcError) return degradedAboveMs;
  if (degradedAboveMs != null && degradedAboveMs < 0)
    return new IpcError("invalid", `latency threshold ${degradedAboveMs} ms must not be negative`);
  return { operation: d.operation, intervalSecs, timeoutSecs, expectStatus, degradedAboveMs, enabled: d.enabled };
}

/**
 * The Checks card of a provider's detail: one row per check (disabled ones too) with an
 * on/off switch, Edit and Remove, an "Add check" form, and the provider's state-change
 * settings. The running scheduler follows every change by itself.
 */
export function ChecksSection({
  provider,
  operations,
  checks,
  loaded,
  onChanged,
}: {
  provider: string;
  /** The provider's operations (what a check can call). */
  operations: string[];
  checks: CheckView[];
  /** False until the provider's health has been read (no empty state before that). */
  loaded: boolean;
  /** Called with the provider's checks after every change. */
  onChanged: (checks: CheckView[]) => void;
}) {
  const [editing, setEditing] = useState<number | null>(null);
  const [adding, setAdding] = useState(false);
  const [removing, setRemoving] = useState<number | null>(null);
  const [busy, setBusy] = useState<number | "add" | null>(null);
  const [formError, setFormError] = useState<IpcError | null>(null);
  const [rowError, setRowError] = useState<{ id: number; error: IpcError } | null>(null);

  useEffect(() => {
    setEditing(null);
    setAdding(false);
    setRemoving(null);
    setFormError(null);
    setRowError(null);
  }, [provider]);

  /** Runs a change, then reads the provider's checks again. */
  const change = (key: number | "add", work: Promise<unknown>, done: () => void, onError: (e: IpcError) => void) => {
    setBusy(key);
    work
      .then(() => monitor.checks(provider))
      .then((list) => {
        onChanged(list);
        done();
      })
      .catch((e: unknown) => onError(toIpcError(e)))
      .finally(() => setBusy(null));
  };

  const submitForm = (key: number | "add", d: Draft) => {
    const input = parseDraft(d);
    if (input instanceof IpcError) {
      setFormError(input);
      return;
    }
    setFormError(null);
    const work = key === "add" ? monitor.addCheck(provider, input) : monitor.updateCheck(key, input);
    change(
      key,
      work,
      () => (key === "add" ? setAdding(false) : setEditing(null)),
      (e) => setFormError(e),
    );
  };

  const toggle = (c: CheckView) => {
    setRowError(null);
    change(c.id, monitor.updateCheck(c.id, inputOf(c, { enabled: !c.enabled })), () => undefined, (error) => setRowError({ id: c.id, error }));
  };

  const remove = (c: CheckView) => {
    setRowError(null);
    change(
      c.id,
      monitor.removeCheck(c.id),
      () => setRemoving(null),
      (error) => setRowError({ id: c.id, error }),
    );
  };

  const unchecked = operations.filter((op) => !checks.some((c) => c.operation === op));
  const fresh: Draft = {
    operation: unchecked[0] ?? operations[0] ?? "",
    interval: String(DEFAULT_INTERVAL_SECS),
    timeout: String(DEFAULT_TIMEOUT_SECS),
    expectStatus: "",
    degradedAboveMs: "",
    enabled: true,
  };

  return (
    <div class="card" data-testid="detail-checks">
      <div class="detail-head">
        <h2>Checks</h2>
        {!adding && (
          <button
            type="button"
            class="button secondary small"
            data-testid="check-add"
            disabled={operations.length === 0}
            onClick={() => {
              setAdding(true);
              setEditing(null);
              setFormError(null);
            }}
          >
            Add check
          </button>
        )}
      </div>
      {loaded && checks.length === 0 && (
        <p class="hint" data-testid="checks-empty">
          No checks yet. “Run checks now” creates the default checks of an enabled provider and runs them, or add one with “Add check”.
        </p>
      )}
      {checks.length > 0 && (
        <div class="table-wrap">
          <table class="plain checks-table">
            <thead>
              <tr>
                <th>On</th>
                <th>Operation</th>
                <th>Every</th>
                <th>Timeout</th>
                <th>Expects</th>
                <th>Slow above</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {checks.map((c) => (
                <CheckRow
                  key={c.id}
                  c={c}
                  busy={busy === c.id}
                  removing={removing === c.id}
                  error={rowError?.id === c.id ? rowError.error : null}
                  onToggle={() => toggle(c)}
                  onEdit={() => {
                    setEditing(c.id);
                    setAdding(false);
                    setFormError(null);
                  }}
                  onRemove={() => setRemoving(c.id)}
                  onRemoveConfirmed={() => remove(c)}
                  onRemoveCancelled={() => setRemoving(null)}
                  form={
                    editing === c.id ? (
                      <CheckForm
                        testid={`check-form-${c.id}`}
                        title={`Edit check ${c.name}`}
                        operations={operations}
                        initial={draftOf(c)}
                        submitLabel="Save"
                        busy={busy === c.id}
                        error={formError}
                        onSubmit={(d) => submitForm(c.id, d)}
                        onCancel={() => {
                          setEditing(null);
                          setFormError(null);
                        }}
                      />
                    ) : null
                  }
                />
              ))}
            </tbody>
          </table>
        </div>
      )}
      {adding && (
        <CheckForm
          testid="check-form-new"
          title="Add a check"
          operations={operations}
          initial={fresh}
          submitLabel="Add check"
          busy={busy === "add"}
          error={formError}
          onSubmit={(d) => submitForm("add", d)}
          onCancel={() => {
            setAdding(false);
            setFormError(null);
          }}
        />
      )}
      <p class="hint">Changes apply to the running checks right away.</p>
      <StateSettings provider={provider} />
    </div>
  );
}

function CheckRow({
  c,
  busy,
  removing,
  error,
  form,
  onToggle,
  onEdit,
  onRemove,
  onRemoveConfirmed,
  onRemoveCancelled,
}: {
  c: CheckView;
  busy: boolean;
  removing: boolean;
  error: IpcError | null;
  form: ComponentChildren;
  onToggle: () => void;
  onEdit: () => void;
  onRemove: () => void;
  onRemoveConfirmed: () => void;
  onRemoveCancelled: () => void;
}) {
  return (
    <>
      <tr class={c.enabled ? "" : "off"} data-testid={`check-row-${c.operation}`}>
        <td>
          <label class="switch">
            <input
              type="checkbox"
              checked={c.enabled}
              disabled={busy}
              aria-label={`${c.enabled ? "Disable" : "Enable"} check ${c.name}`}
              data-testid={`check-toggle-${c.id}`}
              onChange={onToggle}
            />
            <span class="slider" aria-hidden="true" />
          </label>
        </td>
        <td>
          <code>{c.operation}</code>
          {c.name !== c.operation && <span class="hint"> ({c.name})</span>}
          {c.kind === "status" && " "}
          {c.kind === "status" && (
            <span class="badge info" title="Reports maintenance, cancel-only and post-only modes">
              status
            </span>
          )}
        </td>
        <td data-testid={`check-interval-${c.id}`}>{formatIntervalMs(c.intervalMs)}</td>
        <td>{formatIntervalMs(c.timeoutMs)}</td>
        <td>{c.expectStatus == null ? "any 2xx" : `HTTP ${c.expectStatus}`}</td>
        <td>{c.degradedAboveMs == null ? <span class="hint">baseline</span> : formatMs(c.degradedAboveMs)}</td>
        <td class="row-actions">
          {removing ? (
            <>
              <BusyButton busy={busy} busyLabel="Removing…" class="button danger small" testid={`check-remove-yes-${c.id}`} onClick={onRemoveConfirmed}>
                Remove
              </BusyButton>
              <button type="button" class="button secondary small" onClick={onRemoveCancelled}>
                Keep
              </button>
            </>
          ) : (
            <>
              <button type="button" class="link" data-testid={`check-edit-${c.id}`} onClick={onEdit}>
                Edit
              </button>
              <button type="button" class="link danger-text" data-testid={`check-remove-${c.id}`} onClick={onRemove}>
                Remove
              </button>
            </>
          )}
        </td>
      </tr>
      {error && (
        <tr>
          <td colSpan={7}>
            <ErrorLine error={error} testid={`check-error-${c.id}`} />
          </td>
        </tr>
      )}
      {form && (
        <tr class="check-edit">
          <td colSpan={7}>{form}</td>
        </tr>
      )}
    </>
  );
}

function CheckForm({
  testid,
  title,
  operations,
  initial,
  submitLabel,
  busy,
  error,
  onSubmit,
  onCancel,
}: {
  testid: string;
  title: string;
  operations: string[];
  initial: Draft;
  submitLabel: string;
  busy: boolean;
  error: IpcError | null;
  onSubmit: (d: Draft) => void;
  onCancel: () => void;
}) {
  const [d, setD] = useState<Draft>(initial);
  const set = (k: keyof Draft) => (e: Event) => {
    const value = (e.target as HTMLInputElement).value;
    setD((cur) => ({ ...cur, [k]: value }));
  };
  // An operation the spec no longer has stays selectable, so editing shows what is stored.
  const choices = operations.includes(d.operation) || !d.operation ? operations : [d.operation, ...operations];
  return (
    // noValidate: the core checks the ranges and its message names the field and value.
    <form
      class="check-form"
      noValidate
      data-testid={testid}
      aria-label={title}
      onSubmit={(e) => {
        e.preventDefault();
        onSubmit(d);
      }}
    >
      <h3>{title}</h3>
      <div class="form-grid">
        <Field label="Operation">
          <select class="input" value={d.operation} data-testid={`${testid}-operation`} onChange={set("operation")}>
            {choices.map((op) => (
              <option key={op} value={op}>
                {op}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Every (seconds)">
          <input class="input" type="number" min="1" step="any" value={d.interval} data-testid={`${testid}-interval`} onInput={set("interval")} />
        </Field>
        <Field label="Timeout (seconds)">
          <input class="input" type="number" min="0.1" step="any" value={d.timeout} data-testid={`${testid}-timeout`} onInput={set("timeout")} />
        </Field>
        <Field label="Expected HTTP status (empty: any 2xx)">
          <input
            class="input"
            type="number"
            min="100"
            max="599"
            placeholder="any 2xx"
            value={d.expectStatus}
            data-testid={`${testid}-status`}
            onInput={set("expectStatus")}
          />
        </Field>
        <Field label="Slow above (ms; empty: baseline)">
          <input
            class="input"
            type="number"
            min="0"
            placeholder="baseline"
            value={d.degradedAboveMs}
            data-testid={`${testid}-slow`}
            onInput={set("degradedAboveMs")}
          />
        </Field>
        <label class="check check-enabled">
          <input
            type="checkbox"
            checked={d.enabled}
            data-testid={`${testid}-enabled`}
            onChange={(e) => {
              const enabled = (e.target as HTMLInputElement).checked;
              setD((cur) => ({ ...cur, enabled }));
            }}
          />{" "}
          Enabled
        </label>
      </div>
      <ErrorLine error={error} testid={`${testid}-error`} />
      <div class="actions">
        <BusyButton type="submit" busy={busy} busyLabel="Saving…" testid={`${testid}-submit`}>
          {submitLabel}
        </BusyButton>
        <button type="button" class="button secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** The provider's state-machine settings: how sure the monitor must be before it says so. */
function StateSettings({ provider }: { provider: string }) {
  const load = useLoad(() => monitor.settings(provider), [provider], { keep: false });
  const action = useAction();
  const [form, setForm] = useState<{ confirmations: string; errorRate: string; latencyFactor: string } | null>(null);
  const [saved, setSaved] = useState(false);

  const show = (s: MonitorSettingsDto) =>
    setForm({ confirmations: String(s.confirmations), errorRate: String(s.errorRate), latencyFactor: String(s.latencyFactor) });
  useEffect(() => {
    setSaved(false);
    action.clear();
    if (load.data) show(load.data);
    else setForm(null);
  }, [load.data]);

  const save = () => {
    if (!form) return;
    const values = { confirmations: Number(form.confirmations), errorRate: Number(form.errorRate), latencyFactor: Number(form.latencyFactor) };
    const bad = (Object.keys(values) as (keyof typeof values)[]).find((k) => form[k].trim() === "" || !Number.isFinite(values[k]));
    if (bad) return action.fail(new IpcError("invalid", `${bad} "${form[bad]}" is not a number`));
    if (!Number.isInteger(values.confirmations) || values.confirmations < 0)
      return action.fail(new IpcError("invalid", `confirmations "${form.confirmations}" is not a whole number`));
    setSaved(false);
    void action.run(() =>
      monitor.setSettings(provider, values).then((s) => {
        show(s);
        setSaved(true);
      }),
    );
  };

  const set = (k: "confirmations" | "errorRate" | "latencyFactor") => (e: Event) => {
    setSaved(false);
    setForm((f) => f && { ...f, [k]: (e.target as HTMLInputElement).value });
  };
  const error = action.error ?? load.error;

  return (
    <div class="state-settings" data-testid="state-settings">
      <h3>When the state changes</h3>
      {form ? (
        <>
          <div class="form-grid">
            <Field label="Confirmations (results in a row)">
              <input class="input" type="number" min="1" step="1" value={form.confirmations} data-testid="settings-confirmations" onInput={set("confirmations")} />
            </Field>
            <Field label="Degraded at error rate (0–1)">
              <input class="input" type="number" min="0" max="1" step="0.05" value={form.errorRate} data-testid="settings-error-rate" onInput={set("errorRate")} />
            </Field>
            <Field label="Degraded above baseline latency ×">
              <input class="input" type="number" min="1" step="0.5" value={form.latencyFactor} data-testid="settings-latency-factor" onInput={set("latencyFactor")} />
            </Field>
          </div>
          <div class="actions">
            <BusyButton busy={action.busy !== null} busyLabel="Saving…" class="button secondary" testid="settings-save" onClick={save}>
              Save settings
            </BusyButton>
          </div>
        </>
      ) : (
        !error && <Loading variant="hint">Loading…</Loading>
      )}
      {saved && (
        <p class="notice" role="status" data-testid="settings-saved">
          Saved.
        </p>
      )}
      <ErrorLine error={error} testid="settings-error" />
    </div>
  );
}
