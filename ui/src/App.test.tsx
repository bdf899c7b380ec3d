import { fireEvent, render, screen, waitFor, within } from "@testing-library/preact";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { App } from "./App";
import { IpcError } from "./ipc";
import { ROUTES, routeFromHash } from "./routes";

const appInfo = vi.fn();
const overviewGet = vi.fn();
const guideGet = vi.fn();
vi.mock("./ipc", async (orig) => {
  const real = await orig<typeof import("./ipc")>();
  return {
    ...real,
    appInfo: () => appInfo(),
    overview: { get: () => overviewGet() },
    setupGuide: { get: () => guideGet(), set: () => guideGet() },
    autostart: { get: () => Promise.resolve(false), set: (v: boolean) => Promise.resolve(v) },
    limitSettings: { get: () => new Promise(() => undefined), set: () => new Promise(() => undefined) },
    providers: { ...real.providers, list: () => Promise.resolve([]) },
    keys: { ...real.keys, list: () => Promise.resolve([]) },
    vault: { ...real.vault, status: () => new Promise(() => undefined) },
    onEvent: () => Promise.resolve(() => undefined),
    monitor: { ...real.monitor, status: () => Promise.resolve([]) },
    alerts: {
      ...real.alerts,
      list: () => Promise.resolve({ open: [], history: [] }),
      rules: () => Promise.resolve([]),
      webhooks: () => Promise.resolve([]),
    },
    limits: { ...real.limits, stream: (onSnapshot: (l: unknown[]) => void) => (onSnapshot([]), () => undefined) },
    audit: {
      ...real.audit,
      options: () => Promise.resolve({ events: [], actors: [] }),
      list: () => Promise.resolve({ rows: [], hasMore: false }),
    },
    gateway: { ...real.gateway, status: () => new Promise(() => undefined) },
    usage: { summary: () => new Promise(() => undefined), chart: () => new Promise(() => undefined) },
  };
});

const INFO = {
  version: "9.8.7",
  dataDir: "/home/trader/.local/share/keyward",
  databasePath: "/home/trader/.local/share/keyward/keyward.db",
  schemaVersion: 3,
  latestSchemaVersion: 3,
  secretBackend: {
    kind: "os-keyring",
    name: "Secret Service (GNOME Keyring, KWallet)",
    available: true,
    detail: "Secrets are kept in the Secret Service.",
  },
  servicesProblem: null as string | null,
};

beforeEach(() => {
  window.location.hash = "";
  appInfo.mockReset();
  overviewGet.mockReset();
  guideGet.mockReset();
  guideGet.mockResolvedValue(GUIDE());
  appInfo.mockResolvedValue(INFO);
});
afterEach(() => vi.restoreAllMocks());

const OVERVIEW = {
  generatedAt: "2026-12-06T10:00:00Z",
  overall: "critical",
  headline: "Kraken is down",
  providers: [
    { id: "kraken", name: "Kraken", environment: "production", state: "down", cause: "timeouts", latencyMs: null, uptime24h: 91.5 },
    { id: "binance", name: "Binance", environment: "production", state: "up", cause: "", latencyMs: 42, uptime24h: 100 },
  ],
  limits: [
    {
      provider: "binance", limitId: "request_weight", kind: "fixed_window", scope: "ip", scopeKey: "ip", used: 4920, limit: 6000,
      percent: 82, resetsInMs: 1000, queueLen: 0, pausedForMs: null, banned: false, level: "warn", state: "warn",
      fromExchange: false, topOperations: [], topCallers: [],
    },
  ],
  alerts: { open: 2, unacknowledged: 2, worst: "critical", latest: [] },
  today: { calls: 1234, errors: 3, throttled: 1, cost: 0, currency: "USD" },
  keys: {
    total: 2,
    attention: [{ provider: "binance", label: "main", reason: "withdrawals_enabled", message: "withdrawals are enabled on this key" }],
  },
  gateway: { url: "http://127.0.0.1:8787", bots: [] },
};

const GUIDE = (over: Record<string, unknown> = {}) => ({
  steps: ["key", "monitor", "limits", "failover", "usage"].map((id) => ({ id, title: `Step ${id}`, state: "todo", detail: "" })),
  current: "key",
  complete: false,
  dismissed: false,
  seen: true,
  doneCount: 0,
  ...over,
});

