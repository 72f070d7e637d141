//! The running Serbero: the supervised actor tree, the `serbero` command line, and (behind the
//! `test-harness` feature) the harness for scripting one actor in tests.

pub mod auth_retry;
pub mod cli;
pub mod clock;
pub mod daemon;
pub mod db;
pub mod demo;
pub mod dispute;
pub mod escalation;
#[cfg(feature = "test-harness")]
pub mod harness;
pub mod outbox;
pub mod relay;
pub mod root;
pub mod session;
pub mod sessions;
pub mod sim;
pub mod status;
pub mod tasks;
