// An open key: reveal (after a confirmation, for a while), copy, check permissions with the
// exchange, rotate, delete, and its versions.
import { useEffect, useRef, useState } from "preact/hooks";
import { keys, type KeyView, type PermissionReportView } from "../../ipc";
import { formatDate } from "../../lib/format";
import { useAction } from "../../lib/useAction";
import { useLoad } from "../../lib/useLoad";
import { BusyButton } from "../../components/BusyButton";
import { ErrorLine } from "../../components/States";
import { RotateDialog } from "./RotateDialog";

/** A revealed secret hides itself again after this long. */
export const REVEAL_SECONDS = 20;

type Busy = "reveal" | "copy" | "check" | "delete" | "retire";

export function KeyDetail({ k, onChanged }: { k: KeyView; onChanged: () => void }) {
  const action = useAction<Busy>();
  const versions = useLoad(() => keys.versions(k.provider, k.label), [k.provider, k.label, k.activeVersion]);
  const [confirming, setConfirming] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  const [report, setReport] = useState<PermissionReportView | null>(null);
  const [rotating, setRotating] = useState(false);
  const revealed = useRevealed();

  const reveal = () => {
    setConfirming(false);
    void action.run(() => keys.reveal(k.provider, k.label).then(revealed.show), "reveal");
  };
  const copy = () =>
    void action.run(
      () => keys.copy(k.provider, k.label).then((secs) => setNotice(`Copied. The clipboard is cleared in ${secs} s if it still holds the secret.`)),
      "copy",
    );
  const check = () =>
    void action.run(
      () =>
        keys.check(k.provider, k.label).then((r) => {
          setReport(r);
          onChanged();
        }),
      "check",
    );
  const remove = () => {
    if (window.confirm(`Delete key "${k.label}" for ${k.provider} and its secret?`))
      void action.run(() => keys.remove(k.provider, k.label).then(onChanged), "delete");
  };
  const retire = (version: number) =>
    void action.run(() => keys.retireVersion(k.provider, k.label, version).then(versions.reload), "retire");

  return (
    <div class="key-detail" data-testid="key-detail">
      <div class="actions">
        <button type="button" class="button secondary" data-testid="key-reveal" onClick={() => setConfirming(true)}>
          Reveal secret
        </button>
        <BusyButton busy={action.busy === "copy"} busyLabel="Copying…" class="button secondary" testid="key-copy" onClick={copy}>
          Copy secret
        </BusyButton>
        <BusyButton busy={action.busy === "check"} busyLabel="Asking the exchange…" class="button secondary" testid="key-check" onClick={check}>
          Check permissions
        </BusyButton>
        <button type="button" class="button" data-testid="key-rotate" onClick={() => setRotating(true)}>
          Rotate…
        </button>
        <BusyButton busy={action.busy === "delete"} busyLabel="Deleting…" class="button danger" testid="key-delete" onClick={remove}>
          Delete
        </BusyButton>
      </div>
      {confirming && (
        <div class="confirm" role="dialog" data-testid="reveal-confirm">
          <p>
            Show the secret of <strong>{k.label}</strong> on screen for {REVEAL_SECONDS} seconds? This is recorded in the audit log.
          </p>
          <div class="actions">
            <button type="button" class="button" data-testid="reveal-confirm-yes" onClick={reveal}>
              Reveal
            </button>
            <button type="button" class="button secondary" onClick={() => setConfirming(false)}>
              Cancel
            </button>
          </div>
        </div>
      )}
      {revealed.secret !== null && (
        <p class="revealed" data-testid="key-secret">
          <code>{revealed.secret}</code> <span class="hint">hides in {revealed.left} s</span>
        </p>
      )}
      <ErrorLine error={action.error ?? versions.error} testid="key-error" />
      {notice && (
        <p class="notice" role="status" data-testid="key-notice">
          {notice}
        </p>
      )}
      {report && <PermissionReport report={report} />}
      {rotating && (
        <RotateDialog
          k={k}
          onRotated={() => {
            onChanged();
            versions.reload();
          }}
          onDone={() => setRotating(false)}
          onCancel={() => setRotating(false)}
        />
      )}
      {versions.data && (
        <div>
          <h3>Versions</h3>
          <ul class="versions" data-testid="key-versions">
            {versions.data.map((v) => (
              <li key={v.version} data-testid={`key-version-${v.version}`}>
                v{v.version} <code>{v.apiKeyMasked}</code> · added {formatDate(v.createdAt)}
                {v.verifiedAt && " · verified"}
                {v.active && <span class="badge ok">active</span>}
                {v.retiredAt && <span class="badge info">retired</span>}
                {!v.active && !v.retiredAt && " · "}
                {!v.active && !v.retiredAt && (
                  <button
                    type="button"
                    class="link"
                    disabled={action.busy === "retire"}
                    data-testid={`key-retire-${v.version}`}
                    onClick={() => retire(v.version)}
                  >
                    retire
                  </button>
                )}
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}

const yn = (b: boolean | null) => (b == null ? "unknown" : b ? "yes" : "no");

function PermissionReport({ report }: { report: PermissionReportView }) {
  return (
    <div class="checks" data-testid="key-report">
      <p>
        Exchange says — read: {yn(report.read)}, trade: {yn(report.trade)}, withdraw: {yn(report.withdraw)}, IP restricted:{" "}
        {yn(report.ipRestricted)}
      </p>
      {report.tradingExpiresAt && <p class="hint">Trading permission ends {formatDate(report.tradingExpiresAt)}.</p>}
      {report.keyExpiresAt && <p class="hint">The exchange expires this key {formatDate(report.keyExpiresAt)}.</p>}
      {report.risks.length === 0 ? (
        <p class="notice">No risks found.</p>
      ) : (
        report.risks.map((r) => (
          <p key={r.id} class="field-error">
            {r.message}
          </p>
        ))
      )}
    </div>
  );
}

/** A secret on screen that hides itself after `REVEAL_SECONDS`, counting down each second. */
function useRevealed() {
  const [secret, setSecret] = useState<string | null>(null);
  const [left, setLeft] = useState(0);
  const timer = useRef<number | null>(null);
  const stop = () => {
    if (timer.current) window.clearInterval(timer.current);
    timer.current = null;
  };
  useEffect(() => stop, []);
  const show = (s: string) => {
    setSecret(s);
    setLeft(REVEAL_SECONDS);
    stop();
    timer.current = window.setInterval(() => {
      setLeft((n) => {
        if (n <= 1) {
          stop();
          setSecret(null);
          return 0;
        }
        return n - 1;
      });
    }, 1000);
  };
  return { secret, left, show };
}
