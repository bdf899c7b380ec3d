// "This month": each paid or metered provider's plan, what it used of it, what the month costs
// so far and at this pace, when the included units run out, the budget, and who spent it.
// The plan, its prices and the budget are edited here.
import { useEffect, useState } from "preact/hooks";
import { usage, type BillingEdit, type BillingView, type BillShare, type PlanView, type ProviderBill } from "../../ipc";
import { formatAmount, formatCount, formatDate, formatMoney, formatPercent } from "../../lib/format";
import { useAction } from "../../lib/useAction";
import { useLoad } from "../../lib/useLoad";
import { BusyButton } from "../../components/BusyButton";
import { Field, Select, TextInput } from "../../components/Field";
import { ErrorLine, Loading } from "../../components/States";

const MODEL_LABEL: Record<string, string> = {
  free: "free",
  per_call: "pay per call",
  credits: "monthly credits",
  monthly: "monthly calls",
  per_minute: "requests per minute",
};

function planSummary(p: PlanView, currency: string): string {
  const parts = [p.monthlyFee > 0 ? `${formatMoney(p.monthlyFee, currency)} a month` : "no fee"];
  if (p.included > 0) parts.push(`${formatCount(p.included)} ${p.unit} included`);
  if (p.unitPrice > 0) parts.push(`${formatMoney(p.unitPrice, currency)} per ${p.unit === "credits" ? "credit" : "call"}${p.included > 0 ? " past them" : ""}`);
  if (p.hardCap && p.included > 0) parts.push("stops at the cap");
  if (p.requestsPerMinute) parts.push(`${formatCount(p.requestsPerMinute)} per minute`);
  return parts.join(" · ");
}

/** The editable fields as typed; numbers are parsed on save so a half-typed value is kept. */
interface Draft {
  plan: string;
  monthlyFee: string;
  included: string;
  unitPrice: string;
  budget: string;
  alertAt: string;
}

function draftOf(b: ProviderBill): Draft {
  const p = b.plans.find((x) => x.id === b.plan.id) ?? b.plan;
  return {
    plan: b.plan.id,
    monthlyFee: String(p.monthlyFee),
    included: String(p.included),
    unitPrice: String(p.unitPrice),
    budget: b.budget == null ? "" : String(b.budget),
    alertAt: b.alertAt.join(", "),
  };
}

type Parsed = { edit: BillingEdit } | { field: keyof Draft; message: string };

/** The draft as the core's edit, or the first field that is not a number it can take. */
export function parseDraft(d: Draft): Parsed {
  const amount = (field: keyof Draft, label: string): number | string => {
    const v = Number(d[field].trim());
    if (d[field].trim() === "" || !Number.isFinite(v) || v < 0) return `${label} "${d[field]}" must be an amount, 0 or more`;
    return v;
  };
  const fee = amount("monthlyFee", "Monthly fee");
  if (typeof fee === "string") return { field: "monthlyFee", message: fee };
  const included = Number(d.included.trim());
  if (d.included.trim() === "" || !Number.isInteger(included) || included < 0)
    return { field: "included", message: `Included "${d.included}" must be a whole number, 0 or more` };
  const unitPrice = amount("unitPrice", "Price per unit");
  if (typeof unitPrice === "string") return { field: "unitPrice", message: unitPrice };
  let budget: number | null = null;
  if (d.budget.trim() !== "") {
    budget = Number(d.budget.trim());
    if (!Number.isFinite(budget) || budget <= 0)
      return { field: "budget", message: `Budget "${d.budget}" must be a positive amount, or empty for none` };
  }
  const alertAt: number[] = [];
  for (const part of d.alertAt.split(",").map((s) => s.trim()).filter(Boolean)) {
    const n = Number(part.replace(/%$/, "").trim());
    if (!Number.isInteger(n) || n < 1 || n > 1000)
      return { field: "alertAt", message: `Alert at "${part}" must be a whole percentage from 1 to 1000` };
    alertAt.push(n);
  }
  return { edit: { plan: d.plan, monthlyFee: fee, included, unitPrice, budget, alertAt } };
}

