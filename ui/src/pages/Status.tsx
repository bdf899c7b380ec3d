import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import {
  monitor,
  onEvent,
  providers,
  IpcError,
  toIpcError,
  MONITOR_EVENT,
  type BreakerView,
  type CheckRunView,
  type MonitorEventDto,
  type ProviderStatusView,
  type ProviderView,
} from "../ipc";
import { formatAgo, formatDurationSeconds, formatMs, formatUptimePercent } from "../lib/format";
import { useDark } from "../lib/theme";
import { useLoad } from "../lib/useLoad";
import { errorText } from "../lib/errors";
import { BusyButton } from "../components/BusyButton";
import { CoreChart } from "../components/CoreChart";
import { Segmented } from "../components/Segmented";
import { EmptyState, ErrorCard, ErrorLine, Loading } from "../components/States";
import { ChecksSection } from "./StatusChecks";

/** Latency points kept per provider for the card's sparkline. */
export const SPARK_POINTS = 40;

/** Latency windows of the detail chart, in hours. */
const LATENCY_WINDOWS: { id: number; label: string }[] = [
  { id: 1, label: "1 h" },
  { id: 24, label: "24 h" },
  { id: 24 * 7, label: "7 d" },
  { id: 24 * 30, label: "30 d" },
];

const UPTIME_LABELS: Record<string, string> = { "24h": "24 hours", "7d": "7 days", "30d": "30 days", "90d": "90 days", "1y": "1 year" };

interface SparkPoint {
  ms: number;
  ok: boolean;
}

/** A "Run checks now" in progress: results seen so far (from events) and how many to expect. */
interface Run {
  done: number;
  total: number | null;
}

/** Applies one monitor event to the list; `null` when the provider is not in it yet. */
export function applyEvent(list: ProviderStatusView[], e: MonitorEventDto): ProviderStatusView[] | null {
  if (!list.some((p) => p.provider === e.provider)) return null;
  return list.map((p) => {
    if (p.provider !== e.provider) return p;
    if (e.type === "checkCompleted") return { ...p, lastCheck: { at: e.at, ok: e.ok, latencyMs: e.latencyMs } };
    if (e.type === "breakerChanged") {
      const others = p.breakers.filter((b) => b.operation !== e.breaker.operation);
      return { ...p, breakers: e.breaker.state === "closed" ? others : [...others, e.breaker] };
    }
    return { ...p, state: e.to, cause: e.cause, since: e.at };
  });
}

function Dot({ state }: { state: string }) {
  return <span class={`dot ${state}`} aria-hidden="true" />;
}

/** A tiny line of the latest check latencies (from live events), scaled to the successful
 * ones; failed checks are red ticks on the baseline. */
function Sparkline({ points }: { points: SparkPoint[] }) {
  if (points.length < 2) return <p class="spark-empty hint">The latency line fills in as checks complete.</p>;
  // Headroom above the slowest check, so a steady line sits inside the box, not on its edge.
  const max = Math.max(1, ...points.filter((p) => p.ok).map((p) => p.ms)) * 1.4;
  const step = 100 / (points.length - 1);
  const x = (i: number) => i * step;
  const y = (ms: number) => 26 - (Math.min(ms, max) / max) * 22;
  const ok = points.map((p, i) => ({ ...p, x: x(i) })).filter((p) => p.ok);
  const line = ok.map((p) => `${p.x.toFixed(2)},${y(p.ms).toFixed(2)}`).join(" ");
  const lastOk = ok[ok.length - 1];
  const tick = Math.min(3, step * 0.6);
  return (
    <svg
      class="spark"
      viewBox="0 0 100 30"
      preserveAspectRatio="none"
      role="img"
      aria-label={lastOk ? `latest latency ${lastOk.ms} ms, ${points.filter((p) => !p.ok).length} failed` : "every check failed"}
    >
      {ok.length > 1 && <polygon class="spark-area" points={`${ok[0].x.toFixed(2)},30 ${line} ${lastOk.x.toFixed(2)},30`} />}
      {ok.length > 1 && <polyline points={line} />}
      {points.map((p, i) =>
        p.ok ? null : <rect key={i} class="spark-fail" x={Math.max(0, Math.min(100 - tick, x(i) - tick / 2))} y={24} width={tick} height={6} />,
      )}
    </svg>
  );
}

