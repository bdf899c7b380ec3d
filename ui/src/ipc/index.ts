// The only module that talks to the Tauri backend. Everything else imports typed functions
// from here, so pages can be tested with this module mocked.
import { invoke } from "@tauri-apps/api/core";
import type { AppInfoDto } from "./bindings/AppInfoDto";
import type { CommandError } from "./bindings/CommandError";
import type { ErrorKind } from "./bindings/ErrorKind";
import { ALERT_EVENT, MONITOR_EVENT, NAVIGATE_EVENT, type CommandName } from "./bindings/commands";

export type { AppInfoDto, CommandError, ErrorKind };
export type { SecretBackendView } from "./bindings/SecretBackendView";

/** An error from a command, with the core's stable `kind` (e.g. "schemaTooNew"). */
export class IpcError extends Error {
  readonly kind: ErrorKind;
  constructor(kind: ErrorKind, message: string) {
    super(message);
    this.kind = kind;
    this.name = "IpcError";
  }
}

export function toIpcError(raw: unknown): IpcError {
  if (raw instanceof IpcError) return raw;
  if (raw && typeof raw === "object" && "kind" in raw && "message" in raw) {
    const e = raw as CommandError;
    return new IpcError(e.kind, String(e.message));
  }
  if (raw instanceof Error) return new IpcError("internal", raw.message);
  return new IpcError("internal", String(raw));
}

