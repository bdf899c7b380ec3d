import { useEffect, useState } from "preact/hooks";
import {
  gateway,
  keys,
  providers,
  type BotStats,
  type GatewayStatusDto,
  type GatewayTokenView,
  type IssuedTokenView,
  type KeyView,
  type ProviderView,
} from "../ipc";
import { formatDate, formatMs, formatTime } from "../lib/format";
import { useAction } from "../lib/useAction";
import { useLoad } from "../lib/useLoad";
import { BusyButton } from "../components/BusyButton";
import { Field, TextInput } from "../components/Field";
import { Segmented } from "../components/Segmented";
import { EmptyState, ErrorCard, ErrorLine, Loading } from "../components/States";
import { snippets, type SnippetId } from "./gatewaySnippets";

/** How often the live numbers are read again while the page is shown. */
export const REFRESH_MS = 2000;

const SCOPES = ["market", "read", "trade", "withdraw"] as const;

const REFUSAL_LABEL: Record<string, string> = {
  noToken: "no token",
  unknownToken: "unknown token",
  disabled: "disabled",
  wrongProvider: "wrong provider",
  ip: "address",
  scope: "scope",
  deadline: "wait limit",
  badRequest: "bad request",
};

/** Copies text; resolves to what to tell the user. */
async function copyText(text: string): Promise<string> {
  try {
    await navigator.clipboard.writeText(text);
    return "Copied.";
  } catch {
    return "Could not copy: select the text and press Ctrl+C.";
  }
}

export function CopyButton({ text, testid, label = "Copy" }: { text: string; testid: string; label?: string }) {
  const [said, setSaid] = useState<string | null>(null);
  return (
    <span class="copy">
      <button type="button" class="button secondary small" data-testid={testid} onClick={() => copyText(text).then(setSaid)}>
        {label}
      </button>
      {said && <span class="hint">{said}</span>}
    </span>
  );
}

export function Gateway() {
  const load = useLoad(gateway.status, []);
  const provsLoad = useLoad(() => providers.list().then((l) => l.filter((p) => !p.discontinued)), []);
  const keysLoad = useLoad(keys.list, []);
  const status = load.data;
  const error = load.error;
  const { reload: refresh, setData: setStatus } = load;
  const provs = provsLoad.data ?? [];
  const keyList = keysLoad.data ?? [];
  const [creating, setCreating] = useState(false);
  const [issued, setIssued] = useState<{ issued: IssuedTokenView; rotated: boolean } | null>(null);
  const [selected, setSelected] = useState<string | null>(null);

  // Live: read again every 2 s while the page is shown and the window visible.
  useEffect(() => {
    const timer = window.setInterval(() => {
      if (!document.hidden) refresh();
    }, REFRESH_MS);
    return () => window.clearInterval(timer);
  }, [refresh]);

  const tokens = status?.tokens ?? [];
  const chosen = tokens.find((t) => t.name === selected) ?? tokens[0] ?? null;
  const onIssued = (i: IssuedTokenView, rotated: boolean) => {
    setIssued({ issued: i, rotated });
    setSelected(i.token.name);
    setCreating(false);
    refresh();
  };

  return (
    <section>
      <header class="page-header gateway-head">
        <div>
          <h1>Gateway</h1>
          <p class="lead">
            Your bots call exchanges through Keyward with a Keyward token instead of exchange keys. Every request is signed
            here and charged to the same rate-limit budget as the app's own calls.
          </p>
        </div>
        <div class="actions">
          {status !== null && !error && (
            <span class="live" data-testid="gateway-live" title="Read again every 2 seconds">
              <span class="live-dot" aria-hidden="true" /> Live
            </span>
          )}
          <button type="button" class="button" data-testid="gateway-new" disabled={creating} onClick={() => setCreating(true)}>
            New bot token
          </button>
        </div>
      </header>

      <ErrorCard error={error} testid="gateway-error" />

      {status === null && !error && <Loading>Loading the gateway…</Loading>}

      {status && <Listening status={status} onChanged={setStatus} />}

      {status && <Network status={status} onChanged={setStatus} />}

      {issued && <Issued issued={issued.issued} rotated={issued.rotated} onDone={() => setIssued(null)} />}

      {creating && (
        <NewToken
          providers={provs}
          keys={keyList}
          defaultMaxWaitMs={status?.defaultMaxWaitMs ?? 5000}
          onCancel={() => setCreating(false)}
          onCreated={(i) => onIssued(i, false)}
        />
      )}

      {status && tokens.length === 0 && !creating && (
        <EmptyState title="No bot tokens yet" testid="gateway-empty">
          <p>
            Create a token, then point your bot at{" "}
            <code>{status.botUrl}/&lt;provider&gt;</code> (for example{" "}
            <code>{status.botUrl}/binance</code>) instead of the exchange's URL, with the token
            as its API key. The bot never holds your exchange secret, and Keyward keeps it inside the exchange's limits.
          </p>
          <div class="actions">
            <button type="button" class="button" data-testid="gateway-empty-new" onClick={() => setCreating(true)}>
              New bot token
            </button>
          </div>
          <p class="hint">Copy-paste configuration for CCXT and freqtrade appears here once a token exists.</p>
        </EmptyState>
      )}

      {tokens.length > 0 && (
        <TokenTable tokens={tokens} selected={chosen?.name ?? null} onSelect={setSelected} onIssued={(i) => onIssued(i, true)} onChanged={refresh} />
      )}

      {status && tokens.length > 0 && <Bots bots={status.bots} />}

      {status && chosen && (
        <Snippets
          token={chosen}
          text={issued?.issued.token.name === chosen.name ? issued.issued.secret : null}
          gatewayUrl={status.botUrl}
          providerKind={provs.find((p) => p.id === chosen.provider)?.kind ?? "exchange"}
        />
      )}
    </section>
  );
}

