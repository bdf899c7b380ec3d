import { act, fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { useState } from "preact/hooks";
import { describe, expect, it, vi } from "vitest";
import { IpcError } from "../ipc";
import { useLoad, type LoadOptions } from "./useLoad";

/** Promises the test settles by hand, in any order. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function Probe({ fetcher, options }: { fetcher: (q: string) => Promise<string>; options?: LoadOptions }) {
  const [q, setQ] = useState("a");
  const load = useLoad(() => fetcher(q), [q], options);
  return (
    <div>
      <button onClick={() => setQ("b")}>b</button>
      <button onClick={load.reload}>reload</button>
      <span data-testid="data">{load.data ?? "none"}</span>
      <span data-testid="error">{load.error ? `${load.error.kind}: ${load.error.message}` : "none"}</span>
      <span data-testid="loading">{String(load.loading)}</span>
    </div>
  );
}

const text = (id: string) => screen.getByTestId(id).textContent;

describe("useLoad", () => {
  it("shows loading, then the answer", async () => {
    const a = deferred<string>();
    render(<Probe fetcher={() => a.promise} />);
    expect(text("loading")).toBe("true");
    expect(text("data")).toBe("none");
    await act(async () => a.resolve("rows for a"));
    expect(text("data")).toBe("rows for a");
    expect(text("loading")).toBe("false");
  });

  it("drops a slow answer to an older selection that arrives after the newer one", async () => {
    const answers: Record<string, ReturnType<typeof deferred<string>>> = { a: deferred(), b: deferred() };
    render(<Probe fetcher={(q) => answers[q].promise} />);
    fireEvent.click(screen.getByText("b"));
    await act(async () => answers.b.resolve("rows for b"));
    expect(text("data")).toBe("rows for b");
    await act(async () => answers.a.resolve("rows for a"));
    expect(text("data")).toBe("rows for b");
  });

  it("drops a stale failure too, so an old error never hides new data", async () => {
    const answers: Record<string, ReturnType<typeof deferred<string>>> = { a: deferred(), b: deferred() };
    render(<Probe fetcher={(q) => answers[q].promise} />);
    fireEvent.click(screen.getByText("b"));
    await act(async () => answers.b.resolve("rows for b"));
    await act(async () => answers.a.reject(new IpcError("storage", "disk I/O error")));
    expect(text("error")).toBe("none");
    expect(text("data")).toBe("rows for b");
  });

  it("shows the core's error with its kind, and clears it when a reload succeeds", async () => {
    const fetcher = vi
      .fn<(q: string) => Promise<string>>()
      .mockRejectedValueOnce({ kind: "storage", message: "database is locked" })
      .mockResolvedValueOnce("rows");
    render(<Probe fetcher={fetcher} />);
    await waitFor(() => expect(text("error")).toBe("storage: database is locked"));
    expect(text("loading")).toBe("false");
    fireEvent.click(screen.getByText("reload"));
    await waitFor(() => expect(text("data")).toBe("rows"));
    expect(text("error")).toBe("none");
  });

  it("keeps the previous data while refreshing, unless asked to show loading again", async () => {
    const kept = deferred<string>();
    const fetcher = vi.fn<(q: string) => Promise<string>>().mockResolvedValueOnce("first").mockReturnValue(kept.promise);
    const { unmount } = render(<Probe fetcher={fetcher} />);
    await waitFor(() => expect(text("data")).toBe("first"));
    fireEvent.click(screen.getByText("reload"));
    await waitFor(() => expect(text("loading")).toBe("true"));
    expect(text("data")).toBe("first");
    unmount();

    const cleared = vi.fn<(q: string) => Promise<string>>().mockResolvedValueOnce("first").mockReturnValue(deferred<string>().promise);
    render(<Probe fetcher={cleared} options={{ keep: false }} />);
    await waitFor(() => expect(text("data")).toBe("first"));
    fireEvent.click(screen.getByText("b"));
    await waitFor(() => expect(text("data")).toBe("none"));
    expect(text("loading")).toBe("true");
  });

  it("a fetcher that throws instead of rejecting is shown as an error", async () => {
    render(
      <Probe
        fetcher={() => {
          throw new Error("not a promise");
        }}
      />,
    );
    await waitFor(() => expect(text("error")).toBe("internal: not a promise"));
  });
});
