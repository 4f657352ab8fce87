//! Periodic compaction for any backend: keeps at least `retention` of history by
//! compacting, every `interval`, to the newest revision that was current at least
//! `retention` ago (kube-apiserver's rule, with a configurable window).

use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::{Revision, Store};

/// Starts the compaction loop on the current runtime; it ends when the store is dropped.
pub fn spawn<S: Store>(store: &Arc<S>, interval: Duration, retention: Duration) {
    tokio::spawn(run(Arc::downgrade(store), interval, retention));
}

async fn run<S: Store>(store: Weak<S>, interval: Duration, retention: Duration) {
    let mut samples: VecDeque<(Instant, Revision)> = VecDeque::new();
    let mut tick = tokio::time::interval(interval.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(store) = store.upgrade() else { return };
        let now = Instant::now();
        match store.current_revision().await {
            Ok(rev) => samples.push_back((now, rev)),
            Err(e) => {
                tracing::debug!(error = %e, "compactor cannot read the current revision");
                continue;
            }
        }
        let mut target = None;
        while let Some(&(when, rev)) = samples.front() {
            if now.duration_since(when) < retention {
                break;
            }
            target = Some(rev);
            samples.pop_front();
        }
        let Some(target) = target else { continue };
        match store.compacted_revision().await {
            Ok(done) if done >= target => continue,
            Err(e) => {
                tracing::debug!(error = %e, "compactor cannot read the compacted revision");
                continue;
            }
            Ok(_) => {}
        }
        match store.compact(target).await {
            Ok(()) => tracing::debug!(revision = target, "compacted"),
            Err(e) => tracing::warn!(revision = target, error = %e, "compaction failed"),
        }
    }
}
