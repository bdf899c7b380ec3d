// A chart the core rendered as SVG (plotters), placed as it came: the UI does not compute charts.
import { ErrorLine } from "./States";

interface Props {
  /** The SVG text; `null` while the core renders it. */
  svg: string | null;
  /** What the chart shows, for screen readers and the loading line ("calls chart"). */
  label: string;
  testid: string;
  /** Shown while rendering; default "Rendering {label}…". */
  loadingText?: string;
  error?: unknown;
  errorTestid?: string;
  errorPrefix?: string;
}

export function CoreChart({ svg, label, testid, loadingText, error, errorTestid, errorPrefix }: Props) {
  if (error) return <ErrorLine error={error} testid={errorTestid} prefix={errorPrefix} />;
  if (svg === null)
    return (
      <div class="chart loading" role="status">
        <span class="spinner" aria-hidden="true" /> {loadingText ?? `Rendering ${label}…`}
      </div>
    );
  // The SVG comes from Keyward's core, not from the network.
  return <div class="chart" data-testid={testid} role="img" aria-label={label} dangerouslySetInnerHTML={{ __html: svg }} />;
}
