//! The encrypted vault file: where secrets live when no OS credential store is reachable (a
//! headless server, a missing or locked Secret Service).
//!
//! # File format (`vault.kwv`, JSON, format version 1)
//!
//! ```json
//! {
//!   "format": "keyward-vault",
//!   "version": 1,
//!   "kdf": { "algorithm": "argon2id", "version": 19, "memory_kib": 65536, "iterations": 3,
//!            "parallelism": 1, "salt": "<base64, 16 random bytes, new on every passphrase change>" },
//!   "cipher": "xchacha20poly1305",
//!   "verifier": { "nonce": "<base64, 24 bytes>", "ciphertext": "<base64>" },
//!   "entries": { "<hex HMAC-SHA256(id key, account)>": { "nonce": "…", "ciphertext": "…" } }
//! }
//! ```
//!
//! - Argon2id turns the passphrase and the file's salt into 64 bytes: the first 32 are the
//!   XChaCha20-Poly1305 key, the last 32 the HMAC key that names entries.
//! - Account names are **not** stored in clear: an entry is filed under the HMAC of its
//!   account name, and its plaintext is `u16 BE account length ‖ account ‖ secret (UTF-8)`.
//!   So the file does not tell a reader which exchanges the user has keys for.
//! - Every seal uses a fresh random 24-byte nonce. The associated data binds each ciphertext to
//!   its place (`keyward-vault/v1/entry/<id>` or `keyward-vault/v1/verifier`), so entries cannot
//!   be swapped between accounts unnoticed.
//! - The verifier is a known plaintext sealed under the key: unlocking decrypts only it, so a
//!   wrong passphrase is rejected without writing anything.
//!
//! # Lifecycle
//!
//! The store is locked when built. [`EncryptedFileStore::unlock`] derives the key and keeps it
//! in memory until a deadline read from the injected [`Clock`]; every access checks the
//! deadline and wipes the key once it has passed. [`EncryptedFileStore::lock`] wipes it at once.
//! The key material is zeroized when dropped; Argon2's working memory is wiped after each
//! derivation.
//!
//! Every write re-reads the file, changes it in memory and replaces it atomically (temporary
//! file in the same folder, fsync, rename), so a failed write leaves the previous file intact.
//! Within one process writes are serialised; two processes writing at the same moment can
//! lose one of the two updates (the gateway model makes the running Keyward the only writer).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

use super::{BackendInfo, BackendKind, SecretStore, VaultError};
use crate::clock::Clock;

/// File name of the vault inside the data directory.
pub const VAULT_FILE_NAME: &str = "vault.kwv";

/// The environment variable headless front ends read the vault passphrase from.
pub const PASSPHRASE_ENV: &str = "KEYWARD_VAULT_PASSPHRASE";

/// The shortest passphrase accepted for a new vault or a passphrase change.
pub const MIN_PASSPHRASE_CHARS: usize = 8;

/// The longest passphrase read from a reader or the environment, in bytes.
pub const MAX_PASSPHRASE_BYTES: usize = 1024;

const FORMAT: &str = "keyward-vault";
const FORMAT_VERSION: u32 = 1;
const CIPHER: &str = "xchacha20poly1305";
const KDF_ALGORITHM: &str = "argon2id";
/// Argon2 version 0x13.
const KDF_VERSION: u32 = 19;
const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;
const VERIFIER_PLAINTEXT: &[u8] = b"keyward vault verifier v1";
const VERIFIER_AAD: &[u8] = b"keyward-vault/v1/verifier";
const ENTRY_AAD_PREFIX: &[u8] = b"keyward-vault/v1/entry/";

/// Upper bounds for parameters read from a file, so a crafted file cannot make unlocking
/// allocate gigabytes or spin for minutes.
const MAX_MEMORY_KIB: u32 = 1024 * 1024;
const MAX_ITERATIONS: u32 = 64;
const MAX_PARALLELISM: u32 = 16;

/// Argon2id cost parameters. Stored in the file, so a vault keeps opening with the parameters
/// it was written with; new vaults and passphrase changes use the store's configured ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl KdfParams {
    /// 64 MiB, 3 passes, 1 lane: about a second on a laptop in a release build.
    pub const RECOMMENDED: KdfParams = KdfParams { memory_kib: 64 * 1024, iterations: 3, parallelism: 1 };

    /// The smallest parameters Argon2 accepts. Only for tests: a vault made with them falls to
    /// a guessing attack quickly.
    pub const INSECURE_FAST: KdfParams = KdfParams { memory_kib: 8, iterations: 1, parallelism: 1 };

    fn check(self) -> Result<argon2::Params, String> {
        if self.memory_kib > MAX_MEMORY_KIB || self.iterations > MAX_ITERATIONS || self.parallelism > MAX_PARALLELISM {
            return Err(format!(
                "Argon2 parameters m={} KiB, t={}, p={} are beyond the limits this Keyward accepts (m ≤ {MAX_MEMORY_KIB}, t ≤ {MAX_ITERATIONS}, p ≤ {MAX_PARALLELISM})",
                self.memory_kib, self.iterations, self.parallelism
            ));
        }
        argon2::Params::new(self.memory_kib, self.iterations, self.parallelism, Some(2 * KEY_LEN)).map_err(|e| {
            format!(
                "Argon2 parameters m={} KiB, t={}, p={} are invalid: {e}",
                self.memory_kib, self.iterations, self.parallelism
            )
        })
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        Self::RECOMMENDED
    }
}

// ---------------------------------------------------------------------------------------------
// On-disk envelope
// ---------------------------------------------------------------------------------------------

#[derive(Serialize, Deserialize)]
struct Envelope {
    format: String,
    version: u32,
    kdf: KdfSection,
    cipher: String,
    verifier: Sealed,
    entries: BTreeMap<String, Sealed>,
}

#[derive(Serialize, Deserialize, Clone, PartialEq, Eq)]
struct KdfSection {
    algorithm: String,
    version: u32,
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
    salt: String,
}

#[derive(Serialize, Deserialize, Clone)]
struct Sealed {
    nonce: String,
    ciphertext: String,
}

impl KdfSection {
    fn new(params: KdfParams, salt: &[u8]) -> Self {
        Self {
            algorithm: KDF_ALGORITHM.to_string(),
            version: KDF_VERSION,
            memory_kib: params.memory_kib,
            iterations: params.iterations,
            parallelism: params.parallelism,
            salt: B64.encode(salt),
        }
    }

