//! The registry: presets from the catalog plus what the user stored in SQLite.
//!
//! Storage (migration `0002_providers.sql`):
//! - `provider_specs`: custom specs (`origin = 'custom'`) and edits of presets
//!   (`origin = 'override'`), each the TOML text of a whole spec;
//! - `provider_state`: per provider, whether it is enabled and which environment is selected.
//!   No row means the defaults: disabled, the spec's `default_environment`.
//!
//! Parsed entries are cached, and the cache is dropped on every write and whenever another
//! process commits to the database (SQLite's `data_version`), so several `Registry` values (the
//! desktop app and a CLI run) always see the same data.
//!
//! This file is the registry's reads and writes; the cache is in `cache.rs` and the
//! dotted-path editing behind [`Registry::set`] and [`Registry::unset`] (the CLI's
//! `provider set`/`unset`) in `path.rs`. The app's form sends a typed
//! [`SettingsChange`] instead ([`Registry::apply_settings`], `settings.rs`).

mod cache;
mod path;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rusqlite::{params, Connection, ErrorCode, OptionalExtension};

use self::cache::EntryCache;
use super::catalog;
use super::entry::ProviderEntry;
use super::error::ProviderError;
use super::origin::Origin;
use super::settings::SettingsChange;
use super::spec::ProviderSpec;
use crate::store::{Store, StoreError};

const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ','now')";

/// Whether the user confirmed a change that needs it (one that removes every rate limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Confirm {
    #[default]
    No,
    Yes,
}

impl From<bool> for Confirm {
    fn from(yes: bool) -> Self {
        if yes {
            Confirm::Yes
        } else {
            Confirm::No
        }
    }
}

/// The provider catalog plus the user's specs and state. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Registry {
    store: Store,
    presets: Arc<BTreeMap<String, ProviderSpec>>,
    /// Parsed entries, so a call does not re-read and re-validate TOML. Cleared by every
    /// write through this registry, and when another process commits to the database
    /// (SQLite's `data_version` changes).
    cache: Arc<std::sync::Mutex<EntryCache>>,
    /// Bumped after every write through this registry (see [`Registry::watch`]).
    changes: Arc<tokio::sync::watch::Sender<u64>>,
    /// Where changes are audited (`provider_changed`); `None` in tests of the registry alone.
    change_log: Option<crate::audit::ChangeLog>,
}

#[derive(Debug, Default)]
/// A `provider_specs` row. Its `origin` column is not needed to read it: a row for a preset id
/// is that preset's override (even a custom spec written before a preset of the same id
/// shipped), any other row is a custom spec.
struct StoredSpec {
    toml: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoredOrigin {
    Custom,
    Override,
}

impl StoredOrigin {
    fn as_str(self) -> &'static str {
        match self {
            StoredOrigin::Custom => "custom",
            StoredOrigin::Override => "override",
        }
    }
}

/// A `provider_state` row.
#[derive(Debug, Clone, Default)]
struct State {
    enabled: bool,
    environment: Option<String>,
}

impl Registry {
    /// Parses every preset and connects to the store (already migrated by `Store::open`).
    pub fn new(store: Store) -> Result<Registry, ProviderError> {
        let presets = catalog::presets()?.into_iter().map(|s| (s.id.clone(), s)).collect();
        let (changes, _) = tokio::sync::watch::channel(0);
        Ok(Registry {
            store,
            presets: Arc::new(presets),
            cache: Arc::default(),
            changes: Arc::new(changes),
            change_log: None,
        })
    }

    /// Audits every change made through this registry (and its clones) as `provider_changed`.
    pub fn with_change_log(mut self, log: crate::audit::ChangeLog) -> Self {
        self.change_log = Some(log);
        self
    }

    /// Records a successful change: the provider, what was done and which fields (no values).
    fn audited<T>(
        &self,
        result: Result<T, ProviderError>,
        id: &str,
        action: &str,
        fields: &[&str],
    ) -> Result<T, ProviderError> {
        if let (Ok(_), Some(log)) = (&result, &self.change_log) {
            let mut detail = serde_json::json!({ "action": action });
            if !fields.is_empty() {
                detail["fields"] = serde_json::json!(fields);
            }
            log.record(crate::audit::AuditKind::ProviderChanged, Some(id), detail);
        }
        result
    }

    /// The presets of this build, by id.
    pub fn presets(&self) -> impl Iterator<Item = &ProviderSpec> {
        self.presets.values()
    }

    /// The unchanged preset with this id.
    pub fn preset(&self, id: &str) -> Option<&ProviderSpec> {
        self.presets.get(id)
    }

