import { act, fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { IpcError, type KeyDto } from "../ipc";
import { Keys, REVEAL_SECONDS } from "./Keys";

const api = vi.hoisted(() => ({
  keys: { list: vi.fn(), add: vi.fn(), reveal: vi.fn(), versions: vi.fn(), check: vi.fn(), rotate: vi.fn(), copy: vi.fn() },
  appInfo: vi.fn(),
  providersList: vi.fn(),
}));
vi.mock("../ipc", async (orig) => {
  const real = await orig<typeof import("../ipc")>();
  return {
    ...real,
    appInfo: () => api.appInfo(),
    keys: { ...real.keys, ...api.keys },
    providers: { ...real.providers, list: () => api.providersList() },
  };
});

const KEY: KeyDto = {
  provider: "binance",
  label: "main",
  environment: "production",
  apiKeyMasked: "••••Bx9Q",
  scopes: ["read", "trade"],
  createdAt: "2026-09-01T00:00:00Z",
  lastUsedAt: null,
  expiresAt: null,
  rotateBy: "2026-11-30T00:00:00Z",
  rotationDays: 90,
  rotationDue: false,
  expired: false,
  ageDays: 85,
  activeVersion: 1,
  hasPassphrase: false,
  permissionsCheckedAt: "2026-11-20T00:00:00Z",
  risks: [{ id: "withdrawals_enabled", message: "withdrawals are enabled on this key" }],
};

beforeEach(() => {
  Object.values(api.keys).forEach((f) => f.mockReset());
  api.appInfo.mockResolvedValue({
    secretBackend: { kind: "os-keyring", name: "Secret Service (GNOME Keyring, KWallet)", available: true, detail: "" },
  });
  api.providersList.mockResolvedValue([]);
  api.keys.versions.mockResolvedValue([
    { version: 1, apiKeyMasked: "••••Bx9Q", active: true, createdAt: "2026-09-01T00:00:00Z", verifiedAt: null, retiredAt: null },
  ]);
});
afterEach(() => vi.useRealTimers());

describe("keys page", () => {
  it("says what to do when there are no keys, and which backend protects them", async () => {
    api.keys.list.mockResolvedValue([]);
    render(<Keys />);
    await waitFor(() => expect(screen.getByTestId("keys-empty").textContent).toContain("Add key"));
    await waitFor(() => expect(screen.getByTestId("key-backend").textContent).toContain("Secret Service"));
  });

  it("lists keys masked with scopes and risk badges", async () => {
    api.keys.list.mockResolvedValue([KEY]);
    render(<Keys />);
    const row = await screen.findByTestId("key-row-binance/main");
    expect(row.textContent).toContain("••••Bx9Q");
    expect(row.textContent).toContain("trade");
    expect(screen.getByTestId("risk-withdrawals_enabled")).toBeTruthy();
  });

  it("reveals only after confirmation and hides the secret again after 20 seconds", async () => {
    api.keys.list.mockResolvedValue([KEY]);
    api.keys.reveal.mockResolvedValue("s3cr3t-value");
    render(<Keys />);
    fireEvent.click(await screen.findByTestId("key-row-binance/main"));
    vi.useFakeTimers();
    fireEvent.click(screen.getByTestId("key-reveal"));
    expect(api.keys.reveal).not.toHaveBeenCalled();
    fireEvent.click(screen.getByTestId("reveal-confirm-yes"));
    await act(async () => {
      await Promise.resolve();
    });
    expect(screen.getByTestId("key-secret").textContent).toContain("s3cr3t-value");
    await act(async () => {
      vi.advanceTimersByTime((REVEAL_SECONDS - 1) * 1000);
    });
    expect(screen.queryByTestId("key-secret")).toBeTruthy();
    await act(async () => {
      vi.advanceTimersByTime(1500);
    });
    expect(screen.queryByTestId("key-secret")).toBeNull();
  });

  it("shows why adding a key failed, next to the form", async () => {
    api.keys.list.mockResolvedValue([]);
    api.providersList.mockResolvedValue([
      { id: "binance", name: "Binance", kind: "exchange", origin: "preset", enabled: false, environment: "production", environments: [], authScheme: "binance_hmac", operations: [], discontinued: null, docsUrl: null },
    ]);
    api.keys.add.mockRejectedValue(new IpcError("duplicate", 'provider "binance" already has a key labelled "main"'));
    render(<Keys />);
    fireEvent.click(await screen.findByTestId("key-add"));
    await waitFor(() => expect((screen.getByTestId("add-key-provider") as HTMLSelectElement).value).toBe("binance"));
    fireEvent.click(screen.getByTestId("add-key-submit"));
    await waitFor(() => expect(screen.getByTestId("add-key-error").textContent).toContain("already has a key"));
    expect(api.keys.add.mock.calls[0][0]).toMatchObject({ provider: "binance", scopes: ["read"] });
  });

  it("a rejected rotation says the key still uses the old version", async () => {
    api.keys.list.mockResolvedValue([KEY]);
    api.keys.rotate.mockRejectedValue(new IpcError("http", "the exchange did not accept the new secret, so the key still uses version 1: HTTP 401"));
    render(<Keys />);
    fireEvent.click(await screen.findByTestId("key-row-binance/main"));
    fireEvent.click(screen.getByTestId("key-rotate"));
    fireEvent.input(screen.getByTestId("rotate-secret"), { target: { value: "new" } });
    fireEvent.click(screen.getByTestId("rotate-submit"));
    await waitFor(() => expect(screen.getByTestId("rotate-error").textContent).toContain("still uses version 1"));
    expect(api.keys.rotate.mock.calls[0][0]).toMatchObject({ provider: "binance", label: "main", secret: "new", verify: true });
  });
});
