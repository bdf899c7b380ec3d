import { fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { IpcError, type Anomaly, type UsageAnomalies } from "../../ipc";
import { AnomaliesPanel } from "./AnomaliesPanel";

const api = vi.hoisted(() => ({ anomalies: vi.fn() }));
vi.mock("../../ipc", async (orig) => {
  const real = await orig<typeof import("../../ipc")>();
  return { ...real, usageInsight: { forecast: vi.fn(), forecastChart: vi.fn(), anomalies: api.anomalies } };
});

const anomaly = (over: Partial<Anomaly> = {}): Anomaly => ({
  kind: "calls_spike",
  provider: "binance",
  operation: "ticker",
  key: null,
  hour: "2026-03-04T03:00:00.000Z",
  observed: 240,
  expected: 40,
  score: 22.4,
  message: "binance ticker: 240 calls 03:00–04:00 UTC on 2026-03-04, usually about 40 at this hour.",
  ...over,
});

const list = (anomalies: Anomaly[], range = "24h"): UsageAnomalies => ({
  range,
  since: "2026-03-03T12:00:00.000Z",
  until: "2026-03-04T12:00:00.000Z",
  lookbackDays: 28,
  anomalies,
});

beforeEach(() => {
  api.anomalies.mockReset();
});

describe("AnomaliesPanel", () => {
  it("lists each anomaly with its kind, endpoint, key, counts and what happened", async () => {
    api.anomalies.mockResolvedValue(
      list([
        anomaly(),
        anomaly({
          kind: "unusual_trading_hour",
          operation: "place_order",
          key: "trader",
          observed: 6,
          expected: 0,
          message: "Key \"trader\" traded on binance (place_order, 6 calls) 03:00–04:00 UTC on 2026-03-04.",
        }),
      ]),
    );
    render(<AnomaliesPanel range="24h" />);
    await waitFor(() => expect(screen.getByTestId("anomalies-table")).toBeTruthy());
    expect(api.anomalies).toHaveBeenCalledWith("24h");
    const rows = screen.getAllByTestId("anomaly-row");
    expect(rows).toHaveLength(2);
    expect(rows[0].textContent).toContain("Calls spike");
    expect(rows[0].textContent).toContain("binance ticker");
    expect(rows[0].textContent).toContain("240");
    expect(rows[0].textContent).toContain("usually about 40 at this hour");
    expect(rows[1].textContent).toContain("Trading at an unusual hour");
    expect(rows[1].textContent).toContain("key “trader”");
  });

  it("reads again for another range and on request", async () => {
    api.anomalies.mockResolvedValue(list([]));
    const { rerender } = render(<AnomaliesPanel range="24h" />);
    await waitFor(() => expect(screen.getByTestId("anomalies-empty")).toBeTruthy());
    rerender(<AnomaliesPanel range="7d" />);
    await waitFor(() => expect(api.anomalies).toHaveBeenLastCalledWith("7d"));
    await waitFor(() => expect(screen.getByTestId("anomalies-empty").textContent).toContain("last 7 days"));
    api.anomalies.mockResolvedValue(list([anomaly()], "7d"));
    fireEvent.click(screen.getByRole("button", { name: "Check again" }));
    await waitFor(() => expect(screen.getAllByTestId("anomaly-row")).toHaveLength(1));
    expect(api.anomalies).toHaveBeenCalledTimes(3);
  });

  it("says nothing is unusual and where alerts for new anomalies are set", async () => {
    api.anomalies.mockResolvedValue(list([]));
    render(<AnomaliesPanel range="24h" />);
    await waitFor(() => expect(screen.getByTestId("anomalies-empty")).toBeTruthy());
    expect(screen.getByTestId("anomalies-empty").textContent).toContain("Nothing unusual in the last 24 h");
    expect(screen.getByTestId("anomalies-empty").textContent).toContain("28 days");
    expect(screen.getByRole("link", { name: "Alerts page" }).getAttribute("href")).toBe("#/alerts");
  });

  it("shows loading, then the core's error in place", async () => {
    api.anomalies.mockRejectedValue(new IpcError("storage", "database is locked"));
    render(<AnomaliesPanel range="24h" />);
    expect(screen.getByTestId("anomalies-loading").textContent).toContain("Looking for unusual hours");
    await waitFor(() => expect(screen.getByTestId("anomalies-error")).toBeTruthy());
    expect(screen.getByTestId("anomalies-error").textContent).toContain("Could not look for anomalies: database is locked");
    expect(screen.queryByTestId("anomalies-loading")).toBeNull();
  });
});
