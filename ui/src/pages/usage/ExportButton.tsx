import { useState } from "preact/hooks";
import { exportUsage, type ExportBucket, type ExportFormat, type ExportSaved } from "../../ipc";
import { useAction } from "../../lib/useAction";
import { BusyButton } from "../../components/BusyButton";
import { ErrorLine } from "../../components/States";

const BUCKETS: { id: ExportBucket; label: string }[] = [
  { id: "none", label: "whole range" },
  { id: "hour", label: "per hour" },
  { id: "day", label: "per day" },
];

/**
 * Export the rows the Usage page shows (its range, grouping and provider) as CSV or JSON. The file goes
 * to the Downloads folder; the path is shown so the user can find it.
 */
export function ExportButton({ range, groupBy, provider = null }: { range: string; groupBy: string; provider?: string | null }) {
  const action = useAction<ExportFormat>();
  const [bucket, setBucket] = useState<ExportBucket>("none");
  const [saved, setSaved] = useState<ExportSaved | null>(null);
  const run = async (format: ExportFormat) => {
    setSaved(null);
    const done = await action.run(() => exportUsage({ format, since: range, by: groupBy, bucket, provider }), format);
    if (done) setSaved(done);
  };
  return (
    <div class="usage-export" data-testid="usage-export">
      <label class="field inline">
        <span>Export</span>
        <select
          class="input"
          value={bucket}
          data-testid="usage-export-bucket"
          onChange={(e) => setBucket((e.target as HTMLSelectElement).value as ExportBucket)}
        >
          {BUCKETS.map((b) => (
            <option key={b.id} value={b.id}>
              {b.label}
            </option>
          ))}
        </select>
      </label>
      {(["csv", "json"] as const).map((f) => (
        <BusyButton
          key={f}
          class="button secondary small"
          busy={action.busy === f}
          busyLabel="Exporting…"
          disabled={action.busy !== null}
          testid={`usage-export-${f}`}
          onClick={() => void run(f)}
        >
          {f.toUpperCase()}
        </BusyButton>
      ))}
      {saved && (
        <p class="hint" role="status" data-testid="usage-export-saved">
          Saved {saved.rows} {saved.rows === 1 ? "row" : "rows"} to <code>{saved.path}</code>
        </p>
      )}
      <ErrorLine error={action.error} testid="usage-export-error" prefix="Could not export: " />
    </div>
  );
}
