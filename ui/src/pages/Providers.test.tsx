import { fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { IpcError, type ProviderDetailDto, type ProviderView } from "../ipc";
import { Providers, namesField } from "./Providers";

const api = vi.hoisted(() => ({
  list: vi.fn(),
  get: vi.fn(),
  applySettings: vi.fn(),
  test: vi.fn(),
  importToml: vi.fn(),
}));
vi.mock("../ipc", async (orig) => {
  const real = await orig<typeof import("../ipc")>();
  return { ...real, providers: { ...real.providers, ...api } };
});

const summary = (id: string, over: Partial<ProviderView> = {}): ProviderView => ({
  id,
  name: id[0].toUpperCase() + id.slice(1),
  kind: "exchange",
  origin: "preset",
  enabled: false,
  environment: "production",
  environments: [{ name: "production", baseUrl: `https://api.${id}.com` }],
  authScheme: "binance_hmac",
  operations: ["server_time"],
  discontinued: null,
  docsUrl: null,
  ...over,
});

const detail = (s: ProviderView, timeoutMs = 10000): ProviderDetailDto => ({
  summary: s,
  toml: `id = "${s.id}"`,
  authSchemes: ["none", "binance_hmac"],
  settings: {
    name: s.name,
    defaultEnvironment: "production",
    timeoutMs,
    maxResponseBytes: 8388608,
    retryMaxAttempts: 3,
    retryBaseDelayMs: 200,
    retryMaxDelayMs: 5000,
    breakerConsecutiveFailures: 5,
    breakerFailureRatePercent: 50,
    breakerMinCalls: 20,
    breakerOpenMs: 15000,
    breakerMaxOpenMs: 300000,
    breakerHalfOpenProbes: 2,
    staleIfErrorMs: 300000,
    retryReadMaxAttempts: null,
    retryTradeMaxAttempts: null,
    authScheme: s.authScheme,
    authHeaderName: null,
    authQueryParam: null,
    authRecvWindowMs: 5000,
    authKeyVersion: null,
    authPassphraseRequired: false,
    headers: [],
    endpoints: [
      { operation: "server_time", method: "GET", path: "/api/v3/time", body: "query", weight: 1, cost: 0, cacheTtlMs: 0, signed: false, class: "read", required: [] },
    ],
    healthCheck: "server_time",
    statusOperation: null,
  statusFeed: null,
  },
});

beforeEach(() => Object.values(api).forEach((f) => f.mockReset()));

describe("providers page", () => {
  it("lists exchanges and market data and shows the first provider", async () => {
    const b = summary("binance");
    api.list.mockResolvedValue([b, summary("coingecko", { kind: "market_data", authScheme: "api_key_header" })]);
    api.get.mockResolvedValue(detail(b));
    render(<Providers />);
    await waitFor(() => expect(screen.getByTestId("provider-title").textContent).toBe("Binance"));
    expect(screen.getByText("Exchanges")).toBeTruthy();
    expect(screen.getByText("Market data")).toBeTruthy();
    expect(screen.getByTestId("provider-row-coingecko").textContent).toContain("api_key_header");
  });

  it("saves only the changed field and shows the core's validation error", async () => {
    const b = summary("binance");
    api.list.mockResolvedValue([b]);
    api.get.mockResolvedValue(detail(b));
    api.applySettings.mockRejectedValueOnce(new IpcError("invalidSpec", 'provider "binance": timeout_ms -5 is not a whole number from 0 to 18446744073709551615'));
    render(<Providers />);
    const timeout = (await screen.findByTestId("timeout")) as HTMLInputElement;
    fireEvent.input(timeout, { target: { value: "-5" } });
    fireEvent.click(screen.getByTestId("provider-save"));
    await waitFor(() => expect(screen.getByTestId("provider-error").textContent).toContain("timeout_ms -5"));
    expect(api.applySettings).toHaveBeenCalledWith("binance", { timeoutMs: -5, baseUrls: {}, endpoints: {} });
    expect(timeout.className).toContain("invalid");

    api.applySettings.mockResolvedValueOnce(detail(b, 5000));
    fireEvent.input(timeout, { target: { value: "5000" } });
    fireEvent.click(screen.getByTestId("provider-save"));
    await waitFor(() => expect(screen.getByTestId("provider-notice").textContent).toBe("Saved 1 change."));
  });

  it("shows test-connection results with latency", async () => {
    const b = summary("binance");
    api.list.mockResolvedValue([b]);
    api.get.mockResolvedValue(detail(b));
    api.test.mockResolvedValue([
      { operation: "server_time", ok: true, status: 200, latencyMs: 42, summary: "server time 2026-01-01T00:00:00.000Z", errorKind: null },
      { operation: "system_status", ok: false, status: null, latencyMs: 3, summary: "binance system_status: no answer", errorKind: "network" },
    ]);
    render(<Providers />);
    fireEvent.click(await screen.findByTestId("provider-test"));
    await waitFor(() => expect(screen.getByTestId("check-server_time").textContent).toContain("42 ms"));
    expect(screen.getByTestId("check-system_status").textContent).toContain("failed");
  });

  it("says why a discontinued provider cannot be used", async () => {
    const ftx = summary("ftx", { discontinued: "Discontinued since 2022-11-11: halted withdrawals" });
    api.list.mockResolvedValue([ftx]);
    api.get.mockResolvedValue(detail(ftx));
    render(<Providers />);
    await waitFor(() => expect(screen.getByTestId("provider-discontinued").textContent).toContain("2022-11-11"));
    expect((screen.getByTestId("provider-test") as HTMLButtonElement).disabled).toBe(true);
  });

  it("adds a custom provider from TOML and shows syntax errors with their line", async () => {
    api.list.mockResolvedValue([]);
    api.importToml.mockRejectedValueOnce(new IpcError("invalidSpec", "provider spec line 3, column 7: expected `=`"));
    render(<Providers />);
    fireEvent.click(await screen.findByTestId("provider-add"));
    fireEvent.click(screen.getByTestId("import-submit"));
    await waitFor(() => expect(screen.getByTestId("import-error").textContent).toContain("line 3, column 7"));
  });

  it("asks before a spec that removes every rate limit is applied, and applies it when confirmed", async () => {
    const b = summary("binance");
    api.list.mockResolvedValue([b]);
    api.get.mockResolvedValue(detail(b));
    const refusal = 'provider "binance": this change removes all 5 of its rate limits (rate_limits = []), so Keyward would send its calls unthrottled';
    api.importToml.mockRejectedValueOnce(new IpcError("confirmationNeeded", refusal));
    api.importToml.mockResolvedValueOnce(detail(b));
    render(<Providers />);
    fireEvent.click(await screen.findByTestId("provider-export"));
    fireEvent.input(screen.getByTestId("provider-toml"), { target: { value: 'id = "binance"\nrate_limits = []' } });
    fireEvent.click(screen.getByTestId("provider-apply-toml"));
    await waitFor(() => expect(screen.getByTestId("provider-error").textContent).toContain("removes all 5 of its rate limits"));
    expect(api.importToml).toHaveBeenLastCalledWith('id = "binance"\nrate_limits = []');
    fireEvent.click(screen.getByTestId("provider-error-confirm"));
    await waitFor(() => expect(screen.getByTestId("provider-notice").textContent).toBe("Spec applied."));
    expect(api.importToml).toHaveBeenLastCalledWith('id = "binance"\nrate_limits = []', true);
  });

  it("offers no confirmation for an ordinary validation error", async () => {
    const b = summary("binance");
    api.list.mockResolvedValue([b]);
    api.get.mockResolvedValue(detail(b));
    api.applySettings.mockRejectedValueOnce(new IpcError("invalidSpec", 'provider "binance": timeout_ms -5 must be positive'));
    render(<Providers />);
    fireEvent.input(await screen.findByTestId("timeout"), { target: { value: "-5" } });
    fireEvent.click(screen.getByTestId("provider-save"));
    await waitFor(() => expect(screen.getByTestId("provider-error").textContent).toContain("timeout_ms -5"));
    expect(screen.queryByTestId("provider-error-confirm")).toBeNull();
  });
});

describe("settings form", () => {
  it("sends a name of digits as text and an endpoint weight as a number", async () => {
    const b = summary("binance");
    api.list.mockResolvedValue([b]);
    api.get.mockResolvedValue(detail(b));
    api.applySettings.mockResolvedValueOnce(detail(b));
    render(<Providers />);
    const name = (await screen.findAllByRole("textbox")).find((i) => (i as HTMLInputElement).value === "Binance")!;
    fireEvent.input(name, { target: { value: "123" } });
    fireEvent.input(screen.getByTestId("endpoint-server_time-weight"), { target: { value: "5" } });
    fireEvent.input(screen.getByTestId("base-url-production"), { target: { value: "http://127.0.0.1:9" } });
    expect(screen.getByTestId("provider-save").textContent).toBe("Save 3 changes");
    fireEvent.click(screen.getByTestId("provider-save"));
    await waitFor(() => expect(screen.getByTestId("provider-notice").textContent).toBe("Saved 3 changes."));
    expect(api.applySettings).toHaveBeenCalledWith("binance", {
      name: "123",
      baseUrls: { production: "http://127.0.0.1:9" },
      endpoints: { server_time: { weight: 5 } },
    });
  });

  it("asks before saved settings remove every rate limit, and saves them when confirmed", async () => {
    const b = summary("binance");
    api.list.mockResolvedValue([b]);
    api.get.mockResolvedValue(detail(b));
    api.applySettings.mockRejectedValueOnce(new IpcError("confirmationNeeded", 'provider "binance": this change removes all 5 of its rate limits'));
    api.applySettings.mockResolvedValueOnce(detail(b, 3000));
    render(<Providers />);
    fireEvent.input(await screen.findByTestId("timeout"), { target: { value: "3000" } });
    fireEvent.click(screen.getByTestId("provider-save"));
    await waitFor(() => expect(screen.getByTestId("provider-error").textContent).toContain("removes all 5"));
    fireEvent.click(screen.getByTestId("provider-error-confirm"));
    await waitFor(() => expect(screen.getByTestId("provider-notice").textContent).toBe("Saved 1 change."));
    expect(api.applySettings).toHaveBeenLastCalledWith("binance", { timeoutMs: 3000, baseUrls: {}, endpoints: {} }, true);
  });

  it("refuses an emptied number field before sending anything, naming it", async () => {
    const b = summary("binance");
    api.list.mockResolvedValue([b]);
    api.get.mockResolvedValue(detail(b));
    render(<Providers />);
    const timeout = (await screen.findByTestId("timeout")) as HTMLInputElement;
    fireEvent.input(timeout, { target: { value: "" } });
    fireEvent.click(screen.getByTestId("provider-save"));
    await waitFor(() => expect(screen.getByTestId("provider-error").textContent).toContain('timeout_ms "" is not a number'));
    expect(api.applySettings).not.toHaveBeenCalled();
    expect(timeout.className).toContain("invalid");
  });

  it("marks only the input whose field the refusal names", () => {
    const message = 'provider "coingecko": auth.header_name is missing; endpoints.ticker.weight 1.5 is not a whole number';
    expect(namesField(message, "auth.header_name")).toBe(true);
    expect(namesField(message, "endpoints.ticker.weight")).toBe(true);
    expect(namesField(message, "name")).toBe(false);
    expect(namesField('timeout_ms "" is not a number', "timeout_ms")).toBe(true);
  });
});
