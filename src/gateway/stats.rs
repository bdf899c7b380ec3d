//! Live numbers per bot for the Gateway page and `keyward gateway status`: requests, their
//! rate over the last 10 s, weight spent, waits, refusals by reason and the last error. Memory
//! only; usage history is in the calls table like every other caller's.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The window of the requests-per-second figure.
const RATE_WINDOW: Duration = Duration::from_secs(10);
/// Name under which refusals without a known token are counted.
pub const UNKNOWN_BOT: &str = "(no valid token)";

/// Why a request was refused before it reached the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Refusal {
    NoToken,
    UnknownToken,
    Disabled,
    WrongProvider,
    Ip,
    Scope,
    /// The budget would not have been free before the token's deadline.
    Deadline,
    BadRequest,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NoToken => "noToken",
            Refusal::UnknownToken => "unknownToken",
            Refusal::Disabled => "disabled",
            Refusal::WrongProvider => "wrongProvider",
            Refusal::Ip => "ip",
            Refusal::Scope => "scope",
            Refusal::Deadline => "deadline",
            Refusal::BadRequest => "badRequest",
        }
    }
}

#[derive(Debug, Default)]
struct Bot {
    requests: u64,
    answered: u64,
    exchange_errors: u64,
    weight: u64,
    waited_ms: u64,
    max_wait_ms: u64,
    refused: BTreeMap<&'static str, u64>,
    last_error: Option<String>,
    last_seen: Option<DateTime<Utc>>,
    recent: VecDeque<Instant>,
}

/// One bot's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "camelCase")]
#[ts(export)]
pub struct BotStats {
    pub name: String,
    /// Requests that reached the exchange.
    #[ts(type = "number")]
    pub requests: u64,
    /// Of those, answered with 2xx.
    #[ts(type = "number")]
    pub answered: u64,
    /// Answered with another status by the exchange.
    #[ts(type = "number")]
    pub exchange_errors: u64,
    /// Over the last 10 s.
    pub per_second: f64,
    #[ts(type = "number")]
    pub weight: u64,
    #[ts(type = "number")]
    pub waited_ms: u64,
    #[ts(type = "number")]
    pub max_wait_ms: u64,
    /// Refusals by reason (`scope`, `ip`, `deadline`, …).
    #[ts(type = "Record<string, number>")]
    pub refused: BTreeMap<String, u64>,
    pub last_error: Option<String>,
    /// RFC 3339.
    #[ts(type = "string | null")]
    pub last_seen: Option<DateTime<Utc>>,
}

/// Shared by the gateway server and whoever reports on it. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    bots: Arc<Mutex<HashMap<String, Bot>>>,
}

impl Stats {
    fn with<R>(&self, name: &str, f: impl FnOnce(&mut Bot) -> R) -> R {
        let mut bots = self.bots.lock().unwrap_or_else(|p| p.into_inner());
        let bot = bots.entry(name.to_string()).or_default();
        bot.last_seen = Some(Utc::now());
        f(bot)
    }

    /// A request that reached the exchange: its weight, wait and status.
    pub fn forwarded(&self, name: &str, weight: u32, waited: Duration, status: u16) {
        self.with(name, |b| {
            b.requests += 1;
            b.weight += u64::from(weight);
            let ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
            b.waited_ms += ms;
            b.max_wait_ms = b.max_wait_ms.max(ms);
            if (200..300).contains(&status) {
                b.answered += 1;
            } else {
                b.exchange_errors += 1;
                b.last_error = Some(format!("the exchange answered HTTP {status}"));
            }
            let now = Instant::now();
            b.recent.push_back(now);
            while b.recent.front().is_some_and(|t| now.duration_since(*t) > RATE_WINDOW) {
                b.recent.pop_front();
            }
        });
    }

    pub fn refused(&self, name: &str, why: Refusal, message: &str) {
        self.with(name, |b| {
            *b.refused.entry(why.as_str()).or_default() += 1;
            b.last_error = Some(message.to_string());
        });
    }

    pub fn failed(&self, name: &str, message: &str) {
        self.with(name, |b| b.last_error = Some(message.to_string()));
    }

    /// Every bot seen since the gateway started, by name.
    pub fn snapshot(&self) -> Vec<BotStats> {
        let now = Instant::now();
        let bots = self.bots.lock().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<BotStats> = bots
            .iter()
            .map(|(name, b)| {
                let recent = b.recent.iter().filter(|t| now.duration_since(**t) <= RATE_WINDOW).count();
                BotStats {
                    name: name.clone(),
                    requests: b.requests,
                    answered: b.answered,
                    exchange_errors: b.exchange_errors,
                    per_second: recent as f64 / RATE_WINDOW.as_secs_f64(),
                    weight: b.weight,
                    waited_ms: b.waited_ms,
                    max_wait_ms: b.max_wait_ms,
                    refused: b.refused.iter().map(|(k, v)| ((*k).to_string(), *v)).collect(),
                    last_error: b.last_error.clone(),
                    last_seen: b.last_seen,
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}
