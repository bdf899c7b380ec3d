// The Providers page's settings form: what the user typed, and the typed change it makes.
// The core applies the change (`providers.applySettings`); this module only compares the form
// with what was loaded, field by field, and turns typed text into numbers. Ranges, URLs and
// every other rule are the core's, and its messages name the field as the spec does.
import {
  IpcError,
  type EndpointChangeDto,
  type EnvironmentView,
  type ProviderSettingsDto,
  type SettingsChangeDto,
} from "../ipc";

export interface EndpointForm {
  method: string;
  path: string;
  weight: string;
  cost: string;
  cacheTtlMs: string;
  class: string;
}

/** Every editable field as the text in its input. */
export interface SettingsForm {
  name: string;
  timeoutMs: string;
  maxResponseBytes: string;
  /** The status page summary URL; empty = none (saving an emptied field removes it). */
  statusFeed: string;
  retryMaxAttempts: string;
  retryBaseDelayMs: string;
  retryMaxDelayMs: string;
  breakerConsecutiveFailures: string;
  breakerFailureRatePercent: string;
  breakerMinCalls: string;
  breakerOpenMs: string;
  breakerMaxOpenMs: string;
  breakerHalfOpenProbes: string;
  staleIfErrorMs: string;
  /** Empty: the class uses the provider's attempts. */
  retryReadMaxAttempts: string;
  retryTradeMaxAttempts: string;
  authScheme: string;
  /** Empty = not set (saving an emptied field clears it). */
  authHeaderName: string;
  authQueryParam: string;
  authRecvWindowMs: string;
  authKeyVersion: string;
  /** Environment name → base URL. */
  baseUrls: Record<string, string>;
  /** Operation → its row. */
  endpoints: Record<string, EndpointForm>;
}

const text = (n: number | null | undefined) => (n == null ? "" : String(n));

/** The form as loaded from the core. */
export function formOf(s: ProviderSettingsDto, environments: EnvironmentView[]): SettingsForm {
  return {
    name: s.name,
    timeoutMs: text(s.timeoutMs),
    maxResponseBytes: text(s.maxResponseBytes),
    statusFeed: s.statusFeed ?? "",
    retryMaxAttempts: text(s.retryMaxAttempts),
    retryBaseDelayMs: text(s.retryBaseDelayMs),
    retryMaxDelayMs: text(s.retryMaxDelayMs),
    breakerConsecutiveFailures: text(s.breakerConsecutiveFailures),
    breakerFailureRatePercent: text(s.breakerFailureRatePercent),
    breakerMinCalls: text(s.breakerMinCalls),
    breakerOpenMs: text(s.breakerOpenMs),
    breakerMaxOpenMs: text(s.breakerMaxOpenMs),
    breakerHalfOpenProbes: text(s.breakerHalfOpenProbes),
    staleIfErrorMs: text(s.staleIfErrorMs),
    retryReadMaxAttempts: text(s.retryReadMaxAttempts),
    retryTradeMaxAttempts: text(s.retryTradeMaxAttempts),
    authScheme: s.authScheme,
    authHeaderName: s.authHeaderName ?? "",
    authQueryParam: s.authQueryParam ?? "",
    authRecvWindowMs: text(s.authRecvWindowMs),
    authKeyVersion: text(s.authKeyVersion),
    baseUrls: Object.fromEntries(environments.map((e) => [e.name, e.baseUrl])),
    endpoints: Object.fromEntries(
      s.endpoints.map((ep) => [
        ep.operation,
        { method: ep.method, path: ep.path, weight: text(ep.weight), cost: text(ep.cost), cacheTtlMs: text(ep.cacheTtlMs), class: ep.class },
      ]),
    ),
  };
}

/** What saving the form sends: the changed fields only, and how many there are. */
export interface FormChange {
  count: number;
  /** The change, or why the form cannot be sent (a number field that holds no number). */
  change: SettingsChangeDto | IpcError;
}

/**
 * Compares `after` with `before` field by field. `field` names are the spec's, used only in
 * the message when a number field holds no number (the input is then marked like the core's
 * errors mark it).
 */
