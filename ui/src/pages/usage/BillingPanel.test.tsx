import { fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { IpcError, type BillingView, type PlanView, type ProviderBill } from "../../ipc";
import { BillingPanel, parseDraft } from "./BillingPanel";

const api = vi.hoisted(() => ({ billing: vi.fn(), setBilling: vi.fn() }));
vi.mock("../../ipc", async (orig) => {
  const real = await orig<typeof import("../../ipc")>();
  return { ...real, usage: { ...real.usage, billing: api.billing, setBilling: api.setBilling } };
});

const plan = (id: string, over: Partial<PlanView> = {}): PlanView => ({
  id,
  name: id[0].toUpperCase() + id.slice(1),
  model: "credits",
  monthlyFee: 0,
  included: 10000,
  unitPrice: 0,
  hardCap: true,
  requestsPerMinute: 30,
  unit: "credits",
  ...over,
});

const PLANS = [plan("basic"), plan("hobbyist", { monthlyFee: 29, included: 110000 }), plan("standard", { monthlyFee: 299, included: 1200000, requestsPerMinute: 60 })];

const bill = (over: Partial<ProviderBill> = {}): ProviderBill => ({
  provider: "coinmarketcap",
  name: "CoinMarketCap",
  enabled: true,
  currency: "USD",
  plan: PLANS[1],
  plans: PLANS,
  calls: 30,
  throttled: 2,
  units: 99000,
  includedLeft: 11000,
  quotaUsedPct: 90,
  overageUnits: 0,
  cost: 29,
  projectedCost: 29,
  projectedUnits: 150000,
  runsOutAt: "2026-03-20T04:00:00.000Z",
  budget: 20,
  budgetUsedPct: 145,
  alertAt: [50, 80, 100],
  byKey: [{ group: "main", calls: 30, units: 99000, cost: 29 }],
  byCaller: [{ group: "bot-1", calls: 30, units: 99000, cost: 29 }],
  ...over,
});

const view = (providers: ProviderBill[]): BillingView => ({
  month: "2026-03",
  periodStart: "2026-03-01T00:00:00.000Z",
  periodEnd: "2026-04-01T00:00:00.000Z",
  asOf: "2026-03-18T00:00:00.000Z",
  providers,
  totals: providers.length ? [{ currency: "USD", cost: 29, projectedCost: 29, budget: 20 }] : [],
});

beforeEach(() => {
  api.billing.mockReset();
  api.setBilling.mockReset();
});

describe("This month", () => {
  it("shows each provider's plan, cost, quota, run-out date, budget and who spent it", async () => {
    api.billing.mockResolvedValue(view([bill()]));
    render(<BillingPanel refresh={0} />);
    await waitFor(() => expect(screen.getByTestId("bill-coinmarketcap")).toBeTruthy());
    expect(screen.getByTestId("bill-plan-coinmarketcap").textContent).toBe("Hobbyist");
    expect(screen.getByTestId("bill-cost-coinmarketcap").textContent).toBe("$29.00");
    expect(screen.getByTestId("bill-budget-coinmarketcap").textContent).toContain("$20.00");
    expect(screen.getByTestId("bill-budget-coinmarketcap").className).toContain("bad-text");
    expect(screen.getByTestId("bill-units-coinmarketcap").textContent).toBe("99,000 of 110,000 credits (90 %)");
    expect(screen.getByTestId("bill-runs-out-coinmarketcap").textContent).toContain("run out 2026-03-20");
    expect(screen.getByRole("meter").getAttribute("aria-valuenow")).toBe("90");
    expect(screen.getByTestId("billing-totals").textContent).toContain("$29.00 so far");
    fireEvent.click(screen.getByTestId("bill-who-coinmarketcap"));
    expect(screen.getByTestId("bill-shares-coinmarketcap").textContent).toContain("bot-1");
  });

  it("saves another plan with its published prices and a budget, and shows the answer", async () => {
    api.billing.mockResolvedValue(view([bill()]));
    api.setBilling.mockResolvedValue(view([bill({ plan: PLANS[2], cost: 299, budget: 400, budgetUsedPct: 74.75 })]));
    render(<BillingPanel refresh={0} />);
    await waitFor(() => expect(screen.getByTestId("bill-edit-coinmarketcap")).toBeTruthy());
    fireEvent.click(screen.getByTestId("bill-edit-coinmarketcap"));
    fireEvent.change(screen.getByTestId("billing-plan-coinmarketcap"), { target: { value: "standard" } });
    expect((screen.getByTestId("billing-fee-coinmarketcap") as HTMLInputElement).value).toBe("299");
    fireEvent.input(screen.getByTestId("billing-budget-coinmarketcap"), { target: { value: "400" } });
    fireEvent.click(screen.getByTestId("billing-save-coinmarketcap"));
    await waitFor(() => expect(screen.getByTestId("bill-plan-coinmarketcap").textContent).toBe("Standard"));
    expect(api.setBilling).toHaveBeenCalledWith("coinmarketcap", {
      plan: "standard",
      monthlyFee: 299,
      included: 1200000,
      unitPrice: 0,
      budget: 400,
      alertAt: [50, 80, 100],
    });
    expect(screen.queryByTestId("billing-editor-coinmarketcap")).toBeNull();
  });

  it("names a bad field and its value before sending anything, and shows the core's refusal in place", async () => {
    api.billing.mockResolvedValue(view([bill()]));
    api.setBilling.mockRejectedValue(new IpcError("invalid", "billing.plans.hobbyist.monthly_fee 1e999 must be a finite amount"));
    render(<BillingPanel refresh={0} />);
    await waitFor(() => expect(screen.getByTestId("bill-edit-coinmarketcap")).toBeTruthy());
    fireEvent.click(screen.getByTestId("bill-edit-coinmarketcap"));
    fireEvent.input(screen.getByTestId("billing-budget-coinmarketcap"), { target: { value: "-5" } });
    fireEvent.click(screen.getByTestId("billing-save-coinmarketcap"));
    expect(screen.getByTestId("billing-budget-error-coinmarketcap").textContent).toContain('Budget "-5"');
    expect(api.setBilling).not.toHaveBeenCalled();
    fireEvent.input(screen.getByTestId("billing-budget-coinmarketcap"), { target: { value: "" } });
    fireEvent.click(screen.getByTestId("billing-save-coinmarketcap"));
    await waitFor(() => expect(screen.getByTestId("billing-save-error-coinmarketcap")).toBeTruthy());
    expect(screen.getByTestId("billing-save-error-coinmarketcap").textContent).toContain("monthly_fee");
    expect(screen.getByTestId("billing-editor-coinmarketcap")).toBeTruthy();
  });

  it("says what to do when no provider bills anything yet, and reads again on refresh", async () => {
    api.billing.mockResolvedValue(view([]));
    const { rerender } = render(<BillingPanel refresh={0} />);
    await waitFor(() => expect(screen.getByTestId("billing-empty")).toBeTruthy());
    expect(screen.getByRole("link", { name: "Providers page" }).getAttribute("href")).toBe("#/providers");
    api.billing.mockResolvedValue(view([bill({ budget: null, budgetUsedPct: null, runsOutAt: null })]));
    rerender(<BillingPanel refresh={1} />);
    await waitFor(() => expect(screen.getByTestId("bill-coinmarketcap")).toBeTruthy());
    expect(screen.getByTestId("bill-budget-coinmarketcap").textContent).toBe("none");
    expect(screen.getByTestId("bill-runs-out-coinmarketcap").textContent).toContain("lasts the month");
  });
});

describe("the plan form", () => {
  const draft = { plan: "basic", monthlyFee: "0", included: "10000", unitPrice: "0", budget: "", alertAt: "50, 80,100 %" };
  it("reads numbers, an empty budget as none, and percentages with or without %", () => {
    expect(parseDraft(draft)).toEqual({
      edit: { plan: "basic", monthlyFee: 0, included: 10000, unitPrice: 0, budget: null, alertAt: [50, 80, 100] },
    });
  });
  it("names the field and the value it refuses", () => {
    expect(parseDraft({ ...draft, included: "1.5" })).toEqual({ field: "included", message: 'Included "1.5" must be a whole number, 0 or more' });
    expect(parseDraft({ ...draft, monthlyFee: "abc" })).toMatchObject({ field: "monthlyFee" });
    expect(parseDraft({ ...draft, alertAt: "50, 2000" })).toEqual({ field: "alertAt", message: 'Alert at "2000" must be a whole percentage from 1 to 1000' });
  });
});
