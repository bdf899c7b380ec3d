//! The shared budget's store: Redis, through the `redis` crate's multiplexed connection
//! manager (reconnects by itself). One Lua script charges a call on all its shared limits, all
//! or none, on the server's clock; others raise a limit to what an exchange reported, pause a
//! provider for everyone, and keep the instances' heartbeats.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::Script;

use crate::provider::RateLimitKind;

/// How long one Redis command may take before the instance treats the store as offline.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);
/// An instance whose heartbeat is older than this is no longer counted.
pub const ALIVE_FOR: Duration = Duration::from_secs(15);

const CHARGE: &str = include_str!("charge.lua");

const RAISE: &str = r"
-- KEYS[1] the limit's key (with its window or month), ARGV[1] used, ARGV[2] ttl ms, ARGV[3] kind,
-- ARGV[4] the window's length in ms (sliding windows)
local kind, used = ARGV[3], tonumber(ARGV[1])
if kind == 'decaying_counter' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
  if used > v then redis.call('HSET', KEYS[1], 'v', used, 't', now) end
elseif kind == 'pool_window' then
  local u = tonumber(redis.call('HGET', KEYS[1], 'u') or '-1')
  if u >= 0 and used > u then redis.call('HSET', KEYS[1], 'u', used) end
elseif kind == 'sliding_window' then
  -- An entry now for what the exchange counted beyond the entries in the window.
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[4]))
  local entries = redis.call('ZRANGE', KEYS[1], 0, -1)
  local sum = 0
  for j = 1, #entries do sum = sum + tonumber(string.match(entries[j], ':([^:]+)$')) end
  if used > sum then
    local seq = redis.call('INCR', KEYS[1] .. ':seq')
    redis.call('ZADD', KEYS[1], now, now .. ':' .. seq .. ':' .. (used - sum))
  end
else
  local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
  if used > cur then redis.call('SET', KEYS[1], used) end
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

const WINDOW_NOW: &str = r"
local t = redis.call('TIME')
return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
";

/// One limit of a charge.
#[derive(Debug, Clone, PartialEq)]
pub struct SharedCharge {
    /// `kw:<namespace>:<provider>:<rule>:<scope>`.
    pub key: String,
    pub kind: RateLimitKind,
    /// The limit minus its safety margin.
    pub capacity: f64,
    pub interval_ms: u64,
    pub decay_per_sec: f64,
    pub amount: f64,
    /// Monthly quotas: `YYYY-MM|<ms to the month's end>` (the month is the caller's, in UTC).
    pub period: String,
    /// Fixed windows: units to reserve for this instance beyond `amount`, as far as they fit
    /// (a block later calls spend without a round trip). 0: none.
    pub extra: f64,
}

/// A charge that went through: the server's time and the extra units granted per limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Granted {
    pub now_ms: i64,
    pub extra: Vec<f64>,
}

/// What the store answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeAnswer {
    Charged,
    /// Does not fit now: try again after `wait`; `limit` is the index of the charge that
    /// holds it up (`None`: the provider is paused for everyone).
    Wait {
        wait: Duration,
        limit: Option<usize>,
    },
}

/// Why the store could not answer (the instance then keeps to its local share).
#[derive(Debug, thiserror::Error)]
pub enum StoreOffline {
    #[error("the shared budget at {url} did not answer within {timeout:?}")]
    Timeout { url: String, timeout: Duration },
    #[error("the shared budget at {url} failed: {message}")]
    Redis { url: String, message: String },
}

/// The Redis connection (cheap to clone).
#[derive(Clone)]
pub struct RedisStore {
    url: String,
    conn: ConnectionManager,
    charge: Script,
    raise: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("url", &self.url).finish_non_exhaustive()
    }
}

fn kind_name(kind: RateLimitKind) -> &'static str {
    match kind {
        RateLimitKind::FixedWindow => "fixed_window",
        RateLimitKind::SlidingWindow => "sliding_window",
        RateLimitKind::DecayingCounter => "decaying_counter",
        RateLimitKind::PoolWindow => "pool_window",
        RateLimitKind::MonthlyQuota => "monthly_quota",
    }
}

impl RedisStore {
    /// Connects to `url` (`redis://` or `rediss://`; the password, if any, inside it).
    /// `shown` is the URL without its password, for messages.
    pub async fn connect(url: &str, shown: &str) -> Result<Self, StoreOffline> {
        let offline = |e: redis::RedisError| StoreOffline::Redis { url: shown.to_string(), message: e.to_string() };
        let client = redis::Client::open(url).map_err(offline)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(COMMAND_TIMEOUT)
            .set_response_timeout(COMMAND_TIMEOUT)
            .set_number_of_retries(1);
        let conn = tokio::time::timeout(COMMAND_TIMEOUT * 4, ConnectionManager::new_with_config(client, config))
            .await
            .map_err(|_| StoreOffline::Timeout { url: shown.to_string(), timeout: COMMAND_TIMEOUT * 4 })?
            .map_err(offline)?;
        Ok(Self { url: shown.to_string(), conn, charge: Script::new(CHARGE), raise: Script::new(RAISE) })
    }

    /// The URL (without its password).
    pub fn url(&self) -> &str {
        &self.url
    }

    fn offline(&self, e: redis::RedisError) -> StoreOffline {
        StoreOffline::Redis { url: self.url.clone(), message: e.to_string() }
    }

