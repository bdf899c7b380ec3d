//! One budget across machines: Keyward instances that use the same exchange account share its
//! account- and key-level limits through a Redis server.
//!
//! A call is charged first on this instance's own [`Limiter`] (priorities, the queue, the
//! exchange's per-IP limits, all as without sharing), then on the shared limits it touches —
//! account and key scopes, and IP scopes when the user declared an egress group (instances that
//! leave through one public IP) — in one Redis round trip ([`redis::RedisStore::charge`]: a Lua
//! script, all or none, on the server's clock, with the same window kinds and margin). A 429 or
//! 418 seen by any instance pauses the provider for everyone; usage headers raise the shared
//! counts (only upwards).
//!
//! When Redis does not answer, each instance keeps to a conservative local share of every
//! shared limit: the limit divided by the instances last seen alive, starting from what it
//! already spent in the current window — so together they never exceed the limit — and says
//! "shared budget offline" until a heartbeat reaches Redis again, when sharing resumes by
//! itself.

pub mod redis;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Datelike, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use self::redis::{ChargeAnswer, RedisStore, SharedCharge, StoreOffline};
use crate::clock::Clock;
use crate::keys::Keys;
use crate::pipeline::limit::{Acquire, Answered, LimitError, LimitFuture, RateLimiter};
use crate::provider::{RateLimitKind, RateLimitRule, RateLimitScope};
use crate::ratelimit::window::{Window, WindowMath};
use crate::ratelimit::{ChargedRule, Limiter};

/// How often an instance says it is alive (and retries Redis while offline).
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
/// How long an instance keeps to its local share after Redis failed before asking it again.
pub const RETRY_OFFLINE_AFTER: Duration = Duration::from_secs(1);

/// Fixed-window limits are charged in blocks of this part of the limit where a call's amount is
/// at most half a block: the instance reserves the block in one round trip and spends it
/// locally. Safe by construction (the block is counted in Redis first); what is not spent goes
/// back while the window lasts.
pub const BLOCK_FRACTION: f64 = 0.01;
/// A block is spent locally for at most this long, then what is left goes back: a pause that
/// another instance saw reaches this one within it.
pub const BLOCK_TTL: Duration = Duration::from_millis(250);

/// Where the settings are stored (the password is in the secret store, never here).
pub const SETTING_KEY: &str = "shared_budget";
/// The secret store account of the Redis password.
pub const PASSWORD_ACCOUNT: &str = "shared-budget/password";

/// The shared budget's settings as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SharedBudgetSettings {
    /// `redis://host:port/db` or `rediss://…` (TLS), without the password.
    pub url: String,
    /// Instances that leave through one public IP share their per-IP limits too.
    #[serde(default)]
    pub egress_group: Option<String>,
}

impl SharedBudgetSettings {
    /// Splits a URL the user gave into the stored URL and the password (kept apart), refusing
    /// anything but `redis://` and `rediss://`.
    pub fn parse(url: &str, egress_group: Option<String>) -> Result<(Self, Option<String>), crate::Error> {
        let bad =
            |reason: &str| crate::Error::Invalid { field: "url", value: strip_password(url), reason: reason.into() };
        let mut parsed = url::Url::parse(url.trim()).map_err(|e| bad(&e.to_string()))?;
        if !matches!(parsed.scheme(), "redis" | "rediss") {
            return Err(bad("use redis://host:port or rediss://host:port (TLS)"));
        }
        if parsed.host_str().is_none_or_empty() {
            return Err(bad("name the Redis host"));
        }
        let password = parsed.password().map(percent_decode);
        let _ = parsed.set_password(None);
        let group = egress_group.map(|g| g.trim().to_string()).filter(|g| !g.is_empty());
        if let Some(g) = &group {
            if !g.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                return Err(crate::Error::Invalid {
                    field: "egressGroup",
                    value: g.clone(),
                    reason: "letters, digits, '-', '_' and '.' only".into(),
                });
            }
        }
        Ok((Self { url: parsed.to_string(), egress_group: group }, password))
    }

    /// The URL to connect with: the stored one with the password put back.
    pub fn connect_url(&self, password: Option<&str>) -> String {
        match (password, url::Url::parse(&self.url)) {
            (Some(p), Ok(mut u)) => {
                let _ = u.set_password(Some(p));
                u.to_string()
            }
            _ => self.url.clone(),
        }
    }
}

