import { act, fireEvent, render, screen } from "@testing-library/preact";
import { describe, expect, it, vi } from "vitest";
import { IpcError } from "../ipc";
import { BusyButton } from "./BusyButton";

function deferred() {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe("BusyButton", () => {
  it("is disabled and says what it is doing while the action runs, so it cannot be sent twice", async () => {
    const d = deferred();
    const run = vi.fn(() => d.promise);
    render(
      <BusyButton run={run} busyLabel="Saving…" testid="save">
        Save
      </BusyButton>,
    );
    const button = screen.getByTestId("save") as HTMLButtonElement;
    fireEvent.click(button);
    expect(button.textContent).toBe("Saving…");
    expect(button.disabled).toBe(true);
    expect(button.querySelector(".spinner")).toBeTruthy();
    fireEvent.click(button);
    expect(run).toHaveBeenCalledTimes(1);
    await act(async () => d.resolve());
    expect(button.textContent).toBe("Save");
    expect(button.disabled).toBe(false);
  });

  it("shows the failure next to the button that failed, not next to the other one", async () => {
    const d = deferred();
    render(
      <div>
        <div data-testid="first-row">
          <BusyButton run={() => d.promise} busyLabel="Testing…" testid="first" errorTestid="first-error">
            Test
          </BusyButton>
        </div>
        <div data-testid="second-row">
          <BusyButton run={() => Promise.resolve()} busyLabel="Testing…" testid="second" errorTestid="second-error">
            Test
          </BusyButton>
        </div>
      </div>,
    );
    fireEvent.click(screen.getByTestId("first"));
    await act(async () => d.reject(new IpcError("http", "webhook answered HTTP 404")));
    const error = screen.getByTestId("first-error");
    expect(error.textContent).toBe("webhook answered HTTP 404");
    expect(error.getAttribute("role")).toBe("alert");
    expect(screen.getByTestId("first-row").contains(error)).toBe(true);
    expect(screen.queryByTestId("second-error")).toBeNull();
    expect((screen.getByTestId("first") as HTMLButtonElement).disabled).toBe(false);
  });

  it("hides the old error when it is tried again and succeeds", async () => {
    const run = vi.fn().mockRejectedValueOnce(new IpcError("http", "timed out")).mockResolvedValueOnce(undefined);
    render(
      <BusyButton run={run} busyLabel="Sending…" testid="send" errorTestid="send-error">
        Send
      </BusyButton>,
    );
    await act(async () => {
      fireEvent.click(screen.getByTestId("send"));
    });
    expect(screen.getByTestId("send-error").textContent).toBe("timed out");
    await act(async () => {
      fireEvent.click(screen.getByTestId("send"));
    });
    expect(screen.queryByTestId("send-error")).toBeNull();
  });

  it("shows a busy state it does not own (a form's submit)", () => {
    const { rerender } = render(
      <BusyButton busy={false} busyLabel="Creating…" testid="create" type="submit">
        Create token
      </BusyButton>,
    );
    expect(screen.getByTestId("create").textContent).toBe("Create token");
    expect(screen.getByTestId("create").getAttribute("type")).toBe("submit");
    rerender(
      <BusyButton busy busyLabel="Creating…" testid="create" type="submit">
        Create token
      </BusyButton>,
    );
    expect(screen.getByTestId("create").textContent).toBe("Creating…");
    expect((screen.getByTestId("create") as HTMLButtonElement).disabled).toBe(true);
  });
});
