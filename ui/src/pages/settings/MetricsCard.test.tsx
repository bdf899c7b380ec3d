import { fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { IpcError, type MetricsView } from "../../ipc";
import { MetricsCard } from "./MetricsCard";

const api = vi.hoisted(() => ({ status: vi.fn(), setAccess: vi.fn(), rotateToken: vi.fn() }));
vi.mock("../../ipc", async (orig) => {
  const real = await orig<typeof import("../../ipc")>();
  return { ...real, metrics: api };
});

const LOOPBACK: MetricsView = {
  access: "loopback",
  url: "http://127.0.0.1:47311/metrics",
  tokenHint: null,
  scrapeConfig: 'scrape_configs:\n  - job_name: keyward\n    static_configs:\n      - targets: ["127.0.0.1:47311"]\n',
};
const TOKEN: MetricsView = {
  ...LOOPBACK,
  access: "token",
  tokenHint: "kwm_abc123…",
  scrapeConfig: LOOPBACK.scrapeConfig + "    authorization:\n      credentials_file: /etc/prometheus/keyward-metrics-token\n",
};

beforeEach(() => Object.values(api).forEach((f) => f.mockReset()));

describe("metrics card", () => {
  it("shows the URL and the scrape config for this machine by default", async () => {
    api.status.mockResolvedValue(LOOPBACK);
    render(<MetricsCard />);
    await waitFor(() => expect(screen.getByTestId("metrics-url").textContent).toBe("http://127.0.0.1:47311/metrics"));
    expect((screen.getByTestId("metrics-access-loopback") as HTMLInputElement).checked).toBe(true);
    expect(screen.getByTestId("metrics-scrape-config").textContent).toContain("job_name: keyward");
    expect(screen.queryByTestId("metrics-token-hint")).toBeNull();
  });

  it("switches to token access, shows the new token once and hides it when stored", async () => {
    api.status.mockResolvedValue(LOOPBACK);
    api.setAccess.mockResolvedValue({ ...TOKEN, token: "kwm_abc123secret" });
    render(<MetricsCard />);
    await waitFor(() => screen.getByTestId("metrics-access-token"));
    fireEvent.click(screen.getByTestId("metrics-access-token"));
    await waitFor(() => expect(screen.getByTestId("metrics-token-secret").textContent).toBe("kwm_abc123secret"));
    expect(api.setAccess).toHaveBeenCalledWith("token");
    expect(screen.getByTestId("metrics-token-hint").textContent).toBe("kwm_abc123…");
    expect(screen.getByTestId("metrics-scrape-config").textContent).toContain("credentials_file");
    fireEvent.click(screen.getByTestId("metrics-token-done"));
    expect(screen.queryByTestId("metrics-token")).toBeNull();
  });

  it("makes a new token and shows why a change failed", async () => {
    api.status.mockResolvedValue(TOKEN);
    api.rotateToken.mockResolvedValue({ ...TOKEN, tokenHint: "kwm_new999…", token: "kwm_new999secret" });
    api.setAccess.mockRejectedValueOnce(new IpcError("storage", "database is locked"));
    render(<MetricsCard />);
    await waitFor(() => screen.getByTestId("metrics-rotate"));
    fireEvent.click(screen.getByTestId("metrics-rotate"));
    await waitFor(() => expect(screen.getByTestId("metrics-token-secret").textContent).toBe("kwm_new999secret"));
    expect(screen.getByTestId("metrics-token-hint").textContent).toBe("kwm_new999…");
    fireEvent.click(screen.getByTestId("metrics-access-loopback"));
    await waitFor(() => expect(screen.getByTestId("metrics-error").textContent).toContain("database is locked"));
    expect((screen.getByTestId("metrics-access-token") as HTMLInputElement).checked).toBe(true);
  });
});
