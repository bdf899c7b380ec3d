import { fireEvent, render, screen } from "@testing-library/preact";
import { useState } from "preact/hooks";
import { describe, expect, it } from "vitest";
import { Segmented } from "./Segmented";

const RANGES = [
  { id: "24h", label: "24 h" },
  { id: "7d", label: "7 days" },
];

function Range({ tabs }: { tabs?: boolean }) {
  const [range, setRange] = useState("24h");
  return (
    <>
      <Segmented options={RANGES} value={range} onChange={setRange} label="Range" tabs={tabs} testid={(id) => `range-${id}`} />
      <p data-testid="shown">{range}</p>
    </>
  );
}

describe("Segmented", () => {
  it("marks the chosen option and switches on a click", () => {
    render(<Range />);
    expect(screen.getByTestId("range-24h").getAttribute("aria-pressed")).toBe("true");
    fireEvent.click(screen.getByTestId("range-7d"));
    expect(screen.getByTestId("shown").textContent).toBe("7d");
    expect(screen.getByTestId("range-7d").getAttribute("aria-pressed")).toBe("true");
    expect(screen.getByTestId("range-7d").className).toBe("seg active");
    expect(screen.getByTestId("range-24h").getAttribute("aria-pressed")).toBe("false");
  });

  it("as tabs, says which tab is selected", () => {
    render(<Range tabs />);
    expect(screen.getByRole("tablist", { name: "Range" })).toBeTruthy();
    fireEvent.click(screen.getByRole("tab", { name: "7 days" }));
    expect(screen.getByRole("tab", { name: "7 days" }).getAttribute("aria-selected")).toBe("true");
    expect(screen.getByRole("tab", { name: "24 h" }).getAttribute("aria-selected")).toBe("false");
  });
});
