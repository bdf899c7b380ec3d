// A row of mutually exclusive buttons (a range, a grouping, a tab).

export interface SegmentedOption<T extends string | number> {
  id: T;
  label: string;
}

interface Props<T extends string | number> {
  options: SegmentedOption<T>[];
  value: T;
  onChange: (id: T) => void;
  /** What the choice is about, for screen readers ("Range"). */
  label?: string;
  /** Tabs switch what is shown below (role tab, aria-selected); buttons are toggles (aria-pressed). */
  tabs?: boolean;
  /** `data-testid` of each option's button. */
  testid?: (id: T) => string;
}

export function Segmented<T extends string | number>({ options, value, onChange, label, tabs = false, testid }: Props<T>) {
  return (
    <div class="segmented" role={tabs ? "tablist" : "group"} aria-label={label}>
      {options.map((o) => (
        <button
          key={o.id}
          type="button"
          role={tabs ? "tab" : undefined}
          class={o.id === value ? "seg active" : "seg"}
          aria-pressed={tabs ? undefined : o.id === value}
          aria-selected={tabs ? o.id === value : undefined}
          data-testid={testid?.(o.id)}
          onClick={() => onChange(o.id)}
        >
          {o.label}
        </button>
      ))}
    </div>
  );
}