    fn params(&self) -> KdfParams {
        KdfParams { memory_kib: self.memory_kib, iterations: self.iterations, parallelism: self.parallelism }
    }
}

/// Parses and sanity-checks a vault file's bytes. The error is a phrase that follows
/// "the vault file <path> ".
fn parse_envelope(bytes: &[u8]) -> Result<(Envelope, Vec<u8>), String> {
    let damaged = |what: String| format!("is damaged or is not a Keyward vault ({what}); restore it from a backup");
    if bytes.is_empty() {
        return Err(damaged("it is empty".to_string()));
    }
    let env: Envelope =
        serde_json::from_slice(bytes).map_err(|e| damaged(format!("not a complete vault document: {e}")))?;
    if env.format != FORMAT {
        return Err(damaged(format!("format is \"{}\", expected \"{FORMAT}\"", env.format)));
    }
    if env.version > FORMAT_VERSION {
        return Err(format!(
            "has format version {}, but this Keyward reads only up to version {FORMAT_VERSION}; upgrade Keyward",
            env.version
        ));
    }
    if env.cipher != CIPHER {
        return Err(damaged(format!("cipher is \"{}\", expected \"{CIPHER}\"", env.cipher)));
    }
    if env.kdf.algorithm != KDF_ALGORITHM || env.kdf.version != KDF_VERSION {
        return Err(damaged(format!(
            "key derivation is \"{}\" version {}, expected \"{KDF_ALGORITHM}\" version {KDF_VERSION}",
            env.kdf.algorithm, env.kdf.version
        )));
    }
    env.kdf.params().check().map_err(damaged)?;
    let salt = B64.decode(&env.kdf.salt).map_err(|e| damaged(format!("salt is not base64: {e}")))?;
    if salt.len() < SALT_LEN {
        return Err(damaged(format!("salt is {} bytes, expected at least {SALT_LEN}", salt.len())));
    }
    Ok((env, salt))
}

// ---------------------------------------------------------------------------------------------
// Keys and sealing
// ---------------------------------------------------------------------------------------------

/// The keys derived from the passphrase. Wiped when dropped; never printed.
struct VaultKeys {
    enc: Zeroizing<[u8; KEY_LEN]>,
    id: Zeroizing<[u8; KEY_LEN]>,
    /// What the keys were derived with, to notice a passphrase change by another process.
    kdf: KdfSection,
}

impl std::fmt::Debug for VaultKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VaultKeys([redacted])")
    }
}

fn derive_keys(passphrase: &SecretString, salt: &[u8], params: KdfParams) -> Result<VaultKeys, String> {
    let argon_params = params.check()?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, argon_params.clone());
    let mut out = Zeroizing::new([0u8; 2 * KEY_LEN]);
    let mut blocks = vec![argon2::Block::default(); argon_params.block_count()];
    let result =
        argon.hash_password_into_with_memory(passphrase.expose_secret().as_bytes(), salt, &mut out[..], &mut blocks);
    // The working memory holds values derived from the passphrase: wipe it before freeing it.
    for block in &mut blocks {
        AsMut::<[u64]>::as_mut(block).zeroize();
    }
    result.map_err(|e| format!("key derivation failed: {e}"))?;
    let mut enc = Zeroizing::new([0u8; KEY_LEN]);
    let mut id = Zeroizing::new([0u8; KEY_LEN]);
    enc.copy_from_slice(&out[..KEY_LEN]);
    id.copy_from_slice(&out[KEY_LEN..]);
    Ok(VaultKeys { enc, id, kdf: KdfSection::new(params, salt) })
}

impl VaultKeys {
    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(Key::from_slice(&self.enc[..]))
    }

    fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Sealed, String> {
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher()
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad })
            .map_err(|_| "encryption failed".to_string())?;
        Ok(Sealed { nonce: B64.encode(nonce), ciphertext: B64.encode(ciphertext) })
    }

    /// `None` when the ciphertext does not authenticate under this key (wrong passphrase,
    /// damaged or moved entry); `Err` when the stored fields are not even well formed.
    fn open(&self, aad: &[u8], sealed: &Sealed) -> Result<Option<Zeroizing<Vec<u8>>>, String> {
        let nonce = B64.decode(&sealed.nonce).map_err(|e| format!("a nonce is not base64: {e}"))?;
        if nonce.len() != NONCE_LEN {
            return Err(format!("a nonce is {} bytes, expected {NONCE_LEN}", nonce.len()));
        }
        let ciphertext = B64.decode(&sealed.ciphertext).map_err(|e| format!("a ciphertext is not base64: {e}"))?;
        Ok(self
            .cipher()
            .decrypt(XNonce::from_slice(&nonce), Payload { msg: &ciphertext, aad })
            .ok()
            .map(Zeroizing::new))
    }

    fn entry_id(&self, account: &str) -> Result<String, String> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.id[..]).map_err(|e| format!("entry naming failed: {e}"))?;
        mac.update(account.as_bytes());
        Ok(hex::encode(mac.finalize().into_bytes()))
    }

    fn verifies(&self, env: &Envelope) -> Result<bool, String> {
        Ok(self.open(VERIFIER_AAD, &env.verifier)?.is_some_and(|p| p.as_slice() == VERIFIER_PLAINTEXT))
    }
}

fn entry_aad(id: &str) -> Vec<u8> {
    let mut aad = ENTRY_AAD_PREFIX.to_vec();
    aad.extend_from_slice(id.as_bytes());
    aad
}

fn encode_entry(account: &str, secret: &SecretString) -> Result<Zeroizing<Vec<u8>>, String> {
    let len = u16::try_from(account.len())
        .map_err(|_| format!("account name is {} bytes, at most 65535 fit", account.len()))?;
    let secret = secret.expose_secret().as_bytes();
    let mut buf = Zeroizing::new(Vec::with_capacity(2 + account.len() + secret.len()));
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(account.as_bytes());
    buf.extend_from_slice(secret);
    Ok(buf)
}

/// Splits an entry's plaintext into (account, secret).
fn decode_entry(plain: &[u8]) -> Option<(&str, &str)> {
    let (len, rest) = plain.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_be_bytes(*len));
    if rest.len() < len {
        return None;
    }
    let (account, secret) = rest.split_at(len);
    Some((std::str::from_utf8(account).ok()?, std::str::from_utf8(secret).ok()?))
}

fn random_salt() -> [u8; SALT_LEN] {
    let mut salt = [0u8; SALT_LEN];
    OsRng.fill_bytes(&mut salt);
    salt
}

