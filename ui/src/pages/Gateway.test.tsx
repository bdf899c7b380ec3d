import { act, fireEvent, render, screen, waitFor } from "@testing-library/preact";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { IpcError, type BotStats, type GatewayStatusDto, type GatewayTokenView } from "../ipc";
import { Gateway, isLoopback, REFRESH_MS } from "./Gateway";
import { snippets, TOKEN_PLACEHOLDER } from "./gatewaySnippets";

const api = vi.hoisted(() => ({
  status: vi.fn(),
  createToken: vi.fn(),
  setDisabled: vi.fn(),
  rotate: vi.fn(),
  revoke: vi.fn(),
  setPort: vi.fn(),
  setBind: vi.fn(),
  providersList: vi.fn(),
  keysList: vi.fn(),
}));
vi.mock("../ipc", async (orig) => {
  const real = await orig<typeof import("../ipc")>();
  return {
    ...real,
    gateway: {
      status: api.status,
      createToken: api.createToken,
      setDisabled: api.setDisabled,
      rotate: api.rotate,
      revoke: api.revoke,
      setPort: api.setPort,
      setBind: api.setBind,
    },
    providers: { ...real.providers, list: api.providersList },
    keys: { ...real.keys, list: api.keysList },
  };
});

const SECRET = "kwg_s3cr3tTokenTextThatIsShownOnce0123456789";

const token = (over: Partial<GatewayTokenView> = {}): GatewayTokenView => ({
  name: "grid-bot",
  provider: "binance",
  keyLabel: "main",
  scopes: ["market", "read", "trade"],
  allowIps: [],
  maxWaitMs: 5000,
  maxSharePct: null,
  hint: "kwg_s3cr3t…",
  createdAt: "2026-03-01T10:00:00+00:00",
  rotatedAt: null,
  disabled: false,
  ...over,
});

const bot = (over: Partial<BotStats> = {}): BotStats => ({
  name: "grid-bot",
  requests: 12,
  answered: 11,
  exchangeErrors: 1,
  perSecond: 0.4,
  weight: 24,
  waitedMs: 150,
  maxWaitMs: 90,
  refused: { scope: 2 },
  lastError: "the exchange answered HTTP 400",
  lastSeen: "2026-03-01T10:05:00+00:00",
  ...over,
});

const status = (over: Partial<GatewayStatusDto> = {}): GatewayStatusDto => ({
  url: "http://127.0.0.1:47311",
  problem: null,
  botUrl: "http://127.0.0.1:47311",
  port: 47311,
  defaultPort: 47311,
  bind: "127.0.0.1",
  defaultBind: "127.0.0.1",
  tls: false,
  fingerprint: null,
  certificatePem: null,
  defaultMaxWaitMs: 5000,
  tokens: [],
  bots: [],
  ...over,
});

beforeEach(() => {
  Object.values(api).forEach((f) => f.mockReset());
  api.providersList.mockResolvedValue([
    { id: "binance", name: "Binance", kind: "exchange", enabled: true, discontinued: null },
    { id: "kraken", name: "Kraken", kind: "exchange", enabled: false, discontinued: null },
    { id: "ftx", name: "FTX", kind: "exchange", enabled: false, discontinued: "FTX shut down in 2022" },
  ]);
  api.keysList.mockResolvedValue([
    { provider: "binance", label: "main", environment: "production" },
    { provider: "kraken", label: "kr", environment: "production" },
  ]);
});
afterEach(() => vi.useRealTimers());

async function openForm() {
  fireEvent.click(await screen.findByTestId("gateway-new"));
  await waitFor(() => expect(screen.getByTestId("gateway-form-provider").textContent).toContain("Binance"));
}

