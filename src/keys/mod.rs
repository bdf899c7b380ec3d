//! API keys: metadata in SQLite, secret material only in the [`SecretStore`].
//!
//! A key belongs to one provider and environment, has a label unique per provider, and
//! declares scopes (read, trade, withdraw). The pipeline refuses an operation whose class is
//! outside the key's scopes before anything is sent.

mod backup;
pub mod permissions;
mod scopes;
mod view;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};
use secrecy::{ExposeSecret, SecretString};

use crate::audit::{Actor, Audit, AuditEvent, AuditKind};
use crate::signing::Credentials;
use crate::store::{Store, StoreError};
use crate::vault::{SecretStore, VaultError};

pub use backup::ImportReport;
pub use permissions::{KeyPermissions, Risk};
pub use scopes::{Scope, Scopes};
pub use view::{KeyVersionView, KeyView, RiskView};

/// Default rotation period for a new key.
pub const DEFAULT_ROTATION_DAYS: i64 = 90;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no key labelled \"{label}\" for provider \"{provider}\"")]
    NotFound { provider: String, label: String },
    #[error("provider \"{provider}\" has no key; add one with `keyward key add --provider {provider} --label NAME`")]
    NoKeyForProvider { provider: String },
    #[error("provider \"{provider}\" already has a key labelled \"{label}\"")]
    Duplicate { provider: String, label: String },
    #[error("{field} {value:?} is not valid: {problem}")]
    Invalid { field: &'static str, value: String, problem: String },
    #[error("key \"{label}\" for \"{provider}\" expired at {expired_at}; it is never used after its expiry. Rotate it or add a new key")]
    Expired { provider: String, label: String, expired_at: DateTime<Utc> },
    #[error("key \"{label}\" for \"{provider}\" has no version {version}")]
    NoSuchVersion { provider: String, label: String, version: u32 },
    #[error("version {version} of key \"{label}\" is the active one; activate another version before retiring it")]
    RetireActive { label: String, version: u32 },
    #[error("version {version} of key \"{label}\" was retired and its secret deleted; it cannot be used again")]
    Retired { label: String, version: u32 },
    /// A backup's passphrase that cannot be used (never holds the passphrase).
    #[error("backup passphrase: {problem}")]
    BackupPassphrase { problem: String },
    #[error("wrong passphrase for the backup {}; nothing was imported", path.display())]
    WrongBackupPassphrase { path: std::path::PathBuf },
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl KeyError {
    pub fn kind(&self) -> crate::ErrorKind {
        use crate::ErrorKind as K;
        match self {
            KeyError::NotFound { .. } | KeyError::NoKeyForProvider { .. } | KeyError::NoSuchVersion { .. } => {
                K::NotFound
            }
            KeyError::Duplicate { .. } => K::Duplicate,
            KeyError::Invalid { .. } | KeyError::BackupPassphrase { .. } => K::Invalid,
            KeyError::WrongBackupPassphrase { .. } => K::WrongPassphrase,
            KeyError::Expired { .. } => K::KeyExpired,
            KeyError::RetireActive { .. } | KeyError::Retired { .. } => K::NotAllowed,
            KeyError::Vault(e) => e.kind(),
            KeyError::Store(_) => K::Storage,
        }
    }
}

impl From<rusqlite::Error> for KeyError {
    fn from(e: rusqlite::Error) -> Self {
        KeyError::Store(StoreError::Sql(e))
    }
}

/// A stored key, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub id: i64,
    pub provider: String,
    pub label: String,
    pub environment: String,
    /// The public key id (API key). Not secret, but shown masked by default.
    pub api_key: String,
    pub scopes: Scopes,
    pub has_passphrase: bool,
    pub notes: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub rotate_by: Option<DateTime<Utc>>,
    pub active_version: u32,
    pub rotation_days: i64,
    /// The last answer of the exchange's key-permission endpoint, if checked.
    pub permissions: Option<KeyPermissions>,
    pub permissions_checked_at: Option<DateTime<Utc>>,
}