fn check_new_passphrase(passphrase: &SecretString) -> Result<(), VaultError> {
    let chars = passphrase.expose_secret().chars().count();
    if chars < MIN_PASSPHRASE_CHARS {
        return Err(VaultError::Passphrase {
            problem: format!(
                "a new vault passphrase needs at least {MIN_PASSPHRASE_CHARS} characters (this one has {chars})"
            ),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Atomic writes
// ---------------------------------------------------------------------------------------------

/// Writes `bytes` to `path` atomically, readable by the user only (also the control file).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic(path, bytes, |_| Ok(()))
}

/// Writes `bytes` to `path` through a temporary file in the same folder: write, fsync, rename
/// over the old file, fsync the folder. On any failure the temporary file is removed and the
/// old file is untouched. `before_rename` lets tests inject a failure at the last moment.
fn write_atomic(path: &Path, bytes: &[u8], before_rename: impl FnOnce(&Path) -> io::Result<()>) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name =
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| VAULT_FILE_NAME.to_string());
    let mut tag = [0u8; 8];
    OsRng.fill_bytes(&mut tag);
    let tmp = dir.join(format!(".{name}.{}.tmp", hex::encode(tag)));

    let result = (|| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        before_rename(&tmp)?;
        fs::rename(&tmp, path)?;
        #[cfg(unix)]
        {
            // Make the rename itself durable. Best effort: some filesystems refuse to fsync a
            // directory, and the data is already safe in either the old or the new file.
            if let Ok(d) = fs::File::open(&dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

// ---------------------------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------------------------

struct Unlocked {
    keys: VaultKeys,
    until: DateTime<Utc>,
}

/// Secrets in one passphrase-protected file. Internally synchronised; every call may block
/// (file I/O, and Argon2 for unlock and passphrase changes), so async callers use
/// `spawn_blocking`.
pub struct EncryptedFileStore {
    path: PathBuf,
    clock: Arc<dyn Clock>,
    kdf: KdfParams,
    state: Mutex<Option<Unlocked>>,
}

impl std::fmt::Debug for EncryptedFileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.unlocked_until() {
            Some(until) => format!("unlocked until {}", until.to_rfc3339()),
            None => "locked".to_string(),
        };
        f.debug_struct("EncryptedFileStore")
            .field("path", &self.path)
            .field("kdf", &self.kdf)
            .field("state", &state)
            .finish()
    }
}

impl EncryptedFileStore {
    /// A locked handle on the vault file at `path`. Touches nothing on disk: the file may not
    /// exist yet (see [`EncryptedFileStore::init`]).
    pub fn open(path: impl Into<PathBuf>, clock: Arc<dyn Clock>) -> Self {
        Self { path: path.into(), clock, kdf: KdfParams::RECOMMENDED, state: Mutex::new(None) }
    }

    /// The Argon2id parameters used for a new vault and when the passphrase changes (tests pass
    /// [`KdfParams::INSECURE_FAST`]). Existing files keep opening with their own parameters.
    pub fn with_kdf_params(mut self, params: KdfParams) -> Self {
        self.kdf = params;
        self
    }

    /// Creates a new vault file at `path` and returns a locked handle on it. Fails if a file
    /// is already there.
    pub fn create(
        path: impl Into<PathBuf>,
        passphrase: &SecretString,
        params: KdfParams,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, VaultError> {
        let store = Self::open(path, clock).with_kdf_params(params);
        store.init(passphrase)?;
        Ok(store)
    }

    /// Writes a new, empty vault protected by `passphrase` (at least
    /// [`MIN_PASSPHRASE_CHARS`] characters). Refuses to overwrite an existing file. The store
    /// stays locked.
    pub fn init(&self, passphrase: &SecretString) -> Result<(), VaultError> {
        check_new_passphrase(passphrase)?;
        let _guard = self.state();
        if self.path.exists() {
            return Err(self.file_error(
                "already exists; unlock it with `keyward vault unlock`, or move it away to start a new vault"
                    .to_string(),
            ));
        }
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)
                .map_err(|e| self.file_error(format!("could not be created: its folder could not be made: {e}")))?;
        }
        let salt = random_salt();
        let keys = derive_keys(passphrase, &salt, self.kdf)
            .map_err(|p| self.file_error(format!("could not be created: {p}")))?;
        let env = Envelope {
            format: FORMAT.to_string(),
            version: FORMAT_VERSION,
            kdf: keys.kdf.clone(),
            cipher: CIPHER.to_string(),
            verifier: keys.seal(VERIFIER_AAD, VERIFIER_PLAINTEXT).map_err(|p| self.file_error(p))?,
            entries: BTreeMap::new(),
        };
        self.write_envelope(&env)?;
        tracing::info!(path = %self.path.display(), "created encrypted vault file");
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the vault file exists.
    pub fn exists(&self) -> bool {
        self.path.is_file()
    }

    /// Checks `passphrase` and keeps the derived key in memory for `duration`. Returns the
    /// moment the vault locks itself again. A wrong passphrase is
    /// [`VaultError::WrongPassphrase`] and leaves the file and the lock state as they were.
    pub fn unlock(&self, passphrase: &SecretString, duration: Duration) -> Result<DateTime<Utc>, VaultError> {
        let (env, salt) = self.read_envelope()?;
        // Argon2 takes a while: derive without holding the state lock.
        let keys = derive_keys(passphrase, &salt, env.kdf.params())
            .map_err(|p| self.file_error(format!("could not be unlocked: {p}")))?;
        if !keys.verifies(&env).map_err(|p| self.damaged(&p))? {
            tracing::warn!(path = %self.path.display(), "vault unlock refused: wrong passphrase");
            return Err(VaultError::WrongPassphrase { backend: self.backend_name() });
        }
        let now = self.clock.now();
        let until = chrono::Duration::from_std(duration)
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        *self.state() = Some(Unlocked { keys, until });
        tracing::info!(path = %self.path.display(), until = %until.to_rfc3339(), "vault unlocked");
        Ok(until)
    }

    /// Forgets the derived key (wiping it) now.
    pub fn lock(&self) {
        let was_unlocked = self.state().take().is_some();
        if was_unlocked {
            tracing::info!(path = %self.path.display(), "vault locked");
        }
    }

    pub fn is_unlocked(&self) -> bool {
        self.unlocked_until().is_some()
    }

    /// When the vault locks itself again, or `None` if it is locked. Wipes the key if the
    /// deadline has passed.
    pub fn unlocked_until(&self) -> Option<DateTime<Utc>> {
        let mut state = self.state();
        self.expire(&mut state);
        state.as_ref().map(|u| u.until)
    }

    /// Re-encrypts every entry under a key derived from `new` with a fresh salt (and the
    /// store's current Argon2 parameters). Works whether or not the vault is unlocked; an
    /// unlocked vault stays unlocked until the same moment, under the new key.
    pub fn change_passphrase(&self, old: &SecretString, new: &SecretString) -> Result<(), VaultError> {
        check_new_passphrase(new)?;
        let mut state = self.state();
        let (env, salt) = self.read_envelope()?;
        let old_keys = derive_keys(old, &salt, env.kdf.params())
            .map_err(|p| self.file_error(format!("could not be unlocked: {p}")))?;
        if !old_keys.verifies(&env).map_err(|p| self.damaged(&p))? {
            tracing::warn!(path = %self.path.display(), "vault passphrase change refused: wrong passphrase");
            return Err(VaultError::WrongPassphrase { backend: self.backend_name() });
        }
        let new_salt = random_salt();
        let new_keys = derive_keys(new, &new_salt, self.kdf)
            .map_err(|p| self.file_error(format!("could not be re-keyed: {p}")))?;
        let mut entries = BTreeMap::new();
        for (id, sealed) in &env.entries {
            let plain = old_keys
                .open(&entry_aad(id), sealed)
                .map_err(|p| self.damaged(&p))?
                .ok_or_else(|| self.damaged("an entry does not authenticate"))?;
            let (account, _) = decode_entry(&plain).ok_or_else(|| self.damaged("an entry is malformed"))?;
            let new_id = new_keys.entry_id(account).map_err(|p| self.file_error(p))?;
            let sealed = new_keys.seal(&entry_aad(&new_id), &plain).map_err(|p| self.file_error(p))?;
            entries.insert(new_id, sealed);
        }
        let new_env = Envelope {
            format: FORMAT.to_string(),
            version: FORMAT_VERSION,
            kdf: new_keys.kdf.clone(),
            cipher: CIPHER.to_string(),
            verifier: new_keys.seal(VERIFIER_AAD, VERIFIER_PLAINTEXT).map_err(|p| self.file_error(p))?,
            entries,
        };
        self.write_envelope(&new_env)?;
        self.expire(&mut state);
        if let Some(unlocked) = state.as_mut() {
            unlocked.keys = new_keys;
        }
        tracing::info!(path = %self.path.display(), "vault passphrase changed");
        Ok(())
    }

    /// The account names stored in the vault, sorted (requires the vault to be unlocked).
    /// For backups and status pages; the secrets are not returned.
    pub fn accounts(&self) -> Result<Vec<String>, VaultError> {
        let state = self.unlocked_state()?;
        let keys = self.keys(&state)?;
        let (env, _) = self.read_current(keys)?;
        let mut names = Vec::with_capacity(env.entries.len());
        for (id, sealed) in &env.entries {
            let plain = keys
                .open(&entry_aad(id), sealed)
                .map_err(|p| self.damaged(&p))?
                .ok_or_else(|| self.damaged("an entry does not authenticate"))?;
            let (account, _) = decode_entry(&plain).ok_or_else(|| self.damaged("an entry is malformed"))?;
            names.push(account.to_string());
        }
        names.sort();
        Ok(names)
    }

    // -- internals --------------------------------------------------------------------------

    fn state(&self) -> MutexGuard<'_, Option<Unlocked>> {
        // Nothing in the state can be left half-updated by a panic, so poisoning is ignored.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn expire(&self, state: &mut Option<Unlocked>) {
        if state.as_ref().is_some_and(|u| self.clock.now() >= u.until) {
            *state = None;
            tracing::info!(path = %self.path.display(), "vault locked itself: the unlock period ended");
        }
    }

    /// The state, checked to be unlocked and unexpired.
    fn unlocked_state(&self) -> Result<MutexGuard<'_, Option<Unlocked>>, VaultError> {
        let mut state = self.state();
        self.expire(&mut state);
        if state.is_none() {
            return Err(self.locked());
        }
        Ok(state)
    }

    fn keys<'a>(&self, state: &'a Option<Unlocked>) -> Result<&'a VaultKeys, VaultError> {
        state.as_ref().map(|u| &u.keys).ok_or_else(|| self.locked())
    }

    /// Reads the file and checks it is still the one our keys belong to.
    fn read_current(&self, keys: &VaultKeys) -> Result<(Envelope, Vec<u8>), VaultError> {
        let (env, salt) = self.read_envelope()?;
        if env.kdf != keys.kdf {
            // Another process changed the passphrase (or replaced the file): our key is stale.
            tracing::warn!(path = %self.path.display(), "the vault file was re-keyed elsewhere; unlock it again");
            return Err(self.locked());
        }
        Ok((env, salt))
    }

    /// Like `read_current`, but a stale key also locks the store.
    fn read_current_or_lock(&self, state: &mut Option<Unlocked>) -> Result<Envelope, VaultError> {
        let keys = self.keys(state)?;
        match self.read_current(keys) {
            Ok((env, _)) => Ok(env),
            Err(e @ VaultError::Locked { .. }) => {
                *state = None;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    fn read_envelope(&self) -> Result<(Envelope, Vec<u8>), VaultError> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(self.file_error("does not exist yet; create it with `keyward vault init`".to_string()))
            }
            Err(e) => return Err(self.file_error(format!("could not be read: {e}"))),
        };
        parse_envelope(&bytes).map_err(|p| self.file_error(p))
    }

    fn write_envelope(&self, env: &Envelope) -> Result<(), VaultError> {
        self.write_envelope_with(env, |_| Ok(()))
    }

    fn write_envelope_with(
        &self,
        env: &Envelope,
        before_rename: impl FnOnce(&Path) -> io::Result<()>,
    ) -> Result<(), VaultError> {
        let bytes =
            serde_json::to_vec_pretty(env).map_err(|e| self.file_error(format!("could not be encoded: {e}")))?;
        write_atomic(&self.path, &bytes, before_rename)
            .map_err(|e| self.file_error(format!("could not be written ({e}); the previous version is unchanged")))
    }

    fn backend_name(&self) -> String {
        format!("Encrypted vault file ({})", self.path.display())
    }

    fn locked(&self) -> VaultError {
        if !self.path.exists() {
            return VaultError::NoVault { path: self.path.clone() };
        }
        VaultError::Locked { backend: self.backend_name() }
    }

    fn file_error(&self, problem: String) -> VaultError {
        VaultError::File { path: self.path.clone(), problem }
    }

    fn damaged(&self, what: &str) -> VaultError {
        self.file_error(format!("is damaged or was tampered with ({what}); restore it from a backup"))
    }

    fn entry_error(&self, account: &str, message: String) -> VaultError {
        VaultError::Backend { account: account.to_string(), backend: self.backend_name(), message }
    }
}