function Listening({ status, onChanged }: { status: GatewayStatusDto; onChanged: (s: GatewayStatusDto) => void }) {
  const [port, setPort] = useState(String(status.port));
  const action = useAction();
  const [saved, setSaved] = useState(false);
  const listeningPort = status.url ? Number(new URL(status.url).port) : null;
  const n = Number(port);
  const valid = Number.isInteger(n) && n >= 1 && n <= 65535;
  const save = () => {
    setSaved(false);
    void action.run(() =>
      gateway.setPort(n).then((s) => {
        onChanged(s);
        setSaved(true);
      }),
    );
  };
  return (
    <div class="card" data-testid="gateway-listening">
      {status.url ? (
        <div class="listen">
          <span class="dot up" aria-hidden="true" />
          <span>
            Listening on <code class="listen-url" data-testid="gateway-url">{status.url}</code>
          </span>
          <CopyButton text={status.url} testid="gateway-url-copy" />
        </div>
      ) : (
        <p class="banner bad" data-testid="gateway-problem">
          Gateway {status.problem}
        </p>
      )}
      <div class="port-row">
        <Field label="Port (used from the next start)">
          <TextInput small invalid={!valid} inputMode="numeric" value={port} onValue={setPort} testid="gateway-port" />
        </Field>
        <BusyButton
          busy={action.busy !== null}
          busyLabel="Saving…"
          class="button secondary small"
          testid="gateway-port-save"
          disabled={!valid || n === status.port}
          onClick={save}
        >
          Save port
        </BusyButton>
        <span class="hint">
          Default {status.defaultPort}. Bots are configured with the port, so change it only if another program uses it.
          {listeningPort !== null && listeningPort !== status.port && (
            <span data-testid="gateway-port-override">
              {" "}
              This run listens on {listeningPort} instead: the port was set when Keyward started (KEYWARD_GATEWAY_PORT).
            </span>
          )}
        </span>
      </div>
      {saved && (
        <p class="notice" role="status">
          Saved: Keyward listens on port {status.port} after a restart.
        </p>
      )}
      <ErrorLine error={action.error} testid="gateway-port-error" />
    </div>
  );
}

