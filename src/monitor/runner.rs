//! Who runs a check. The scheduler only needs a [`CheckRunner`]; the default one calls the
//! pipeline (so checks are signed, rate-limited and recorded like any other caller), a test
//! or a benchmark can plug in a lighter one.

use std::future::Future;
use std::pin::Pin;

use super::check::{CheckConfig, Probe, ProbeError};
use crate::pipeline::{CallError, CallOptions, CallRequest, Normalized, Pipeline};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs one check and reports what it saw. The scheduler applies the check's timeout around
/// it and judges the probe ([`super::judge`]).
pub trait CheckRunner: Send + Sync + 'static {
    fn run<'a>(&'a self, check: &'a CheckConfig) -> BoxFuture<'a, Probe>;
}

/// The default runner: `Pipeline::call` with caller "monitor" and no cache.
#[derive(Clone)]
pub struct PipelineRunner {
    pipeline: Pipeline,
}

impl PipelineRunner {
    pub fn new(pipeline: Pipeline) -> Self {
        Self { pipeline }
    }
}

fn http_status(e: &CallError) -> Option<u16> {
    match e {
        CallError::Http { status, .. } => Some(*status),
        CallError::Shared(inner) => http_status(inner),
        _ => None,
    }
}

impl CheckRunner for PipelineRunner {
    fn run<'a>(&'a self, check: &'a CheckConfig) -> BoxFuture<'a, Probe> {
        Box::pin(async move {
            let started = tokio::time::Instant::now();
            let request = CallRequest {
                provider: check.provider.clone(),
                operation: check.operation.clone(),
                params: check.params.clone(),
                options: CallOptions {
                    caller: crate::caller::Caller::MONITOR,
                    no_cache: true,
                    ..CallOptions::default()
                },
            };
            match self.pipeline.call(request).await {
                Ok(out) => {
                    let system = match out.data {
                        Normalized::SystemStatus { state, message } => Some((state, message)),
                        _ => None,
                    };
                    Probe { status: Some(out.status), latency: out.latency, body: Some(out.raw), system, error: None }
                }
                Err(e) => Probe {
                    status: http_status(&e),
                    latency: started.elapsed(),
                    body: None,
                    system: None,
                    error: Some(ProbeError { kind: e.kind().to_string(), message: e.to_string() }),
                },
            }
        })
    }
}
