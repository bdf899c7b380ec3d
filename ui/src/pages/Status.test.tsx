import { act, fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { IpcError, MONITOR_EVENT, type MonitorEventDto, type ProviderHealthDto, type ProviderStatusView } from "../ipc";
import { Status, applyEvent } from "./Status";

const api = vi.hoisted(() => ({
  monitor: {
    status: vi.fn(),
    health: vi.fn(),
    latencyChart: vi.fn(),
    uptimeChart: vi.fn(),
    runChecks: vi.fn(),
    checks: vi.fn(),
    updateCheck: vi.fn(),
    settings: vi.fn(),
  },
  providersList: vi.fn(),
  handlers: {} as Record<string, (payload: unknown) => void>,
  unsubscribed: vi.fn(),
}));
vi.mock("../ipc", async (orig) => {
  const real = await orig<typeof import("../ipc")>();
  return {
    ...real,
    monitor: { ...real.monitor, ...api.monitor },
    providers: { ...real.providers, list: () => api.providersList() },
    onEvent: (name: string, handler: (payload: unknown) => void) => {
      api.handlers[name] = handler;
      return Promise.resolve(api.unsubscribed);
    },
  };
});

/** Delivers a backend event to the page, as the Tauri event bridge would. */
async function fire(e: MonitorEventDto) {
  await act(async () => {
    api.handlers[MONITOR_EVENT](e);
  });
}

const NOW = new Date().toISOString();

const binance = (over: Partial<ProviderStatusView> = {}): ProviderStatusView => ({
  provider: "binance",
  name: "Binance",
  state: "up",
  since: NOW,
  cause: "all checks passing",
  lastCheck: { at: NOW, ok: true, latencyMs: 85 },
  uptime24h: 99.953,
  breakers: [],
  ...over,
});

const kraken: ProviderStatusView = {
  provider: "kraken",
  name: "Kraken",
  state: "down",
  since: NOW,
  cause: "server_time failing: HTTP 503, expected 2xx",
  lastCheck: { at: NOW, ok: false, latencyMs: 12 },
  uptime24h: 87.5,
  breakers: [],
};

const HEALTH: ProviderHealthDto = {
  status: binance(),
  uptime: [
    { window: "24h", percent: 99.953, checks: 2880, failures: 1 },
    { window: "7d", percent: 100, checks: 20160, failures: 0 },
    { window: "30d", percent: 99.5, checks: 86400, failures: 432 },
    { window: "90d", percent: null, checks: 0, failures: 0 },
    { window: "1y", percent: null, checks: 0, failures: 0 },
  ],
  incidents: [
    { id: 4, state: "down", startedAt: NOW, endedAt: NOW, durationSecs: 540, cause: "all 2 checks failing; server_time: HTTP 503" },
  ],
  checks: [
    { id: 1, provider: "binance", name: "server_time", kind: "operation", operation: "server_time", intervalMs: 30000, timeoutMs: 10000, expectStatus: null, degradedAboveMs: null, enabled: true },
    { id: 2, provider: "binance", name: "system_status", kind: "status", operation: "system_status", intervalMs: 60000, timeoutMs: 10000, expectStatus: null, degradedAboveMs: 800, enabled: true },
  ],
};

beforeEach(() => {
  Object.values(api.monitor).forEach((f) => f.mockReset());
  api.providersList.mockResolvedValue([]);
  api.monitor.latencyChart.mockResolvedValue('<svg viewBox="0 0 800 320"><text>Binance response time, last 1 d</text></svg>');
  api.monitor.uptimeChart.mockResolvedValue('<svg viewBox="0 0 800 200"><text>Binance uptime, last 90 days</text></svg>');
  api.monitor.health.mockResolvedValue(HEALTH);
  api.monitor.settings.mockResolvedValue({ confirmations: 2, errorRate: 0.25, latencyFactor: 3 });
  api.handlers = {};
});
afterEach(() => {
  // jsdom has no matchMedia; a test that adds one removes it again.
  delete (window as { matchMedia?: unknown }).matchMedia;
});

describe("status page", () => {
  it("shows one card per provider with state, cause, last check and 24 h uptime", async () => {
    api.monitor.status.mockResolvedValue([binance(), kraken]);
    render(<Status />);
    expect(await screen.findByTestId("status-state-binance")).toBeTruthy();
    expect(screen.getByTestId("status-state-binance").textContent).toBe("up");
    expect(screen.getByTestId("status-state-kraken").textContent).toBe("down");
    expect(screen.getByTestId("status-card-kraken").className).toContain("down");
    expect(screen.getByTestId("status-card-kraken").querySelector(".dot.down")).toBeTruthy();
    expect(screen.getByTestId("status-card-kraken").textContent).toContain("HTTP 503");
    expect(screen.getByTestId("status-last-binance").textContent).toBe("just now · 85 ms");
    expect(screen.getByTestId("status-last-kraken").textContent).toBe("just now · failed");
    expect(screen.getByTestId("status-uptime-binance").textContent).toBe("99.95 %");
  });

  it("updates a card from live check and state events, without polling", async () => {
    api.monitor.status.mockResolvedValue([binance()]);
    render(<Status />);
    await screen.findByTestId("status-card-binance");
    await waitFor(() => expect(api.handlers[MONITOR_EVENT]).toBeTruthy());
    expect(screen.getByTestId("status-card-binance").querySelector("svg.spark")).toBeNull();

    await fire({ type: "checkCompleted", provider: "binance", ok: true, latencyMs: 42, at: new Date().toISOString() });
    await fire({ type: "checkCompleted", provider: "binance", ok: false, latencyMs: 3, at: new Date().toISOString() });
    expect(screen.getByTestId("status-last-binance").textContent).toBe("just now · failed");
    expect(screen.getByTestId("status-card-binance").querySelector("svg.spark")).toBeTruthy();
    expect(screen.getByTestId("status-card-binance").querySelectorAll(".spark-fail")).toHaveLength(1);
    // Check results update the card from the event alone.
    expect(api.monitor.status).toHaveBeenCalledTimes(1);

    // The event alone turns the card (the re-read it starts has not answered yet).
    api.monitor.status.mockReturnValue(new Promise(() => undefined));
    await fire({ type: "stateChanged", provider: "binance", from: "up", to: "down", cause: "all 2 checks failing", at: new Date().toISOString() });
    expect(screen.getByTestId("status-state-binance").textContent).toBe("down");
    expect(screen.getByTestId("status-card-binance").className).toContain("down");
    expect(screen.getByTestId("status-card-binance").textContent).toContain("all 2 checks failing");
    // A state change re-reads the list once (24 h uptime moves); nothing polls.
    await waitFor(() => expect(api.monitor.status).toHaveBeenCalledTimes(2));
  });

  it("shows an open circuit breaker on the card from its event, and takes it away when it closes", async () => {
    api.monitor.status.mockResolvedValue([binance()]);
    render(<Status />);
    await screen.findByTestId("status-card-binance");
    await waitFor(() => expect(api.handlers[MONITOR_EVENT]).toBeTruthy());
    expect(screen.queryByTestId("status-breakers-binance")).toBeNull();
    const until = new Date(Date.now() + 15_000).toISOString();
    const breaker = {
      provider: "binance",
      operation: null,
      state: "open" as const,
      since: NOW,
      until,
      reason: "5 failures in a row: HTTP 503",
      trips: 1,
    };
    await fire({ type: "breakerChanged", provider: "binance", breaker });
    const badge = screen.getByTestId("status-breakers-binance");
    expect(badge.textContent).toMatch(/^calls stopped, retry in 1[456] s$/);
    expect(badge.querySelector(".badge")?.getAttribute("title")).toContain("5 failures in a row: HTTP 503");
    await fire({ type: "breakerChanged", provider: "binance", breaker: { ...breaker, state: "halfOpen", until: null } });
    expect(screen.getByTestId("status-breakers-binance").textContent).toBe("calls: testing recovery");
    await fire({ type: "breakerChanged", provider: "binance", breaker: { ...breaker, state: "closed", until: null } });
    expect(screen.queryByTestId("status-breakers-binance")).toBeNull();
  });

  it("re-reads the list when an event names a provider it does not show yet", async () => {
    api.monitor.status.mockResolvedValueOnce([]).mockResolvedValueOnce([binance()]);
    render(<Status />);
    await screen.findByTestId("status-empty");
    await waitFor(() => expect(api.handlers[MONITOR_EVENT]).toBeTruthy());
    await fire({ type: "checkCompleted", provider: "binance", ok: true, latencyMs: 40, at: NOW });
    await waitFor(() => expect(screen.getByTestId("status-state-binance").textContent).toBe("up"));
  });

  it("says how to start monitoring and runs the checks of an enabled provider", async () => {
    api.monitor.status.mockResolvedValue([]);
    api.providersList.mockResolvedValue([
      { id: "binance", name: "Binance", kind: "exchange", origin: "preset", enabled: true, environment: "production", environments: [], authScheme: "binance_hmac", operations: [], discontinued: null, docsUrl: null },
      { id: "kraken", name: "Kraken", kind: "exchange", origin: "preset", enabled: false, environment: "production", environments: [], authScheme: "kraken", operations: [], discontinued: null, docsUrl: null },
    ]);
    let finish: (v: unknown) => void = () => undefined;
    api.monitor.runChecks.mockReturnValue(new Promise((r) => (finish = r)));
    render(<Status />);
    const empty = await screen.findByTestId("status-empty");
    expect(empty.textContent).toContain("Providers");
    expect(empty.querySelector("a[href='#/providers']")).toBeTruthy();
    await waitFor(() => expect(screen.getByTestId("status-unmonitored").textContent).toContain("Binance"));
    expect(screen.queryByTestId("status-run-kraken")).toBeNull();

    fireEvent.click(screen.getByTestId("status-run-binance"));
    expect(api.monitor.runChecks).toHaveBeenCalledWith("binance");
    expect(screen.getByTestId("status-run-binance").textContent).toContain("Running");
    expect((screen.getByTestId("status-run-binance") as HTMLButtonElement).disabled).toBe(true);
    await fire({ type: "checkCompleted", provider: "binance", ok: true, latencyMs: 40, at: NOW });
    expect(screen.getByTestId("status-run-binance").textContent).toContain("1 done");

    api.monitor.status.mockResolvedValue([binance()]);
    await act(async () => finish([]));
    await waitFor(() => expect(screen.getByTestId("status-state-binance").textContent).toBe("up"));
  });

  it("shows why running checks failed, on the card", async () => {
    api.monitor.status.mockResolvedValue([binance()]);
    api.monitor.runChecks.mockRejectedValue(new IpcError("notEnabled", 'provider "binance" has no health checks because it is not enabled'));
    render(<Status />);
    fireEvent.click(await screen.findByTestId("status-run-binance"));
    await waitFor(() => expect(screen.getByTestId("status-run-error-binance").textContent).toContain("not enabled"));
  });

  it("shows the core's error instead of cards", async () => {
    api.monitor.status.mockRejectedValue(new IpcError("storage", "database is locked"));
    render(<Status />);
    await waitFor(() => expect(screen.getByTestId("status-error").textContent).toContain("database is locked"));
  });

  it("opens a provider's detail: uptime windows, core charts, incidents and checks", async () => {
    api.monitor.status.mockResolvedValue([binance()]);
    render(<Status />);
    fireEvent.click(await screen.findByTestId("status-open-binance"));
    await waitFor(() => expect(screen.getByTestId("uptime-24h").textContent).toContain("99.95 %"));
    expect(screen.getByTestId("uptime-7d").textContent).toContain("100 %");
    expect(screen.getByTestId("uptime-90d").textContent).toContain("no checks in this window");
    await waitFor(() => expect(screen.getByTestId("latency-chart").innerHTML).toContain("<svg"));
    expect(screen.getByTestId("uptime-strip").textContent).toContain("last 90 days");
    expect(api.monitor.health).toHaveBeenCalledWith("binance");
    expect(api.monitor.latencyChart).toHaveBeenCalledWith("binance", 24, false);
    expect(api.monitor.uptimeChart).toHaveBeenCalledWith("binance", false);
    expect(screen.getByTestId("detail-incidents").textContent).toContain("lasted 9 min");
    expect(screen.getByTestId("detail-checks").textContent).toContain("system_status");
    expect(screen.getByTestId("detail-checks").textContent).toContain("1 min");

    fireEvent.click(screen.getByText("7 d"));
    await waitFor(() => expect(api.monitor.latencyChart).toHaveBeenLastCalledWith("binance", 168, false));

    fireEvent.click(screen.getByTestId("status-back"));
    expect(screen.getByTestId("status-grid")).toBeTruthy();
  });

  it("edits checks in the detail: a switched-off check stays listed, and the add form offers the provider's operations", async () => {
    api.monitor.status.mockResolvedValue([binance()]);
    api.providersList.mockResolvedValue([
      { id: "binance", name: "Binance", kind: "exchange", origin: "preset", enabled: true, environment: "production", environments: [], authScheme: "binance_hmac", operations: ["server_time", "system_status", "ticker"], discontinued: null, docsUrl: null },
    ]);
    api.monitor.updateCheck.mockResolvedValue({ ...HEALTH.checks[0], enabled: false });
    api.monitor.checks.mockResolvedValue([{ ...HEALTH.checks[0], enabled: false }, HEALTH.checks[1]]);
    render(<Status />);
    fireEvent.click(await screen.findByTestId("status-open-binance"));
    await waitFor(() => expect(screen.getByTestId("check-row-server_time").textContent).toContain("30 s"));
    expect(screen.getByTestId("check-row-system_status").textContent).toContain("800 ms");
    expect(screen.getByTestId("check-row-system_status").textContent).toContain("status");

    fireEvent.click(screen.getByTestId("check-toggle-1"));
    expect(api.monitor.updateCheck).toHaveBeenCalledWith(1, {
      operation: "server_time",
      intervalSecs: 30,
      timeoutSecs: 10,
      expectStatus: null,
      degradedAboveMs: null,
      enabled: false,
    });
    await waitFor(() => expect(screen.getByTestId("check-row-server_time").className).toBe("off"));
    expect(api.monitor.checks).toHaveBeenCalledWith("binance");
    expect((screen.getByTestId("check-toggle-1") as HTMLInputElement).checked).toBe(false);

    fireEvent.click(screen.getByTestId("check-add"));
    const select = screen.getByTestId("check-form-new-operation") as HTMLSelectElement;
    expect([...select.options].map((o) => o.value)).toEqual(["server_time", "system_status", "ticker"]);
    expect(select.value).toBe("ticker");
  });

  it("asks the core for dark charts when the system prefers a dark theme", async () => {
    window.matchMedia = vi.fn().mockReturnValue({ matches: true, addEventListener: vi.fn(), removeEventListener: vi.fn() });
    api.monitor.status.mockResolvedValue([binance()]);
    render(<Status />);
    fireEvent.click(await screen.findByTestId("status-open-binance"));
    await waitFor(() => expect(api.monitor.latencyChart).toHaveBeenCalledWith("binance", 24, true));
    expect(api.monitor.uptimeChart).toHaveBeenCalledWith("binance", true);
  });

  it("shows progress of Run checks now in the detail, then the results", async () => {
    api.monitor.status.mockResolvedValue([binance()]);
    let finish: (v: unknown) => void = () => undefined;
    api.monitor.runChecks.mockReturnValue(new Promise((r) => (finish = r)));
    render(<Status />);
    fireEvent.click(await screen.findByTestId("status-open-binance"));
    await waitFor(() => expect(screen.getByTestId("detail-checks").textContent).toContain("server_time"));
    await waitFor(() => expect(api.handlers[MONITOR_EVENT]).toBeTruthy());

    fireEvent.click(screen.getByTestId("detail-run"));
    expect(screen.getByTestId("detail-run").textContent).toContain("0 of 2");
    await fire({ type: "checkCompleted", provider: "binance", ok: true, latencyMs: 40, at: NOW });
    expect(screen.getByTestId("detail-run").textContent).toContain("1 of 2");

    await act(async () =>
      finish([
        { checkId: 1, operation: "server_time", ok: true, status: 200, latencyMs: 40, error: null, at: NOW },
        { checkId: 2, operation: "system_status", ok: false, status: 503, latencyMs: 7, error: "HTTP 503, expected 2xx", at: NOW },
      ]),
    );
    const results = await screen.findByTestId("detail-run-results");
    expect(results.textContent).toContain("server_time OK · 40 ms");
    expect(results.textContent).toContain("HTTP 503, expected 2xx");
    expect(screen.getByTestId("detail-run").textContent).toBe("Run checks now");
  });

  it("stops listening when the page closes", async () => {
    api.monitor.status.mockResolvedValue([]);
    api.unsubscribed.mockReset();
    const { unmount } = render(<Status />);
    await waitFor(() => expect(api.handlers[MONITOR_EVENT]).toBeTruthy());
    await act(async () => Promise.resolve());
    unmount();
    expect(api.unsubscribed).toHaveBeenCalled();
  });
});

describe("status helpers", () => {
  it("applies events only to providers it knows", () => {
    const list = [binance()];
    expect(applyEvent(list, { type: "checkCompleted", provider: "okx", ok: true, latencyMs: 1, at: NOW })).toBeNull();
    const next = applyEvent(list, { type: "stateChanged", provider: "binance", from: "up", to: "maintenance", cause: "upgrade", at: NOW });
    expect(next?.[0]).toMatchObject({ state: "maintenance", cause: "upgrade", since: NOW });
  });
});
