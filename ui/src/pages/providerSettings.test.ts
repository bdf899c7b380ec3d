import { describe, expect, it } from "vitest";
import { IpcError, type ProviderSettingsDto } from "../ipc";
import { buildChange, formOf } from "./providerSettings";

const settings: ProviderSettingsDto = {
  name: "Binance",
  defaultEnvironment: "production",
  timeoutMs: 10000,
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
  authScheme: "binance_hmac",
  authHeaderName: null,
  authQueryParam: null,
  authRecvWindowMs: 5000,
  authKeyVersion: null,
  authPassphraseRequired: false,
  headers: [],
  endpoints: [
    { operation: "ticker", method: "GET", path: "/api/v3/ticker", body: "query", weight: 2, cost: 0, cacheTtlMs: 0, signed: false, class: "read", required: [] },
  ],
  healthCheck: "ticker",
  statusOperation: null,
  statusFeed: null,
};
const loaded = formOf(settings, [
  { name: "production", baseUrl: "https://api.binance.com" },
  { name: "testnet", baseUrl: "https://testnet.binance.vision" },
]);

describe("buildChange", () => {
  it("sets, trims and removes the status feed URL", () => {
    const set = buildChange(loaded, { ...loaded, statusFeed: " https://status.kraken.com/api/v2/summary.json " });
    expect(set).toEqual({
      count: 1,
      change: { statusFeed: "https://status.kraken.com/api/v2/summary.json", baseUrls: {}, endpoints: {} },
    });
    const withFeed = formOf({ ...settings, statusFeed: "https://status.kraken.com/api/v2/summary.json" }, []);
    expect(withFeed.statusFeed).toBe("https://status.kraken.com/api/v2/summary.json");
    expect(buildChange(withFeed, { ...withFeed, statusFeed: "" }).change).toEqual({
      statusFeed: null,
      baseUrls: {},
      endpoints: {},
    });
  });

  it("sends nothing when nothing was edited", () => {
    expect(buildChange(loaded, loaded)).toEqual({ count: 0, change: { baseUrls: {}, endpoints: {} } });
  });

  it("keeps a name of digits as text and sends numbers as numbers", () => {
    const edited = {
      ...loaded,
      name: "123",
      timeoutMs: "2500",
      baseUrls: { ...loaded.baseUrls, testnet: "http://127.0.0.1:9" },
      endpoints: { ticker: { ...loaded.endpoints.ticker, weight: "7", path: "/api/v3/ticker/price" } },
    };
    expect(buildChange(loaded, edited)).toEqual({
      count: 5,
      change: {
        name: "123",
        timeoutMs: 2500,
        baseUrls: { testnet: "http://127.0.0.1:9" },
        endpoints: { ticker: { weight: 7, path: "/api/v3/ticker/price" } },
      },
    });
  });

  it("clears an optional field the user emptied, and sets one the user filled", () => {
    const edited = { ...loaded, authRecvWindowMs: "", authHeaderName: "X-KEY" };
    expect(buildChange(loaded, edited).change).toEqual({ authRecvWindowMs: null, authHeaderName: "X-KEY", baseUrls: {}, endpoints: {} });
  });

  it("leaves ranges to the core but refuses text that is no number, naming the field and the value", () => {
    const negative = buildChange(loaded, { ...loaded, timeoutMs: "-5" });
    expect(negative.change).toEqual({ timeoutMs: -5, baseUrls: {}, endpoints: {} });
    const blank = buildChange(loaded, { ...loaded, endpoints: { ticker: { ...loaded.endpoints.ticker, weight: " " } } });
    expect(blank.count).toBe(1);
    expect(blank.change).toBeInstanceOf(IpcError);
    expect((blank.change as IpcError).message).toBe('endpoints.ticker.weight " " is not a number');
  });
});

describe("retry per endpoint class", () => {
  it("sets a class's attempts as a number and clears it when emptied", () => {
    const before = { ...formOf(settings, []), retryTradeMaxAttempts: "1" };
    const after = { ...before, retryReadMaxAttempts: "5", retryTradeMaxAttempts: "" };
    expect(buildChange(before, after).change).toEqual({
      retryReadMaxAttempts: 5,
      retryTradeMaxAttempts: null,
      baseUrls: {},
      endpoints: {},
    });
  });
});

describe("breaker settings", () => {
  it("sends only the breaker fields that changed, as numbers", () => {
    const before = formOf(settings, []);
    const after = { ...before, breakerConsecutiveFailures: "8", staleIfErrorMs: "60000" };
    expect(buildChange(before, after)).toEqual({
      count: 2,
      change: { breakerConsecutiveFailures: 8, staleIfErrorMs: 60000, baseUrls: {}, endpoints: {} },
    });
  });
});
