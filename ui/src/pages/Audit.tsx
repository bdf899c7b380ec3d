import { useRef, useState } from "preact/hooks";
import { audit, type AuditExportDto, type AuditQuery, type AuditPageDto, type AuditVerifyView } from "../ipc";
import { countOf, detailFields, formatTime } from "../lib/format";
import { useAction } from "../lib/useAction";
import { useLoad } from "../lib/useLoad";
import { BusyButton } from "../components/BusyButton";
import { EmptyState, ErrorCard, ErrorLine, Loading } from "../components/States";

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

function toDto(f: Filters): AuditQuery {
  const out: AuditQuery = {};
  if (f.provider.trim()) out.provider = f.provider.trim();
  if (f.keyLabel.trim()) out.keyLabel = f.keyLabel.trim();
  if (f.event) out.event = f.event;
  if (f.actor) out.actor = f.actor;
  return out;
}

export function Audit() {
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const options = useLoad(audit.options, []);
  const events = options.data?.events ?? [];
  const actors = options.data?.actors ?? [];
  // The first page of the current filters; an answer to older filters is dropped.
  const page = useLoad(() => audit.list({ ...toDto(filters), limit: PAGE_SIZE }), [filters]);
  const older = useAction();
  const verifying = useAction();
  const [verify, setVerify] = useState<AuditVerifyView | null>(null);
  const exporting = useAction<"jsonl" | "csv">();
  const [exported, setExported] = useState<AuditExportDto | null>(null);
  const current = useRef(filters);
  current.current = filters;

  const rows = page.data?.rows ?? null;
  const hasMore = page.data?.hasMore ?? false;
  const error = page.error;

  const loadOlder = () => {
    const last = rows?.[rows.length - 1];
    if (!last) return;
    const asked = filters;
    void older.run(() =>
      audit.list({ ...toDto(asked), beforeId: last.id, limit: PAGE_SIZE }).then((next) => {
        // Older rows of filters the user has since changed do not belong to this list.
        if (current.current !== asked) return;
        page.setData((cur: AuditPageDto | null) => ({ rows: [...(cur?.rows ?? []), ...next.rows], hasMore: next.hasMore }));
      }),
    );
  };

  const runVerify = () => {
    setVerify(null);
    void verifying.run(() => audit.verify().then(setVerify));
  };

  const runExport = (format: "jsonl" | "csv") => {
    setExported(null);
    void exporting.run(() => audit.exportTo(format, toDto(filters)).then(setExported), format);
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
          <BusyButton busy={verifying.busy !== null} busyLabel="Verifying…" testid="audit-verify" onClick={runVerify}>
            Verify chain
          </BusyButton>
        </div>
      </header>
      <ErrorLine error={verifying.error} testid="audit-verify-error" prefix="Could not verify the chain: " />

      {verify && (
        <div class={verify.intact ? "banner ok verify-result" : "card error"} role="status" data-testid="audit-verify-result">
          {verify.intact ? (
            <>
              Chain intact ({countOf(verify.rowsChecked, "row")}). Last hash{" "}
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
              {events.map((e) => (
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
              {actors.map((a) => (
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
          <BusyButton
            busy={exporting.busy === "jsonl"}
            busyLabel="Exporting…"
            class="button secondary"
            testid="audit-export-jsonl"
            disabled={exporting.busy !== null}
            onClick={() => runExport("jsonl")}
          >
            Export JSON lines
          </BusyButton>
          <BusyButton
            busy={exporting.busy === "csv"}
            busyLabel="Exporting…"
            class="button secondary"
            testid="audit-export-csv"
            disabled={exporting.busy !== null}
            onClick={() => runExport("csv")}
          >
            Export CSV
          </BusyButton>
        </div>
        <p class="hint">
          Exports hold every row matching the filters, oldest first. There is no save dialog: the file is written to the{" "}
          <code>exports</code> folder in Keyward's data directory.
        </p>
        {exported && (
          <p class="notice" role="status" data-testid="audit-export-result">
            Wrote {countOf(exported.rows, "row")} to <code>{exported.path}</code>
          </p>
        )}
        <ErrorLine error={exporting.error} testid="audit-export-error" />
      </div>

      <ErrorCard error={error} testid="audit-error" />

      {rows === null && !error && <Loading>Loading the audit log…</Loading>}

      {rows !== null && rows.length === 0 && (
        <EmptyState testid="audit-empty">
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
        </EmptyState>
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
                        {detailFields(r.detail).length === 0 && <span class="hint">—</span>}
                        {detailFields(r.detail).map((d) => (
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
              <BusyButton busy={older.busy !== null} busyLabel="Loading…" class="button secondary" testid="audit-more" onClick={loadOlder}>
                Load older
              </BusyButton>
            ) : (
              <span class="hint" data-testid="audit-end">
                {countOf(rows.length, "row")}: that is all of them.
              </span>
            )}
          </div>
          <ErrorLine error={older.error} testid="audit-more-error" />
        </div>
      )}
    </section>
  );
}

function capitalize(s: string): string {
  return s.length === 0 ? s : s[0].toUpperCase() + s.slice(1);
}