impl SecretStore for EncryptedFileStore {
    fn backend_info(&self) -> BackendInfo {
        let name = self.backend_name();
        let (available, detail) = if self.path.is_file() {
            let detail = match self.unlocked_until() {
                Some(until) => format!(
                    "Unlocked until {} UTC; it locks itself then, or now with `keyward vault lock`.",
                    until.format("%Y-%m-%d %H:%M:%S")
                ),
                None => "Locked: unlock it with `keyward vault unlock` (or in the app) to use the keys.".to_string(),
            };
            (true, detail)
        } else if self.path.exists() {
            (false, format!("{} exists but is not a file.", self.path.display()))
        } else {
            (
                true,
                "No vault file yet: create it with a passphrase — in the app (the setup guide, or Settings → \
                 Secret backend), or with `keyward vault init`."
                    .to_string(),
            )
        };
        BackendInfo { kind: BackendKind::EncryptedFile, name, available, detail }
    }

    fn put(&self, account: &str, secret: &SecretString) -> Result<(), VaultError> {
        let mut state = self.unlocked_state()?;
        let mut env = self.read_current_or_lock(&mut state)?;
        let keys = self.keys(&state)?;
        let id = keys.entry_id(account).map_err(|m| self.entry_error(account, m))?;
        let plain = encode_entry(account, secret).map_err(|m| self.entry_error(account, m))?;
        let sealed = keys.seal(&entry_aad(&id), &plain).map_err(|m| self.entry_error(account, m))?;
        env.entries.insert(id, sealed);
        self.write_envelope(&env)
    }

