//! Bot tokens: created once (shown once), stored as a SHA-256 hash, listed, disabled, rotated
//! and revoked. Every change is audited. Lookups by the gateway go through a one-second cache,
//! so a token disabled or revoked from another process stops working within a second.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use rand::RngCore;
use rusqlite::{params, OptionalExtension};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::audit::{Actor, Audit, AuditEvent, AuditKind};
use crate::store::{Store, StoreError};

/// Every token starts with this, so a leaked one is recognisable (and secret scanners can
/// look for it).
pub const TOKEN_PREFIX: &str = "kwg_";
/// How long a bot waits for budget unless its token says otherwise.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(5);
/// The longest wait limit a token may have.
pub const MAX_WAIT_LIMIT: Duration = Duration::from_secs(60);
/// How long a looked-up token is trusted before it is read again.
const CACHE_FOR: Duration = Duration::from_secs(1);
const CACHE_CAP: usize = 4096;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TokenScope {
    /// Public market data.
    Market,
    /// Account reads (balances, orders).
    Read,
    /// Placing and cancelling orders.
    Trade,
    /// Withdrawals: only when asked for explicitly.
    Withdraw,
}

impl TokenScope {
    pub const ALL: [TokenScope; 4] = [TokenScope::Market, TokenScope::Read, TokenScope::Trade, TokenScope::Withdraw];

    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Market => "market",
            TokenScope::Read => "read",
            TokenScope::Trade => "trade",
            TokenScope::Withdraw => "withdraw",
        }
    }
}

/// A set of scopes, written `market,read,trade`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenScopes(Vec<TokenScope>);

impl TokenScopes {
    pub fn allows(&self, scope: TokenScope) -> bool {
        self.0.contains(&scope)
    }
}

impl std::fmt::Display for TokenScopes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.0.iter().map(|s| s.as_str()).collect();
        f.write_str(&names.join(","))
    }
}

impl FromStr for TokenScopes {
    type Err = TokenError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut scopes = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let scope =
                TokenScope::ALL.into_iter().find(|x| x.as_str() == part.to_ascii_lowercase()).ok_or_else(|| {
                    TokenError::Invalid {
                        field: "scopes",
                        value: part.to_string(),
                        expected: "market, read, trade or withdraw".into(),
                    }
                })?;
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
        if scopes.is_empty() {
            return Err(TokenError::Invalid {
                field: "scopes",
                value: s.to_string(),
                expected: "at least one of market, read, trade, withdraw".into(),
            });
        }
        scopes.sort();
        Ok(Self(scopes))
    }
}

/// A token as listed (never the token itself).
#[derive(Debug, Clone, PartialEq)]
pub struct BotToken {
    pub id: i64,
    pub name: String,
    pub provider: String,
    /// The key it signs with; `None` for market data only.
    pub key_label: Option<String>,
    pub scopes: TokenScopes,
    /// Source addresses allowed (empty: loopback only).
    pub allow_ips: Vec<ipnet::IpNet>,
    pub max_wait: Duration,
    /// The part (0–1] of each of the provider's limits the bot may use; `None`: no cap.
    pub max_share: Option<f64>,
    /// The token's first characters, to tell tokens apart.
    pub hint: String,
    pub created_at: DateTime<Utc>,
    pub rotated_at: Option<DateTime<Utc>>,
    pub disabled: bool,
}

/// What a new token is for.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub name: String,
    pub provider: String,
    pub key_label: Option<String>,
    pub scopes: TokenScopes,
    pub allow_ips: Vec<ipnet::IpNet>,
    pub max_wait: Option<Duration>,
    /// See [`BotToken::max_share`].
    pub max_share: Option<f64>,
}

