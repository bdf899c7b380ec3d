//! What other services tell Keyward: incoming webhooks (`POST /hooks/<id>` on the gateway's
//! port) and the status pages of providers (their `status_feed`, polled by [`feed`]).
//!
//! ```text
//!  POST /hooks/<id> ──► Hooks::check (flood → size → secret or signature → parse → time)
//!        │                   │ refused: 401/400/413/429, recorded in hook_deliveries
//!        ▼                   ▼ accepted: Reports
//!  status_feed poll ──► Keyward::apply_reports ──► Monitor::announce (maintenance, outage…)
//!                                              └─► Alerts::handle (AlertInput::Incoming, …)
//! ```
//!
//! - `statuspage.rs`: the hosted status-page format (summary.json, webhook payloads);
//! - `parse.rs`: the bodies a hook accepts (status page, Keyward's own alerts, generic JSON);
//! - `flood.rs`: a token bucket per hook;
//! - `db.rs`: tables `incoming_hooks` and `hook_deliveries` (migration 0013);
//! - `view.rs`: [`HookView`], [`IssuedHookView`], [`HookDeliveryView`];
//! - `feed.rs`: polling the status feeds;
//! - `apply.rs`: reports → provider states and alerts, and the whole delivery
//!   ([`crate::Keyward::receive_hook`]).
//!
//! Each hook's secret lives in the secret store (the OS credential store), never in SQLite, a
//! log line or an error message. Signed deliveries use the scheme outgoing alerts use:
//! `X-Keyward-Signature: sha256=<hex HMAC-SHA256(secret, body)>`, with the send time in the body
//! (`timestamp`), which must be within [`TIMESTAMP_TOLERANCE`] of now; see docs/WEBHOOKS.md.

mod apply;
mod db;
pub mod feed;
pub mod flood;
pub mod parse;
pub mod statuspage;
mod view;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::alerts::Severity;
use crate::clock::Clock;
use crate::monitor::HealthState;
use crate::store::{Store, StoreError};
use crate::vault::{SecretStore, VaultError};

pub use apply::HookReceipt;
pub use view::{HookDeliveryView, HookView, IssuedHookView};

/// The largest body a hook accepts (status-page payloads are a few KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// How far a signed delivery's time may be from now, either way.
pub const TIMESTAMP_TOLERANCE: Duration = Duration::from_secs(5 * 60);
/// The query parameter of a URL-secret hook.
pub const SECRET_PARAM: &str = "secret";
/// The header of a signed delivery (the same as outgoing alerts').
pub const SIGNATURE_HEADER: &str = crate::alerts::SIGNATURE_HEADER;
/// Deliveries kept per listing.
pub const DELIVERIES_SHOWN: u32 = 50;

/// One thing a delivery (or a status page) reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// What it is about (`incident lbkhbwn21v5q`, `component k7730b5v92bv`, `report 7`):
    /// later reports about the same subject update or resolve it.
    pub subject: String,
    pub title: String,
    pub message: String,
    pub severity: Severity,
    /// The provider it names, if any (the hook's own provider is used otherwise).
    pub provider: Option<String>,
    /// The provider state it announces (`Up`: the announcement is over); `None`: none.
    pub state: Option<HealthState>,
    /// A maintenance scheduled for later.
    pub starts_at: Option<DateTime<Utc>>,
    /// The subject is over (incident resolved, maintenance completed).
    pub resolved: bool,
}

/// How a hook authenticates its deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookAuth {
    /// `X-Keyward-Signature: sha256=<hex HMAC-SHA256(secret, body)>`, time in the body.
    Signature,
    /// `?secret=<secret>` in the URL, for services that cannot sign (Statuspage).
    UrlSecret,
}

impl HookAuth {
    pub fn as_str(self) -> &'static str {
        match self {
            HookAuth::Signature => "signature",
            HookAuth::UrlSecret => "url_secret",
        }
    }

    pub fn view_name(self) -> &'static str {
        match self {
            HookAuth::Signature => "signature",
            HookAuth::UrlSecret => "urlSecret",
        }
    }

    /// `signature`, `url_secret` (or `urlSecret`, `url-secret`).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "signature" => Some(HookAuth::Signature),
            "url_secret" | "urlSecret" | "url-secret" => Some(HookAuth::UrlSecret),
            _ => None,
        }
    }
}

/// A stored hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub id: String,
    pub name: String,
    pub provider: Option<String>,
    pub auth: HookAuth,
    /// The secret store account that holds its secret.
    pub secret_ref: String,
    pub created_at: DateTime<Utc>,
}

