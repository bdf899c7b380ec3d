//! The audit key: an HMAC-SHA256 key kept in Keyward's secret store (the OS credential store or
//! the encrypted vault file, never the database) that seals each row's hash, so that whoever can
//! write the database alone cannot rewrite the log without `audit verify` naming the rows.
//!
//! The key is created on the first append after this feature shipped. Its record in the secret
//! store also holds `since`, the id of the first row sealed with it: rows from there on must
//! carry a valid seal (or be followed by one), and because the record lives outside the
//! database a forger cannot move that boundary. Rows before `since` are checked by the plain
//! hash chain, and the first sealed row vouches for them (its hash covers their chain).

use std::path::Path;
use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::vault::{SecretStore, VaultError};

type HmacSha256 = Hmac<Sha256>;

/// Domain tags, so a row seal can never stand in for an anchor seal or the other way round.
const ROW_DOMAIN: &[u8] = b"keyward-audit-seal-v1";
const ANCHOR_DOMAIN: &[u8] = b"keyward-audit-anchor-v1";

/// The key and the first row it sealed. `Debug` never shows the key.
#[derive(Clone)]
pub(crate) struct AuditKey {
    key: Zeroizing<[u8; 32]>,
    pub since: i64,
}

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditKey").field("since", &self.since).finish_non_exhaustive()
    }
}

impl AuditKey {
    pub fn generate(since: i64) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        Self { key, since }
    }

    fn mac(&self, domain: &[u8], parts: &[&[u8]]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(self.key.as_ref()).expect("HMAC takes any key length");
        mac.update(domain);
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }

    fn row_mac(&self, id: i64, hash: &str) -> HmacSha256 {
        self.mac(ROW_DOMAIN, &[id.to_string().as_bytes(), hash.as_bytes()])
    }

    fn anchor_mac(&self, last_id: i64, last_hash: &str, row_count: i64) -> HmacSha256 {
        self.mac(
            ANCHOR_DOMAIN,
            &[last_id.to_string().as_bytes(), last_hash.as_bytes(), row_count.to_string().as_bytes()],
        )
    }

    /// The seal of row `id` whose stored hash is `hash`.
    pub fn seal_row(&self, id: i64, hash: &str) -> String {
        hex::encode(self.row_mac(id, hash).finalize().into_bytes())
    }

    /// The seal of the anchor (last id, last hash, number of appends).
    pub fn seal_anchor(&self, last_id: i64, last_hash: &str, row_count: i64) -> String {
        hex::encode(self.anchor_mac(last_id, last_hash, row_count).finalize().into_bytes())
    }

    /// Whether `seal` is row `id`'s seal (compared in constant time).
    pub fn row_seal_ok(&self, id: i64, hash: &str, seal: &str) -> bool {
        hex::decode(seal).is_ok_and(|bytes| self.row_mac(id, hash).verify_slice(&bytes).is_ok())
    }

    /// Whether `seal` is the anchor's seal (compared in constant time).
    pub fn anchor_seal_ok(&self, last_id: i64, last_hash: &str, row_count: i64, seal: &str) -> bool {
        hex::decode(seal).is_ok_and(|bytes| self.anchor_mac(last_id, last_hash, row_count).verify_slice(&bytes).is_ok())
    }

    /// The record kept in the secret store: `{"v":1,"since":N,"key":"<hex>"}`.
    fn to_record(&self) -> SecretString {
        let hex_key = Zeroizing::new(hex::encode(self.key.as_ref()));
        SecretString::from(format!(r#"{{"v":1,"since":{},"key":"{}"}}"#, self.since, hex_key.as_str()))
    }

    fn from_record(record: &SecretString) -> Result<Self, String> {
        #[derive(serde::Deserialize)]
        struct Record {
            v: u32,
            since: i64,
            key: String,
        }
        let r: Record = serde_json::from_str(record.expose_secret())
            .map_err(|e| format!("the stored audit key record is not readable ({})", e.classify_name()))?;
        if r.v != 1 {
            return Err(format!("the stored audit key record has version {}, which this Keyward cannot read", r.v));
        }
        let hex_key = Zeroizing::new(r.key);
        let mut key = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(hex_key.as_bytes(), key.as_mut())
            .map_err(|_| "the stored audit key record holds a malformed key".to_string())?;
        Ok(Self { key, since: r.since })
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "i/o error",
            serde_json::error::Category::Syntax => "not JSON",
            serde_json::error::Category::Data => "wrong fields",
            serde_json::error::Category::Eof => "cut short",
        }
    }
}

