import { useEffect, useRef, useState } from "preact/hooks";
import { limits, providers, sharedBudget, IpcError, type LimitView, type SpendDto } from "../ipc";
import { countOf, formatAmount, formatCountdownMs, formatPercent, plural } from "../lib/format";
import { errorText } from "../lib/errors";
import { useLoad } from "../lib/useLoad";
import { ErrorCard, Loading } from "../components/States";

const KIND_LABEL: Record<string, string> = {
  fixed_window: "fixed window",
  sliding_window: "sliding window",
  decaying_counter: "decaying counter",
  pool_window: "pool from first call",
  monthly_quota: "monthly quota",
};

const gaugeId = (l: LimitView) => `${l.provider}-${l.limitId}-${l.scopeKey}`;

function scopeText(l: LimitView): string {
  if (l.scope === "ip") return "per IP";
  return l.scopeKey === "default" ? `per ${l.scope}` : `per ${l.scope} · ${l.scopeKey}`;
}

export function RateLimits() {
  const [snapshot, setSnapshot] = useState<LimitView[] | null>(null);
  const [error, setError] = useState<IpcError | null>(null);
  const provs = useLoad(providers.list, []);
  const list = provs.data ?? (provs.error ? [] : null);
  const [open, setOpen] = useState<string | null>(null);

  // Live: the core pushes a snapshot twice a second while the page is shown. Leaving the page
  // or hiding the window (to the tray) stops the stream; showing it again restarts it.
  useEffect(() => {
    let stop: (() => void) | null = null;
    const start = () => {
      stop ??= limits.stream((s) => {
        setSnapshot(s);
        setError(null);
      }, setError);
    };
    const halt = () => {
      stop?.();
      stop = null;
    };
    const onVisibility = () => (document.hidden ? halt() : start());
    if (!document.hidden) start();
    document.addEventListener("visibilitychange", onVisibility);
    return () => {
      document.removeEventListener("visibilitychange", onVisibility);
      halt();
    };
  }, []);

  const names = new Map((list ?? []).map((p) => [p.id, p.name]));
  const enabled = (list ?? []).filter((p) => p.enabled);
  const byProvider = new Map<string, LimitView[]>();
  for (const l of snapshot ?? []) byProvider.set(l.provider, [...(byProvider.get(l.provider) ?? []), l]);

  return (
    <section>
      <header class="page-header">
        <div>
          <h1>Rate limits</h1>
          <p class="lead">
            Every call Keyward sends is charged here first, so it stays below the exchange's limits. Click a limit to see
            what spent it.
          </p>
        </div>
        {snapshot !== null && !error && (
          <span class="live" data-testid="limits-live" title="Updated by the core twice a second">
            <span class="live-dot" aria-hidden="true" /> Live
          </span>
        )}
      </header>

      <ErrorCard error={error} testid="limits-error" />
      <SharedBudgetPanel />

      {snapshot === null && !error && <Loading>Loading limits…</Loading>}

      {snapshot !== null && snapshot.length === 0 && (
        <div class="card empty" data-testid="limits-empty">
          {enabled.length === 0 ? (
            <>
              <h2>No provider is enabled</h2>
              <p>
                Rate limits are shown for the providers you use. Enable one on the{" "}
                <a href="#/providers">Providers page</a> (for example Binance) and its limits appear here, live.
              </p>
            </>
          ) : (
            <>
              <h2>No rate limits declared</h2>
              <p>
                The enabled {plural(enabled.length, "provider")} ({enabled.map((p) => p.name).join(", ")}) declare
                no rate-limit rules. Add <code>[[rate_limits]]</code> rules to a spec on the{" "}
                <a href="#/providers">Providers page</a> (Export / edit TOML).
              </p>
            </>
          )}
        </div>
      )}

      {[...byProvider.entries()].map(([provider, items]) => {
        const held = items.find((l) => l.state === "banned") ?? items.find((l) => l.state === "paused");
        const name = names.get(provider) ?? provider;
        return (
          <div class="card" key={provider} data-testid={`limits-provider-${provider}`}>
            <h2>{name}</h2>
            {held && (
              <p class="banner bad" data-testid={`limits-held-${provider}`}>
                {held.state === "banned"
                  ? `${name} banned this IP (HTTP 418): calls fail at once for another ${formatCountdownMs(held.pausedForMs ?? 0)}.`
                  : `${name} answered 429: every call waits ${formatCountdownMs(held.pausedForMs ?? 0)} more.`}
              </p>
            )}
            <div class="gauges">
              {items.map((l) => (
                <Gauge
                  key={gaugeId(l)}
                  l={l}
                  open={open === gaugeId(l)}
                  onToggle={() => setOpen(open === gaugeId(l) ? null : gaugeId(l))}
                />
              ))}
            </div>
          </div>
        );
      })}
    </section>
  );
}

