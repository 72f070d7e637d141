//! Background tasks tied to an actor: a periodic message, a message after a delay, and a guard
//! that aborts a task when the actor's state is dropped. Timer tasks outlive a stopped actor
//! unless aborted.

use std::time::Duration;

use ractor::{ActorRef, DerivedActorRef, Message};
use tokio::task::JoinHandle;
use tokio::time::{interval_at, Instant, MissedTickBehavior};

pub struct Ticker(JoinHandle<()>);

impl Ticker {
    /// Sends `make()` to `target` every `period`, the first one period from now. Late ticks are
    /// delayed, not bunched.
    pub fn every<M: Message>(period: Duration, target: ActorRef<M>, make: fn() -> M) -> Self {
        Self(tokio::spawn(async move {
            let mut ticks = interval_at(Instant::now() + period, period);
            ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if target.cast(make()).is_err() {
                    return;
                }
            }
        }))
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A background task that ends with its owner: dropped with the actor's state (also after a
/// panic or a kill, when `post_stop` does not run), it aborts the task.
pub struct TaskGuard(JoinHandle<()>);

impl From<JoinHandle<()>> for TaskGuard {
    fn from(task: JoinHandle<()>) -> Self {
        Self(task)
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Where a timer delivers: an actor, or the part of one a derived ref exposes.
pub trait Recipient<M>: Send + 'static {
    /// Delivers `message`; a recipient that is gone is not an error for a timer.
    fn deliver(&self, message: M);
}

impl<M: Message> Recipient<M> for ActorRef<M> {
    fn deliver(&self, message: M) {
        let _ = self.cast(message);
    }
}

impl<M: Message> Recipient<M> for DerivedActorRef<M> {
    fn deliver(&self, message: M) {
        let _ = self.send_message(message);
    }
}

/// Delivers `message` to `target` once, `delay` from now, unless the guard is dropped first.
pub fn after<M: Send + 'static>(delay: Duration, target: impl Recipient<M>, message: M) -> TaskGuard {
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        target.deliver(message);
    })
    .into()
}
