// A button for an action that takes a while: disabled with a spinner and a "…ing" label while
// it runs, so it cannot be sent twice, and its failure shown right next to it.
import type { ComponentChildren } from "preact";
import { useRef } from "preact/hooks";
import { useAction } from "../lib/useAction";
import { errorText } from "../lib/errors";

interface Common {
  children: ComponentChildren;
  /** The label while the action runs ("Saving…"). */
  busyLabel: ComponentChildren;
  /** The button's classes; default "button". */
  class?: string;
  testid?: string;
  disabled?: boolean;
  title?: string;
}

type Props = Common &
  (
    | {
        /** The button runs this itself; a failure shows next to it (`errorTestid`). */
        run: () => Promise<unknown>;
        errorTestid?: string;
        busy?: never;
        onClick?: never;
        type?: never;
      }
    | {
        /** The action is the caller's (a form submit, progress from events): just show it. */
        busy: boolean;
        onClick?: () => void;
        type?: "button" | "submit";
        run?: never;
        errorTestid?: never;
      }
  );

export function BusyButton(props: Props) {
  return props.run ? <OwnActionButton {...props} /> : <Button {...props} busy={props.busy ?? false} />;
}

function OwnActionButton({ run, errorTestid, ...rest }: Common & { run: () => Promise<unknown>; errorTestid?: string }) {
  const action = useAction();
  // A second click can land before the disabled button is rendered; it must not run again.
  const running = useRef(false);
  const click = () => {
    if (running.current) return;
    running.current = true;
    void action.run(run).finally(() => (running.current = false));
  };
  return (
    <>
      <Button {...rest} busy={action.busy !== null} onClick={click} />
      {action.error && (
        <span class="field-error inline" role="alert" data-testid={errorTestid}>
          {errorText(action.error)}
        </span>
      )}
    </>
  );
}

function Button({
  children,
  busyLabel,
  busy,
  class: cls = "button",
  testid,
  disabled,
  title,
  onClick,
  type = "button",
}: Common & { busy: boolean; onClick?: () => void; type?: "button" | "submit" }) {
  // A white spinner on a filled button, the accent one on an outlined button.
  const light = !/\b(secondary|link)\b/.test(cls);
  return (
    <button
      type={type}
      class={busy ? `${cls} busy` : cls}
      disabled={busy || disabled}
      aria-busy={busy || undefined}
      data-testid={testid}
      title={title}
      onClick={onClick}
    >
      {busy ? (
        <>
          <span class={light ? "spinner light" : "spinner"} aria-hidden="true" />
          {busyLabel}
        </>
      ) : (
        children
      )}
    </button>
  );
}