describe("dashboard", () => {
  it("answers is everything OK and what needs me, each tile linking to its page", async () => {
    overviewGet.mockResolvedValue(OVERVIEW);
    render(<App />);
    expect(screen.getByTestId("dashboard-loading")).toBeTruthy();
    await waitFor(() => expect(screen.getByTestId("overall-headline").textContent).toBe("Kraken is down"));
    expect(screen.getByTestId("overall").getAttribute("data-state")).toBe("critical");
    expect(screen.getByTestId("tile-provider-kraken").textContent).toContain("down");
    expect(screen.getByTestId("tile-provider-binance").textContent).toContain("42 ms");
    expect(screen.getByTestId("tile-limit-binance-request_weight").textContent).toContain("18 % free");
    expect(screen.getByTestId("tile-alerts-open").textContent).toContain("2");
    expect(screen.getByTestId("tile-today-calls").textContent).toContain("1,234");
    expect(screen.getByTestId("tile-key-withdrawals_enabled").textContent).toContain("binance · main");
    expect(screen.getByTestId("tile-bots").textContent).toContain("http://127.0.0.1:8787");
    // Version and data paths live in Settings → About now.
    expect(screen.queryByTestId("info-version")).toBeNull();
    fireEvent.click(within(screen.getByTestId("tile-limits")).getByRole("button", { name: /Rate limits/ }));
    expect(screen.getByTestId("page-limits")).toBeTruthy();
  });

  it("says what to do first on a fresh install", async () => {
    overviewGet.mockResolvedValue({
      ...OVERVIEW,
      overall: "empty",
      headline: "No provider enabled yet",
      providers: [],
      limits: [],
      alerts: { open: 0, unacknowledged: 0, worst: null, latest: [] },
      keys: { total: 0, attention: [] },
    });
    render(<App />);
    await waitFor(() => expect(screen.getByTestId("overall-headline").textContent).toBe("No provider enabled yet"));
    expect(screen.getByTestId("tile-providers").textContent).toContain("Providers page");
    expect(screen.getByTestId("tile-keys").textContent).toContain("Add your first API key");
    expect(screen.getByTestId("guide-banner").textContent).toContain("0 of 5 steps done");
  });

  it("shows the core's error where the tiles would be", async () => {
    overviewGet.mockRejectedValue(new IpcError("schemaTooNew", "the database has schema version 99"));
    render(<App />);
    await waitFor(() => expect(screen.getByTestId("dashboard-error")).toBeTruthy());
    expect(screen.getByTestId("dashboard-error-message").textContent).toContain("schema version 99");
    expect(screen.getByTestId("dashboard-error").textContent).toContain("schemaTooNew");
  });

  it("opens on the setup guide the first time, and not once it was seen", async () => {
    overviewGet.mockResolvedValue(OVERVIEW);
    guideGet.mockResolvedValue(GUIDE({ seen: false }));
    const { unmount } = render(<App />);
    await waitFor(() => expect(screen.getByTestId("page-setup")).toBeTruthy());
    unmount();
    window.location.hash = "";
    guideGet.mockResolvedValue(GUIDE({ seen: true }));
    render(<App />);
    await waitFor(() => expect(screen.getByTestId("guide-banner").textContent).toContain("Continue setup"));
    expect(screen.getByTestId("page-dashboard")).toBeTruthy();
  });
});

describe("navigation", () => {
  it("opens every page from the sidebar and marks it current", async () => {
    overviewGet.mockResolvedValue(OVERVIEW);
    render(<App />);
    for (const route of ROUTES) {
      fireEvent.click(screen.getByTestId(`nav-${route.id}`));
      expect(screen.getByTestId(`page-${route.id}`)).toBeTruthy();
      expect(screen.getByTestId(`nav-${route.id}`).getAttribute("aria-current")).toBe("page");
      expect(screen.getByRole("heading", { level: 1 }).textContent).toBe(route.label);
    }
  });

  it("starts on the page named in the URL hash", () => {
    window.location.hash = "#/limits";
    appInfo.mockResolvedValue(INFO);
    render(<App />);
    expect(screen.getByTestId("page-limits")).toBeTruthy();
  });

  it("falls back to the dashboard for an unknown hash", () => {
    expect(routeFromHash("#/nope")).toBe("dashboard");
    expect(routeFromHash("")).toBe("dashboard");
    expect(routeFromHash("#/keys")).toBe("keys");
  });
});
