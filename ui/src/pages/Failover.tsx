// Failover groups: market data that keeps flowing when an exchange is down. Each group is an
// ordered list of providers; a call through it goes to the first member fit to answer, with the
// unified symbol (BTC/USDT) in that exchange's own name, and shows who answered and why the
// others did not.
import { useState } from "preact/hooks";
import { groups, providers, type CallReply, type FailoverGroup, type ProviderView } from "../ipc";
import { formatMs } from "../lib/format";
import { useAction } from "../lib/useAction";
import { useLoad } from "../lib/useLoad";
import { BusyButton } from "../components/BusyButton";
import { Field, TextInput } from "../components/Field";
import { EmptyState, ErrorCard, ErrorLine, Loading } from "../components/States";

/** Operations a group may answer: public market data. Orders and account reads never fail over. */
export const GROUP_OPERATIONS = ["ticker", "order_book", "server_time"];

/** An age for the stale badge: "42 s", "3 min". */
export function staleAge(ms: number): string {
  return ms < 60_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`;
}

export function Failover() {
  const list = useLoad(() => groups.list(), []);
  const provs = useLoad(() => providers.list(), []);
  const [editing, setEditing] = useState<FailoverGroup | null>(null);
  const usable = (provs.data ?? []).filter((p) => !p.discontinued);

  return (
    <section>
      <header class="page-header">
        <div>
          <h1>Failover</h1>
          <p class="lead">
            A failover group keeps market data flowing through an exchange outage: a call goes to the first member that can
            answer. Members the Status page shows down or in maintenance, and members whose circuit breaker is open, are
            skipped; degraded ones wait their turn. Use unified symbols (<code>BTC/USDT</code>): each exchange is asked in
            its own naming. Orders, balances and other account operations never fail over to another exchange.
          </p>
        </div>
        <div class="actions">
          {!editing && (
            <button type="button" class="button" data-testid="group-new" onClick={() => setEditing({ name: "", members: [] })}>
              New group
            </button>
          )}
        </div>
      </header>
      <ErrorCard error={list.error} testid="groups-error" />
      {editing && (
        <GroupForm
          initial={editing}
          providers={usable}
          onDone={(saved) => {
            setEditing(null);
            if (saved) list.reload();
          }}
        />
      )}
      {list.data === null && !list.error && <Loading>Reading the failover groups…</Loading>}
      {list.data !== null && list.data.length === 0 && !editing && (
        <EmptyState title="No failover groups yet" testid="groups-empty">
          <p>
            Create one with <strong>New group</strong>: for example "BTC price" with Binance, then Coinbase, then Kraken. Members
            must be enabled on the Providers page to be called.
          </p>
        </EmptyState>
      )}
      {(list.data ?? []).map((g) => (
        <GroupCard key={g.name} group={g} providers={usable} onEdit={() => setEditing(g)} onRemoved={() => list.reload()} />
      ))}
    </section>
  );
}

function GroupForm({
  initial,
  providers: all,
  onDone,
}: {
  initial: FailoverGroup;
  providers: ProviderView[];
  onDone: (saved: boolean) => void;
}) {
  const [name, setName] = useState(initial.name);
  const [members, setMembers] = useState<string[]>(initial.members);
  const [adding, setAdding] = useState("");
  const save = useAction();
  const candidates = all.filter((p) => !members.includes(p.id));
  const nameOf = (id: string) => all.find((p) => p.id === id)?.name ?? id;
  const move = (i: number, by: number) => {
    const next = [...members];
    const [m] = next.splice(i, 1);
    next.splice(i + by, 0, m);
    setMembers(next);
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    const saved = await save.run(() => groups.save({ name, members }));
    if (saved) onDone(true);
  };

  return (
    <form class="card" data-testid="group-form" onSubmit={submit}>
      <h2>{initial.name ? `Edit "${initial.name}"` : "New failover group"}</h2>
      <div class="form-grid">
        <Field label="Name">
          <TextInput value={name} onValue={setName} testid="group-name" placeholder="BTC price" />
        </Field>
        <Field label="Add a member">
          <select
            class="input"
            data-testid="group-add-member"
            value={adding}
            onChange={(e) => {
              const id = (e.target as HTMLSelectElement).value;
              if (id) setMembers([...members, id]);
              setAdding("");
            }}
          >
            <option value="">Choose a provider…</option>
            {candidates.map((p) => (
              <option key={p.id} value={p.id}>
                {p.name}
                {p.enabled ? "" : " (not enabled)"}
              </option>
            ))}
          </select>
        </Field>
      </div>
      {members.length === 0 ? (
        <p class="hint">Add at least two providers, first choice first.</p>
      ) : (
        <ol class="member-list" data-testid="group-members">
          {members.map((m, i) => (
            <li key={m}>
              <span>
                <span class="hint">{i + 1}.</span> {nameOf(m)}
                {i === 0 && <span class="hint"> (first choice)</span>}
              </span>
              <span class="actions">
                <button type="button" class="button secondary small" disabled={i === 0} onClick={() => move(i, -1)} aria-label={`Move ${m} up`}>
                  ↑
                </button>
                <button
                  type="button"
                  class="button secondary small"
                  disabled={i === members.length - 1}
                  onClick={() => move(i, 1)}
                  aria-label={`Move ${m} down`}
                >
                  ↓
                </button>
                <button type="button" class="button secondary small" onClick={() => setMembers(members.filter((x) => x !== m))}>
                  Remove
                </button>
              </span>
            </li>
          ))}
        </ol>
      )}
      <ErrorLine error={save.error} testid="group-save-error" />
      <div class="actions">
        <BusyButton type="submit" busy={save.busy !== null} busyLabel="Saving…" testid="group-save">
          Save group
        </BusyButton>
        <button type="button" class="button secondary" onClick={() => onDone(false)}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function GroupCard({
  group,
  providers: all,
  onEdit,
  onRemoved,
}: {
  group: FailoverGroup;
  providers: ProviderView[];
  onEdit: () => void;
  onRemoved: () => void;
}) {
  const [operation, setOperation] = useState("ticker");
  const [symbol, setSymbol] = useState("BTC/USDT");
  const [reply, setReply] = useState<CallReply | null>(null);
  const trying = useAction();
  const slug = group.name.toLowerCase().replace(/[^a-z0-9]+/g, "-");
  const member = (id: string) => all.find((p) => p.id === id);

  const tryIt = async () => {
    setReply(null);
    const out = await trying.run(() => groups.call(group.name, operation, operation === "server_time" ? null : symbol));
    if (out) setReply(out);
  };

  return (
    <article class="card" data-testid={`group-${slug}`}>
      <div class="detail-head">
        <h2>{group.name}</h2>
        <span class="actions">
          <button type="button" class="button secondary small" onClick={onEdit} data-testid={`group-edit-${slug}`}>
            Edit
          </button>
          <BusyButton
            class="button secondary small"
            busyLabel="Removing…"
            testid={`group-remove-${slug}`}
            run={() => groups.remove(group.name).then(onRemoved)}
          >
            Remove
          </BusyButton>
        </span>
      </div>
      <p class="members" data-testid={`group-order-${slug}`}>
        {group.members.map((m, i) => (
          <span key={m}>
            {i > 0 && <span class="hint"> → </span>}
            <strong>{member(m)?.name ?? m}</strong>
            {member(m) && !member(m)?.enabled && <span class="badge warn">not enabled</span>}
          </span>
        ))}
      </p>
      <div class="form-grid try-row">
        <Field label="Operation">
          <TextInput
            value={operation}
            onValue={setOperation}
            testid={`group-op-${slug}`}
            list="group-operations"
            placeholder="ticker"
          />
          <datalist id="group-operations">
            {GROUP_OPERATIONS.map((op) => (
              <option key={op} value={op} />
            ))}
          </datalist>
        </Field>
        {operation !== "server_time" && (
          <Field label="Symbol">
            <TextInput value={symbol} onValue={setSymbol} testid={`group-symbol-${slug}`} placeholder="BTC/USDT" />
          </Field>
        )}
        <div class="field">
          <span>&nbsp;</span>
          <BusyButton busy={trying.busy !== null} busyLabel="Calling…" onClick={tryIt} testid={`group-try-${slug}`}>
            Try it
          </BusyButton>
        </div>
      </div>
      <ErrorLine error={trying.error} testid={`group-try-error-${slug}`} />
      {reply && <Reply reply={reply} slug={slug} />}
    </article>
  );
}

function Reply({ reply, slug }: { reply: CallReply; slug: string }) {
  return (
    <div class="try-result" data-testid={`group-result-${slug}`}>
      <p>
        <strong data-testid={`group-answered-${slug}`}>{reply.provider}</strong> answered in {formatMs(reply.latencyMs)}
        {reply.fromCache && reply.staleAgeMs == null && <span class="badge info">cached</span>}
        {reply.staleAgeMs != null && (
          <span class="badge warn" data-testid={`group-stale-${slug}`} title={reply.staleBecause ?? ""}>
            stale · {staleAge(reply.staleAgeMs)} old
          </span>
        )}
      </p>
      {reply.text && <pre class="answer">{reply.text}</pre>}
      {reply.route.length > 0 && (
        <table class="plain route" data-testid={`group-route-${slug}`}>
          <thead>
            <tr>
              <th>Member</th>
              <th>What happened</th>
              <th>Detail</th>
            </tr>
          </thead>
          <tbody>
            {reply.route.map((s, i) => (
              <tr key={`${s.provider}-${i}`}>
                <td>{s.provider}</td>
                <td>
                  <span class={`badge ${s.outcome === "answered" ? "ok" : s.outcome === "failed" ? "bad" : "warn"}`}>{s.outcome}</span>
                </td>
                <td class="hint">{s.detail}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
