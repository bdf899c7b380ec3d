import { act, fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { IpcError, type KeyView } from "../ipc";
import { Keys, REVEAL_SECONDS } from "./Keys";

const api = vi.hoisted(() => ({
  keys: {
    list: vi.fn(),
    add: vi.fn(),
    reveal: vi.fn(),
    versions: vi.fn(),
    check: vi.fn(),
    rotate: vi.fn(),
    copy: vi.fn(),
    backupDefaultPath: vi.fn(),
    exportBackup: vi.fn(),
    importBackup: vi.fn(),
  },
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

const KEY: KeyView = {
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
  api.keys.backupDefaultPath.mockResolvedValue("/home/trader/keyward-keys-2026-11-25.kwbackup");
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

  it("opens the detail of a key just added, once the list shows it", async () => {
    let listed: (v: KeyView[]) => void = () => undefined;
    api.keys.list.mockResolvedValueOnce([]).mockReturnValueOnce(new Promise((r) => (listed = r)));
    api.providersList.mockResolvedValue([
      { id: "binance", name: "Binance", kind: "exchange", origin: "preset", enabled: false, environment: "production", environments: [], authScheme: "binance_hmac", operations: [], discontinued: null, docsUrl: null },
    ]);
    api.keys.add.mockResolvedValue(KEY);
    render(<Keys />);
    fireEvent.click(await screen.findByTestId("key-add"));
    await waitFor(() => expect((screen.getByTestId("add-key-provider") as HTMLSelectElement).value).toBe("binance"));
    fireEvent.click(screen.getByTestId("add-key-submit"));
    await waitFor(() => expect(api.keys.list).toHaveBeenCalledTimes(2));
    expect(screen.queryByTestId("add-key-panel")).toBeNull();
    await act(async () => listed([KEY]));
    expect(screen.getByTestId("key-detail")).toBeTruthy();
    expect(screen.getByTestId("key-row-binance/main").className).toContain("open");
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

  it("after a rotation the versions list shows the new active version while the dialog still says so", async () => {
    api.keys.list.mockResolvedValue([KEY]);
    const v1 = { version: 1, apiKeyMasked: "••••Bx9Q", createdAt: "2026-09-01T00:00:00Z", verifiedAt: null, retiredAt: null };
    api.keys.rotate.mockImplementation(async () => {
      api.keys.versions.mockResolvedValue([
        { ...v1, version: 2, active: true, verifiedAt: "2026-11-25T00:00:00Z" },
        { ...v1, active: false },
      ]);
      return { key: { ...KEY, activeVersion: 2 }, previousVersion: 1, verified: true };
    });
    render(<Keys />);
    fireEvent.click(await screen.findByTestId("key-row-binance/main"));
    fireEvent.click(screen.getByTestId("key-rotate"));
    fireEvent.input(screen.getByTestId("rotate-secret"), { target: { value: "new" } });
    fireEvent.click(screen.getByTestId("rotate-submit"));
    await waitFor(() => expect(screen.getByTestId("rotate-done").textContent).toContain("version 2"));
    await waitFor(() => expect(screen.getByTestId("key-version-2").textContent).toContain("active"));
    expect(screen.getByTestId("key-version-1").textContent).not.toContain("active");
  });

  it("exports a backup to the suggested file only when both passphrases match", async () => {
    api.keys.list.mockResolvedValue([KEY]);
    let finish: (v: unknown) => void = () => undefined;
    api.keys.exportBackup.mockReturnValue(new Promise((r) => (finish = r)));
    render(<Keys />);
    fireEvent.click(await screen.findByTestId("key-backup"));
    await waitFor(() =>
      expect((screen.getByTestId("backup-export-path") as HTMLInputElement).value).toBe("/home/trader/keyward-keys-2026-11-25.kwbackup"),
    );
    fireEvent.input(screen.getByTestId("backup-export-passphrase"), { target: { value: "correct horse battery" } });
    fireEvent.input(screen.getByTestId("backup-export-confirm"), { target: { value: "correct horse batery" } });
    fireEvent.click(screen.getByTestId("backup-export-submit"));
    expect(screen.getByTestId("backup-export-error").textContent).toContain("do not match");
    expect(api.keys.exportBackup).not.toHaveBeenCalled();

    fireEvent.input(screen.getByTestId("backup-export-confirm"), { target: { value: "correct horse battery" } });
    fireEvent.click(screen.getByTestId("backup-export-submit"));
    expect(api.keys.exportBackup).toHaveBeenCalledWith("/home/trader/keyward-keys-2026-11-25.kwbackup", "correct horse battery");
    expect(screen.queryByTestId("backup-export-error")).toBeNull();
    expect(screen.getByTestId("backup-export-submit").textContent).toContain("Encrypting");
    expect((screen.getByTestId("backup-export-submit") as HTMLButtonElement).disabled).toBe(true);

    await act(async () => finish({ path: "/home/trader/keyward-keys-2026-11-25.kwbackup", exported: 3 }));
    expect(screen.getByTestId("backup-export-result").textContent).toContain("3 keys written to /home/trader/keyward-keys-2026-11-25.kwbackup");
    expect((screen.getByTestId("backup-export-passphrase") as HTMLInputElement).value).toBe("");
    expect((screen.getByTestId("backup-import-path") as HTMLInputElement).value).toBe("/home/trader/keyward-keys-2026-11-25.kwbackup");
  });

  it("shows the core's refusal next to the export form", async () => {
    api.keys.list.mockResolvedValue([KEY]);
    api.keys.exportBackup.mockRejectedValue(new IpcError("invalid", "passphrase: a backup passphrase needs at least 8 characters (this one has 5)"));
    render(<Keys />);
    fireEvent.click(await screen.findByTestId("key-backup"));
    fireEvent.input(screen.getByTestId("backup-export-passphrase"), { target: { value: "short" } });
    fireEvent.input(screen.getByTestId("backup-export-confirm"), { target: { value: "short" } });
    await waitFor(() => expect((screen.getByTestId("backup-export-path") as HTMLInputElement).value).not.toBe(""));
    fireEvent.click(screen.getByTestId("backup-export-submit"));
    await waitFor(() => expect(screen.getByTestId("backup-export-error").textContent).toContain("at least 8 characters"));
    expect(screen.queryByTestId("backup-export-result")).toBeNull();
  });

  it("imports a backup, says what was imported and skipped, and lists the keys again", async () => {
    api.keys.list.mockResolvedValueOnce([]).mockResolvedValue([KEY]);
    api.keys.importBackup
      .mockRejectedValueOnce(new IpcError("wrongPassphrase", "wrong passphrase for the backup /media/usb/keys.kwbackup; nothing was imported"))
      .mockResolvedValueOnce({ path: "/media/usb/keys.kwbackup", imported: ["binance/main"], skipped: ["kraken/bot"] });
    render(<Keys />);
    await screen.findByTestId("keys-empty");
    fireEvent.click(screen.getByTestId("key-backup"));
    fireEvent.input(screen.getByTestId("backup-import-path"), { target: { value: "/media/usb/keys.kwbackup" } });
    fireEvent.input(screen.getByTestId("backup-import-passphrase"), { target: { value: "not it" } });
    fireEvent.click(screen.getByTestId("backup-import-submit"));
    expect(screen.getByTestId("backup-import-submit").textContent).toContain("Decrypting");
    await waitFor(() => expect(screen.getByTestId("backup-import-error").textContent).toContain("wrong passphrase"));
    expect(api.keys.list).toHaveBeenCalledTimes(1);

    fireEvent.input(screen.getByTestId("backup-import-passphrase"), { target: { value: "correct horse battery" } });
    fireEvent.click(screen.getByTestId("backup-import-submit"));
    const result = await screen.findByTestId("backup-import-result");
    expect(result.textContent).toContain("Imported 1 key: binance/main");
    expect(result.textContent).toContain("Skipped 1 key already here: kraken/bot");
    expect(screen.queryByTestId("backup-import-error")).toBeNull();
    expect(api.keys.importBackup).toHaveBeenLastCalledWith("/media/usb/keys.kwbackup", "correct horse battery");
    await screen.findByTestId("key-row-binance/main");
  });
});