describe("gateway page", () => {
  it("says what to do next when there is no token, with the address bots use", async () => {
    api.status.mockResolvedValue(status());
    render(<Gateway />);
    const empty = await screen.findByTestId("gateway-empty");
    expect(empty.textContent).toContain("Create a token, then point your bot at");
    expect(empty.textContent).toContain("http://127.0.0.1:47311/binance");
    expect(screen.getByTestId("gateway-url").textContent).toBe("http://127.0.0.1:47311");
    expect(screen.getByTestId("gateway-url-copy")).toBeTruthy();
    expect(screen.queryByTestId("gateway-snippets")).toBeNull();
  });

  it("says why the gateway is not running", async () => {
    api.status.mockResolvedValue(status({ url: null, problem: "not listening: port 47311 may be taken by another program" }));
    render(<Gateway />);
    const problem = await screen.findByTestId("gateway-problem");
    expect(problem.textContent).toContain("Gateway not listening: port 47311 may be taken");
    expect(screen.queryByTestId("gateway-url")).toBeNull();
  });

  it("shows the core's error", async () => {
    api.status.mockRejectedValue(new IpcError("storage", "could not read gateway_tokens: disk I/O error"));
    render(<Gateway />);
    await waitFor(() => expect(screen.getByTestId("gateway-error").textContent).toContain("disk I/O error"));
  });

  it("creates a token and shows its text once, in the box and the snippets, until dismissed", async () => {
    api.status.mockResolvedValue(status());
    render(<Gateway />);
    await openForm();
    // Only the chosen provider's keys, and no discontinued providers.
    expect(screen.getByTestId("gateway-form-provider").textContent).not.toContain("FTX");
    expect(screen.getByTestId("gateway-form-key").textContent).toContain("none — market data only");
    expect(screen.getByTestId("gateway-form-key").textContent).not.toContain("kr (");

    fireEvent.input(screen.getByTestId("gateway-form-name"), { target: { value: "grid-bot" } });
    fireEvent.change(screen.getByTestId("gateway-form-key"), { target: { value: "main" } });
    fireEvent.click(screen.getByTestId("gateway-form-scope-read"));
    fireEvent.click(screen.getByTestId("gateway-form-scope-trade"));
    fireEvent.input(screen.getByTestId("gateway-form-ips"), { target: { value: "10.0.0.5, 192.168.1.0/24" } });
    fireEvent.input(screen.getByTestId("gateway-form-maxwait"), { target: { value: "2500" } });
    fireEvent.input(screen.getByTestId("gateway-form-maxshare"), { target: { value: "40%" } });
    let resolve: (v: unknown) => void = () => undefined;
    api.createToken.mockReturnValue(new Promise((r) => (resolve = r)));
    fireEvent.click(screen.getByTestId("gateway-form-submit"));
    await waitFor(() => expect(screen.getByTestId("gateway-form-submit").textContent).toBe("Creating…"));
    expect(api.createToken).toHaveBeenCalledWith({
      name: "grid-bot",
      provider: "binance",
      keyLabel: "main",
      scopes: ["market", "read", "trade"],
      allowIps: ["10.0.0.5", "192.168.1.0/24"],
      maxWaitMs: 2500,
      maxSharePct: 40,
      allowWithdraw: false,
    });

    api.status.mockResolvedValue(status({ tokens: [token()] }));
    await act(async () => resolve({ secret: SECRET, token: token() }));
    const box = await screen.findByTestId("gateway-issued");
    expect(box.textContent).toContain("shown once — store it in your bot's config now");
    expect(screen.getByTestId("gateway-secret").textContent).toBe(SECRET);
    expect(screen.getByTestId("gateway-secret-copy")).toBeTruthy();
    expect(screen.queryByTestId("gateway-form")).toBeNull();
    await waitFor(() => expect(screen.getByTestId("gateway-token-grid-bot").textContent).toContain("kwg_s3cr3t…"));
    expect(screen.getByTestId("gateway-snippet").textContent).toContain(`TOKEN = "${SECRET}"`);

    fireEvent.click(screen.getByTestId("gateway-issued-done"));
    expect(screen.queryByTestId("gateway-issued")).toBeNull();
    expect(document.body.textContent).not.toContain(SECRET);
    expect(screen.getByTestId("gateway-snippet").textContent).toContain(TOKEN_PLACEHOLDER);
  });

  it("needs an explicit confirmation before asking for the withdraw scope", async () => {
    api.status.mockResolvedValue(status());
    render(<Gateway />);
    await openForm();
    fireEvent.input(screen.getByTestId("gateway-form-name"), { target: { value: "sweeper" } });
    fireEvent.click(screen.getByTestId("gateway-form-scope-withdraw"));
    expect(screen.getByTestId("gateway-withdraw-warning").textContent).toContain("move funds off the exchange");

    fireEvent.click(screen.getByTestId("gateway-form-submit"));
    await waitFor(() => expect(screen.getByTestId("gateway-form-error").textContent).toContain("Confirm the withdraw scope"));
    expect(api.createToken).not.toHaveBeenCalled();

    api.createToken.mockResolvedValue({ secret: SECRET, token: token({ name: "sweeper", scopes: ["market", "withdraw"] }) });
    fireEvent.click(screen.getByTestId("gateway-withdraw-confirm"));
    fireEvent.click(screen.getByTestId("gateway-form-submit"));
    await waitFor(() => expect(api.createToken).toHaveBeenCalledTimes(1));
    expect(api.createToken.mock.calls[0][0]).toMatchObject({ scopes: ["market", "withdraw"], allowWithdraw: true });
  });

  it("refuses a max share that is not a percentage, in the form, before asking the core", async () => {
    api.status.mockResolvedValue(status());
    render(<Gateway />);
    await openForm();
    fireEvent.input(screen.getByTestId("gateway-form-name"), { target: { value: "greedy" } });
    fireEvent.input(screen.getByTestId("gateway-form-maxshare"), { target: { value: "150" } });
    fireEvent.click(screen.getByTestId("gateway-form-submit"));
    await waitFor(() => expect(screen.getByTestId("gateway-form-error").textContent).toContain('Max share "150"'));
    expect(api.createToken).not.toHaveBeenCalled();
  });

  it("shows a refused create in the form", async () => {
    api.status.mockResolvedValue(status());
    api.createToken.mockRejectedValue(
      new IpcError("duplicate", 'there is already a gateway token named "grid-bot"; pick another name or rotate that one'),
    );
    render(<Gateway />);
    await openForm();
    fireEvent.input(screen.getByTestId("gateway-form-name"), { target: { value: "grid-bot" } });
    fireEvent.click(screen.getByTestId("gateway-form-submit"));
    await waitFor(() => expect(screen.getByTestId("gateway-form-error").textContent).toContain("already a gateway token"));
    expect(screen.getByTestId("gateway-form-submit").textContent).toBe("Create token");
  });

  it("asks before revoking, and revokes only on yes", async () => {
    api.status.mockResolvedValue(status({ tokens: [token()] }));
    api.revoke.mockResolvedValue(undefined);
    render(<Gateway />);
    fireEvent.click(await screen.findByTestId("gateway-revoke-grid-bot"));
    expect(screen.getByTestId("gateway-confirm-grid-bot").textContent).toContain("Revoke grid-bot?");
    expect(api.revoke).not.toHaveBeenCalled();
    fireEvent.click(screen.getByText("Cancel"));
    expect(screen.queryByTestId("gateway-confirm-grid-bot")).toBeNull();

    fireEvent.click(screen.getByTestId("gateway-revoke-grid-bot"));
    api.status.mockResolvedValue(status());
    fireEvent.click(screen.getByTestId("gateway-confirm-yes-grid-bot"));
    await waitFor(() => expect(api.revoke).toHaveBeenCalledWith("grid-bot"));
    await screen.findByTestId("gateway-empty");
  });

  it("rotates after a confirmation and shows the new text once; disables and enables", async () => {
    api.status.mockResolvedValue(status({ tokens: [token()] }));
    api.rotate.mockResolvedValue({ secret: "kwg_newText", token: token({ hint: "kwg_newTex…" }) });
    api.setDisabled.mockResolvedValue(token({ disabled: true }));
    render(<Gateway />);
    fireEvent.click(await screen.findByTestId("gateway-rotate-grid-bot"));
    fireEvent.click(screen.getByTestId("gateway-confirm-yes-grid-bot"));
    await waitFor(() => expect(screen.getByTestId("gateway-secret").textContent).toBe("kwg_newText"));
    expect(screen.getByTestId("gateway-issued").textContent).toContain("the previous text has stopped working");

    fireEvent.click(screen.getByTestId("gateway-toggle-grid-bot"));
    await waitFor(() => expect(api.setDisabled).toHaveBeenCalledWith("grid-bot", true));
  });

  it("shows each bot's live numbers and reads them again every 2 s", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    api.status.mockResolvedValue(status({ tokens: [token()], bots: [bot()] }));
    render(<Gateway />);
    const row = await screen.findByTestId("gateway-bot-grid-bot");
    expect(row.textContent).toContain("0.4");
    expect(row.textContent).toContain("(1 failed)");
    expect(row.textContent).toContain("150 ms");
    expect(row.textContent).toContain("scope 2");
    expect(row.textContent).toContain("HTTP 400");

    api.status.mockResolvedValue(status({ tokens: [token()], bots: [bot({ requests: 40, perSecond: 3.2 })] }));
    await act(async () => {
      vi.advanceTimersByTime(REFRESH_MS);
    });
    await waitFor(() => expect(screen.getByTestId("gateway-bot-requests-grid-bot").textContent).toContain("40"));
    expect(screen.getByTestId("gateway-bot-rate-grid-bot").textContent).toBe("3.2");
  });

  it("offers CCXT, freqtrade and curl configuration for the selected token's provider", async () => {
    api.status.mockResolvedValue(status({ tokens: [token(), token({ name: "kr-bot", provider: "kraken", keyLabel: "kr" })] }));
    render(<Gateway />);
    const code = await screen.findByTestId("gateway-snippet");
    expect(code.textContent).toContain("ccxt.binance(");
    expect(code.textContent).toContain('"sapi": "http://127.0.0.1:47311/binance/sapi/v1"');
    fireEvent.click(screen.getByTestId("gateway-snippet-tab-freqtrade"));
    expect(screen.getByTestId("gateway-snippet").textContent).toContain('"ccxt_config"');

    fireEvent.click(screen.getByTestId("gateway-token-kr-bot"));
    await waitFor(() => expect(screen.getByTestId("gateway-snippets").textContent).toContain("kr-bot"));
    fireEvent.click(screen.getByTestId("gateway-snippet-tab-ccxt-python"));
    expect(screen.getByTestId("gateway-snippet").textContent).toContain('KEYWARD = "http://127.0.0.1:47311/kraken"');
  });

  it("saves another port for the next start", async () => {
    api.status.mockResolvedValue(status());
    api.setPort.mockResolvedValue(status({ port: 48000 }));
    render(<Gateway />);
    const port = await screen.findByTestId("gateway-port");
    fireEvent.input(port, { target: { value: "70000" } });
    expect((screen.getByTestId("gateway-port-save") as HTMLButtonElement).disabled).toBe(true);
    fireEvent.input(port, { target: { value: "48000" } });
    fireEvent.click(screen.getByTestId("gateway-port-save"));
    await waitFor(() => expect(api.setPort).toHaveBeenCalledWith(48000));
  });

  it("binds beyond loopback only after the warning's checkbox is ticked", async () => {
    const FP = Array.from({ length: 32 }, () => "AB").join(":");
    api.status.mockResolvedValue(status());
    api.setBind.mockResolvedValue(
      status({ bind: "0.0.0.0", botUrl: "https://127.0.0.1:47311", fingerprint: FP, certificatePem: "-----BEGIN CERTIFICATE-----\n" }),
    );
    render(<Gateway />);
    const input = await screen.findByTestId("gateway-bind-input");
    expect(screen.getByTestId("gateway-bind").textContent).toContain("this machine only");
    expect(screen.queryByTestId("gateway-fingerprint")).toBeNull();
    const save = () => screen.getByTestId("gateway-bind-save") as HTMLButtonElement;

    fireEvent.input(input, { target: { value: "0.0.0.0" } });
    const warning = screen.getByTestId("gateway-bind-warning");
    expect(warning.textContent).toContain("lets other machines or containers reach the gateway");
    expect(warning.textContent).toContain("HTTPS only");
    expect(save().disabled).toBe(true);
    fireEvent.click(save());
    expect(api.setBind).not.toHaveBeenCalled();

    fireEvent.click(screen.getByTestId("gateway-bind-confirm"));
    expect(save().disabled).toBe(false);
    fireEvent.click(save());
    await waitFor(() => expect(api.setBind).toHaveBeenCalledWith("0.0.0.0", true));
    expect((await screen.findByTestId("gateway-fingerprint")).textContent).toBe(FP);
    expect(screen.getByTestId("gateway-fingerprint-box").textContent).toContain("from the next start");
    expect(screen.getByTestId("gateway-cert-copy")).toBeTruthy();
    expect(screen.getByTestId("gateway-bind-saved").textContent).toContain("0.0.0.0");
  });

  it("unticks the confirmation when the address changes, and needs none for loopback", async () => {
    api.status.mockResolvedValue(status({ bind: "0.0.0.0", tls: true, url: "https://0.0.0.0:47311", fingerprint: "AA:BB" }));
    api.setBind.mockResolvedValue(status());
    render(<Gateway />);
    expect((await screen.findByTestId("gateway-fingerprint")).textContent).toBe("AA:BB");
    expect(screen.getByTestId("gateway-fingerprint-box").textContent).not.toContain("next start");
    const input = screen.getByTestId("gateway-bind-input");
    fireEvent.input(input, { target: { value: "192.168.1.20" } });
    fireEvent.click(screen.getByTestId("gateway-bind-confirm"));
    fireEvent.input(input, { target: { value: "192.168.1.21" } });
    expect((screen.getByTestId("gateway-bind-confirm") as HTMLInputElement).checked).toBe(false);
    expect((screen.getByTestId("gateway-bind-save") as HTMLButtonElement).disabled).toBe(true);

    fireEvent.input(input, { target: { value: "127.0.0.1" } });
    expect(screen.queryByTestId("gateway-bind-warning")).toBeNull();
    fireEvent.click(screen.getByTestId("gateway-bind-save"));
    await waitFor(() => expect(api.setBind).toHaveBeenCalledWith("127.0.0.1", false));
  });

  it("shows a refused bind with the core's message", async () => {
    api.status.mockResolvedValue(status());
    api.setBind.mockRejectedValue(new IpcError("invalid", 'bind address "nope" is not valid'));
    render(<Gateway />);
    fireEvent.input(await screen.findByTestId("gateway-bind-input"), { target: { value: "nope" } });
    fireEvent.click(screen.getByTestId("gateway-bind-confirm"));
    fireEvent.click(screen.getByTestId("gateway-bind-save"));
    expect((await screen.findByTestId("gateway-bind-error")).textContent).toContain('"nope"');
  });
});

