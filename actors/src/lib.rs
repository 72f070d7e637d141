//! The running Serbero: the supervised actor tree, the `serbero` command line, and (behind the
//! `test-harness` feature) the harness for scripting one actor in tests.

pub mod clock;
pub mod db;
pub mod dispute;
pub mod outbox;
pub mod relay;
pub mod ticker;
pub mod daemon;
pub mod root;
pub mod sim;
pub mod cli;
pub mod demo;
pub mod status;
#[cfg(feature = "test-harness")] pub mod harness;