/// The secret-store account of the audit key for the data directory at `data_dir`. Several data
/// directories may share one OS credential store, so the account names the directory (by a
/// hash of its canonical path, which no one can change by editing the database).
pub fn key_account(data_dir: &Path) -> String {
    let canonical = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let digest = Sha256::digest(canonical.to_string_lossy().as_bytes());
    format!("audit-key/{}", &hex::encode(digest)[..16])
}

/// What the store said about the key.
pub(crate) enum Lookup {
    Found(AuditKey),
    /// No key yet: the next append creates one.
    Absent,
    /// The store could not be read (locked vault file, no credential store): one sentence why.
    Unavailable(String),
}

/// Loads, caches and creates the audit key.
pub(crate) struct Sealer {
    secrets: Arc<dyn SecretStore>,
    account: String,
    cached: Mutex<Option<AuditKey>>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").field("account", &self.account).finish_non_exhaustive()
    }
}

impl Sealer {
    pub fn new(secrets: Arc<dyn SecretStore>, account: String) -> Self {
        Self { secrets, account, cached: Mutex::new(None) }
    }

    pub fn backend_name(&self) -> String {
        self.secrets.backend_info().name
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, Option<AuditKey>> {
        self.cached.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The key, from memory once it has been read (a locked vault file keeps sealing), else from
    /// the store. Blocking: a credential-store round trip the first time.
    pub fn lookup(&self) -> Lookup {
        if let Some(key) = self.cached().clone() {
            return Lookup::Found(key);
        }
        match self.secrets.get(&self.account) {
            Ok(record) => match AuditKey::from_record(&record) {
                Ok(key) => {
                    *self.cached() = Some(key.clone());
                    Lookup::Found(key)
                }
                Err(problem) => Lookup::Unavailable(problem),
            },
            Err(VaultError::NotFound { .. }) => Lookup::Absent,
            Err(e) => Lookup::Unavailable(e.to_string()),
        }
    }

    /// Stores a new key whose first sealed row is `since`. Called inside the append's write
    /// transaction, so two processes never create two keys for one log.
    pub fn create(&self, since: i64) -> Result<AuditKey, VaultError> {
        let key = AuditKey::generate(since);
        self.secrets.put(&self.account, &key.to_record())?;
        *self.cached() = Some(key.clone());
        Ok(key)
    }

    /// Deletes the key of a log that no longer exists (see [`super::Audit::discard_stale_key`]).
    pub fn discard(&self) {
        *self.cached() = None;
        match self.secrets.delete(&self.account) {
            Ok(()) => tracing::info!(account = %self.account, "removed the audit key of an earlier log at this path"),
            Err(VaultError::NotFound { .. }) => {}
            Err(e) => tracing::debug!(error = %e, "could not check for an earlier audit key"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_round_trips_and_debug_hides_the_key() {
        let key = AuditKey::generate(42);
        let back = AuditKey::from_record(&key.to_record()).expect("record");
        assert_eq!(back.since, 42);
        assert_eq!(back.seal_row(3, "ab"), key.seal_row(3, "ab"));
        let shown = format!("{key:?}");
        assert!(!shown.contains(&hex::encode(key.key.as_ref())), "{shown}");
    }

    #[test]
    fn seals_depend_on_the_key_the_id_and_the_hash_and_domains_differ() {
        let (a, b) = (AuditKey::generate(1), AuditKey::generate(1));
        let seal = a.seal_row(5, "h");
        assert!(a.row_seal_ok(5, "h", &seal));
        assert!(!b.row_seal_ok(5, "h", &seal));
        assert!(!a.row_seal_ok(6, "h", &seal));
        assert!(!a.row_seal_ok(5, "g", &seal));
        assert!(!a.row_seal_ok(5, "h", "not hex"));
        assert_ne!(a.seal_anchor(5, "h", 5), seal);
    }

    #[test]
    fn a_damaged_record_is_reported_without_its_content() {
        let err = AuditKey::from_record(&SecretString::from("{\"v\":1,\"since\":1,\"key\":\"zz-secret\"}".to_string()))
            .expect_err("malformed");
        assert!(!err.contains("zz-secret"), "{err}");
    }
}