    fn get(&self, account: &str) -> Result<SecretString, VaultError> {
        let mut state = self.unlocked_state()?;
        let env = self.read_current_or_lock(&mut state)?;
        let keys = self.keys(&state)?;
        let id = keys.entry_id(account).map_err(|m| self.entry_error(account, m))?;
        let sealed = env
            .entries
            .get(&id)
            .ok_or_else(|| VaultError::NotFound { account: account.to_string(), backend: self.backend_name() })?;
        let plain = keys
            .open(&entry_aad(&id), sealed)
            .map_err(|p| self.damaged(&p))?
            .ok_or_else(|| self.damaged(&format!("the entry for \"{account}\" does not authenticate")))?;
        match decode_entry(&plain) {
            Some((stored, secret)) if stored == account => Ok(SecretString::from(secret)),
            _ => Err(self.damaged(&format!("the entry for \"{account}\" is malformed"))),
        }
    }

    fn delete(&self, account: &str) -> Result<(), VaultError> {
        let mut state = self.unlocked_state()?;
        let mut env = self.read_current_or_lock(&mut state)?;
        let keys = self.keys(&state)?;
        let id = keys.entry_id(account).map_err(|m| self.entry_error(account, m))?;
        if env.entries.remove(&id).is_none() {
            return Err(VaultError::NotFound { account: account.to_string(), backend: self.backend_name() });
        }
        self.write_envelope(&env)
    }
}

// ---------------------------------------------------------------------------------------------
// Passphrase sources (never the command line)
// ---------------------------------------------------------------------------------------------

/// Reads the passphrase from the environment variable `var` (usually [`PASSPHRASE_ENV`]). One
/// trailing newline is removed. The variable stays in the process environment: headless
/// setups should prefer [`passphrase_from_reader`] on stdin, or unset the variable after use.
pub fn passphrase_from_env(var: &str) -> Result<SecretString, VaultError> {
    passphrase_from_os_value(var, std::env::var_os(var))
}

fn passphrase_from_os_value(var: &str, value: Option<std::ffi::OsString>) -> Result<SecretString, VaultError> {
    let value = value
        .ok_or_else(|| VaultError::Passphrase { problem: format!("the environment variable {var} is not set") })?;
    let value = Zeroizing::new(value.into_string().map_err(|_| VaultError::Passphrase {
        problem: format!("the environment variable {var} is not valid UTF-8"),
    })?);
    passphrase_from_text(value.as_str(), &format!("the environment variable {var}"))
}

/// Reads the passphrase from the first line of `reader` (stdin for `keyward vault unlock`).
/// The line ending is removed; everything else, spaces included, is part of the passphrase.
pub fn passphrase_from_reader(reader: impl BufRead) -> Result<SecretString, VaultError> {
    let mut line = Zeroizing::new(Vec::with_capacity(MAX_PASSPHRASE_BYTES + 2));
    reader
        .take((MAX_PASSPHRASE_BYTES + 2) as u64)
        .read_until(b'\n', &mut line)
        .map_err(|e| VaultError::Passphrase { problem: format!("could not read it from the input: {e}") })?;
    let text = std::str::from_utf8(&line).map_err(|_| VaultError::Passphrase {
        problem: "the passphrase read from the input is not valid UTF-8".to_string(),
    })?;
    passphrase_from_text(text, "the input")
}