/// A token just created or rotated: the only time its text exists outside the bot.
pub struct IssuedToken {
    pub token: BotToken,
    pub secret: secrecy::SecretString,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken").field("token", &self.token).finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{field} \"{value}\" is not valid: expected {expected}")]
    Invalid { field: &'static str, value: String, expected: String },
    #[error("there is already a gateway token named \"{0}\"; pick another name or rotate that one")]
    Exists(String),
    #[error("there is no gateway token named \"{0}\" (see `keyward gateway token list`)")]
    NotFound(String),
    #[error(
        "the withdraw scope lets the bot move funds off the exchange; pass --allow-withdraw (or confirm in the app) \
         if that is really what it needs"
    )]
    WithdrawNeedsConfirmation,
    #[error(
        "binding the gateway to {addr} lets other machines (or containers) connect to it, not only this one: anyone \
         who can reach this machine there and holds a token can trade with your keys. Keyward will then serve HTTPS only, with a certificate it generates, \
         and each token works only from the addresses it allows (--allow-ip). Confirm (--yes, or the checkbox in \
         the app) if that is what you want"
    )]
    BindNeedsConfirmation { addr: std::net::IpAddr },
    #[error(transparent)]
    Tls(#[from] super::tls::TlsError),
}

impl From<rusqlite::Error> for TokenError {
    fn from(e: rusqlite::Error) -> Self {
        TokenError::Store(StoreError::Sql(e))
    }
}

impl TokenError {
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            TokenError::Store(_) => crate::ErrorKind::Storage,
            TokenError::Invalid { .. } => crate::ErrorKind::Invalid,
            TokenError::Exists(_) => crate::ErrorKind::Duplicate,
            TokenError::NotFound(_) => crate::ErrorKind::NotFound,
            TokenError::WithdrawNeedsConfirmation | TokenError::BindNeedsConfirmation { .. } => {
                crate::ErrorKind::ConfirmationNeeded
            }
            TokenError::Tls(e) => e.kind(),
        }
    }
}

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn generate() -> String {
    let mut raw = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw))
}

fn hint_of(token: &str) -> String {
    format!("{}…", &token[..TOKEN_PREFIX.len() + 6])
}

/// A name for a token or an incoming hook: 1–64 letters, digits, '-', '_' or '.', so it reads
/// the same in a URL, a log line and a shell.
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn check_name(name: &str) -> Result<(), TokenError> {
    if is_plain_name(name) {
        Ok(())
    } else {
        Err(TokenError::Invalid {
            field: "name",
            value: name.to_string(),
            expected: "1–64 letters, digits, '-', '_' or '.'".into(),
        })
    }
}

/// Parses `--max-share` values: `40%`, `40 %` or `0.4`.
pub fn parse_share(value: &str) -> Result<f64, TokenError> {
    let v = value.trim();
    let parsed = match v.strip_suffix('%') {
        Some(pct) => pct.trim().parse::<f64>().map(|p| p / 100.0),
        None => v.parse::<f64>(),
    };
    match parsed {
        Ok(f) if f.is_finite() && f > 0.0 && f <= 1.0 => Ok(f),
        _ => Err(TokenError::Invalid {
            field: "max_share",
            value: value.to_string(),
            expected: "a share such as 40% or 0.4 (above 0, at most 100 %)".into(),
        }),
    }
}

/// Parses `--allow-ip` values: CIDRs or single addresses.
pub fn parse_allow_ip(value: &str) -> Result<ipnet::IpNet, TokenError> {
    let v = value.trim();
    v.parse::<ipnet::IpNet>().or_else(|_| v.parse::<std::net::IpAddr>().map(ipnet::IpNet::from)).map_err(|_| {
        TokenError::Invalid {
            field: "allow_ip",
            value: value.to_string(),
            expected: "an address or CIDR such as 192.168.1.0/24".into(),
        }
    })
}

const COLUMNS: &str =
    "id, name, provider, key_label, scopes, allow_ips, max_wait_ms, hint, created_at, rotated_at, disabled, max_share";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<BotToken> {
    let scopes: String = r.get(4)?;
    let ips: String = r.get(5)?;
    let parse_ts = |s: String| DateTime::parse_from_rfc3339(&s).map(|t| t.with_timezone(&Utc)).unwrap_or_default();
    Ok(BotToken {
        id: r.get(0)?,
        name: r.get(1)?,
        provider: r.get(2)?,
        key_label: r.get(3)?,
        scopes: scopes.parse().unwrap_or_default(),
        allow_ips: serde_json::from_str::<Vec<String>>(&ips)
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s.parse().ok())
            .collect(),
        max_wait: Duration::from_millis(r.get::<_, i64>(6)?.max(0) as u64),
        hint: r.get(7)?,
        created_at: parse_ts(r.get(8)?),
        rotated_at: r.get::<_, Option<String>>(9)?.map(parse_ts),
        disabled: r.get::<_, i64>(10)? != 0,
        max_share: r.get(11)?,
    })
}

