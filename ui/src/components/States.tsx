// The states every page shows around its data: loading, failed, and empty with a next step.
import type { ComponentChildren } from "preact";
import { errorText } from "../lib/errors";

/** A spinner with what is being read. `card` is a page's block; `line` and `hint` sit inside a card. */
export function Loading({ children, variant = "card", testid }: { children: ComponentChildren; variant?: "card" | "line" | "hint"; testid?: string }) {
  const spinner = <span class="spinner" aria-hidden="true" />;
  if (variant === "card")
    return (
      <div class="card muted" role="status" data-testid={testid}>
        {spinner} {children}
      </div>
    );
  return (
    <p class={variant === "line" ? "muted-line" : "hint"} role="status" data-testid={testid}>
      {spinner} {children}
    </p>
  );
}

/** A page-level failure as a red card; nothing when there is no error. */
export function ErrorCard({ error, testid }: { error: unknown; testid?: string }) {
  if (!error) return null;
  return (
    <div class="card error" role="alert" data-testid={testid}>
      {errorText(error)}
    </div>
  );
}

/** A failure next to what failed (a form, a section); nothing when there is no error. */
export function ErrorLine({ error, testid, prefix }: { error: unknown; testid?: string; prefix?: string }) {
  if (!error) return null;
  return (
    <p class="field-error" role="alert" data-testid={testid}>
      {prefix}
      {typeof error === "string" ? error : errorText(error)}
    </p>
  );
}

/** What a page shows when there is nothing yet: a title and the next step. */
export function EmptyState({ title, testid, children }: { title?: ComponentChildren; testid?: string; children: ComponentChildren }) {
  return (
    <div class="card empty" data-testid={testid}>
      {title && <h2>{title}</h2>}
      {children}
    </div>
  );
}
