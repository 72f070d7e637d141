//! The real `serbero` binary with its database writes numbered (the `fault-injection` feature,
//! actors/src/db.rs), run as a child process that can be stopped just before its N-th write
//! commits; and a tap on the parties' chat channels that records every distinct event Serbero
//! wrote to them. For tests/kill_every_step.rs.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mostro_core::chat::{chat_filter, derive_chat_keys, unwrap_chat_message};
use nostr_sdk::prelude::*;
use tokio::task::JoinHandle;

use super::SET_BY_CARGO_FOR_TESTS;

/// The variable the hook reads: `0` only numbers the writes, a step (as the write lines name it)
/// halts before that write commits.
const HALT_AT_WRITE: &str = "SERBERO_HALT_AT_WRITE";
/// Start of the line the hook prints for every numbered write.
const WRITE_LINE: &str = "fault-injection: write #";
/// Start of the line the hook prints when it halts.
pub const HALTED_LINE: &str = "fault-injection: halted before committing write #";

/// The `serbero` binary built with `fault-injection`, linked (or copied) into a directory of its
/// own: cargo puts every feature set's build at the same `target/<profile>/serbero`, so another
/// test building `serbero` without the feature would otherwise swap the file under us.
pub struct HaltingBinary {
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl HaltingBinary {
    /// Builds it, with the features `cargo test` unifies in besides `fault-injection` so that only
    /// the `serbero` crate itself is compiled again. Blocking: call it from `spawn_blocking`.
    pub fn build() -> Self {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
        let mut build = std::process::Command::new(cargo);
        // As in `serbero_executable`: cargo's variables for this test process would look like a
        // changed environment to build scripts and rebuild the TLS stack.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("CARGO_PKG_") || SET_BY_CARGO_FOR_TESTS.contains(&name.as_ref()) {
                build.env_remove(name.as_ref());
            }
        }
        build
            .args(["build", "--package", "serbero", "--bin", "serbero"])
            .args(["--features", "test-harness,tokio/test-util,fault-injection"])
            .arg("--message-format=json-render-diagnostics")
            .arg("--manifest-path")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"));
        if !cfg!(debug_assertions) {
            build.arg("--release");
        }
        let output = build.stderr(Stdio::piped()).output().expect("run cargo build");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "cargo build of serbero with fault-injection failed:\n{stderr}");
        let built = String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .find(|m| {
                m["reason"] == "compiler-artifact"
                    && m["target"]["name"] == "serbero"
                    && m["target"]["kind"][0] == "bin"
            })
            .and_then(|m| m["executable"].as_str().map(PathBuf::from))
            .unwrap_or_else(|| panic!("cargo did not report the serbero executable:\n{stderr}"));
        let dir = tempfile::tempdir().expect("tempdir for the binary");
        let path = dir.path().join("serbero");
        // A hard link keeps this build's file even when cargo links another build in its place.
        if std::fs::hard_link(&built, &path).is_err() {
            std::fs::copy(&built, &path).expect("copy the serbero binary");
        }
        Self { path, _dir: dir }
    }
}

/// One `serbero run` process, its stdout and stderr in `log`.
pub struct Incarnation {
    child: tokio::process::Child,
    log: PathBuf,
}

impl Incarnation {
    /// Starts `serbero --config <config> run` with writes numbered, halting before the step
    /// `halt_at` commits when given. `env` adds variables (the model's API key).
    pub fn spawn(binary: &Path, config: &Path, log: PathBuf, halt_at: Option<&str>, env: &[(&str, &str)]) -> Self {
        let file = std::fs::File::create(&log).expect("create log");
        let halt_at = halt_at.unwrap_or("0");
        let child = tokio::process::Command::new(binary)
            .arg("--config")
            .arg(config)
            .arg("run")
            .env_remove("SERBERO_CONFIG")
            .env_remove("SERBERO_PRIVATE_KEY")
            .env_remove("SERBERO_DB_PATH")
            .env_remove("SERBERO_LOG_FORMAT")
            .env_remove("NOTIFY_SOCKET")
            .env("SERBERO_LOG", "info")
            .env(HALT_AT_WRITE, halt_at)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log handle"))
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .expect("spawn serbero");
        Self { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL; asserts the process was still alive and died of the signal.
    pub async fn kill(mut self) {
        use std::os::unix::process::ExitStatusExt;
        if let Some(status) = self.child.try_wait().expect("poll serbero") {
            panic!("serbero ended on its own ({status}) before the kill:\n{}", self.log());
        }
        self.child.kill().await.expect("SIGKILL serbero");
        let status = self.child.wait().await.expect("reap serbero");
        assert_eq!(status.signal(), Some(9), "serbero ended with {status}, not by SIGKILL");
    }
}

/// The writes a run numbered, from its log: (number, step), the halted one last if any.
pub fn writes(log: &str) -> Vec<(u64, String)> {
    log.lines()
        .filter_map(|line| line.strip_prefix(WRITE_LINE).or_else(|| line.strip_prefix(HALTED_LINE)))
        .filter_map(|rest| {
            let (number, step) = rest.split_once(": ")?;
            Some((number.parse().ok()?, step.to_string()))
        })
        .collect()
}

/// A message Serbero wrote on a party's chat channel, as the party's client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSeen {
    pub party: PublicKey,
    pub outer_id: EventId,
    pub content: String,
}

/// Watches the chat channels between Serbero and `parties` and keeps every distinct event
/// Serbero wrote there (a relay delivers an event id once per subscription).
pub struct ChatTap {
    seen: Arc<Mutex<Vec<ChatSeen>>>,
    client: Client,
    reader: JoinHandle<()>,
}

impl ChatTap {
    pub async fn start(relay: &RelayUrl, serbero: PublicKey, parties: &[&Keys]) -> Self {
        let client = Client::new(Keys::generate());
        client.add_relay(relay.clone()).await.expect("add relay");
        client.try_connect(Duration::from_secs(5)).await;
        let mut notifications = client.notifications();
        let mut channels = Vec::new();
        for party in parties {
            let (conv, sign) = derive_chat_keys(party, &serbero).expect("chat keys");
            client.subscribe(chat_filter(sign.public_key()), None).await.expect("subscribe to the channel");
            channels.push((party.public_key(), conv, sign.public_key()));
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let reader = tokio::spawn(async move {
            while let Ok(notification) = notifications.recv().await {
                let RelayPoolNotification::Event { event, .. } = notification else { continue };
                for (party, conv, sign) in &channels {
                    let allowed = [serbero, *party];
                    let Ok(chat) = unwrap_chat_message(conv, sign, &allowed, &event, Timestamp::now()) else {
                        continue;
                    };
                    if chat.sender == serbero {
                        let message = ChatSeen { party: *party, outer_id: chat.outer_event_id, content: chat.content };
                        sink.lock().expect("tap lock").push(message);
                    }
                }
            }
        });
        Self { seen, client, reader }
    }

    pub fn seen(&self) -> Vec<ChatSeen> {
        self.seen.lock().expect("tap lock").clone()
    }

    pub async fn stop(self) {
        self.reader.abort();
        self.client.shutdown().await;
    }
}