    /// Every provider, sorted by id. A custom spec whose stored text no longer parses is left
    /// out (with a warning in the log); `get` reports it. Parsed entries come from the cache
    /// when they are still valid (the services list providers every few seconds).
    pub fn list(&self) -> Result<Vec<ProviderEntry>, ProviderError> {
        let (generation, stored, states) =
            self.store.with_conn(|c| Ok((cache::revalidate(&self.cache, c)?, load_specs(c)?, load_states(c)?)))?;
        let mut ids: BTreeSet<&str> = self.presets.keys().map(String::as_str).collect();
        ids.extend(stored.keys().map(String::as_str));
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(entry) = generation.and_then(|_| cache::cached(&self.cache, id)) {
                out.push(entry);
                continue;
            }
            match self.entry(id, stored.get(id), states.get(id)) {
                Ok(Some(entry)) => {
                    cache::remember(&self.cache, &entry, generation);
                    out.push(entry);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(provider = id, error = %e, "skipping a provider whose stored spec is unreadable")
                }
            }
        }
        Ok(out)
    }

    /// One provider.
    pub fn get(&self, id: &str) -> Result<ProviderEntry, ProviderError> {
        let generation = self.store.with_conn(|c| Ok(cache::revalidate(&self.cache, c)?))?;
        if let Some(entry) = generation.and_then(|_| cache::cached(&self.cache, id)) {
            return Ok(entry);
        }
        let (stored, state) = self.store.with_conn(|c| Ok((load_spec(c, id)?, load_state(c, id)?)))?;
        match self.entry(id, stored.as_ref(), state.as_ref())? {
            Some(entry) => {
                cache::remember(&self.cache, &entry, generation);
                Ok(entry)
            }
            None => Err(self.not_found(id)?),
        }
    }

    /// A receiver that is marked changed after every write through this registry (or a clone
    /// of it) in this process. Other processes' writes are not seen: poll [`Registry::list`].
    pub fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Adds a custom spec (enabled, unless discontinued). The id must be new.
    pub fn add(&self, spec: ProviderSpec) -> Result<ProviderEntry, ProviderError> {
        let id = spec.id.clone();
        self.audited(self.add_inner(spec), &id, "added", &[])
    }

    fn add_inner(&self, spec: ProviderSpec) -> Result<ProviderEntry, ProviderError> {
        let _invalidate = cache::invalidate(&self.cache, &self.changes);
        spec.validate()?;
        if self.presets.contains_key(&spec.id) {
            return Err(ProviderError::AlreadyExists { id: spec.id, origin: Origin::Preset });
        }
        let text = spec.to_toml()?;
        let enabled = !spec.is_discontinued();
        let inserted = self.store.with_conn(|c| {
            let tx = c.unchecked_transaction()?;
            let sql = format!(
                "INSERT INTO provider_specs (id, origin, spec_toml, created_at, updated_at) VALUES (?1, 'custom', ?2, {NOW}, {NOW})"
            );
            match tx.execute(&sql, params![spec.id, text]) {
                Ok(_) => {}
                Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::ConstraintViolation => return Ok(false),
                Err(e) => return Err(e.into()),
            }
            tx.execute(
                &format!(
                    "INSERT INTO provider_state (id, enabled, environment, updated_at) VALUES (?1, ?2, NULL, {NOW})
                     ON CONFLICT(id) DO UPDATE SET enabled = excluded.enabled, environment = NULL, updated_at = excluded.updated_at"
                ),
                params![spec.id, enabled],
            )?;
            tx.commit()?;
            Ok(true)
        })?;
        if !inserted {
            return Err(ProviderError::AlreadyExists { id: spec.id, origin: Origin::Custom });
        }
        tracing::info!(provider = %spec.id, "added custom provider");
        self.get(&spec.id)
    }

    /// Replaces a spec: a custom spec is overwritten, a preset gets the spec stored as its
    /// override (an override equal to the preset is dropped).
    pub fn update(&self, spec: ProviderSpec) -> Result<ProviderEntry, ProviderError> {
        let id = spec.id.clone();
        self.audited(self.update_inner(spec, Confirm::No), &id, "edited", &[])
    }

    fn update_inner(&self, mut spec: ProviderSpec, confirm: Confirm) -> Result<ProviderEntry, ProviderError> {
        let _invalidate = cache::invalidate(&self.cache, &self.changes);
        // Choosing another plan sets the rate limits it declares (its per-minute allowance,
        // its monthly credits), in the same write.
        let plan_before = match self.get(&spec.id) {
            Ok(entry) => Some(entry.spec.billing.plan),
            Err(_) => None,
        };
        if plan_before.is_some_and(|before| before != spec.billing.plan) {
            spec.apply_plan_limits();
        }
        spec.validate()?;
        let id = spec.id.clone();
        if confirm == Confirm::No && spec.rate_limits.is_empty() {
            let current = match self.get(&id) {
                Ok(entry) => entry.spec.rate_limits.len(),
                Err(_) => self.presets.get(&id).map_or(0, |p| p.rate_limits.len()),
            };
            if current > 0 {
                return Err(ProviderError::RemovesAllLimits { id, count: current });
            }
        }
        if let Some(preset) = self.presets.get(&id) {
            if *preset == spec {
                self.store.with_conn(|c| {
                    c.execute("DELETE FROM provider_specs WHERE id = ?1", [&id])?;
                    Ok(())
                })?;
            } else {
                self.write_spec(&spec, StoredOrigin::Override)?;
            }
        } else {
            let exists = self.store.with_conn(|c| Ok(load_spec(c, &id)?.is_some()))?;
            if !exists {
                return Err(self.not_found(&id)?);
            }
            self.write_spec(&spec, StoredOrigin::Custom)?;
        }
        tracing::info!(provider = %id, "updated provider spec");
        self.get(&id)
    }

    /// Changes fields by dotted path (`environments.production.base_url`, `timeout_ms`,
    /// `endpoints.ticker.weight`, `auth.scheme`, `headers.X-Foo`, `rate_limits.0.limit` or
    /// `rate_limits[0].limit`). A value is read as a TOML literal when it is one (`5000`,
    /// `true`, `["a", "b"]`, `"quoted"`), else used as a string; if the literal does not fit
    /// the field, the plain string is tried. All changes are applied, then the result is
    /// validated and stored as with [`Registry::update`].
    ///
    /// A change that removes every rate limit of a provider that has some is refused with
    /// [`ProviderError::RemovesAllLimits`]; [`Registry::set_confirmed`] makes it.
    pub fn set<F: AsRef<str>, V: AsRef<str>>(
        &self,
        id: &str,
        changes: &[(F, V)],
    ) -> Result<ProviderEntry, ProviderError> {
        self.set_with(id, changes, Confirm::No)
    }

    /// [`Registry::set`], confirmed by the user even if it removes every rate limit.
    pub fn set_confirmed<F: AsRef<str>, V: AsRef<str>>(
        &self,
        id: &str,
        changes: &[(F, V)],
    ) -> Result<ProviderEntry, ProviderError> {
        self.set_with(id, changes, Confirm::Yes)
    }

    /// [`Registry::set`] or [`Registry::set_confirmed`].
    pub fn set_with<F: AsRef<str>, V: AsRef<str>>(
        &self,
        id: &str,
        changes: &[(F, V)],
        confirm: Confirm,
    ) -> Result<ProviderEntry, ProviderError> {
        let fields: Vec<&str> = changes.iter().map(|(f, _)| f.as_ref()).collect();
        self.audited(self.set_inner(id, changes, confirm), id, "set", &fields)
    }

    fn set_inner<F: AsRef<str>, V: AsRef<str>>(
        &self,
        id: &str,
        changes: &[(F, V)],
        confirm: Confirm,
    ) -> Result<ProviderEntry, ProviderError> {
        let _invalidate = cache::invalidate(&self.cache, &self.changes);
        let entry = self.get(id)?;
        let table = path::set_fields(id, entry.spec.to_table()?, changes)?;
        let spec = ProviderSpec::from_table(table)?;
        self.update_inner(spec, confirm)
    }

    /// Applies a typed [`SettingsChange`] (what the app's Providers form sends) to the current
    /// spec, then validates and stores the result in one write, as [`Registry::set`] does:
    /// errors name the field as the spec does (`endpoints.ticker.weight`) and the value, a
    /// failed change changes nothing, and the change is audited as `set` with its fields.
    ///
    /// `confirm` is the user's yes to a result without rate limits
    /// ([`ProviderError::RemovesAllLimits`]), checked as for every other write. No field of
    /// today's [`SettingsChange`] touches `rate_limits`, so a settings change keeps them and
    /// is not refused for that; the argument keeps the form's confirm flow the same as the
    /// TOML import's, and a later rate-limit field gets the check without a new signature.
    pub fn apply_settings(
        &self,
        id: &str,
        change: &SettingsChange,
        confirm: Confirm,
    ) -> Result<ProviderEntry, ProviderError> {
        let fields = change.fields();
        let names: Vec<&str> = fields.iter().map(String::as_str).collect();
        self.audited(self.apply_settings_inner(id, change, confirm), id, "set", &names)
    }

    fn apply_settings_inner(
        &self,
        id: &str,
        change: &SettingsChange,
        confirm: Confirm,
    ) -> Result<ProviderEntry, ProviderError> {
        let _invalidate = cache::invalidate(&self.cache, &self.changes);
        let mut spec = self.get(id)?.spec;
        change.apply_to(&mut spec)?;
        self.update_inner(spec, confirm)
    }

    /// Removes fields by dotted path, so they fall back to their defaults (`status_operation`,
    /// `environments.testnet`, `endpoints.order_book`, `headers.X-Foo`).
    pub fn unset<F: AsRef<str>>(&self, id: &str, fields: &[F]) -> Result<ProviderEntry, ProviderError> {
        let names: Vec<&str> = fields.iter().map(AsRef::as_ref).collect();
        self.audited(self.unset_inner(id, fields), id, "unset", &names)
    }

    fn unset_inner<F: AsRef<str>>(&self, id: &str, fields: &[F]) -> Result<ProviderEntry, ProviderError> {
        let _invalidate = cache::invalidate(&self.cache, &self.changes);
        let entry = self.get(id)?;
        let table = path::unset_fields(id, entry.spec.to_table()?, fields)?;
        let spec = ProviderSpec::from_table(table)?;
        self.update_inner(spec, Confirm::No)
    }

    /// Drops a preset's override, back to the shipped preset. Enabled state and environment
    /// are kept.
    pub fn reset(&self, id: &str) -> Result<ProviderEntry, ProviderError> {
        self.audited(self.reset_inner(id), id, "reset", &[])
    }

    fn reset_inner(&self, id: &str) -> Result<ProviderEntry, ProviderError> {
        let _invalidate = cache::invalidate(&self.cache, &self.changes);
        if !self.presets.contains_key(id) {
            let custom = self.store.with_conn(|c| Ok(load_spec(c, id)?.is_some()))?;
            return Err(if custom { ProviderError::NoDefault { id: id.to_string() } } else { self.not_found(id)? });
        }
        self.store.with_conn(|c| {
            c.execute("DELETE FROM provider_specs WHERE id = ?1", [id])?;
            Ok(())
        })?;
        tracing::info!(provider = id, "reset provider to its preset");
        self.get(id)
    }

    /// Deletes a custom spec and its state. Presets cannot be removed.
    pub fn remove(&self, id: &str) -> Result<(), ProviderError> {
        self.audited(self.remove_inner(id), id, "removed", &[])
    }

    fn remove_inner(&self, id: &str) -> Result<(), ProviderError> {
        let _invalidate = cache::invalidate(&self.cache, &self.changes);
        if self.presets.contains_key(id) {
            return Err(ProviderError::CannotRemovePreset { id: id.to_string() });
        }
        let removed = self.store.with_conn(|c| {
            let tx = c.unchecked_transaction()?;
            let n = tx.execute("DELETE FROM provider_specs WHERE id = ?1", [id])?;
            tx.execute("DELETE FROM provider_state WHERE id = ?1", [id])?;
            tx.commit()?;
            Ok(n > 0)
        })?;
        if !removed {
            return Err(self.not_found(id)?);
        }
        tracing::info!(provider = id, "removed custom provider");
        Ok(())
    }

    /// The effective spec as TOML that [`Registry::import_toml`] reads back.
    pub fn export_toml(&self, id: &str) -> Result<String, ProviderError> {
        let entry = self.get(id)?;
        let body = entry.spec.to_toml()?;
        Ok(format!("# Keyward provider spec: {} ({}, {})\n{body}", entry.spec.name, entry.spec.id, entry.origin))
    }

    /// Validates a spec written in TOML and stores it: over the preset with the same id, over
    /// the custom spec with the same id, or as a new custom spec.
    /// Like [`Registry::set`], one that removes every rate limit needs `Confirm::Yes`.
    pub fn import_toml(&self, text: &str) -> Result<ProviderSpec, ProviderError> {
        self.import_toml_with(text, Confirm::No)
    }

    /// [`Registry::import_toml`] with the user's confirmation stated.
    pub fn import_toml_with(&self, text: &str, confirm: Confirm) -> Result<ProviderSpec, ProviderError> {
        let _invalidate = cache::invalidate(&self.cache, &self.changes);
        let spec = ProviderSpec::from_toml(text)?;
        let custom_exists =
            !self.presets.contains_key(&spec.id) && self.store.with_conn(|c| Ok(load_spec(c, &spec.id)?.is_some()))?;
        let id = spec.id.clone();
        let result = if self.presets.contains_key(&spec.id) || custom_exists {
            self.update_inner(spec, confirm)
        } else {
            self.add_inner(spec)
        };
        Ok(self.audited(result, &id, "imported", &[])?.spec)
    }

    /// Enables or disables a provider. A discontinued provider cannot be enabled.
    pub fn set_enabled(&self, id: &str, enabled: bool) -> Result<ProviderEntry, ProviderError> {
        self.audited(self.set_enabled_inner(id, enabled), id, if enabled { "enabled" } else { "disabled" }, &[])
    }

    fn set_enabled_inner(&self, id: &str, enabled: bool) -> Result<ProviderEntry, ProviderError> {
        let _invalidate = cache::invalidate(&self.cache, &self.changes);
        let entry = self.get(id)?;
        if enabled {
            if let Some(d) = &entry.spec.discontinued {
                return Err(ProviderError::Discontinued {
                    id: id.to_string(),
                    name: entry.spec.name.clone(),
                    since: d.since,
                    reason: d.reason.clone(),
                });
            }
        }
        self.store.with_conn(|c| {
            c.execute(
                &format!(
                    "INSERT INTO provider_state (id, enabled, environment, updated_at) VALUES (?1, ?2, NULL, {NOW})
                     ON CONFLICT(id) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at"
                ),
                params![id, enabled],
            )?;
            Ok(())
        })?;
        tracing::info!(provider = id, enabled, "provider enabled state changed");
        self.get(id)
    }

    /// Selects the environment calls go to.
    pub fn set_environment(&self, id: &str, environment: &str) -> Result<ProviderEntry, ProviderError> {
        let result = self.set_environment_inner(id, environment);
        self.audited(result, id, &format!("environment {environment}"), &[])
    }

    fn set_environment_inner(&self, id: &str, environment: &str) -> Result<ProviderEntry, ProviderError> {
        let _invalidate = cache::invalidate(&self.cache, &self.changes);
        let entry = self.get(id)?;
        if !entry.spec.environments.contains_key(environment) {
            return Err(ProviderError::UnknownEnvironment {
                id: id.to_string(),
                environment: environment.to_string(),
                known: entry.spec.environments.keys().cloned().collect(),
            });
        }
        self.store.with_conn(|c| {
            c.execute(
                &format!(
                    "INSERT INTO provider_state (id, enabled, environment, updated_at) VALUES (?1, 0, ?2, {NOW})
                     ON CONFLICT(id) DO UPDATE SET environment = excluded.environment, updated_at = excluded.updated_at"
                ),
                params![id, environment],
            )?;
            Ok(())
        })?;
        tracing::info!(provider = id, environment, "provider environment selected");
        self.get(id)
    }

    /// Builds the entry for `id`; `Ok(None)` when no such provider exists.
    fn entry(
        &self,
        id: &str,
        stored: Option<&StoredSpec>,
        state: Option<&State>,
    ) -> Result<Option<ProviderEntry>, ProviderError> {
        let (spec, origin, problem) = match (self.presets.get(id), stored) {
            (Some(preset), None) => (preset.clone(), Origin::Preset, None),
            (Some(preset), Some(s)) => match parse_stored(id, &s.toml) {
                Ok(spec) => (spec, Origin::Modified, None),
                Err(e) => {
                    tracing::warn!(provider = id, error = %e, "stored override unreadable; using the preset");
                    (preset.clone(), Origin::Modified, Some(e.to_string()))
                }
            },
            // A custom spec, or an override whose preset no longer ships (treated as custom).
            (None, Some(s)) => (parse_stored(id, &s.toml)?, Origin::Custom, None),
            (None, None) => return Ok(None),
        };
        let state = state.cloned().unwrap_or_default();
        let environment = state
            .environment
            .filter(|e| spec.environments.contains_key(e))
            .unwrap_or_else(|| spec.default_environment.clone());
        let enabled = state.enabled && !spec.is_discontinued();
        Ok(Some(ProviderEntry { spec, origin, enabled, environment, problem }))
    }

    fn write_spec(&self, spec: &ProviderSpec, origin: StoredOrigin) -> Result<(), ProviderError> {
        let text = spec.to_toml()?;
        self.store.with_conn(|c| {
            c.execute(
                &format!(
                    "INSERT INTO provider_specs (id, origin, spec_toml, created_at, updated_at) VALUES (?1, ?2, ?3, {NOW}, {NOW})
                     ON CONFLICT(id) DO UPDATE SET origin = excluded.origin, spec_toml = excluded.spec_toml, updated_at = excluded.updated_at"
                ),
                params![spec.id, origin.as_str(), text],
            )?;
            Ok(())
        })?;
        Ok(())
    }

    /// A NotFound error listing ids close to `id`.
    fn not_found(&self, id: &str) -> Result<ProviderError, ProviderError> {
        let stored = self.store.with_conn(load_specs)?;
        let mut ids: BTreeSet<&str> = self.presets.keys().map(String::as_str).collect();
        ids.extend(stored.keys().map(String::as_str));
        Ok(ProviderError::NotFound { id: id.to_string(), suggestions: close_matches(id, ids) })
    }
}

