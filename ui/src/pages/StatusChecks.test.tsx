import { fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { useState } from "preact/hooks";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { IpcError, type CheckView } from "../ipc";
import { ChecksSection, parseDraft } from "./StatusChecks";

const api = vi.hoisted(() => ({
  monitor: {
    checks: vi.fn(),
    addCheck: vi.fn(),
    updateCheck: vi.fn(),
    removeCheck: vi.fn(),
    settings: vi.fn(),
    setSettings: vi.fn(),
  },
}));
vi.mock("../ipc", async (orig) => {
  const real = await orig<typeof import("../ipc")>();
  return { ...real, monitor: { ...real.monitor, ...api.monitor } };
});

const TIME: CheckView = {
  id: 1,
  provider: "binance",
  name: "server_time",
  kind: "operation",
  operation: "server_time",
  intervalMs: 30000,
  timeoutMs: 10000,
  expectStatus: null,
  degradedAboveMs: null,
  enabled: true,
};
const STATUS: CheckView = { ...TIME, id: 2, name: "system_status", kind: "status", operation: "system_status", intervalMs: 60000 };
const OPERATIONS = ["server_time", "system_status", "ticker"];

/** Holds the list like the provider detail does: replaced by what `onChanged` reports. */
function Harness({ initial }: { initial: CheckView[] }) {
  const [checks, setChecks] = useState(initial);
  return <ChecksSection provider="binance" operations={OPERATIONS} checks={checks} loaded onChanged={setChecks} />;
}

const input = (testid: string, value: string) => fireEvent.input(screen.getByTestId(testid), { target: { value } });

beforeEach(() => {
  Object.values(api.monitor).forEach((f) => f.mockReset());
  api.monitor.settings.mockResolvedValue({ confirmations: 2, errorRate: 0.25, latencyFactor: 3 });
});

describe("checks section", () => {
  it("edits a check's interval, and the row shows the stored value", async () => {
    api.monitor.updateCheck.mockResolvedValue({ ...TIME, intervalMs: 90000 });
    api.monitor.checks.mockResolvedValue([{ ...TIME, intervalMs: 90000 }, STATUS]);
    render(<Harness initial={[TIME, STATUS]} />);
    expect(screen.getByTestId("check-interval-1").textContent).toBe("30 s");

    fireEvent.click(screen.getByTestId("check-edit-1"));
    expect((screen.getByTestId("check-form-1-interval") as HTMLInputElement).value).toBe("30");
    expect((screen.getByTestId("check-form-1-operation") as HTMLSelectElement).value).toBe("server_time");
    input("check-form-1-interval", "90");
    fireEvent.click(screen.getByTestId("check-form-1-submit"));
    expect(api.monitor.updateCheck).toHaveBeenCalledWith(1, {
      operation: "server_time",
      intervalSecs: 90,
      timeoutSecs: 10,
      expectStatus: null,
      degradedAboveMs: null,
      enabled: true,
    });
    await waitFor(() => expect(screen.getByTestId("check-interval-1").textContent).toBe("90 s"));
    expect(screen.queryByTestId("check-form-1")).toBeNull();
  });

  it("shows the core's error next to the form and keeps what was typed", async () => {
    api.monitor.updateCheck.mockRejectedValue(
      new IpcError("invalid", 'check "server_time" of provider "binance": interval 500 ms is below the minimum of 1000 ms'),
    );
    render(<Harness initial={[TIME]} />);
    fireEvent.click(screen.getByTestId("check-edit-1"));
    input("check-form-1-interval", "0.5");
    fireEvent.click(screen.getByTestId("check-form-1-submit"));
    await waitFor(() => expect(screen.getByTestId("check-form-1-error").textContent).toContain("interval 500 ms"));
    expect((screen.getByTestId("check-form-1-interval") as HTMLInputElement).value).toBe("0.5");
    expect(screen.getByTestId("check-interval-1").textContent).toBe("30 s");
    expect(api.monitor.checks).not.toHaveBeenCalled();
  });

  it("refuses a field that is not a number before asking the core", () => {
    render(<Harness initial={[TIME]} />);
    fireEvent.click(screen.getByTestId("check-edit-1"));
    input("check-form-1-interval", "");
    fireEvent.click(screen.getByTestId("check-form-1-submit"));
    expect(screen.getByTestId("check-form-1-error").textContent).toContain('interval "" is not a number of seconds');
    input("check-form-1-interval", "30");
    input("check-form-1-status", "20.5");
    fireEvent.click(screen.getByTestId("check-form-1-submit"));
    expect(screen.getByTestId("check-form-1-error").textContent).toContain("expected status");
    expect(api.monitor.updateCheck).not.toHaveBeenCalled();
  });

  it("adds a check of one of the provider's operations", async () => {
    const TICKER: CheckView = { ...TIME, id: 3, name: "ticker", operation: "ticker", intervalMs: 15000, expectStatus: 200, degradedAboveMs: 900, enabled: false };
    let finish: (v: CheckView) => void = () => undefined;
    api.monitor.addCheck.mockReturnValue(new Promise((r) => (finish = r)));
    api.monitor.checks.mockResolvedValue([TIME, STATUS, TICKER]);
    render(<Harness initial={[TIME, STATUS]} />);
    fireEvent.click(screen.getByTestId("check-add"));
    const select = screen.getByTestId("check-form-new-operation") as HTMLSelectElement;
    expect(select.value).toBe("ticker");
    input("check-form-new-interval", "15");
    input("check-form-new-status", "200");
    input("check-form-new-slow", "900");
    fireEvent.click(screen.getByTestId("check-form-new-enabled"));
    fireEvent.click(screen.getByTestId("check-form-new-submit"));
    expect(api.monitor.addCheck).toHaveBeenCalledWith("binance", {
      operation: "ticker",
      intervalSecs: 15,
      timeoutSecs: 10,
      expectStatus: 200,
      degradedAboveMs: 900,
      enabled: false,
    });
    expect(screen.getByTestId("check-form-new-submit").textContent).toContain("Saving");
    finish(TICKER);
    await waitFor(() => expect(screen.getByTestId("check-row-ticker").textContent).toContain("HTTP 200"));
    expect(screen.getByTestId("check-row-ticker").className).toBe("off");
    expect(screen.queryByTestId("check-form-new")).toBeNull();
  });

  it("removes a check only after a second click", async () => {
    api.monitor.removeCheck.mockResolvedValue(undefined);
    api.monitor.checks.mockResolvedValue([TIME]);
    render(<Harness initial={[TIME, STATUS]} />);
    fireEvent.click(screen.getByTestId("check-remove-2"));
    expect(api.monitor.removeCheck).not.toHaveBeenCalled();
    fireEvent.click(screen.getByTestId("check-remove-yes-2"));
    expect(api.monitor.removeCheck).toHaveBeenCalledWith(2);
    await waitFor(() => expect(screen.queryByTestId("check-row-system_status")).toBeNull());
  });

  it("shows a failed switch on the row it belongs to", async () => {
    api.monitor.updateCheck.mockRejectedValue(new IpcError("notFound", "there is no check with id 2"));
    render(<Harness initial={[TIME, STATUS]} />);
    fireEvent.click(screen.getByTestId("check-toggle-2"));
    await waitFor(() => expect(screen.getByTestId("check-error-2").textContent).toContain("no check with id 2"));
    expect(screen.queryByTestId("check-error-1")).toBeNull();
  });

  it("says what to do when the provider has no checks", () => {
    render(<Harness initial={[]} />);
    expect(screen.getByTestId("checks-empty").textContent).toContain("Add check");
  });

  it("reads and saves the state-change settings, showing the core's error", async () => {
    api.monitor.setSettings
      .mockRejectedValueOnce(new IpcError("invalid", 'monitor settings of provider "binance": confirmations 0 must be at least 1'))
      .mockResolvedValueOnce({ confirmations: 3, errorRate: 0.5, latencyFactor: 3 });
    render(<Harness initial={[TIME]} />);
    await waitFor(() => expect((screen.getByTestId("settings-confirmations") as HTMLInputElement).value).toBe("2"));
    input("settings-confirmations", "0");
    fireEvent.click(screen.getByTestId("settings-save"));
    await waitFor(() => expect(screen.getByTestId("settings-error").textContent).toContain("confirmations 0"));
    input("settings-confirmations", "3");
    input("settings-error-rate", "0.5");
    fireEvent.click(screen.getByTestId("settings-save"));
    await waitFor(() => expect(screen.getByTestId("settings-saved")).toBeTruthy());
    expect(api.monitor.setSettings).toHaveBeenLastCalledWith("binance", { confirmations: 3, errorRate: 0.5, latencyFactor: 3 });
    expect(screen.queryByTestId("settings-error")).toBeNull();
  });
});

describe("check helpers", () => {
  it("parses the form", () => {
    const draft = { operation: "ticker", interval: "2.5", timeout: "1", expectStatus: "", degradedAboveMs: "", enabled: true };
    expect(parseDraft(draft)).toEqual({ operation: "ticker", intervalSecs: 2.5, timeoutSecs: 1, expectStatus: null, degradedAboveMs: null, enabled: true });
    expect((parseDraft({ ...draft, timeout: "soon" }) as IpcError).message).toBe('timeout "soon" is not a number of seconds');
    expect((parseDraft({ ...draft, degradedAboveMs: "-5" }) as IpcError).message).toContain("latency threshold -5 ms");
  });
});
