//! Work a layer finishes after its call has returned (a budget's
//! settlement, a cache's write), which hooks never wait for, tracked so a
//! test or a shutdown can wait for it.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Context;

use tokio::sync::Notify;

/// What is still running of one layer's background work.
#[derive(Debug, Default)]
pub(crate) struct Background {
    pending: AtomicUsize,
    idle: Notify,
}

impl Background {
    /// Runs `work`, never waiting: polled once here (work that needs no
    /// I/O, as the in-memory stores', is done before this returns, so the
    /// caller's next call sees it), else finished on a spawned task that
    /// [`idle`](Self::idle) waits for. Without a runtime to spawn on (a reply
    /// dropped after it shut down) the rest of the work is dropped.
    pub(crate) fn run(self: &Arc<Self>, work: impl Future<Output = ()> + Send + 'static) {
        let mut work = Box::pin(work);
        let waker = futures_util::task::noop_waker();
        if work.as_mut().poll(&mut Context::from_waker(&waker)).is_ready() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        self.pending.fetch_add(1, Ordering::AcqRel);
        let this = Arc::clone(self);
        runtime.spawn(async move {
            work.await;
            if this.pending.fetch_sub(1, Ordering::AcqRel) == 1 {
                this.idle.notify_waiters();
            }
        });
    }

    /// Waits until the work begun so far has finished.
    pub(crate) async fn idle(&self) {
        loop {
            let idle = self.idle.notified();
            if self.pending.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }
}

/// The service a layer was made ready with, taken for one call; the clone
/// left in its place is readied by the next `poll_ready`.
pub(crate) fn take_ready<S: Clone>(inner: &mut S) -> S {
    let ready = inner.clone();
    std::mem::replace(inner, ready)
}
