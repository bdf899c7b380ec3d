import { fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { IpcError, type CallReply, type FailoverGroup, type ProviderView } from "../ipc";
import { Failover, staleAge } from "./Failover";

const api = vi.hoisted(() => ({ list: vi.fn(), save: vi.fn(), remove: vi.fn(), call: vi.fn(), providers: vi.fn() }));
vi.mock("../ipc", async (orig) => {
  const real = await orig<typeof import("../ipc")>();
  return {
    ...real,
    groups: { list: api.list, save: api.save, remove: api.remove, call: api.call },
    providers: { ...real.providers, list: api.providers },
  };
});

const provider = (id: string, name: string, enabled = true): ProviderView => ({
  id,
  name,
  kind: "exchange",
  origin: "preset",
  enabled,
  environment: "production",
  environments: [],
  authScheme: "none",
  operations: ["ticker"],
  discontinued: null,
  docsUrl: null,
});

const GROUP: FailoverGroup = { name: "BTC price", members: ["binance", "kraken"] };

const reply = (over: Partial<CallReply> = {}): CallReply => ({
  provider: "kraken",
  environment: "production",
  operation: "ticker",
  status: 200,
  attempts: 1,
  latencyMs: 42,
  fromCache: false,
  staleAgeMs: null,
  staleBecause: null,
  route: [
    { provider: "binance", outcome: "skipped", detail: "circuit breaker open (5 failures in a row: HTTP 503)" },
    { provider: "kraken", outcome: "answered", detail: "pair=XBTUSDT" },
  ],
  result: {},
  text: "bid 101.0 ask 101.5 last 101.2",
  raw: {},
  ...over,
});

beforeEach(() => {
  vi.clearAllMocks();
  api.providers.mockResolvedValue([provider("binance", "Binance"), provider("kraken", "Kraken"), provider("okx", "OKX", false)]);
});

describe("failover page", () => {
  it("says what a group is for and how to make one when there is none", async () => {
    api.list.mockResolvedValue([]);
    render(<Failover />);
    expect((await screen.findByTestId("groups-empty")).textContent).toContain("New group");
  });

  it("creates a group from providers in the chosen order", async () => {
    api.list.mockResolvedValueOnce([]).mockResolvedValueOnce([GROUP]);
    api.save.mockResolvedValue(GROUP);
    render(<Failover />);
    fireEvent.click(await screen.findByTestId("group-new"));
    fireEvent.input(screen.getByTestId("group-name"), { target: { value: "BTC price" } });
    const add = screen.getByTestId("group-add-member") as HTMLSelectElement;
    await waitFor(() => expect(add.options.length).toBe(4));
    fireEvent.change(add, { target: { value: "kraken" } });
    fireEvent.change(add, { target: { value: "binance" } });
    fireEvent.click(screen.getByLabelText("Move binance up"));
    fireEvent.click(screen.getByTestId("group-save"));
    await waitFor(() => expect(api.save).toHaveBeenCalledWith({ name: "BTC price", members: ["binance", "kraken"] }));
    expect((await screen.findByTestId("group-order-btc-price")).textContent).toBe("Binance → Kraken");
  });

  it("shows a refused save next to the form", async () => {
    api.list.mockResolvedValue([]);
    api.save.mockRejectedValue(new IpcError("invalid", 'failover group members "binance" needs at least two providers to fail over between'));
    render(<Failover />);
    fireEvent.click(await screen.findByTestId("group-new"));
    fireEvent.click(screen.getByTestId("group-save"));
    expect((await screen.findByTestId("group-save-error")).textContent).toContain("at least two providers");
  });

  it("tries a group and shows who answered, the route and a stale answer", async () => {
    api.list.mockResolvedValue([GROUP]);
    api.call.mockResolvedValueOnce(reply());
    render(<Failover />);
    fireEvent.click(await screen.findByTestId("group-try-btc-price"));
    await waitFor(() => expect(api.call).toHaveBeenCalledWith("BTC price", "ticker", "BTC/USDT"));
    expect((await screen.findByTestId("group-answered-btc-price")).textContent).toBe("kraken");
    const route = screen.getByTestId("group-route-btc-price").textContent ?? "";
    expect(route).toContain("skipped");
    expect(route).toContain("circuit breaker open");
    expect(route).toContain("pair=XBTUSDT");

    api.call.mockResolvedValueOnce(reply({ staleAgeMs: 42_000, staleBecause: "binance ticker: HTTP 503", fromCache: true }));
    fireEvent.click(screen.getByTestId("group-try-btc-price"));
    expect((await screen.findByTestId("group-stale-btc-price")).textContent).toBe("stale · 42 s old");
  });

  it("shows why an order cannot go through a group, where it was tried", async () => {
    api.list.mockResolvedValue([GROUP]);
    api.call.mockRejectedValue(new IpcError("notAllowed", "place_order is an order or a withdrawal: it never fails over to another exchange"));
    render(<Failover />);
    fireEvent.input(await screen.findByTestId("group-op-btc-price"), { target: { value: "place_order" } });
    fireEvent.click(screen.getByTestId("group-try-btc-price"));
    await waitFor(() => expect(api.call).toHaveBeenCalledWith("BTC price", "place_order", "BTC/USDT"));
    expect((await screen.findByTestId("group-try-error-btc-price")).textContent).toContain("never fails over");
  });

  it("formats stale ages", () => {
    expect(staleAge(42_000)).toBe("42 s");
    expect(staleAge(180_000)).toBe("3 min");
  });
});
