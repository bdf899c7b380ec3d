import { describe, expect, it } from "vitest";
import {
  countOf,
  detailFields,
  formatAgo,
  formatAmount,
  formatCost,
  formatCount,
  formatCountdownMs,
  formatDate,
  formatDurationSeconds,
  formatIntervalMs,
  formatIntervalSeconds,
  formatMoney,
  formatMs,
  formatPercent,
  formatTime,
  formatUptimePercent,
} from "./format";

describe("durations name their unit", () => {
  it("the same number reads differently as milliseconds and as seconds", () => {
    expect(formatIntervalMs(90)).toBe("90 ms");
    expect(formatIntervalSeconds(90)).toBe("90 s");
    expect(formatCountdownMs(90_000)).toBe("1 min 30 s");
    expect(formatDurationSeconds(90)).toBe("1 min");
  });

  it("a countdown rounds up, so it never reads 0 s while something still waits", () => {
    expect(formatCountdownMs(1)).toBe("1 s");
    expect(formatCountdownMs(400)).toBe("1 s");
    expect(formatCountdownMs(0)).toBe("0 s");
    expect(formatCountdownMs(-5_000)).toBe("0 s");
    expect(formatCountdownMs(59_000)).toBe("59 s");
    expect(formatCountdownMs(61_000)).toBe("1 min 01 s");
    expect(formatCountdownMs(2 * 3600_000 + 10 * 60_000)).toBe("2 h 10 min");
    expect(formatCountdownMs(12 * 86400_000 + 4 * 3600_000)).toBe("12 d 4 h");
  });

  it("how long something lasted rounds down to its two largest units", () => {
    expect(formatDurationSeconds(0)).toBe("0 s");
    expect(formatDurationSeconds(59.9)).toBe("59 s");
    expect(formatDurationSeconds(540)).toBe("9 min");
    expect(formatDurationSeconds(3599)).toBe("59 min");
    expect(formatDurationSeconds(2 * 3600 + 5 * 60 + 59)).toBe("2 h 5 min");
    expect(formatDurationSeconds(3 * 86400 + 4 * 3600 + 1)).toBe("3 d 4 h");
  });

  it("a configured interval is shown exactly, in the largest unit that divides it", () => {
    expect(formatIntervalMs(120_000)).toBe("2 min");
    expect(formatIntervalMs(1500)).toBe("1.5 s");
    expect(formatIntervalMs(250)).toBe("250 ms");
    expect(formatIntervalMs(30_000)).toBe("30 s");
    expect(formatIntervalMs(90_000)).toBe("90 s");
    expect(formatIntervalSeconds(900)).toBe("15 min");
    expect(formatIntervalSeconds(7200)).toBe("2 h");
  });

  it("latency in milliseconds is whole", () => {
    expect(formatMs(180.4)).toBe("180 ms");
    expect(formatMs(0)).toBe("0 ms");
  });
});

describe("numbers", () => {
  it("counts and amounts get thousands separators; amounts keep one decimal", () => {
    expect(formatCount(1_240)).toBe("1,240");
    expect(formatAmount(6000)).toBe("6,000");
    expect(formatAmount(12.25)).toBe("12.3");
  });

  it("keeps small per-call costs readable", () => {
    expect(formatCost(0)).toBe("0");
    expect(formatCost(0.00041234)).toBe("0.00041");
    expect(formatCost(12.5)).toBe("12.50");
  });

  it("a small share of a limit is not rounded to zero", () => {
    expect(formatPercent(0.2)).toBe("0.2 %");
    expect(formatPercent(9.94)).toBe("9.9 %");
    expect(formatPercent(57.6)).toBe("58 %");
  });

  it("uptime never rounds up to 100 %", () => {
    expect(formatUptimePercent(99.9999)).toBe("99.99 %");
    expect(formatUptimePercent(100)).toBe("100 %");
    expect(formatUptimePercent(0)).toBe("0.00 %");
    expect(formatUptimePercent(null)).toBe("—");
    expect(formatUptimePercent(undefined)).toBe("—");
  });

  it("counts things with the right word", () => {
    expect(countOf(1, "key")).toBe("1 key");
    expect(countOf(0, "key")).toBe("0 keys");
    expect(countOf(3, "entry", "entries")).toBe("3 entries");
  });
});

describe("times", () => {
  const now = Date.parse("2026-01-01T12:00:00Z");

  it("a live page counts seconds", () => {
    expect(formatAgo("2026-01-01T12:00:00Z", now)).toBe("just now");
    expect(formatAgo("2026-01-01T11:59:48Z", now)).toBe("12 s ago");
    expect(formatAgo("2026-01-01T11:57:00Z", now)).toBe("3 min ago");
    expect(formatAgo("2025-12-30T12:00:00Z", now)).toBe("2 d ago");
  });

  it("a page that does not tick says just now for the first minute", () => {
    expect(formatAgo("2026-01-01T11:59:30Z", now, "min")).toBe("just now");
    expect(formatAgo("2026-01-01T11:56:00Z", now, "min")).toBe("4 min ago");
    expect(formatAgo("2026-01-01T09:00:00Z", now, "min")).toBe("3 h ago");
  });

  it("a time in the future (clock skew) reads as just now, not a negative age", () => {
    expect(formatAgo("2026-01-01T12:05:00Z", now)).toBe("just now");
  });

  it("local time to the second, and text that is no time as it came", () => {
    const local = new Date(2026, 0, 2, 15, 4, 5).toISOString();
    expect(formatTime(local)).toBe("2026-01-02 15:04:05");
    expect(formatDate(local)).toBe("2026-01-02");
    expect(formatTime("yesterday")).toBe("yesterday");
    expect(formatDate(null)).toBe("—");
  });
});

describe("detailFields", () => {
  it("keeps strings bare and other values as compact JSON", () => {
    expect(detailFields({ scopes: "read,trade", count: 3, by_actor: { ui: 2 } })).toEqual([
      { key: "scopes", value: "read,trade" },
      { key: "count", value: "3" },
      { key: "by_actor", value: '{"ui":2}' },
    ]);
  });
  it("has no fields for null and one unnamed field for a bare value", () => {
    expect(detailFields(null)).toEqual([]);
    expect(detailFields(7)).toEqual([{ key: "", value: "7" }]);
  });
});

describe("money names its currency", () => {
  it("shows cents, and fractions of a cent with two significant digits", () => {
    expect(formatMoney(29, "USD")).toBe("$29.00");
    expect(formatMoney(1234.5, "USD")).toBe("$1,234.50");
    expect(formatMoney(0.0005, "USD")).toBe("$0.0005");
    expect(formatMoney(0, "USD")).toBe("$0.00");
    expect(formatMoney(4.5, "EUR")).toBe("€4.50");
  });
  it("falls back to the amount and the code for a code Intl does not know", () => {
    expect(formatMoney(3, "XX1")).toBe("3.00 XX1");
  });
});
