//! The audit log: an append-only, hash-chained record of every key, vault and settings event.
//!
//! Each row stores the SHA-256 of the previous row (`prev_hash`, 64 zeros for the first) and
//! its own hash over a canonical, length-prefixed encoding of its content. SQLite triggers refuse
//! `UPDATE` and `DELETE` on the table, and a one-row anchor table records the id and hash of the
//! last row appended, in the same transaction. [`Audit::verify`] walks the chain and names every
//! row that was edited, inserted or deleted, including rows cut off the end.
//!
//! What this protects against: accidental damage, and tampering by anyone who can write the
//! database but does not hold the audit key. The hash chain alone can be rebuilt by whoever
//! knows its (documented) encoding; each row therefore also carries a seal, an HMAC under a key
//! kept in the secret store (see [`seal`]), and the anchor a seal of its own, so `verify` names
//! rows that were rewritten (`forged`) or stripped of their seals (`unsealed`). Rows written
//! before the key existed are vouched for by the first sealed row, whose hash covers their chain.
//!
//! Rows hold metadata only: `detail` is refused if it carries a field named like secret material
//! (`secret`, `passphrase`, `password`, `private_key`, …).
//!
//! # Key uses
//!
//! `key_used` is aggregated: [`Audit::record_use`] only counts in memory (no I/O, cheap enough for
//! the call pipeline's hot path, never blocks on SQLite), and [`Audit::flush_uses`] writes one row
//! per key per minute that has ended, with the count in `detail`. The caller drives it:
//!
//! - the long-running process (desktop app, `keyward serve`) calls `flush_uses(clock.now())` every
//!   [`USE_FLUSH_INTERVAL`] from a background loop (on a blocking thread), and
//!   [`Audit::flush_all_uses`] once at shutdown;
//! - a one-shot CLI command calls `flush_all_uses(now)` before it exits.
//!
//! Counts not flushed before the process ends are lost, so shutdown paths must flush.

mod chain;
mod export;
mod seal;
mod uses;
mod view;

use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, TransactionBehavior};

use crate::store::{Store, StoreError};

pub use chain::{Tamper, TamperKind, GENESIS_HASH};
pub use seal::key_account;
pub use uses::{USE_FLUSH_INTERVAL, USE_WINDOW};
pub use view::{AuditOptions, AuditQuery, AuditRowView, AuditVerifyView, TamperView};

use chain::{Anchor, ChainCheck, RawRow, RAW_COLUMNS};
use seal::{AuditKey, Lookup, Sealer};
use uses::UseCounter;

/// Who caused an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Actor {
    Ui,
    Cli,
    Gateway,
    System,
}

impl Actor {
    pub const ALL: [Actor; 4] = [Actor::Ui, Actor::Cli, Actor::Gateway, Actor::System];