/// One secret version of a key (metadata only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyVersion {
    pub version: u32,
    pub api_key: String,
    pub created_at: DateTime<Utc>,
    pub verified_at: Option<DateTime<Utc>>,
    pub activated_at: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
    pub active: bool,
}

impl KeyVersion {
    pub fn masked_api_key(&self) -> String {
        mask(&self.api_key)
    }
}

impl KeyRecord {
    /// The public key masked to its last 4 characters (`••••Bx9Q`).
    pub fn masked_api_key(&self) -> String {
        mask(&self.api_key)
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
    }

    pub fn rotation_due(&self, now: DateTime<Utc>) -> bool {
        self.rotate_by.is_some_and(|t| t <= now)
    }

    /// Risks from the last permission check.
    pub fn risks(&self, now: DateTime<Utc>) -> Vec<Risk> {
        self.permissions.as_ref().map(|p| permissions::risks(p, self.scopes, now)).unwrap_or_default()
    }
}

/// Masks all but the last 4 characters.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let tail: String = chars.iter().skip(chars.len().saturating_sub(4)).collect();
    format!("••••{tail}")
}

/// A key to add.
pub struct NewKey {
    pub provider: String,
    pub label: String,
    pub environment: String,
    pub api_key: String,
    pub secret: SecretString,
    pub passphrase: Option<SecretString>,
    pub scopes: Scopes,
    pub notes: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A key ready for signing.
pub struct ResolvedKey {
    pub record: KeyRecord,
    pub credentials: Credentials,
}

/// The key store. Cheap to clone. Every change, reveal and use is written to the audit log.
#[derive(Clone)]
pub struct Keys {
    store: Store,
    secrets: Arc<dyn SecretStore>,
    audit: Audit,
    actor: Actor,
}

/// Why a secret leaves the credential store in clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevealPurpose {
    Show,
    Copy,
}

const COLUMNS: &str = "id, provider, label, environment, api_key, scopes, passphrase_ref, notes, created_at, last_used_at, expires_at, rotate_by, active_version, rotation_days, permissions_json, permissions_checked_at";

fn parse_time(s: Option<String>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(&s).ok()).map(|t| t.with_timezone(&Utc))
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<KeyRecord> {
    let scopes: String = row.get(5)?;
    let passphrase_ref: Option<String> = row.get(6)?;
    Ok(KeyRecord {
        id: row.get(0)?,
        provider: row.get(1)?,
        label: row.get(2)?,
        environment: row.get(3)?,
        api_key: row.get(4)?,
        scopes: scopes.parse().unwrap_or_default(),
        has_passphrase: passphrase_ref.is_some(),
        notes: row.get(7)?,
        created_at: parse_time(row.get(8)?).unwrap_or_default(),
        last_used_at: parse_time(row.get(9)?),
        expires_at: parse_time(row.get(10)?),
        rotate_by: parse_time(row.get(11)?),
        active_version: row.get(12)?,
        rotation_days: row.get(13)?,
        permissions: row.get::<_, Option<String>>(14)?.and_then(|j| serde_json::from_str(&j).ok()),
        permissions_checked_at: parse_time(row.get(15)?),
    })
}

fn version_from_row(row: &Row<'_>) -> rusqlite::Result<KeyVersion> {
    Ok(KeyVersion {
        version: row.get(0)?,
        api_key: row.get(1)?,
        created_at: parse_time(row.get(2)?).unwrap_or_default(),
        verified_at: parse_time(row.get(3)?),
        activated_at: parse_time(row.get(4)?),
        retired_at: parse_time(row.get(5)?),
        active: row.get::<_, i64>(6)? != 0,
    })
}

// Account names start with this database's namespace: several data directories (profiles,
// tests) may share one OS credential store, and `key-1` of one must not overwrite `key-1` of
// another. Existing keys keep the account names stored with them.
fn version_secret_account(ns: &str, id: i64, version: u32) -> String {
    format!("{ns}/key-{id}/v{version}/secret")
}