/** Whether an address is loopback (this machine only): 127.0.0.0/8 or ::1. */
export function isLoopback(address: string): boolean {
  const a = address.trim().toLowerCase();
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a) || a === "::1" || a === "0:0:0:0:0:0:0:1";
}

/**
 * Who can reach the gateway: the bind address, and beyond loopback the certificate bots must
 * trust. Changing the address to anything but loopback shows a warning that must be ticked.
 */
function Network({ status, onChanged }: { status: GatewayStatusDto; onChanged: (s: GatewayStatusDto) => void }) {
  const [address, setAddress] = useState(status.bind);
  const [confirmed, setConfirmed] = useState(false);
  const action = useAction();
  const [saved, setSaved] = useState(false);
  const wanted = address.trim();
  const beyond = wanted !== "" && !isLoopback(wanted);
  const changed = wanted !== status.bind;
  const save = () => {
    if (beyond && !confirmed) return; // the button is disabled too; never send an unconfirmed bind
    setSaved(false);
    void action.run(() =>
      gateway.setBind(wanted, beyond && confirmed).then((s) => {
        onChanged(s);
        setSaved(true);
        setConfirmed(false);
      }),
    );
  };
  return (
    <div class="card" data-testid="gateway-network">
      <h2>Who can reach it</h2>
      <p data-testid="gateway-bind">
        Bind address <code>{status.bind}</code>{" "}
        {isLoopback(status.bind) ? (
          <span class="hint">this machine only, plain HTTP (the default).</span>
        ) : (
          <span class="hint">
            other machines and containers can connect; HTTPS only, and each token works only from the addresses it allows
            (a token without any: this machine only).
          </span>
        )}
      </p>
      {status.fingerprint && (
        <div class="fingerprint" data-testid="gateway-fingerprint-box">
          <span>
            Certificate SHA-256 fingerprint{status.tls ? "" : " (served from the next start)"} — pin it in the bot, or trust the
            certificate:
          </span>
          <div class="issued-secret">
            <code data-testid="gateway-fingerprint">{status.fingerprint}</code>
            <CopyButton text={status.fingerprint} testid="gateway-fingerprint-copy" />
            {status.certificatePem && (
              <CopyButton text={status.certificatePem} testid="gateway-cert-copy" label="Copy certificate" />
            )}
          </div>
        </div>
      )}
      <div class="port-row">
        <Field label="Bind address (used from the next start)">
          <TextInput
            small
            value={address}
            placeholder={status.defaultBind}
            onValue={(v) => {
              setAddress(v);
              setConfirmed(false);
              setSaved(false);
            }}
            testid="gateway-bind-input"
          />
        </Field>
        <BusyButton
          busy={action.busy !== null}
          busyLabel="Saving…"
          class="button secondary small"
          testid="gateway-bind-save"
          disabled={wanted === "" || !changed || (beyond && !confirmed)}
          onClick={save}
        >
          Save address
        </BusyButton>
        <span class="hint">
          {status.defaultBind} keeps bots on this machine only. 0.0.0.0 lets bots in Docker or on your LAN connect.
        </span>
      </div>
      {beyond && changed && (
        <div class="confirm" role="alert" data-testid="gateway-bind-warning">
          <p>
            <strong>Binding to {wanted} lets other machines or containers reach the gateway.</strong> Anyone who can reach
            it and holds a token can trade with your keys. Keyward will then serve HTTPS only, with a certificate it
            generates (its fingerprint appears here for the bot to pin), and each token works only from the addresses you
            allow for it — give every LAN or Docker bot's token its address.
          </p>
          <label class="check">
            <input
              type="checkbox"
              checked={confirmed}
              onChange={() => setConfirmed(!confirmed)}
              data-testid="gateway-bind-confirm"
            />
            I understand and want the gateway reachable from {wanted}
          </label>
        </div>
      )}
      {saved && (
        <p class="notice" role="status" data-testid="gateway-bind-saved">
          Saved: the gateway binds {status.bind} after a restart of Keyward.
        </p>
      )}
      <ErrorLine error={action.error} testid="gateway-bind-error" />
    </div>
  );
}

