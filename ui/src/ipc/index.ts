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

import type { AssignmentDto } from "./bindings/AssignmentDto";
import type { CheckDto } from "./bindings/CheckDto";
import type { ProviderDetailDto } from "./bindings/ProviderDetailDto";
import type { ProviderSummaryDto } from "./bindings/ProviderSummaryDto";

export type { AssignmentDto, CheckDto, ProviderDetailDto, ProviderSummaryDto };
export type { EndpointDto } from "./bindings/EndpointDto";
export type { ProviderSettingsDto } from "./bindings/ProviderSettingsDto";

export const providers = {
  list: () => call<ProviderSummaryDto[]>("providers_list"),
  get: (id: string) => call<ProviderDetailDto>("provider_get", { id }),
  set: (id: string, assignments: AssignmentDto[]) => call<ProviderDetailDto>("provider_set", { id, assignments }),
  reset: (id: string) => call<ProviderDetailDto>("provider_reset", { id }),
  remove: (id: string) => call<void>("provider_remove", { id }),
  setEnabled: (id: string, enabled: boolean) => call<ProviderDetailDto>("provider_set_enabled", { id, enabled }),
  setEnvironment: (id: string, environment: string) =>
    call<ProviderDetailDto>("provider_set_environment", { id, environment }),
  importToml: (toml: string) => call<ProviderDetailDto>("provider_import", { toml }),
  test: (id: string) => call<CheckDto[]>("provider_test", { id }),
};

import type { KeyDto } from "./bindings/KeyDto";
import type { KeyVersionDto } from "./bindings/KeyVersionDto";
import type { NewKeyDto } from "./bindings/NewKeyDto";
import type { PermissionReportDto } from "./bindings/PermissionReportDto";
import type { RotateDto } from "./bindings/RotateDto";
import type { RotationDto } from "./bindings/RotationDto";

export type { KeyDto, KeyVersionDto, NewKeyDto, PermissionReportDto, RotateDto, RotationDto };
export type { RiskDto } from "./bindings/RiskDto";

export const keys = {
  list: () => call<KeyDto[]>("keys_list"),
  add: (input: NewKeyDto) => call<KeyDto>("key_add", { input }),
  remove: (provider: string, label: string) => call<void>("key_remove", { provider, label }),
  reveal: (provider: string, label: string) => call<string>("key_reveal", { provider, label }),
  /** Copies on the Rust side; resolves to the seconds until the clipboard is cleared. */
  copy: (provider: string, label: string) => call<number>("key_copy", { provider, label }),
  versions: (provider: string, label: string) => call<KeyVersionDto[]>("key_versions", { provider, label }),
  rotate: (input: RotateDto) => call<RotationDto>("key_rotate", { input }),
  retireVersion: (provider: string, label: string, version: number) =>
    call<KeyVersionDto>("key_retire_version", { provider, label, version }),
  check: (provider: string, label: string) => call<PermissionReportDto>("key_check", { provider, label }),
};