fn version_passphrase_account(ns: &str, id: i64, version: u32) -> String {
    format!("{ns}/key-{id}/v{version}/passphrase")
}

fn secret_account(ns: &str, id: i64) -> String {
    format!("{ns}/key-{id}/secret")
}

fn passphrase_account(ns: &str, id: i64) -> String {
    format!("{ns}/key-{id}/passphrase")
}

/// This database's credential-store namespace (`kw-<12 hex>`), created on first use.
fn namespace(c: &rusqlite::Connection) -> rusqlite::Result<String> {
    let mut raw = [0u8; 6];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    c.execute(
        "INSERT OR IGNORE INTO settings (key, value, updated_at) VALUES ('vault.namespace', ?1, strftime('%Y-%m-%dT%H:%M:%fZ','now'))",
        [format!("kw-{}", hex::encode(raw))],
    )?;
    c.query_row("SELECT value FROM settings WHERE key = 'vault.namespace'", [], |r| r.get(0))
}

fn check_label(label: &str) -> Result<(), KeyError> {
    let ok = !label.is_empty()
        && label.len() <= 64
        && label.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(KeyError::Invalid {
            field: "label",
            value: label.to_string(),
            problem: "use 1-64 letters, digits, '-', '_' or '.'".into(),
        })
    }
}

impl Keys {
    pub fn new(store: Store, secrets: Arc<dyn SecretStore>, audit: Audit, actor: Actor) -> Self {
        Self { store, secrets, audit, actor }
    }

    /// Appends an audit row; a failure is logged (the action itself already happened).
    fn audit(&self, kind: AuditKind, provider: &str, label: &str, detail: serde_json::Value, now: DateTime<Utc>) {
        let event = AuditEvent::new(self.actor, kind).key(provider, label).detail(detail);
        if let Err(e) = self.audit.append(event, now) {
            tracing::error!(error = %e, provider, label, "could not write the audit log");
        }
    }

    /// Stores the secret in the vault and the metadata in the database, both or neither.
    pub fn add(&self, key: NewKey, now: DateTime<Utc>) -> Result<KeyRecord, KeyError> {
        check_label(&key.label)?;
        if key.api_key.trim().is_empty() {
            return Err(KeyError::Invalid {
                field: "api_key",
                value: String::new(),
                problem: "must not be empty".into(),
            });
        }
        if key.secret.expose_secret().is_empty() {
            return Err(KeyError::Invalid {
                field: "secret",
                value: "(empty)".into(),
                problem: "must not be empty".into(),
            });
        }
        if self.find(&key.provider, &key.label)?.is_some() {
            return Err(KeyError::Duplicate { provider: key.provider, label: key.label });
        }
        let rotate_by = now + chrono::Duration::days(DEFAULT_ROTATION_DAYS);
        let secrets = Arc::clone(&self.secrets);
        let id = self.store.with_conn(|c| {
            let tx = c.unchecked_transaction()?;
            tx.execute(
                "INSERT INTO api_keys (provider, label, environment, api_key, scopes, secret_ref, passphrase_ref, notes, created_at, expires_at, rotate_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, '', NULL, ?6, ?7, ?8, ?9)",
                params![
                    key.provider,
                    key.label,
                    key.environment,
                    key.api_key.trim(),
                    key.scopes.to_string(),
                    key.notes,
                    now.to_rfc3339(),
                    key.expires_at.map(|t| t.to_rfc3339()),
                    rotate_by.to_rfc3339(),
                ],
            )?;
            let id = tx.last_insert_rowid();
            let ns = namespace(&tx)?;
            let secret_ref = secret_account(&ns, id);
            let passphrase_ref = key.passphrase.as_ref().map(|_| passphrase_account(&ns, id));
            tx.execute(
                "UPDATE api_keys SET secret_ref = ?1, passphrase_ref = ?2 WHERE id = ?3",
                params![secret_ref, passphrase_ref, id],
            )?;
            tx.execute(
                "INSERT INTO api_key_versions (key_id, version, api_key, secret_ref, passphrase_ref, created_at, activated_at)
                 VALUES (?1, 1, ?2, ?3, ?4, ?5, ?5)",
                params![id, key.api_key.trim(), secret_ref, passphrase_ref, now.to_rfc3339()],
            )?;
            // Vault writes happen inside the transaction: if one fails, the row is rolled back.
            let vault = (|| {
                secrets.put(&secret_ref, &key.secret)?;
                if let (Some(p), Some(r)) = (&key.passphrase, &passphrase_ref) {
                    secrets.put(r, p)?;
                }
                Ok::<_, VaultError>(())
            })();
            if let Err(e) = vault {
                let _ = secrets.delete(&secret_ref);
                return Ok(Err(e));
            }
            tx.commit()?;
            Ok(Ok(id))
        })??;
        tracing::info!(provider = %key.provider, label = %key.label, id, "key added");
        let record = self.by_id(id)?;
        self.audit(
            AuditKind::KeyCreated,
            &record.provider,
            &record.label,
            serde_json::json!({"environment": record.environment, "scopes": record.scopes.to_string(), "api_key": record.masked_api_key()}),
            now,
        );
        Ok(record)
    }