trait EmptyHost {
    fn is_none_or_empty(&self) -> bool;
}
impl EmptyHost for Option<&str> {
    fn is_none_or_empty(&self) -> bool {
        self.map_or(true, str::is_empty)
    }
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// `url` with any password replaced by `***`, for messages.
pub fn strip_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// One instance taking part, as the Rate limits page and `keyward limits` show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SharedInstanceView {
    pub id: String,
    /// Seconds since its last heartbeat.
    pub seen_secs_ago: f64,
    /// Units it charged on shared limits since it started.
    pub spend: f64,
    /// This process.
    pub this: bool,
}

/// The shared budget's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct SharedBudgetView {
    /// The Redis URL, without its password.
    pub url: String,
    pub egress_group: Option<String>,
    /// Redis answered the last charge or heartbeat.
    pub online: bool,
    /// Why it is offline ("shared budget offline: …").
    pub problem: Option<String>,
    pub instance: String,
    pub instances: Vec<SharedInstanceView>,
    /// The instances each limit is divided by while offline.
    pub alive: u32,
    /// The limits shared so far: `provider rule (scope)`.
    pub shared_limits: Vec<String>,
    /// Shared charges that went to Redis, and those spent from a reserved block instead.
    #[ts(type = "number")]
    pub round_trips: u64,
    #[ts(type = "number")]
    pub from_blocks: u64,
}

/// Units of a fixed window reserved in Redis for this instance.
struct Block {
    /// The window's Redis key (`…:<window index>`).
    window_key: String,
    left: f64,
    until: Instant,
}

struct State {
    online: bool,
    problem: Option<String>,
    retry_at: Option<Instant>,
    alive: u32,
    instances: Vec<SharedInstanceView>,
    spend: f64,
    /// While offline: this instance's share of each shared limit, by Redis key.
    fallback: HashMap<String, Window>,
    shared_limits: Vec<String>,
    /// Key label → the key's identity across machines (a hash of its public id).
    identities: HashMap<(String, String), String>,
    /// Reserved blocks by limit key.
    blocks: HashMap<String, Block>,
    round_trips: u64,
    from_blocks: u64,
}

/// Told `(online, problem)` when the store goes offline or comes back.
type OnChange = Box<dyn Fn(bool, Option<&str>) + Send + Sync>;

/// The pipeline's limiter when limits are shared: this instance's [`Limiter`] first, then the
/// shared limits in Redis (or the local share while it is offline).
pub struct SharedLimiter {
    local: Limiter,
    keys: Keys,
    clock: Arc<dyn Clock>,
    settings: SharedBudgetSettings,
    connect_url: String,
    instance: String,
    store: Mutex<Option<RedisStore>>,
    state: Mutex<State>,
    /// Told when the store goes offline or comes back (alerts).
    on_change: Mutex<Option<OnChange>>,
}

impl std::fmt::Debug for SharedLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedLimiter").field("url", &self.settings.url).field("instance", &self.instance).finish()
    }
}

