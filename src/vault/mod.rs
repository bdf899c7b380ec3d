//! Where secrets live: the OS credential store through the `keyring` crate (Secret Service
//! on Linux, Keychain on macOS, Credential Manager on Windows), or an in-memory store for
//! tests. The database only ever holds references (account names), never secret bytes.
//!
//! `keyring` 3.x is used with its synchronous Secret Service backend and pure-Rust crypto: it
//! is the release line whose Linux, macOS and Windows stores are all in one crate and was
//! verified against gnome-keyring on these machines. Its calls block, so async callers go
//! through `spawn_blocking`.

mod keyring_store;
mod memory;

use std::sync::Arc;

pub use keyring_store::KeyringStore;
pub use memory::MemoryStore;
pub use secrecy::{ExposeSecret, SecretString};

/// The credential-store service name Keyward's entries are filed under.
pub const SERVICE: &str = "keyward";

/// Which kind of store protects the secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// The operating system's credential store.
    OsKeyring,
    /// Process memory only (tests and demos); nothing survives a restart.
    Memory,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::OsKeyring => "os-keyring",
            BackendKind::Memory => "memory",
        }
    }
}

/// What the dashboard shows about the secret backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendInfo {
    pub kind: BackendKind,
    /// Human name, e.g. "Secret Service (GNOME Keyring, KWallet)".
    pub name: String,
    /// Whether the store answered a probe just now.
    pub available: bool,
    /// One sentence a user can act on: why it is unavailable, or what it is.
    pub detail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error("no secret is stored for \"{account}\" in the {backend}")]
    NotFound { account: String, backend: String },
    #[error("the {backend} could not be used for \"{account}\": {message}")]
    Backend { account: String, backend: String, message: String },
}

/// A place to keep secrets. Implementations are internally synchronised and may block.
pub trait SecretStore: Send + Sync + 'static {
    fn backend_info(&self) -> BackendInfo;
    fn put(&self, account: &str, secret: &SecretString) -> Result<(), VaultError>;
    fn get(&self, account: &str) -> Result<SecretString, VaultError>;
    fn delete(&self, account: &str) -> Result<(), VaultError>;
}

/// The OS credential store for this platform.
pub fn os_store() -> Arc<dyn SecretStore> {
    Arc::new(KeyringStore::new(SERVICE))
}
