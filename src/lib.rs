//! Keyward core: the crypto trader's control room for exchange and data-provider APIs.
//!
//! This crate holds everything that is not presentation: storage, the secret vault, and (as
//! they land) providers, the call pipeline, rate limits, monitoring and alerts. The desktop
//! shell (`src-tauri/`), the `keyward` CLI and the local gateway are thin front ends over the
//! [`Keyward`] facade. This crate never depends on tauri.
//!
//! ```no_run
//! let kw = keyward::Keyward::open(keyward::default_data_dir()?)?;
//! println!("schema v{}", kw.info().schema_version);
//! # Ok::<(), keyward::Error>(())
//! ```

pub mod alerts;
pub mod audit;
pub mod charts;
pub mod cli;
pub mod clock;
pub mod error;
pub mod events;
pub mod keys;
pub mod logging;
pub mod monitor;
pub mod pipeline;
pub mod provider;
pub mod ratelimit;
pub mod signing;
pub mod store;
pub mod vault;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use error::{Error, ErrorKind};

use keys::Keys;
use pipeline::{Pipeline, Recorder, Unlimited};
use provider::Registry;
use store::Store;
use vault::{BackendInfo, SecretStore};

/// The version of this build, as shown on the dashboard and by `keyward info`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Environment variable that overrides the data directory for every front end.
pub const DATA_DIR_ENV: &str = "KEYWARD_DATA_DIR";

/// File name of the SQLite database inside the data directory.
pub const DATABASE_FILE: &str = "keyward.db";

/// The OS application-data directory Keyward uses when neither `--data-dir` nor
/// `KEYWARD_DATA_DIR` says otherwise (`~/.local/share/keyward` on Linux,
/// `~/Library/Application Support/Keyward` on macOS, `%APPDATA%\Keyward` on Windows).
pub fn default_data_dir() -> Result<PathBuf, Error> {
    if let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    let base = dirs::data_dir().ok_or(Error::NoDataDir)?;
    let name = if cfg!(any(target_os = "macos", target_os = "windows")) { "Keyward" } else { "keyward" };
    Ok(base.join(name))
}

/// What the dashboard and `keyward info` show: facts read from the running core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub version: String,
    pub data_dir: PathBuf,
    pub database_path: PathBuf,
    pub schema_version: u32,
    pub latest_schema_version: u32,
    pub secret_backend: BackendInfo,
}

/// The core handle shared by the desktop app, the CLI and the gateway.
///
/// Cheap to clone: every field is an internally synchronised handle.
#[derive(Clone)]
pub struct Keyward {
    inner: Arc<Inner>,
}

struct Inner {
    data_dir: PathBuf,
    store: Store,
    secrets: Arc<dyn SecretStore>,
    providers: Registry,
    keys: Keys,
    pipeline: Pipeline,
}

impl std::fmt::Debug for Keyward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyward").field("data_dir", &self.inner.data_dir).finish_non_exhaustive()
    }
}

impl Keyward {
    /// Opens (creating if needed) the data directory, migrates its database and connects to
    /// the OS credential store.
    pub fn open(data_dir: impl AsRef<Path>) -> Result<Self, Error> {
        Self::open_with_secrets(data_dir, vault::os_store())
    }

    /// Like [`Keyward::open`] with an explicit secret store (tests use the in-memory one).
    pub fn open_with_secrets(data_dir: impl AsRef<Path>, secrets: Arc<dyn SecretStore>) -> Result<Self, Error> {
        let data_dir = data_dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&data_dir).map_err(|source| Error::Io {
            action: "create the data directory",
            path: data_dir.clone(),
            source,
        })?;
        let store = Store::open(&data_dir.join(DATABASE_FILE))?;
        let providers = Registry::new(store.clone()).map_err(|e| Error::Config(e.to_string()))?;
        let keys = Keys::new(store.clone(), Arc::clone(&secrets));
        let pipeline =
            Pipeline::new(providers.clone(), keys.clone(), Arc::new(Unlimited), Recorder::start(store.clone()));
        tracing::info!(data_dir = %data_dir.display(), schema = store.schema_version(), "keyward core opened");
        Ok(Self { inner: Arc::new(Inner { data_dir, store, secrets, providers, keys, pipeline }) })
    }

    pub fn data_dir(&self) -> &Path {
        &self.inner.data_dir
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn secrets(&self) -> &Arc<dyn SecretStore> {
        &self.inner.secrets
    }

    /// The provider catalog: presets, overrides and custom providers.
    pub fn providers(&self) -> &Registry {
        &self.inner.providers
    }

    /// API key metadata and secrets.
    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    /// The one call path.
    pub fn pipeline(&self) -> &Pipeline {
        &self.inner.pipeline
    }

    /// Records that a key's secret was revealed or copied (`actor`: "cli", "ui").
    pub fn audit_reveal(&self, provider: &str, label: &str, actor: &str) {
        tracing::warn!(provider, label, actor, "key secret revealed");
    }

    /// Reads the facts the dashboard shows. Probing the secret backend may block briefly
    /// (a D-Bus round trip on Linux): call it off the async runtime.
    pub fn info(&self) -> Info {
        Info {
            version: VERSION.to_string(),
            data_dir: self.inner.data_dir.clone(),
            database_path: self.inner.store.path().to_path_buf(),
            schema_version: self.inner.store.schema_version(),
            latest_schema_version: store::LATEST_SCHEMA_VERSION,
            secret_backend: self.inner.secrets.backend_info(),
        }
    }
}
