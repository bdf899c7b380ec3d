//! Logging: `tracing` to a daily-rotated file in `<data dir>/logs` (last 7 kept) and to stderr.
//!
//! Secrets never reach a log line: secret values are `SecretString`s whose `Debug` is
//! redacted, and no code logs request bodies or signed headers.

use std::path::{Path, PathBuf};

use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{Builder, Rotation};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

use crate::Error;

/// How many rotated log files are kept.
pub const MAX_LOG_FILES: usize = 7;

/// Prefix of the log files (`keyward.2026-11-25.log`).
pub const LOG_PREFIX: &str = "keyward";

/// Keeps the background log writer alive; drop it last (it flushes on drop).
#[must_use = "dropping the guard stops file logging"]
pub struct LogGuard {
    _file: WorkerGuard,
    pub dir: PathBuf,
}

/// The folder that holds the log files for a data directory.
pub fn log_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("logs")
}

/// Starts logging for this process. `stderr_level` is the default level printed to stderr
/// (`RUST_LOG` overrides both outputs). Safe to call more than once: later calls keep the
/// first subscriber.
pub fn init(data_dir: &Path, stderr_level: tracing::Level) -> Result<LogGuard, Error> {
    let dir = log_dir(data_dir);
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        action: "create the log directory",
        path: dir.clone(),
        source,
    })?;
    let appender = Builder::new()
        .rotation(Rotation::DAILY)
        .filename_prefix(LOG_PREFIX)
        .filename_suffix("log")
        .max_log_files(MAX_LOG_FILES)
        .build(&dir)
        .map_err(|e| Error::Config(format!("could not open the log file in {}: {e}", dir.display())))?;
    let (writer, guard) = tracing_appender::non_blocking(appender);

    let file_filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let stderr_filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(stderr_level.as_str().to_lowercase()));
    let _ = tracing_subscriber::registry()
        .with(fmt::layer().with_ansi(false).with_writer(writer).with_filter(file_filter))
        .with(fmt::layer().with_writer(std::io::stderr).with_filter(stderr_filter))
        .try_init();
    Ok(LogGuard { _file: guard, dir })
}
