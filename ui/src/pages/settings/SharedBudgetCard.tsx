// Settings → Shared budget: point several Keywards (home, a server) at one Redis so they share
// an exchange account's limits. The password is stored in the credential store and never shown.
import { useState } from "preact/hooks";
import { sharedBudget, type SharedBudgetStatus } from "../../ipc";
import { useAction } from "../../lib/useAction";
import { useLoad } from "../../lib/useLoad";
import { BusyButton } from "../../components/BusyButton";
import { Field, TextInput } from "../../components/Field";
import { ErrorLine, Loading } from "../../components/States";

/** Checks what the core would refuse, naming the value, before anything is sent. */
export function urlProblem(url: string): string | null {
  const u = url.trim();
  if (u === "") return null;
  if (!/^rediss?:\/\//.test(u)) return `"${u.replace(/:[^:@/]*@/, ":***@")}": start with redis:// or rediss:// (TLS)`;
  if (!/^rediss?:\/\/([^@/]*@)?[^:/@]+/.test(u)) return "name the Redis host: redis://host:6379";
  return null;
}

export function SharedBudgetCard() {
  const load = useLoad(sharedBudget.get, []);
  const save = useAction();
  const [url, setUrl] = useState("");
  const [group, setGroup] = useState<string | null>(null);
  const s: SharedBudgetStatus | null = load.data;
  const shownGroup = group ?? s?.settings?.egressGroup ?? "";
  const problem = urlProblem(url);
  const apply = (u: string | null) =>
    void save.run(() =>
      sharedBudget.set(u, u ? shownGroup.trim() || null : null).then((v) => {
        load.setData(v);
        setUrl("");
        setGroup(null);
      }),
    );

  return (
    <div class="card" data-testid="shared-budget-card">
      <h2>Shared budget (several machines)</h2>
      <p class="hint">
        Bots at home and on a server using one exchange account share its account and key limits. Point every Keyward
        at the same Redis server and none of them can push the account over a limit. Without it, each machine keeps
        its own budget.
      </p>
      {!s && !load.error && <Loading variant="line">Reading…</Loading>}
      {s && (
        <p data-testid="shared-budget-state" class="wrap">
          {s.settings ? (
            <>
              Shared through <code class="path">{s.settings.url}</code>
              {s.passwordStored && <span class="hint"> (password in the credential store)</span>}
              {s.settings.egressGroup && <span class="hint"> · egress group {s.settings.egressGroup}</span>}
              {s.live && (
                <span class={s.live.online ? "badge ok" : "badge bad"} data-testid="shared-budget-online">
                  {s.live.online ? `online · ${s.live.alive} instances` : "offline"}
                </span>
              )}
            </>
          ) : (
            "Not shared: this machine keeps its own budget."
          )}
        </p>
      )}
      {s?.live?.problem && <p class="field-error wrap">{s.live.problem}</p>}
      {s?.restartNeeded && (
        <p class="notice" data-testid="shared-budget-restart">
          Saved. Restart Keyward (Quit from the tray, then open it) to apply.
        </p>
      )}
      <div class="form-grid">
        <Field label="Redis URL" wide error={problem} errorTestid="shared-budget-url-error">
          <TextInput
            value={url}
            placeholder={s?.settings ? "a new URL replaces the current one" : "redis://:password@host:6379"}
            autocomplete="off"
            testid="shared-budget-url"
            invalid={!!problem}
            onValue={setUrl}
          />
        </Field>
        <Field label="Egress group (optional)">
          <TextInput value={shownGroup} placeholder="home-office" testid="shared-budget-group" onValue={setGroup} />
        </Field>
      </div>
      <p class="hint">
        Give machines that leave through one public IP the same egress group: they then share the per-IP limits too.
      </p>
      <ErrorLine error={save.error ?? load.error} testid="shared-budget-error" />
      <div class="actions">
        <BusyButton busy={save.busy !== null} busyLabel="Saving…" disabled={!url.trim() || !!problem} testid="shared-budget-save" onClick={() => apply(url.trim())}>
          Share through Redis
        </BusyButton>
        {s?.settings && (
          <button type="button" class="button secondary" data-testid="shared-budget-off" onClick={() => apply(null)}>
            Stop sharing
          </button>
        )}
      </div>
    </div>
  );
}