export function Gauge({ l, open, onToggle }: { l: LimitView; open: boolean; onToggle: () => void }) {
  const id = gaugeId(l);
  const width = Math.min(100, Math.max(0, l.percent));
  const timing =
    l.state === "banned"
      ? `banned ${formatCountdownMs(l.pausedForMs ?? 0)}`
      : l.state === "paused"
        ? `paused ${formatCountdownMs(l.pausedForMs ?? 0)}`
        : l.resetsInMs != null
          ? `resets in ${formatCountdownMs(l.resetsInMs)}`
          : "nothing to reset";
  return (
    <div class={`gauge ${l.state}`} data-testid={`gauge-${id}`} data-state={l.state}>
      <button type="button" class="gauge-row" aria-expanded={open} onClick={onToggle}>
        <span class="gauge-name">
          <strong>{l.limitId}</strong>
          <span class="hint">
            {scopeText(l)} · {KIND_LABEL[l.kind] ?? l.kind}
            {l.shared && (
              <>
                {" · "}
                <span class="published" data-testid={`gauge-shared-${id}`} title="Charged across your machines through the shared budget">
                  shared
                </span>
              </>
            )}
            {l.fromExchange && (
              <>
                {" · "}
                <span
                  class="published"
                  data-testid={`gauge-published-${id}`}
                  title="The exchange publishes this limit; Keyward uses its numbers"
                >
                  from the exchange
                </span>
              </>
            )}
          </span>
        </span>
        <span
          class="gauge-bar"
          role="meter"
          aria-label={`${l.limitId} used`}
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={Math.round(l.percent)}
        >
          <span class="gauge-fill" style={{ width: `${width}%` }} />
        </span>
        <span class="gauge-used" data-testid={`gauge-used-${id}`}>
          {formatAmount(l.used)} / {formatAmount(l.limit)} <span class="hint">{formatPercent(l.percent)}</span>
        </span>
        <span class="gauge-reset" data-testid={`gauge-reset-${id}`}>
          {timing}
        </span>
        <span class={l.queueLen > 0 ? "gauge-queue busy" : "gauge-queue"} data-testid={`gauge-queue-${id}`}>
          {l.queueLen} queued
        </span>
      </button>
      {open && <Breakdown l={l} />}
    </div>
  );
}

function Breakdown({ l }: { l: LimitView }) {
  // Read again when the stream shows the limit was spent again (usage rose), not on a timer.
  const [spent, setSpent] = useState(l.used);
  const lastUsed = useRef(l.used);
  useEffect(() => {
    if (l.used > lastUsed.current) setSpent(l.used);
    lastUsed.current = l.used;
  }, [l.used]);
  const load = useLoad(
    () => limits.breakdown(l.provider, l.limitId).then((all) => ({ scope: all.find((b) => b.scopeKey === l.scopeKey) ?? null })),
    [l.provider, l.limitId, l.scopeKey, spent],
  );
  // `undefined` until the first answer, `null` when nothing spent this scope.
  const data = load.data ? load.data.scope : undefined;
  const error = load.error;

  return (
    <div class="breakdown" data-testid={`breakdown-${gaugeId(l)}`}>
      {error && <p class="field-error">{errorText(error)}</p>}
      {data === undefined && !error && <p class="hint">Loading who spent it…</p>}
      {data === null && <p class="hint">Nothing has spent this limit since Keyward started.</p>}
      {data && (
        <div class="breakdown-cols">
          <SpendList title="Endpoints" items={data.byOperation} testid="breakdown-ops" />
          <SpendList title="Callers" items={data.byCaller} testid="breakdown-callers" />
          <SpendList title="Keys" items={data.byKey} testid="breakdown-keys" />
        </div>
      )}
      <p class="hint">Totals since Keyward loaded this provider's limits (not only the current window). Callers: the app (ui), the command line (cli), health checks (monitor), Keyward itself (keyward). Calls made without a key count under “(no key)”.</p>
    </div>
  );
}

function SpendList({ title, items, testid }: { title: string; items: SpendDto[]; testid: string }) {
  const top = Math.max(1, ...items.map((i) => i.amount));
  return (
    <div data-testid={testid}>
      <h3>{title}</h3>
      {items.length === 0 ? (
        <p class="hint">Nothing yet.</p>
      ) : (
        <ul class="spend">
          {items.map((i) => (
            <li key={i.name}>
              <code title={i.name}>{i.name}</code>
              <span class="spend-bar">
                <span style={{ width: `${(i.amount / top) * 100}%` }} />
              </span>
              <span class="spend-amount">{formatAmount(i.amount)}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** The instances sharing this machine's account limits through Redis, when they are shared. */
function SharedBudgetPanel() {
  const load = useLoad(sharedBudget.get, []);
  useEffect(() => {
    const t = window.setInterval(() => !document.hidden && load.reload(), 5000);
    return () => window.clearInterval(t);
  }, []);
  const live = load.data?.live;
  if (!live) return null;
  return (
    <div class={live.online ? "card" : "card error"} data-testid="shared-budget-panel">
      <h2>
        Shared budget{" "}
        <span class={live.online ? "badge ok" : "badge bad"} data-testid="shared-budget-panel-state">
          {live.online ? "online" : "shared budget offline"}
        </span>
      </h2>
      <p class="hint wrap">
        Account and key limits{live.egressGroup ? ` and the per-IP limits of egress group ${live.egressGroup}` : ""} are
        charged across {countOf(live.alive, "instance")} through <code class="path">{live.url}</code>.
        {!live.online && " Each instance keeps to its share of every shared limit until Redis answers again."}
      </p>
      {live.problem && <p class="field-error wrap">{live.problem}</p>}
      <ul class="tile-list" data-testid="shared-budget-instances">
        {live.instances.map((i) => (
          <li key={i.id}>
            <span class="tile-name">
              {i.id}
              {i.this && <span class="hint"> (this one)</span>}
            </span>
            <span class="tile-value">heartbeat {Math.round(i.seenSecsAgo)} s ago</span>
            <span class="tile-value">spent {formatAmount(i.spend)}</span>
          </li>
        ))}
      </ul>
    </div>
  );
}