/// A hook to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewHook {
    pub name: String,
    pub provider: Option<String>,
    pub auth: HookAuth,
}

/// One recorded delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub ts: DateTime<Utc>,
    pub hook_id: String,
    pub http_status: u16,
    pub result: String,
    pub detail: String,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("{0}")]
    Invalid(String),
    #[error("a hook named \"{0}\" exists already")]
    Duplicate(String),
    #[error("there is no hook \"{0}\"")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the hook's secret: {0}")]
    Vault(#[from] VaultError),
}

impl HookError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            HookError::Invalid(_) => crate::ErrorKind::Invalid,
            HookError::Duplicate(_) => crate::ErrorKind::Duplicate,
            HookError::NotFound(_) => crate::ErrorKind::NotFound,
            HookError::Store(_) => crate::ErrorKind::Storage,
            HookError::Vault(e) => e.kind(),
        }
    }
}

/// Why a delivery was refused: its HTTP answer, and what is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No such hook (not recorded: there is no hook to record it under).
    NotFound,
    BadSignature(String),
    /// Outside the timestamp tolerance, or a repeat of a delivery already received.
    Stale(String),
    TooLarge {
        bytes: u64,
    },
    Malformed(String),
    RateLimited {
        retry_after: Duration,
    },
    /// The secret store did not answer.
    Unavailable(String),
}

impl Refusal {
    pub fn http_status(&self) -> u16 {
        match self {
            Refusal::NotFound => 404,
            Refusal::BadSignature(_) | Refusal::Stale(_) => 401,
            Refusal::TooLarge { .. } => 413,
            Refusal::Malformed(_) => 400,
            Refusal::RateLimited { .. } => 429,
            Refusal::Unavailable(_) => 503,
        }
    }

    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            Refusal::NotFound => crate::ErrorKind::NotFound,
            Refusal::BadSignature(_) | Refusal::Stale(_) => crate::ErrorKind::Unauthorized,
            Refusal::TooLarge { .. } => crate::ErrorKind::TooLarge,
            Refusal::Malformed(_) => crate::ErrorKind::Invalid,
            Refusal::RateLimited { .. } => crate::ErrorKind::RateLimited,
            Refusal::Unavailable(_) => crate::ErrorKind::Vault,
        }
    }

    /// The `result` column.
    pub fn result(&self) -> &'static str {
        match self {
            Refusal::NotFound => "not_found",
            Refusal::BadSignature(_) => "bad_signature",
            Refusal::Stale(_) => "stale",
            Refusal::TooLarge { .. } => "too_large",
            Refusal::Malformed(_) => "malformed",
            Refusal::RateLimited { .. } => "rate_limited",
            Refusal::Unavailable(_) => "error",
        }
    }

    /// What the sender is told (and what is recorded). Never contains the secret.
    pub fn message(&self) -> String {
        match self {
            Refusal::NotFound => "there is no such hook".into(),
            Refusal::BadSignature(m) | Refusal::Stale(m) | Refusal::Malformed(m) | Refusal::Unavailable(m) => m.clone(),
            Refusal::TooLarge { bytes } => {
                format!("the body ({bytes} bytes) is larger than the {MAX_BODY_BYTES} bytes a hook accepts")
            }
            Refusal::RateLimited { retry_after } => {
                format!("too many deliveries to this hook; try again in {} s", retry_after.as_secs_f64().ceil() as u64)
            }
        }
    }
}

/// A delivery as it arrived.
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    /// The `X-Keyward-Signature` header.
    pub signature: Option<&'a str>,
    /// The `secret` query parameter.
    pub url_secret: Option<&'a str>,
    /// The body, read up to one byte more than [`MAX_BODY_BYTES`].
    pub body: &'a [u8],
    /// `Content-Length`, when declared.
    pub declared_len: Option<u64>,
}

/// A delivery that passed every check.
#[derive(Debug, Clone)]
pub struct Checked {
    pub hook: Hook,
    pub reports: Vec<Report>,
}

