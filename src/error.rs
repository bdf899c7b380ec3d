//! Typed errors of the core. Every message names the thing and the value that was wrong.

use std::path::PathBuf;

use crate::store::StoreError;
use crate::vault::VaultError;

/// The one error vocabulary: every module error maps to one of these, and every front end
/// passes it on unchanged (the desktop UI as `kind`, where it is a TypeScript union generated
/// from this enum; `--json` and the control API as `error.kind`; the gateway's refusals).
/// The serialised names are stable: the UI and scripts match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub enum ErrorKind {
    /// A field or value the user gave is not accepted; the message names both.
    Invalid,
    /// A provider spec (TOML or a setting) does not validate.
    InvalidSpec,
    NotFound,
    /// Something with that name or label exists already.
    Duplicate,
    /// The request conflicts with the current state (e.g. already running).
    Conflict,
    NotAllowed,
    /// The change is risky; repeat it with the user's explicit confirmation.
    ConfirmationNeeded,
    /// The provider was discontinued.
    Discontinued,
    /// The provider or backend cannot do this.
    NotSupported,
    /// The provider is not enabled, so it has no checks or limits running.
    NotEnabled,
    /// A token or credential for Keyward itself is missing or wrong.
    Unauthorized,
    Io,
    Storage,
    SchemaTooNew,
    /// A stored file or row cannot be read.
    Corrupt,
    /// The audit chain does not verify.
    Tampered,
    Vault,
    VaultLocked,
    NoVault,
    WrongPassphrase,
    Key,
    KeyExpired,
    PermissionDenied,
    Signing,
    RateLimited,
    Timeout,
    Network,
    Http,
    Exchange,
    /// An order's answer was lost: it may or may not have been placed.
    StatusUnknown,
    TooLarge,
    BadResponse,
    Tls,
    /// The running Keyward did not answer.
    Unreachable,
    /// A circuit breaker stopped calls to a failing provider for a while.
    CircuitOpen,
    Clipboard,
    AlreadyRunning,
    Config,
    /// A bug or a failed background task; also what an unknown kind from an older or newer
    /// Keyward reads as ([`lenient_kind`]).
    Internal,
}

impl ErrorKind {
    /// The serialised name (`"invalid"`, `"notFound"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Invalid => "invalid",
            ErrorKind::InvalidSpec => "invalidSpec",
            ErrorKind::NotFound => "notFound",
            ErrorKind::Duplicate => "duplicate",
            ErrorKind::Conflict => "conflict",
            ErrorKind::NotAllowed => "notAllowed",
            ErrorKind::ConfirmationNeeded => "confirmationNeeded",
            ErrorKind::Discontinued => "discontinued",
            ErrorKind::NotSupported => "notSupported",
            ErrorKind::NotEnabled => "notEnabled",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Io => "io",
            ErrorKind::Storage => "storage",
            ErrorKind::SchemaTooNew => "schemaTooNew",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::Tampered => "tampered",
            ErrorKind::Vault => "vault",
            ErrorKind::VaultLocked => "vaultLocked",
            ErrorKind::NoVault => "noVault",
            ErrorKind::WrongPassphrase => "wrongPassphrase",
            ErrorKind::Key => "key",
            ErrorKind::KeyExpired => "keyExpired",
            ErrorKind::PermissionDenied => "permissionDenied",
            ErrorKind::Signing => "signing",
            ErrorKind::RateLimited => "rateLimited",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Network => "network",
            ErrorKind::Http => "http",
            ErrorKind::Exchange => "exchange",
            ErrorKind::StatusUnknown => "statusUnknown",
            ErrorKind::TooLarge => "tooLarge",
            ErrorKind::BadResponse => "badResponse",
            ErrorKind::Tls => "tls",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::CircuitOpen => "circuitOpen",
            ErrorKind::Clipboard => "clipboard",
            ErrorKind::AlreadyRunning => "alreadyRunning",
            ErrorKind::Config => "config",
            ErrorKind::Internal => "internal",
        }
    }

    /// The HTTP status the control API and the gateway answer with for this kind (one mapping
    /// for every HTTP front end).
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::Invalid | ErrorKind::InvalidSpec => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::NotAllowed | ErrorKind::PermissionDenied | ErrorKind::WrongPassphrase => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::Duplicate
            | ErrorKind::Conflict
            | ErrorKind::ConfirmationNeeded
            | ErrorKind::AlreadyRunning
            | ErrorKind::NoVault
            | ErrorKind::NotEnabled => 409,
            ErrorKind::Discontinued => 410,
            ErrorKind::TooLarge => 413,
            ErrorKind::VaultLocked | ErrorKind::KeyExpired | ErrorKind::Key => 422,
            ErrorKind::RateLimited => 429,
            ErrorKind::NotSupported => 501,
            ErrorKind::Http
            | ErrorKind::Exchange
            | ErrorKind::BadResponse
            | ErrorKind::Network
            | ErrorKind::Signing
            | ErrorKind::StatusUnknown => 502,
            ErrorKind::Unreachable | ErrorKind::CircuitOpen => 503,
            ErrorKind::Timeout => 504,
            _ => 500,
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ErrorKind {
    type Err = ();

    /// Reads a serialised name back (a refusal from the running Keyward's control API).
    fn from_str(s: &str) -> Result<Self, ()> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| ())
    }
}

/// Reads a kind, taking one this build does not know (from an older or newer Keyward) as
/// [`ErrorKind::Internal`] rather than failing the whole answer.
pub fn lenient_kind<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ErrorKind, D::Error> {
    let name = <String as serde::Deserialize>::deserialize(d)?;
    Ok(name.parse().unwrap_or(ErrorKind::Internal))
}

/// Tests and scripts compare a kind with its serialised name.
impl PartialEq<&str> for ErrorKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
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
    /// A setting the user gave is out of range; names the field and the value.
    #[error("{field} = {value}: {reason}")]
    Invalid { field: &'static str, value: String, reason: String },
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Io { .. } => ErrorKind::Io,
            Error::Store(StoreError::SchemaTooNew { .. }) => ErrorKind::SchemaTooNew,
            Error::Store(_) => ErrorKind::Storage,
            Error::Vault(e) => e.kind(),
            Error::NoDataDir | Error::Config(_) => ErrorKind::Config,
            Error::AlreadyRunning { .. } => ErrorKind::AlreadyRunning,
            Error::Invalid { .. } => ErrorKind::Invalid,
        }
    }
}

impl crate::provider::ProviderError {
    pub fn kind(&self) -> ErrorKind {
        use crate::provider::ProviderError as P;
        match self {
            P::Spec(_) | P::Stored { .. } => ErrorKind::InvalidSpec,
            P::Preset { .. } => ErrorKind::Internal,
            P::Store(_) => ErrorKind::Storage,
            P::NotFound { .. } => ErrorKind::NotFound,
            P::AlreadyExists { .. } => ErrorKind::Duplicate,
            P::NoDefault { .. } | P::CannotRemovePreset { .. } => ErrorKind::NotAllowed,
            P::Discontinued { .. } => ErrorKind::Discontinued,
            P::UnknownEnvironment { .. } => ErrorKind::Invalid,
            P::RemovesAllLimits { .. } => ErrorKind::ConfirmationNeeded,
        }
    }
}
