//! How the writer threads (the call recorder, the monitor's history writer) take their queue in
//! batches while waking as little as possible.

use std::sync::mpsc::{Receiver, TryRecvError};
use std::thread;
use std::time::{Duration, Instant};

/// The messages of a writer thread, one batch at a time. A batch starts with the first message
/// that arrives and takes every message sent within `window` of it, or up to the first one that
/// `ends` (a flush, which its sender follows with `unpark`). Between messages the thread parks:
/// a send does not wake a parked thread, so a busy queue costs one wake per batch, not one per
/// message. Ends when every sender is gone.
pub(crate) struct Batches<M> {
    rx: Receiver<M>,
    window: Duration,
    ends: fn(&M) -> bool,
    senders_gone: bool,
}

impl<M> Batches<M> {
    pub(crate) fn new(rx: Receiver<M>, window: Duration, ends: fn(&M) -> bool) -> Self {
        Self { rx, window, ends, senders_gone: false }
    }
}

impl<M> Iterator for Batches<M> {
    type Item = Vec<M>;

    fn next(&mut self) -> Option<Vec<M>> {
        if self.senders_gone {
            return None;
        }
        let first = self.rx.recv().ok()?;
        let started = Instant::now();
        let mut batch = vec![first];
        while !batch.last().is_some_and(self.ends) {
            match self.rx.try_recv() {
                Ok(m) => batch.push(m),
                Err(TryRecvError::Disconnected) => {
                    self.senders_gone = true;
                    break;
                }
                Err(TryRecvError::Empty) => {
                    let left = self.window.saturating_sub(started.elapsed());
                    if left.is_zero() {
                        break;
                    }
                    thread::park_timeout(left);
                }
            }
        }
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    #[test]
    fn a_batch_ends_at_a_flush_and_keeps_the_order() {
        let (tx, rx) = mpsc::channel();
        for m in [1, 2, 0, 3] {
            tx.send(m).expect("send");
        }
        drop(tx);
        // 0 plays the flush: the first batch stops right after it.
        let batches: Vec<Vec<i32>> = Batches::new(rx, Duration::from_secs(3600), |m| *m == 0).collect();
        assert_eq!(batches, vec![vec![1, 2, 0], vec![3]]);
    }

    #[test]
    fn a_batch_ends_when_its_window_is_over() {
        let (tx, rx) = mpsc::channel();
        tx.send(1).expect("send");
        let mut batches = Batches::new(rx, Duration::from_millis(1), |_: &i32| false);
        assert_eq!(batches.next(), Some(vec![1]), "nothing else came within the window");
        tx.send(2).expect("send");
        assert_eq!(batches.next(), Some(vec![2]));
    }
}
