// The first page: is everything OK, and what needs me? Each tile comes from the core's one
// overview (the tray reads the same) and links to its page.
import { useEffect } from "preact/hooks";
import {
  ALERT_EVENT,
  MONITOR_EVENT,
  onEvent,
  overview,
  setupGuide,
  type OverviewView,
  type SetupGuideView,
} from "../ipc";
import type { RouteId } from "../routes";
import { errorText } from "../lib/errors";
import { countOf, formatCount, formatMoney, formatMs, formatPercent, formatUptimePercent } from "../lib/format";
import { useLoad } from "../lib/useLoad";
import { Loading } from "../components/States";

/** How often the tiles are read again while the page is shown (besides health and alert events). */
const REFRESH_MS = 5000;

const STATE_LABEL: Record<string, string> = {
  ok: "All good",
  warn: "Needs a look",
  critical: "Needs you now",
  empty: "Not set up yet",
};

export function Dashboard({ onNavigate }: { onNavigate: (id: RouteId) => void }) {
  const view = useLoad(overview.get, []);
  const guide = useLoad(setupGuide.get, []);

  useEffect(() => {
    const timer = window.setInterval(() => {
      if (!document.hidden) view.reload();
    }, REFRESH_MS);
    const offs = [onEvent<{ type: string }>(MONITOR_EVENT, (e) => e.type !== "checkCompleted" && view.reload()), onEvent(ALERT_EVENT, () => view.reload())];
    return () => {
      window.clearInterval(timer);
      offs.forEach((off) => void off.then((f) => f()).catch(() => undefined));
    };
  }, []);

  const o = view.data;
  return (
    <section>
      <header class="page-header">
        <div>
          <h1>Dashboard</h1>
          <p class="lead">Is everything OK, and what needs you.</p>
        </div>
        <button type="button" class="button secondary" onClick={view.reload} disabled={view.loading}>
          Refresh
        </button>
      </header>

      {guide.data && <GuideBanner guide={guide.data} onOpen={() => onNavigate("setup")} />}

      {!o && !view.error && <Loading testid="dashboard-loading">Reading from the Keyward core…</Loading>}

      {view.error && (
        <div class="card error" role="alert" data-testid="dashboard-error">
          <h2>Keyward could not read its state</h2>
          <p data-testid="dashboard-error-message">{errorText(view.error)}</p>
          <p class="hint">
            Error kind: <code>{view.error.kind}</code>. Settings → About shows the data directory and database.
          </p>
        </div>
      )}

      {o && <Tiles o={o} go={onNavigate} />}
    </section>
  );
}

function GuideBanner({ guide, onOpen }: { guide: SetupGuideView; onOpen: () => void }) {
  if (guide.complete || guide.dismissed) return null;
  const next = guide.steps.find((s) => s.id === guide.current);
  return (
    <div class="card guide-banner" data-testid="guide-banner">
      <div>
        <h2>Finish setting up Keyward</h2>
        <p class="hint">
          {guide.doneCount} of {guide.steps.length} steps done{next ? ` · next: ${next.title}` : ""}
        </p>
      </div>
      <button type="button" class="button" data-testid="guide-open" onClick={onOpen}>
        {guide.seen ? "Continue setup" : "Start setup"}
      </button>
    </div>
  );
}

