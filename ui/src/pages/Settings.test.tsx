import { fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { IpcError, type VaultStatus } from "../ipc";
import { Settings } from "./Settings";

const api = vi.hoisted(() => ({ status: vi.fn(), unlock: vi.fn(), lock: vi.fn(), init: vi.fn() }));
const history = vi.hoisted(() => ({ retention: vi.fn(), setRetention: vi.fn() }));
vi.mock("../ipc", async (orig) => {
  const real = await orig<typeof import("../ipc")>();
  return { ...real, vault: api, usage: { ...real.usage, ...history } };
});

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
