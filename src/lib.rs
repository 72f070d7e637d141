//! Serbero's domain: configuration, the Mostro dispute wire format, the dispute lifecycle,
//! notification texts, delivery policy and the storage schema. Nothing here knows about actors;
//! the running system lives in the `serbero` crate (`actors/`).

pub mod attachment;
pub mod audit;
pub mod auth_retry;
pub mod backoff;
pub mod brief;
pub mod catalog;
pub mod chat;
pub mod config;
pub mod delivery;
pub mod dispute;
pub mod dm;
pub mod escalation;
pub mod file_mode;
pub mod handoff;
pub mod health;
pub mod lifecycle;
pub mod mediation;
pub mod milestone;
pub mod node_info;
pub mod notification;
pub mod order_event;
pub mod policy;
pub mod prompts;
pub mod reasoning;
pub mod retention;
pub mod solver_dm;
pub mod storage;
pub mod supervision;
pub mod take;