export function buildChange(before: SettingsForm, after: SettingsForm): FormChange {
  const change: SettingsChangeDto = { baseUrls: {}, endpoints: {} };
  let count = 0;
  const problems: string[] = [];
  const differs = (a: string | undefined, b: string | undefined) => {
    const changed = (a ?? "") !== (b ?? "");
    if (changed) count += 1;
    return changed;
  };
  const num = (field: string, value: string): number => {
    const v = Number(value.trim());
    if (value.trim() === "" || !Number.isFinite(v)) problems.push(`${field} "${value}" is not a number`);
    return v;
  };
  /** An optional field: emptied means cleared (`null`). */
  const optNum = (field: string, value: string): number | null => (value.trim() === "" ? null : num(field, value));
  const optText = (value: string): string | null => (value.trim() === "" ? null : value);

  if (differs(before.name, after.name)) change.name = after.name;
  if (differs(before.timeoutMs, after.timeoutMs)) change.timeoutMs = num("timeout_ms", after.timeoutMs);
  if (differs(before.maxResponseBytes, after.maxResponseBytes))
    change.maxResponseBytes = num("max_response_bytes", after.maxResponseBytes);
  if (differs(before.statusFeed, after.statusFeed)) change.statusFeed = optText(after.statusFeed.trim());
  if (differs(before.retryMaxAttempts, after.retryMaxAttempts))
    change.retryMaxAttempts = num("retry.max_attempts", after.retryMaxAttempts);
  if (differs(before.retryBaseDelayMs, after.retryBaseDelayMs))
    change.retryBaseDelayMs = num("retry.base_delay_ms", after.retryBaseDelayMs);
  if (differs(before.retryMaxDelayMs, after.retryMaxDelayMs))
    change.retryMaxDelayMs = num("retry.max_delay_ms", after.retryMaxDelayMs);
  if (differs(before.breakerConsecutiveFailures, after.breakerConsecutiveFailures)) change.breakerConsecutiveFailures = num("breaker.consecutive_failures", after.breakerConsecutiveFailures);
  if (differs(before.breakerFailureRatePercent, after.breakerFailureRatePercent)) change.breakerFailureRatePercent = num("breaker.failure_rate_percent", after.breakerFailureRatePercent);
  if (differs(before.breakerMinCalls, after.breakerMinCalls)) change.breakerMinCalls = num("breaker.min_calls", after.breakerMinCalls);
  if (differs(before.breakerOpenMs, after.breakerOpenMs)) change.breakerOpenMs = num("breaker.open_ms", after.breakerOpenMs);
  if (differs(before.breakerMaxOpenMs, after.breakerMaxOpenMs)) change.breakerMaxOpenMs = num("breaker.max_open_ms", after.breakerMaxOpenMs);
  if (differs(before.breakerHalfOpenProbes, after.breakerHalfOpenProbes)) change.breakerHalfOpenProbes = num("breaker.half_open_probes", after.breakerHalfOpenProbes);
  if (differs(before.staleIfErrorMs, after.staleIfErrorMs)) change.staleIfErrorMs = num("stale_if_error_ms", after.staleIfErrorMs);
  if (differs(before.retryReadMaxAttempts, after.retryReadMaxAttempts))
    change.retryReadMaxAttempts = optNum("retry_by_class.read.max_attempts", after.retryReadMaxAttempts);
  if (differs(before.retryTradeMaxAttempts, after.retryTradeMaxAttempts))
    change.retryTradeMaxAttempts = optNum("retry_by_class.trade.max_attempts", after.retryTradeMaxAttempts);
  if (differs(before.authScheme, after.authScheme)) change.authScheme = after.authScheme;
  if (differs(before.authHeaderName, after.authHeaderName)) change.authHeaderName = optText(after.authHeaderName);
  if (differs(before.authQueryParam, after.authQueryParam)) change.authQueryParam = optText(after.authQueryParam);
  if (differs(before.authRecvWindowMs, after.authRecvWindowMs))
    change.authRecvWindowMs = optNum("auth.recv_window_ms", after.authRecvWindowMs);
  if (differs(before.authKeyVersion, after.authKeyVersion))
    change.authKeyVersion = optNum("auth.key_version", after.authKeyVersion);
  for (const [env, url] of Object.entries(after.baseUrls)) {
    if (differs(before.baseUrls[env], url)) change.baseUrls[env] = url;
  }
  for (const [op, row] of Object.entries(after.endpoints)) {
    const was = before.endpoints[op];
    const field = (column: string) => `endpoints.${op}.${column}`;
    const ep: EndpointChangeDto = {};
    if (differs(was?.method, row.method)) ep.method = row.method;
    if (differs(was?.path, row.path)) ep.path = row.path;
    if (differs(was?.weight, row.weight)) ep.weight = num(field("weight"), row.weight);
    if (differs(was?.cost, row.cost)) ep.cost = num(field("cost"), row.cost);
    if (differs(was?.cacheTtlMs, row.cacheTtlMs)) ep.cacheTtlMs = num(field("cache_ttl_ms"), row.cacheTtlMs);
    if (differs(was?.class, row.class)) ep.class = row.class;
    if (Object.keys(ep).length > 0) change.endpoints[op] = ep;
  }
  return { count, change: problems.length ? new IpcError("invalid", problems.join("; ")) : change };
}
