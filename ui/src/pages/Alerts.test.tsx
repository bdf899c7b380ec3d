import { act, fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  ALERT_EVENT,
  IpcError,
  type AlertView,
  type HookDeliveryView,
  type HookView,
  type RuleView,
  type WebhookView,
} from "../ipc";
import { Alerts } from "./Alerts";

const api = vi.hoisted(() => ({
  alerts: {
    list: vi.fn(),
    acknowledge: vi.fn(),
    rules: vi.fn(),
    setRuleEnabled: vi.fn(),
    setRuleWebhooks: vi.fn(),
    restoreDefaultRules: vi.fn(),
    webhooks: vi.fn(),
    addWebhook: vi.fn(),
    testWebhook: vi.fn(),
    removeWebhook: vi.fn(),
  },
  hooks: {
    list: vi.fn(),
    add: vi.fn(),
    remove: vi.fn(),
    deliveries: vi.fn(),
  },
  handlers: {} as Record<string, (payload: unknown) => void>,
}));
vi.mock("../ipc", async (orig) => {
  const real = await orig<typeof import("../ipc")>();
  return {
    ...real,
    alerts: { ...real.alerts, ...api.alerts },
    hooks: { ...real.hooks, ...api.hooks },
    onEvent: (name: string, handler: (payload: unknown) => void) => {
      api.handlers[name] = handler;
      return Promise.resolve(() => undefined);
    },
  };
});

const NOW = new Date().toISOString();

const alert = (id: number, over: Partial<AlertView> = {}): AlertView => ({
  id,
  ts: NOW,
  severity: "critical",
  title: "binance is down",
  body: "binance has been down for 3 consecutive checks (was up). Cause: all 2 checks failing",
  provider: "binance",
  state: "active",
  ruleKind: "provider_down",
  acknowledgedAt: null,
  resolvedAt: null,
  suppressed: null,
  ...over,
});

const RULE: RuleView = {
  id: 1,
  name: "Provider down",
  kind: "provider_down",
  condition: "down for 3 consecutive checks",
  enabled: true,
  providers: [],
  desktop: true,
  webhooks: [],
  cooldownSecs: 900,
  severity: null,
};

const HOOK: WebhookView = {
  id: 7,
  name: "ops",
  url: "https://hooks.slack.com/…",
  format: "slack",
  hasSecret: false,
  enabled: true,
  createdAt: NOW,
  lastDelivery: null,
};

beforeEach(() => {
  Object.values(api.alerts).forEach((f) => f.mockReset());
  api.handlers = {};
  api.alerts.list.mockResolvedValue({ open: [], history: [] });
  api.alerts.rules.mockResolvedValue([RULE]);
  api.alerts.webhooks.mockResolvedValue([]);
  Object.values(api.hooks).forEach((f) => f.mockReset());
  api.hooks.list.mockResolvedValue([]);
  api.hooks.deliveries.mockResolvedValue([]);
});

const IN_HOOK: HookView = {
  id: "h0123456789abcdef",
  name: "kraken-status",
  provider: "kraken",
  auth: "urlSecret",
  url: "http://127.0.0.1:47311/hooks/h0123456789abcdef",
  createdAt: NOW,
};

const delivery = (id: number, over: Partial<HookDeliveryView> = {}): HookDeliveryView => ({
  id,
  ts: NOW,
  hookId: IN_HOOK.id,
  hookName: "kraken-status",
  httpStatus: 202,
  result: "accepted",
  detail: "kraken: up → maintenance, alert \"kraken-status: maintenance: Spot trading engine upgrade\"",
  bytes: 1200,
  ...over,
});