/// The identity of a key across machines: the same API key gives the same id everywhere.
fn key_identity(api_key: &str) -> String {
    let digest = Sha256::digest(api_key.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// What a charge reserves beyond its amount: the rest of a block on a fixed window whose block
/// is at least twice the amount, else nothing.
fn block_extra(kind: RateLimitKind, capacity: f64, amount: f64) -> f64 {
    let block = (capacity * BLOCK_FRACTION).floor();
    if kind == RateLimitKind::FixedWindow && amount > 0.0 && block >= 2.0 * amount {
        block - amount
    } else {
        0.0
    }
}

/// `YYYY-MM|<ms to the end of the month>` (UTC) for monthly quotas.
fn month_period(now: DateTime<Utc>) -> String {
    let (y, m) = if now.month() == 12 { (now.year() + 1, 1) } else { (now.year(), now.month() + 1) };
    let end = Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).single().unwrap_or(now);
    let left = (end - now).num_milliseconds().max(1);
    format!("{}-{:02}|{left}", now.year(), now.month())
}

impl SharedLimiter {
    /// A shared limiter over `local`; connects to Redis in the background (offline until then).
    pub fn new(
        local: Limiter,
        keys: Keys,
        clock: Arc<dyn Clock>,
        settings: SharedBudgetSettings,
        password: Option<String>,
    ) -> Arc<Self> {
        // Host, process and a random part: two Keywards in one process (tests) are two instances.
        let instance = format!(
            "{}-{}-{:04x}",
            gethostname::gethostname().to_string_lossy().chars().filter(|c| !c.is_whitespace()).collect::<String>(),
            std::process::id(),
            rand::random::<u16>()
        );
        let connect_url = settings.connect_url(password.as_deref());
        Arc::new(Self {
            local,
            keys,
            clock,
            settings,
            connect_url,
            instance,
            store: Mutex::new(None),
            state: Mutex::new(State {
                online: false,
                problem: Some("shared budget offline: not connected yet".into()),
                retry_at: None,
                alive: 1,
                instances: Vec::new(),
                spend: 0.0,
                fallback: HashMap::new(),
                shared_limits: Vec::new(),
                identities: HashMap::new(),
                blocks: HashMap::new(),
                round_trips: 0,
                from_blocks: 0,
            }),
            on_change: Mutex::new(None),
        })
    }

    /// Calls `f(online, problem)` whenever the store goes offline or comes back.
    pub fn on_change(&self, f: impl Fn(bool, Option<&str>) + Send + Sync + 'static) {
        *self.on_change.lock().unwrap_or_else(|p| p.into_inner()) = Some(Box::new(f));
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn namespace(&self) -> &'static str {
        "kw"
    }

    fn pause_key(&self, provider: &str) -> String {
        format!("{}:{provider}:pause", self.namespace())
    }

    /// Whether `rule` is shared, and its Redis key for a call with `key_label`.
    fn shared_key(&self, provider: &str, rule: &RateLimitRule, key_label: Option<&str>) -> Option<String> {
        let scope = match rule.scope {
            RateLimitScope::Ip => format!("ip@{}", self.settings.egress_group.as_deref()?),
            RateLimitScope::Account | RateLimitScope::Key => match key_label {
                None => "default".to_string(),
                Some(label) => self.identity(provider, label),
            },
        };
        Some(format!("{}:{provider}:{}:{scope}", self.namespace(), rule.id))
    }

    fn identity(&self, provider: &str, label: &str) -> String {
        let cached = self.state().identities.get(&(provider.to_string(), label.to_string())).cloned();
        if let Some(id) = cached {
            return id;
        }
        let id = match self.keys.get(provider, label) {
            Ok(k) => key_identity(&k.api_key),
            Err(_) => format!("label-{label}"),
        };
        self.state().identities.insert((provider.to_string(), label.to_string()), id.clone());
        id
    }

    fn charges(
        &self,
        req: &Acquire<'_>,
        rules: &[ChargedRule],
        now: DateTime<Utc>,
    ) -> Vec<(SharedCharge, ChargedRule)> {
        rules
            .iter()
            .filter_map(|c| {
                let key = self.shared_key(req.provider, &c.rule, req.key_label)?;
                Some((
                    SharedCharge {
                        key,
                        kind: c.rule.kind,
                        capacity: (c.rule.limit - c.margin).max(0.0),
                        interval_ms: c.rule.interval_ms.unwrap_or(1000).max(1),
                        // As the local window derives it: the whole limit per interval when no
                        // rate is given (a counter that never drains waits "forever").
                        decay_per_sec: c
                            .rule
                            .decay_per_sec
                            .or_else(|| c.rule.interval_ms.map(|ms| c.rule.limit / (ms as f64 / 1000.0)))
                            .unwrap_or(0.0)
                            .max(1e-9),
                        amount: c.amount,
                        extra: block_extra(c.rule.kind, (c.rule.limit - c.margin).max(0.0), c.amount),
                        period: if c.rule.kind == RateLimitKind::MonthlyQuota {
                            month_period(now)
                        } else {
                            String::new()
                        },
                    },
                    c.clone(),
                ))
            })
            .collect()
    }

    fn set_online(&self, online: bool, problem: Option<String>) {
        let changed = {
            let mut st = self.state();
            let changed = st.online != online;
            st.online = online;
            st.problem = problem.clone();
            if online {
                st.fallback.clear();
                st.retry_at = None;
            } else {
                // Reserved units stay counted in Redis; they are simply not spent.
                st.blocks.clear();
                st.retry_at = Some(Instant::now() + RETRY_OFFLINE_AFTER);
            }
            changed
        };
        if changed {
            if online {
                tracing::info!(url = %self.settings.url, "the shared budget is online again");
            } else {
                tracing::warn!(
                    problem = problem.as_deref().unwrap_or(""),
                    "the shared budget is offline; keeping to a local share"
                );
            }
            if let Some(f) = self.on_change.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
                f(online, problem.as_deref());
            }
        }
    }

    async fn connected(&self) -> Option<RedisStore> {
        if let Some(s) = self.store.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Some(s);
        }
        match RedisStore::connect(&self.connect_url, &self.settings.url).await {
            Ok(s) => {
                *self.store.lock().unwrap_or_else(|p| p.into_inner()) = Some(s.clone());
                Some(s)
            }
            Err(e) => {
                self.set_online(false, Some(format!("shared budget offline: {e}")));
                None
            }
        }
    }

    /// Whether to ask Redis now (online, or the retry time after a failure has come).
    fn try_store(&self) -> bool {
        let st = self.state();
        st.online || st.retry_at.map_or(true, |t| Instant::now() >= t)
    }

    /// While offline: charges this instance's share of each limit, or says how long to wait.
    fn charge_fallback(
        &self,
        charges: &[(SharedCharge, ChargedRule)],
        req: &Acquire<'_>,
        now: DateTime<Utc>,
    ) -> Duration {
        let own: Vec<crate::ratelimit::LimitStatus> = self.local.snapshot();
        let mut st = self.state();
        let alive = f64::from(st.alive.max(1));
        let mut wait = Duration::ZERO;
        for (c, r) in charges {
            let window = st.fallback.entry(c.key.clone()).or_insert_with(|| {
                let share = r.rule.limit / alive;
                let mut w = Window::for_rule(&r.rule, share, r.margin / alive, Duration::from_secs(1));
                // Start from what this instance already spent in the window: with every instance
                // doing the same, together they stay within the limit.
                let scope = match r.rule.scope {
                    RateLimitScope::Ip => "ip",
                    _ => req.key_label.unwrap_or(crate::ratelimit::DEFAULT_SCOPE_KEY),
                };
                let spent = own
                    .iter()
                    .find(|s| s.provider == req.provider && s.limit_id == r.rule.id && s.scope_key == scope)
                    .map_or(0.0, |s| s.used);
                if spent > 0.0 {
                    w.take(spent.min(share), now);
                }
                w
            });
            wait = wait.max(window.eta(c.amount, now));
        }
        if wait.is_zero() {
            for (c, _) in charges {
                if let Some(w) = st.fallback.get_mut(&c.key) {
                    w.take(c.amount, now);
                }
            }
            st.spend += charges.iter().map(|(c, _)| c.amount).fold(0.0, |a, b| a + b);
        }
        wait
    }

    /// Spends the call from reserved blocks when every limit it touches has one with room;
    /// gives back the blocks that expired.
    fn spend_blocks(&self, charges: &[(SharedCharge, ChargedRule)]) -> bool {
        let now = Instant::now();
        let (fits, expired) = {
            let mut st = self.state();
            let expired = take_expired(&mut st.blocks, now);
            let fits = !charges.is_empty()
                && charges.iter().all(|(c, _)| st.blocks.get(&c.key).is_some_and(|b| b.left >= c.amount));
            if fits {
                for (c, _) in charges {
                    if let Some(b) = st.blocks.get_mut(&c.key) {
                        b.left -= c.amount;
                    }
                }
                st.from_blocks += 1;
                st.spend += charges.iter().map(|(c, _)| c.amount).fold(0.0, |a, b| a + b);
            }
            (fits, expired)
        };
        self.release(expired);
        fits
    }

    /// Keeps the blocks a charge reserved (replacing older ones of the same limits).
    fn keep_blocks(&self, charges: &[(SharedCharge, ChargedRule)], granted: &redis::Granted) {
        let mut replaced = Vec::new();
        {
            let mut st = self.state();
            st.round_trips += 1;
            for ((c, _), extra) in charges.iter().zip(&granted.extra) {
                if *extra <= 0.0 || c.kind != RateLimitKind::FixedWindow {
                    continue;
                }
                let interval = i64::try_from(c.interval_ms).unwrap_or(i64::MAX).max(1);
                let window = granted.now_ms.div_euclid(interval);
                let left_in_window = (window + 1) * interval - granted.now_ms;
                let ttl = BLOCK_TTL.min(Duration::from_millis(u64::try_from(left_in_window.max(0)).unwrap_or(0)));
                let block =
                    Block { window_key: format!("{}:{window}", c.key), left: *extra, until: Instant::now() + ttl };
                if let Some(old) = st.blocks.insert(c.key.clone(), block) {
                    replaced.push((old.window_key, old.left));
                }
            }
        }
        self.release(replaced);
    }

    /// Gives unspent reserved units back to their windows (in the background).
    fn release(&self, blocks: Vec<(String, f64)>) {
        let blocks: Vec<(String, f64)> = blocks.into_iter().filter(|(_, left)| *left > 0.0).collect();
        if blocks.is_empty() {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        let Some(store) = self.store.lock().unwrap_or_else(|p| p.into_inner()).clone() else { return };
        handle.spawn(async move {
            for (key, left) in blocks {
                if let Err(e) = store.release(&key, left).await {
                    tracing::debug!(error = %e, "could not give back reserved units (they stay counted)");
                }
            }
        });
    }

    /// Drops a provider's blocks (a 429 or 418 was seen) and gives their units back.
    fn drop_blocks(&self, provider: &str) {
        let prefix = format!("{}:{provider}:", self.namespace());
        let dropped: Vec<(String, f64)> = {
            let mut st = self.state();
            let keys: Vec<String> = st.blocks.keys().filter(|k| k.starts_with(&prefix)).cloned().collect();
            keys.into_iter().filter_map(|k| st.blocks.remove(&k)).map(|b| (b.window_key, b.left)).collect()
        };
        self.release(dropped);
    }

    async fn acquire_shared(&self, req: Acquire<'_>) -> Result<(), LimitError> {
        crate::pipeline::RateLimiter::acquire(&self.local, req.clone()).await?;
        let rules = self.local.rules_charged(req.provider, req.operation, req.weight);
        loop {
            let now = self.clock.now();
            let charges = self.charges(&req, &rules, now);
            if charges.is_empty() {
                return Ok(());
            }
            {
                let mut st = self.state();
                for (c, _) in &charges {
                    let name =
                        format!("{} {} ({})", req.provider, c.key.rsplit(':').nth(1).unwrap_or(""), scope_name(c));
                    if !st.shared_limits.contains(&name) {
                        st.shared_limits.push(name);
                    }
                }
            }
            if self.state().online && self.spend_blocks(&charges) {
                return Ok(());
            }
            let (wait, limit) = match self.try_store().then_some(()) {
                Some(()) => match self.connected().await {
                    Some(store) => {
                        let list: Vec<SharedCharge> = charges.iter().map(|(c, _)| c.clone()).collect();
                        match store.charge_reserving(&self.pause_key(req.provider), &list).await {
                            Ok((ChargeAnswer::Charged, granted)) => {
                                self.set_online(true, None);
                                if let Some(g) = &granted {
                                    self.keep_blocks(&charges, g);
                                }
                                self.state().spend += list.iter().map(|c| c.amount).fold(0.0, |a, b| a + b);
                                return Ok(());
                            }
                            Ok((ChargeAnswer::Wait { wait, limit }, _)) => {
                                self.set_online(true, None);
                                let name = limit.and_then(|i| charges.get(i)).map_or_else(
                                    || crate::ratelimit::PAUSE_LIMIT.to_string(),
                                    |(_, r)| r.rule.id.clone(),
                                );
                                (wait, name)
                            }
                            Err(e) => {
                                self.offline(&e);
                                (self.charge_fallback(&charges, &req, now), "shared budget offline".to_string())
                            }
                        }
                    }
                    None => (self.charge_fallback(&charges, &req, now), "shared budget offline".to_string()),
                },
                None => (self.charge_fallback(&charges, &req, now), "shared budget offline".to_string()),
            };
            if wait.is_zero() {
                return Ok(());
            }
            if let Some(deadline) = req.deadline {
                if Instant::now() + wait > deadline {
                    return Err(LimitError::WouldExceedDeadline { provider: req.provider.to_string(), limit, wait });
                }
            }
            tokio::time::sleep(wait.min(RETRY_OFFLINE_AFTER)).await;
        }
    }

    fn offline(&self, e: &StoreOffline) {
        self.set_online(false, Some(format!("shared budget offline: {e}")));
    }

    /// Says this instance is alive, learns who else is, and rejoins after an outage. Run every
    /// [`HEARTBEAT_EVERY`] by [`SharedLimiter::run`].
    pub async fn heartbeat(&self) {
        let expired = take_expired(&mut self.state().blocks, Instant::now());
        self.release(expired);
        let Some(store) = self.connected().await else { return };
        let spend = format!("{}", self.state().spend);
        match store.heartbeat(&format!("{}:instances", self.namespace()), &self.instance, &spend).await {
            Ok(seen) => {
                {
                    let mut st = self.state();
                    st.alive = u32::try_from(seen.len().max(1)).unwrap_or(u32::MAX);
                    st.instances = seen
                        .into_iter()
                        .map(|(id, ago, spend)| SharedInstanceView {
                            this: id == self.instance,
                            id,
                            seen_secs_ago: ago,
                            spend: spend.parse().unwrap_or(0.0),
                        })
                        .collect();
                }
                self.set_online(true, None);
            }
            Err(e) => self.offline(&e),
        }
    }

    /// Heartbeats until `cancel`.
    pub fn run(self: &Arc<Self>, cancel: tokio_util::sync::CancellationToken) -> tokio::task::JoinHandle<()> {
        let me = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                me.heartbeat().await;
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep(HEARTBEAT_EVERY) => {}
                }
            }
        })
    }

    /// Whether limits of this scope (`ip`, `account`, `key`) are shared.
    pub fn shares_scope(&self, scope: &str) -> bool {
        match scope {
            "ip" => self.settings.egress_group.is_some(),
            _ => true,
        }
    }

    /// The state for the Rate limits page, `keyward limits` and the control API.
    pub fn view(&self) -> SharedBudgetView {
        let st = self.state();
        SharedBudgetView {
            url: self.settings.url.clone(),
            egress_group: self.settings.egress_group.clone(),
            online: st.online,
            problem: st.problem.clone(),
            instance: self.instance.clone(),
            instances: st.instances.clone(),
            alive: st.alive,
            shared_limits: st.shared_limits.clone(),
            round_trips: st.round_trips,
            from_blocks: st.from_blocks,
        }
    }

    /// After an answer: a 429/418 pauses every instance; usage headers raise the shared count.
    fn observe_shared(&self, call: Answered<'_>, status: u16, headers: &reqwest::header::HeaderMap) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        let Some(store) = self.store.lock().unwrap_or_else(|p| p.into_inner()).clone() else { return };
        let now = self.clock.now();
        if status == 429 || status == 418 {
            self.drop_blocks(call.provider);
            let cfg = self.local.config();
            let default = if status == 418 { cfg.default_ban } else { cfg.default_retry_after };
            let pause = crate::http_headers::retry_after(headers, now).unwrap_or(default);
            let key = self.pause_key(call.provider);
            handle.spawn(async move {
                if let Err(e) = store.pause(&key, pause).await {
                    tracing::warn!(error = %e, "could not pause the other instances");
                }
            });
            return;
        }
        // What the exchange reported, as the local limiter adopted it (only ever upwards).
        let rules = self.local.rules_charged(call.provider, call.operation, 1);
        let statuses = self.local.snapshot();
        for r in rules.iter().filter(|r| r.rule.weight_header.is_some() || r.rule.remaining_header.is_some()) {
            let Some(base) = self.shared_key(call.provider, &r.rule, call.key_label) else { continue };
            let scope = match r.rule.scope {
                RateLimitScope::Ip => "ip",
                _ => call.key_label.unwrap_or(crate::ratelimit::DEFAULT_SCOPE_KEY),
            };
            let Some(used) = statuses
                .iter()
                .find(|s| s.provider == call.provider && s.limit_id == r.rule.id && s.scope_key == scope)
                .map(|s| s.used)
            else {
                continue;
            };
            let (key, ttl) = match r.rule.kind {
                RateLimitKind::FixedWindow => {
                    let interval = r.rule.interval_ms.unwrap_or(1000).max(1);
                    let w = now.timestamp_millis().max(0) as u64 / interval;
                    (format!("{base}:{w}"), Duration::from_millis(interval + 1000))
                }
                RateLimitKind::MonthlyQuota => {
                    let period = month_period(now);
                    let (month, left) = period.split_once('|').unwrap_or(("", "0"));
                    (format!("{base}:{month}"), Duration::from_millis(left.parse().unwrap_or(0) + 86_400_000))
                }
                RateLimitKind::SlidingWindow | RateLimitKind::PoolWindow => {
                    (base, Duration::from_millis(r.rule.interval_ms.unwrap_or(1000).max(1) + 1000))
                }
                RateLimitKind::DecayingCounter => {
                    let rate = r.rule.decay_per_sec.unwrap_or(1.0).max(1e-9);
                    (base, Duration::from_millis((r.rule.limit / rate * 1000.0) as u64 + 1000))
                }
            };
            let kind = r.rule.kind;
            let store = store.clone();
            handle.spawn(async move {
                if let Err(e) = store.raise(&key, kind, used, ttl).await {
                    tracing::debug!(error = %e, "could not raise a shared count");
                }
            });
        }
    }
}

