//! Events the core emits for front ends. The desktop shell forwards them to the UI and the
//! tray; the CLI's `serve` logs them.

use std::sync::Arc;

/// Something a front end may want to show as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoreEvent {
    /// The headless service or the desktop app finished starting.
    Ready { data_dir: String },
}

/// Where the core sends its events. Implementations must not block.
pub trait EventSink: Send + Sync + 'static {
    fn emit(&self, event: CoreEvent);
}

/// Drops every event (the CLI's one-shot commands).
#[derive(Debug, Default)]
pub struct NoopSink;

impl EventSink for NoopSink {
    fn emit(&self, _event: CoreEvent) {}
}

/// Logs every event through `tracing` (the headless service).
#[derive(Debug, Default)]
pub struct LogSink;

impl EventSink for LogSink {
    fn emit(&self, event: CoreEvent) {
        tracing::info!(?event, "event");
    }
}

pub type SharedSink = Arc<dyn EventSink>;
