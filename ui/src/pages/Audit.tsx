import { useEffect, useRef, useState } from "preact/hooks";
import {
  audit,
  IpcError,
  type AuditExportDto,
  type AuditFilterDto,
  type AuditOptionsDto,
  type AuditRowDto,
  type AuditVerifyDto,
} from "../ipc";

/** Rows per page; "Load older" fetches the next page. */
export const PAGE_SIZE = 50;

/** Events worth a second look: secrets shown or copied, keys removed, failed unlocks. */
const SENSITIVE = new Set(["key_revealed", "key_copied", "key_deleted", "vault_unlock_failed", "backup_exported"]);

interface Filters {
  provider: string;
  keyLabel: string;
  event: string;
  actor: string;
}
const NO_FILTERS: Filters = { provider: "", keyLabel: "", event: "", actor: "" };

function toDto(f: Filters): AuditFilterDto {
  const out: AuditFilterDto = {};
  if (f.provider.trim()) out.provider = f.provider.trim();
  if (f.keyLabel.trim()) out.keyLabel = f.keyLabel.trim();
  if (f.event) out.event = f.event;
  if (f.actor) out.actor = f.actor;
  return out;
}

const pad = (n: number) => String(n).padStart(2, "0");
/** Local time, to the second: "2026-01-02 15:04:05". */
export function formatTime(iso: string): string {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return iso;
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}`;
}

export function Audit() {
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [options, setOptions] = useState<AuditOptionsDto>({ events: [], actors: [] });
  const [rows, setRows] = useState<AuditRowDto[] | null>(null);
  const [hasMore, setHasMore] = useState(false);
  const [loadingMore, setLoadingMore] = useState(false);
  const [error, setError] = useState<IpcError | null>(null);
  const [verifying, setVerifying] = useState(false);
  const [verify, setVerify] = useState<AuditVerifyDto | null>(null);
  const [exporting, setExporting] = useState<"jsonl" | "csv" | null>(null);
  const [exported, setExported] = useState<AuditExportDto | null>(null);
  // Answers to an older filter are dropped when a newer request was made.
  const request = useRef(0);

  useEffect(() => {
    audit.options().then(setOptions).catch(() => undefined);
  }, []);

  useEffect(() => {
    const mine = ++request.current;
    audit
      .list({ ...toDto(filters), limit: PAGE_SIZE })
      .then((page) => {
        if (mine !== request.current) return;
        setRows(page.rows);
        setHasMore(page.hasMore);
        setError(null);
      })
      .catch((e: IpcError) => {
        if (mine === request.current) setError(e);
      });
  }, [filters]);

  const loadOlder = () => {
    const last = rows?.[rows.length - 1];
    if (!last) return;
    const mine = ++request.current;
    setLoadingMore(true);
    audit
      .list({ ...toDto(filters), beforeId: last.id, limit: PAGE_SIZE })
      .then((page) => {
        if (mine !== request.current) return;
        setRows((cur) => [...(cur ?? []), ...page.rows]);
        setHasMore(page.hasMore);
      })
      .catch(setError)
      .finally(() => setLoadingMore(false));
  };

  const runVerify = () => {
    setVerifying(true);
    setVerify(null);
    audit
      .verify()
      .then(setVerify)
      .catch(setError)
      .finally(() => setVerifying(false));
  };

  const runExport = (format: "jsonl" | "csv") => {
    setExporting(format);
    setExported(null);
    audit
      .exportTo(format, toDto(filters))
      .then(setExported)
      .catch(setError)
      .finally(() => setExporting(null));
  };

  const set = (k: keyof Filters) => (e: Event) => setFilters({ ...filters, [k]: (e.target as HTMLInputElement).value });
  const filtered = JSON.stringify(filters) !== JSON.stringify(NO_FILTERS);

  return (
    <section>
      <header class="page-header">
        <div>
          <h1>Audit</h1>
          <p class="lead">
            An append-only, hash-chained record of every key, vault and settings event, sealed with a key kept in your credential
            store so that editing the database cannot hide a change.
          </p>
        </div>
        <div class="actions">
          <button type="button" class="button" data-testid="audit-verify" disabled={verifying} onClick={runVerify}>
            {verifying ? "Verifying…" : "Verify chain"}
          </button>
        </div>
      </header>

      {verify && (
        <div class={verify.intact ? "banner ok verify-result" : "card error"} role="status" data-testid="audit-verify-result">
          {verify.intact ? (
            <>
              Chain intact ({verify.rowsChecked} row{verify.rowsChecked === 1 ? "" : "s"}). Last hash{" "}
              <code title={verify.lastHash}>{verify.lastHash.slice(0, 16)}…</code>
              <p class={verify.seals === "checked" ? "seal-note" : "seal-note warn"} data-testid="audit-seal-note">
                <span class={verify.seals === "checked" ? "badge ok" : "badge warn"}>
                  {verify.seals === "checked" ? "sealed" : verify.seals === "notYetSealed" ? "not sealed yet" : "seals not checked"}
                </span>{" "}
                {capitalize(verify.sealNote)}.
              </p>
            </>
          ) : (
            <>
              <h2>The audit log was tampered with</h2>
              <ul class="tamper">
                {verify.problems.map((p) => (
                  <li key={`${p.kind}-${p.rowId}`}>
                    <span class="badge bad">{p.kind}</span> {p.message}
                  </li>
                ))}
              </ul>
            </>
          )}
        </div>
      )}

      <div class="card">
        <div class="filters">
          <label class="field">
            <span>Provider</span>
            <input class="input" type="search" value={filters.provider} onInput={set("provider")} placeholder="any" data-testid="audit-filter-provider" />
          </label>
          <label class="field">
            <span>Key label</span>
            <input class="input" type="search" value={filters.keyLabel} onInput={set("keyLabel")} placeholder="any" data-testid="audit-filter-label" />
          </label>
          <label class="field">
            <span>Event</span>
            <select class="input" value={filters.event} onChange={set("event")} data-testid="audit-filter-event">
              <option value="">All events</option>
              {options.events.map((e) => (
                <option key={e} value={e}>
                  {e.replace(/_/g, " ")}
                </option>
              ))}
            </select>
          </label>
          <label class="field">
            <span>Actor</span>
            <select class="input" value={filters.actor} onChange={set("actor")} data-testid="audit-filter-actor">
              <option value="">Anyone</option>
              {options.actors.map((a) => (
                <option key={a} value={a}>
                  {a}
                </option>
              ))}
            </select>
          </label>
        </div>
        <div class="actions">
          {filtered && (
            <button type="button" class="button secondary" onClick={() => setFilters(NO_FILTERS)}>
              Clear filters
            </button>
          )}
          <button type="button" class="button secondary" data-testid="audit-export-jsonl" disabled={exporting !== null} onClick={() => runExport("jsonl")}>
            {exporting === "jsonl" ? "Exporting…" : "Export JSON lines"}
          </button>
          <button type="button" class="button secondary" data-testid="audit-export-csv" disabled={exporting !== null} onClick={() => runExport("csv")}>
            {exporting === "csv" ? "Exporting…" : "Export CSV"}
          </button>
        </div>
        <p class="hint">
          Exports hold every row matching the filters, oldest first. There is no save dialog: the file is written to the{" "}
          <code>exports</code> folder in Keyward's data directory.
        </p>
        {exported && (
          <p class="notice" role="status" data-testid="audit-export-result">
            Wrote {exported.rows} row{exported.rows === 1 ? "" : "s"} to <code>{exported.path}</code>
          </p>
        )}
      </div>

      {error && (
        <div class="card error" role="alert" data-testid="audit-error">
          {error.message}
        </div>
      )}

      {rows === null && !error && (
        <div class="card muted" role="status">
          <span class="spinner" aria-hidden="true" /> Loading the audit log…
        </div>
      )}

      {rows !== null && rows.length === 0 && (
        <div class="card empty" data-testid="audit-empty">
          {filtered ? (
            <>
              <h2>No rows match these filters</h2>
              <p>Clear a filter to see more of the log.</p>
            </>
          ) : (
            <>
              <h2>Nothing recorded yet</h2>
              <p>Keyward writes a row here, with who did it and when, each time:</p>
              <ul>
                <li>a key is added, edited, rotated, retired or deleted, or its permissions are checked;</li>
                <li>a secret is revealed or copied;</li>
                <li>a key is used (one row per key per minute, with the count);</li>
                <li>the vault is unlocked or locked, and settings or providers change.</li>
              </ul>
              <p>
                Secrets never enter the log. Add a key on the <a href="#/keys">Keys page</a> to see the first row.
              </p>
            </>
          )}
        </div>
      )}

      {rows !== null && rows.length > 0 && (
        <div class="card">
          <div class="table-wrap">
            <table class="audit" data-testid="audit-table">
              <thead>
                <tr>
                  <th>Time</th>
                  <th>Actor</th>
                  <th>Event</th>
                  <th>Provider / label</th>
                  <th>Detail</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr key={r.id} data-testid={`audit-row-${r.id}`} title={`row ${r.id} · hash ${r.hash}`}>
                    <td class="nowrap">
                      <time dateTime={r.ts} title={r.ts}>
                        {formatTime(r.ts)}
                      </time>
                    </td>
                    <td>
                      <span class="badge info">{r.actor}</span>
                    </td>
                    <td>
                      <span class={SENSITIVE.has(r.event) ? "badge warn" : "event"}>{r.event}</span>
                    </td>
                    <td class="who">
                      {r.provider ?? "—"}
                      {r.keyLabel && <> / <strong>{r.keyLabel}</strong></>}
                    </td>
                    <td>
                      <div class="kvs">
                        {r.detail.length === 0 && <span class="hint">—</span>}
                        {r.detail.map((d) => (
                          <span key={d.key} class="kv">
                            {d.key && <span class="kv-key">{d.key}</span>}
                            <span class="kv-value">{d.value}</span>
                          </span>
                        ))}
                      </div>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <div class="actions">
            {hasMore ? (
              <button type="button" class="button secondary" data-testid="audit-more" disabled={loadingMore} onClick={loadOlder}>
                {loadingMore ? "Loading…" : "Load older"}
              </button>
            ) : (
              <span class="hint" data-testid="audit-end">
                {rows.length} row{rows.length === 1 ? "" : "s"}: that is all of them.
              </span>
            )}
          </div>
        </div>
      )}
    </section>
  );
}

function capitalize(s: string): string {
  return s.length === 0 ? s : s[0].toUpperCase() + s.slice(1);
}
