//! The limits providers publish about themselves (Binance `exchangeInfo.rateLimits`): asked of
//! the exchange through the pipeline like any other call (so the question is rate-limited
//! too), kept in the `settings` table, and handed to the limiter.
//!
//! The limiter asks for them the first time any call to a provider needs budget — whether the
//! provider is enabled, monitored or neither — so no call is ever charged on a preset's numbers
//! when the exchange publishes smaller ones. A stored copy younger than [`FRESH_FOR`] answers
//! without a request, so a one-shot `keyward call` does not spend weight asking again; the
//! running Keyward reads them afresh every [`FRESH_FOR`].

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::pipeline::limit::LimitFuture;
use crate::pipeline::{CallOptions, CallRequest, WeakPipeline};
use crate::provider::ProviderSpec;
use crate::ratelimit::published::{self, PublishedLimit, PublishedSource};
use crate::store::Store;

/// How long a read of published limits stays good.
pub const FRESH_FOR: Duration = Duration::from_secs(6 * 3600);

const SETTING_PREFIX: &str = "published_limits.";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    fetched_at: DateTime<Utc>,
    limits: Vec<PublishedLimit>,
}

/// Reads and keeps published limits. The pipeline is held weakly: the limiter (which holds
/// this) is inside the pipeline.
#[derive(Clone)]
pub struct PublishedLimits {
    pipeline: WeakPipeline,
    store: Store,
}

impl PublishedLimits {
    pub fn new(pipeline: WeakPipeline, store: Store) -> Self {
        Self { pipeline, store }
    }

    /// The stored copy for `provider`, if it is younger than [`FRESH_FOR`].
    fn fresh(&self, provider: &str, now: DateTime<Utc>) -> Option<Vec<PublishedLimit>> {
        let text = self.store.setting(&format!("{SETTING_PREFIX}{provider}")).ok()??;
        let stored: Stored = serde_json::from_str(&text).ok()?;
        let age = (now - stored.fetched_at).to_std().ok()?;
        (age < FRESH_FOR).then_some(stored.limits)
    }

    /// Asks the exchange (through the pipeline: rate-limited, recorded under
    /// [`KEYWARD_CALLER`]) and stores the answer.
    pub async fn fetch(&self, spec: &ProviderSpec) -> Result<Vec<PublishedLimit>, String> {
        let source = spec
            .published_limits
            .as_ref()
            .ok_or_else(|| format!("provider \"{}\" publishes no rate limits", spec.id))?;
        let pipeline = self.pipeline.upgrade().ok_or_else(|| "Keyward is shutting down".to_string())?;
        let req = CallRequest {
            provider: spec.id.clone(),
            operation: source.operation.clone(),
            params: Default::default(),
            options: CallOptions {
                caller: crate::caller::Caller::KEYWARD,
                raw: true,
                no_cache: true,
                ..CallOptions::default()
            },
        };
        let out = pipeline.call(req).await.map_err(|e| e.to_string())?;
        let limits =
            published::parse(source.format, &out.raw).map_err(|e| format!("{} {}: {e}", spec.id, source.operation))?;
        let stored = Stored { fetched_at: Utc::now(), limits: limits.clone() };
        let store = self.store.clone();
        let key = format!("{SETTING_PREFIX}{}", spec.id);
        let written = tokio::task::spawn_blocking(move || {
            let text = serde_json::to_string(&stored).map_err(|e| e.to_string())?;
            store.set_setting(&key, &text).map_err(|e| e.to_string())
        })
        .await;
        if let Err(e) = written.map_err(|e| e.to_string()).and_then(|r| r) {
            tracing::warn!(provider = %spec.id, error = %e, "could not store the published rate limits");
        }
        Ok(limits)
    }
}

impl PublishedSource for PublishedLimits {
    fn limits<'a>(&'a self, spec: &'a ProviderSpec) -> LimitFuture<'a, Result<Vec<PublishedLimit>, String>> {
        Box::pin(async move {
            let this = self.clone();
            let id = spec.id.clone();
            let stored = tokio::task::spawn_blocking(move || this.fresh(&id, Utc::now())).await.ok().flatten();
            match stored {
                Some(limits) => Ok(limits),
                None => self.fetch(spec).await,
            }
        })
    }
}