async function call<T>(command: CommandName, args?: Record<string, unknown>): Promise<T> {
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

import type { CheckDto } from "./bindings/CheckDto";
import type { ProviderDetailDto } from "./bindings/ProviderDetailDto";
import type { ProviderView } from "./bindings/ProviderView";
import type { SettingsChangeDto } from "./bindings/SettingsChangeDto";

export type { CheckDto, ProviderDetailDto, ProviderView, SettingsChangeDto };
export type { EndpointChangeDto } from "./bindings/EndpointChangeDto";
export type { EndpointDto } from "./bindings/EndpointDto";
export type { EnvironmentView } from "./bindings/EnvironmentView";
export type { ProviderSettingsDto } from "./bindings/ProviderSettingsDto";

export const providers = {
  list: () => call<ProviderView[]>("providers_list"),
  get: (id: string) => call<ProviderDetailDto>("provider_get", { id }),
  /**
   * Saves the settings form: only the fields in `change` are changed, in one validated write.
   * `confirmed` states the user's yes to a change that removes every rate limit.
   */
  applySettings: (id: string, change: SettingsChangeDto, confirmed = false) =>
    call<ProviderDetailDto>("provider_apply_settings", { id, change, confirmed }),
  reset: (id: string) => call<ProviderDetailDto>("provider_reset", { id }),
  remove: (id: string) => call<void>("provider_remove", { id }),
  setEnabled: (id: string, enabled: boolean) => call<ProviderDetailDto>("provider_set_enabled", { id, enabled }),
  setEnvironment: (id: string, environment: string) =>
    call<ProviderDetailDto>("provider_set_environment", { id, environment }),
  importToml: (toml: string, confirmed = false) => call<ProviderDetailDto>("provider_import", { toml, confirmed }),
  test: (id: string) => call<CheckDto[]>("provider_test", { id }),
};

import type { KeyView } from "./bindings/KeyView";
import type { KeyVersionView } from "./bindings/KeyVersionView";
import type { NewKeyDto } from "./bindings/NewKeyDto";
import type { PermissionReportView } from "./bindings/PermissionReportView";
import type { RotateDto } from "./bindings/RotateDto";
import type { RotationDto } from "./bindings/RotationDto";

export type { KeyView, KeyVersionView, NewKeyDto, PermissionReportView, RotateDto, RotationDto };
export type { RiskView } from "./bindings/RiskView";
import type { BackupExportDto } from "./bindings/BackupExportDto";
import type { BackupImportDto } from "./bindings/BackupImportDto";
export type { BackupExportDto, BackupImportDto };

export const keys = {
  list: () => call<KeyView[]>("keys_list"),
  add: (input: NewKeyDto) => call<KeyView>("key_add", { input }),
  remove: (provider: string, label: string) => call<void>("key_remove", { provider, label }),
  reveal: (provider: string, label: string) => call<string>("key_reveal", { provider, label }),
  /** Copies on the Rust side; resolves to the seconds until the clipboard is cleared. */
  copy: (provider: string, label: string) => call<number>("key_copy", { provider, label }),
  versions: (provider: string, label: string) => call<KeyVersionView[]>("key_versions", { provider, label }),
  rotate: (input: RotateDto) => call<RotationDto>("key_rotate", { input }),
  retireVersion: (provider: string, label: string, version: number) =>
    call<KeyVersionView>("key_retire_version", { provider, label, version }),
  check: (provider: string, label: string) => call<PermissionReportView>("key_check", { provider, label }),
  /** A new file in the home folder: `keyward-keys-YYYY-MM-DD.kwbackup`. */
  backupDefaultPath: () => call<string>("keys_backup_default_path"),
  /** Writes every key to a new encrypted backup file; resolves to how many were written. */
  exportBackup: (path: string, passphrase: string) => call<BackupExportDto>("keys_export_backup", { path, passphrase }),
  /** Adds the keys of a backup that do not exist here yet; existing ones are skipped. */
  importBackup: (path: string, passphrase: string) => call<BackupImportDto>("keys_import_backup", { path, passphrase }),
};

// ---- Events ------------------------------------------------------------------------------

import { listen } from "@tauri-apps/api/event";

/** The events the shell emits (names generated from the Rust side). */
export type EventName = typeof MONITOR_EVENT | typeof ALERT_EVENT | typeof NAVIGATE_EVENT;
export { NAVIGATE_EVENT };

/** Subscribes to a backend event; resolves to the function that unsubscribes. */
export async function onEvent<T>(name: EventName, handler: (payload: T) => void): Promise<() => void> {
  return listen<T>(name, (e) => handler(e.payload));
}

// ---- Status (monitoring) -----------------------------------------------------------------

import type { CheckView } from "./bindings/CheckView";
import type { BreakerView } from "./bindings/BreakerView";
import type { CheckRunView } from "./bindings/CheckRunView";
import type { IncidentDto } from "./bindings/IncidentDto";
import type { LastCheckView } from "./bindings/LastCheckView";
import type { MonitorEventDto } from "./bindings/MonitorEventDto";
import type { ProviderHealthDto } from "./bindings/ProviderHealthDto";
import type { ProviderStatusView } from "./bindings/ProviderStatusView";
import type { UptimeDto } from "./bindings/UptimeDto";
import type { CheckInputDto } from "./bindings/CheckInputDto";
import type { MonitorSettingsDto } from "./bindings/MonitorSettingsDto";
export type { CheckInputDto, MonitorSettingsDto };

export type {
  CheckView,
  BreakerView,
  CheckRunView,
  IncidentDto,
  LastCheckView,
  MonitorEventDto,
  ProviderHealthDto,
  ProviderStatusView,
  UptimeDto,
};

/** Emitted on every completed check and every confirmed state change (`MonitorEventDto`). */
export { MONITOR_EVENT };

export const monitor = {
  status: () => call<ProviderStatusView[]>("monitor_status"),
  health: (provider: string) => call<ProviderHealthDto>("provider_health", { provider }),
  /** SVG from the core: average and p95 response time of the last `hours` hours. */
  latencyChart: (provider: string, hours: number, dark: boolean) =>
    call<string>("chart_latency", { provider, hours, dark }),
  /** SVG from the core: the 90-day uptime strip. */
  uptimeChart: (provider: string, dark: boolean) => call<string>("chart_uptime", { provider, dark }),
  /** Runs the provider's checks now; each result also arrives as a monitor event. */
  runChecks: (provider: string) => call<CheckRunView[]>("checks_run", { provider }),
  /** Every check of the provider, disabled ones included. */
  checks: (provider: string) => call<CheckView[]>("checks_list", { provider }),
  addCheck: (provider: string, input: CheckInputDto) => call<CheckView>("check_add", { provider, input }),
  updateCheck: (id: number, input: CheckInputDto) => call<CheckView>("check_update", { id, input }),
  removeCheck: (id: number) => call<void>("check_remove", { id }),
  /** The provider's state-machine settings: confirmations, error rate, latency factor. */
  settings: (provider: string) => call<MonitorSettingsDto>("monitor_settings_get", { provider }),
  setSettings: (provider: string, settings: MonitorSettingsDto) =>
    call<MonitorSettingsDto>("monitor_settings_set", { provider, settings }),
};

// ---- Alerts ------------------------------------------------------------------------------

import type { AlertCentreDto } from "./bindings/AlertCentreDto";
import type { AlertView } from "./bindings/AlertView";
import type { AlertEventDto } from "./bindings/AlertEventDto";
import type { DeliveryView } from "./bindings/DeliveryView";
import type { DeliveryResultView } from "./bindings/DeliveryResultView";
import type { RuleView } from "./bindings/RuleView";
import type { WebhookView } from "./bindings/WebhookView";

export type { AlertCentreDto, AlertView, AlertEventDto, DeliveryView, DeliveryResultView, RuleView, WebhookView };

/** Emitted when an alert is raised, resolved or acknowledged (`AlertEventDto`). */
export { ALERT_EVENT };

export interface NewWebhookInput {
  name: string;
  url: string;
  format: "json" | "slack" | "discord";
  /** HMAC secret for signed JSON; kept in the OS credential store. */
  secret: string | null;
}

export const alerts = {
  list: () => call<AlertCentreDto>("alerts_list"),
  acknowledge: (id: number) => call<AlertView>("alert_ack", { id }),
  rules: () => call<RuleView[]>("alert_rules"),
  setRuleEnabled: (id: number, enabled: boolean) => call<RuleView>("alert_rule_set_enabled", { id, enabled }),
  setRuleWebhooks: (id: number, webhooks: number[]) => call<RuleView>("alert_rule_set_webhooks", { id, webhooks }),
  restoreDefaultRules: () => call<RuleView[]>("alert_rules_restore"),
  webhooks: () => call<WebhookView[]>("webhooks_list"),
  addWebhook: (input: NewWebhookInput) => call<WebhookView>("webhook_add", { ...input }),
  testWebhook: (id: number) => call<DeliveryResultView>("webhook_test", { id }),
  removeWebhook: (id: number) => call<void>("webhook_remove", { id }),
};

// ---- Incoming hooks (POST /hooks/<id> on the gateway's port) -------------------------------

import type { HookView } from "./bindings/HookView";
import type { IssuedHookView } from "./bindings/IssuedHookView";
import type { HookDeliveryView } from "./bindings/HookDeliveryView";

export type { HookView, IssuedHookView, HookDeliveryView };

export interface NewHookInput {
  name: string;
  /** The provider its reports are about; null: as each payload says. */
  provider: string | null;
  /** "signature": X-Keyward-Signature; "urlSecret": the secret in the URL (Statuspage). */
  auth: "signature" | "urlSecret";
}

export const hooks = {
  list: () => call<HookView[]>("hooks_list"),
  add: (input: NewHookInput) => call<IssuedHookView>("hook_add", { ...input }),
  remove: (id: string) => call<void>("hook_remove", { id }),
  deliveries: () => call<HookDeliveryView[]>("hook_deliveries"),
};

// ---- Rate limits -------------------------------------------------------------------------

import { Channel } from "@tauri-apps/api/core";
import type { LimitBreakdownDto } from "./bindings/LimitBreakdownDto";
import type { LimitView } from "./bindings/LimitView";

export type { LimitBreakdownDto, LimitView };
export type { SpendDto } from "./bindings/SpendDto";

export const limits = {
  /**
   * Streams the limiter's snapshot (at once, then every 500 ms) to `onSnapshot` over a Tauri
   * channel. Returns a function that stops the stream; call it when the page is left.
   */
  stream(onSnapshot: (limits: LimitView[]) => void, onError: (e: IpcError) => void): () => void {
    const channel = new Channel<LimitView[]>();
    let stopped = false;
    let id: number | null = null;
    channel.onmessage = (snapshot) => {
      if (!stopped) onSnapshot(snapshot);
    };
    call<number>("limits_stream", { channel })
      .then((streamId) => {
        id = streamId;
        if (stopped) void call<void>("limits_stream_stop", { id }).catch(() => undefined);
      })
      .catch((e: IpcError) => {
        if (!stopped) onError(e);
      });
    return () => {
      stopped = true;
      if (id !== null) void call<void>("limits_stream_stop", { id }).catch(() => undefined);
    };
  },
  /** The top endpoints and keys that spent a limit (since the app loaded the provider's rules). */
  breakdown: (provider: string, limit: string) => call<LimitBreakdownDto[]>("limits_breakdown", { provider, limit }),
};

// ---- Audit -------------------------------------------------------------------------------

import type { AuditExportDto } from "./bindings/AuditExportDto";
import type { AuditQuery } from "./bindings/AuditQuery";
import type { AuditOptions } from "./bindings/AuditOptions";
import type { AuditPageDto } from "./bindings/AuditPageDto";
import type { AuditRowView } from "./bindings/AuditRowView";
import type { AuditVerifyView } from "./bindings/AuditVerifyView";

export type { AuditExportDto, AuditQuery, AuditOptions, AuditPageDto, AuditRowView, AuditVerifyView };
export type { TamperView } from "./bindings/TamperView";

export const audit = {
  /** The event kinds and actors the filters offer. */
  options: () => call<AuditOptions>("audit_options"),
  /** One page, newest first; pass `beforeId` (the last row's id) for older rows. */
  list: (filter: AuditQuery) => call<AuditPageDto>("audit_list", { filter }),
  /** Walks the hash chain: intact, or every edited, inserted or deleted row. */
  verify: () => call<AuditVerifyView>("audit_verify"),
  /** Writes the rows matching `filter` into the data directory's exports folder. */
  exportTo: (format: "jsonl" | "csv", filter: AuditQuery) =>
    call<AuditExportDto>("audit_export", { format, filter }),
};

import type { VaultStatus } from "./bindings/VaultStatus";
export type { VaultStatus };

export const vault = {
  status: () => call<VaultStatus>("vault_status"),
  unlock: (passphrase: string, minutes: number) => call<VaultStatus>("vault_unlock", { passphrase, minutes }),
  lock: () => call<VaultStatus>("vault_lock"),
  init: (passphrase: string) => call<VaultStatus>("vault_init", { passphrase }),
};

// ---- Usage -------------------------------------------------------------------------------
import type { BillingEdit } from "./bindings/BillingEdit";
import type { BillingView } from "./bindings/BillingView";
import type { BillShare } from "./bindings/BillShare";
import type { PlanView } from "./bindings/PlanView";
import type { ProviderBill } from "./bindings/ProviderBill";
import type { UsageRow } from "./bindings/UsageRow";
import type { UsageSummary } from "./bindings/UsageSummary";
export type { BillingEdit, BillingView, BillShare, PlanView, ProviderBill, UsageRow, UsageSummary };

/** The ranges the Usage page offers (hours up to 7 days, days beyond). */
export type UsageRange = "24h" | "7d" | "30d";
export type UsageGroupBy = "endpoint" | "key" | "caller" | "provider";

export const usage = {
  /** Calls, errors, weight, cost and average latency per group, most calls first, with totals. */
  summary: (range: UsageRange, groupBy: UsageGroupBy, provider: string | null = null) =>
    call<UsageSummary>("usage_summary", { range, groupBy, provider }),
  /** SVG from the core: calls per hour or day over the range, errors highlighted. */
  chart: (range: UsageRange, dark: boolean, provider: string | null = null) =>
    call<string>("chart_usage", { range, dark, provider }),
  /** This month per provider: plan, units, cost so far and at the month's end, budget. */
  billing: () => call<BillingView>("usage_billing"),
  /** Sets a provider's plan, prices and budget; resolves to the month as it now stands. */
  setBilling: (provider: string, edit: BillingEdit) => call<BillingView>("usage_billing_set", { provider, edit }),
  /** Days raw call rows are kept; older calls count on in the hourly totals. */
  retention: () => call<number>("usage_retention_get"),
  /** Sets it (1 to 400 days); resolves to the stored value. */
  setRetention: (days: number) => call<number>("usage_retention_set", { days }),
};

// ---- Usage forecast and anomalies ---------------------------------------------------------
import type { Anomaly } from "./bindings/Anomaly";
import type { ForecastDay } from "./bindings/ForecastDay";
import type { QuotaView } from "./bindings/QuotaView";
import type { UsageAnomalies } from "./bindings/UsageAnomalies";
import type { UsageForecast } from "./bindings/UsageForecast";
export type { Anomaly, ForecastDay, QuotaView, UsageAnomalies, UsageForecast };

export const usageInsight = {
  /** This month's forecast (UTC) for one provider or, with `null`, every provider. */
  forecast: (provider: string | null) => call<UsageForecast>("usage_forecast", { provider }),
  /** SVG from the core: the month's running total, the forecast with its band, the quota. */
  forecastChart: (provider: string | null, dark: boolean) => call<string>("chart_usage_forecast", { provider, dark }),
  /** Hours in the range whose usage left its usual pattern, newest first. */
  anomalies: (range: UsageRange) => call<UsageAnomalies>("usage_anomalies", { range }),
};

// ---- Gateway (bots) ----------------------------------------------------------------------
import type { BotStats } from "./bindings/BotStats";
import type { GatewayStatusDto } from "./bindings/GatewayStatusDto";
import type { GatewayTokenView } from "./bindings/GatewayTokenView";
import type { IssuedTokenView } from "./bindings/IssuedTokenView";
import type { NewGatewayTokenDto } from "./bindings/NewGatewayTokenDto";
export type { BotStats, GatewayStatusDto, GatewayTokenView, IssuedTokenView, NewGatewayTokenDto };

export const gateway = {
  /** Where the gateway listens (or why not), the configured port, the tokens and each bot's live numbers. */
  status: () => call<GatewayStatusDto>("gateway_status"),
  /** Resolves to the token's text, the only time it is shown, and the listed token. */
  createToken: (input: NewGatewayTokenDto) => call<IssuedTokenView>("gateway_token_create", { input }),
  setDisabled: (name: string, disabled: boolean) =>
    call<GatewayTokenView>("gateway_token_set_disabled", { name, disabled }),
  /** A new text for the token (shown once); the old one stops working at once. */
  rotate: (name: string) => call<IssuedTokenView>("gateway_token_rotate", { name }),
  revoke: (name: string) => call<void>("gateway_token_revoke", { name }),
  /** The port from the next start. */
  setPort: (port: number) => call<GatewayStatusDto>("gateway_set_port", { port }),
  /**
   * The bind address from the next start. Anything but loopback rejects with kind
   * `confirmationNeeded` unless `confirmed` (the user ticked the warning's checkbox); it makes the gateway
   * serve HTTPS only with Keyward's certificate.
   */
  setBind: (address: string, confirmed: boolean) =>
    call<GatewayStatusDto>("gateway_set_bind", { address, confirmed }),
};

import type { CallReply } from "./bindings/CallReply";
import type { FailoverGroup } from "./bindings/FailoverGroup";
import type { RouteStep } from "./bindings/RouteStep";
export type { CallReply, FailoverGroup, RouteStep };

export const groups = {
  list: () => call<FailoverGroup[]>("groups_list"),
  /** Creates or replaces the group of that name (its members first choice first). */
  save: (group: FailoverGroup) => call<FailoverGroup>("group_save", { group }),
  remove: (name: string) => call<void>("group_remove", { name }),
  /**
   * Calls market data through the group; `symbol` unified (`BTC/USDT`). Rejects with kind
   * `notAllowed` for orders and account reads, which never fail over.
   */
  call: (name: string, operation: string, symbol: string | null) =>
    call<CallReply>("group_call", { name, operation, symbol }),
};

// ---- Prometheus metrics (Settings) -----------------------------------------------------------
import type { MetricsAccess } from "./bindings/MetricsAccess";
import type { MetricsAccessChange } from "./bindings/MetricsAccessChange";
import type { MetricsView } from "./bindings/MetricsView";
export type { MetricsAccess, MetricsAccessChange, MetricsView };

export const metrics = {
  /** Who may scrape /metrics, its URL and a ready prometheus.yml entry. */
  status: () => call<MetricsView>("metrics_status"),
  /** Loopback (this machine, no token) or token; a new token's text comes back once. */
  setAccess: (access: MetricsAccess) => call<MetricsAccessChange>("metrics_set_access", { access }),
  /** A new token; the old one stops working at once. */
  rotateToken: () => call<MetricsAccessChange>("metrics_rotate_token"),
};

// ---- Usage export (Usage page) ---------------------------------------------------------------
import type { ExportSaved } from "./bindings/ExportSaved";
export type { ExportSaved };

export type ExportFormat = "csv" | "json";
export type ExportBucket = "none" | "hour" | "day";

export interface UsageExportRequest {
  format: ExportFormat;
  /** RFC 3339, a date (2026-03-01), "now", or 24h/7d/30d before now. */
  since: string;
  until?: string | null;
  by: string;
  bucket?: ExportBucket;
  provider?: string | null;
}

/** Writes the usage as CSV or JSON into the Downloads folder; resolves to where. */
export function exportUsage(req: UsageExportRequest): Promise<ExportSaved> {
  return call<ExportSaved>("usage_export", {
    format: req.format,
    since: req.since,
    until: req.until ?? null,
    by: req.by,
    bucket: req.bucket ?? "none",
    provider: req.provider ?? null,
  });
}

// ---- Dashboard, setup guide, rate-limit settings, login item ------------------------------

import type { OverviewView } from "./bindings/OverviewView";
import type { ProviderTile } from "./bindings/ProviderTile";
import type { KeyAttention } from "./bindings/KeyAttention";
import type { SetupGuideView } from "./bindings/SetupGuideView";
import type { SetupStepView } from "./bindings/SetupStepView";
import type { SetupGuideEdit } from "./bindings/SetupGuideEdit";
import type { LimitSettings } from "./bindings/LimitSettings";
export type { OverviewView, ProviderTile, KeyAttention, SetupGuideView, SetupStepView, SetupGuideEdit, LimitSettings };

/** Is everything OK, and what needs the user: the dashboard's tiles, from the core. */
export const overview = {
  get: () => call<OverviewView>("overview"),
};

/** The first-run guide's progress (kept in the data directory). */
export const setupGuide = {
  get: () => call<SetupGuideView>("setup_guide_get"),
  set: (edit: SetupGuideEdit) => call<SetupGuideView>("setup_guide_set", { edit }),
};

/** The safety margin kept free on every limit and the levels that warn and turn critical. */
export const limitSettings = {
  get: () => call<LimitSettings>("limit_settings_get"),
  set: (settings: LimitSettings) => call<LimitSettings>("limit_settings_set", { settings }),
};

/** "Start Keyward when I log in" (hidden, in the tray). */
export const autostart = {
  get: () => call<boolean>("autostart_get"),
  set: (enabled: boolean) => call<boolean>("autostart_set", { enabled }),
};

// ---- Shared budget (several machines, through Redis) ---------------------------------------

import type { SharedBudgetStatus } from "./bindings/SharedBudgetStatus";
import type { SharedBudgetView } from "./bindings/SharedBudgetView";
import type { SharedInstanceView } from "./bindings/SharedInstanceView";
export type { SharedBudgetStatus, SharedBudgetView, SharedInstanceView };

export const sharedBudget = {
  get: () => call<SharedBudgetStatus>("shared_budget_get"),
  /** A Redis URL (a password in it goes to the credential store), or `null` to stop sharing. */
  set: (url: string | null, egressGroup: string | null) =>
    call<SharedBudgetStatus>("shared_budget_set", { url, egressGroup }),
};
