import { describe, expect, it } from "vitest";
import { IpcError } from "../ipc";
import { errorText } from "./errors";

describe("errorText", () => {
  it("shows the core's message as it is", () => {
    expect(errorText(new IpcError("config", 'provider "kraken": base_url "htp://x" is not an http(s) URL'))).toBe(
      'provider "kraken": base_url "htp://x" is not an http(s) URL',
    );
  });

  it("points to the Settings page when the vault is locked", () => {
    const text = errorText(new IpcError("vaultLocked", "the encrypted vault file is locked"));
    expect(text).toContain("the encrypted vault file is locked");
    expect(text).toContain("Settings page");
  });

  it("turns anything thrown into text, and never shows an empty message", () => {
    expect(errorText(new Error("boom"))).toBe("boom");
    expect(errorText("command app_info not found")).toBe("command app_info not found");
    expect(errorText({ kind: "storage", message: "database is locked" })).toBe("database is locked");
    expect(errorText(new IpcError("internal", "  "))).toBe("Keyward did not say what went wrong (internal).");
  });
});
