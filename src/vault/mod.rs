//! Where secrets live: the OS credential store through the `keyring` crate (Secret Service
//! on Linux, Keychain on macOS, Credential Manager on Windows), an encrypted vault file where no
//! OS store is reachable ([`EncryptedFileStore`]), or an in-memory store for tests. The
//! database only ever holds references (account names), never secret bytes.
//!
//! `keyring` 3.x is used with its synchronous Secret Service backend and pure-Rust crypto: it
//! is the release line whose Linux, macOS and Windows stores are all in one crate and was
//! verified against gnome-keyring on these machines. Its calls block, so async callers go
//! through `spawn_blocking`.

pub(crate) mod file;
mod keyring_store;
mod memory;
mod view;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use file::{
    passphrase_from_env, passphrase_from_reader, EncryptedFileStore, KdfParams, MAX_PASSPHRASE_BYTES,
    MIN_PASSPHRASE_CHARS, PASSPHRASE_ENV, VAULT_FILE_NAME,
};
pub use keyring_store::KeyringStore;
pub use memory::MemoryStore;
pub use secrecy::{ExposeSecret, SecretString};
pub use view::{VaultFileStatus, VaultStatus};

/// The credential-store service name Keyward's entries are filed under.
pub const SERVICE: &str = "keyward";

/// Which kind of store protects the secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// The operating system's credential store.
    OsKeyring,
    /// Process memory only (tests and demos); nothing survives a restart.
    Memory,
    /// A passphrase-protected file in the data directory (no OS store reachable).
    EncryptedFile,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::OsKeyring => "os-keyring",
            BackendKind::Memory => "memory",
            BackendKind::EncryptedFile => "encrypted-file",
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
    #[error(
        "the {backend} is locked; unlock it with `keyward vault unlock` (passphrase on stdin or in \
         KEYWARD_VAULT_PASSPHRASE) or from the desktop app, then try again"
    )]
    Locked { backend: String },
    #[error("wrong passphrase for the {backend}; nothing was changed")]
    WrongPassphrase { backend: String },
    /// No OS credential store answers here and the encrypted vault file was never created.
    #[error(
        "there is no place to keep secrets yet: no OS credential store answers on this machine, and there is no \
         encrypted vault file at {}. Create it with `keyward vault init` (the passphrase on stdin, or \
         --passphrase-env KEYWARD_VAULT_PASSPHRASE; `keyward key add` also creates it when KEYWARD_VAULT_PASSPHRASE \
         is set) or on the desktop app's Settings page, then try again", path.display()
    )]
    NoVault { path: PathBuf },
    /// The vault file is missing, damaged, or could not be read or written. `problem` reads as
    /// the rest of the sentence ("is damaged …", "does not exist yet …").
    #[error("the vault file {} {problem}", path.display())]
    File { path: PathBuf, problem: String },
    #[error("vault passphrase: {problem}")]
    Passphrase { problem: String },
    #[error("{variable} is \"{value}\"; expected \"os\", \"file\" or \"auto\"")]
    BadChoice { variable: &'static str, value: String },
    /// Lock or unlock asked of a Keyward whose keys are in the OS credential store.
    #[error("keys are kept in the OS credential store; there is no vault file to lock or unlock")]
    NoVaultFile,
    #[error("unlock for {seconds} s: the vault file unlocks for 1 second to 24 hours")]
    UnlockDuration { seconds: u64 },
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

/// Environment variable that chooses the secret backend: `os`, `file` or `auto` (the default).
pub const BACKEND_ENV: &str = "KEYWARD_VAULT";

/// Which backend the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// An existing vault file, else the OS store if it answers, else a (new) vault file.
    #[default]
    Auto,
    /// The OS credential store, even if it does not answer right now.
    Os,
    /// The encrypted vault file (headless servers).
    File,
}

impl BackendChoice {
    /// Reads [`BACKEND_ENV`]; unset or empty means [`BackendChoice::Auto`].
    pub fn from_env() -> Result<Self, VaultError> {
        match std::env::var(BACKEND_ENV) {
            Ok(v) => Self::parse(&v),
            Err(std::env::VarError::NotPresent) => Ok(Self::Auto),
            Err(std::env::VarError::NotUnicode(v)) => {
                Err(VaultError::BadChoice { variable: BACKEND_ENV, value: v.to_string_lossy().into_owned() })
            }
        }
    }

    pub fn parse(value: &str) -> Result<Self, VaultError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "auto" => Ok(Self::Auto),
            "os" | "keyring" => Ok(Self::Os),
            "file" | "encrypted-file" => Ok(Self::File),
            _ => Err(VaultError::BadChoice { variable: BACKEND_ENV, value: value.to_string() }),
        }
    }
}

/// The secret backend chosen for a data directory.
#[derive(Clone)]
pub struct SelectedBackend {
    /// What the rest of the core uses (`Keys`, the pipeline).
    pub store: Arc<dyn SecretStore>,
    /// The same store as its concrete type when it is the vault file, for `vault
    /// status|unlock|lock`. `None` for the OS store.
    pub file: Option<Arc<EncryptedFileStore>>,
    pub kind: BackendKind,
    /// One sentence on why this backend was chosen, for `keyward info` and the logs.
    pub reason: String,
}

impl std::fmt::Debug for SelectedBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelectedBackend")
            .field("kind", &self.kind)
            .field("file", &self.file)
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl VaultError {
    /// A stable kind for the UI and `--json`.
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            VaultError::Locked { .. } => crate::ErrorKind::VaultLocked,
            VaultError::NoVault { .. } => crate::ErrorKind::NoVault,
            VaultError::WrongPassphrase { .. } => crate::ErrorKind::WrongPassphrase,
            VaultError::Passphrase { .. } | VaultError::UnlockDuration { .. } => crate::ErrorKind::Invalid,
            VaultError::NoVaultFile => crate::ErrorKind::NotAllowed,
            _ => crate::ErrorKind::Vault,
        }
    }
}