/// Removes the blocks whose time is up; returns their window keys and unspent units.
fn take_expired(blocks: &mut HashMap<String, Block>, now: Instant) -> Vec<(String, f64)> {
    let keys: Vec<String> = blocks.iter().filter(|(_, b)| b.until <= now).map(|(k, _)| k.clone()).collect();
    keys.into_iter().filter_map(|k| blocks.remove(&k)).map(|b| (b.window_key, b.left)).collect()
}

fn scope_name(c: &SharedCharge) -> &'static str {
    if c.key.contains(":ip@") {
        "egress group"
    } else {
        "account or key"
    }
}

impl RateLimiter for SharedLimiter {
    fn acquire<'a>(&'a self, req: Acquire<'a>) -> LimitFuture<'a, Result<(), LimitError>> {
        Box::pin(self.acquire_shared(req))
    }

    fn observe(&self, call: Answered<'_>, status: u16, headers: &reqwest::header::HeaderMap) {
        crate::pipeline::RateLimiter::observe(&self.local, call, status, headers);
        self.observe_shared(call, status, headers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_kept_apart_and_never_shown() {
        let (s, pass) = SharedBudgetSettings::parse("redis://:s3cr%40t@10.0.0.5:6380/2", Some(" home-office ".into()))
            .expect("valid");
        assert_eq!(s.url, "redis://10.0.0.5:6380/2");
        assert_eq!(pass.as_deref(), Some("s3cr@t"));
        assert_eq!(s.egress_group.as_deref(), Some("home-office"));
        assert!(s.connect_url(pass.as_deref()).contains("s3cr"), "connects with it");
        assert_eq!(strip_password("redis://:s3cr@h:1"), "redis://:***@h:1");

        let err = SharedBudgetSettings::parse("http://:pw@host:6379", None).expect_err("not redis").to_string();
        assert!(err.starts_with("url = http://:***@host:6379"), "{err}");
        assert!(!err.contains("pw@"), "{err}");
        let err = SharedBudgetSettings::parse("redis://h:1", Some("two words".into())).expect_err("group").to_string();
        assert!(err.starts_with("egressGroup = two words"), "{err}");
    }

    #[test]
    fn a_month_period_counts_to_the_first_of_the_next_month_in_utc() {
        let at = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 0).single().expect("time");
        assert_eq!(month_period(at), "2026-12|60000");
    }
}
