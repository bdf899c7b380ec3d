//! Typed errors of the core. Every message names the thing and the value that was wrong.

use std::path::PathBuf;

use crate::store::StoreError;
use crate::vault::VaultError;

/// A stable, machine-readable error category. The desktop UI receives it as `kind` and the
/// CLI prints it with `--json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Io,
    Storage,
    SchemaTooNew,
    Vault,
    VaultLocked,
    Config,
    AlreadyRunning,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Io => "io",
            ErrorKind::Storage => "storage",
            ErrorKind::SchemaTooNew => "schemaTooNew",
            ErrorKind::Vault => "vault",
            ErrorKind::VaultLocked => "vaultLocked",
            ErrorKind::Config => "config",
            ErrorKind::AlreadyRunning => "alreadyRunning",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("could not {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error("no application-data directory is known for this user; set KEYWARD_DATA_DIR or pass --data-dir")]
    NoDataDir,
    #[error("{0}")]
    Config(String),
    #[error(
        "{what} is already running on {}; it runs the monitors and holds the shared rate-limit budget. \
         Stop it first, or use another --data-dir",
        data_dir.display()
    )]
    AlreadyRunning { what: String, data_dir: PathBuf },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { .. } => ErrorKind::Io,
            Error::Store(StoreError::SchemaTooNew { .. }) => ErrorKind::SchemaTooNew,
            Error::Store(_) => ErrorKind::Storage,
            Error::Vault(crate::vault::VaultError::Locked { .. }) => ErrorKind::VaultLocked,
            Error::Vault(_) => ErrorKind::Vault,
            Error::NoDataDir | Error::Config(_) => ErrorKind::Config,
            Error::AlreadyRunning { .. } => ErrorKind::AlreadyRunning,
        }
    }
}

impl crate::provider::ProviderError {
    /// A stable kind for the UI and `--json`.
    pub fn kind(&self) -> &'static str {
        use crate::provider::ProviderError as P;
        match self {
            P::Spec(_) | P::Stored { .. } => "invalidSpec",
            P::Preset { .. } => "internal",
            P::Store(_) => "storage",
            P::NotFound { .. } => "notFound",
            P::AlreadyExists { .. } => "duplicate",
            P::NoDefault { .. } | P::CannotRemovePreset { .. } => "notAllowed",
            P::Discontinued { .. } => "discontinued",
            P::UnknownEnvironment { .. } => "badRequest",
            P::RemovesAllLimits { .. } => "confirmationNeeded",
        }
    }
}
