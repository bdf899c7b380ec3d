import { fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { IpcError, type AuditRowView } from "../ipc";
import { Audit, PAGE_SIZE } from "./Audit";

const api = vi.hoisted(() => ({
  options: vi.fn(),
  list: vi.fn(),
  verify: vi.fn(),
  exportTo: vi.fn(),
}));
vi.mock("../ipc", async (orig) => {
  const real = await orig<typeof import("../ipc")>();
  return { ...real, audit: { ...real.audit, ...api } };
});

const row = (id: number, over: Partial<AuditRowView> = {}): AuditRowView => ({
  id,
  ts: "2026-03-01T10:00:00.000Z",
  actor: "ui",
  event: "key_created",
  provider: "binance",
  keyLabel: "main",
  detail: { scopes: "read,trade" },
  hash: `h${id}`,
  ...over,
});

beforeEach(() => {
  Object.values(api).forEach((f) => f.mockReset());
  api.options.mockResolvedValue({
    events: ["key_created", "key_revealed", "key_used"],
    actors: ["ui", "cli", "gateway", "system"],
  });
});

describe("audit page", () => {
  it("explains what gets recorded when the log is empty", async () => {
    api.list.mockResolvedValue({ rows: [], hasMore: false });
    render(<Audit />);
    const empty = await screen.findByTestId("audit-empty");
    expect(empty.textContent).toContain("Nothing recorded yet");
    expect(empty.textContent).toContain("revealed or copied");
    expect(empty.textContent).toContain("Keys page");
  });

  it("lists rows with actor, event, key and detail", async () => {
    api.list.mockResolvedValue({
      rows: [row(2, { event: "key_revealed", detail: null }), row(1, { actor: "system" })],
      hasMore: false,
    });
    render(<Audit />);
    const first = await screen.findByTestId("audit-row-1");
    expect(first.textContent).toContain("system");
    expect(first.textContent).toContain("key_created");
    expect(first.textContent).toContain("binance / main");
    expect(first.textContent).toContain("scopesread,trade");
    expect(screen.getByTestId("audit-row-2").querySelector(".badge.warn")?.textContent).toBe("key_revealed");
    expect(api.list).toHaveBeenCalledWith({ limit: PAGE_SIZE });
  });

  it("filters by event, actor and provider, and says when nothing matches", async () => {
    api.list.mockResolvedValue({ rows: [row(1)], hasMore: false });
    render(<Audit />);
    await screen.findByTestId("audit-row-1");
    await waitFor(() => expect(screen.getByTestId("audit-filter-event").textContent).toContain("key revealed"));

    api.list.mockResolvedValue({ rows: [], hasMore: false });
    fireEvent.change(screen.getByTestId("audit-filter-event"), { target: { value: "key_revealed" } });
    fireEvent.change(screen.getByTestId("audit-filter-actor"), { target: { value: "cli" } });
    fireEvent.input(screen.getByTestId("audit-filter-provider"), { target: { value: "kraken" } });
    await waitFor(() =>
      expect(api.list).toHaveBeenLastCalledWith({ provider: "kraken", event: "key_revealed", actor: "cli", limit: PAGE_SIZE }),
    );
    await waitFor(() => expect(screen.getByTestId("audit-empty").textContent).toContain("No rows match these filters"));
  });

  it("pages backwards with the last row's id", async () => {
    api.list.mockResolvedValueOnce({ rows: [row(60), row(59)], hasMore: true });
    api.list.mockResolvedValueOnce({ rows: [row(3)], hasMore: false });
    render(<Audit />);
    fireEvent.click(await screen.findByTestId("audit-more"));
    await waitFor(() => expect(screen.getByTestId("audit-row-3")).toBeTruthy());
    expect(api.list).toHaveBeenLastCalledWith({ beforeId: 59, limit: PAGE_SIZE });
    expect(screen.getByTestId("audit-row-60")).toBeTruthy();
    expect(screen.queryByTestId("audit-more")).toBeNull();
    expect(screen.getByTestId("audit-end").textContent).toContain("3 rows");
  });

  it("verifies the chain: intact with the row count, or every problem in red", async () => {
    api.list.mockResolvedValue({ rows: [row(1)], hasMore: false });
    api.verify.mockResolvedValueOnce({
      intact: true,
      rowsChecked: 12,
      lastHash: "ab".repeat(32),
      seals: "checked",
      sealedSince: 1,
      sealNote: "every row is sealed with Keyward's audit key, kept outside the database",
      problems: [],
    });
    render(<Audit />);
    fireEvent.click(await screen.findByTestId("audit-verify"));
    await waitFor(() => expect(screen.getByTestId("audit-verify-result").textContent).toContain("intact (12 rows)"));
    expect(screen.getByTestId("audit-seal-note").textContent).toContain("sealed Every row is sealed with Keyward's audit key");

    api.verify.mockResolvedValueOnce({
      intact: true,
      rowsChecked: 12,
      lastHash: "ab".repeat(32),
      seals: "notChecked",
      sealedSince: null,
      sealNote: "seals not checked: the audit key could not be read (the vault is locked)",
      problems: [],
    });
    fireEvent.click(screen.getByTestId("audit-verify"));
    await waitFor(() => expect(screen.getByTestId("audit-seal-note").className).toContain("warn"));
    expect(screen.getByTestId("audit-seal-note").textContent).toContain("the vault is locked");

    api.verify.mockResolvedValueOnce({
      intact: false,
      rowsChecked: 0,
      lastHash: "",
      seals: "",
      sealedSince: null,
      sealNote: "",
      problems: [
        { kind: "forged", rowId: 2, message: "rows 2–3 do not match their seal: rewritten by someone without Keyward's audit key" },
        { kind: "edited", rowId: 4, message: "row 4 was edited: its content no longer matches its hash" },
        { kind: "deleted", rowId: 7, message: "rows 7–9 were deleted" },
      ],
    });
    fireEvent.click(screen.getByTestId("audit-verify"));
    await waitFor(() => expect(screen.getByTestId("audit-verify-result").textContent).toContain("row 4 was edited"));
    const result = screen.getByTestId("audit-verify-result");
    expect(result.className).toContain("error");
    expect(result.textContent).toContain("rows 7–9 were deleted");
    expect(result.textContent).toContain("rows 2–3 do not match their seal");
  });

  it("exports with the current filters and shows where the file went", async () => {
    api.list.mockResolvedValue({ rows: [row(1)], hasMore: false });
    api.exportTo.mockResolvedValue({ path: "/data/keyward/exports/audit-20260301-100000Z.csv", format: "csv", rows: 1 });
    render(<Audit />);
    await screen.findByTestId("audit-row-1");
    fireEvent.input(screen.getByTestId("audit-filter-label"), { target: { value: "main" } });
    fireEvent.click(screen.getByTestId("audit-export-csv"));
    await waitFor(() => expect(screen.getByTestId("audit-export-result").textContent).toContain("exports/audit-20260301-100000Z.csv"));
    expect(screen.getByTestId("audit-export-result").textContent).toContain("Wrote 1 row to");
    expect(api.exportTo).toHaveBeenCalledWith("csv", { keyLabel: "main" });
  });

  it("shows the core's error", async () => {
    api.list.mockRejectedValue(new IpcError("corrupt", 'audit row 9 has event "key_stolen", which this Keyward cannot read'));
    render(<Audit />);
    await waitFor(() => expect(screen.getByTestId("audit-error").textContent).toContain("audit row 9"));
  });
});
