// The only module that talks to the Tauri backend. Everything else imports typed functions
// from here, so pages can be tested with this module mocked.
import { invoke } from "@tauri-apps/api/core";
import type { AppInfoDto } from "./bindings/AppInfoDto";
import type { CommandError } from "./bindings/CommandError";

export type { AppInfoDto, CommandError };
export type { SecretBackendDto } from "./bindings/SecretBackendDto";

/** An error from a command, with the core's stable `kind` (e.g. "schemaTooNew"). */
export class IpcError extends Error {
  readonly kind: string;
  constructor(kind: string, message: string) {
    super(message);
    this.kind = kind;
    this.name = "IpcError";
  }
}

export function toIpcError(raw: unknown): IpcError {
  if (raw instanceof IpcError) return raw;
  if (raw && typeof raw === "object" && "kind" in raw && "message" in raw) {
    const e = raw as CommandError;
    return new IpcError(String(e.kind), String(e.message));
  }
  if (raw instanceof Error) return new IpcError("internal", raw.message);
  return new IpcError("internal", String(raw));
}

async function call<T>(command: string, args?: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (raw) {
    throw toIpcError(raw);
  }
}

/** Version, data dir, schema version and secret backend, read from the Rust core. */
export function appInfo(): Promise<AppInfoDto> {
  return call<AppInfoDto>("app_info");
}