function Tiles({ o, go }: { o: OverviewView; go: (id: RouteId) => void }) {
  const attentionKeys = new Set(o.keys.attention.map((k) => `${k.provider}/${k.label}`)).size;
  return (
    <>
      <button type="button" class={`card overall ${o.overall}`} data-testid="overall" data-state={o.overall} onClick={() => go("status")}>
        <span class="overall-dot" aria-hidden="true" />
        <span class="overall-text">
          <span class="stat-label">{STATE_LABEL[o.overall] ?? o.overall}</span>
          <span class="overall-headline" data-testid="overall-headline">{o.headline}</span>
        </span>
      </button>

      <div class="tiles">
        <Tile title="Providers" testid="tile-providers" onOpen={() => go("status")} link="Status">
          {o.providers.length === 0 ? (
            <p class="hint">
              No provider is enabled. Enable the exchanges your bots use on the{" "}
              <a href="#/providers">Providers page</a>, or follow the setup guide.
            </p>
          ) : (
            <ul class="tile-list">
              {o.providers.slice(0, 6).map((p) => (
                <li key={p.id} data-testid={`tile-provider-${p.id}`}>
                  <span class={`dot ${p.state}`} aria-hidden="true" />
                  <span class="tile-name">{p.name}</span>
                  <span class={`state-text ${p.state}`}>{p.state}</span>
                  <span class="tile-value">{p.latencyMs != null ? formatMs(p.latencyMs) : "—"}</span>
                </li>
              ))}
              {o.providers.length > 6 && <li class="hint">and {countOf(o.providers.length - 6, "more provider")}</li>}
            </ul>
          )}
        </Tile>

        <Tile title="Tightest limits" testid="tile-limits" onOpen={() => go("limits")} link="Rate limits">
          {o.limits.length === 0 ? (
            <p class="hint">No limit has been used yet. Limits fill as calls go out through Keyward.</p>
          ) : (
            <ul class="tile-list">
              {o.limits.map((l) => (
                <li key={`${l.provider}-${l.limitId}-${l.scopeKey}`} data-testid={`tile-limit-${l.provider}-${l.limitId}`}>
                  <span class="tile-name two-line" title={`${l.provider} ${l.limitId}`}>
                    <span>{l.limitId}</span>
                    <span class="hint">{l.provider}</span>
                  </span>
                  <span class="mini-bar" aria-hidden="true">
                    <span class={`mini-fill ${l.state}`} style={{ width: `${Math.min(100, l.percent)}%` }} />
                  </span>
                  <span class="tile-value">
                    {l.state === "banned" ? "banned" : l.state === "paused" ? "paused" : `${formatPercent(100 - l.percent)} free`}
                  </span>
                </li>
              ))}
            </ul>
          )}
        </Tile>

        <Tile title="Open alerts" testid="tile-alerts" onOpen={() => go("alerts")} link="Alerts">
          <p class="tile-big" data-testid="tile-alerts-open">
            {o.alerts.open}
            {o.alerts.worst && <span class={`badge ${o.alerts.worst === "critical" ? "bad" : o.alerts.worst === "warning" ? "warn" : "info"}`}>{o.alerts.worst}</span>}
          </p>
          {o.alerts.latest.length === 0 ? (
            <p class="hint">Nothing needs you. Alerts appear here, in the tray and as notifications.</p>
          ) : (
            <ul class="tile-list">
              {o.alerts.latest.map((a) => (
                <li key={a.id}>
                  <span class="tile-name" title={a.body}>{a.title}</span>
                </li>
              ))}
            </ul>
          )}
        </Tile>

        <Tile title="Last 24 hours" testid="tile-today" onOpen={() => go("usage")} link="Usage">
          <p class="tile-big" data-testid="tile-today-calls">{formatCount(o.today.calls)} <span class="hint">calls</span></p>
          <p class="hint">
            {countOf(o.today.errors, "error")} · {o.today.throttled} throttled · cost{" "}
            <span data-testid="tile-today-cost">{formatMoney(o.today.cost, o.today.currency ?? "USD")}</span>
          </p>
        </Tile>

        <Tile title="Keys" testid="tile-keys" onOpen={() => go("keys")} link="Keys">
          {o.keys.total === 0 ? (
            <p class="hint">No key stored. Add your first API key (read-only is best to start).</p>
          ) : o.keys.attention.length === 0 ? (
            <p class="hint" data-testid="tile-keys-ok">
              {countOf(o.keys.total, "key")} stored; none needs you.
            </p>
          ) : (
            <>
              <p class="hint">
                {attentionKeys} of {countOf(o.keys.total, "key")} need you:
              </p>
              <ul class="tile-list">
                {o.keys.attention.slice(0, 4).map((k) => (
                  <li key={`${k.provider}/${k.label}/${k.reason}`} data-testid={`tile-key-${k.reason}`}>
                    <span class="tile-name" title={k.message}>
                      {k.provider} · {k.label}: {k.message}
                    </span>
                  </li>
                ))}
              </ul>
            </>
          )}
        </Tile>

        <Tile title="Bots through the gateway" testid="tile-bots" onOpen={() => go("gateway")} link="Gateway">
          {o.gateway.bots.length === 0 ? (
            <p class="hint">
              {o.gateway.url ? (
                <>
                  No bot has called yet. Point a bot at <code class="path">{o.gateway.url}</code> with a token from the
                  Gateway page.
                </>
              ) : (
                "The gateway is not listening in this window; the Gateway page says why."
              )}
            </p>
          ) : (
            <ul class="tile-list">
              {o.gateway.bots.slice(0, 5).map((b) => (
                <li key={b.name}>
                  <span class="tile-name">{b.name}</span>
                  <span class="tile-value">{formatCount(Number(b.requests))} calls</span>
                </li>
              ))}
            </ul>
          )}
        </Tile>
      </div>
      {o.providers.some((p) => p.uptime24h != null) && (
        <p class="hint">
          Uptime over 24 h:{" "}
          {o.providers
            .filter((p) => p.uptime24h != null)
            .map((p) => `${p.name} ${formatUptimePercent(p.uptime24h)}`)
            .join(" · ")}
        </p>
      )}
    </>
  );
}

function Tile({
  title,
  testid,
  link,
  onOpen,
  children,
}: {
  title: string;
  testid: string;
  link: string;
  onOpen: () => void;
  children: preact.ComponentChildren;
}) {
  return (
    <div class="card tile" data-testid={testid}>
      <div class="tile-head">
        <h2>{title}</h2>
        <button type="button" class="link" onClick={onOpen}>
          {link} →
        </button>
      </div>
      {children}
    </div>
  );
}