/// The vault file's path inside a data directory.
pub fn vault_file_path(data_dir: &Path) -> PathBuf {
    data_dir.join(VAULT_FILE_NAME)
}

/// Chooses the secret backend for `data_dir` as [`BACKEND_ENV`] says (default `auto`), probing
/// the OS store if needed (a D-Bus round trip on Linux: call it off the async runtime). Only
/// builds the store: a vault file comes back locked, and unlocking is a separate call.
pub fn select_backend(data_dir: &Path, clock: Arc<dyn crate::clock::Clock>) -> Result<SelectedBackend, VaultError> {
    let choice = BackendChoice::from_env()?;
    Ok(select_backend_with(data_dir, clock, choice, || KeyringStore::new(SERVICE).backend_info()))
}

/// [`select_backend`] with the choice and the OS probe passed in.
///
/// `auto` prefers an existing vault file: its secrets are only there, and switching to the OS
/// store because it answers today would hide them. Without a vault file it uses the OS store
/// when the probe says it is available, and the (not yet created) vault file otherwise.
pub fn select_backend_with(
    data_dir: &Path,
    clock: Arc<dyn crate::clock::Clock>,
    choice: BackendChoice,
    probe_os: impl FnOnce() -> BackendInfo,
) -> SelectedBackend {
    let path = vault_file_path(data_dir);
    let os = || {
        let store: Arc<dyn SecretStore> = Arc::new(KeyringStore::new(SERVICE));
        store
    };
    let file = |reason: String| {
        let f = Arc::new(EncryptedFileStore::open(path.clone(), Arc::clone(&clock)));
        let store: Arc<dyn SecretStore> = f.clone();
        SelectedBackend { store, file: Some(f), kind: BackendKind::EncryptedFile, reason }
    };
    let selected = match choice {
        BackendChoice::Os => SelectedBackend {
            store: os(),
            file: None,
            kind: BackendKind::OsKeyring,
            reason: format!("{BACKEND_ENV}=os chooses the OS credential store."),
        },
        BackendChoice::File => file(format!("{BACKEND_ENV}=file chooses the encrypted vault file.")),
        BackendChoice::Auto if path.is_file() => {
            file(format!("An encrypted vault file exists at {}; its keys are kept there.", path.display()))
        }
        BackendChoice::Auto => {
            let info = probe_os();
            if info.available {
                SelectedBackend {
                    store: os(),
                    file: None,
                    kind: BackendKind::OsKeyring,
                    reason: format!("The {} is available.", info.name),
                }
            } else {
                file(format!(
                    "The OS credential store is not available ({}); using the encrypted vault file.",
                    info.detail
                ))
            }
        }
    };
    tracing::info!(backend = selected.kind.as_str(), reason = %selected.reason, "secret backend selected");
    selected
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;

    fn probe(available: bool) -> impl FnOnce() -> BackendInfo {
        move || BackendInfo {
            kind: BackendKind::OsKeyring,
            name: "Secret Service".to_string(),
            available,
            detail: "no D-Bus session".to_string(),
        }
    }

    #[test]
    fn auto_falls_back_to_the_vault_file_when_the_os_store_does_not_answer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = select_backend_with(dir.path(), Arc::new(SystemClock), BackendChoice::Auto, probe(false));
        assert_eq!(s.kind, BackendKind::EncryptedFile);
        assert_eq!(s.store.backend_info().kind, BackendKind::EncryptedFile);
        let file = s.file.expect("file handle");
        assert_eq!(file.path(), dir.path().join("vault.kwv"));
        assert!(!file.is_unlocked(), "selection never unlocks");
        assert!(s.reason.contains("no D-Bus session"), "{}", s.reason);
    }

    #[test]
    fn auto_uses_the_os_store_when_it_answers_and_no_vault_file_exists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = select_backend_with(dir.path(), Arc::new(SystemClock), BackendChoice::Auto, probe(true));
        assert_eq!(s.kind, BackendKind::OsKeyring);
        assert!(s.file.is_none());
    }

    #[test]
    fn auto_keeps_using_an_existing_vault_file_and_overrides_skip_the_probe() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(VAULT_FILE_NAME), b"{}").expect("write");
        let s = select_backend_with(dir.path(), Arc::new(SystemClock), BackendChoice::Auto, probe(true));
        assert_eq!(s.kind, BackendKind::EncryptedFile);

        let no_probe = || -> BackendInfo { panic!("an explicit choice must not probe the OS store") };
        let s = select_backend_with(dir.path(), Arc::new(SystemClock), BackendChoice::Os, no_probe);
        assert_eq!(s.kind, BackendKind::OsKeyring);
        let empty = tempfile::tempdir().expect("tempdir");
        let s = select_backend_with(empty.path(), Arc::new(SystemClock), BackendChoice::File, no_probe);
        assert_eq!(s.kind, BackendKind::EncryptedFile);
    }

    #[test]
    fn the_backend_choice_parses_the_documented_values_and_names_a_bad_one() {
        assert_eq!(BackendChoice::parse("file").expect("file"), BackendChoice::File);
        assert_eq!(BackendChoice::parse(" OS ").expect("os"), BackendChoice::Os);
        assert_eq!(BackendChoice::parse("").expect("empty"), BackendChoice::Auto);
        let err = BackendChoice::parse("vault").expect_err("bad");
        assert_eq!(err.to_string(), "KEYWARD_VAULT is \"vault\"; expected \"os\", \"file\" or \"auto\"");
        assert_eq!(BackendKind::EncryptedFile.as_str(), "encrypted-file");
    }
}