    pub fn as_str(self) -> &'static str {
        match self {
            Actor::Ui => "ui",
            Actor::Cli => "cli",
            Actor::Gateway => "gateway",
            Actor::System => "system",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AuditKind {
    KeyCreated,
    KeyEdited,
    KeyRevealed,
    KeyCopied,
    /// Aggregated: one row per key per minute, written by [`Audit::flush_uses`].
    KeyUsed,
    KeyRotated,
    KeyVersionRetired,
    PermissionsChecked,
    KeyDeleted,
    VaultUnlocked,
    VaultUnlockFailed,
    VaultLocked,
    SettingsChanged,
    ProviderChanged,
    BackupExported,
    BackupImported,
    /// The audit key was created: rows from this one on are sealed with it.
    AuditKeyCreated,
    GatewayTokenCreated,
    /// Disabled, enabled or rotated (`detail.action`).
    GatewayTokenChanged,
    GatewayTokenRevoked,
    /// A bot's trade- or withdraw-class request through the gateway (reads are counted in
    /// `key_used`).
    GatewayOrder,
}

impl AuditKind {
    pub const ALL: [AuditKind; 21] = [
        AuditKind::KeyCreated,
        AuditKind::KeyEdited,
        AuditKind::KeyRevealed,
        AuditKind::KeyCopied,
        AuditKind::KeyUsed,
        AuditKind::KeyRotated,
        AuditKind::KeyVersionRetired,
        AuditKind::PermissionsChecked,
        AuditKind::KeyDeleted,
        AuditKind::VaultUnlocked,
        AuditKind::VaultUnlockFailed,
        AuditKind::VaultLocked,
        AuditKind::SettingsChanged,
        AuditKind::ProviderChanged,
        AuditKind::BackupExported,
        AuditKind::BackupImported,
        AuditKind::AuditKeyCreated,
        AuditKind::GatewayTokenCreated,
        AuditKind::GatewayTokenChanged,
        AuditKind::GatewayTokenRevoked,
        AuditKind::GatewayOrder,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditKind::KeyCreated => "key_created",
            AuditKind::KeyEdited => "key_edited",
            AuditKind::KeyRevealed => "key_revealed",
            AuditKind::KeyCopied => "key_copied",
            AuditKind::KeyUsed => "key_used",
            AuditKind::KeyRotated => "key_rotated",
            AuditKind::KeyVersionRetired => "key_version_retired",
            AuditKind::PermissionsChecked => "permissions_checked",
            AuditKind::KeyDeleted => "key_deleted",
            AuditKind::VaultUnlocked => "vault_unlocked",
            AuditKind::VaultUnlockFailed => "vault_unlock_failed",
            AuditKind::VaultLocked => "vault_locked",
            AuditKind::SettingsChanged => "settings_changed",
            AuditKind::ProviderChanged => "provider_changed",
            AuditKind::BackupExported => "backup_exported",
            AuditKind::BackupImported => "backup_imported",
            AuditKind::AuditKeyCreated => "audit_key_created",
            AuditKind::GatewayTokenCreated => "gateway_token_created",
            AuditKind::GatewayTokenChanged => "gateway_token_changed",
            AuditKind::GatewayTokenRevoked => "gateway_token_revoked",
            AuditKind::GatewayOrder => "gateway_order",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// An event to append. `detail` is metadata only (never secret bytes); objects are stored with
/// their keys sorted.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    pub actor: Actor,
    pub event: AuditKind,
    pub provider: Option<String>,
    pub key_label: Option<String>,
    pub detail: serde_json::Value,
}

impl AuditEvent {
    /// An event with no provider, key or detail; add them with the builder methods.
    pub fn new(actor: Actor, event: AuditKind) -> Self {
        Self { actor, event, provider: None, key_label: None, detail: serde_json::Value::Object(Default::default()) }
    }

    pub fn key(mut self, provider: impl Into<String>, key_label: impl Into<String>) -> Self {
        self.provider = Some(provider.into());
        self.key_label = Some(key_label.into());
        self
    }

    pub fn provider(mut self, provider: impl Into<String>) -> Self {
        self.provider = Some(provider.into());
        self
    }

    pub fn detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = detail;
        self
    }
}

/// A stored row.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    pub id: i64,
    pub ts: DateTime<Utc>,
    pub actor: Actor,
    pub event: AuditKind,
    pub provider: Option<String>,
    pub key_label: Option<String>,
    pub detail: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

/// Which rows to list or export. Empty fields match everything. `since` is inclusive, `until`
/// exclusive; `before_id` pages backwards (pass the smallest id of the previous page).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub provider: Option<String>,
    pub key_label: Option<String>,
    pub event: Option<AuditKind>,
    pub actor: Option<Actor>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub before_id: Option<i64>,
    pub limit: Option<usize>,
}

/// A clean chain: how many rows were checked, the hash of the last one, and what the seals say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub rows_checked: u64,
    /// The last row's hash ([`GENESIS_HASH`] for an empty log). Writing it down somewhere else
    /// lets a later check prove that nothing before it changed.
    pub last_hash: String,
    pub seals: SealStatus,
}

