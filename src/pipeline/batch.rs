//! Batching: concurrent calls for single markets that the exchange can answer in one call for
//! several (the endpoint's `batch`), sent together when that costs less weight. The first call
//! of a batch waits the batch window (on the pipeline's timer) for others to join; then one
//! request goes out with all their markets, and each caller gets the item of the answer that
//! names its own market. A window that gathered only its first call sends that call as usual.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::oneshot;

use super::{transform, CallError, CallOutcome, CallRequest, Pipeline, Prepared};
use crate::provider::{BatchFormat, BatchSpec, EndpointSpec};

type Reply = Result<CallOutcome, Arc<CallError>>;

struct Open {
    markets: Vec<String>,
    waiters: Vec<(String, oneshot::Sender<Reply>)>,
    max: usize,
}

/// Batches being gathered, by what their calls share (provider, environment, operation, key,
/// the other parameters).
#[derive(Clone, Default)]
pub struct Batches {
    open: Arc<Mutex<HashMap<String, Open>>>,
}

impl Batches {
    /// Calls waiting in batches being gathered (for tests and diagnostics).
    pub fn waiting(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).values().map(|o| o.waiters.len() + 1).sum()
    }
}

fn group_key(p: &Prepared, req: &CallRequest, batch: &BatchSpec) -> String {
    let others: Vec<String> =
        req.params.iter().filter(|(k, _)| **k != batch.from).map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "{}|{}|{}|{}|{}",
        p.entry.spec.id,
        p.environment,
        req.operation,
        p.key.as_ref().map(|k| k.record.label.as_str()).unwrap_or(""),
        others.join("&")
    )
}

fn list(markets: &[String], format: BatchFormat) -> String {
    match format {
        BatchFormat::JsonArray => serde_json::to_string(markets).unwrap_or_default(),
        BatchFormat::Comma => markets.join(","),
    }
}

/// Each market's share of a batched answer, normalised like a single answer.
fn split(
    pipeline_spec: &crate::provider::ProviderSpec,
    operation: &str,
    batch: &BatchSpec,
    whole: &CallOutcome,
    market: &str,
) -> Result<CallOutcome, CallError> {
    let items = whole.raw.as_array().ok_or_else(|| CallError::BadResponse {
        provider: whole.provider.clone(),
        operation: operation.to_string(),
        message: "the batched answer is not a list".into(),
    })?;
    let item = items.iter().find(|i| i.get(&batch.key).and_then(Value::as_str) == Some(market)).ok_or_else(|| {
        CallError::BadResponse {
            provider: whole.provider.clone(),
            operation: operation.to_string(),
            message: format!("the batched answer has no {} {market}", batch.key),
        }
    })?;
    let body = serde_json::to_vec(item).unwrap_or_default();
    let (raw, data) = transform::parse(pipeline_spec, operation, &body).map_err(|e| match e {
        transform::ParseError::Exchange { code, message } => {
            CallError::Exchange { provider: whole.provider.clone(), operation: operation.to_string(), code, message }
        }
        transform::ParseError::NotJson(message) | transform::ParseError::Empty(message) => {
            CallError::BadResponse { provider: whole.provider.clone(), operation: operation.to_string(), message }
        }
    })?;
    Ok(CallOutcome { data, raw, ..whole.clone() })
}

impl Pipeline {
    /// A call for one market (`batch.from`) of a batchable endpoint: joins the batch being
    /// gathered for the same request, or starts one and sends it when its window ends.
    pub(super) async fn batched(
        &self,
        p: &Prepared,
        req: &CallRequest,
        endpoint: &EndpointSpec,
        batch: &BatchSpec,
    ) -> Result<CallOutcome, CallError> {
        let market = req.params.get(&batch.from).cloned().unwrap_or_default();
        let key = group_key(p, req, batch);
        enum Role {
            Join(oneshot::Receiver<Reply>),
            Lead,
            Alone,
        }
        let role = {
            let mut open = self.inner.batches.open.lock().unwrap_or_else(|p| p.into_inner());
            match open.get_mut(&key) {
                Some(o) if o.markets.len() < o.max || o.markets.contains(&market) => {
                    let (tx, rx) = oneshot::channel();
                    if !o.markets.contains(&market) {
                        o.markets.push(market.clone());
                    }
                    o.waiters.push((market.clone(), tx));
                    Role::Join(rx)
                }
                Some(_) => Role::Alone,
                None => {
                    let max = usize::try_from(batch.max).unwrap_or(usize::MAX);
                    open.insert(key.clone(), Open { markets: vec![market.clone()], waiters: Vec::new(), max });
                    Role::Lead
                }
            }
        };
        match role {
            Role::Join(rx) => rx
                .await
                .map_err(|_| CallError::Internal("the batch this call joined was dropped".into()))?
                .map_err(CallError::Shared),
            Role::Lead => self.lead(p, req, endpoint, batch, key, market).await,
            // The open batch is full: this call goes alone.
            Role::Alone => self.attempts_with(p, req, endpoint).await,
        }
    }

    /// Waits the window, then sends the gathered batch and answers everyone in it.
    async fn lead(
        &self,
        p: &Prepared,
        req: &CallRequest,
        endpoint: &EndpointSpec,
        batch: &BatchSpec,
        key: String,
        market: String,
    ) -> Result<CallOutcome, CallError> {
        let window = chrono::Duration::from_std(Duration::from_millis(batch.window_ms)).unwrap_or_default();
        self.inner.timer.sleep_until(self.inner.clock.now() + window).await;
        let gathered = self.inner.batches.open.lock().unwrap_or_else(|p| p.into_inner()).remove(&key);
        let Some(Open { markets, waiters, .. }) = gathered else {
            return self.attempts_with(p, req, endpoint).await;
        };
        if markets.len() == 1 {
            // Nobody else came (or only for the same market): the ordinary call.
            let result = self.attempts_with(p, req, endpoint).await.map_err(Arc::new);
            for (_, tx) in waiters {
                let _ = tx.send(result.clone());
            }
            return result.map_err(CallError::Shared);
        }
        let mut params: BTreeMap<String, String> = req.params.clone();
        params.remove(&batch.from);
        params.insert(batch.param.clone(), list(&markets, batch.format));
        let many = EndpointSpec {
            required: endpoint.required.iter().filter(|r| **r != batch.from).cloned().collect(),
            weight: batch.weight,
            weight_by: None,
            batch: None,
            ..endpoint.clone()
        };
        let batched_req = CallRequest { params, ..req.clone() };
        tracing::debug!(provider = %p.entry.spec.id, operation = %req.operation, markets = markets.len(), "sending a batch");
        let whole = self.attempts_with(p, &batched_req, &many).await.map_err(Arc::new);
        let spec = &p.entry.spec;
        let answer = |m: &str| -> Reply {
            match &whole {
                Ok(w) => split(spec, &req.operation, batch, w, m).map_err(Arc::new),
                Err(e) => Err(Arc::clone(e)),
            }
        };
        for (m, tx) in waiters {
            let _ = tx.send(answer(&m));
        }
        answer(&market).map_err(CallError::Shared)
    }
}
