//! Configurations that would hurt the operator stop the real binary before anything starts:
//! `serbero check-config` and `serbero run` both exit with code 2 and one line on stderr naming
//! the entry, never a secret. A secret file others may read still loads, with a warning.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use nostr_sdk::{Keys, ToBech32};

const SAMPLE: &str = include_str!("../../serbero.toml");
const SAMPLE_NSEC: &str = "nsec10eg29u5ru6c2j4h8vnp5ntyf0y94jkpfn6l88ceg8ynx5chjwpgsar5ek5";
const SAMPLE_MOSTRO: &str = "npub1epa3xjtdp964hz6r9hrsuxee3m4grzzmc4nm4naktrjt6kswdhxqxkzlyd";
const SAMPLE_SOLVER: &str = "npub1zugth6a7mxtn42n7y3v3rf7373dchy6hz278q2kll5q5swjtngzs5vmecm";
/// `serbero run` with a valid configuration would keep running: a case taking this long failed.
const RUN_LIMIT: Duration = Duration::from_secs(30);

/// Keys and a directory for one case's files.
struct Setup {
    dir: tempfile::TempDir,
    serbero: Keys,
    mostro: String,
    solver: String,
}

impl Setup {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            serbero: Keys::generate(),
            mostro: Keys::generate().public_key().to_bech32().unwrap(),
            solver: Keys::generate().public_key().to_bech32().unwrap(),
        }
    }

    fn secret(&self) -> String {
        self.serbero.secret_key().to_secret_hex()
    }

    fn us(&self) -> String {
        self.serbero.public_key().to_bech32().unwrap()
    }

    /// A valid configuration with Serbero's key `secret` (none: the key comes from the
    /// environment) and `extra` appended.
    fn config(&self, secret: Option<&str>, extra: &str) -> String {
        let key_line = secret.map(|secret| format!("private_key = \"{secret}\"\n")).unwrap_or_default();
        format!(
            "[serbero]\n{key_line}db_path = {db:?}\n\n[mostro]\npubkey = \"{mostro}\"\n\n\
             [[relays]]\nurl = \"ws://127.0.0.1:9\"\n\n[[solvers]]\npubkey = \"{solver}\"\n\n{extra}",
            db = self.dir.path().join("serbero.db").to_str().unwrap(),
            mostro = self.mostro,
            solver = self.solver,
        )
    }

    /// A file in the case's directory with `contents` and `mode`.
    fn file(&self, name: &str, contents: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("write file");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        path
    }
}

