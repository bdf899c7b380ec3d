//! Rate limits page commands: a live stream of the limiter's snapshot over a
//! `tauri::ipc::Channel`, and who spent a limit.
//!
//! At most one stream runs at a time (there is one main window): starting a stream stops the
//! previous one, and the page stops its own when it is left or the window is hidden to the
//! tray. A stream also ends by itself when a send fails (the window is gone), so no task
//! outlives the page.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyward::Keyward;
use tauri::ipc::Channel;
use tauri::State;
use tokio::sync::oneshot;

use crate::commands::blocking;
use crate::dto::limits::{self as ldto, LimitBreakdownDto, LimitView};
use crate::dto::CommandError;
use crate::AppState;

/// How often the page receives a fresh snapshot.
pub const SNAPSHOT_EVERY: Duration = Duration::from_millis(500);
/// How many operations and keys the breakdown names.
pub const BREAKDOWN_TOP: usize = 5;

/// The running stream's id and the sender whose drop stops it.
type Slot = Mutex<Option<(u32, oneshot::Sender<()>)>>;

/// The running snapshot stream (managed state).
#[derive(Default)]
pub struct LimitStreams {
    next_id: AtomicU32,
    current: Arc<Slot>,
}

impl LimitStreams {
    /// Registers a new stream, stopping the previous one. Returns its id and stop signal.
    fn start(&self) -> (u32, oneshot::Receiver<()>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let (tx, rx) = oneshot::channel();
        // Dropping the previous sender ends the previous stream.
        *lock(&self.current) = Some((id, tx));
        (id, rx)
    }

    /// Stops stream `id` if it is still the current one (a late stop from a page that was
    /// left must not end the stream of the page that replaced it).
    pub fn stop(&self, id: u32) {
        forget(&self.current, id);
    }

    /// The id of the running stream, if one runs.
    pub fn running(&self) -> Option<u32> {
        lock(&self.current).as_ref().map(|(id, _)| *id)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The slot is replaced whole; a poisoned lock is safe to reuse.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn forget(slot: &Slot, id: u32) {
    let mut current = lock(slot);
    if current.as_ref().is_some_and(|(cur, _)| *cur == id) {
        *current = None;
    }
}

fn snapshot(kw: &Keyward) -> Vec<LimitView> {
    let mut views: Vec<LimitView> = kw.limiter().snapshot().iter().map(LimitView::from).collect();
    kw.mark_shared(&mut views);
    views
}

/// Sends a snapshot at once and every [`SNAPSHOT_EVERY`] until `stop` fires (or its sender is
/// dropped) or a send fails.
pub async fn run_stream(kw: Keyward, channel: Channel<Vec<LimitView>>, mut stop: oneshot::Receiver<()>) {
    let mut tick = tokio::time::interval(SNAPSHOT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {
                if channel.send(snapshot(&kw)).is_err() {
                    break;
                }
            }
        }
    }
}

/// Loads the rate-limit rules of every enabled provider, then streams the limiter's snapshot
/// to `channel`. Returns the stream's id for `limits_stream_stop`.
#[tauri::command]
pub async fn limits_stream(
    state: State<'_, AppState>,
    streams: State<'_, LimitStreams>,
    channel: Channel<Vec<LimitView>>,
) -> Result<u32, CommandError> {
    let kw = blocking(&state, |kw| {
        kw.load_limit_rules(None)?;
        Ok(kw)
    })
    .await?;
    let (id, stop) = streams.start();
    let slot = Arc::clone(&streams.current);
    tauri::async_runtime::spawn(async move {
        run_stream(kw, channel, stop).await;
        forget(&slot, id);
    });
    Ok(id)
}

/// Stops the stream `id` (the page was left).
#[tauri::command]
pub fn limits_stream_stop(streams: State<'_, LimitStreams>, id: u32) {
    streams.stop(id);
}

/// The top operations and keys that spent a limit, per scope key.
#[tauri::command]
pub async fn limits_breakdown(
    state: State<'_, AppState>,
    provider: String,
    limit: String,
) -> Result<Vec<LimitBreakdownDto>, CommandError> {
    let kw = state.core()?;
    Ok(kw.limiter().breakdown(&provider, &limit, BREAKDOWN_TOP).iter().map(ldto::breakdown).collect())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tauri::ipc::InvokeResponseBody;
    use tokio::sync::mpsc;

    use super::*;

    fn core() -> (tempfile::TempDir, Keyward) {
        let dir = tempfile::tempdir().expect("tempdir");
        let kw = Keyward::open_with_secrets(dir.path(), Arc::new(keyward::vault::MemoryStore::new())).expect("core");
        let binance = kw.providers().get("binance").expect("binance preset");
        kw.limiter().apply_spec(&binance.spec);
        (dir, kw)
    }

    /// A channel whose messages arrive on `rx`; sends fail once `fail_after` went through.
    fn channel(fail_after: usize) -> (Channel<Vec<LimitView>>, mpsc::UnboundedReceiver<Vec<serde_json::Value>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let sent = std::sync::atomic::AtomicUsize::new(0);
        let channel = Channel::new(move |body| {
            if sent.fetch_add(1, Ordering::SeqCst) >= fail_after {
                return Err(tauri::Error::FailedToReceiveMessage);
            }
            let InvokeResponseBody::Json(json) = body else { panic!("a JSON message") };
            let _ = tx.send(serde_json::from_str(&json).expect("JSON array"));
            Ok(())
        });
        (channel, rx)
    }

    #[tokio::test]
    async fn streams_a_snapshot_at_once_and_stops_when_told() {
        let (_dir, kw) = core();
        let streams = LimitStreams::default();
        let (ch, mut rx) = channel(usize::MAX);
        let (id, stop) = streams.start();
        let task = tokio::spawn(run_stream(kw, ch, stop));

        let first = rx.recv().await.expect("a first snapshot");
        let weight = first.iter().find(|l| l["limitId"] == "request_weight").expect("binance request_weight");
        assert_eq!(weight["provider"], "binance");
        assert_eq!(weight["scope"], "ip");
        assert_eq!(weight["limit"], 6000.0);
        assert_eq!(weight["state"], "normal");

        streams.stop(id + 1);
        assert_eq!(streams.running(), Some(id), "a stale id does not stop the current stream");
        streams.stop(id);
        task.await.expect("the stream ends once stopped");
        assert_eq!(streams.running(), None);
    }

    #[tokio::test]
    async fn a_new_stream_replaces_the_previous_one() {
        let (_dir, kw) = core();
        let streams = LimitStreams::default();
        let (ch, _rx) = channel(usize::MAX);
        let (_, stop) = streams.start();
        let first = tokio::spawn(run_stream(kw.clone(), ch, stop));
        let (second_id, _stop) = streams.start();
        first.await.expect("the first stream ends when the second starts");
        assert_eq!(streams.running(), Some(second_id));
    }

    #[tokio::test]
    async fn a_failed_send_ends_the_stream() {
        let (_dir, kw) = core();
        let streams = LimitStreams::default();
        let (ch, mut rx) = channel(1);
        let (_, stop) = streams.start();
        let task = tokio::spawn(run_stream(kw, ch, stop));
        rx.recv().await.expect("one snapshot");
        task.await.expect("the stream ends when the window is gone");
        assert!(rx.recv().await.is_none(), "nothing is sent after the failure");
    }
}