/// Whether the audit key vouched for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealStatus {
    /// Every row from `since` on verified against the audit key, and through the chain the
    /// rows before it: nobody without the key rewrote the log.
    Checked { since: i64 },
    /// No audit key exists yet and no row is sealed (a log written before keyed chains, or one
    /// with no secret store): the hash chain alone was checked. The next event creates the key.
    NotYetSealed,
    /// The seals could not be checked; the hash chain was. One sentence why.
    NotChecked { reason: String },
}

impl SealStatus {
    /// A stable name for the UI and `--json`.
    pub fn as_str(&self) -> &'static str {
        match self {
            SealStatus::Checked { .. } => "checked",
            SealStatus::NotYetSealed => "notYetSealed",
            SealStatus::NotChecked { .. } => "notChecked",
        }
    }

    /// One sentence for people.
    pub fn describe(&self) -> String {
        match self {
            SealStatus::Checked { since: 1 } => {
                "every row is sealed with Keyward's audit key, kept outside the database".to_string()
            }
            SealStatus::Checked { since } => format!(
                "rows from {since} on are sealed with Keyward's audit key, kept outside the database; the rows \
                 before were written by an earlier Keyward and are vouched for by row {since}'s seal"
            ),
            SealStatus::NotYetSealed => "not sealed yet: the hash chain alone was checked (the audit key is \
                created with the next event)"
                .to_string(),
            SealStatus::NotChecked { reason } => format!("seals not checked: {reason}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the audit log was tampered with ({} problem{}): {}", problems.len(), if problems.len() == 1 { "" } else { "s" }, chain::summarize(problems))]
    Tampered { problems: Vec<Tamper> },
    #[error("audit detail field \"{field}\" looks like secret material; audit rows hold metadata only")]
    SecretInDetail { field: String },
    #[error("audit row {id} has {column} {value:?}, which this Keyward cannot read")]
    Unreadable { id: i64, column: &'static str, value: String },
    #[error("could not write the audit export: {0}")]
    Export(#[source] std::io::Error),
    #[error("audit filter {field} \"{value}\" is not {expected}")]
    BadFilter { field: &'static str, value: String, expected: String },
    #[error("audit detail could not be encoded: {0}")]
    Encode(#[from] serde_json::Error),
}

impl From<rusqlite::Error> for AuditError {
    fn from(e: rusqlite::Error) -> Self {
        AuditError::Store(StoreError::Sql(e))
    }
}

impl AuditError {
    /// A stable kind for the UI and `--json`.
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            AuditError::Store(_) => crate::ErrorKind::Storage,
            AuditError::Tampered { .. } => crate::ErrorKind::Tampered,
            AuditError::SecretInDetail { .. } | AuditError::BadFilter { .. } => crate::ErrorKind::Invalid,
            AuditError::Unreadable { .. } => crate::ErrorKind::Corrupt,
            AuditError::Export(_) => crate::ErrorKind::Io,
            AuditError::Encode(_) => crate::ErrorKind::Internal,
        }
    }
}

/// Detail field names that would mean secret material is being logged. Compared
/// case-insensitively with `-` read as `_`.
const SECRET_FIELDS: &[&str] = &[
    "secret",
    "api_secret",
    "secret_key",
    "client_secret",
    "passphrase",
    "password",
    "private_key",
    "privatekey",
    "pem",
    "mnemonic",
    "seed",
];

fn check_detail(value: &serde_json::Value) -> Result<(), AuditError> {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let norm = k.to_ascii_lowercase().replace('-', "_");
                if SECRET_FIELDS.contains(&norm.as_str()) {
                    return Err(AuditError::SecretInDetail { field: k.clone() });
                }
                check_detail(v)?;
            }
            Ok(())
        }
        serde_json::Value::Array(items) => items.iter().try_for_each(check_detail),
        _ => Ok(()),
    }
}

