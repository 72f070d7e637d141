//! Hostile or careless input at the edges of the real binary: a timeout near `u64::MAX` in the
//! configuration, and the database file the parties' messages are written to.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use nostr_sdk::{Keys, ToBech32};
use serbero::daemon::prepare_database;
use serbero::db::Db;

/// `serbero --config <config> check-config` with none of Serbero's variables set.
fn check_config(config: &Path) -> Output {
    let mut process = Command::new(env!("CARGO_BIN_EXE_serbero"));
    process.arg("--config").arg(config).arg("check-config");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SERBERO_") || name == "NOTIFY_SOCKET" {
            process.env_remove(name);
        }
    }
    process
        .current_dir(config.parent().expect("config directory"))
        .stdin(Stdio::null())
        .output()
        .expect("run serbero check-config")
}

#[test]
fn a_timeout_beyond_ten_years_stops_check_config_with_exit_2_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("serbero.toml");
    let text = |seconds: &str| {
        format!(
            "[serbero]\nprivate_key = \"{secret}\"\ndb_path = {db:?}\n\n[mostro]\npubkey = \"{mostro}\"\n\n\
             [[relays]]\nurl = \"ws://127.0.0.1:9\"\n\n[mediation]\ntake_timeout_seconds = {seconds}\n",
            secret = Keys::generate().secret_key().to_secret_hex(),
            db = dir.path().join("serbero.db").to_str().unwrap(),
            mostro = Keys::generate().public_key().to_bech32().unwrap(),
        )
    };
    for (seconds, limit) in [("18446744073709551615", "315360000"), ("315360001", "315360000")] {
        std::fs::write(&config, text(seconds)).expect("write config");
        let output = check_config(&config);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert_eq!(
            stderr,
            format!(
                "serbero: mediation.take_timeout_seconds: {seconds} is more than the largest allowed, {limit} (ten years)\n"
            )
        );
    }
    std::fs::write(&config, text("315360000")).expect("write config");
    let output = check_config(&config);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

/// Log lines written while the guard lives, as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The daemon's own start path (migrations, then an actor's connection writing in WAL mode)
/// leaves the database and its `-wal` and `-shm` files readable by their owner only, whatever
/// the umask; an existing database others can read keeps its mode and is warned about once.
#[tokio::test]
async fn the_database_is_created_private_and_a_readable_one_is_warned_about() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("serbero.db");
    prepare_database(&path).await.expect("prepare database");
    let mut db = Db::open(&path).await.expect("open as an actor does");
    db.write(|tx| tx.execute_batch("CREATE TABLE scratch (x)")).await.expect("write");
    for name in ["serbero.db", "serbero.db-wal", "serbero.db-shm"] {
        assert_eq!(format!("{:o}", mode(&dir.path().join(name))), "600", "{name}");
    }
    drop(db);
    assert!(!captured.text().contains("chmod"), "no warning for a private file: {}", captured.text());

    let shared = dir.path().join("shared.db");
    std::fs::write(&shared, b"").expect("create");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    prepare_database(&shared).await.expect("prepare the existing database");
    assert_eq!(format!("{:o}", mode(&shared)), "640", "an existing file's mode is the operator's");
    let log = captured.text();
    let warnings: Vec<&str> = log.lines().filter(|line| line.contains("WARN")).collect();
    assert_eq!(warnings.len(), 1, "{log}");
    let expected = format!(
        "the database file {shown} is accessible to its group or others (mode 0640) and holds the parties' \
         messages; restrict it with `chmod 600 {shown}`",
        shown = shared.display()
    );
    assert!(warnings[0].ends_with(&expected), "{}", warnings[0]);
}
