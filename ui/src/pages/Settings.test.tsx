import { fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { IpcError, type VaultStatus } from "../ipc";
import { Settings } from "./Settings";

const api = vi.hoisted(() => ({ status: vi.fn(), unlock: vi.fn(), lock: vi.fn(), init: vi.fn() }));
const history = vi.hoisted(() => ({ retention: vi.fn(), setRetention: vi.fn() }));
const more = vi.hoisted(() => ({
  appInfo: vi.fn(),
  autostartGet: vi.fn(),
  autostartSet: vi.fn(),
  limitsGet: vi.fn(),
  limitsSet: vi.fn(),
}));
vi.mock("../ipc", async (orig) => {
  const real = await orig<typeof import("../ipc")>();
  return {
    ...real,
    vault: api,
    usage: { ...real.usage, ...history },
    appInfo: () => more.appInfo(),
    autostart: { get: () => more.autostartGet(), set: (v: boolean) => more.autostartSet(v) },
    limitSettings: { get: () => more.limitsGet(), set: (s: unknown) => more.limitsSet(s) },
    metrics: { ...real.metrics, status: () => new Promise(() => undefined) },
  };
});

const INFO = {
  version: "9.8.7",
  dataDir: "/home/trader/.local/share/keyward",
  databasePath: "/home/trader/.local/share/keyward/keyward.db",
  schemaVersion: 15,
  latestSchemaVersion: 15,
  secretBackend: { kind: "os-keyring", name: "Secret Service (GNOME Keyring, KWallet)", available: true, detail: "" },
  secretBackendReason: "",
  servicesProblem: null as string | null,
};

const FILE: VaultStatus = {
  backend: "encrypted-file",
  name: "Encrypted vault file (/data/vault.kwv)",
  available: true,
  detail: "Locked.",
  reason: "The OS credential store is not available",
  dataDir: "/data",
  logDir: "/data/logs",
  file: { path: "/data/vault.kwv", exists: true, unlocked: false, unlockedUntil: null },
};

beforeEach(() => {
  Object.values(api).forEach((f) => f.mockReset());
  Object.values(history).forEach((f) => f.mockReset());
  history.retention.mockResolvedValue(3);
  Object.values(more).forEach((f) => f.mockReset());
  more.appInfo.mockResolvedValue(INFO);
  more.autostartGet.mockResolvedValue(false);
  more.limitsGet.mockResolvedValue({ marginPct: 2, warnPct: 80, criticalPct: 95 });
});

describe("settings page", () => {
  it("names the OS store when it protects the keys and offers no unlock", async () => {
    api.status.mockResolvedValue({ ...FILE, backend: "os-keyring", name: "Secret Service (GNOME Keyring, KWallet)", file: null });
    render(<Settings />);
    await waitFor(() => expect(screen.getByTestId("vault-name").textContent).toContain("Secret Service"));
    expect(screen.queryByTestId("vault-unlock")).toBeNull();
  });

  it("unlocks the vault file and shows a wrong passphrase where it was typed", async () => {
    api.status.mockResolvedValue(FILE);
    api.unlock.mockRejectedValueOnce(new IpcError("wrongPassphrase", "the passphrase is wrong"));
    render(<Settings />);
    fireEvent.input(await screen.findByTestId("vault-passphrase"), { target: { value: "nope-nope" } });
    fireEvent.click(screen.getByTestId("vault-unlock-submit"));
    await waitFor(() => expect(screen.getByTestId("vault-error").textContent).toContain("wrong"));
    api.unlock.mockResolvedValueOnce({ ...FILE, file: { ...FILE.file!, unlocked: true, unlockedUntil: "2026-11-25T14:00:00Z" } });
    fireEvent.input(screen.getByTestId("vault-passphrase"), { target: { value: "right-one" } });
    fireEvent.click(screen.getByTestId("vault-unlock-submit"));
    await waitFor(() => expect(screen.getByTestId("vault-unlocked")).toBeTruthy());
    expect(api.unlock).toHaveBeenLastCalledWith("right-one", 60);
  });
});

describe("usage history", () => {
  it("shows how long every call is kept, saves a new value and shows a refused one", async () => {
    api.status.mockResolvedValue(FILE);
    history.retention.mockResolvedValue(3);
    history.setRetention.mockResolvedValueOnce(14);
    render(<Settings />);
    const input = (await screen.findByTestId("usage-retention")) as HTMLInputElement;
    await waitFor(() => expect(input.value).toBe("3"));
    fireEvent.input(input, { target: { value: "14" } });
    fireEvent.click(screen.getByTestId("usage-retention-save"));
    await waitFor(() => expect(history.setRetention).toHaveBeenCalledWith(14));
    await waitFor(() => expect((screen.getByTestId("usage-retention") as HTMLInputElement).value).toBe("14"));

    history.setRetention.mockRejectedValueOnce(new IpcError("invalid", "raw call retention 0 days: keep raw calls 1 to 400 days"));
    fireEvent.input(screen.getByTestId("usage-retention"), { target: { value: "0" } });
    fireEvent.click(screen.getByTestId("usage-retention-save"));
    await waitFor(() => expect(history.setRetention).toHaveBeenCalledTimes(2));
    expect((await screen.findByTestId("usage-retention-error")).textContent).toContain("0 days");
  });
});

describe("about, startup and rate limits", () => {
  it("shows the version, schema, data directory and backend in About, and why services are off", async () => {
    api.status.mockResolvedValue(FILE);
    more.appInfo.mockResolvedValue({ ...INFO, servicesProblem: "keyward serve (pid 4242) is already running" });
    render(<Settings />);
    await waitFor(() => expect(screen.getByTestId("info-version").textContent).toBe("9.8.7"));
    expect(screen.getByTestId("info-schema").textContent).toContain("v15");
    expect(screen.getByTestId("info-data-dir").textContent).toBe(INFO.dataDir);
    expect(screen.getByTestId("info-backend-state").textContent).toBe("available");
    expect(screen.getByTestId("info-services-problem").textContent).toContain("pid 4242");
    expect(screen.getByTestId("about-card").textContent).toContain("/data/logs");
  });

  it("turns start-at-login on through the OS login item and shows a refusal", async () => {
    api.status.mockResolvedValue(FILE);
    more.autostartSet.mockResolvedValueOnce(true);
    render(<Settings />);
    const toggle = (await screen.findByTestId("autostart-toggle")) as HTMLInputElement;
    await waitFor(() => expect(toggle.disabled).toBe(false));
    fireEvent.click(toggle);
    await waitFor(() => expect(more.autostartSet).toHaveBeenCalledWith(true));
    await waitFor(() => expect((screen.getByTestId("autostart-toggle") as HTMLInputElement).checked).toBe(true));
    more.autostartSet.mockRejectedValueOnce(new IpcError("io", "could not remove the login item: permission denied"));
    fireEvent.click(screen.getByTestId("autostart-toggle"));
    expect((await screen.findByTestId("autostart-error")).textContent).toContain("permission denied");
  });

  it("names a bad level by field and value before sending, and saves a good one", async () => {
    api.status.mockResolvedValue(FILE);
    more.limitsSet.mockImplementation((s: unknown) => Promise.resolve(s));
    render(<Settings />);
    const critical = (await screen.findByTestId("limit-critical")) as HTMLInputElement;
    fireEvent.input(critical, { target: { value: "70" } });
    expect((await screen.findByTestId("limit-critical-error")).textContent).toContain("70 %: above the warning level");
    expect((screen.getByTestId("limit-settings-save") as HTMLButtonElement).disabled).toBe(true);
    fireEvent.input(critical, { target: { value: "90" } });
    fireEvent.input(screen.getByTestId("limit-margin"), { target: { value: "5" } });
    fireEvent.click(screen.getByTestId("limit-settings-save"));
    await waitFor(() => expect(more.limitsSet).toHaveBeenCalledWith({ marginPct: 5, warnPct: 80, criticalPct: 90 }));
    expect((await screen.findByTestId("limit-settings-saved")).textContent).toContain("in force");
  });
});