describe("incoming hooks", () => {
  it("says what to do when there are none, creates one and shows its secret once", async () => {
    api.hooks.add.mockResolvedValue({
      hook: IN_HOOK,
      secret: "kwh_s3cret",
      sendUrl: `${IN_HOOK.url}?secret=kwh_s3cret`,
    });
    render(<Alerts />);
    expect((await screen.findByTestId("hooks-empty")).textContent).toContain("Create one below");
    expect(screen.getByTestId("hook-deliveries-empty").textContent).toContain("Nothing received yet");

    api.hooks.list.mockResolvedValue([IN_HOOK]);
    fireEvent.input(screen.getByTestId("hook-name"), { target: { value: " kraken-status " } });
    fireEvent.input(screen.getByTestId("hook-provider"), { target: { value: "kraken" } });
    fireEvent.change(screen.getByTestId("hook-auth"), { target: { value: "urlSecret" } });
    fireEvent.click(screen.getByTestId("hook-add"));
    await waitFor(() => expect(screen.getByTestId("hook-issued-secret").textContent).toBe("kwh_s3cret"));
    expect(api.hooks.add).toHaveBeenCalledWith({ name: "kraken-status", provider: "kraken", auth: "urlSecret" });
    expect(screen.getByTestId("hook-issued-url").textContent).toBe(`${IN_HOOK.url}?secret=kwh_s3cret`);
    await waitFor(() => expect(screen.getByTestId("hook-url-kraken-status").textContent).toBe(`${IN_HOOK.url}?secret=…`));
    expect(screen.getByTestId("hook-kraken-status").textContent).not.toContain("kwh_s3cret");

    fireEvent.click(screen.getByTestId("hook-issued-done"));
    expect(screen.queryByTestId("hook-issued")).toBeNull();
  });

  it("shows the core's refusal next to the form", async () => {
    api.hooks.add.mockRejectedValue(new IpcError("invalid", 'hook provider "nosuch": there is no such provider'));
    render(<Alerts />);
    fireEvent.input(await screen.findByTestId("hook-name"), { target: { value: "x" } });
    fireEvent.input(screen.getByTestId("hook-provider"), { target: { value: "nosuch" } });
    fireEvent.click(screen.getByTestId("hook-add"));
    await waitFor(() => expect(screen.getByTestId("hook-add-error").textContent).toContain('"nosuch"'));
    expect(screen.queryByTestId("hook-issued")).toBeNull();
  });

  it("lists every delivery with its result, and reloads when an alert arrives", async () => {
    api.hooks.list.mockResolvedValue([IN_HOOK]);
    api.hooks.deliveries.mockResolvedValue([
      delivery(2),
      delivery(1, { httpStatus: 401, result: "bad_signature", detail: "the URL's \"secret\" parameter is wrong for this hook" }),
    ]);
    render(<Alerts />);
    const accepted = await screen.findByTestId("hook-delivery-2");
    expect(accepted.querySelector(".badge.ok")?.textContent).toBe("202 accepted");
    expect(accepted.textContent).toContain("kraken: up → maintenance");
    const refused = screen.getByTestId("hook-delivery-1");
    expect(refused.querySelector(".badge.bad")?.textContent).toBe("401 bad signature");
    expect(refused.textContent).toContain("parameter is wrong");

    await waitFor(() => expect(api.handlers[ALERT_EVENT]).toBeTruthy());
    api.hooks.deliveries.mockResolvedValue([delivery(3, { httpStatus: 429, result: "rate_limited", detail: "too many" }), delivery(2)]);
    await act(async () => {
      api.handlers[ALERT_EVENT]({ kind: "raised", id: 9, severity: "warning", title: "t", body: "", provider: "kraken", worst: "warning", headline: "t" });
    });
    await waitFor(() => expect(screen.getByTestId("hook-delivery-3").querySelector(".badge.warn")?.textContent).toBe("429 rate limited"));
  });

  it("removes a hook after confirmation", async () => {
    api.hooks.list.mockResolvedValue([IN_HOOK]);
    api.hooks.remove.mockResolvedValue(undefined);
    vi.spyOn(window, "confirm").mockReturnValue(true);
    render(<Alerts />);
    fireEvent.click(await screen.findByTestId("hook-remove-kraken-status"));
    api.hooks.list.mockResolvedValue([]);
    await waitFor(() => expect(screen.getByTestId("hooks-empty")).toBeTruthy());
    expect(api.hooks.remove).toHaveBeenCalledWith(IN_HOOK.id);
  });
});
afterEach(() => vi.restoreAllMocks());