function Editor({ bill, onSaved, onCancel }: { bill: ProviderBill; onSaved: (v: BillingView) => void; onCancel: () => void }) {
  const [draft, setDraft] = useState<Draft>(() => draftOf(bill));
  const [invalid, setInvalid] = useState<{ field: keyof Draft; message: string } | null>(null);
  const action = useAction();
  const set = (field: keyof Draft) => (value: string) => setDraft((d) => ({ ...d, [field]: value }));
  const choosePlan = (id: string) => {
    const p = bill.plans.find((x) => x.id === id);
    setDraft((d) =>
      p ? { ...d, plan: id, monthlyFee: String(p.monthlyFee), included: String(p.included), unitPrice: String(p.unitPrice) } : { ...d, plan: id },
    );
  };
  const save = () => {
    const parsed = parseDraft(draft);
    if ("field" in parsed) {
      setInvalid(parsed);
      return;
    }
    setInvalid(null);
    void action.run(() => usage.setBilling(bill.provider, parsed.edit).then(onSaved));
  };
  const err = (f: keyof Draft) => (invalid?.field === f ? invalid.message : null);
  const id = bill.provider;
  return (
    <div class="billing-editor" data-testid={`billing-editor-${id}`}>
      <div class="form-grid">
        {bill.plans.length > 0 && (
          <Field label="Plan">
            <Select
              value={draft.plan}
              options={bill.plans.map((p) => ({ id: p.id, label: `${p.name} (${MODEL_LABEL[p.model] ?? p.model})` }))}
              onValue={choosePlan}
              testid={`billing-plan-${id}`}
            />
          </Field>
        )}
        <Field label={`Monthly fee (${bill.currency})`} error={err("monthlyFee")}>
          <TextInput value={draft.monthlyFee} onValue={set("monthlyFee")} invalid={!!err("monthlyFee")} testid={`billing-fee-${id}`} inputMode="decimal" />
        </Field>
        <Field label={`Included ${bill.plan.unit} per month`} error={err("included")}>
          <TextInput value={draft.included} onValue={set("included")} invalid={!!err("included")} testid={`billing-included-${id}`} inputMode="numeric" />
        </Field>
        <Field label={`Price per unit (${bill.currency})`} error={err("unitPrice")}>
          <TextInput value={draft.unitPrice} onValue={set("unitPrice")} invalid={!!err("unitPrice")} testid={`billing-unit-price-${id}`} inputMode="decimal" />
        </Field>
        <Field label={`Monthly budget (${bill.currency}, empty for none)`} error={err("budget")} errorTestid={`billing-budget-error-${id}`}>
          <TextInput value={draft.budget} onValue={set("budget")} invalid={!!err("budget")} testid={`billing-budget-${id}`} inputMode="decimal" placeholder="none" />
        </Field>
        <Field label="Alert at (% of the budget)" error={err("alertAt")}>
          <TextInput value={draft.alertAt} onValue={set("alertAt")} invalid={!!err("alertAt")} testid={`billing-alert-at-${id}`} placeholder="50, 80, 100" />
        </Field>
      </div>
      <p class="hint">
        Choosing another plan also sets the rate limits it comes with. Prices are the provider's published ones; edit them
        to match your invoice.
      </p>
      {action.error && <ErrorLine error={action.error} testid={`billing-save-error-${id}`} prefix="Could not save: " />}
      <div class="actions">
        <BusyButton busy={action.busy !== null} busyLabel="Saving…" onClick={save} testid={`billing-save-${id}`}>
          Save plan and budget
        </BusyButton>
        <button type="button" class="button secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}

function Shares({ title, shares, currency }: { title: string; shares: BillShare[]; currency: string }) {
  if (shares.length === 0) return null;
  return (
    <div>
      <h4>{title}</h4>
      <table class="plain compact">
        <tbody>
          {shares.map((s) => (
            <tr key={s.group}>
              <td>
                <code>{s.group}</code>
              </td>
              <td class="num">{formatAmount(s.units)}</td>
              <td class="num">{formatMoney(s.cost, currency)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function BillRow({ bill, onSaved }: { bill: ProviderBill; onSaved: (v: BillingView) => void }) {
  const [editing, setEditing] = useState(false);
  const [open, setOpen] = useState(false);
  const id = bill.provider;
  const pct = bill.quotaUsedPct;
  const over = bill.budgetUsedPct != null && bill.budgetUsedPct >= 100;
  return (
    <div class="bill" data-testid={`bill-${id}`}>
      <div class="bill-head">
        <div class="bill-name">
          <strong>{bill.name}</strong>
          <span class="badge" data-testid={`bill-plan-${id}`}>
            {bill.plan.name}
          </span>
          <p class="hint">{planSummary(bill.plan, bill.currency)}</p>
        </div>
        <div class="bill-figure">
          <span class="hint">So far</span>
          <strong data-testid={`bill-cost-${id}`}>{formatMoney(bill.cost, bill.currency)}</strong>
        </div>
        <div class="bill-figure">
          <span class="hint">At month end</span>
          <strong data-testid={`bill-projected-${id}`}>{formatMoney(bill.projectedCost, bill.currency)}</strong>
        </div>
        <div class="bill-figure">
          <span class="hint">Budget</span>
          <strong class={over ? "bad-text" : undefined} data-testid={`bill-budget-${id}`}>
            {bill.budget == null ? "none" : `${formatMoney(bill.budget, bill.currency)} · ${formatPercent(bill.budgetUsedPct ?? 0)}`}
          </strong>
        </div>
      </div>
      <div class="bill-quota">
        {pct != null ? (
          <>
            <span
              class={`gauge-bar ${pct >= 95 ? "critical" : pct >= 80 ? "warn" : ""}`}
              role="meter"
              aria-label={`${bill.name} ${bill.plan.unit} used`}
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={Math.round(pct)}
            >
              <span class="gauge-fill" style={{ width: `${Math.min(100, pct)}%` }} />
            </span>
            <span data-testid={`bill-units-${id}`}>
              {formatAmount(bill.units)} of {formatCount(bill.plan.included)} {bill.plan.unit} ({formatPercent(pct)})
            </span>
          </>
        ) : (
          <span data-testid={`bill-units-${id}`}>
            {formatAmount(bill.units)} {bill.plan.unit} billed
          </span>
        )}
        {bill.throttled > 0 && <span class="hint"> · {formatCount(bill.throttled)} throttled (not billed)</span>}
        <span class={bill.runsOutAt ? "warn-text" : "hint"} data-testid={`bill-runs-out-${id}`}>
          {bill.runsOutAt
            ? ` · at this pace the included ${bill.plan.unit} run out ${formatDate(bill.runsOutAt)}`
            : bill.plan.included > 0
              ? " · lasts the month at this pace"
              : ""}
        </span>
      </div>
      <div class="actions">
        <button type="button" class="button secondary small" onClick={() => setEditing((e) => !e)} data-testid={`bill-edit-${id}`} aria-expanded={editing}>
          Plan and budget
        </button>
        {(bill.byKey.length > 0 || bill.byCaller.length > 0) && (
          <button type="button" class="button secondary small" onClick={() => setOpen((o) => !o)} aria-expanded={open} data-testid={`bill-who-${id}`}>
            {open ? "Hide who spent it" : "Who spent it"}
          </button>
        )}
      </div>
      {open && (
        <div class="bill-shares" data-testid={`bill-shares-${id}`}>
          <Shares title="By key" shares={bill.byKey} currency={bill.currency} />
          <Shares title="By caller" shares={bill.byCaller} currency={bill.currency} />
        </div>
      )}
      {editing && (
        <Editor
          bill={bill}
          onCancel={() => setEditing(false)}
          onSaved={(v) => {
            setEditing(false);
            onSaved(v);
          }}
        />
      )}
    </div>
  );
}

/** The month's bill; `refresh` changing reads it again. */
export function BillingPanel({ refresh }: { refresh: number }) {
  const load = useLoad(usage.billing, []);
  useEffect(() => {
    if (refresh > 0) load.reload();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [refresh]);
  const view = load.data;
  return (
    <div class="card" data-testid="billing-card">
      <div class="detail-head">
        <h2>This month{view ? ` (${view.month})` : ""}</h2>
        {view && view.totals.length > 0 && (
          <p class="hint" data-testid="billing-totals">
            {view.totals.map((t) => `${formatMoney(t.cost, t.currency)} so far, ${formatMoney(t.projectedCost, t.currency)} at month end`).join(" · ")}
          </p>
        )}
      </div>
      {load.error ? (
        <ErrorLine error={load.error} testid="billing-error" prefix="Could not read this month's cost: " />
      ) : view === null ? (
        <Loading variant="hint" testid="billing-loading">
          Adding up this month…
        </Loading>
      ) : view.providers.length === 0 ? (
        <div class="empty" data-testid="billing-empty">
          <p>
            No paid or metered data provider yet. Enable CoinMarketCap, CoinGecko or Alpha Vantage on the{" "}
            <a href="#/providers">Providers page</a>, then pick your plan here to see what the month costs and when its
            credits run out.
          </p>
        </div>
      ) : (
        view.providers.map((b) => <BillRow key={b.provider} bill={b} onSaved={(v) => load.setData(v)} />)
      )}
    </div>
  );
}