    fn by_id(&self, id: i64) -> Result<KeyRecord, KeyError> {
        Ok(self.store.with_conn(|c| {
            Ok(c.query_row(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"), [id], from_row)?)
        })?)
    }

    fn find(&self, provider: &str, label: &str) -> Result<Option<KeyRecord>, KeyError> {
        Ok(self.store.with_conn(|c| {
            Ok(c.query_row(
                &format!("SELECT {COLUMNS} FROM api_keys WHERE provider = ?1 AND label = ?2"),
                [provider, label],
                from_row,
            )
            .optional()?)
        })?)
    }

    /// One key by provider and label.
    pub fn get(&self, provider: &str, label: &str) -> Result<KeyRecord, KeyError> {
        self.find(provider, label)?
            .ok_or_else(|| KeyError::NotFound { provider: provider.to_string(), label: label.to_string() })
    }

    /// Every key, optionally for one provider, ordered by provider and label.
    pub fn list(&self, provider: Option<&str>) -> Result<Vec<KeyRecord>, KeyError> {
        Ok(self.store.with_conn(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM api_keys WHERE (?1 IS NULL OR provider = ?1) ORDER BY provider, label"
            ))?;
            let rows = stmt.query_map([provider], from_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })?)
    }

    /// Deletes the key's secrets from the vault and its row from the database.
    pub fn remove(&self, provider: &str, label: &str) -> Result<KeyRecord, KeyError> {
        let record = self.get(provider, label)?;
        let refs = self.secret_refs(record.id)?;
        for account in refs {
            match self.secrets.delete(&account) {
                Ok(()) | Err(VaultError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.store.with_conn(|c| {
            c.execute("DELETE FROM api_keys WHERE id = ?1", [record.id])?;
            Ok(())
        })?;
        tracing::info!(provider, label, "key removed");
        self.audit(AuditKind::KeyDeleted, provider, label, serde_json::json!({}), Utc::now());
        Ok(record)
    }

    /// The key to sign with: the one labelled `label`, or the provider's only/first key for
    /// `environment`. Expired keys are refused.
    pub fn resolve(
        &self,
        provider: &str,
        label: Option<&str>,
        environment: &str,
        now: DateTime<Utc>,
    ) -> Result<ResolvedKey, KeyError> {
        self.resolve_version(provider, label, environment, None, now)
    }

    /// Like [`Keys::resolve`], signing with a given version (to verify a new one before
    /// switching to it). `None` is the active version.
    pub fn resolve_version(
        &self,
        provider: &str,
        label: Option<&str>,
        environment: &str,
        version: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<ResolvedKey, KeyError> {
        let record = match label {
            Some(l) => self.get(provider, l)?,
            None => self
                .list(Some(provider))?
                .into_iter()
                .find(|k| k.environment == environment)
                .ok_or_else(|| KeyError::NoKeyForProvider { provider: provider.to_string() })?,
        };
        if let Some(expired_at) = record.expires_at.filter(|t| *t <= now) {
            return Err(KeyError::Expired { provider: record.provider, label: record.label, expired_at });
        }
        let version = version.unwrap_or(record.active_version);
        let (api_key, secret_ref, passphrase_ref, retired) = self.version_refs(&record, version)?;
        if retired {
            return Err(KeyError::Retired { label: record.label, version });
        }
        let secret = self.secrets.get(&secret_ref)?;
        let passphrase = match passphrase_ref {
            Some(r) => Some(self.secrets.get(&r)?),
            None => None,
        };
        let credentials = Credentials { api_key, secret, passphrase };
        Ok(ResolvedKey { record, credentials })
    }

    fn version_refs(
        &self,
        record: &KeyRecord,
        version: u32,
    ) -> Result<(String, String, Option<String>, bool), KeyError> {
        self.store
            .with_conn(|c| {
                Ok(c.query_row(
                    "SELECT api_key, secret_ref, passphrase_ref, retired_at IS NOT NULL FROM api_key_versions
                     WHERE key_id = ?1 AND version = ?2",
                    params![record.id, version],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?)
            })?
            .ok_or_else(|| KeyError::NoSuchVersion {
                provider: record.provider.clone(),
                label: record.label.clone(),
                version,
            })
    }

    /// Every credential-store account this key uses (all versions).
    fn secret_refs(&self, id: i64) -> Result<Vec<String>, KeyError> {
        Ok(self.store.with_conn(|c| {
            let mut stmt = c.prepare("SELECT secret_ref, passphrase_ref FROM api_key_versions WHERE key_id = ?1")?;
            let mut out = Vec::new();
            for row in stmt.query_map([id], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?)))? {
                let (s, p) = row?;
                out.push(s);
                out.extend(p);
            }
            Ok(out)
        })?)
    }

    /// The active version's secret, for an explicit reveal or copy. Nothing is revealed
    /// unless the audit row could be written first.
    pub fn reveal(&self, provider: &str, label: &str, purpose: RevealPurpose) -> Result<SecretString, KeyError> {
        let record = self.get(provider, label)?;
        let (_, secret_ref, _, _) = self.version_refs(&record, record.active_version)?;
        let kind = match purpose {
            RevealPurpose::Show => AuditKind::KeyRevealed,
            RevealPurpose::Copy => AuditKind::KeyCopied,
        };
        let event = AuditEvent::new(self.actor, kind)
            .key(provider, label)
            .detail(serde_json::json!({"version": record.active_version}));
        self.audit.append(event, Utc::now()).map_err(|e| KeyError::Invalid {
            field: "audit",
            value: String::new(),
            problem: format!("the reveal could not be recorded, so it was refused: {e}"),
        })?;
        Ok(self.secrets.get(&secret_ref)?)
    }

    /// Version history, newest first (metadata only).
    pub fn versions(&self, provider: &str, label: &str) -> Result<Vec<KeyVersion>, KeyError> {
        let record = self.get(provider, label)?;
        Ok(self.store.with_conn(|c| {
            let mut stmt = c.prepare(
                "SELECT v.version, v.api_key, v.created_at, v.verified_at, v.activated_at, v.retired_at,
                        v.version = k.active_version
                 FROM api_key_versions v JOIN api_keys k ON k.id = v.key_id
                 WHERE v.key_id = ?1 ORDER BY v.version DESC",
            )?;
            let rows = stmt.query_map([record.id], version_from_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })?)
    }

    /// Rotation step 1: stores a new secret as the next version. It is not used until it is
    /// activated. `api_key` is the new public key id (None keeps the current one).
    pub fn add_version(
        &self,
        provider: &str,
        label: &str,
        api_key: Option<String>,
        secret: SecretString,
        passphrase: Option<SecretString>,
        now: DateTime<Utc>,
    ) -> Result<KeyVersion, KeyError> {
        if secret.expose_secret().is_empty() {
            return Err(KeyError::Invalid {
                field: "secret",
                value: "(empty)".into(),
                problem: "must not be empty".into(),
            });
        }
        let record = self.get(provider, label)?;
        let api_key = api_key.map(|k| k.trim().to_string()).filter(|k| !k.is_empty()).unwrap_or(record.api_key.clone());
        let version: u32 = self.store.with_conn(|c| {
            Ok(c.query_row(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM api_key_versions WHERE key_id = ?1",
                [record.id],
                |r| r.get(0),
            )?)
        })?;
        let ns = self.store.with_conn(|c| Ok(namespace(c)?))?;
        let secret_ref = version_secret_account(&ns, record.id, version);
        let passphrase_ref = passphrase.as_ref().map(|_| version_passphrase_account(&ns, record.id, version));
        self.secrets.put(&secret_ref, &secret)?;
        if let (Some(p), Some(r)) = (&passphrase, &passphrase_ref) {
            if let Err(e) = self.secrets.put(r, p) {
                let _ = self.secrets.delete(&secret_ref);
                return Err(e.into());
            }
        }
        let inserted = self.store.with_conn(|c| {
            c.execute(
                "INSERT INTO api_key_versions (key_id, version, api_key, secret_ref, passphrase_ref, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![record.id, version, api_key, secret_ref, passphrase_ref, now.to_rfc3339()],
            )?;
            Ok(())
        });
        if let Err(e) = inserted {
            let _ = self.secrets.delete(&secret_ref);
            return Err(e.into());
        }
        tracing::info!(provider, label, version, "new key version stored");
        self.audit(AuditKind::KeyEdited, provider, label, serde_json::json!({"new_version": version}), now);
        self.versions(provider, label)?.into_iter().find(|v| v.version == version).ok_or(KeyError::NoSuchVersion {
            provider: provider.into(),
            label: label.into(),
            version,
        })
    }

    /// Records that `version` was verified against the exchange.
    pub fn mark_verified(&self, provider: &str, label: &str, version: u32, now: DateTime<Utc>) -> Result<(), KeyError> {
        let record = self.get(provider, label)?;
        self.store.with_conn(|c| {
            c.execute(
                "UPDATE api_key_versions SET verified_at = ?1 WHERE key_id = ?2 AND version = ?3",
                params![now.to_rfc3339(), record.id, version],
            )?;
            Ok(())
        })?;
        Ok(())
    }

    /// Rotation step 2: switches the key to `version` in one statement. Calls already signed
    /// with the old version finish with it; new calls use the new one. The rotation clock
    /// restarts.
    pub fn activate_version(
        &self,
        provider: &str,
        label: &str,
        version: u32,
        now: DateTime<Utc>,
    ) -> Result<KeyRecord, KeyError> {
        let record = self.get(provider, label)?;
        let (api_key, secret_ref, passphrase_ref, retired) = self.version_refs(&record, version)?;
        if retired {
            return Err(KeyError::Retired { label: record.label, version });
        }
        let rotate_by = now + chrono::Duration::days(record.rotation_days);
        self.store.with_conn(|c| {
            let tx = c.unchecked_transaction()?;
            tx.execute(
                "UPDATE api_keys SET active_version = ?1, api_key = ?2, secret_ref = ?3, passphrase_ref = ?4, rotate_by = ?5
                 WHERE id = ?6",
                params![version, api_key, secret_ref, passphrase_ref, rotate_by.to_rfc3339(), record.id],
            )?;
            tx.execute(
                "UPDATE api_key_versions SET activated_at = ?1 WHERE key_id = ?2 AND version = ?3",
                params![now.to_rfc3339(), record.id, version],
            )?;
            tx.commit()?;
            Ok(())
        })?;
        tracing::info!(provider, label, version, "key version activated");
        self.audit(
            AuditKind::KeyRotated,
            provider,
            label,
            serde_json::json!({"from_version": record.active_version, "to_version": version}),
            now,
        );
        self.get(provider, label)
    }

    /// Rotation step 3: deletes an old version's secret from the credential store; its
    /// metadata stays in the history.
    pub fn retire_version(
        &self,
        provider: &str,
        label: &str,
        version: u32,
        now: DateTime<Utc>,
    ) -> Result<KeyVersion, KeyError> {
        let record = self.get(provider, label)?;
        if version == record.active_version {
            return Err(KeyError::RetireActive { label: record.label, version });
        }
        let (_, secret_ref, passphrase_ref, retired) = self.version_refs(&record, version)?;
        if !retired {
            for account in std::iter::once(secret_ref).chain(passphrase_ref) {
                match self.secrets.delete(&account) {
                    Ok(()) | Err(VaultError::NotFound { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            self.store.with_conn(|c| {
                c.execute(
                    "UPDATE api_key_versions SET retired_at = ?1 WHERE key_id = ?2 AND version = ?3",
                    params![now.to_rfc3339(), record.id, version],
                )?;
                Ok(())
            })?;
            self.audit(AuditKind::KeyVersionRetired, provider, label, serde_json::json!({"version": version}), now);
        }
        self.versions(provider, label)?.into_iter().find(|v| v.version == version).ok_or(KeyError::NoSuchVersion {
            provider: provider.into(),
            label: label.into(),
            version,
        })
    }

    /// Stores the exchange's answer about what the key can do.
    pub fn store_permissions(&self, id: i64, p: &KeyPermissions, now: DateTime<Utc>) -> Result<(), KeyError> {
        let record = self.by_id(id)?;
        let risks: Vec<&str> = permissions::risks(p, record.scopes, now).iter().map(Risk::id).collect();
        self.audit(
            AuditKind::PermissionsChecked,
            &record.provider,
            &record.label,
            serde_json::json!({"read": p.read, "trade": p.trade, "withdraw": p.withdraw, "ip_restricted": p.ip_restricted, "risks": risks}),
            now,
        );
        let json = serde_json::to_string(p).map_err(|e| KeyError::Invalid {
            field: "permissions",
            value: String::new(),
            problem: e.to_string(),
        })?;
        self.store.with_conn(|c| {
            c.execute(
                "UPDATE api_keys SET permissions_json = ?1, permissions_checked_at = ?2 WHERE id = ?3",
                params![json, now.to_rfc3339(), id],
            )?;
            Ok(())
        })?;
        Ok(())
    }

    /// Sets the rotation period and recomputes the rotate-by date from the last activation.
    pub fn set_rotation_days(&self, provider: &str, label: &str, days: i64) -> Result<KeyRecord, KeyError> {
        if !(1..=3650).contains(&days) {
            return Err(KeyError::Invalid {
                field: "rotation_days",
                value: days.to_string(),
                problem: "must be 1 to 3650".into(),
            });
        }
        let record = self.get(provider, label)?;
        let since = self
            .versions(provider, label)?
            .into_iter()
            .find(|v| v.active)
            .and_then(|v| v.activated_at)
            .unwrap_or(record.created_at);
        let rotate_by = since + chrono::Duration::days(days);
        self.store.with_conn(|c| {
            c.execute(
                "UPDATE api_keys SET rotation_days = ?1, rotate_by = ?2 WHERE id = ?3",
                params![days, rotate_by.to_rfc3339(), record.id],
            )?;
            Ok(())
        })?;
        self.get(provider, label)
    }

    /// Counts a use for the audit log (aggregated per key per minute; no I/O).
    pub fn record_use(&self, caller: Actor, provider: &str, label: &str, now: DateTime<Utc>) {
        self.audit.record_use_by(caller, provider, label, now);
    }

    /// Marks a key as used now.
    pub fn touch(&self, id: i64, now: DateTime<Utc>) -> Result<(), KeyError> {
        self.store.with_conn(|c| {
            c.execute("UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2", params![now.to_rfc3339(), id])?;
            Ok(())
        })?;
        Ok(())
    }
}