export function Status() {
  const status = useLoad(monitor.status, []);
  const provs = useLoad(providers.list, []);
  const [liveError, setLiveError] = useState<IpcError | null>(null);
  const [sparks, setSparks] = useState<Record<string, SparkPoint[]>>({});
  const [runs, setRuns] = useState<Record<string, Run>>({});
  const [runErrors, setRunErrors] = useState<Record<string, IpcError | undefined>>({});
  const [lastRun, setLastRun] = useState<Record<string, CheckRunView[]>>({});
  const [selected, setSelected] = useState<string | null>(null);
  const [now, setNow] = useState(() => Date.now());
  const [stateChanges, setStateChanges] = useState(0);
  const list = status.data;
  const error = liveError ?? status.error;
  const enabled: ProviderView[] = (provs.data ?? []).filter((p) => p.enabled && !p.discontinued);
  const operations: Record<string, string[]> = Object.fromEntries((provs.data ?? []).map((p) => [p.id, p.operations]));
  const listRef = useRef<ProviderStatusView[] | null>(null);
  listRef.current = list;

  const { reload: reloadStatus, setData: setList } = status;
  const { reload: reloadProviders } = provs;
  const refresh = useCallback(() => {
    reloadStatus();
    reloadProviders();
  }, [reloadStatus, reloadProviders]);

  // Ages ("12 s ago") move on by themselves; the data itself only changes on events.
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);

  useEffect(() => {
    let stop: (() => void) | undefined;
    let gone = false;
    const handle = (e: MonitorEventDto) => {
      const cur = listRef.current;
      const next = cur ? applyEvent(cur, e) : null;
      if (next) setList(next);
      // A new provider, a state change (uptime moves) or the first result of a provider
      // without uptime yet: read the list again, once.
      const card = cur?.find((p) => p.provider === e.provider);
      if (!next || e.type === "stateChanged" || (card && card.uptime24h == null && !card.lastCheck)) refresh();
      if (e.type === "checkCompleted") {
        setSparks((s) => ({ ...s, [e.provider]: [...(s[e.provider] ?? []), { ms: e.latencyMs, ok: e.ok }].slice(-SPARK_POINTS) }));
        setRuns((r) => (r[e.provider] ? { ...r, [e.provider]: { ...r[e.provider], done: r[e.provider].done + 1 } } : r));
        setNow(Date.now());
      } else {
        setStateChanges((n) => n + 1);
      }
    };
    onEvent<MonitorEventDto>(MONITOR_EVENT, handle)
      .then((un) => (gone ? un() : (stop = un)))
      .catch((e: unknown) => setLiveError(new IpcError("internal", `live updates are off: ${String(e)}`)));
    return () => {
      gone = true;
      stop?.();
    };
  }, [refresh, setList]);

  const runChecks = (provider: string, total: number | null = null) => {
    setRuns((r) => ({ ...r, [provider]: { done: 0, total } }));
    setRunErrors((e) => ({ ...e, [provider]: undefined }));
    monitor
      .runChecks(provider)
      .then((results) => {
        setLastRun((l) => ({ ...l, [provider]: results }));
        if (!listRef.current?.some((p) => p.provider === provider)) refresh();
      })
      .catch((e: unknown) => setRunErrors((errs) => ({ ...errs, [provider]: toIpcError(e) })))
      .finally(() =>
        setRuns((r) => {
          const rest = { ...r };
          delete rest[provider];
          return rest;
        }),
      );
  };

  const unmonitored = enabled.filter((p) => !(list ?? []).some((s) => s.provider === p.id));
  const current = selected ? (list ?? []).find((p) => p.provider === selected) : undefined;

  if (selected) {
    return (
      <section>
        <header class="page-header">
          <div>
            <h1>Status</h1>
            <p class="lead">
              <button type="button" class="link" data-testid="status-back" onClick={() => setSelected(null)}>
                ← All providers
              </button>
            </p>
          </div>
        </header>
        <ProviderDetail
          provider={selected}
          status={current}
          now={now}
          run={runs[selected]}
          runError={runErrors[selected]}
          results={lastRun[selected]}
          stateChanges={stateChanges}
          operations={operations[selected] ?? []}
          onRun={(total) => runChecks(selected, total)}
        />
      </section>
    );
  }

  return (
    <section>
      <header class="page-header">
        <div>
          <h1>Status</h1>
          <p class="lead">Live health of every monitored provider, updated as each check completes.</p>
        </div>
      </header>

      <ErrorCard error={error} testid="status-error" />

      {list === null && !error && <Loading>Loading provider health…</Loading>}

      {list !== null && list.length === 0 && (
        <EmptyState title="Nothing is monitored yet" testid="status-empty">
          <ol class="steps">
            <li>
              Enable the exchanges and data providers you use on the <a href="#/providers">Providers</a> page. Keyward
              checks every enabled provider on a schedule (every 30 s by default) and shows it here.
            </li>
            <li>
              {enabled.length === 0
                ? "No provider is enabled yet. Once one is, you can also run its checks right away from here."
                : "Run a first check right away with “Run checks now” below."}
            </li>
          </ol>
        </EmptyState>
      )}

      {unmonitored.length > 0 && (
        <div class="card" data-testid="status-unmonitored">
          <h2>Enabled, not checked yet</h2>
          <p class="hint">
            These providers have no check results yet. Their scheduled checks start with the next launch of Keyward;
            run them once now to see their state.
          </p>
          <ul class="run-list">
            {unmonitored.map((p) => (
              <li key={p.id}>
                <strong>{p.name}</strong>
                <RunButton provider={p.id} run={runs[p.id]} onRun={() => runChecks(p.id)} />
                <RunError provider={p.id} error={runErrors[p.id]} />
              </li>
            ))}
          </ul>
        </div>
      )}

      {list !== null && list.length > 0 && (
        <div class="status-grid" data-testid="status-grid">
          {list.map((p) => (
            <article key={p.provider} class={`card status-card ${p.state}`} data-testid={`status-card-${p.provider}`}>
              <button type="button" class="status-open" data-testid={`status-open-${p.provider}`} onClick={() => setSelected(p.provider)}>
                <span class="status-head">
                  <Dot state={p.state} />
                  <strong class="status-name">{p.name}</strong>
                  <span class={`state-text ${p.state}`} data-testid={`status-state-${p.provider}`}>
                    {p.state}
                  </span>
                </span>
                <span class="status-cause" title={p.cause} data-testid={`status-cause-${p.provider}`}>
                  {p.cause || "\u00a0"}
                </span>
                <Breakers provider={p.provider} breakers={p.breakers} now={now} />
                <span class="status-facts">
                  <span>
                    <span class="stat-label">Last check</span>
                    <span data-testid={`status-last-${p.provider}`}>
                      {p.lastCheck ? (
                        <>
                          {formatAgo(p.lastCheck.at, now)} · {p.lastCheck.ok ? formatMs(p.lastCheck.latencyMs) : "failed"}
                        </>
                      ) : (
                        "not yet"
                      )}
                    </span>
                  </span>
                  <span>
                    <span class="stat-label">Uptime 24 h</span>
                    <span data-testid={`status-uptime-${p.provider}`}>{formatUptimePercent(p.uptime24h)}</span>
                  </span>
                </span>
                <Sparkline points={sparks[p.provider] ?? []} />
              </button>
              <div class="status-card-foot">
                <RunButton provider={p.provider} run={runs[p.provider]} onRun={() => runChecks(p.provider)} />
                <RunError provider={p.provider} error={runErrors[p.provider]} />
              </div>
            </article>
          ))}
        </div>
      )}
    </section>
  );
}

