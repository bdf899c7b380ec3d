import { fireEvent, render, screen } from "@testing-library/preact";
import { useState } from "preact/hooks";
import { describe, expect, it } from "vitest";
import { IpcError } from "../ipc";
import { Field, TextInput } from "./Field";

function Port() {
  const [port, setPort] = useState("47311");
  const bad = !/^\d+$/.test(port);
  return (
    <Field label="Port" error={bad ? `port "${port}" is not a number` : null} errorTestid="port-error">
      <TextInput value={port} onValue={setPort} invalid={bad} testid="port" />
    </Field>
  );
}

describe("Field", () => {
  it("labels its input and shows the field's own error under it while the value is wrong", () => {
    render(<Port />);
    const input = screen.getByLabelText("Port") as HTMLInputElement;
    expect(input.value).toBe("47311");
    expect(screen.queryByTestId("port-error")).toBeNull();
    fireEvent.input(input, { target: { value: "47x" } });
    expect(screen.getByTestId("port-error").textContent).toBe('port "47x" is not a number');
    expect(input.className).toContain("invalid");
    fireEvent.input(input, { target: { value: "8080" } });
    expect(screen.queryByTestId("port-error")).toBeNull();
    expect(input.className).not.toContain("invalid");
  });

  it("shows an error from the core as its message", () => {
    render(
      <Field label="Bind address" error={new IpcError("confirmationNeeded", "binding 0.0.0.0 needs your confirmation")} errorTestid="bind-error">
        <TextInput value="0.0.0.0" onValue={() => undefined} />
      </Field>,
    );
    expect(screen.getByTestId("bind-error").textContent).toBe("binding 0.0.0.0 needs your confirmation");
  });
});