fn passphrase_from_text(text: &str, source: &str) -> Result<SecretString, VaultError> {
    let text = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(text);
    if text.is_empty() {
        return Err(VaultError::Passphrase { problem: format!("the passphrase from {source} is empty") });
    }
    if text.len() > MAX_PASSPHRASE_BYTES {
        return Err(VaultError::Passphrase {
            problem: format!("the passphrase from {source} is longer than {MAX_PASSPHRASE_BYTES} bytes"),
        });
    }
    // `From<&str>` copies into an allocation of exactly this size, so no stray copy is left
    // behind by a reallocation; the caller's buffer is a `Zeroizing`.
    Ok(SecretString::from(text))
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use chrono::TimeZone;

    use super::*;
    use crate::clock::FakeClock;

    const PASS: &str = "correct horse battery staple";
    const CANARY: &str = "canary-secret-9f8e7d6c5b4a";
    const ACCOUNT_CANARY: &str = "kraken/account-canary-31415/secret";

    fn pass(s: &str) -> SecretString {
        SecretString::from(s)
    }

    fn clock() -> FakeClock {
        FakeClock::at(Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).single().expect("valid date"))
    }

    fn new_vault(dir: &Path, clock: &FakeClock) -> EncryptedFileStore {
        EncryptedFileStore::create(
            dir.join(VAULT_FILE_NAME),
            &pass(PASS),
            KdfParams::INSECURE_FAST,
            Arc::new(clock.clone()),
        )
        .expect("create vault")
    }

    fn unlocked_vault(dir: &Path, clock: &FakeClock) -> EncryptedFileStore {
        let v = new_vault(dir, clock);
        v.unlock(&pass(PASS), Duration::from_secs(600)).expect("unlock");
        v
    }

    fn assert_locked(result: Result<impl std::fmt::Debug, VaultError>) {
        match result {
            Err(e @ VaultError::Locked { .. }) => assert!(e.to_string().contains("keyward vault unlock"), "{e}"),
            other => panic!("expected Locked, got {other:?}"),
        }
    }

    #[test]
    fn stores_reads_overwrites_and_deletes_a_secret_once_unlocked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let v = unlocked_vault(dir.path(), &clock());
        v.put("binance/main/secret", &pass("s3cr3t-Ω")).expect("put");
        v.put("kraken/main/secret", &pass("other")).expect("put second");
        assert_eq!(v.get("binance/main/secret").expect("get").expose_secret(), "s3cr3t-Ω");
        v.put("binance/main/secret", &pass("rotated")).expect("overwrite");
        assert_eq!(v.get("binance/main/secret").expect("get again").expose_secret(), "rotated");
        assert_eq!(v.accounts().expect("accounts"), vec!["binance/main/secret", "kraken/main/secret"]);
        v.delete("binance/main/secret").expect("delete");
        match v.get("binance/main/secret") {
            Err(VaultError::NotFound { account, .. }) => assert_eq!(account, "binance/main/secret"),
            other => panic!("expected NotFound, got {other:?}"),
        }
        assert!(matches!(v.delete("binance/main/secret"), Err(VaultError::NotFound { .. })));
        assert_eq!(v.get("kraken/main/secret").expect("other entry intact").expose_secret(), "other");
    }

    #[test]
    fn is_locked_when_opened_and_again_after_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = clock();
        let v = new_vault(dir.path(), &clock);
        assert!(!v.is_unlocked());
        assert_eq!(v.unlocked_until(), None);
        assert_locked(v.get("a"));
        assert_locked(v.put("a", &pass("x")));
        assert_locked(v.delete("a"));

        let until = v.unlock(&pass(PASS), Duration::from_secs(300)).expect("unlock");
        assert_eq!(until, clock.now() + chrono::Duration::seconds(300));
        v.put("a", &pass("x")).expect("put while unlocked");
        v.lock();
        assert!(!v.is_unlocked());
        assert_locked(v.get("a"));

        // A fresh handle on the same file starts locked too.
        let again = EncryptedFileStore::open(v.path(), Arc::new(clock.clone()));
        assert_locked(again.get("a"));
    }

    #[test]
    fn locks_itself_when_the_unlock_period_ends() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = clock();
        let v = new_vault(dir.path(), &clock);
        v.unlock(&pass(PASS), Duration::from_secs(60)).expect("unlock");
        v.put("a", &pass("x")).expect("put");
        clock.advance(Duration::from_secs(59));
        assert!(v.is_unlocked());
        assert_eq!(v.get("a").expect("still unlocked").expose_secret(), "x");
        clock.advance(Duration::from_secs(1));
        assert_locked(v.get("a"));
        assert!(!v.is_unlocked());
        assert_eq!(v.unlocked_until(), None);
        assert!(v.state().is_none(), "the key must be dropped (and wiped) once expired");
    }

    #[test]
    fn a_wrong_passphrase_is_rejected_and_the_file_is_left_byte_for_byte_unchanged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = clock();
        let v = unlocked_vault(dir.path(), &clock);
        v.put("a", &pass(CANARY)).expect("put");
        v.lock();
        let before = fs::read(v.path()).expect("read");

        let err = v.unlock(&pass("not the passphrase"), Duration::from_secs(60)).expect_err("wrong passphrase");
        assert!(matches!(err, VaultError::WrongPassphrase { .. }), "{err:?}");
        assert!(err.to_string().contains("wrong passphrase"), "{err}");
        assert!(!v.is_unlocked());
        let err = v.change_passphrase(&pass("not the passphrase"), &pass("new passphrase 123")).expect_err("wrong old");
        assert!(matches!(err, VaultError::WrongPassphrase { .. }), "{err:?}");

        assert_eq!(fs::read(v.path()).expect("read again"), before);
        v.unlock(&pass(PASS), Duration::from_secs(60)).expect("right passphrase still works");
        assert_eq!(v.get("a").expect("get").expose_secret(), CANARY);
    }

    #[test]
    fn a_damaged_or_truncated_file_gives_an_error_that_names_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = clock();
        let v = unlocked_vault(dir.path(), &clock);
        v.put("a", &pass("x")).expect("put");
        v.lock();
        let good = fs::read(v.path()).expect("read");

        for (what, bytes) in [
            ("truncated", good[..good.len() / 2].to_vec()),
            ("empty", Vec::new()),
            ("garbage", b"\x00\x01not json".to_vec()),
            ("other json", br#"{"hello": "world"}"#.to_vec()),
        ] {
            fs::write(v.path(), &bytes).expect("write damaged file");
            let err = v.unlock(&pass(PASS), Duration::from_secs(60)).expect_err(what);
            let msg = err.to_string();
            assert!(matches!(err, VaultError::File { .. }), "{what}: {err:?}");
            assert!(msg.contains(&v.path().display().to_string()), "{what}: {msg}");
            assert!(msg.contains("damaged"), "{what}: {msg}");
        }

        // A flipped byte inside an entry's ciphertext is caught by the AEAD tag.
        let mut env: serde_json::Value = serde_json::from_slice(&good).expect("json");
        let entries = env["entries"].as_object_mut().expect("entries");
        let entry = entries.values_mut().next().expect("one entry");
        let mut ct = B64.decode(entry["ciphertext"].as_str().expect("ct")).expect("b64");
        ct[3] ^= 0x40;
        entry["ciphertext"] = serde_json::Value::String(B64.encode(ct));
        fs::write(v.path(), serde_json::to_vec(&env).expect("encode")).expect("write");
        v.unlock(&pass(PASS), Duration::from_secs(60)).expect("verifier intact, unlock works");
        let err = v.get("a").expect_err("tampered entry");
        assert!(err.to_string().contains("tampered"), "{err}");
    }

    #[test]
    fn an_entry_moved_to_another_accounts_slot_does_not_decrypt() {
        let dir = tempfile::tempdir().expect("tempdir");
        let v = unlocked_vault(dir.path(), &clock());
        v.put("a", &pass("secret-a")).expect("put a");
        v.put("b", &pass("secret-b")).expect("put b");
        let mut env: serde_json::Value = serde_json::from_slice(&fs::read(v.path()).expect("read")).expect("json");
        let entries = env["entries"].as_object_mut().expect("entries");
        let ids: Vec<String> = entries.keys().cloned().collect();
        let first = entries[&ids[0]].clone();
        entries.insert(ids[1].clone(), first);
        fs::write(v.path(), serde_json::to_vec(&env).expect("encode")).expect("write");
        let results = [v.get("a"), v.get("b")];
        assert!(results.iter().any(|r| matches!(r, Err(VaultError::File { .. }))), "{results:?}");
    }

    #[test]
    fn secrets_survive_reopening_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = clock();
        {
            let v = unlocked_vault(dir.path(), &clock);
            v.put("okx/main/passphrase", &pass("p4ss")).expect("put");
        }
        let v = EncryptedFileStore::open(dir.path().join(VAULT_FILE_NAME), Arc::new(clock.clone()));
        assert!(v.exists());
        v.unlock(&pass(PASS), Duration::from_secs(60)).expect("unlock reopened");
        assert_eq!(v.get("okx/main/passphrase").expect("get").expose_secret(), "p4ss");
    }

    #[test]
    fn changing_the_passphrase_re_encrypts_every_entry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = clock();
        let v = unlocked_vault(dir.path(), &clock);
        v.put("a", &pass("secret-a")).expect("put");
        let old_salt = parse_envelope(&fs::read(v.path()).expect("read")).expect("parse").1;
        let new = pass("a brand new passphrase");
        v.change_passphrase(&pass(PASS), &new).expect("change");
        assert!(v.is_unlocked(), "stays unlocked under the new key");
        assert_eq!(v.get("a").expect("get after change").expose_secret(), "secret-a");
        assert_ne!(parse_envelope(&fs::read(v.path()).expect("read")).expect("parse").1, old_salt);

        v.lock();
        assert!(matches!(v.unlock(&pass(PASS), Duration::from_secs(60)), Err(VaultError::WrongPassphrase { .. })));
        v.unlock(&new, Duration::from_secs(60)).expect("new passphrase");
        assert_eq!(v.get("a").expect("get").expose_secret(), "secret-a");
        assert!(matches!(v.change_passphrase(&new, &pass("short")), Err(VaultError::Passphrase { .. })));
    }

    #[test]
    fn a_passphrase_change_by_another_process_locks_this_handle() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = clock();
        let v = unlocked_vault(dir.path(), &clock);
        v.put("a", &pass("x")).expect("put");
        let other =
            EncryptedFileStore::open(v.path(), Arc::new(clock.clone())).with_kdf_params(KdfParams::INSECURE_FAST);
        other.change_passphrase(&pass(PASS), &pass("changed elsewhere")).expect("change");
        assert_locked(v.put("a", &pass("y")));
        assert!(!v.is_unlocked());
    }

    #[test]
    fn create_refuses_to_overwrite_a_vault_and_to_use_a_short_passphrase() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = clock();
        let v = new_vault(dir.path(), &clock);
        let before = fs::read(v.path()).expect("read");
        let err = EncryptedFileStore::create(
            v.path(),
            &pass("another passphrase"),
            KdfParams::INSECURE_FAST,
            Arc::new(clock.clone()),
        )
        .expect_err("exists");
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(fs::read(v.path()).expect("read"), before);

        let err = EncryptedFileStore::create(
            dir.path().join("other.kwv"),
            &pass("short"),
            KdfParams::INSECURE_FAST,
            Arc::new(clock),
        )
        .expect_err("too short");
        assert!(err.to_string().contains("at least 8 characters"), "{err}");
        assert!(!dir.path().join("other.kwv").exists());
    }

    #[test]
    fn unlocking_a_missing_vault_says_how_to_create_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let v = EncryptedFileStore::open(dir.path().join(VAULT_FILE_NAME), Arc::new(clock()));
        let err = v.unlock(&pass(PASS), Duration::from_secs(60)).expect_err("missing");
        assert!(err.to_string().contains("keyward vault init"), "{err}");
        let info = v.backend_info();
        assert!(info.available);
        assert!(info.detail.contains("keyward vault init") && info.detail.contains("in the app"), "{}", info.detail);
    }

    #[test]
    fn writes_are_atomic_and_leave_no_temporary_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let v = unlocked_vault(dir.path(), &clock());
        for i in 0..5 {
            v.put(&format!("acct-{i}"), &pass("x")).expect("put");
        }
        v.delete("acct-0").expect("delete");
        let names: Vec<String> = fs::read_dir(dir.path())
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![VAULT_FILE_NAME.to_string()]);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_intact_and_no_temporary_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let v = unlocked_vault(dir.path(), &clock());
        v.put("a", &pass("old")).expect("put");
        let before = fs::read(v.path()).expect("read");

        let state = v.state();
        let keys = v.keys(&state).expect("keys");
        let (mut env, _) = v.read_current(keys).expect("read");
        let id = keys.entry_id("a").expect("id");
        let plain = encode_entry("a", &pass("new")).expect("encode");
        env.entries.insert(id.clone(), keys.seal(&entry_aad(&id), &plain).expect("seal"));
        let err = v
            .write_envelope_with(&env, |tmp| {
                assert!(tmp.exists(), "the temporary file is written before the rename");
                Err(io::Error::other("disk full"))
            })
            .expect_err("injected failure");
        drop(state);
        assert!(err.to_string().contains("previous version is unchanged"), "{err}");
        assert_eq!(fs::read(v.path()).expect("read"), before);
        assert_eq!(fs::read_dir(dir.path()).expect("ls").count(), 1, "temporary file removed");
        assert_eq!(v.get("a").expect("get").expose_secret(), "old");
    }

    #[test]
    fn the_file_never_contains_a_secret_or_an_account_name_in_clear() {
        let dir = tempfile::tempdir().expect("tempdir");
        let v = unlocked_vault(dir.path(), &clock());
        v.put(ACCOUNT_CANARY, &pass(CANARY)).expect("put");
        v.put("second", &pass(&format!("{CANARY}-2"))).expect("put");
        v.change_passphrase(&pass(PASS), &pass("another good passphrase")).expect("rekey");
        let bytes = fs::read(v.path()).expect("read");
        let hay = String::from_utf8_lossy(&bytes);
        for needle in [CANARY, ACCOUNT_CANARY, "account-canary", PASS, "another good passphrase"] {
            assert!(!hay.contains(needle), "the vault file contains {needle:?}");
            let b64 = B64.encode(needle.as_bytes());
            assert!(!hay.contains(&b64[..b64.len() - 4]), "the vault file contains {needle:?} in base64");
        }
    }

    #[test]
    fn debug_output_never_shows_a_secret_or_the_derived_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let v = unlocked_vault(dir.path(), &clock());
        v.put("a", &pass(CANARY)).expect("put");
        let secret = v.get("a").expect("get");
        let shown = format!("{v:?} {v:#?} {secret:?}");
        assert!(!shown.contains(CANARY), "{shown}");
        assert!(!shown.contains(PASS), "{shown}");
        let state = v.state();
        let keys = v.keys(&state).expect("keys");
        for key in [&keys.enc[..], &keys.id[..]] {
            assert!(!shown.contains(&hex::encode(key)), "{shown}");
            assert!(!shown.contains(&format!("{:?}", &key[..8])), "{shown}");
        }
        assert_eq!(format!("{keys:?}"), "VaultKeys([redacted])");
        assert!(shown.contains("unlocked until"), "{shown}");
    }

    #[cfg(unix)]
    #[test]
    fn the_vault_file_is_readable_only_by_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let v = unlocked_vault(dir.path(), &clock());
        assert_eq!(fs::metadata(v.path()).expect("meta").permissions().mode() & 0o777, 0o600);
        v.put("a", &pass("x")).expect("put");
        assert_eq!(fs::metadata(v.path()).expect("meta").permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn backend_info_names_the_file_and_its_lock_state() {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = clock();
        let v = new_vault(dir.path(), &clock);
        let info = v.backend_info();
        assert_eq!(info.kind, BackendKind::EncryptedFile);
        assert_eq!(info.name, format!("Encrypted vault file ({})", v.path().display()));
        assert!(info.available);
        assert!(info.detail.starts_with("Locked"), "{}", info.detail);
        v.unlock(&pass(PASS), Duration::from_secs(3600)).expect("unlock");
        assert!(
            v.backend_info().detail.contains("Unlocked until 2026-03-01 13:00:00 UTC"),
            "{}",
            v.backend_info().detail
        );
    }

    #[test]
    fn the_stored_format_is_the_documented_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let v = unlocked_vault(dir.path(), &clock());
        v.put("a", &pass("x")).expect("put");
        let doc: serde_json::Value = serde_json::from_slice(&fs::read(v.path()).expect("read")).expect("json");
        assert_eq!(doc["format"], "keyward-vault");
        assert_eq!(doc["version"], 1);
        assert_eq!(doc["cipher"], "xchacha20poly1305");
        assert_eq!(doc["kdf"]["algorithm"], "argon2id");
        assert_eq!(doc["kdf"]["memory_kib"], 8);
        let entry = doc["entries"].as_object().expect("entries").values().next().expect("entry").clone();
        assert_eq!(B64.decode(entry["nonce"].as_str().expect("nonce")).expect("b64").len(), 24);
        assert_eq!(KdfParams::default(), KdfParams { memory_kib: 65536, iterations: 3, parallelism: 1 });
    }

    #[test]
    fn every_write_uses_a_fresh_nonce() {
        let dir = tempfile::tempdir().expect("tempdir");
        let v = unlocked_vault(dir.path(), &clock());
        let nonce = || {
            let doc: serde_json::Value = serde_json::from_slice(&fs::read(v.path()).expect("read")).expect("json");
            doc["entries"].as_object().expect("entries").values().next().expect("entry")["nonce"].clone()
        };
        v.put("a", &pass("same")).expect("put");
        let first = nonce();
        v.put("a", &pass("same")).expect("put again");
        assert_ne!(first, nonce());
    }

    #[test]
    fn passphrases_come_from_a_line_of_input_or_an_environment_value() {
        let p = passphrase_from_reader(Cursor::new(b"my vault passphrase \r\nsecond line".to_vec())).expect("read");
        assert_eq!(p.expose_secret(), "my vault passphrase ");
        let p = passphrase_from_reader(Cursor::new(b"no newline".to_vec())).expect("read");
        assert_eq!(p.expose_secret(), "no newline");
        let err = passphrase_from_reader(Cursor::new(b"\n".to_vec())).expect_err("empty");
        assert!(err.to_string().contains("empty"), "{err}");
        let err = passphrase_from_reader(Cursor::new(vec![b'a'; 5000])).expect_err("too long");
        assert!(err.to_string().contains("longer than 1024"), "{err}");

        let p = passphrase_from_os_value("KW_TEST", Some("from env\n".into())).expect("env");
        assert_eq!(p.expose_secret(), "from env");
        let err = passphrase_from_os_value("KW_TEST", None).expect_err("unset");
        assert!(err.to_string().contains("KW_TEST is not set"), "{err}");
        let err = passphrase_from_env("KEYWARD_TEST_SURELY_UNSET_VARIABLE_7c1d").expect_err("unset");
        assert!(err.to_string().contains("KEYWARD_TEST_SURELY_UNSET_VARIABLE_7c1d"), "{err}");
    }

    #[test]
    fn entry_plaintext_round_trips_and_rejects_garbage() {
        let plain = encode_entry("acct/Ω", &pass("sécret")).expect("encode");
        assert_eq!(decode_entry(&plain), Some(("acct/Ω", "sécret")));
        assert_eq!(decode_entry(&[0, 9, b'a']), None);
        assert_eq!(decode_entry(&[]), None);
    }

    #[test]
    fn crafted_kdf_parameters_beyond_the_limits_are_refused() {
        let huge = KdfParams { memory_kib: 16 * 1024 * 1024, iterations: 3, parallelism: 1 };
        assert!(huge.check().is_err());
        assert!(KdfParams::RECOMMENDED.check().is_ok());
        assert!(KdfParams::INSECURE_FAST.check().is_ok());
    }
}