/// `serbero --config <config> <command>` with only `env` of Serbero's variables set.
fn serbero(config: &Path, command: &str, env: &[(&str, &str)]) -> Output {
    let mut process = Command::new(env!("CARGO_BIN_EXE_serbero"));
    process.arg("--config").arg(config).arg(command);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SERBERO_") || name == "NOTIFY_SOCKET" {
            process.env_remove(name);
        }
    }
    let mut child = process
        .envs(env.iter().copied())
        .current_dir(config.parent().expect("config directory"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serbero");
    let started = Instant::now();
    while child.try_wait().expect("poll serbero").is_none() {
        if started.elapsed() > RUN_LIMIT {
            child.kill().expect("kill serbero");
            let output = child.wait_with_output().expect("reap serbero");
            panic!("`serbero {command}` kept running:\n{}", String::from_utf8_lossy(&output.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("reap serbero")
}

#[test]
fn each_rejected_configuration_exits_2_with_one_line_naming_the_entry() {
    let s = Setup::new();
    let secret = s.secret();
    let (us, solver) = (s.us(), s.solver.clone());
    let watchdog = Keys::generate().public_key().to_bech32().unwrap();
    let sample_key_file = s.file("sample.key", &format!("{SAMPLE_NSEC}\n"), 0o600);
    let own_key_file = s.file("own.key", &secret, 0o600);
    let empty_file = s.file("empty.key", " \n", 0o600);
    let absent = s.dir.path().join("absent.key");
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let observer = |pubkey: &str| format!("[[observers]]\npubkey = \"{pubkey}\"\n");
    let reasoning = "[reasoning]\nenabled = true\napi_key_env = \"LLM_KEY\"\n";
    let own_key = "Serbero's own public key (serbero.private_key); Serbero would send messages to itself";
    let placeholder = "a placeholder key from the shipped serbero.toml (marked REPLACE)";
    let sample_secret = "the sample key published in serbero.toml";

    // (configuration, environment, start of the message after `serbero: `)
    type Case<'a> = (String, Vec<(&'a str, String)>, String);
    let cases: Vec<Case> = vec![
        (
            s.config(Some(&secret), &format!("[[solvers]]\npubkey = \"{us}\"\n")),
            vec![],
            format!("solvers[1].pubkey: {own_key}"),
        ),
        (s.config(Some(&secret), &observer(&us)), vec![], format!("observers[0].pubkey: {own_key}")),
        (
            s.config(None, &observer(&us)),
            vec![("SERBERO_PRIVATE_KEY_FILE", path(&own_key_file))],
            format!("observers[0].pubkey: {own_key}"),
        ),
        (SAMPLE.to_owned(), vec![], format!("serbero.private_key: {sample_secret}")),
        (s.config(Some(SAMPLE_NSEC), ""), vec![], format!("serbero.private_key: {sample_secret}")),
        (
            s.config(Some(&secret), ""),
            vec![("SERBERO_PRIVATE_KEY", SAMPLE_NSEC.to_owned())],
            format!("serbero.private_key (from SERBERO_PRIVATE_KEY): {sample_secret}"),
        ),
        (
            s.config(None, ""),
            vec![("SERBERO_PRIVATE_KEY_FILE", path(&sample_key_file))],
            format!("serbero.private_key (from SERBERO_PRIVATE_KEY_FILE): {sample_secret}"),
        ),
        (
            s.config(Some(&secret), "").replace(&s.mostro, SAMPLE_MOSTRO),
            vec![],
            format!("mostro.pubkey: {placeholder}"),
        ),
        (
            s.config(Some(&secret), "").replace(&s.solver, SAMPLE_SOLVER),
            vec![],
            format!("solvers[0].pubkey: {placeholder}"),
        ),
        (s.config(Some(&secret), &observer(SAMPLE_SOLVER)), vec![], format!("observers[0].pubkey: {placeholder}")),
        (
            s.config(Some(&secret), &observer(&solver)),
            vec![],
            "observers[0].pubkey: same public key as solvers[0].pubkey; a key is a solver or an observer, not both"
                .to_owned(),
        ),
        (
            s.config(Some(&secret), &(observer(&watchdog) + &observer(&watchdog))),
            vec![],
            "observers[1].pubkey: same public key as observers[0].pubkey".to_owned(),
        ),
        (
            s.config(None, ""),
            vec![("SERBERO_PRIVATE_KEY", secret.clone()), ("SERBERO_PRIVATE_KEY_FILE", path(&own_key_file))],
            "serbero.private_key: both SERBERO_PRIVATE_KEY and SERBERO_PRIVATE_KEY_FILE are set; unset one of them"
                .to_owned(),
        ),
        (
            s.config(None, ""),
            vec![("SERBERO_PRIVATE_KEY_FILE", path(&absent))],
            format!("serbero.private_key: cannot read SERBERO_PRIVATE_KEY_FILE ({}): ", absent.display()),
        ),
        (
            s.config(Some(&secret), reasoning),
            vec![("LLM_KEY_FILE", path(&empty_file))],
            format!("reasoning.api_key: LLM_KEY_FILE ({}) is empty", empty_file.display()),
        ),
    ];
    let config_path = s.dir.path().join("serbero.toml");
    for (text, env, expected) in cases {
        std::fs::write(&config_path, &text).expect("write config");
        let env: Vec<(&str, &str)> = env.iter().map(|(name, value)| (*name, value.as_str())).collect();
        for command in ["check-config", "run"] {
            let output = serbero(&config_path, command, &env);
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "`{command}` for `{expected}`: {stderr}");
            assert!(
                stderr.starts_with(&format!("serbero: {expected}")),
                "`{command}`: want `{expected}`, got {stderr}"
            );
            assert_eq!(stderr.lines().count(), 1, "`{command}`: not one line: {stderr}");
            assert!(output.stdout.is_empty(), "`{command}` printed: {}", String::from_utf8_lossy(&output.stdout));
            assert!(!stderr.contains(&secret) && !stderr.contains(SAMPLE_NSEC), "secret in {stderr}");
        }
    }
}

#[test]
fn a_key_file_others_may_read_loads_with_a_warning() {
    let s = Setup::new();
    let key_file = s.file("serbero.key", &format!("{}\n", s.secret()), 0o644);
    let config_path = s.dir.path().join("serbero.toml");
    std::fs::write(&config_path, s.config(None, "")).expect("write config");

    let output = serbero(&config_path, "check-config", &[("SERBERO_PRIVATE_KEY_FILE", key_file.to_str().unwrap())]);

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains(&format!("serbero pubkey (npub): {}", s.us())), "{stdout}");
    let warning = format!(
        "warning: SERBERO_PRIVATE_KEY_FILE ({path}) is accessible to its group or others (mode 0644); \
         restrict it with `chmod 600 {path}`",
        path = key_file.display()
    );
    assert!(stdout.lines().any(|line| line == warning), "no `{warning}` in:\n{stdout}");
    assert!(!stdout.contains(&s.secret()), "secret in {stdout}");
}