function Issued({ issued, rotated, onDone }: { issued: IssuedTokenView; rotated: boolean; onDone: () => void }) {
  return (
    <div class="card issued" role="status" data-testid="gateway-issued">
      <h2>
        {rotated ? "New text for" : "Token for"} {issued.token.name}
      </h2>
      <p class="issued-warning">
        <strong>This token is shown once — store it in your bot's config now.</strong> Keyward keeps only a hash of it
        {rotated ? "; the previous text has stopped working." : "."}
      </p>
      <div class="issued-secret">
        <code data-testid="gateway-secret">{issued.secret}</code>
        <CopyButton text={issued.secret} testid="gateway-secret-copy" />
      </div>
      <div class="actions">
        <button type="button" class="button secondary" data-testid="gateway-issued-done" onClick={onDone}>
          I stored it — hide the token
        </button>
      </div>
    </div>
  );
}

interface NewTokenProps {
  providers: ProviderView[];
  keys: KeyView[];
  defaultMaxWaitMs: number;
  onCancel: () => void;
  onCreated: (i: IssuedTokenView) => void;
}

function NewToken({ providers: provs, keys: keyList, defaultMaxWaitMs, onCancel, onCreated }: NewTokenProps) {
  const first = provs.find((p) => p.id === "binance") ?? provs.find((p) => p.enabled) ?? provs[0];
  const [name, setName] = useState("");
  const [provider, setProvider] = useState(first?.id ?? "");
  const [keyLabel, setKeyLabel] = useState("");
  const [scopes, setScopes] = useState<Set<string>>(new Set(["market"]));
  const [withdrawOk, setWithdrawOk] = useState(false);
  const [ips, setIps] = useState("");
  const [maxWait, setMaxWait] = useState("");
  const [maxShare, setMaxShare] = useState("");
  const action = useAction();
  const setError = action.fail;

  // The provider list may arrive after the form opened.
  useEffect(() => {
    if (!provider && first) setProvider(first.id);
  }, [first?.id]);

  const providerKeys = keyList.filter((k) => k.provider === provider);
  const toggle = (s: string) => {
    const next = new Set(scopes);
    if (next.has(s)) next.delete(s);
    else next.add(s);
    setScopes(next);
    if (s === "withdraw") setWithdrawOk(false);
  };
  const wantsWithdraw = scopes.has("withdraw");
  const needsKey = !keyLabel && (scopes.has("read") || scopes.has("trade") || wantsWithdraw);

  const submit = (e: Event) => {
    e.preventDefault();
    if (!name.trim()) return setError("Give the token a name, e.g. the bot's name (letters, digits, - _ .).");
    if (scopes.size === 0) return setError("Tick at least one scope.");
    if (wantsWithdraw && !withdrawOk) return setError("Confirm the withdraw scope below, or untick it.");
    const wait = maxWait.trim() === "" ? undefined : Number(maxWait);
    if (wait !== undefined && !(Number.isInteger(wait) && wait >= 0))
      return setError(`Max wait "${maxWait}" is not a number of milliseconds.`);
    const share = maxShare.trim() === "" ? undefined : Number(maxShare.trim().replace(/%$/, ""));
    if (share !== undefined && !(share > 0 && share <= 100))
      return setError(`Max share "${maxShare}" is not a percentage above 0 and at most 100.`);
    void action.run(() =>
      gateway
        .createToken({
          name: name.trim(),
          provider,
          keyLabel: keyLabel || undefined,
          scopes: SCOPES.filter((s) => scopes.has(s)),
          allowIps: ips.split(/[\s,]+/).filter(Boolean),
          maxWaitMs: wait,
          maxSharePct: share,
          allowWithdraw: wantsWithdraw && withdrawOk,
        })
        .then(onCreated),
    );
  };

  return (
    <form class="card" data-testid="gateway-form" onSubmit={submit}>
      <h2>New bot token</h2>
      <div class="form-grid">
        <Field label="Name">
          <TextInput value={name} placeholder="grid-bot" onValue={setName} testid="gateway-form-name" />
        </Field>
        <label class="field">
          <span>Provider</span>
          <select
            class="input"
            value={provider}
            onChange={(e) => {
              setProvider((e.target as HTMLSelectElement).value);
              setKeyLabel("");
            }}
            data-testid="gateway-form-provider"
          >
            {provs.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
              </option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>Key it signs with</span>
          <select class="input" value={keyLabel} onChange={(e) => setKeyLabel((e.target as HTMLSelectElement).value)} data-testid="gateway-form-key">
            <option value="">none — market data only</option>
            {providerKeys.map((k) => (
              <option key={k.label} value={k.label}>
                {k.label} ({k.environment})
              </option>
            ))}
          </select>
        </label>
        <div class="field wide" role="group" aria-label="Scopes">
          <span>Scopes</span>
          <div>
            {SCOPES.map((s) => (
              <label key={s} class="check">
                <input type="checkbox" checked={scopes.has(s)} onChange={() => toggle(s)} data-testid={`gateway-form-scope-${s}`} />
                {s}
              </label>
            ))}
          </div>
          {needsKey && <span class="hint">read, trade and withdraw need a key to sign with; without one they are refused.</span>}
        </div>
        <Field label="Max wait for budget (ms)">
          <TextInput inputMode="numeric" value={maxWait} placeholder={String(defaultMaxWaitMs)} onValue={setMaxWait} testid="gateway-form-maxwait" />
        </Field>
        <Field label="Max share of each limit (%)">
          <TextInput inputMode="decimal" value={maxShare} placeholder="no cap" onValue={setMaxShare} testid="gateway-form-maxshare" />
        </Field>
        <Field label="Allowed addresses (optional)" wide>
          <TextInput
            value={ips}
            placeholder="this machine only — or e.g. 192.168.1.0/24, 10.0.0.5"
            onValue={setIps}
            testid="gateway-form-ips"
          />
        </Field>
      </div>
      {wantsWithdraw && (
        <div class="confirm" role="alert" data-testid="gateway-withdraw-warning">
          <p>
            <strong>Withdraw lets this bot move funds off the exchange.</strong> Almost no bot needs it; anyone who gets the
            token could empty the account (within the exchange key's own permissions and address whitelist).
          </p>
          <label class="check">
            <input type="checkbox" checked={withdrawOk} onChange={() => setWithdrawOk(!withdrawOk)} data-testid="gateway-withdraw-confirm" />
            I understand and want this bot to be able to withdraw
          </label>
        </div>
      )}
      <ErrorLine error={action.error} testid="gateway-form-error" />
      <div class="actions">
        <BusyButton type="submit" busy={action.busy !== null} busyLabel="Creating…" disabled={!provider} testid="gateway-form-submit">
          Create token
        </BusyButton>
        <button type="button" class="button secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

interface TokenTableProps {
  tokens: GatewayTokenView[];
  selected: string | null;
  onSelect: (name: string) => void;
  onIssued: (i: IssuedTokenView) => void;
  onChanged: () => void;
}

function TokenTable({ tokens, selected, onSelect, onIssued, onChanged }: TokenTableProps) {
  return (
    <div class="card">
      <h2>Bot tokens</h2>
      <div class="table-wrap">
        <table class="plain gateway-tokens" data-testid="gateway-tokens">
          <thead>
            <tr>
              <th>Name</th>
              <th>Provider</th>
              <th>Key</th>
              <th>Scopes</th>
              <th>Token</th>
              <th>Created</th>
              <th>Status</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {tokens.map((t) => (
              <TokenRow key={t.name} t={t} selected={t.name === selected} onSelect={() => onSelect(t.name)} onIssued={onIssued} onChanged={onChanged} />
            ))}
          </tbody>
        </table>
      </div>
      <p class="hint">Select a token to see its configuration below.</p>
    </div>
  );
}

function TokenRow({
  t,
  selected,
  onSelect,
  onIssued,
  onChanged,
}: {
  t: GatewayTokenView;
  selected: boolean;
  onSelect: () => void;
  onIssued: (i: IssuedTokenView) => void;
  onChanged: () => void;
}) {
  const action = useAction<"toggle" | "rotate" | "revoke">();
  const { busy, error } = action;
  const [confirm, setConfirm] = useState<"rotate" | "revoke" | null>(null);
  const run = <T,>(what: "toggle" | "rotate" | "revoke", p: () => Promise<T>, then: (v: T) => void) => {
    setConfirm(null);
    void action.run(() => p().then(then), what);
  };
  return (
    <>
      <tr class={selected ? "trow selected" : "trow"} data-testid={`gateway-token-${t.name}`} onClick={onSelect}>
        <td>
          <strong>{t.name}</strong>
        </td>
        <td>{t.provider}</td>
        <td>{t.keyLabel ?? <span class="hint nowrap">market data only</span>}</td>
        <td>
          {t.scopes.map((s) => (
            <span key={s} class={s === "withdraw" ? "badge bad" : "badge info"}>
              {s}
            </span>
          ))}
          {t.maxSharePct != null && (
            <span class="hint nowrap" data-testid={`gateway-token-share-${t.name}`}>
              {" "}
              ≤ {t.maxSharePct}% of each limit
            </span>
          )}
        </td>
        <td>
          <code>{t.hint}</code>
        </td>
        <td class="nowrap" title={formatTime(t.createdAt)}>
          {formatDate(t.createdAt)}
        </td>
        <td>{t.disabled ? <span class="badge warn">disabled</span> : <span class="badge ok">active</span>}</td>
        <td class="row-actions" onClick={(e) => e.stopPropagation()}>
          <button
            type="button"
            class="link"
            data-testid={`gateway-toggle-${t.name}`}
            disabled={busy !== null}
            onClick={() => run("toggle", () => gateway.setDisabled(t.name, !t.disabled), onChanged)}
          >
            {busy === "toggle" ? "…" : t.disabled ? "Enable" : "Disable"}
          </button>
          <button type="button" class="link" data-testid={`gateway-rotate-${t.name}`} disabled={busy !== null} onClick={() => setConfirm("rotate")}>
            {busy === "rotate" ? "Rotating…" : "Rotate"}
          </button>
          <button
            type="button"
            class="link danger-text"
            data-testid={`gateway-revoke-${t.name}`}
            disabled={busy !== null}
            onClick={() => setConfirm("revoke")}
          >
            {busy === "revoke" ? "Revoking…" : "Revoke"}
          </button>
        </td>
      </tr>
      {(confirm || error) && (
        <tr class="trow-detail">
          <td colSpan={8}>
            {confirm && (
              <div class="confirm" role="dialog" data-testid={`gateway-confirm-${t.name}`}>
                <p>
                  {confirm === "revoke" ? (
                    <>
                      Revoke <strong>{t.name}</strong>? Bots using it are refused at once, and the token cannot be brought
                      back.
                    </>
                  ) : (
                    <>
                      Give <strong>{t.name}</strong> a new text? The current one stops working at once; update the bot's
                      config with the new one.
                    </>
                  )}
                </p>
                <div class="actions">
                  <button
                    type="button"
                    class={confirm === "revoke" ? "button danger" : "button"}
                    data-testid={`gateway-confirm-yes-${t.name}`}
                    onClick={() =>
                      confirm === "revoke"
                        ? run("revoke", () => gateway.revoke(t.name), onChanged)
                        : run("rotate", () => gateway.rotate(t.name), onIssued)
                    }
                  >
                    {confirm === "revoke" ? "Revoke" : "Rotate"}
                  </button>
                  <button type="button" class="button secondary" onClick={() => setConfirm(null)}>
                    Cancel
                  </button>
                </div>
              </div>
            )}
            <ErrorLine error={error} testid={`gateway-token-error-${t.name}`} />
          </td>
        </tr>
      )}
    </>
  );
}

function Bots({ bots }: { bots: BotStats[] }) {
  return (
    <div class="card" data-testid="gateway-bots">
      <h2>Bots, live</h2>
      {bots.length === 0 ? (
        <p class="hint" data-testid="gateway-bots-empty">
          No bot has called since Keyward started. Requests show up here within 2 seconds.
        </p>
      ) : (
        <div class="table-wrap">
          <table class="plain gateway-bots">
            <thead>
              <tr>
                <th>Bot</th>
                <th class="num">Req/s</th>
                <th class="num">Requests</th>
                <th class="num">Weight</th>
                <th class="num">Waited</th>
                <th>Refused</th>
                <th>Last error</th>
                <th>Last seen</th>
              </tr>
            </thead>
            <tbody>
              {bots.map((b) => (
                <tr key={b.name} data-testid={`gateway-bot-${b.name}`}>
                  <td>
                    <strong>{b.name}</strong>
                  </td>
                  <td class="num" data-testid={`gateway-bot-rate-${b.name}`}>
                    {b.perSecond.toFixed(1)}
                  </td>
                  <td class="num" data-testid={`gateway-bot-requests-${b.name}`}>
                    {b.requests}
                    {b.exchangeErrors > 0 && <span class="bad-text"> ({b.exchangeErrors} failed)</span>}
                  </td>
                  <td class="num">{b.weight}</td>
                  <td class="num" title="Total time spent waiting for budget; the longest single wait">
                    {formatMs(b.waitedMs)} <span class="hint">max {b.maxWaitMs}</span>
                  </td>
                  <td>
                    {Object.keys(b.refused).length === 0 ? (
                      <span class="hint">—</span>
                    ) : (
                      Object.entries(b.refused).map(([reason, count]) => (
                        <span key={reason} class="badge warn">
                          {REFUSAL_LABEL[reason] ?? reason} {count}
                        </span>
                      ))
                    )}
                  </td>
                  <td class="last-error">{b.lastError ?? <span class="hint">—</span>}</td>
                  <td class="nowrap">{b.lastSeen ? formatTime(b.lastSeen) : "—"}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </div>
  );
}

function Snippets({
  token,
  text,
  gatewayUrl,
  providerKind,
}: {
  token: GatewayTokenView;
  text: string | null;
  gatewayUrl: string;
  providerKind: string;
}) {
  const list = snippets({ gatewayUrl, provider: token.provider, providerKind, token: text });
  const [tab, setTab] = useState<SnippetId>(list[0].id);
  const shown = list.find((s) => s.id === tab) ?? list[0];
  return (
    <div class="card" data-testid="gateway-snippets">
      <div class="detail-head">
        <h2>
          Configure <strong>{token.name}</strong> ({token.provider})
        </h2>
        <Segmented options={list} value={shown.id} onChange={setTab} tabs label="Configuration for" testid={(id) => `gateway-snippet-tab-${id}`} />
      </div>
      {!text && (
        <p class="hint">
          The token's text is shown only when it is created or rotated: replace <code>kwg_PASTE_YOUR_TOKEN_HERE</code> with it.
        </p>
      )}
      <pre class="snippet" data-testid="gateway-snippet">
        <code>{shown.code}</code>
      </pre>
      <div class="snippet-foot">
        <CopyButton text={shown.code} testid="gateway-snippet-copy" />
        <span class="hint">{shown.note}</span>
      </div>
    </div>
  );
}