fn parse_stored(id: &str, text: &str) -> Result<ProviderSpec, ProviderError> {
    ProviderSpec::from_toml(text).map_err(|source| ProviderError::Stored { id: id.to_string(), source })
}

fn load_specs(c: &Connection) -> Result<BTreeMap<String, StoredSpec>, StoreError> {
    let mut stmt = c.prepare_cached("SELECT id, spec_toml FROM provider_specs")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, StoredSpec { toml: r.get(1)? })))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn load_spec(c: &Connection, id: &str) -> Result<Option<StoredSpec>, StoreError> {
    let mut stmt = c.prepare_cached("SELECT spec_toml FROM provider_specs WHERE id = ?1")?;
    let row = stmt.query_row([id], |r| Ok(StoredSpec { toml: r.get(0)? })).optional()?;
    Ok(row)
}

fn load_states(c: &Connection) -> Result<BTreeMap<String, State>, StoreError> {
    let mut stmt = c.prepare_cached("SELECT id, enabled, environment FROM provider_state")?;
    let rows =
        stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, State { enabled: r.get(1)?, environment: r.get(2)? })))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn load_state(c: &Connection, id: &str) -> Result<Option<State>, StoreError> {
    let mut stmt = c.prepare_cached("SELECT enabled, environment FROM provider_state WHERE id = ?1")?;
    let row = stmt.query_row([id], |r| Ok(State { enabled: r.get(0)?, environment: r.get(1)? })).optional()?;
    Ok(row)
}