/** What a breaker's state means for calls, in a few words. */
export function breakerText(b: BreakerView, now: number): string {
  const what = b.operation ? `${b.operation} calls` : "calls";
  if (b.state === "halfOpen") return `${what}: testing recovery`;
  const left = b.until ? Math.max(0, Math.ceil((new Date(b.until).getTime() - now) / 1000)) : null;
  return left === null ? `${what} stopped` : `${what} stopped, retry in ${left} s`;
}

/** The provider's circuit breakers that are not closed: calls stopped (open) or being tested
 * (half-open), with why on hover. */
function Breakers({ provider, breakers, now }: { provider: string; breakers: BreakerView[]; now: number }) {
  if (breakers.length === 0) return null;
  return (
    <span class="breakers" data-testid={`status-breakers-${provider}`}>
      {breakers.map((b) => (
        <span
          key={b.operation ?? "*"}
          class={`badge ${b.state === "open" ? "bad" : "warn"}`}
          title={`Circuit breaker ${b.state === "open" ? "open" : "half-open"}: ${b.reason}`}
        >
          {breakerText(b, now)}
        </span>
      ))}
    </span>
  );
}

function RunError({ provider, error }: { provider: string; error: IpcError | undefined }) {
  if (!error) return null;
  return (
    <span class="field-error inline" role="alert" data-testid={`status-run-error-${provider}`}>
      {errorText(error)}
    </span>
  );
}

