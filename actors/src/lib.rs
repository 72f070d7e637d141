//! The running Serbero: the supervised actor tree, the `serbero` command line, (behind the
//! default `demo` feature) the demo, and (behind the `test-harness` feature) the harness for
//! scripting one actor in tests.

/// Lets `$msg::$variant($inner)` be reached through a `DerivedActorRef<$inner>`, so a peer can
/// hold a ref typed by what it sends rather than by the whole `Msg` of the receiver.
#[macro_export]
macro_rules! derived_message {
    ($msg:ident :: $variant:ident ( $inner:ty )) => {
        impl From<$inner> for $msg {
            fn from(inner: $inner) -> Self {
                Self::$variant(inner)
            }
        }

        impl TryFrom<$msg> for $inner {
            type Error = $msg;
            fn try_from(msg: $msg) -> Result<Self, $msg> {
                match msg {
                    $msg::$variant(inner) => Ok(inner),
                    other => Err(other),
                }
            }
        }
    };
}

pub mod auth_retry;
pub mod base;
pub mod cli;
pub mod clock;
pub mod daemon;
pub mod db;
#[cfg(feature = "demo")]
pub mod demo;
pub mod dispute;
pub mod escalation;
#[cfg(feature = "test-harness")]
pub mod harness;
pub mod health;
pub mod http;
pub mod outbox;
pub mod prometheus;
mod pruning;
pub mod reasoning;
pub mod relay;
pub mod root;
pub mod session;
pub mod sessions;
pub mod status;
pub mod systemd;
pub mod tasks;
