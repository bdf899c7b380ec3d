// The first-run guide: the five getting-started steps, each doing the real thing (store a key,
// watch and test providers, set the limits' margin and alert levels, a failover group, the
// Usage page). Steps can be skipped and resumed; the core keeps where the user stopped.
import { useEffect, useState } from "preact/hooks";
import {
  groups,
  keys,
  limits,
  limitSettings,
  monitor,
  providers,
  setupGuide,
  usage,
  vault,
  type CheckRunView,
  type KeyView,
  type LimitSettings,
  type LimitView,
  type PermissionReportView,
  type ProviderView,
  type SetupGuideEdit,
  type SetupGuideView,
  type VaultStatus,
} from "../ipc";
import type { RouteId } from "../routes";
import { countOf, formatCount, formatMs } from "../lib/format";
import { useAction } from "../lib/useAction";
import { useLoad } from "../lib/useLoad";
import { BusyButton } from "../components/BusyButton";
import { Field, TextInput } from "../components/Field";
import { ErrorCard, ErrorLine, Loading } from "../components/States";
import { AddKeyForm } from "./keys/AddKeyForm";
import { VaultCreate, VaultUnlock } from "./settings/VaultForms";
import { Gauge } from "./RateLimits";

const edit = (e: Partial<SetupGuideEdit>): SetupGuideEdit => ({
  at: null,
  step: null,
  mark: null,
  dismissed: null,
  seen: null,
  ...e,
});

export function SetupGuide({ onNavigate }: { onNavigate: (id: RouteId) => void }) {
  const guide = useLoad(setupGuide.get, []);
  const [at, setAt] = useState<string | null>(null);
  const save = useAction();
  const g = guide.data;

  // Opening the guide once is remembered: the app opens on it by itself only the first time.
  useEffect(() => {
    if (g && !g.seen) void setupGuide.set(edit({ seen: true })).then(guide.setData, () => undefined);
  }, [g?.seen]);

  const current = at ?? g?.current ?? "key";
  const index = g ? g.steps.findIndex((s) => s.id === current) : 0;
  const next = g?.steps[index + 1]?.id ?? null;
  const update = (e: Partial<SetupGuideEdit>) =>
    save.run(() =>
      setupGuide.set(edit(e)).then((v: SetupGuideView) => {
        guide.setData(v);
        if (e.at) setAt(e.at);
      }),
    );
  const go = (id: string) => void update({ at: id });
  const finish = (mark: "done" | "skipped") =>
    void (next ? update({ step: current, mark, at: next }) : update({ step: current, mark }).then(() => onNavigate("dashboard")));

  return (
    <section>
      <header class="page-header">
        <div>
          <h1>Set up Keyward</h1>
          <p class="lead">Five steps from a fresh install to a watched, rate-limited, failover-ready control room.</p>
        </div>
        <div class="actions">
          <button type="button" class="button secondary" data-testid="guide-close" onClick={() => onNavigate("dashboard")}>
            Later
          </button>
          <button
            type="button"
            class="button secondary"
            data-testid="guide-dismiss"
            onClick={() => void update({ dismissed: true }).then(() => onNavigate("dashboard"))}
          >
            Don't show again
          </button>
        </div>
      </header>

      <ErrorCard error={guide.error} testid="guide-error" />
      {!g && !guide.error && <Loading>Reading your progress…</Loading>}

      {g && (
        <>
          <ol class="stepper" data-testid="guide-steps">
            {g.steps.map((s, i) => (
              <li key={s.id}>
                <button
                  type="button"
                  class={`step ${s.state}${s.id === current ? " active" : ""}`}
                  aria-current={s.id === current ? "step" : undefined}
                  data-testid={`guide-step-${s.id}`}
                  data-state={s.state}
                  onClick={() => go(s.id)}
                >
                  <span class="step-number" aria-hidden="true">
                    {s.state === "done" ? "✓" : i + 1}
                  </span>
                  <span class="step-title">{s.title}</span>
                  {s.state === "skipped" && <span class="hint">skipped</span>}
                </button>
              </li>
            ))}
          </ol>
          {g.complete && (
            <div class="card ok-card" data-testid="guide-complete">
              <h2>Keyward is set up</h2>
              <p>
                {g.doneCount} of {g.steps.length} steps done. The <a href="#/dashboard">Dashboard</a> shows everything
                at a glance, and the tray keeps watching when the window is closed.
              </p>
            </div>
          )}
          <div class="card step-body" data-testid={`guide-body-${current}`}>
            {current === "key" && <KeyStep />}
            {current === "monitor" && <MonitorStep onTested={() => void update({ step: "monitor", mark: "done" })} />}
            {current === "limits" && <LimitsStep onSaved={() => void guide.reload()} />}
            {current === "failover" && <FailoverStep onSaved={() => void guide.reload()} />}
            {current === "usage" && <UsageStep />}
            <p class={`step-detail ${g.steps[index]?.state ?? "todo"}`} data-testid="guide-step-detail">
              {g.steps[index]?.state === "done" ? "Done: " : "Not yet: "}
              {g.steps[index]?.detail}
            </p>
            <ErrorLine error={save.error} testid="guide-save-error" />
            <div class="actions step-actions">
              {index > 0 && (
                <button type="button" class="button secondary" data-testid="guide-back" onClick={() => go(g.steps[index - 1].id)}>
                  Back
                </button>
              )}
              <button type="button" class="button secondary" data-testid="guide-skip" onClick={() => finish("skipped")}>
                Skip this step
              </button>
              <button type="button" class="button" data-testid="guide-next" onClick={() => finish("done")}>
                {next ? "Done, next step" : "Finish"}
              </button>
            </div>
          </div>
        </>
      )}
    </section>
  );
}

