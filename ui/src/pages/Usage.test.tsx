import { fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { IpcError, type UsageRow, type UsageSummary } from "../ipc";
import { Usage } from "./Usage";

const api = vi.hoisted(() => ({ summary: vi.fn(), chart: vi.fn(), billing: vi.fn(), list: vi.fn(), anomalies: vi.fn(), forecast: vi.fn() }));
vi.mock("../ipc", async (orig) => {
  const real = await orig<typeof import("../ipc")>();
  return {
    ...real,
    usage: { summary: api.summary, chart: api.chart, billing: api.billing, setBilling: vi.fn() },
    // The forecast and anomaly panels have their own tests (usage/*.test.tsx).
    usageInsight: { forecast: api.forecast, forecastChart: api.chart, anomalies: api.anomalies },
    providers: { ...real.providers, list: api.list },
  };
});

const row = (group: string, over: Partial<UsageRow> = {}): UsageRow => ({
  group,
  calls: 1,
  errors: 0,
  throttled: 0,
  weight: 1,
  cost: 0,
  units: 0,
  avgLatencyMs: 100,
  p50Ms: 90,
  p95Ms: 140,
  p99Ms: 180,
  ...over,
});

const summary = (rows: UsageRow[], over: Partial<UsageSummary> = {}): UsageSummary => ({
  range: "24h",
  groupBy: "endpoint",
  since: "2026-03-01T00:00:00.000Z",
  until: "2026-03-02T00:00:00.000Z",
  provider: null,
  currency: "USD",
  rows,
  totals: row("total", {
    calls: rows.reduce((n, r) => n + r.calls, 0),
    errors: rows.reduce((n, r) => n + r.errors, 0),
    weight: rows.reduce((n, r) => n + r.weight, 0),
    avgLatencyMs: 150,
  }),
  ...over,
});

const SVG = '<svg xmlns="http://www.w3.org/2000/svg"><text>Calls per hour, last 24 h</text></svg>';

beforeEach(() => {
  api.summary.mockReset();
  api.chart.mockReset();
  api.chart.mockResolvedValue(SVG);
  api.billing.mockResolvedValue({
    month: "2026-03",
    periodStart: "2026-03-01T00:00:00.000Z",
    periodEnd: "2026-04-01T00:00:00.000Z",
    asOf: "2026-03-02T00:00:00.000Z",
    providers: [],
    totals: [],
  });
  api.list.mockResolvedValue([
    { id: "binance", name: "Binance", enabled: true },
    { id: "coinmarketcap", name: "CoinMarketCap", enabled: true },
    { id: "kraken", name: "Kraken", enabled: false },
  ]);
  api.forecast.mockReturnValue(new Promise(() => undefined));
  api.anomalies.mockReset();
  api.anomalies.mockResolvedValue({ range: "24h", since: "", until: "", lookbackDays: 28, anomalies: [] });
});

describe("Usage", () => {
  it("shows the core's chart and one row per endpoint with totals", async () => {
    api.summary.mockResolvedValue(
      summary([
        row("binance ticker", { calls: 1200, errors: 3, throttled: 2, weight: 2400, avgLatencyMs: 180.4, p95Ms: 310 }),
        row("binance server_time", { calls: 40, weight: 40, cost: 0.0004, units: 40 }),
      ]),
    );
    render(<Usage />);
    await waitFor(() => expect(screen.getByTestId("usage-table")).toBeTruthy());
    expect(api.summary).toHaveBeenCalledWith("24h", "endpoint", null);
    expect(screen.getByTestId("usage-chart").innerHTML).toContain("Calls per hour, last 24 h");

    const rows = screen.getAllByTestId("usage-row");
    expect(rows.map((r) => r.querySelector("td")?.textContent)).toEqual(["binance ticker", "binance server_time"]);
    expect(rows[0].textContent).toContain("1,200");
    expect(rows[0].textContent).toContain("2,400");
    expect(rows[0].textContent).toContain("180 ms");
    expect(rows[0].textContent).toContain("(2 throttled)");
    expect(rows[0].textContent).toContain("310 ms");
    expect(rows[1].textContent).toContain("$0.0004");
    expect(screen.getByRole("columnheader", { name: "Cost (USD)" })).toBeTruthy();
    expect(screen.getByTestId("billing-empty").textContent).toContain("No paid or metered data provider yet");
    const totals = screen.getByTestId("usage-totals");
    expect(totals.textContent).toContain("Total");
    expect(totals.textContent).toContain("1,240");
    expect(totals.textContent).toContain("2,440");
  });

  it("asks the core again for another range and grouping", async () => {
    api.summary.mockResolvedValue(summary([row("binance ticker")]));
    render(<Usage />);
    await waitFor(() => expect(screen.getByTestId("usage-table")).toBeTruthy());

    api.summary.mockResolvedValue(summary([row("monitor", { calls: 12 }), row("ui")], { groupBy: "caller" }));
    fireEvent.click(screen.getByTestId("usage-by-caller"));
    await waitFor(() => expect(screen.getAllByTestId("usage-row")[0].textContent).toContain("monitor"));
    expect(api.summary).toHaveBeenLastCalledWith("24h", "caller", null);
    expect(screen.getByRole("columnheader", { name: "Caller" })).toBeTruthy();
    expect(screen.getByTestId("usage-by-caller").getAttribute("aria-selected")).toBe("true");

    fireEvent.click(screen.getByTestId("usage-range-30d"));
    await waitFor(() => expect(api.summary).toHaveBeenLastCalledWith("30d", "caller", null));
    expect(api.chart).toHaveBeenCalledWith("30d", false, null);
    expect(api.anomalies).toHaveBeenLastCalledWith("30d");
    expect(screen.getByTestId("usage-range-30d").getAttribute("aria-pressed")).toBe("true");
  });

  it("narrows the table and the chart to one enabled provider", async () => {
    api.summary.mockResolvedValue(summary([row("binance ticker")]));
    render(<Usage />);
    await waitFor(() => expect(screen.getByTestId("usage-table")).toBeTruthy());
    const select = screen.getByTestId("usage-provider") as HTMLSelectElement;
    await waitFor(() => expect(select.options.length).toBe(3));
    expect(Array.from(select.options).map((o) => o.textContent)).toEqual(["All providers", "Binance", "CoinMarketCap"]);
    fireEvent.change(select, { target: { value: "coinmarketcap" } });
    await waitFor(() => expect(api.summary).toHaveBeenLastCalledWith("24h", "endpoint", "coinmarketcap"));
    expect(api.chart).toHaveBeenLastCalledWith("24h", false, "coinmarketcap");
  });

  it("tells the user where calls come from when there are none yet", async () => {
    api.summary.mockResolvedValue(summary([]));
    render(<Usage />);
    await waitFor(() => expect(screen.getByTestId("usage-empty")).toBeTruthy());
    expect(screen.getByTestId("usage-empty").textContent).toContain("No calls recorded in this range");
    const link = screen.getByTestId("usage-empty").querySelector("a") as HTMLAnchorElement;
    expect(link.textContent).toBe("Providers page");
    expect(link.getAttribute("href")).toBe("#/providers");
    expect(screen.queryByTestId("usage-table")).toBeNull();
  });

  it("shows loading while the core reads, then the core's error", async () => {
    let fail: (e: IpcError) => void = () => undefined;
    api.summary.mockReturnValue(new Promise((_, reject) => (fail = reject)));
    api.chart.mockReturnValue(new Promise(() => undefined));
    render(<Usage />);
    expect(screen.getByTestId("usage-loading")).toBeTruthy();
    expect(screen.getByText(/Rendering the usage chart/)).toBeTruthy();
    fail(new IpcError("storage", "database error: disk I/O error"));
    await waitFor(() => expect(screen.getByTestId("usage-error")).toBeTruthy());
    expect(screen.getByTestId("usage-error").textContent).toContain("disk I/O error");
  });
});