function RunButton({ provider, run, onRun }: { provider: string; run: Run | undefined; onRun: () => void }) {
  const progress = run?.total ? ` ${Math.min(run.done, run.total)} of ${run.total}` : run?.done ? ` (${run.done} done)` : "";
  return (
    <BusyButton busy={!!run} busyLabel={`Running${progress}…`} class="button secondary small" onClick={onRun} testid={`status-run-${provider}`}>
      Run checks now
    </BusyButton>
  );
}

function ProviderDetail({
  provider,
  status,
  now,
  run,
  runError,
  results,
  stateChanges,
  operations,
  onRun,
}: {
  provider: string;
  status: ProviderStatusView | undefined;
  now: number;
  run: Run | undefined;
  runError: IpcError | undefined;
  results: CheckRunView[] | undefined;
  stateChanges: number;
  /** The provider's operations, for the check form. */
  operations: string[];
  onRun: (total: number | null) => void;
}) {
  const dark = useDark();
  const [hours, setHours] = useState(24);
  const running = !!run;
  // Re-read after a state change or a finished run (incidents, uptime, charts move then);
  // not while checks run, so the charts do not flicker for every result.
  const healthLoad = useLoad(() => monitor.health(provider), [provider, stateChanges, running], { skip: running });
  const stripLoad = useLoad(() => monitor.uptimeChart(provider, dark), [provider, dark, stateChanges, running], { skip: running });
  const latencyLoad = useLoad(() => monitor.latencyChart(provider, hours, dark), [provider, hours, dark, stateChanges, running], {
    skip: running,
    keep: false,
  });
  const health = healthLoad.data;
  const error = healthLoad.error;
  const strip = stripLoad.data;
  const latency = latencyLoad.data;
  const chartError = latencyLoad.error ?? stripLoad.error;

  const shown = status ?? health?.status ?? null;
  const state = shown?.state ?? "unknown";
  const checks = health?.checks ?? [];

  return (
    <div data-testid="status-detail">
      <div class="card">
        <div class="detail-head status-detail-head">
          <div>
            <h2 class="status-detail-title">
              <Dot state={state} /> <span data-testid="detail-name">{shown?.name ?? provider}</span>{" "}
              <span class={`state-text ${state}`} data-testid="detail-state">
                {state}
              </span>
            </h2>
            <p class="hint" data-testid="detail-cause">
              {shown?.cause}
              {shown?.since && <> · since {formatAgo(shown.since, now)}</>}
              {shown?.lastCheck && (
                <>
                  {" "}· last check {formatAgo(shown.lastCheck.at, now)}
                  {shown.lastCheck.ok ? `, ${formatMs(shown.lastCheck.latencyMs)}` : ", failed"}
                </>
              )}
            </p>
          </div>
          <div class="actions">
            <BusyButton
              busy={running}
              busyLabel={`Running checks${run?.total ? ` ${Math.min(run.done, run.total)} of ${run.total}` : ""}…`}
              onClick={() => onRun(checks.filter((c) => c.enabled).length || null)}
              testid="detail-run"
            >
              Run checks now
            </BusyButton>
          </div>
        </div>
        {running && run?.total ? (
          <progress class="run-progress" max={run.total} value={Math.min(run.done, run.total)} aria-label="checks done" />
        ) : null}
        <ErrorLine error={runError} testid="detail-run-error" />
        {results && !running && (
          <ul class="checks" data-testid="detail-run-results">
            {results.map((r) => (
              <li key={r.checkId} class={r.ok ? "ok" : "bad"}>
                <strong>{r.operation}</strong> {r.ok ? "OK" : "failed"} · {formatMs(r.latencyMs)}
                {r.status != null && <> · HTTP {r.status}</>}
                {r.error && <div class="hint">{r.error}</div>}
              </li>
            ))}
          </ul>
        )}
        <ErrorLine error={error} testid="detail-error" />
      </div>

      <div class="uptime-tiles" data-testid="detail-uptime">
        {(health?.uptime ?? []).map((u) => (
          <div key={u.window} class="card stat" data-testid={`uptime-${u.window}`}>
            <span class="stat-label">Uptime {UPTIME_LABELS[u.window] ?? u.window}</span>
            <span class="stat-value">{formatUptimePercent(u.percent)}</span>
            <span class="stat-note">{u.checks ? `${u.failures} of ${u.checks} checks failed` : "no checks in this window"}</span>
          </div>
        ))}
      </div>

      <div class="card">
        <div class="detail-head">
          <h2>Response time</h2>
          <Segmented options={LATENCY_WINDOWS} value={hours} onChange={setHours} label="Latency window" />
        </div>
        <CoreChart svg={latency} testid="latency-chart" label="response time chart" />
      </div>

      <div class="card">
        <h2>Uptime, last 90 days</h2>
        <CoreChart svg={strip} testid="uptime-strip" label="90-day uptime strip" />
        <ErrorLine error={chartError} testid="chart-error" />
      </div>

      <div class="card" data-testid="detail-incidents">
        <h2>Incidents</h2>
        {health && health.incidents.length === 0 && <p class="hint">No incidents in the last 90 days.</p>}
        {health && health.incidents.length > 0 && (
          <ul class="incidents">
            {health.incidents.map((i) => (
              <li key={i.id} class={i.state}>
                <Dot state={i.state} /> <strong>{i.state}</strong> · {new Date(i.startedAt).toLocaleString()} ·{" "}
                {i.endedAt ? `lasted ${formatDurationSeconds(i.durationSecs)}` : <span class="badge bad">ongoing, {formatDurationSeconds(i.durationSecs)}</span>}
                <div class="hint">{i.cause}</div>
              </li>
            ))}
          </ul>
        )}
      </div>

      <ChecksSection
        provider={provider}
        operations={operations}
        checks={checks}
        loaded={health !== null}
        onChanged={(list) => healthLoad.setData((h) => h && { ...h, checks: list })}
      />
    </div>
  );
}
