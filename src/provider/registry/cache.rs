//! The registry's cache of parsed entries, so a call does not re-read and re-validate TOML.
//! Dropped on every write through the registry and when another process commits a provider
//! change (SQLite's `data_version`, then the `provider_generation` counter).

use std::sync::Mutex;

use rusqlite::Connection;
use tokio::sync::watch;

use crate::provider::entry::ProviderEntry;

#[derive(Debug, Default)]
pub(super) struct EntryCache {
    data_version: i64,
    /// `provider_generation.generation` when `entries` were read: other processes' commits
    /// only clear the cache when they changed a provider table.
    db_generation: i64,
    /// Bumped by every write, so a read that raced a write does not cache what it read.
    generation: u64,
    /// Writes in progress: while any runs, reads bypass the cache.
    writers: usize,
    pub(super) entries: std::collections::HashMap<String, ProviderEntry>,
}

/// Clears the cache when a write method returns (after its transaction committed), and tells
/// watchers.
pub(super) struct InvalidateOnDrop<'a>(&'a Mutex<EntryCache>, &'a watch::Sender<u64>);

impl Drop for InvalidateOnDrop<'_> {
    fn drop(&mut self) {
        {
            let mut cache = self.0.lock().unwrap_or_else(|p| p.into_inner());
            cache.generation += 1;
            cache.writers = cache.writers.saturating_sub(1);
            cache.entries.clear();
        }
        self.1.send_modify(|g| *g += 1);
    }
}

/// Drops the parsed entries if another process changed a provider since they were read.
/// Returns the cache generation to store new entries under, or `None` while a write runs.
pub(super) fn revalidate(cache: &Mutex<EntryCache>, c: &Connection) -> rusqlite::Result<Option<u64>> {
    let version: i64 = c.query_row("PRAGMA data_version", [], |r| r.get(0))?;
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    if cache.data_version != version {
        // Something was committed by another connection; only a provider change (counted
        // by triggers) makes the parsed entries stale.
        let generation: i64 =
            c.prepare_cached("SELECT generation FROM provider_generation WHERE id = 1")?.query_row([], |r| r.get(0))?;
        if generation != cache.db_generation {
            cache.entries.clear();
            cache.db_generation = generation;
        }
        cache.data_version = version;
    }
    Ok((cache.writers == 0).then_some(cache.generation))
}

/// The cached entry of `id`, unless a write is in progress.
pub(super) fn cached(cache: &Mutex<EntryCache>, id: &str) -> Option<ProviderEntry> {
    let cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    cache.entries.get(id).filter(|_| cache.writers == 0).cloned()
}

/// Caches `entry` unless a write happened since `generation` was read.
pub(super) fn remember(cache: &Mutex<EntryCache>, entry: &ProviderEntry, generation: Option<u64>) {
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    if generation == Some(cache.generation) && cache.writers == 0 {
        cache.entries.insert(entry.spec.id.clone(), entry.clone());
    }
}

/// Forgets parsed entries now and again when the returned guard drops (at the end of the
/// calling write method), then bumps `changes`.
pub(super) fn invalidate<'a>(cache: &'a Mutex<EntryCache>, changes: &'a watch::Sender<u64>) -> InvalidateOnDrop<'a> {
    {
        let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.generation += 1;
        cache.writers += 1;
        cache.entries.clear();
    }
    InvalidateOnDrop(cache, changes)
}
