import { fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { App } from "./App";
import { IpcError } from "./ipc";
import { ROUTES, routeFromHash } from "./routes";

const appInfo = vi.fn();
vi.mock("./ipc", async (orig) => {
  const real = await orig<typeof import("./ipc")>();
  return {
    ...real,
    appInfo: () => appInfo(),
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
});
afterEach(() => vi.restoreAllMocks());

describe("dashboard", () => {
  it("shows the values the core returns", async () => {
    appInfo.mockResolvedValue(INFO);
    render(<App />);
    expect(screen.getByTestId("dashboard-loading")).toBeTruthy();
    await waitFor(() => expect(screen.getByTestId("info-version").textContent).toBe("9.8.7"));
    expect(screen.queryByTestId("info-services-problem")).toBeNull();
    expect(screen.getByTestId("info-schema").textContent).toBe("v3");
    expect(screen.getByTestId("info-data-dir").textContent).toBe(INFO.dataDir);
    expect(screen.getByTestId("info-backend").textContent).toBe(INFO.secretBackend.name);
    expect(screen.getByTestId("info-backend-state").textContent).toBe("available");
  });

  it("says when monitoring runs in another Keyward on the same data directory", async () => {
    const problem = "keyward serve (pid 4242) is already running on /data; stop it first";
    appInfo.mockResolvedValue({ ...INFO, servicesProblem: problem });
    render(<App />);
    await waitFor(() => expect(screen.getByTestId("info-services-problem").textContent).toContain("pid 4242"));
  });

  it("says when the secret backend is unreachable", async () => {
    appInfo.mockResolvedValue({ ...INFO, secretBackend: { ...INFO.secretBackend, available: false } });
    render(<App />);
    await waitFor(() => expect(screen.getByTestId("info-backend-state").textContent).toBe("unavailable"));
  });

  it("shows the core's error where the values would be", async () => {
    appInfo.mockRejectedValue(new IpcError("schemaTooNew", "the database has schema version 99"));
    render(<App />);
    await waitFor(() => expect(screen.getByTestId("dashboard-error")).toBeTruthy());
    expect(screen.getByTestId("dashboard-error-message").textContent).toContain("schema version 99");
    expect(screen.getByTestId("dashboard-error").textContent).toContain("schemaTooNew");
  });
});

describe("navigation", () => {
  it("opens every page from the sidebar and marks it current", async () => {
    appInfo.mockResolvedValue(INFO);
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
