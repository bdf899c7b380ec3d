import { fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { IpcError } from "../../ipc";
import { ExportButton } from "./ExportButton";

const api = vi.hoisted(() => ({ exportUsage: vi.fn() }));
vi.mock("../../ipc", async (orig) => {
  const real = await orig<typeof import("../../ipc")>();
  return { ...real, exportUsage: api.exportUsage };
});

beforeEach(() => api.exportUsage.mockReset());

describe("usage export", () => {
  it("exports the page's range and grouping as CSV and shows where the file went", async () => {
    api.exportUsage.mockResolvedValue({ path: "/home/me/Downloads/keyward-usage-x.csv", rows: 3, format: "csv" });
    render(<ExportButton range="7d" groupBy="caller" provider="binance" />);
    fireEvent.click(screen.getByTestId("usage-export-csv"));
    await waitFor(() => expect(screen.getByTestId("usage-export-saved").textContent).toContain("/home/me/Downloads/keyward-usage-x.csv"));
    expect(screen.getByTestId("usage-export-saved").textContent).toContain("3 rows");
    expect(api.exportUsage).toHaveBeenCalledWith({ format: "csv", since: "7d", by: "caller", bucket: "none", provider: "binance" });
  });

  it("exports JSON per day when asked and shows a failure where it happened", async () => {
    api.exportUsage.mockRejectedValueOnce(new IpcError("io", "could not write the usage export to /nope: permission denied"));
    render(<ExportButton range="30d" groupBy="endpoint" />);
    fireEvent.change(screen.getByTestId("usage-export-bucket"), { target: { value: "day" } });
    fireEvent.click(screen.getByTestId("usage-export-json"));
    await waitFor(() => expect(screen.getByTestId("usage-export-error").textContent).toContain("permission denied"));
    expect(api.exportUsage).toHaveBeenCalledWith({ format: "json", since: "30d", by: "endpoint", bucket: "day", provider: null });
    expect(screen.queryByTestId("usage-export-saved")).toBeNull();
  });
});
