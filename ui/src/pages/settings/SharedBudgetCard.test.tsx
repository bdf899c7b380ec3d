import { fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { beforeEach, describe, expect, it, vi } from "vitest";
import type { SharedBudgetStatus } from "../../ipc";
import { SharedBudgetCard, urlProblem } from "./SharedBudgetCard";

const api = vi.hoisted(() => ({ get: vi.fn(), set: vi.fn() }));
vi.mock("../../ipc", async (orig) => {
  const real = await orig<typeof import("../../ipc")>();
  return { ...real, sharedBudget: { get: () => api.get(), set: (u: string | null, g: string | null) => api.set(u, g) } };
});

const OFF: SharedBudgetStatus = { settings: null, passwordStored: false, live: null, restartNeeded: false };

beforeEach(() => {
  api.get.mockReset();
  api.set.mockReset();
});

describe("shared budget card", () => {
  it("names a bad URL before sending, without its password", () => {
    expect(urlProblem("http://:hunter2@host:1")).toBe('"http://:***@host:1": start with redis:// or rediss:// (TLS)');
    expect(urlProblem("redis://")).toBe("name the Redis host: redis://host:6379");
    expect(urlProblem("rediss://:pw@cache.lan:6380")).toBeNull();
  });

  it("saves a URL with an egress group and says a restart applies it", async () => {
    api.get.mockResolvedValue(OFF);
    api.set.mockResolvedValue({
      settings: { url: "redis://cache.lan:6379", egressGroup: "home" },
      passwordStored: true,
      live: null,
      restartNeeded: true,
    });
    render(<SharedBudgetCard />);
    await waitFor(() => expect(screen.getByTestId("shared-budget-state").textContent).toContain("Not shared"));
    fireEvent.input(screen.getByTestId("shared-budget-url"), { target: { value: "redis://:pw@cache.lan:6379" } });
    fireEvent.input(screen.getByTestId("shared-budget-group"), { target: { value: "home" } });
    fireEvent.click(screen.getByTestId("shared-budget-save"));
    await waitFor(() => expect(api.set).toHaveBeenCalledWith("redis://:pw@cache.lan:6379", "home"));
    expect((await screen.findByTestId("shared-budget-restart")).textContent).toContain("Restart Keyward");
    expect(screen.getByTestId("shared-budget-state").textContent).toContain("password in the credential store");
    expect(screen.getByTestId("shared-budget-card").textContent).not.toContain("pw@");
    expect((screen.getByTestId("shared-budget-url") as HTMLInputElement).value).toBe("");
  });

  it("shows a running shared budget that went offline", async () => {
    api.get.mockResolvedValue({
      settings: { url: "redis://cache.lan:6379", egressGroup: null },
      passwordStored: false,
      live: {
        url: "redis://cache.lan:6379", egressGroup: null, online: false, problem: "shared budget offline: connection refused",
        instance: "vm-1-ab12", instances: [], alive: 3, sharedLimits: [],
      },
      restartNeeded: false,
    });
    render(<SharedBudgetCard />);
    expect((await screen.findByTestId("shared-budget-online")).textContent).toBe("offline");
    expect(screen.getByTestId("shared-budget-card").textContent).toContain("connection refused");
  });
});
