import { render, screen, waitFor } from "@testing-library/preact";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { IpcError, type ProviderView, type UsageForecast } from "../../ipc";
import { ForecastPanel } from "./ForecastPanel";

const api = vi.hoisted(() => ({ forecast: vi.fn(), chart: vi.fn(), list: vi.fn() }));
vi.mock("../../ipc", async (orig) => {
  const real = await orig<typeof import("../../ipc")>();
  return {
    ...real,
    usageInsight: { forecast: api.forecast, forecastChart: api.chart, anomalies: vi.fn() },
    providers: { ...real.providers, list: api.list },
  };
});

const SVG = '<svg xmlns="http://www.w3.org/2000/svg"><text>Weight this month, coinmarketcap</text></svg>';

const forecast = (over: Partial<UsageForecast> = {}): UsageForecast => ({
  provider: null,
  periodStart: "2026-03-01T00:00:00.000Z",
  periodEnd: "2026-04-01T00:00:00.000Z",
  asOf: "2026-03-15T12:30:00.000Z",
  counted: "calls",
  operations: [],
  method: "hour_of_week_profile",
  historyDays: 28,
  note: null,
  actualToDate: 3490,
  projected: 7445,
  projectedLow: 7100,
  projectedHigh: 7800,
  days: [],
  quota: null,
  ...over,
});

const provider = (id: string, name: string, enabled: boolean) => ({ id, name, enabled }) as unknown as ProviderView;

beforeEach(() => {
  api.forecast.mockReset();
  api.chart.mockReset();
  api.chart.mockResolvedValue(SVG);
  api.list.mockResolvedValue([provider("coinmarketcap", "CoinMarketCap", true), provider("kraken", "Kraken", false)]);
});

describe("ForecastPanel", () => {
  it("shows the projection with its band and the core's chart for every provider", async () => {
    api.forecast.mockResolvedValue(forecast());
    render(<ForecastPanel provider={null} />);
    await waitFor(() => expect(screen.getByTestId("forecast-summary")).toBeTruthy());
    expect(api.forecast).toHaveBeenCalledWith(null);
    expect(screen.getByTestId("forecast-projected").textContent).toBe("7,445");
    expect(screen.getByTestId("forecast-summary").textContent).toContain("calls expected by the end of March 2026");
    expect(screen.getByTestId("forecast-band").textContent).toContain("likely 7,100 to 7,800");
    expect(screen.getByTestId("forecast-summary").textContent).toContain("3,490 so far");
    expect(screen.queryByTestId("forecast-quota")).toBeNull();
    expect(screen.getByTestId("forecast-chart").innerHTML).toContain("Weight this month");
  });

  it("forecasts one provider in its quota's terms and says when the quota runs out", async () => {
    api.forecast.mockResolvedValue(forecast());
    const { rerender } = render(<ForecastPanel provider={null} />);
    await waitFor(() => expect(screen.getByTestId("forecast-summary")).toBeTruthy());

    api.forecast.mockResolvedValue(
      forecast({
        provider: "coinmarketcap",
        counted: "weight",
        operations: ["ticker"],
        quota: { rule: "monthly_credits", limit: 5000, usedPct: 69.8, runsOutAt: "2026-03-21T19:30:00.000Z" },
      }),
    );
    // The page's provider filter picks CoinMarketCap.
    rerender(<ForecastPanel provider="coinmarketcap" />);
    await waitFor(() => expect(screen.getByTestId("forecast-quota")).toBeTruthy());
    expect(api.forecast).toHaveBeenLastCalledWith("coinmarketcap");
    expect(api.chart).toHaveBeenLastCalledWith("coinmarketcap", false);
    expect(screen.getByTestId("forecast-summary").textContent).toContain("weight of ticker calls expected");
    const quota = screen.getByTestId("forecast-quota").textContent ?? "";
    expect(quota).toContain("monthly_credits");
    expect(quota).toContain("5,000 a month, 70 % used");
    expect(quota).toContain("runs out about 2026-03-");
  });

  it("says what to do when there is too little history", async () => {
    api.forecast.mockResolvedValue(
      forecast({
        method: "insufficient_history",
        note: "a forecast needs at least 3 days of history; there are 41 hours so far",
        projected: null,
        projectedLow: null,
        projectedHigh: null,
        actualToDate: 120,
      }),
    );
    render(<ForecastPanel provider={null} />);
    await waitFor(() => expect(screen.getByTestId("forecast-none")).toBeTruthy());
    const text = screen.getByTestId("forecast-none").textContent ?? "";
    expect(text).toContain("120 calls so far in March 2026");
    expect(text).toContain("there are 41 hours so far");
    expect(text).toContain("Keep Keyward running");
  });

  it("shows the core's error where the forecast would be and still draws the chart", async () => {
    api.forecast.mockRejectedValue(new IpcError("storage", "database error: disk I/O error"));
    render(<ForecastPanel provider={null} />);
    await waitFor(() => expect(screen.getByTestId("forecast-error")).toBeTruthy());
    expect(screen.getByTestId("forecast-error").textContent).toContain("Could not forecast: database error: disk I/O error");
    await waitFor(() => expect(screen.getByTestId("forecast-chart")).toBeTruthy());
  });
});
