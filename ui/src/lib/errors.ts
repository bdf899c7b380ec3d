// What the user reads when something failed. The core's messages already name the thing and
// the value that was wrong; this only turns any thrown value into one and adds the next step
// where the app (not the command line) is where the user can take it.
import { IpcError, toIpcError } from "../ipc";

/** Any thrown value as an `IpcError` (a command's error keeps its kind and message). */
export function asIpcError(e: unknown): IpcError {
  return toIpcError(e);
}

/** The sentence to show for an error: the core's message, plus what to do when it is known. */
export function errorText(e: unknown): string {
  const err = toIpcError(e);
  const message = err.message.trim();
  if (message === "") return `Keyward did not say what went wrong (${err.kind}).`;
  if (err.kind === "vaultLocked" && !/settings page/i.test(message)) {
    return `${message} The vault unlocks on the Settings page.`;
  }
  return message;
}
