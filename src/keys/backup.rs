//! Encrypted key backups: every key's metadata and secrets in one file protected by a
//! passphrase. The file is an encrypted vault file (Argon2id + XChaCha20-Poly1305, see
//! `vault::file`), so a backup is exactly as strong as the vault fallback.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::{KeyError, KeyRecord, Keys, NewKey};
use crate::audit::{AuditEvent, AuditKind};
use crate::clock::SystemClock;
use crate::vault::{EncryptedFileStore, KdfParams, SecretStore, VaultError};

const MANIFEST: &str = "manifest";
const FORMAT: &str = "keyward-key-backup-1";

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: String,
    created_at: DateTime<Utc>,
    keys: Vec<Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    provider: String,
    label: String,
    environment: String,
    api_key: String,
    scopes: String,
    notes: String,
    expires_at: Option<DateTime<Utc>>,
    has_passphrase: bool,
}

fn secret_account(i: usize) -> String {
    format!("key-{i}/secret")
}

fn passphrase_account(i: usize) -> String {
    format!("key-{i}/passphrase")
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub imported: Vec<KeyRecord>,
    /// Keys that already existed (provider/label), left as they were.
    pub skipped: Vec<String>,
}

impl Keys {
    /// Writes every key (active secrets and metadata) to a new encrypted backup at `path`.
    pub fn export_backup(&self, path: &Path, passphrase: &SecretString, kdf: KdfParams) -> Result<usize, KeyError> {
        use secrecy::ExposeSecret;
        let chars = passphrase.expose_secret().chars().count();
        if chars < crate::vault::MIN_PASSPHRASE_CHARS {
            return Err(KeyError::BackupPassphrase {
                problem: format!(
                    "needs at least {} characters (this one has {chars})",
                    crate::vault::MIN_PASSPHRASE_CHARS
                ),
            });
        }
        if path.exists() {
            return Err(KeyError::Invalid {
                field: "backup file",
                value: path.display().to_string(),
                problem: "already exists; choose a new file name".into(),
            });
        }
        let keys = self.list(None)?;
        let file = EncryptedFileStore::create(path, passphrase, kdf, Arc::new(SystemClock))?;
        file.unlock(passphrase, Duration::from_secs(300))?;
        let mut entries = Vec::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            let resolved = self.resolve(&k.provider, Some(&k.label), &k.environment, Utc::now());
            let creds = match resolved {
                Ok(r) => r.credentials,
                // An expired key is backed up too: read its secret directly.
                Err(KeyError::Expired { .. }) => {
                    self.resolve_version(&k.provider, Some(&k.label), &k.environment, None, DateTime::<Utc>::MIN_UTC)?
                        .credentials
                }
                Err(e) => return Err(e),
            };
            file.put(&secret_account(i), &creds.secret)?;
            if let Some(p) = &creds.passphrase {
                file.put(&passphrase_account(i), p)?;
            }
            entries.push(Entry {
                provider: k.provider.clone(),
                label: k.label.clone(),
                environment: k.environment.clone(),
                api_key: k.api_key.clone(),
                scopes: k.scopes.to_string(),
                notes: k.notes.clone(),
                expires_at: k.expires_at,
                has_passphrase: creds.passphrase.is_some(),
            });
        }
        let manifest = Manifest { format: FORMAT.into(), created_at: Utc::now(), keys: entries };
        let text = serde_json::to_string(&manifest).map_err(|e| KeyError::Invalid {
            field: "backup",
            value: String::new(),
            problem: e.to_string(),
        })?;
        file.put(MANIFEST, &SecretString::from(text))?;
        file.lock();
        let event = AuditEvent::new(self.actor, AuditKind::BackupExported)
            .detail(serde_json::json!({"keys": keys.len(), "file": path.display().to_string()}));
        if let Err(e) = self.audit.append(event, Utc::now()) {
            tracing::error!(error = %e, "could not write the audit log");
        }
        Ok(keys.len())
    }

    /// Adds every key of a backup that does not exist yet (same provider and label).
    pub fn import_backup(&self, path: &Path, passphrase: &SecretString) -> Result<ImportReport, KeyError> {
        use secrecy::ExposeSecret;
        if !path.is_file() {
            return Err(KeyError::Invalid {
                field: "backup file",
                value: path.display().to_string(),
                problem: "does not exist".into(),
            });
        }
        if passphrase.expose_secret().is_empty() {
            return Err(KeyError::BackupPassphrase {
                problem: "enter the passphrase the backup was written with".into(),
            });
        }
        let file = EncryptedFileStore::open(path, Arc::new(SystemClock));
        file.unlock(passphrase, Duration::from_secs(300)).map_err(|e| match e {
            VaultError::WrongPassphrase { .. } => KeyError::WrongBackupPassphrase { path: path.to_path_buf() },
            other => other.into(),
        })?;
        let manifest: Manifest = serde_json::from_str(file.get(MANIFEST)?.expose_secret()).map_err(|e| {
            KeyError::Vault(VaultError::File {
                path: path.to_path_buf(),
                problem: format!("not a Keyward key backup ({e})"),
            })
        })?;
        if manifest.format != FORMAT {
            return Err(KeyError::Invalid {
                field: "backup format",
                value: manifest.format,
                problem: format!("this Keyward reads {FORMAT}"),
            });
        }
        let mut report = ImportReport::default();
        for (i, e) in manifest.keys.into_iter().enumerate() {
            if self.get(&e.provider, &e.label).is_ok() {
                report.skipped.push(format!("{}/{}", e.provider, e.label));
                continue;
            }
            let passphrase = if e.has_passphrase { Some(file.get(&passphrase_account(i))?) } else { None };
            let record = self.add(
                NewKey {
                    provider: e.provider,
                    label: e.label,
                    environment: e.environment,
                    api_key: e.api_key,
                    secret: file.get(&secret_account(i))?,
                    passphrase,
                    scopes: e.scopes.parse()?,
                    notes: e.notes,
                    expires_at: e.expires_at,
                },
                Utc::now(),
            )?;
            report.imported.push(record);
        }
        file.lock();
        let event = AuditEvent::new(self.actor, AuditKind::BackupImported).detail(serde_json::json!({
            "imported": report.imported.len(), "skipped": report.skipped.len(), "file": path.display().to_string(),
        }));
        if let Err(e) = self.audit.append(event, Utc::now()) {
            tracing::error!(error = %e, "could not write the audit log");
        }
        Ok(report)
    }
}