/// The incoming hooks. Cheap to clone. Blocking (SQLite, the secret store).
#[derive(Clone)]
pub struct Hooks {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    secrets: Arc<dyn SecretStore>,
    clock: Arc<dyn Clock>,
    flood: Mutex<flood::Flood>,
    /// Signatures of deliveries received within the tolerance (a replay is refused).
    seen: Mutex<HashMap<String, DateTime<Utc>>>,
    change_log: std::sync::OnceLock<crate::audit::ChangeLog>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn valid_name(name: &str) -> Result<(), HookError> {
    if crate::gateway::tokens::is_plain_name(name) {
        Ok(())
    } else {
        Err(HookError::Invalid(format!("hook name {name:?} must be 1 to 64 letters, digits, '-', '_' or '.'")))
    }
}

impl Hooks {
    pub fn new(store: Store, secrets: Arc<dyn SecretStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                secrets,
                clock,
                flood: Mutex::new(flood::Flood::default()),
                seen: Mutex::new(HashMap::new()),
                change_log: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Audits hooks added and removed as `settings_changed` (set once, by `Keyward::open`).
    pub fn set_change_log(&self, log: crate::audit::ChangeLog) {
        let _ = self.inner.change_log.set(log);
    }

    fn audit(&self, action: &str, h: &Hook) {
        if let Some(log) = self.inner.change_log.get() {
            let detail = serde_json::json!({
                "setting": "incoming hook", "action": action, "name": h.name, "auth": h.auth.as_str(),
            });
            log.record(crate::audit::AuditKind::SettingsChanged, h.provider.as_deref(), detail);
        }
    }

    /// Creates a hook with a fresh secret (256 random bits) in the secret store; the secret
    /// is returned this once.
    pub fn add(&self, new: &NewHook) -> Result<(Hook, SecretString), HookError> {
        let name = new.name.trim();
        valid_name(name)?;
        if let Some(p) = &new.provider {
            if p.trim().is_empty() {
                return Err(HookError::Invalid("hook provider \"\" is empty; leave it out instead".into()));
            }
        }
        if self.inner.store.with_conn(|c| Ok(db::find(c, name)?))?.is_some() {
            return Err(HookError::Duplicate(name.to_string()));
        }
        let hook = Hook {
            id: format!("h{}", hex::encode(rand::random::<[u8; 8]>())),
            name: name.to_string(),
            provider: new.provider.as_ref().map(|p| p.trim().to_string()),
            auth: new.auth,
            secret_ref: format!("hook-hmac-{}", hex::encode(rand::random::<[u8; 8]>())),
            // Stored to the millisecond: the view of a new hook equals the view read back.
            created_at: DateTime::from_timestamp_millis(self.inner.clock.now().timestamp_millis())
                .unwrap_or_else(|| self.inner.clock.now()),
        };
        let secret = SecretString::from(format!("kwh_{}", hex::encode(rand::random::<[u8; 32]>())));
        self.inner.secrets.put(&hook.secret_ref, &secret)?;
        if let Err(e) = self.inner.store.with_conn(|c| Ok(db::insert(c, &hook)?)) {
            let _ = self.inner.secrets.delete(&hook.secret_ref);
            return Err(e.into());
        }
        self.audit("added", &hook);
        Ok((hook, secret))
    }

    pub fn list(&self) -> Result<Vec<Hook>, HookError> {
        Ok(self.inner.store.with_conn(|c| Ok(db::list(c)?))?)
    }

    /// A hook by id or name.
    pub fn get(&self, id_or_name: &str) -> Result<Hook, HookError> {
        self.inner
            .store
            .with_conn(|c| Ok(db::find(c, id_or_name.trim())?))?
            .ok_or_else(|| HookError::NotFound(id_or_name.to_string()))
    }

    /// Removes a hook (by id or name), its deliveries and its secret.
    pub fn remove(&self, id_or_name: &str) -> Result<Hook, HookError> {
        let hook = self.get(id_or_name)?;
        self.inner.store.with_conn(|c| Ok(db::delete(c, &hook.id)?))?;
        match self.inner.secrets.delete(&hook.secret_ref) {
            Ok(()) | Err(VaultError::NotFound { .. }) => {}
            Err(e) => tracing::warn!(hook = %hook.name, error = %e, "could not delete the hook's secret"),
        }
        lock(&self.inner.flood).forget(&hook.id);
        self.audit("removed", &hook);
        Ok(hook)
    }

    /// The newest deliveries (of one hook, or all), newest first, with the hook's name.
    pub fn deliveries(&self, hook: Option<&str>, limit: u32) -> Result<Vec<(Delivery, String)>, HookError> {
        Ok(self.inner.store.with_conn(|c| Ok(db::deliveries(c, hook, limit)?))?)
    }

    /// Records one delivery.
    pub fn record(
        &self,
        hook: &Hook,
        http_status: u16,
        result: &str,
        detail: &str,
        bytes: u64,
    ) -> Result<(), HookError> {
        let d = Delivery {
            id: 0,
            ts: self.inner.clock.now(),
            hook_id: hook.id.clone(),
            http_status,
            result: result.to_string(),
            detail: detail.to_string(),
            bytes,
        };
        self.inner.store.with_conn(|c| Ok(db::record(c, &d)?))?;
        Ok(())
    }

    /// Checks a delivery to hook `id`: flood limit, size, secret or signature, body, time.
    /// A refusal of a known hook is recorded here; an accepted delivery is recorded by the
    /// caller once it knows what the delivery became.
    pub fn check(&self, id: &str, incoming: Incoming<'_>) -> Result<Checked, Refusal> {
        let hook = match self.inner.store.with_conn(|c| Ok(db::by_id(c, id)?)) {
            Ok(Some(h)) => h,
            Ok(None) => return Err(Refusal::NotFound),
            Err(e) => return Err(Refusal::Unavailable(format!("the database: {e}"))),
        };
        let bytes = incoming.declared_len.unwrap_or(0).max(incoming.body.len() as u64);
        let result = self.check_hook(&hook, incoming, bytes);
        if let Err(refusal) = &result {
            if let Err(e) = self.record(&hook, refusal.http_status(), refusal.result(), &refusal.message(), bytes) {
                tracing::warn!(hook = %hook.name, error = %e, "could not record a refused delivery");
            }
        }
        result.map(|reports| Checked { hook, reports })
    }

    fn check_hook(&self, hook: &Hook, incoming: Incoming<'_>, bytes: u64) -> Result<Vec<Report>, Refusal> {
        let now = self.inner.clock.now();
        lock(&self.inner.flood).take(&hook.id, now).map_err(|retry_after| Refusal::RateLimited { retry_after })?;
        if bytes > MAX_BODY_BYTES as u64 {
            return Err(Refusal::TooLarge { bytes });
        }
        let secret = match self.inner.secrets.get(&hook.secret_ref) {
            Ok(s) => s,
            Err(e) => return Err(Refusal::Unavailable(format!("the hook's secret could not be read ({})", e.kind()))),
        };
        match hook.auth {
            HookAuth::UrlSecret => {
                let given = incoming.url_secret.unwrap_or_default();
                let ok: bool = given.as_bytes().ct_eq(secret.expose_secret().as_bytes()).into();
                if !ok {
                    return Err(Refusal::BadSignature(format!(
                        "the URL's \"{SECRET_PARAM}\" parameter is {} for this hook",
                        if given.is_empty() { "missing" } else { "wrong" }
                    )));
                }
            }
            HookAuth::Signature => {
                let Some(given) = incoming.signature.map(str::trim) else {
                    return Err(Refusal::BadSignature(format!("the {SIGNATURE_HEADER} header is missing")));
                };
                let want = crate::alerts::signature(secret.expose_secret().as_bytes(), incoming.body);
                let ok: bool = given.as_bytes().ct_eq(want.as_bytes()).into();
                if !ok {
                    return Err(Refusal::BadSignature(format!(
                        "the {SIGNATURE_HEADER} header does not match the body (expected sha256=<hex HMAC-SHA256 of the body>)"
                    )));
                }
            }
        }
        let (value, reports) = parse::parse(incoming.body, &hook.name).map_err(Refusal::Malformed)?;
        if hook.auth == HookAuth::Signature {
            let sent = parse::body_time(&value).map_err(Refusal::Malformed)?.or_else(|| statuspage_time(&value));
            let Some(sent) = sent else {
                return Err(Refusal::Malformed(
                    "field \"timestamp\" is missing; a signed delivery carries its send time in the body".into(),
                ));
            };
            let off = (now - sent).num_seconds().unsigned_abs();
            if off > TIMESTAMP_TOLERANCE.as_secs() {
                return Err(Refusal::Stale(format!(
                    "field \"timestamp\" is {off} s from now, more than the {} s allowed",
                    TIMESTAMP_TOLERANCE.as_secs()
                )));
            }
            let mut seen = lock(&self.inner.seen);
            let tolerance = chrono::Duration::from_std(TIMESTAMP_TOLERANCE).unwrap_or_default();
            seen.retain(|_, at| now - *at <= tolerance * 2);
            let key = format!("{}:{}", hook.id, incoming.signature.unwrap_or_default().trim());
            if seen.insert(key, now).is_some() {
                return Err(Refusal::Stale("this delivery was received already (a replay)".into()));
            }
        }
        Ok(reports)
    }
}

/// A status-page payload's own time (`meta.generated_at`).
fn statuspage_time(v: &serde_json::Value) -> Option<DateTime<Utc>> {
    let s = v.get("meta")?.get("generated_at")?.as_str()?;
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}