// ---- 1. Add your first API key ---------------------------------------------------------

function KeyStep() {
  const status = useLoad(vault.status, []);
  const stored = useLoad(keys.list, []);
  const [added, setAdded] = useState<KeyView | null>(null);
  const check = useAction();
  const [report, setReport] = useState<PermissionReportView | null>(null);
  const s: VaultStatus | null = status.data;
  const file = s?.file;

  const onAdded = (k: KeyView) => {
    setAdded(k);
    stored.reload();
    void check.run(() => keys.check(k.provider, k.label).then(setReport));
  };

  if (!s) return status.error ? <ErrorLine error={status.error} /> : <Loading variant="line">Reading the secret backend…</Loading>;
  if (file && !file.exists)
    return (
      <div data-testid="guide-vault-create">
        <h2>First, a safe place for your keys</h2>
        <p class="hint">{s.detail}</p>
        <VaultCreate unlockAfter onDone={(v) => status.setData(v)} />
      </div>
    );
  if (file && !file.unlocked)
    return (
      <div data-testid="guide-vault-unlock">
        <h2>Unlock your vault</h2>
        <VaultUnlock onDone={(v) => status.setData(v)} />
      </div>
    );
  return (
    <div>
      <h2>Add your first API key</h2>
      <ul class="advice">
        <li>
          Create the key on the exchange with <strong>read</strong> permission only to start; add trading later, and
          never enable withdrawals for a bot.
        </li>
        <li>Restrict the key to this machine's IP address on the exchange's API page.</li>
        <li>
          The secret goes straight to {s.name}; Keyward shows only the last 4 characters of the key and never writes
          the secret to a file or its database.
        </li>
      </ul>
      {added ? (
        <div class="card inset" data-testid="guide-key-added">
          <p>
            <strong>
              {added.provider} · {added.label}
            </strong>{" "}
            stored ({added.apiKeyMasked}).
          </p>
          {check.busy !== null && <Loading variant="line" testid="guide-key-checking">Checking the key's permissions with the exchange…</Loading>}
          {report && <PermissionSummary report={report} />}
          <ErrorLine error={check.error} testid="guide-key-check-error" prefix="The permission check did not answer: " />
          <button type="button" class="link" onClick={() => setAdded(null)}>
            Add another key
          </button>
        </div>
      ) : (
        <>
          {(stored.data?.length ?? 0) > 0 && (
            <p class="hint" data-testid="guide-keys-stored">
              {countOf(stored.data?.length ?? 0, "key")} already stored; add another or go on to the next step.
            </p>
          )}
          <AddKeyForm embedded onCancel={() => undefined} onAdded={onAdded} />
        </>
      )}
    </div>
  );
}

function PermissionSummary({ report }: { report: PermissionReportView }) {
  const yes = (v: boolean | null) => (v === null ? "unknown" : v ? "yes" : "no");
  return (
    <div data-testid="guide-key-report">
      <p>
        The exchange says: read {yes(report.read)} · trade {yes(report.trade)} · withdraw {yes(report.withdraw)} · IP
        restricted {yes(report.ipRestricted)}
      </p>
      {report.risks.length === 0 ? (
        <p class="badge ok" data-testid="guide-key-safe">No risk found</p>
      ) : (
        <ul class="risks">
          {report.risks.map((r) => (
            <li key={r.id} class="field-error" data-testid={`guide-key-risk-${r.id}`}>
              {r.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

// ---- 2. Monitor status -------------------------------------------------------------------

function MonitorStep({ onTested }: { onTested: () => void }) {
  const list = useLoad(providers.list, []);
  const stored = useLoad(keys.list, []);
  const toggle = useAction();
  const test = useAction();
  const [results, setResults] = useState<Record<string, CheckRunView[]>>({});
  const all: ProviderView[] = (list.data ?? []).filter((p) => !p.discontinued);
  const enabled = all.filter((p) => p.enabled);
  const keyed = new Set((stored.data ?? []).map((k) => k.provider));
  const suggested = all.filter((p) => !p.enabled && keyed.has(p.id));
  const [pick, setPick] = useState("");

  const setEnabled = (id: string, on: boolean) => void toggle.run(() => providers.setEnabled(id, on).then(() => list.reload()));
  const runTests = () =>
    void test.run(async () => {
      const out: Record<string, CheckRunView[]> = {};
      for (const p of enabled) out[p.id] = await monitor.runChecks(p.id);
      setResults(out);
      if (Object.values(out).some((runs) => runs.length > 0 && runs.every((r) => r.ok))) onTested();
    });

  if (!list.data) return list.error ? <ErrorLine error={list.error} /> : <Loading variant="line">Reading providers…</Loading>;
  return (
    <div>
      <h2>Pick the providers to watch</h2>
      <p class="hint">
        Keyward checks each watched provider's health every few seconds within a small share of its rate limit, and
        alerts you from the tray when one degrades or goes down.
      </p>
      {enabled.length > 0 && (
        <ul class="tile-list" data-testid="guide-watched">
          {enabled.map((p) => (
            <li key={p.id} data-testid={`guide-watched-${p.id}`}>
              <span class="tile-name">{p.name}</span>
              {results[p.id] && <TestResult runs={results[p.id]} />}
              <button type="button" class="link danger-text" onClick={() => setEnabled(p.id, false)}>
                Stop watching
              </button>
            </li>
          ))}
        </ul>
      )}
      {suggested.length > 0 && (
        <p data-testid="guide-suggested">
          You have a key for{" "}
          {suggested.map((p) => (
            <button key={p.id} type="button" class="link" data-testid={`guide-watch-${p.id}`} onClick={() => setEnabled(p.id, true)}>
              {p.name}
            </button>
          ))}
          : watch it.
        </p>
      )}
      <div class="inline-form">
        <select class="input" value={pick} data-testid="guide-watch-pick" onChange={(e) => setPick((e.target as HTMLSelectElement).value)}>
          <option value="">Choose a provider…</option>
          {all
            .filter((p) => !p.enabled)
            .map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
        </select>
        <button type="button" class="button secondary" data-testid="guide-watch-add" disabled={!pick} onClick={() => (setEnabled(pick, true), setPick(""))}>
          Watch
        </button>
      </div>
      <ErrorLine error={toggle.error} testid="guide-watch-error" />
      <div class="actions">
        <BusyButton busy={test.busy !== null} busyLabel="Testing the connection…" disabled={enabled.length === 0} testid="guide-test" onClick={runTests}>
          Run the connection test
        </BusyButton>
        <a href="#/status" class="button secondary">
          Open the Status page
        </a>
      </div>
      <ErrorLine error={test.error} testid="guide-test-error" />
    </div>
  );
}

function TestResult({ runs }: { runs: CheckRunView[] }) {
  if (runs.length === 0) return <span class="hint">no checks configured</span>;
  const failed = runs.filter((r) => !r.ok);
  const slowest = Math.max(...runs.map((r) => r.latencyMs));
  return failed.length === 0 ? (
    <span class="badge ok" data-testid="guide-test-ok">
      passing · {formatMs(slowest)}
    </span>
  ) : (
    <span class="badge bad" data-testid="guide-test-failed" title={failed.map((r) => `${r.operation}: ${r.error ?? r.status}`).join("\n")}>
      {countOf(failed.length, "check")} failing: {failed[0].error ?? `HTTP ${failed[0].status}`}
    </span>
  );
}

// ---- 3. Configure rate limits -----------------------------------------------------------

function LimitsStep({ onSaved }: { onSaved: () => void }) {
  const [live, setLive] = useState<LimitView[]>([]);
  useEffect(() => limits.stream((s) => setLive(s), () => undefined), []);
  const tightest = [...live].sort((a, b) => b.percent - a.percent).slice(0, 4);
  return (
    <div class="split">
      <div>
        <h2>Configure rate limits</h2>
        <p class="hint">
          Every call is charged against the exchange's limits before it is sent. The safety margin stays unused so a
          request the exchange counts differently never meets a 429; the levels notify you before a limit runs out.
        </p>
        <LimitSettingsForm onSaved={onSaved} />
      </div>
      <div data-testid="guide-gauges">
        <h3>Live</h3>
        {tightest.length === 0 ? (
          <p class="hint">No limit is in use yet; the gauges fill as calls go out.</p>
        ) : (
          <div class="gauges">
            {tightest.map((l) => (
              <Gauge key={`${l.provider}-${l.limitId}-${l.scopeKey}`} l={l} open={false} onToggle={() => undefined} />
            ))}
          </div>
        )}
      </div>
    </div>
  );
}

/** The margin and the warn/critical levels, validated here and by the core. Also on Settings. */
export function LimitSettingsForm({ onSaved }: { onSaved?: (s: LimitSettings) => void }) {
  const load = useLoad(limitSettings.get, []);
  const [form, setForm] = useState<Record<keyof LimitSettings, string> | null>(null);
  const save = useAction();
  const [saved, setSaved] = useState(false);
  useEffect(() => {
    if (load.data && !form)
      setForm({
        marginPct: String(load.data.marginPct),
        warnPct: String(load.data.warnPct),
        criticalPct: String(load.data.criticalPct),
      });
  }, [load.data]);
  if (!form) return load.error ? <ErrorLine error={load.error} /> : <Loading variant="line">Reading the settings…</Loading>;

  const num = (k: keyof LimitSettings) => Number(form[k]);
  const problem = (k: keyof LimitSettings): string | null => {
    const v = num(k);
    if (form[k].trim() === "" || !Number.isFinite(v)) return `enter a number (got "${form[k]}")`;
    if (k === "marginPct" && (v < 0 || v > 25)) return `${v} %: the margin is 0 to 25 %`;
    if (k === "warnPct" && (v < 1 || v >= 100)) return `${v} %: warn between 1 and 99 %`;
    if (k === "criticalPct" && (v <= num("warnPct") || v > 100)) return `${v} %: above the warning level and at most 100 %`;
    return null;
  };
  const invalid = (["marginPct", "warnPct", "criticalPct"] as const).some((k) => problem(k));
  const set = (k: keyof LimitSettings) => (value: string) => {
    setSaved(false);
    setForm({ ...form, [k]: value });
  };
  const submit = () =>
    void save.run(() =>
      limitSettings.set({ marginPct: num("marginPct"), warnPct: num("warnPct"), criticalPct: num("criticalPct") }).then((s) => {
        setSaved(true);
        onSaved?.(s);
      }),
    );
  return (
    <div data-testid="limit-settings">
      <div class="form-grid">
        <Field label="Safety margin (%)" error={problem("marginPct")} errorTestid="limit-margin-error">
          <TextInput value={form.marginPct} inputMode="decimal" testid="limit-margin" onValue={set("marginPct")} invalid={!!problem("marginPct")} />
        </Field>
        <Field label="Warn at (%)" error={problem("warnPct")} errorTestid="limit-warn-error">
          <TextInput value={form.warnPct} inputMode="decimal" testid="limit-warn" onValue={set("warnPct")} invalid={!!problem("warnPct")} />
        </Field>
        <Field label="Critical at (%)" error={problem("criticalPct")} errorTestid="limit-critical-error">
          <TextInput value={form.criticalPct} inputMode="decimal" testid="limit-critical" onValue={set("criticalPct")} invalid={!!problem("criticalPct")} />
        </Field>
      </div>
      <ErrorLine error={save.error} testid="limit-settings-error" />
      <div class="actions">
        <BusyButton busy={save.busy !== null} busyLabel="Saving…" disabled={invalid} testid="limit-settings-save" onClick={submit}>
          Save limits
        </BusyButton>
        {saved && (
          <span class="badge ok" data-testid="limit-settings-saved">
            Saved and in force
          </span>
        )}
      </div>
    </div>
  );
}

// ---- 4. Set up failover ------------------------------------------------------------------

function FailoverStep({ onSaved }: { onSaved: () => void }) {
  const list = useLoad(providers.list, []);
  const existing = useLoad(groups.list, []);
  const [name, setName] = useState("market-data");
  const [members, setMembers] = useState<string[]>([]);
  const save = useAction();
  const exchanges = (list.data ?? []).filter((p) => p.kind === "exchange" && !p.discontinued);
  const enabled = exchanges.filter((p) => p.enabled);
  const choices = enabled.length >= 2 ? enabled : exchanges;
  const toggle = (id: string) => setMembers(members.includes(id) ? members.filter((m) => m !== id) : [...members, id]);
  const submit = () =>
    void save.run(() =>
      groups.save({ name: name.trim(), members }).then(() => {
        existing.reload();
        onSaved();
      }),
    );

  if (!list.data) return list.error ? <ErrorLine error={list.error} /> : <Loading variant="line">Reading providers…</Loading>;
  return (
    <div>
      <h2>Set up failover for market data</h2>
      <p class="hint">
        When the first exchange of a group is down or rate-limited, tickers, order books and candles come from the next
        one — never orders or account reads, which belong to one account.
      </p>
      {(existing.data ?? []).length > 0 && (
        <ul class="tile-list" data-testid="guide-groups">
          {(existing.data ?? []).map((g) => (
            <li key={g.name}>
              <span class="tile-name">
                <strong>{g.name}</strong>: {g.members.join(" → ")}
              </span>
            </li>
          ))}
        </ul>
      )}
      {enabled.length < 2 && (
        <p class="hint" data-testid="guide-failover-hint">
          You watch {countOf(enabled.length, "exchange")}; a group needs two. Pick a second exchange below (it is added
          to the group only; enable it on the Providers page to watch it too), or skip this step.
        </p>
      )}
      <div class="form-grid">
        <Field label="Group name">
          <TextInput value={name} testid="guide-group-name" onValue={setName} />
        </Field>
      </div>
      <p class="hint">Members, first choice first ({members.length === 0 ? "none chosen" : members.join(" → ")}):</p>
      <div class="scopes">
        {choices.map((p) => (
          <label key={p.id} class="check">
            <input type="checkbox" checked={members.includes(p.id)} data-testid={`guide-member-${p.id}`} onChange={() => toggle(p.id)} />{" "}
            {p.name}
          </label>
        ))}
      </div>
      <ErrorLine error={save.error ?? existing.error} testid="guide-group-error" />
      <div class="actions">
        <BusyButton busy={save.busy !== null} busyLabel="Saving…" disabled={members.length < 2 || !name.trim()} testid="guide-group-save" onClick={submit}>
          Save the group
        </BusyButton>
      </div>
    </div>
  );
}

// ---- 5. Review usage metrics -------------------------------------------------------------

function UsageStep() {
  const summary = useLoad(() => usage.summary("24h", "provider"), []);
  const s = summary.data;
  return (
    <div>
      <h2>Review usage metrics</h2>
      <p class="hint">
        Every call through Keyward — the app's, the health checks', your bots' — is counted per endpoint, key and
        caller, with its cost and latency.
      </p>
      {!s && !summary.error && <Loading variant="line">Reading usage…</Loading>}
      <ErrorLine error={summary.error} />
      {s && (
        <p data-testid="guide-usage-calls">
          {s.totals.calls === 0
            ? "No call recorded yet: the connection test in step 2 makes the first ones."
            : `${formatCount(Number(s.totals.calls))} calls in the last 24 hours, ${countOf(Number(s.totals.errors), "error")}, across ${countOf(s.rows.length, "provider")}.`}
        </p>
      )}
      <a href="#/usage" class="button secondary" data-testid="guide-open-usage">
        Open the Usage page
      </a>
    </div>
  );
}