describe("alerts page", () => {
  it("shows open alerts first with severity, provider and Acknowledge, and the history below", async () => {
    api.alerts.list.mockResolvedValue({
      open: [alert(3), alert(2, { severity: "warning", title: "binance is degraded", state: "acknowledged", acknowledgedAt: NOW })],
      history: [alert(1, { severity: "info", title: "binance recovered", state: "resolved", resolvedAt: NOW })],
    });
    render(<Alerts />);
    const open = await screen.findByTestId("alerts-open");
    expect(open.children[0].textContent).toContain("binance is down");
    expect(open.children[0].querySelector(".badge.sev.critical")?.textContent).toBe("critical");
    expect(open.children[0].textContent).toContain("binance · just now");
    expect(screen.getByTestId("alert-ack-3")).toBeTruthy();
    expect(screen.queryByTestId("alert-ack-2")).toBeNull();
    expect(screen.getByTestId("alert-2").textContent).toContain("acknowledged");
    expect(screen.getByTestId("alerts-history").textContent).toContain("binance recovered");
    expect(screen.getByTestId("alert-centre").querySelector("h2")?.textContent).toContain("2");
  });

  it("acknowledges an alert and re-reads the alert centre; a failure shows next to the alerts", async () => {
    api.alerts.list.mockResolvedValue({ open: [alert(3)], history: [] });
    api.alerts.acknowledge.mockRejectedValueOnce(new IpcError("notFound", "no alert with id 3"));
    render(<Alerts />);
    fireEvent.click(await screen.findByTestId("alert-ack-3"));
    await waitFor(() => expect(screen.getByTestId("alert-ack-error").textContent).toContain("no alert with id 3"));

    api.alerts.acknowledge.mockResolvedValueOnce(alert(3, { state: "acknowledged" }));
    api.alerts.list.mockResolvedValue({ open: [alert(3, { state: "acknowledged" })], history: [] });
    fireEvent.click(screen.getByTestId("alert-ack-3"));
    await waitFor(() => expect(screen.queryByTestId("alert-ack-3")).toBeNull());
    expect(api.alerts.acknowledge).toHaveBeenLastCalledWith(3);
  });

  it("shows a new alert when the backend raises one", async () => {
    render(<Alerts />);
    await screen.findByTestId("alerts-empty");
    await waitFor(() => expect(api.handlers[ALERT_EVENT]).toBeTruthy());
    api.alerts.list.mockResolvedValue({ open: [alert(9)], history: [] });
    await act(async () => {
      api.handlers[ALERT_EVENT]({ kind: "raised", id: 9, severity: "critical", title: "binance is down", body: "", provider: "binance", worst: "critical", headline: "binance is down" });
    });
    await waitFor(() => expect(screen.getByTestId("alert-9").textContent).toContain("binance is down"));
    expect(screen.queryByTestId("alerts-empty")).toBeNull();
  });

  it("has empty states that say what to do next", async () => {
    api.alerts.rules.mockResolvedValue([]);
    api.alerts.restoreDefaultRules.mockResolvedValue([RULE]);
    render(<Alerts />);
    expect((await screen.findByTestId("alerts-empty")).textContent).toContain("rules below");
    expect(screen.getByTestId("alerts-history-empty")).toBeTruthy();
    expect((await screen.findByTestId("webhooks-empty")).textContent).toContain("Add one below");
    const noRules = await screen.findByTestId("rules-empty");
    fireEvent.click(noRules.querySelector("button") as HTMLButtonElement);
    expect(api.alerts.restoreDefaultRules).toHaveBeenCalled();
  });

  it("enables and disables a rule", async () => {
    api.alerts.setRuleEnabled.mockResolvedValue({ ...RULE, enabled: false });
    render(<Alerts />);
    const toggle = (await screen.findByTestId("rule-toggle-1")) as HTMLInputElement;
    expect(toggle.checked).toBe(true);
    expect(screen.getByTestId("rule-1").textContent).toContain("down for 3 consecutive checks");
    api.alerts.rules.mockResolvedValue([{ ...RULE, enabled: false }]);
    fireEvent.click(toggle);
    expect(api.alerts.setRuleEnabled).toHaveBeenCalledWith(1, false);
    await waitFor(() => expect((screen.getByTestId("rule-toggle-1") as HTMLInputElement).checked).toBe(false));
  });

  it("sends a rule's alerts to a webhook when it is ticked", async () => {
    api.alerts.webhooks.mockResolvedValue([HOOK]);
    api.alerts.setRuleWebhooks.mockResolvedValue({ ...RULE, webhooks: [7] });
    render(<Alerts />);
    fireEvent.click(await screen.findByTestId("rule-1-webhook-7"));
    expect(api.alerts.setRuleWebhooks).toHaveBeenCalledWith(1, [7]);
  });

  it("adds a webhook with a secret in a password field and shows the core's validation error", async () => {
    api.alerts.addWebhook.mockRejectedValueOnce(
      new IpcError("invalid", 'webhook URL "http://example.com/hook" uses plain http to a host other than this machine; use https'),
    );
    render(<Alerts />);
    fireEvent.input(await screen.findByTestId("webhook-name"), { target: { value: " ops " } });
    fireEvent.input(screen.getByTestId("webhook-url"), { target: { value: "http://example.com/hook" } });
    fireEvent.change(screen.getByTestId("webhook-format"), { target: { value: "json" } });
    const secret = screen.getByTestId("webhook-secret") as HTMLInputElement;
    expect(secret.type).toBe("password");
    fireEvent.input(secret, { target: { value: "s3cret" } });
    fireEvent.click(screen.getByTestId("webhook-add"));
    await waitFor(() => expect(screen.getByTestId("webhook-add-error").textContent).toContain("plain http"));
    expect(api.alerts.addWebhook).toHaveBeenCalledWith({ name: "ops", url: "http://example.com/hook", format: "json", secret: "s3cret" });

    api.alerts.addWebhook.mockResolvedValueOnce({ ...HOOK, format: "json", url: "https://example.com/hook", hasSecret: true });
    api.alerts.webhooks.mockResolvedValue([{ ...HOOK, format: "json", url: "https://example.com/hook", hasSecret: true }]);
    fireEvent.input(screen.getByTestId("webhook-url"), { target: { value: "https://example.com/hook" } });
    fireEvent.click(screen.getByTestId("webhook-add"));
    await waitFor(() => expect(screen.getByTestId("webhook-add-notice").textContent).toContain("Added “ops”"));
    await waitFor(() => expect(screen.getByTestId("webhook-7").textContent).toContain("signed"));
    expect((screen.getByTestId("webhook-secret") as HTMLInputElement).value).toBe("");
  });

  it("sends a test and shows the delivery result", async () => {
    api.alerts.webhooks.mockResolvedValue([HOOK]);
    api.alerts.testWebhook
      .mockResolvedValueOnce({ webhookId: 7, delivered: false, httpStatus: 404, error: "HTTP 404: no_service", elapsedMs: 120 })
      .mockResolvedValueOnce({ webhookId: 7, delivered: true, httpStatus: 200, error: null, elapsedMs: 85 });
    render(<Alerts />);
    fireEvent.click(await screen.findByTestId("webhook-test-7"));
    await waitFor(() => expect(screen.getByTestId("webhook-result-7").textContent).toBe("Failed (HTTP 404): HTTP 404: no_service in 120 ms"));
    fireEvent.click(screen.getByTestId("webhook-test-7"));
    await waitFor(() => expect(screen.getByTestId("webhook-result-7").textContent).toBe("Delivered (HTTP 200) in 85 ms"));
    expect(api.alerts.testWebhook).toHaveBeenCalledWith(7);
  });

  it("removes a webhook only after confirmation", async () => {
    api.alerts.webhooks.mockResolvedValue([HOOK]);
    api.alerts.removeWebhook.mockResolvedValue(undefined);
    const confirm = vi.spyOn(window, "confirm").mockReturnValueOnce(false).mockReturnValueOnce(true);
    render(<Alerts />);
    fireEvent.click(await screen.findByTestId("webhook-remove-7"));
    expect(api.alerts.removeWebhook).not.toHaveBeenCalled();
    api.alerts.webhooks.mockResolvedValue([]);
    fireEvent.click(screen.getByTestId("webhook-remove-7"));
    expect(confirm).toHaveBeenCalledTimes(2);
    expect(api.alerts.removeWebhook).toHaveBeenCalledWith(7);
    await screen.findByTestId("webhooks-empty");
  });
});
