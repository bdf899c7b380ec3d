//! API keys: metadata in SQLite, secret material only in the [`SecretStore`].
//!
//! A key belongs to one provider and environment, has a label unique per provider, and
//! declares scopes (read, trade, withdraw). The pipeline refuses an operation whose class is
//! outside the key's scopes before anything is sent.

mod scopes;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Row};
use secrecy::{ExposeSecret, SecretString};

use crate::signing::Credentials;
use crate::store::{Store, StoreError};
use crate::vault::{SecretStore, VaultError};

pub use scopes::{Scope, Scopes};

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
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(#[from] StoreError),
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
}

impl KeyRecord {
    /// The public key masked to its last 4 characters (`••••Bx9Q`).
    pub fn masked_api_key(&self) -> String {
        mask(&self.api_key)
    }

    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|t| t <= now)
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

/// The key store. Cheap to clone.
#[derive(Clone)]
pub struct Keys {
    store: Store,
    secrets: Arc<dyn SecretStore>,
}

const COLUMNS: &str = "id, provider, label, environment, api_key, scopes, passphrase_ref, notes, created_at, last_used_at, expires_at, rotate_by";

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
    })
}

fn secret_account(id: i64) -> String {
    format!("key-{id}/secret")
}

fn passphrase_account(id: i64) -> String {
    format!("key-{id}/passphrase")
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
    pub fn new(store: Store, secrets: Arc<dyn SecretStore>) -> Self {
        Self { store, secrets }
    }

    /// Stores the secret in the vault and the metadata in the database, both or neither.
    pub fn add(&self, key: NewKey, now: DateTime<Utc>) -> Result<KeyRecord, KeyError> {
        check_label(&key.label)?;
        if key.api_key.trim().is_empty() {
            return Err(KeyError::Invalid { field: "api_key", value: String::new(), problem: "must not be empty".into() });
        }
        if key.secret.expose_secret().is_empty() {
            return Err(KeyError::Invalid { field: "secret", value: "(empty)".into(), problem: "must not be empty".into() });
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
            let passphrase_ref = key.passphrase.as_ref().map(|_| passphrase_account(id));
            tx.execute(
                "UPDATE api_keys SET secret_ref = ?1, passphrase_ref = ?2 WHERE id = ?3",
                params![secret_account(id), passphrase_ref, id],
            )?;
            // Vault writes happen inside the transaction: if one fails, the row is rolled back.
            let vault = (|| {
                secrets.put(&secret_account(id), &key.secret)?;
                if let Some(p) = &key.passphrase {
                    secrets.put(&passphrase_account(id), p)?;
                }
                Ok::<_, VaultError>(())
            })();
            if let Err(e) = vault {
                let _ = secrets.delete(&secret_account(id));
                return Ok(Err(e));
            }
            tx.commit()?;
            Ok(Ok(id))
        })??;
        tracing::info!(provider = %key.provider, label = %key.label, id, "key added");
        self.by_id(id)
    }

    fn by_id(&self, id: i64) -> Result<KeyRecord, KeyError> {
        Ok(self.store.with_conn(|c| Ok(c.query_row(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"), [id], from_row)?))?)
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
        for account in [secret_account(record.id), passphrase_account(record.id)] {
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
        let secret = self.secrets.get(&secret_account(record.id))?;
        let passphrase =
            if record.has_passphrase { Some(self.secrets.get(&passphrase_account(record.id))?) } else { None };
        let credentials = Credentials { api_key: record.api_key.clone(), secret, passphrase };
        Ok(ResolvedKey { record, credentials })
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