/// Ids within edit distance 2 of `id`, or containing it (or contained in it), closest first.
fn close_matches<'a>(id: &str, ids: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut scored: Vec<(usize, &str)> = ids
        .into_iter()
        .filter_map(|candidate| {
            let d = edit_distance(id, candidate);
            let related = !id.is_empty() && (candidate.contains(id) || id.contains(candidate));
            (d <= 2 || related).then_some((d, candidate))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, s)| s.to_string()).collect()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::spec::op;
    use std::fmt;

    struct Fixture {
        _dir: tempfile::TempDir,
        path: std::path::PathBuf,
        registry: Registry,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k.db");
        let store = Store::open(&path).expect("open store");
        let registry = Registry::new(store).expect("registry");
        Fixture { _dir: dir, path, registry }
    }

    fn reopen(f: &Fixture) -> Registry {
        Registry::new(Store::open(&f.path).expect("reopen")).expect("registry")
    }

    #[test]
    fn edits_by_another_connection_are_seen_and_other_commits_keep_the_cache() {
        let f = fixture();
        let before = f.registry.get("binance").expect("binance");
        assert!(!before.enabled);
        // Another process (its own connection) writes something that is not a provider.
        let other = Store::open(&f.path).expect("second connection");
        other
            .with_conn(|c| {
                c.execute("INSERT INTO settings (key, value, updated_at) VALUES ('x', '1', 'now')", [])?;
                Ok(())
            })
            .expect("unrelated write");
        f.registry.get("binance").expect("binance");
        assert!(
            f.registry.cache.lock().expect("lock").entries.contains_key("binance"),
            "an unrelated commit keeps the parsed entries"
        );
        // …then enables a provider: the next read sees it.
        Registry::new(other.clone()).expect("registry").set_enabled("binance", true).expect("enabled elsewhere");
        assert!(f.registry.get("binance").expect("binance").enabled, "another process's edit is seen at once");

        // `list` fills and reads the same cache, and sees the next edit elsewhere too.
        let listed = f.registry.list().expect("list");
        assert_eq!(f.registry.cache.lock().expect("lock").entries.len(), listed.len(), "every listed entry is cached");
        Registry::new(other).expect("registry").set_enabled("kraken", true).expect("enabled elsewhere");
        let kraken = f.registry.list().expect("list").into_iter().find(|e| e.spec.id == "kraken").expect("kraken");
        assert!(kraken.enabled);
    }

    const CUSTOM: &str = r#"
