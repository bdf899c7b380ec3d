// Every number, duration and time the pages show, formatted in one place. Each duration
// formatter names the unit it takes (`…Ms`, `…Seconds`), since the core sends both.

const COUNT = new Intl.NumberFormat("en-US");
const AMOUNT = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });

/** A whole count with thousands separators: 1200 → "1,200". */
export function formatCount(n: number): string {
  return COUNT.format(n);
}

/** An amount that may have a fraction, to one decimal: 6000 → "6,000"; 12.25 → "12.3". */
export function formatAmount(n: number): string {
  return AMOUNT.format(n);
}

/** A cost in USD: "0", "0.0004", "12.50" (costs are often fractions of a cent per call). */
export function formatCost(cost: number): string {
  if (cost === 0) return "0";
  return cost >= 1 ? cost.toFixed(2) : Number(cost.toPrecision(2)).toString();
}

/**
 * Money in its currency: "$29.00", "€4.50"; amounts under a cent keep two significant digits
 * ("$0.0005") since data APIs price single calls in fractions of a cent.
 */
export function formatMoney(amount: number, currency: string): string {
  const small = amount !== 0 && Math.abs(amount) < 0.01;
  try {
    return new Intl.NumberFormat("en-US", {
      style: "currency",
      currency,
      ...(small ? { maximumSignificantDigits: 2 } : { minimumFractionDigits: 2, maximumFractionDigits: 2 }),
    }).format(amount);
  } catch {
    // An unknown currency code: the amount and the code.
    return `${small ? Number(amount.toPrecision(2)) : amount.toFixed(2)} ${currency}`;
  }
}

/** A share of a limit: one decimal below 10 (so "0.2 %" is not "0 %"), whole above. */
export function formatPercent(p: number): string {
  return `${p < 10 ? p.toFixed(1) : Math.round(p)} %`;
}

/** Uptime, rounded down so 99.999 % never reads as 100 %; "—" when there is none yet. */
export function formatUptimePercent(p: number | null | undefined): string {
  if (p == null) return "—";
  if (p >= 100) return "100 %";
  return `${(Math.floor(p * 100) / 100).toFixed(2)} %`;
}

/** A latency or other short span in milliseconds, rounded: 180.4 → "180 ms". */
export function formatMs(ms: number): string {
  return `${Math.round(ms)} ms`;
}

/**
 * A configured interval given in milliseconds, exactly as set, in the largest unit that
 * divides it: 7_200_000 → "2 h", 120_000 → "2 min", 1500 → "1.5 s", 250 → "250 ms".
 */
export function formatIntervalMs(ms: number): string {
  if (ms !== 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms !== 0 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms >= 1000) return `${ms / 1000} s`;
  return `${ms} ms`;
}

/** A configured interval given in seconds, exactly as set: 900 → "15 min", 90 → "90 s". */
export function formatIntervalSeconds(secs: number): string {
  return formatIntervalMs(secs * 1000);
}

/**
 * Time left, given in milliseconds, for a countdown that ticks: rounded up to whole seconds
 * (it never reads "0 s" while something is still waiting) and exact to the second below an
 * hour: "42 s", "3 min 05 s", "2 h 10 min", "12 d 4 h".
 */
export function formatCountdownMs(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const d = Math.floor(total / 86400);
  const h = Math.floor((total % 86400) / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (d > 0) return `${d} d ${h} h`;
  if (h > 0) return `${h} h ${m} min`;
  if (m > 0) return `${m} min ${String(s).padStart(2, "0")} s`;
  return `${s} s`;
}

/**
 * How long something lasted, given in seconds, rounded down to its two largest units:
 * "45 s", "12 min", "2 h 5 min", "3 d 4 h".
 */
export function formatDurationSeconds(secs: number): string {
  const s = Math.max(0, Math.floor(secs));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/**
 * How long ago an ISO time was, relative to `now` (ms since the epoch). With `"s"` a page that
 * re-renders every second counts seconds ("12 s ago"); with `"min"` a page that does not says
 * "just now" for the first minute rather than freezing at a number of seconds.
 */
export function formatAgo(iso: string, now: number, resolution: "s" | "min" = "s"): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < (resolution === "s" ? 2 : 60)) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

const pad = (n: number) => String(n).padStart(2, "0");

/** Local time, to the second: "2026-01-02 15:04:05". Text that is no time is shown as it came. */
export function formatTime(iso: string): string {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return iso;
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}`;
}

/** The local date of an ISO time: "2026-01-02"; "—" when there is none. */
export function formatDate(iso: string | null | undefined): string {
  if (!iso) return "—";
  return formatTime(iso).slice(0, 10);
}

/** The month of an ISO time in UTC (billing periods are UTC months): "March 2026". */
export function formatMonthUtc(iso: string): string {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return iso;
  return t.toLocaleString("en-US", { month: "long", year: "numeric", timeZone: "UTC" });
}

/** The word for `n` things: plural(1, "key") → "key", plural(3, "key") → "keys". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return n === 1 ? one : many;
}

/** A count with its word: countOf(1, "key") → "1 key", countOf(3, "key") → "3 keys". */
export function countOf(n: number, one: string, many = `${one}s`): string {
  return `${n} ${plural(n, one, many)}`;
}

/**
 * The top-level fields of a JSON object as text, for a compact key/value display: strings as
 * they are, other values as compact JSON. A non-object value is one field with an empty key.
 */
export function detailFields(detail: unknown): { key: string; value: string }[] {
  const text = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));
  if (detail === null || detail === undefined) return [];
  if (typeof detail === "object" && !Array.isArray(detail)) {
    return Object.entries(detail as Record<string, unknown>).map(([key, v]) => ({ key, value: text(v) }));
  }
  return [{ key: "", value: text(detail) }];
}