/// Looked-up tokens by hash, with when they were read (`None`: no such token).
type TokenCache = Arc<Mutex<HashMap<String, (Instant, Option<BotToken>)>>>;

/// The token store. Cheap to clone.
#[derive(Clone)]
pub struct Tokens {
    store: Store,
    audit: Audit,
    actor: Actor,
    cache: TokenCache,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens").finish_non_exhaustive()
    }
}

impl Tokens {
    pub fn new(store: Store, audit: Audit, actor: Actor) -> Self {
        Self { store, audit, actor, cache: Arc::new(Mutex::new(HashMap::new())) }
    }

    fn audit(&self, kind: AuditKind, token: &BotToken, detail: serde_json::Value) {
        let mut event = AuditEvent::new(self.actor, kind).provider(token.provider.clone()).detail(detail);
        event.key_label = token.key_label.clone();
        if let Err(e) = self.audit.append(event, Utc::now()) {
            tracing::error!(error = %e, "could not audit a gateway token change");
        }
    }

    /// Creates a token. The withdraw scope needs `allow_withdraw`. Blocking.
    pub fn create(&self, new: NewToken, allow_withdraw: bool, now: DateTime<Utc>) -> Result<IssuedToken, TokenError> {
        check_name(&new.name)?;
        if let Some(share) = new.max_share.filter(|f| !(f.is_finite() && *f > 0.0 && *f <= 1.0)) {
            return Err(TokenError::Invalid {
                field: "max_share",
                value: share.to_string(),
                expected: "a share above 0 and at most 100 %".into(),
            });
        }
        if new.scopes.allows(TokenScope::Withdraw) && !allow_withdraw {
            return Err(TokenError::WithdrawNeedsConfirmation);
        }
        let secret = generate();
        let ips: Vec<String> = new.allow_ips.iter().map(ToString::to_string).collect();
        let max_wait = new.max_wait.unwrap_or(DEFAULT_MAX_WAIT);
        let id = self.store.with_conn(|c| {
            let exists: Option<i64> =
                c.query_row("SELECT id FROM gateway_tokens WHERE name = ?1", [&new.name], |r| r.get(0)).optional()?;
            if exists.is_some() {
                return Ok(None);
            }
            c.execute(
                "INSERT INTO gateway_tokens (name, provider, key_label, scopes, allow_ips, max_wait_ms, token_hash, hint, created_at, max_share)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    new.name,
                    new.provider,
                    new.key_label,
                    new.scopes.to_string(),
                    serde_json::to_string(&ips).unwrap_or_else(|_| "[]".into()),
                    i64::try_from(max_wait.as_millis()).unwrap_or(i64::MAX),
                    hash(&secret),
                    hint_of(&secret),
                    now.to_rfc3339(),
                    new.max_share,
                ],
            )?;
            Ok(Some(c.last_insert_rowid()))
        })?;
        let Some(id) = id else { return Err(TokenError::Exists(new.name)) };
        let token = self.get_by_id(id)?;
        self.audit(
            AuditKind::GatewayTokenCreated,
            &token,
            json!({"name": token.name, "scopes": token.scopes.to_string(), "allow_ips": ips, "hint": token.hint,
                   "max_share": token.max_share}),
        );
        Ok(IssuedToken { token, secret: secrecy::SecretString::from(secret) })
    }

    fn get_by_id(&self, id: i64) -> Result<BotToken, TokenError> {
        Ok(self.store.with_conn(|c| {
            Ok(c.query_row(&format!("SELECT {COLUMNS} FROM gateway_tokens WHERE id = ?1"), [id], from_row)?)
        })?)
    }

    pub fn get(&self, name: &str) -> Result<BotToken, TokenError> {
        self.store
            .with_conn(|c| {
                Ok(c.query_row(&format!("SELECT {COLUMNS} FROM gateway_tokens WHERE name = ?1"), [name], from_row)
                    .optional()?)
            })?
            .ok_or_else(|| TokenError::NotFound(name.to_string()))
    }

    pub fn list(&self) -> Result<Vec<BotToken>, TokenError> {
        Ok(self.store.with_conn(|c| {
            let mut stmt = c.prepare(&format!("SELECT {COLUMNS} FROM gateway_tokens ORDER BY name"))?;
            let rows = stmt.query_map([], from_row)?.collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })?)
    }

    /// Disables (`true`) or enables a token.
    pub fn set_disabled(&self, name: &str, disabled: bool) -> Result<BotToken, TokenError> {
        let token = self.get(name)?;
        self.store.with_conn(|c| {
            c.execute("UPDATE gateway_tokens SET disabled = ?1 WHERE id = ?2", params![disabled, token.id])?;
            Ok(())
        })?;
        self.forget();
        self.audit(
            AuditKind::GatewayTokenChanged,
            &token,
            json!({"name": name, "action": if disabled { "disabled" } else { "enabled" }}),
        );
        self.get(name)
    }

    /// Replaces a token's text; the old one stops working at once.
    pub fn rotate(&self, name: &str, now: DateTime<Utc>) -> Result<IssuedToken, TokenError> {
        let token = self.get(name)?;
        let secret = generate();
        self.store.with_conn(|c| {
            c.execute(
                "UPDATE gateway_tokens SET token_hash = ?1, hint = ?2, rotated_at = ?3 WHERE id = ?4",
                params![hash(&secret), hint_of(&secret), now.to_rfc3339(), token.id],
            )?;
            Ok(())
        })?;
        self.forget();
        let token = self.get(name)?;
        self.audit(
            AuditKind::GatewayTokenChanged,
            &token,
            json!({"name": name, "action": "rotated", "hint": token.hint}),
        );
        Ok(IssuedToken { token, secret: secrecy::SecretString::from(secret) })
    }

    /// Deletes a token for good.
    pub fn revoke(&self, name: &str) -> Result<(), TokenError> {
        let token = self.get(name)?;
        self.store.with_conn(|c| {
            c.execute("DELETE FROM gateway_tokens WHERE id = ?1", [token.id])?;
            Ok(())
        })?;
        self.forget();
        self.audit(AuditKind::GatewayTokenRevoked, &token, json!({"name": name, "hint": token.hint}));
        Ok(())
    }

    /// Drops every looked-up token, so a change made by another process (disable, rotate,
    /// revoke from the CLI) applies to the next request.
    pub fn forget(&self) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// What [`Tokens::authenticate`] would answer from its cache, without blocking; `None` when
    /// the database must be asked.
    pub fn cached(&self, presented: &str) -> Option<Option<BotToken>> {
        let h = hash(presented);
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.get(&h).filter(|(at, _)| at.elapsed() < CACHE_FOR).map(|(_, found)| found.clone())
    }

    /// The token whose text is `presented`, if it exists (disabled ones too: the caller says
    /// why it refuses). Compared by hash: the database lookup is by the SHA-256 of the text, and
    /// the stored hash is compared again in constant time. Cached for a second.
    pub fn authenticate(&self, presented: &str) -> Result<Option<BotToken>, TokenError> {
        if !presented.starts_with(TOKEN_PREFIX) || presented.len() > 128 {
            return Ok(None);
        }
        if let Some(found) = self.cached(presented) {
            return Ok(found);
        }
        let h = hash(presented);
        let found = self.store.with_conn(|c| {
            Ok(c.query_row(
                &format!("SELECT {COLUMNS}, token_hash FROM gateway_tokens WHERE token_hash = ?1"),
                [&h],
                |r| Ok((from_row(r)?, r.get::<_, String>(12)?)),
            )
            .optional()?)
        })?;
        let found = found.and_then(|(token, stored)| {
            bool::from(subtle::ConstantTimeEq::ct_eq(stored.as_bytes(), h.as_bytes())).then_some(token)
        });
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_CAP {
            cache.clear();
        }
        cache.insert(h, (Instant::now(), found.clone()));
        Ok(found)
    }
}
