import { describe, expect, it } from "vitest";
import { IpcError, toIpcError } from "./index";

describe("toIpcError", () => {
  it("keeps the kind and message of a command error", () => {
    const e = toIpcError({ kind: "vault", message: "the Secret Service could not be used" });
    expect(e).toBeInstanceOf(IpcError);
    expect(e.kind).toBe("vault");
    expect(e.message).toBe("the Secret Service could not be used");
  });

  it("wraps a plain error or string as internal", () => {
    expect(toIpcError(new Error("boom")).kind).toBe("internal");
    expect(toIpcError("command app_info not found").message).toBe("command app_info not found");
  });
});
