import { act, fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { IpcError, type LimitView, type ProviderView } from "../ipc";
import { RateLimits } from "./RateLimits";

type OnSnapshot = (l: LimitView[]) => void;

const api = vi.hoisted(() => ({
  stream: vi.fn(),
  stop: vi.fn(),
  breakdown: vi.fn(),
  providersList: vi.fn(),
}));
vi.mock("../ipc", async (orig) => {
  const real = await orig<typeof import("../ipc")>();
  return {
    ...real,
    limits: { ...real.limits, stream: api.stream, breakdown: api.breakdown },
    providers: { ...real.providers, list: () => api.providersList() },
  };
});

const provider = (id: string, enabled: boolean): ProviderView => ({
  id,
  name: id[0].toUpperCase() + id.slice(1),
  kind: "exchange",
  origin: "preset",
  enabled,
  environment: "production",
  environments: [],
  authScheme: "binance_hmac",
  operations: [],
  discontinued: null,
  docsUrl: null,
});

const limit = (over: Partial<LimitView> = {}): LimitView => ({
  provider: "binance",
  limitId: "request_weight",
  kind: "fixed_window",
  scope: "ip",
  scopeKey: "ip",
  used: 0,
  limit: 6000,
  percent: 0,
  resetsInMs: null,
  queueLen: 0,
  pausedForMs: null,
  banned: false,
  level: "normal",
  state: "normal",
  fromExchange: false,
  shared: false,
  topOperations: [],
  topCallers: [],
  ...over,
});

/** Renders the page and returns the handler the page gave the stream, to push snapshots. */
async function renderStreaming(): Promise<OnSnapshot & { unmount: () => void }> {
  let push: OnSnapshot = () => undefined;
  api.stream.mockImplementation((onSnapshot: OnSnapshot) => {
    push = onSnapshot;
    return api.stop;
  });
  const { unmount } = render(<RateLimits />);
  await waitFor(() => expect(api.stream).toHaveBeenCalledTimes(1));
  return Object.assign((l: LimitView[]) => act(() => push(l)), { unmount });
}

beforeEach(() => {
  Object.values(api).forEach((f) => f.mockReset());
  api.providersList.mockResolvedValue([provider("binance", true)]);
});

describe("rate limits page", () => {
  it("says which limits follow what the exchange publishes", async () => {
    const push = await renderStreaming();
    push([
      limit({ limit: 1200, fromExchange: true }),
      limit({ limitId: "sapi_ip_weight", limit: 12000 }),
    ]);
    const published = await screen.findByTestId("gauge-published-binance-request_weight-ip");
    expect(published.textContent).toBe("from the exchange");
    expect(screen.getByTestId("gauge-used-binance-request_weight-ip").textContent).toContain("0 / 1,200");
    expect(screen.queryByTestId("gauge-published-binance-sapi_ip_weight-ip")).toBeNull();
  });

  it("tells the user to enable a provider when none is", async () => {
    api.providersList.mockResolvedValue([provider("binance", false)]);
    const push = await renderStreaming();
    push([]);
    await waitFor(() => expect(screen.getByTestId("limits-empty").textContent).toContain("No provider is enabled"));
    expect(screen.getByTestId("limits-empty").textContent).toContain("Providers page");
    expect(screen.getByRole("link", { name: "Providers page" }).getAttribute("href")).toBe("#/providers");
  });

  it("updates the gauges from each streamed snapshot, counting down to the next window", async () => {
    const push = await renderStreaming();
    push([limit({ used: 12, percent: 0.2, resetsInMs: 42_000 })]);
    const used = await screen.findByTestId("gauge-used-binance-request_weight-ip");
    expect(used.textContent).toContain("12 / 6,000");
    expect(screen.getByTestId("gauge-reset-binance-request_weight-ip").textContent).toBe("resets in 42 s");
    expect(screen.getByTestId("limits-provider-binance").textContent).toContain("Binance");

    push([limit({ used: 4950, percent: 82.5, resetsInMs: 41_500, queueLen: 3, level: "warn", state: "warn" })]);
    expect(used.textContent).toContain("4,950 / 6,000");
    expect(used.textContent).toContain("83 %");
    expect(screen.getByTestId("gauge-reset-binance-request_weight-ip").textContent).toBe("resets in 42 s");
    expect(screen.getByTestId("gauge-queue-binance-request_weight-ip").textContent).toBe("3 queued");
    const gauge = screen.getByTestId("gauge-binance-request_weight-ip");
    expect(gauge.getAttribute("data-state")).toBe("warn");
    expect(gauge.querySelector<HTMLElement>(".gauge-fill")?.style.width).toBe("82.5%");

    push([limit({ used: 5800, percent: 96.7, resetsInMs: 3_000, level: "critical", state: "critical" })]);
    expect(gauge.getAttribute("data-state")).toBe("critical");
    expect(screen.getByTestId("gauge-reset-binance-request_weight-ip").textContent).toBe("resets in 3 s");
  });

  it("shows a paused or banned provider in red with the time left", async () => {
    const push = await renderStreaming();
    push([limit({ used: 6000, percent: 100, pausedForMs: 125_000, banned: true, level: "critical", state: "banned" })]);
    await waitFor(() => expect(screen.getByTestId("limits-held-binance").textContent).toContain("2 min 05 s"));
    expect(screen.getByTestId("limits-held-binance").textContent).toContain("banned");
    expect(screen.getByTestId("gauge-binance-request_weight-ip").getAttribute("data-state")).toBe("banned");
    expect(screen.getByTestId("gauge-reset-binance-request_weight-ip").textContent).toBe("banned 2 min 05 s");
  });

  it("shows which endpoints, callers and keys spent a limit when it is clicked", async () => {
    api.breakdown.mockResolvedValue([
      {
        provider: "binance",
        limitId: "request_weight",
        scopeKey: "ip",
        byOperation: [
          { name: "balances", amount: 40 },
          { name: "server_time", amount: 3 },
        ],
        byKey: [
          { name: "main", amount: 40 },
          { name: "(no key)", amount: 3 },
        ],
        byCaller: [
          { name: "cli", amount: 40 },
          { name: "monitor", amount: 3 },
        ],
      },
    ]);
    const push = await renderStreaming();
    push([limit({ used: 43, percent: 0.7, resetsInMs: 10_000 })]);
    fireEvent.click((await screen.findByTestId("gauge-binance-request_weight-ip")).querySelector("button")!);
    await waitFor(() => expect(screen.getByTestId("breakdown-ops").textContent).toContain("balances"));
    expect(api.breakdown).toHaveBeenCalledWith("binance", "request_weight");
    expect(screen.getByTestId("breakdown-ops").textContent).toContain("40");
    expect(screen.getByTestId("breakdown-keys").textContent).toContain("(no key)");
    expect(screen.getByTestId("breakdown-callers").textContent).toContain("cli");
    expect(screen.getByTestId("breakdown-callers").textContent).toContain("monitor");

    // More spending refreshes the breakdown; a window reset alone does not.
    push([limit({ used: 44, percent: 0.7, resetsInMs: 9_500 })]);
    await waitFor(() => expect(api.breakdown).toHaveBeenCalledTimes(2));
    push([limit({ used: 0, percent: 0, resetsInMs: 60_000 })]);
    expect(api.breakdown).toHaveBeenCalledTimes(2);
  });

  it("stops the stream when the page is left", async () => {
    const page = await renderStreaming();
    expect(api.stop).not.toHaveBeenCalled();
    page.unmount();
    expect(api.stop).toHaveBeenCalledTimes(1);
  });

  it("pauses the stream while the window is hidden and resumes it when shown", async () => {
    await renderStreaming();
    const hidden = vi.spyOn(document, "hidden", "get");
    hidden.mockReturnValue(true);
    document.dispatchEvent(new Event("visibilitychange"));
    expect(api.stop).toHaveBeenCalledTimes(1);
    hidden.mockReturnValue(false);
    document.dispatchEvent(new Event("visibilitychange"));
    expect(api.stream).toHaveBeenCalledTimes(2);
    hidden.mockRestore();
  });

  it("shows why the stream could not start", async () => {
    api.stream.mockImplementation((_: OnSnapshot, onError: (e: IpcError) => void) => {
      onError(new IpcError("storage", "could not read the provider catalog"));
      return api.stop;
    });
    render(<RateLimits />);
    await waitFor(() => expect(screen.getByTestId("limits-error").textContent).toContain("provider catalog"));
  });
});