describe("loopback addresses", () => {
  it("are 127.0.0.0/8 and ::1 only", () => {
    expect(["127.0.0.1", "127.1.2.3", "::1", " 127.0.0.1 "].every(isLoopback)).toBe(true);
    expect(["0.0.0.0", "192.168.1.20", "::", "localhost", ""].some(isLoopback)).toBe(false);
  });
});

describe("gateway snippets", () => {
  it("override every api.binance.com URL CCXT uses, with the token as key and header", () => {
    const [py, js, ft, curl] = snippets({
      gatewayUrl: "http://127.0.0.1:50000/",
      provider: "binance",
      providerKind: "exchange",
      token: "kwg_abc",
    });
    for (const key of ["public", "private", "v1", "sapi", "sapiV2", "sapiV3", "sapiV4"]) {
      expect(py.code).toContain(`"${key}": "http://127.0.0.1:50000/binance/`);
      expect(js.code).toContain(`${key}: "http://127.0.0.1:50000/binance/`);
      expect(ft.code).toContain(`"${key}": "http://127.0.0.1:50000/binance/`);
    }
    expect(py.code).toContain('"public": "http://127.0.0.1:50000/binance/api/v3"');
    expect(py.code).toContain('"headers": {"X-Keyward-Token": TOKEN}');
    expect(py.code).toContain('"enableRateLimit": False');
    expect(js.code).toContain("enableRateLimit: false");
    expect(ft.code).toContain('"key": "kwg_abc"');
    expect(py.note).toContain("enableRateLimit can be left on");
    expect(curl.code).toBe('curl -H "X-Keyward-Token: kwg_abc" "http://127.0.0.1:50000/binance/api/v3/time"\n');
  });

  it("replace the host of any other exchange and add a passphrase where CCXT wants one", () => {
    const [py, js] = snippets({ gatewayUrl: "http://127.0.0.1:47311", provider: "kucoin", providerKind: "exchange", token: null });
    expect(py.code).toContain("ccxt.kucoin(");
    expect(py.code).toContain(`TOKEN = "${TOKEN_PLACEHOLDER}"`);
    expect(py.code).toContain('"password": "placeholder"');
    expect(py.code).toContain('re.sub(r"^https?://[^/]+", KEYWARD, url)');
    expect(js.code).toContain('url.replace(/^https?:\\/\\/[^/]+/, KEYWARD)');
    const [cb] = snippets({ gatewayUrl: "http://127.0.0.1:47311", provider: "coinbase_exchange", providerKind: "exchange", token: null });
    expect(cb.code).toContain("ccxt.coinbaseexchange(");
  });

  it("give market-data APIs only plain HTTP", () => {
    const list = snippets({ gatewayUrl: "http://127.0.0.1:47311", provider: "coingecko", providerKind: "market_data", token: "kwg_x" });
    expect(list.map((s) => s.id)).toEqual(["curl"]);
    expect(list[0].code).toContain("http://127.0.0.1:47311/coingecko/");
  });
});