id = "my-node"
name = "My node"
kind = "market_data"
health_check = "ping"

[environments.production]
base_url = "https://data.example.com/api"

[auth]
scheme = "api_key_header"
header_name = "X-Api-Key"

[endpoints.ping]
path = "/ping"

[endpoints.ticker]
path = "/ticker/{symbol}"
required = ["symbol"]
signed = true
"#;

    fn custom() -> ProviderSpec {
        ProviderSpec::from_toml(CUSTOM).expect("custom spec")
    }

    fn message(r: Result<impl fmt::Debug, ProviderError>) -> String {
        match r {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn list_shows_every_preset_sorted_and_disabled_by_default() {
        let f = fixture();
        let list = f.registry.list().expect("list");
        let ids: Vec<&str> = list.iter().map(|e| e.id()).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(ids, sorted);
        assert_eq!(list.len(), catalog::PRESETS.len());
        for e in &list {
            assert_eq!(e.origin, Origin::Preset);
            assert!(!e.enabled, "{} enabled by default", e.id());
            assert_eq!(e.environment, e.spec.default_environment);
            assert!(e.base_url().is_some());
        }
    }

    #[test]
    fn choosing_a_plan_sets_its_rate_limits_and_an_unknown_plan_is_refused_naming_it() {
        let f = fixture();
        let limit = |e: &ProviderEntry, id: &str| e.spec.rate_limits.iter().find(|r| r.id == id).expect("rule").limit;
        let before = f.registry.get("coinmarketcap").expect("cmc");
        assert_eq!((limit(&before, "per_minute"), limit(&before, "monthly_credits")), (30.0, 10_000.0));
        let standard = f.registry.set("coinmarketcap", &[("billing.plan", "standard")]).expect("standard plan");
        assert_eq!(standard.spec.billing.plan, "standard");
        assert_eq!((limit(&standard, "per_minute"), limit(&standard, "monthly_credits")), (60.0, 1_200_000.0));
        // Editing a price keeps the plan and the limits the user may have tuned since.
        let tuned = f.registry.set("coinmarketcap", &[("rate_limits.0.limit", "55")]).expect("tuned");
        let priced = f.registry.set("coinmarketcap", &[("billing.plans.standard.monthly_fee", "250")]).expect("price");
        assert_eq!(limit(&priced, "per_minute"), limit(&tuned, "per_minute"));
        assert_eq!(priced.spec.billing.current_plan().monthly_fee, 250.0);

        let msg = message(f.registry.set("coinmarketcap", &[("billing.plan", "gold")]));
        assert!(msg.contains("billing.plan") && msg.contains("\"gold\"") && msg.contains("standard"), "{msg}");
        let msg = message(f.registry.set("coinmarketcap", &[("billing.budget", "-5")]));
        assert!(msg.contains("billing.budget") && msg.contains("-5"), "{msg}");
    }

    #[test]
    fn get_unknown_id_suggests_close_matches() {
        let f = fixture();
        let msg = message(f.registry.get("binace"));
        assert!(msg.contains("no provider \"binace\""), "{msg}");
        assert!(msg.contains("\"binance\""), "{msg}");
        let msg = message(f.registry.get("zzzzzzzz"));
        assert_eq!(msg, "no provider \"zzzzzzzz\"");
    }

    #[test]
    fn set_turns_a_preset_into_modified_and_reset_restores_it() {
        let f = fixture();
        let entry = f
            .registry
            .set(
                "kraken",
                &[
                    ("environments.production.base_url", "https://kraken.example.com"),
                    ("timeout_ms", "2500"),
                    ("endpoints.ticker.weight", "2"),
                    ("headers.X-Foo", "bar"),
                    ("retry.max_attempts", "1"),
                    ("endpoints.ticker.cache_ttl_ms", "1000"),
                ],
            )
            .expect("set");
        assert_eq!(entry.origin, Origin::Modified);
        assert_eq!(entry.base_url(), Some("https://kraken.example.com"));
        assert_eq!(entry.spec.timeout_ms, 2500);
        assert_eq!(entry.spec.endpoints[op::TICKER].weight, 2);
        assert_eq!(entry.spec.headers.get("X-Foo").map(String::as_str), Some("bar"));
        assert_eq!(entry.spec.retry.max_attempts, 1);

        let again = reopen(&f).get("kraken").expect("get after reopen");
        assert_eq!(again.spec, entry.spec, "the override is persisted");

        let reset = f.registry.reset("kraken").expect("reset");
        assert_eq!(reset.origin, Origin::Preset);
        assert_eq!(&reset.spec, f.registry.preset("kraken").expect("preset"));
    }

    #[test]
    fn set_reads_toml_literals_and_falls_back_to_strings() {
        let f = fixture();
        let entry = f
            .registry
            .set(
                "binance",
                &[
                    ("endpoints.ticker.signed", "true"),
                    ("endpoints.ticker.required", "[\"symbol\", \"type\"]"),
                    ("endpoints.ticker.cost", "0.25"),
                    ("headers.X-Version", "2"),
                    ("params.note", "hello world"),
                    ("rate_limits[0].limit", "1200"),
                    ("auth.scheme", "binance_ed25519"),
                ],
            )
            .expect("set");
        let ticker = &entry.spec.endpoints[op::TICKER];
        assert!(ticker.signed);
        assert_eq!(ticker.required, ["symbol", "type"]);
        assert_eq!(ticker.cost, 0.25);
        assert_eq!(entry.spec.headers["X-Version"], "2", "an integer literal falls back to the string the field needs");
        assert_eq!(entry.spec.params["note"], toml::Value::String("hello world".into()));
        assert_eq!(entry.spec.rate_limits[0].limit, 1200.0);
        assert_eq!(entry.spec.auth.scheme, crate::signing::AuthScheme::BinanceEd25519);
        let dotted = f.registry.set("binance", &[("rate_limits.0.limit", "1000")]).expect("dotted index");
        assert_eq!(dotted.spec.rate_limits[0].limit, 1000.0);
    }

    #[test]
    fn set_errors_name_the_field_and_the_value() {
        let f = fixture();
        let msg = message(f.registry.set("kraken", &[("timeout_ms", "-5")]));
        assert!(msg.contains("timeout_ms -5"), "{msg}");
        let msg = message(f.registry.set("kraken", &[("environments.production.base_url", "htp://x")]));
        assert!(msg.contains("environments.production.base_url \"htp://x\" is not an http(s) URL"), "{msg}");
        let msg = message(f.registry.set("kraken", &[("timout_ms", "5")]));
        assert!(msg.contains("timout_ms 5") && msg.contains("unknown field"), "{msg}");
        let msg = message(f.registry.set("kraken", &[("endpoints.ticker.weight", "heavy")]));
        assert!(msg.contains("endpoints.ticker.weight \"heavy\""), "{msg}");
        let msg = message(f.registry.set("kraken", &[("auth.scheme", "hmac")]));
        assert!(msg.contains("auth.scheme \"hmac\"") && msg.contains("unknown auth scheme"), "{msg}");
        let msg = message(f.registry.set("kraken", &[("timeout_ms.x", "5")]));
        assert!(msg.contains("timeout_ms.x") && msg.contains("not a table"), "{msg}");
        let msg = message(f.registry.set("kraken", &[("id", "other")]));
        assert!(msg.contains("id cannot be changed"), "{msg}");
        assert_eq!(f.registry.get("kraken").expect("get").origin, Origin::Preset, "failed sets change nothing");
    }

    /// A change that sets `endpoints.<op>.<column>`.
    fn endpoint_change(op: &str, change: crate::provider::EndpointChange) -> SettingsChange {
        SettingsChange { endpoints: [(op.to_string(), change)].into(), ..Default::default() }
    }

    #[test]
    fn settings_keep_a_name_of_digits_a_string_and_set_base_url_and_weight() {
        let f = fixture();
        let change = SettingsChange {
            name: Some("123".into()),
            timeout_ms: Some(2500),
            environments: [("production".to_string(), "http://127.0.0.1:9".to_string())].into(),
            ..endpoint_change(op::TICKER, crate::provider::EndpointChange { weight: Some(7), ..Default::default() })
        };
        let entry = f.registry.apply_settings("kraken", &change, Confirm::No).expect("applied");
        assert_eq!(entry.origin, Origin::Modified);
        assert_eq!(entry.spec.name, "123");
        assert_eq!(entry.base_url(), Some("http://127.0.0.1:9"));
        assert_eq!(entry.spec.endpoints[op::TICKER].weight, 7);
        assert_eq!(entry.spec.timeout_ms, 2500);
        let exported = f.registry.export_toml("kraken").expect("export");
        assert!(exported.contains("name = \"123\""), "the name is written as a string:\n{exported}");
        let again = reopen(&f).get("kraken").expect("get after reopen");
        assert_eq!(again.spec, entry.spec, "the change is stored");
        let untouched = f.registry.preset("kraken").expect("preset");
        assert_eq!(again.spec.retry, untouched.retry, "fields left None stay as they were");
    }

    #[test]
    fn settings_clear_an_optional_field_and_a_required_one_is_named() {
        let f = fixture();
        assert_eq!(f.registry.get("binance").expect("binance").spec.auth.recv_window_ms, Some(5000));
        let mut change = SettingsChange::default();
        change.auth.recv_window_ms = Some(None);
        let entry = f.registry.apply_settings("binance", &change, Confirm::No).expect("cleared");
        assert_eq!(entry.spec.auth.recv_window_ms, None);
        assert!(!f.registry.export_toml("binance").expect("export").contains("recv_window_ms"));

        // CoinGecko's api_key_header scheme needs its header name: clearing it is refused.
        let mut change = SettingsChange::default();
        change.auth.header_name = Some(None);
        let msg = message(f.registry.apply_settings("coingecko", &change, Confirm::No));
        assert!(msg.contains("auth.header_name is missing"), "{msg}");
    }

    #[test]
    fn breaker_settings_are_stored_and_bad_ones_are_named() {
        let f = fixture();
        let mut change = SettingsChange { stale_if_error_ms: Some(60_000), ..Default::default() };
        change.breaker.consecutive_failures = Some(8);
        change.breaker.open_ms = Some(30_000);
        let entry = f.registry.apply_settings("binance", &change, Confirm::No).expect("applied");
        assert_eq!((entry.spec.breaker.consecutive_failures, entry.spec.breaker.open_ms), (8, 30_000));
        assert_eq!(entry.spec.stale_if_error_ms, 60_000);
        let exported = f.registry.export_toml("binance").expect("export");
        assert!(exported.contains("[breaker]") && exported.contains("consecutive_failures = 8"), "{exported}");
        assert_eq!(reopen(&f).get("binance").expect("get").spec.breaker, entry.spec.breaker);

        let mut bad = SettingsChange::default();
        bad.breaker.open_ms = Some(600_000);
        let msg = message(f.registry.apply_settings("binance", &bad, Confirm::No));
        assert!(msg.contains("breaker.open_ms") && msg.contains("600000") && msg.contains("max_open_ms"), "{msg}");
        let mut bad = SettingsChange::default();
        bad.breaker.failure_rate_percent = Some(150);
        let msg = message(f.registry.apply_settings("binance", &bad, Confirm::No));
        assert!(msg.contains("breaker.failure_rate_percent") && msg.contains("150"), "{msg}");
        assert_eq!(f.registry.get("binance").expect("get").spec.breaker, entry.spec.breaker, "refused: unchanged");
    }

    #[test]
    fn a_class_gets_its_own_attempts_and_loses_them_when_cleared() {
        let f = fixture();
        let mut change = SettingsChange::default();
        change.class_attempts.insert(crate::provider::OperationClass::Trade, Some(Some(1)));
        let entry = f.registry.apply_settings("binance", &change, Confirm::No).expect("applied");
        assert_eq!(entry.spec.retry_for(crate::provider::OperationClass::Trade).max_attempts, 1);
        assert_eq!(entry.spec.retry_for(crate::provider::OperationClass::Read), &entry.spec.retry);
        let mut clear = SettingsChange::default();
        clear.class_attempts.insert(crate::provider::OperationClass::Trade, Some(None));
        let entry = f.registry.apply_settings("binance", &clear, Confirm::No).expect("cleared");
        assert!(entry.spec.retry_by_class.is_empty());
    }

    #[test]
    fn settings_errors_name_the_field_and_the_value_and_change_nothing() {
        let f = fixture();
        let apply = |change: SettingsChange| message(f.registry.apply_settings("kraken", &change, Confirm::No));
        let msg = apply(SettingsChange {
            environments: [("production".to_string(), "htp://x".to_string())].into(),
            ..Default::default()
        });
        assert!(msg.contains("environments.production.base_url \"htp://x\" is not an http(s) URL"), "{msg}");
        let msg = apply(SettingsChange { timeout_ms: Some(0), ..Default::default() });
        assert!(msg.contains("timeout_ms 0 must be a positive number of milliseconds"), "{msg}");
        let msg = apply(endpoint_change(
            op::TICKER,
            crate::provider::EndpointChange { path: Some("ticker".into()), cost: Some(-1.0), ..Default::default() },
        ));
        assert!(msg.contains("endpoints.ticker.path \"ticker\" must start with \"/\""), "{msg}");
        assert!(msg.contains("endpoints.ticker.cost -1 must not be negative"), "{msg}");
        let msg = apply(endpoint_change("tickr", Default::default()));
        assert!(msg.contains("endpoints.tickr cannot be changed") && msg.contains("ticker"), "{msg}");
        let msg = apply(SettingsChange {
            environments: [("staging".to_string(), "https://s.example.com".to_string())].into(),
            ..Default::default()
        });
        assert!(msg.contains("environments.staging.base_url \"https://s.example.com\" cannot be set"), "{msg}");
        assert_eq!(f.registry.get("kraken").expect("get").origin, Origin::Preset, "failed changes change nothing");
    }

    #[test]
    fn the_status_feed_is_set_checked_and_removed_through_the_settings() {
        let f = fixture();
        let msg = message(f.registry.apply_settings(
            "kraken",
            &SettingsChange { status_feed: Some(Some("htp://status.kraken.com".into())), ..Default::default() },
            Confirm::No,
        ));
        assert!(msg.contains("status_feed \"htp://status.kraken.com\" is not an http(s) URL"), "{msg}");
        let url = "https://status.kraken.com/api/v2/summary.json";
        let set = SettingsChange { status_feed: Some(Some(url.into())), ..Default::default() };
        assert_eq!(set.fields(), ["status_feed"]);
        let entry = f.registry.apply_settings("kraken", &set, Confirm::No).expect("set");
        assert_eq!(entry.spec.status_feed.as_deref(), Some(url));
        let clear = SettingsChange { status_feed: Some(None), ..Default::default() };
        let entry = f.registry.apply_settings("kraken", &clear, Confirm::No).expect("cleared");
        assert_eq!(entry.spec.status_feed, None);
    }

    #[test]
    fn a_settings_change_keeps_every_rate_limit_so_it_needs_no_confirmation() {
        let f = fixture();
        let limits = f.registry.get("binance").expect("binance").spec.rate_limits;
        assert!(!limits.is_empty());
        let change = SettingsChange { timeout_ms: Some(3000), ..Default::default() };
        let entry = f.registry.apply_settings("binance", &change, Confirm::No).expect("no confirmation asked");
        assert_eq!(entry.spec.rate_limits, limits);
        // The limits are guarded as for every write: the same spec without them is refused.
        let mut bare = entry.spec.clone();
        bare.rate_limits.clear();
        let err = f.registry.update(bare).expect_err("removes every limit");
        assert!(matches!(err, ProviderError::RemovesAllLimits { count, .. } if count == limits.len()), "{err:?}");
    }

    #[test]
    fn settings_back_to_the_preset_drop_the_override() {
        let f = fixture();
        let preset_timeout = f.registry.preset("okx").expect("okx").timeout_ms;
        let change = SettingsChange { timeout_ms: Some(preset_timeout + 1), ..Default::default() };
        assert_eq!(f.registry.apply_settings("okx", &change, Confirm::No).expect("set").origin, Origin::Modified);
        let back = SettingsChange { timeout_ms: Some(preset_timeout), ..Default::default() };
        assert_eq!(f.registry.apply_settings("okx", &back, Confirm::No).expect("back").origin, Origin::Preset);
    }

    #[test]
    fn unsetting_a_required_field_names_it() {
        let f = fixture();
        let msg = message(f.registry.unset("binance", &["rate_limits.0.id"]));
        assert!(msg.contains("rate_limits.0.id cannot be unset") && msg.contains("missing field `id`"), "{msg}");
        assert_eq!(f.registry.get("binance").expect("get").origin, Origin::Preset, "nothing changed");
    }

    #[test]
    fn unset_falls_back_to_defaults() {
        let f = fixture();
        let entry = f.registry.unset("binance", &["environments.testnet", "timeout_ms"]).expect("unset");
        assert!(entry.spec.environment("testnet").is_none());
        assert_eq!(entry.spec.timeout_ms, crate::provider::spec::DEFAULT_TIMEOUT_MS);
        let msg = message(f.registry.unset("binance", &["environments.nowhere"]));
        assert!(msg.contains("environments.nowhere"), "{msg}");
    }

    #[test]
    fn add_rejects_duplicates_and_preset_ids() {
        let f = fixture();
        let entry = f.registry.add(custom()).expect("add");
        assert_eq!(entry.origin, Origin::Custom);
        assert!(entry.enabled, "a custom provider starts enabled");
        let msg = message(f.registry.add(custom()));
        assert!(msg.contains("\"my-node\" already exists (custom)"), "{msg}");
        let mut clash = custom();
        clash.id = "binance".into();
        let msg = message(f.registry.add(clash));
        assert!(msg.contains("\"binance\" already exists (preset)"), "{msg}");
        let ids: Vec<String> = f.registry.list().expect("list").iter().map(|e| e.id().to_string()).collect();
        assert!(ids.contains(&"my-node".to_string()));
    }

    #[test]
    fn update_replaces_custom_and_overrides_presets() {
        let f = fixture();
        f.registry.add(custom()).expect("add");
        let mut changed = custom();
        changed.name = "Renamed".into();
        assert_eq!(f.registry.update(changed).expect("update").spec.name, "Renamed");

        let mut preset = f.registry.preset("okx").expect("okx").clone();
        preset.timeout_ms = 3000;
        assert_eq!(f.registry.update(preset).expect("override").origin, Origin::Modified);
        let same = f.registry.preset("okx").expect("okx").clone();
        assert_eq!(
            f.registry.update(same).expect("back").origin,
            Origin::Preset,
            "an override equal to the preset is dropped"
        );

        let mut unknown = custom();
        unknown.id = "nobody".into();
        assert!(message(f.registry.update(unknown)).contains("no provider \"nobody\""));
    }

    #[test]
    fn remove_deletes_custom_specs_and_refuses_presets() {
        let f = fixture();
        f.registry.add(custom()).expect("add");
        f.registry.remove("my-node").expect("remove");
        assert!(message(f.registry.get("my-node")).contains("no provider \"my-node\""));
        let msg = message(f.registry.remove("binance"));
        assert!(msg.contains("preset") && msg.contains("reset") && msg.contains("disable"), "{msg}");
        assert!(message(f.registry.remove("nobody")).contains("no provider"));
    }

    #[test]
    fn reset_of_a_custom_spec_says_it_has_no_default() {
        let f = fixture();
        f.registry.add(custom()).expect("add");
        let msg = message(f.registry.reset("my-node"));
        assert!(msg.contains("custom") && msg.contains("no preset default"), "{msg}");
    }

    #[test]
    fn ftx_cannot_be_enabled_and_says_why() {
        let f = fixture();
        let err = f.registry.set_enabled("ftx", true).expect_err("ftx is gone");
        assert!(matches!(err, ProviderError::Discontinued { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.starts_with("FTX is discontinued since 2022-11-11: "), "{msg}");
        assert!(msg.contains("bankruptcy"), "{msg}");
        assert!(!f.registry.set_enabled("ftx", false).expect("disabling is fine").enabled);
    }

    #[test]
    fn enabled_state_and_environment_persist() {
        let f = fixture();
        assert!(f.registry.set_enabled("bybit", true).expect("enable").enabled);
        let e = f.registry.set_environment("bybit", "testnet").expect("env");
        assert_eq!(e.base_url(), Some("https://api-testnet.bybit.com"));
        let again = reopen(&f).get("bybit").expect("get");
        assert!(again.enabled);
        assert_eq!(again.environment, "testnet");
        let msg = message(f.registry.set_environment("bybit", "staging"));
        assert!(msg.contains("no environment \"staging\"") && msg.contains("production, testnet"), "{msg}");
        let env_only = f.registry.set_environment("okx", "sandbox").expect("env without enabling");
        assert!(!env_only.enabled);
    }

    #[test]
    fn environment_removed_by_an_edit_falls_back_to_the_default() {
        let f = fixture();
        f.registry.set_environment("binance", "testnet").expect("env");
        let e = f.registry.unset("binance", &["environments.testnet"]).expect("unset");
        assert_eq!(e.environment, "production");
    }

    #[test]
    fn export_then_import_yields_an_equal_spec() {
        let f = fixture();
        // Unchanged preset: import stores nothing (equal to the preset).
        let text = f.registry.export_toml("coinbase").expect("export");
        let spec = f.registry.import_toml(&text).expect("import");
        assert_eq!(&spec, f.registry.preset("coinbase").expect("preset"));
        assert_eq!(f.registry.get("coinbase").expect("get").origin, Origin::Preset);

        // Modified preset and custom spec, imported into a fresh database.
        let modified = f.registry.set("kucoin", &[("timeout_ms", "4000")]).expect("set").spec;
        f.registry.add(custom()).expect("add");
        let kucoin_text = f.registry.export_toml("kucoin").expect("export");
        let custom_text = f.registry.export_toml("my-node").expect("export");
        assert!(kucoin_text.starts_with("# Keyward provider spec: KuCoin (kucoin, modified)"), "{kucoin_text}");

        let g = fixture();
        assert_eq!(g.registry.import_toml(&kucoin_text).expect("import"), modified);
        assert_eq!(g.registry.get("kucoin").expect("get").origin, Origin::Modified);
        assert_eq!(g.registry.import_toml(&custom_text).expect("import"), custom());
        assert_eq!(g.registry.get("my-node").expect("get").origin, Origin::Custom);

        // Importing a changed custom spec replaces it.
        let changed = custom_text.replace("name = \"My node\"", "name = \"My node v2\"");
        assert_eq!(g.registry.import_toml(&changed).expect("reimport").name, "My node v2");
    }

    #[test]
    fn import_rejects_invalid_specs_with_the_spec_error() {
        let f = fixture();
        let msg = message(f.registry.import_toml(&CUSTOM.replace("https://data.example.com/api", "htp://x")));
        assert!(msg.contains("environments.production.base_url \"htp://x\""), "{msg}");
        let msg = message(f.registry.import_toml("id = \n"));
        assert!(msg.contains("line 1"), "{msg}");
    }

    #[test]
    fn an_unreadable_stored_override_is_reported_and_reset_fixes_it() {
        let f = fixture();
        f.registry.set("gemini", &[("timeout_ms", "3000")]).expect("set");
        f.registry
            .store
            .with_conn(|c| {
                c.execute(
                    "UPDATE provider_specs SET spec_toml = 'id = \"gemini\"\nbogus = 1' WHERE id = 'gemini'",
                    [],
                )?;
                Ok(())
            })
            .expect("corrupt");
        let entry = f.registry.get("gemini").expect("falls back to the preset");
        assert_eq!(entry.origin, Origin::Modified);
        assert!(entry.problem.as_deref().is_some_and(|p| p.contains("bogus")), "{:?}", entry.problem);
        assert_eq!(f.registry.list().expect("list").len(), catalog::PRESETS.len());
        assert!(f.registry.reset("gemini").expect("reset").problem.is_none());
    }

    #[test]
    fn close_matches_prefers_small_edit_distances() {
        let ids = ["binance", "bitfinex", "bitstamp", "coinbase", "coinbase_exchange"];
        assert_eq!(close_matches("binanse", ids), ["binance"]);
        assert_eq!(close_matches("coinbase-exchange", ids), ["coinbase_exchange", "coinbase"]);
        assert_eq!(close_matches("coin", ids), ["coinbase", "coinbase_exchange"]);
        assert!(close_matches("xyzxyzxyz", ids).is_empty());
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
