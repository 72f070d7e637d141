//! What the simulators share: a reader over a client's subscriptions and a collection a test
//! can wait on.

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use nostr_sdk::prelude::*;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Runs `on_event` on each event the client's subscriptions deliver, with the subscription that
/// delivered it, one at a time, in order.
pub(super) fn spawn_reader<F, Fut>(
    mut notifications: broadcast::Receiver<RelayPoolNotification>,
    on_event: F,
) -> JoinHandle<()>
where
    F: Fn(SubscriptionId, Box<Event>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        loop {
            match notifications.recv().await {
                Ok(RelayPoolNotification::Event { subscription_id, event, .. }) => {
                    on_event(subscription_id, event).await
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => tracing::warn!(missed, "simulator reader fell behind"),
                Err(RecvError::Closed) => return,
            }
        }
    })
}

/// What a reader collected so far, with a wait for the n-th item.
pub(super) struct Collected<T> {
    items: Mutex<Vec<T>>,
    arrived: Notify,
}

impl<T> Default for Collected<T> {
    fn default() -> Self {
        Self { items: Mutex::new(Vec::new()), arrived: Notify::new() }
    }
}

impl<T: Clone> Collected<T> {
    pub(super) fn push(&self, item: T) {
        self.items.lock().expect("collected lock").push(item);
        self.arrived.notify_waiters();
    }

    pub(super) fn snapshot(&self) -> Vec<T> {
        self.items.lock().expect("collected lock").clone()
    }

    /// Waits until at least `n` items arrived; false on timeout.
    pub(super) async fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, async {
            loop {
                let notified = self.arrived.notified();
                if self.items.lock().expect("collected lock").len() >= n {
                    return;
                }
                notified.await;
            }
        })
        .await
        .is_ok()
    }
}