/// Inserts one row chained to `prev` (id, hash), sealed with `key` when there is one.
fn insert_row(
    tx: &rusqlite::Transaction<'_>,
    event: &AuditEvent,
    detail: &str,
    ts: &str,
    prev: (i64, String),
    key: Option<&AuditKey>,
) -> rusqlite::Result<RawRow> {
    let mut raw = RawRow {
        id: prev.0 + 1,
        ts: ts.to_string(),
        actor: event.actor.as_str().to_string(),
        event: event.event.as_str().to_string(),
        provider: event.provider.clone(),
        key_label: event.key_label.clone(),
        detail: detail.to_string(),
        prev_hash: prev.1,
        hash: String::new(),
        seal: None,
    };
    raw.hash = raw.compute_hash();
    raw.seal = key.map(|k| k.seal_row(raw.id, &raw.hash));
    tx.execute(
        &format!("INSERT INTO audit_log ({RAW_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
        params![
            raw.id,
            raw.ts,
            raw.actor,
            raw.event,
            raw.provider,
            raw.key_label,
            raw.detail,
            raw.prev_hash,
            raw.hash,
            raw.seal
        ],
    )?;
    Ok(raw)
}

impl RawRow {
    fn into_row(self) -> Result<AuditRow, AuditError> {
        let id = self.id;
        let bad = |column: &'static str, value: &str| AuditError::Unreadable { id, column, value: value.to_string() };
        let ts = DateTime::parse_from_rfc3339(&self.ts).map_err(|_| bad("ts", &self.ts))?.with_timezone(&Utc);
        let actor = Actor::parse(&self.actor).ok_or_else(|| bad("actor", &self.actor))?;
        let event = AuditKind::parse(&self.event).ok_or_else(|| bad("event", &self.event))?;
        let detail = serde_json::from_str(&self.detail).map_err(|_| bad("detail", &self.detail))?;
        Ok(AuditRow {
            id,
            ts,
            actor,
            event,
            provider: self.provider,
            key_label: self.key_label,
            detail,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

/// The audit log. Cheap to clone; clones share the pending key-use counts, so the core keeps
/// one `Audit` and hands out clones. Every method except `record_use` blocks on SQLite.
/// Writes settings and provider changes to the audit log on behalf of one actor. Given to the
/// registry, the monitor and the alerts by `Keyward::open`, so every front end's edits are
/// audited in one place. Details name what changed (ids, field paths), never values: a custom
/// provider's header may hold a token.
#[derive(Debug, Clone)]
pub struct ChangeLog {
    audit: Audit,
    actor: Actor,
}

impl ChangeLog {
    pub fn new(audit: Audit, actor: Actor) -> Self {
        Self { audit, actor }
    }

    /// Appends one event. Blocking; call it after the change's own transaction, never inside
    /// it. A failure is logged: the change itself already happened.
    pub fn record(&self, kind: AuditKind, provider: Option<&str>, detail: serde_json::Value) {
        let mut event = AuditEvent::new(self.actor, kind).detail(detail);
        event.provider = provider.map(str::to_string);
        if let Err(e) = self.audit.append(event, Utc::now()) {
            tracing::error!(error = %e, event = kind.as_str(), "could not write a change to the audit log");
        }
    }
}

#[derive(Clone)]
pub struct Audit {
    store: Store,
    uses: Arc<Mutex<UseCounter>>,
    /// The audit key's keeper; `None` writes an unkeyed chain (tests of the chain itself).
    sealer: Option<Arc<Sealer>>,
}

impl std::fmt::Debug for Audit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Audit").field("store", &self.store).field("pending_uses", &self.pending_uses()).finish()
    }
}

impl Audit {
    /// A log with no audit key: the hash chain only. Anyone who can write the database can
    /// rewrite it; [`Audit::sealed`] is what Keyward uses.
    pub fn new(store: Store) -> Self {
        Self { store, uses: Arc::new(Mutex::new(UseCounter::default())), sealer: None }
    }

    /// A log sealed with an audit key kept in `secrets` under `account` (see [`key_account`]).
    /// The key is read on the first append or verify, and created on the first append if there
    /// is none; when the store cannot be read, rows are written unsealed and the next sealed row
    /// vouches for them.
    pub fn sealed(store: Store, secrets: Arc<dyn crate::vault::SecretStore>, account: String) -> Self {
        Self {
            store,
            uses: Arc::new(Mutex::new(UseCounter::default())),
            sealer: Some(Arc::new(Sealer::new(secrets, account))),
        }
    }

    /// Forgets any audit key left in the secret store for this log's account: call it when the
    /// database was just created, so a data directory deleted and created again at the same
    /// path starts a new log with a new key instead of reporting the old log's rows as deleted.
    pub fn discard_stale_key(&self) {
        if let Some(sealer) = &self.sealer {
            sealer.discard();
        }
    }

    /// Appends one event at `now` and returns the stored row. Runs in one `IMMEDIATE`
    /// transaction, so concurrent writers (the app and a CLI) never fork the chain.
    pub fn append(&self, event: AuditEvent, now: DateTime<Utc>) -> Result<AuditRow, AuditError> {
        check_detail(&event.detail)?;
        let detail = chain::canonical_json(&event.detail)?;
        let ts = chain::format_ts(now);
        let raw = self.store.with_conn(|c| {
            let tx = rusqlite::Transaction::new_unchecked(c, TransactionBehavior::Immediate)?;
            // Chain to the anchored last row, not merely the last row present: if the tail was
            // cut off, the next row still points to the vanished hash and verify sees the gap.
            let anchor: Option<(i64, String, i64)> = tx
                .query_row("SELECT last_id, last_hash, row_count FROM audit_anchor WHERE id = 1", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            let (prev_id, prev_hash, mut row_count) = match anchor {
                Some(a) => a,
                None => {
                    tracing::error!(
                        "the audit anchor is missing; chaining to the last row present (verify will report it)"
                    );
                    let last = tx
                        .query_row("SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1", [], |r| {
                            Ok((r.get(0)?, r.get(1)?))
                        })
                        .optional()?
                        .unwrap_or((0, GENESIS_HASH.to_string()));
                    (last.0, last.1, 0)
                }
            };
            // Inside the write transaction: two processes never create two keys for one log.
            let (key, created) = self.key_for_append(prev_id + 1);
            let mut prev = (prev_id, prev_hash);
            if created && prev_id > 0 {
                // An existing unkeyed log switches to sealed rows: record the switch, sealed.
                let switch = AuditEvent::new(Actor::System, AuditKind::AuditKeyCreated);
                // Canonical JSON (keys sorted) of {scheme, since, unsealed_rows_before}.
                let switch_detail =
                    format!(r#"{{"scheme":"hmac-sha256","since":{},"unsealed_rows_before":{prev_id}}}"#, prev_id + 1);
                let row = insert_row(&tx, &switch, &switch_detail, &ts, prev, key.as_ref())?;
                row_count += 1;
                prev = (row.id, row.hash);
            }
            let raw = insert_row(&tx, &event, &detail, &ts, prev, key.as_ref())?;
            row_count += 1;
            let anchor_seal = key.as_ref().map(|k| k.seal_anchor(raw.id, &raw.hash, row_count));
            tx.execute(
                "INSERT INTO audit_anchor (id, last_id, last_hash, row_count, seal) VALUES (1, ?1, ?2, ?3, ?4)
                 ON CONFLICT(id) DO UPDATE SET last_id = excluded.last_id, last_hash = excluded.last_hash,
                                               row_count = excluded.row_count, seal = excluded.seal",
                params![raw.id, raw.hash, row_count, anchor_seal],
            )?;
            tx.commit()?;
            Ok(raw)
        })?;
        tracing::debug!(id = raw.id, event = %raw.event, actor = %raw.actor, "audit event recorded");
        raw.into_row()
    }

    /// The key to seal the row with id `next_id`, and whether it was created just now. `None`
    /// (the row is written unsealed) when there is no sealer or the store cannot be read.
    fn key_for_append(&self, next_id: i64) -> (Option<AuditKey>, bool) {
        let Some(sealer) = &self.sealer else { return (None, false) };
        match sealer.lookup() {
            Lookup::Found(key) => (Some(key), false),
            Lookup::Absent => match sealer.create(next_id) {
                Ok(key) => {
                    tracing::info!(since = next_id, "audit key created; rows from here on are sealed");
                    (Some(key), true)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not store a new audit key; writing the row unsealed");
                    (None, false)
                }
            },
            Lookup::Unavailable(reason) => {
                tracing::warn!(%reason, "the audit key could not be read; writing the row unsealed (the next sealed row vouches for it)");
                (None, false)
            }
        }
    }

    /// Rows matching `filter`, newest first.
    pub fn list(&self, filter: &AuditFilter) -> Result<Vec<AuditRow>, AuditError> {
        let limit = filter.limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let raws = self.store.with_conn(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {RAW_COLUMNS} FROM audit_log
                 WHERE (?1 IS NULL OR provider = ?1) AND (?2 IS NULL OR key_label = ?2)
                   AND (?3 IS NULL OR event = ?3) AND (?4 IS NULL OR actor = ?4)
                   AND (?5 IS NULL OR ts >= ?5) AND (?6 IS NULL OR ts < ?6) AND (?7 IS NULL OR id < ?7)
                 ORDER BY id DESC LIMIT ?8"
            ))?;
            let rows = stmt
                .query_map(
                    params![
                        filter.provider,
                        filter.key_label,
                        filter.event.map(AuditKind::as_str),
                        filter.actor.map(Actor::as_str),
                        filter.since.map(chain::format_ts),
                        filter.until.map(chain::format_ts),
                        filter.before_id,
                        limit,
                    ],
                    RawRow::from_row,
                )?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })?;
        raws.into_iter().map(RawRow::into_row).collect()
    }

    /// Writes the rows matching `filter` as JSON lines, oldest first (the natural order of a
    /// log file). Returns how many rows were written.
    pub fn export_json_lines(&self, filter: &AuditFilter, out: impl Write) -> Result<usize, AuditError> {
        let mut rows = self.list(filter)?;
        rows.reverse();
        export::write_json_lines(&rows, out)?;
        Ok(rows.len())
    }

    /// Writes the rows matching `filter` as CSV with a header line, oldest first. Returns how
    /// many rows were written.
    pub fn export_csv(&self, filter: &AuditFilter, out: impl Write) -> Result<usize, AuditError> {
        let mut rows = self.list(filter)?;
        rows.reverse();
        export::write_csv(&rows, out)?;
        Ok(rows.len())
    }

    /// Checks the whole chain and the tail anchor. `Ok` only if no row was edited, inserted or
    /// deleted; otherwise [`AuditError::Tampered`] lists every problem found. Reads through its
    /// own connection inside one read transaction, so it sees a consistent snapshot without
    /// holding the shared connection while it hashes.
    pub fn verify(&self) -> Result<VerifyReport, AuditError> {
        // The key first (a credential-store round trip), outside the read transaction.
        let (key, missing) = match self.sealer.as_deref().map(Sealer::lookup) {
            None => (None, None),
            Some(Lookup::Found(key)) => (Some(key), None),
            Some(Lookup::Absent) => (None, None),
            Some(Lookup::Unavailable(reason)) => (None, Some(reason)),
        };
        let mut conn = crate::store::open_connection(self.store.path())?;
        let tx = conn.transaction()?;
        let anchor = tx
            .query_row("SELECT last_id, last_hash, row_count, seal FROM audit_anchor WHERE id = 1", [], |r| {
                Ok(Anchor { last_id: r.get(0)?, last_hash: r.get(1)?, row_count: r.get(2)?, seal: r.get(3)? })
            })
            .optional()?;
        let since = key.as_ref().map(|k| k.since);
        let mut check = ChainCheck::new(anchor.clone(), key);
        {
            let mut stmt = tx.prepare(&format!("SELECT {RAW_COLUMNS} FROM audit_log ORDER BY id"))?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                check.row(&RawRow::from_row(row)?);
            }
        }
        tx.finish()?;
        let summary = check.finish();
        if !summary.problems.is_empty() {
            tracing::warn!(problems = summary.problems.len(), "audit chain verification failed");
            return Err(AuditError::Tampered { problems: summary.problems });
        }
        let rows_checked = summary.rows;
        if let Some(a) = anchor.filter(|a| i64::try_from(rows_checked) != Ok(a.row_count)) {
            // Ids and hashes agree but the number of appends does not (the anchor was recreated
            // after going missing). Worth a log line, not a verification failure.
            tracing::warn!(rows_checked, anchored = a.row_count, "audit row count differs from the anchor");
        }
        let seals = match (since, missing) {
            (Some(since), _) => SealStatus::Checked { since },
            (None, Some(reason)) => {
                SealStatus::NotChecked { reason: format!("the audit key could not be read ({reason})") }
            }
            (None, None) if summary.sealed_rows == 0 => SealStatus::NotYetSealed,
            (None, None) => SealStatus::NotChecked {
                reason: format!(
                    "{} rows carry seals but the {} holds no audit key for this data directory (was the data \
                     directory moved or copied from another place, or the key deleted?)",
                    summary.sealed_rows,
                    self.sealer.as_ref().map_or_else(|| "secret store".to_string(), |s| s.backend_name())
                ),
            },
        };
        Ok(VerifyReport { rows_checked, last_hash: summary.last_hash, seals })
    }

    /// Counts one use of a key at `now`. Memory only: no I/O, safe in the call pipeline. The
    /// row is written later by [`Audit::flush_uses`].
    pub fn record_use(&self, provider: &str, key_label: &str, now: DateTime<Utc>) {
        self.record_use_by(Actor::System, provider, key_label, now);
    }

    /// [`Audit::record_use`] saying who made the call; the minute's row keeps a count per actor
    /// in `detail.by_actor` (the row itself is still one per key per minute).
    pub fn record_use_by(&self, actor: Actor, provider: &str, key_label: &str, now: DateTime<Utc>) {
        self.uses().record(actor, provider, key_label, now);
    }

    /// Writes one `key_used` row for each key and minute that has ended by `now`, with
    /// `detail = {count, by_actor, window_start, window_secs, first_use, last_use}`. Counts for
    /// the current minute stay pending. If a write fails the unwritten counts are kept and the
    /// error returned; the next flush retries them.
    pub fn flush_uses(&self, now: DateTime<Utc>) -> Result<Vec<AuditRow>, AuditError> {
        self.flush(now, false)
    }

    /// Like [`Audit::flush_uses`] but also writes the current minute's counts: call it at
    /// shutdown and at the end of a one-shot command.
    pub fn flush_all_uses(&self, now: DateTime<Utc>) -> Result<Vec<AuditRow>, AuditError> {
        self.flush(now, true)
    }

    /// How many uses are counted but not yet written.
    pub fn pending_uses(&self) -> u64 {
        self.uses().pending()
    }

    fn flush(&self, now: DateTime<Utc>, all: bool) -> Result<Vec<AuditRow>, AuditError> {
        // Take the due buckets and release the lock before touching SQLite.
        let due = self.uses().take_due(now, all);
        let mut written = Vec::with_capacity(due.len());
        let mut due = due.into_iter();
        while let Some((key, bucket)) = due.next() {
            let event = AuditEvent {
                actor: Actor::System,
                event: AuditKind::KeyUsed,
                provider: Some(key.1.clone()),
                key_label: Some(key.2.clone()),
                detail: bucket.detail(key.0),
            };
            match self.append(event, now) {
                Ok(row) => written.push(row),
                Err(e) => {
                    let mut uses = self.uses();
                    uses.put_back(key, bucket);
                    for (k, b) in due {
                        uses.put_back(k, b);
                    }
                    return Err(e);
                }
            }
        }
        Ok(written)
    }

    fn uses(&self) -> MutexGuard<'_, UseCounter> {
        // Counting cannot leave the map half-updated; a poisoned lock is safe to reuse.
        self.uses.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests;
