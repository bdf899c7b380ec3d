// A labelled form field: the label above its input, and the field's own error right under it.
import type { ComponentChildren, JSX } from "preact";
import { errorText } from "../lib/errors";

interface FieldProps {
  label: ComponentChildren;
  children: ComponentChildren;
  /** Spans two grid columns. */
  wide?: boolean;
  /** What is wrong with this field's value (a string, or an error from the core). */
  error?: unknown;
  errorTestid?: string;
}

export function Field({ label, children, wide, error, errorTestid }: FieldProps) {
  return (
    <label class={wide ? "field wide" : "field"}>
      <span>{label}</span>
      {children}
      {error != null && error !== false && error !== "" && (
        <span class="field-error inline" role="alert" data-testid={errorTestid}>
          {typeof error === "string" ? error : errorText(error)}
        </span>
      )}
    </label>
  );
}

type InputProps = Omit<JSX.InputHTMLAttributes<HTMLInputElement>, "value" | "onInput" | "class" | "size"> & {
  value: string;
  /** Called with the text on every keystroke. */
  onValue: (value: string) => void;
  testid?: string;
  /** Marks the input red (its value is refused). */
  invalid?: boolean;
  small?: boolean;
};

/** A text input (`class="input"`) that reports its text instead of an event. */
export function TextInput({ value, onValue, testid, invalid, small, ...rest }: InputProps) {
  const cls = ["input", small && "small", invalid && "invalid"].filter(Boolean).join(" ");
  return (
    <input
      {...rest}
      class={cls}
      value={value}
      data-testid={testid}
      onInput={(e) => onValue((e.target as HTMLInputElement).value)}
    />
  );
}

type SelectProps<T extends string> = Omit<JSX.SelectHTMLAttributes<HTMLSelectElement>, "value" | "onChange" | "class" | "size"> & {
  value: T;
  options: { id: T; label: string }[];
  onValue: (value: T) => void;
  testid?: string;
  small?: boolean;
};

/** A select (`class="input"`) over `options` that reports the chosen id. */
export function Select<T extends string>({ value, options, onValue, testid, small, ...rest }: SelectProps<T>) {
  return (
    <select
      {...rest}
      class={small ? "input small" : "input"}
      value={value}
      data-testid={testid}
      onChange={(e) => onValue((e.target as HTMLSelectElement).value as T)}
    >
      {options.map((o) => (
        <option key={o.id} value={o.id}>
          {o.label}
        </option>
      ))}
    </select>
  );
}