    async fn timed<T>(
        &self,
        work: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreOffline> {
        match tokio::time::timeout(COMMAND_TIMEOUT, work).await {
            Ok(r) => r.map_err(|e| self.offline(e)),
            Err(_) => Err(StoreOffline::Timeout { url: self.url.clone(), timeout: COMMAND_TIMEOUT }),
        }
    }

    /// Charges every limit in `charges` or none (one round trip).
    pub async fn charge(&self, pause_key: &str, charges: &[SharedCharge]) -> Result<ChargeAnswer, StoreOffline> {
        Ok(self.charge_reserving(pause_key, charges).await?.0)
    }

    /// Like [`RedisStore::charge`], with what was granted beyond the amounts (`None` when it
    /// waits).
    pub async fn charge_reserving(
        &self,
        pause_key: &str,
        charges: &[SharedCharge],
    ) -> Result<(ChargeAnswer, Option<Granted>), StoreOffline> {
        let mut inv = self.charge.prepare_invoke();
        inv.key(pause_key);
        inv.arg(charges.len());
        for c in charges {
            inv.key(&c.key);
            inv.arg(kind_name(c.kind))
                .arg(c.capacity)
                .arg(c.interval_ms)
                .arg(c.decay_per_sec)
                .arg(c.amount)
                .arg(&c.period)
                .arg(c.extra.max(0.0));
        }
        let mut conn = self.conn.clone();
        let reply: Vec<redis::Value> = self.timed(inv.invoke_async(&mut conn)).await?;
        let int = |i: usize| match reply.get(i) {
            Some(redis::Value::Int(n)) => *n,
            _ => 0,
        };
        let text = |i: usize| match reply.get(i) {
            Some(redis::Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
            Some(redis::Value::SimpleString(s)) => s.clone(),
            Some(redis::Value::Int(n)) => n.to_string(),
            _ => String::new(),
        };
        if int(0) == 1 {
            let extra = (0..charges.len()).map(|i| text(4 + i).parse::<f64>().unwrap_or(0.0)).collect();
            return Ok((ChargeAnswer::Charged, Some(Granted { now_ms: int(3), extra })));
        }
        let limit = text(2).parse::<usize>().ok().map(|i| i.saturating_sub(1));
        let wait = Duration::from_millis(u64::try_from(int(1).max(1)).unwrap_or(1));
        Ok((ChargeAnswer::Wait { wait, limit }, None))
    }

    /// Gives back units reserved in a fixed window that were not spent, while the window is
    /// still the current one (its key exists). Safe to lose: the units then stay counted.
    pub async fn release(&self, window_key: &str, units: f64) -> Result<(), StoreOffline> {
        if units <= 0.0 {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        let script = Script::new(
            "if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCRBYFLOAT', KEYS[1], -tonumber(ARGV[1])) end return 1",
        );
        let _: i64 = self.timed(script.key(window_key).arg(units).invoke_async(&mut conn)).await?;
        Ok(())
    }

    /// Raises one limit's count to at least `used` (what the exchange reported).
    pub async fn raise(&self, key: &str, kind: RateLimitKind, used: f64, ttl: Duration) -> Result<(), StoreOffline> {
        let mut inv = self.raise.prepare_invoke();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX);
        // The sliding window's length is its TTL less the second of slack every key gets.
        inv.key(key).arg(used).arg(ttl_ms).arg(kind_name(kind)).arg(ttl_ms.saturating_sub(1000).max(1));
        let mut conn = self.conn.clone();
        let _: i64 = self.timed(inv.invoke_async(&mut conn)).await?;
        Ok(())
    }

    /// Pauses a provider for every instance (a 429 or 418 seen by one).
    pub async fn pause(&self, pause_key: &str, for_: Duration) -> Result<(), StoreOffline> {
        let ms = u64::try_from(for_.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut conn = self.conn.clone();
        // Only ever lengthens a pause already set by another instance.
        let current: i64 = self.timed(redis::cmd("PTTL").arg(pause_key).query_async(&mut conn)).await?;
        if current < 0 || (current as u64) < ms {
            let _: () =
                self.timed(redis::cmd("SET").arg(pause_key).arg(1).arg("PX").arg(ms).query_async(&mut conn)).await?;
        }
        Ok(())
    }

    /// Records this instance's heartbeat (with what it spent) and returns the instances seen
    /// alive: (instance, seconds since its heartbeat, its spend).
    pub async fn heartbeat(
        &self,
        set_key: &str,
        instance: &str,
        spend: &str,
    ) -> Result<Vec<(String, f64, String)>, StoreOffline> {
        let mut conn = self.conn.clone();
        let now: i64 = self.timed(Script::new(WINDOW_NOW).invoke_async(&mut conn)).await?;
        let alive_ms = i64::try_from(ALIVE_FOR.as_millis()).unwrap_or(i64::MAX);
        let spend_key = format!("{set_key}:spend");
        let _: () = self
            .timed(
                redis::pipe()
                    .cmd("ZADD")
                    .arg(set_key)
                    .arg(now)
                    .arg(instance)
                    .ignore()
                    .cmd("ZREMRANGEBYSCORE")
                    .arg(set_key)
                    .arg("-inf")
                    .arg(now - alive_ms * 20)
                    .ignore()
                    .cmd("HSET")
                    .arg(&spend_key)
                    .arg(instance)
                    .arg(spend)
                    .ignore()
                    .query_async(&mut conn),
            )
            .await?;
        let seen: Vec<(String, i64)> = self
            .timed(
                redis::cmd("ZRANGEBYSCORE")
                    .arg(set_key)
                    .arg(now - alive_ms)
                    .arg("+inf")
                    .arg("WITHSCORES")
                    .query_async(&mut conn),
            )
            .await?;
        let mut out = Vec::new();
        for (name, at) in seen {
            let spend: Option<String> =
                self.timed(redis::cmd("HGET").arg(&spend_key).arg(&name).query_async(&mut conn)).await?;
            out.push((name, (now - at).max(0) as f64 / 1000.0, spend.unwrap_or_default()));
        }
        Ok(out)
    }
}
