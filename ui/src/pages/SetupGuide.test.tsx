import { fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { SetupGuideEdit, SetupGuideView, VaultStatus } from "../ipc";
import { SetupGuide } from "./SetupGuide";

const api = vi.hoisted(() => ({
  guideGet: vi.fn(),
  guideSet: vi.fn(),
  vaultStatus: vi.fn(),
  vaultInit: vi.fn(),
  vaultUnlock: vi.fn(),
  keysList: vi.fn(),
  providersList: vi.fn(),
}));
vi.mock("../ipc", async (orig) => {
  const real = await orig<typeof import("../ipc")>();
  return {
    ...real,
    setupGuide: { get: () => api.guideGet(), set: (e: SetupGuideEdit) => api.guideSet(e) },
    vault: { ...real.vault, status: () => api.vaultStatus(), init: (p: string) => api.vaultInit(p), unlock: (p: string, m: number) => api.vaultUnlock(p, m) },
    keys: { ...real.keys, list: () => api.keysList() },
    providers: { ...real.providers, list: () => api.providersList() },
    limits: { ...real.limits, stream: () => () => undefined },
    limitSettings: { get: () => Promise.resolve({ marginPct: 2, warnPct: 80, criticalPct: 95 }), set: vi.fn() },
  };
});

const STEPS = ["key", "monitor", "limits", "failover", "usage"];
function guide(states: Record<string, string>, over: Partial<SetupGuideView> = {}): SetupGuideView {
  const steps = STEPS.map((id) => ({ id, title: `Title ${id}`, state: states[id] ?? "todo", detail: `detail ${id}` }));
  const todo = steps.find((s) => s.state === "todo");
  return {
    steps,
    current: todo?.id ?? null,
    complete: !todo,
    dismissed: false,
    seen: true,
    doneCount: steps.filter((s) => s.state === "done").length,
    ...over,
  };
}

const NO_FILE: VaultStatus = {
  backend: "encrypted-file",
  name: "Encrypted vault file",
  available: true,
  detail: "No vault file yet: create it with a passphrase.",
  reason: "no OS credential store answers",
  dataDir: "/data",
  logDir: "/data/logs",
  file: { path: "/data/vault.kwv", exists: false, unlocked: false, unlockedUntil: null },
};

beforeEach(() => {
  Object.values(api).forEach((f) => f.mockReset());
  api.keysList.mockResolvedValue([]);
  api.providersList.mockResolvedValue([]);
  api.vaultStatus.mockResolvedValue({ ...NO_FILE, backend: "os-keyring", name: "Secret Service", file: null });
});

describe("setup guide", () => {
  it("resumes where the user stopped, records a skip and moves on", async () => {
    api.guideGet.mockResolvedValue(guide({ key: "done" }, { current: "limits" }));
    api.guideSet.mockResolvedValue(guide({ key: "done", limits: "skipped" }, { current: "failover" }));
    render(<SetupGuide onNavigate={() => undefined} />);
    await waitFor(() => expect(screen.getByTestId("guide-step-limits").getAttribute("aria-current")).toBe("step"));
    expect(screen.getByTestId("guide-step-key").getAttribute("data-state")).toBe("done");
    fireEvent.click(screen.getByTestId("guide-skip"));
    await waitFor(() => expect(api.guideSet).toHaveBeenCalledWith(expect.objectContaining({ step: "limits", mark: "skipped", at: "failover" })));
    await waitFor(() => expect(screen.getByTestId("guide-body-failover")).toBeTruthy());
    expect(screen.getByTestId("guide-step-limits").getAttribute("data-state")).toBe("skipped");
  });

  it("marks itself seen the first time it opens", async () => {
    api.guideGet.mockResolvedValue(guide({}, { seen: false }));
    api.guideSet.mockResolvedValue(guide({}));
    render(<SetupGuide onNavigate={() => undefined} />);
    await waitFor(() => expect(api.guideSet).toHaveBeenCalledWith(expect.objectContaining({ seen: true })));
  });

  it("creates and unlocks the encrypted vault in the app when no credential store answers", async () => {
    api.guideGet.mockResolvedValue(guide({}));
    api.vaultStatus.mockResolvedValue(NO_FILE);
    api.vaultInit.mockResolvedValue({ ...NO_FILE, file: { ...NO_FILE.file!, exists: true } });
    api.vaultUnlock.mockResolvedValue({ ...NO_FILE, file: { ...NO_FILE.file!, exists: true, unlocked: true, unlockedUntil: null } });
    render(<SetupGuide onNavigate={() => undefined} />);
    await screen.findByTestId("guide-vault-create");
    expect(screen.getByTestId("guide-body-key").textContent).not.toContain("keyward vault init");
    fireEvent.input(screen.getByTestId("vault-new-passphrase"), { target: { value: "short" } });
    expect(screen.getByTestId("vault-init").textContent).toContain("5 characters: at least 8");
    fireEvent.input(screen.getByTestId("vault-new-passphrase"), { target: { value: "correct horse" } });
    fireEvent.input(screen.getByTestId("vault-new-confirm"), { target: { value: "correct horse" } });
    fireEvent.click(screen.getByTestId("vault-create"));
    await waitFor(() => expect(api.vaultUnlock).toHaveBeenCalledWith("correct horse", 60));
    expect(await screen.findByTestId("add-key-panel")).toBeTruthy();
  });

  it("finishing the last step returns to the dashboard", async () => {
    const onNavigate = vi.fn();
    api.guideGet.mockResolvedValue(guide({ key: "done", monitor: "done", limits: "done", failover: "skipped" }));
    api.guideSet.mockResolvedValue(guide({ key: "done", monitor: "done", limits: "done", failover: "skipped", usage: "done" }));
    render(<SetupGuide onNavigate={onNavigate} />);
    await screen.findByTestId("guide-body-usage");
    expect(screen.getByTestId("guide-next").textContent).toBe("Finish");
    fireEvent.click(screen.getByTestId("guide-next"));
    await waitFor(() => expect(onNavigate).toHaveBeenCalledWith("dashboard"));
  });
});
