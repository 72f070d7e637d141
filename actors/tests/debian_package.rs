//! The Debian package: `cargo deb` packages the very binary under test (the metadata is in
//! `actors/Cargo.toml`, the maintainer scripts in `contrib/debian/`), `dpkg -i` installs it on
//! this machine with the files, modes, owners and system user the README promises and no secret,
//! the installed `serbero check-config` accepts the installed configuration once an operator
//! replaced its placeholder keys and gave a key through `SERBERO_PRIVATE_KEY`, and `dpkg -r` then
//! `dpkg -P` take everything away again.
//!
//! The binary under test is the test build's: default features, so it still has `serbero demo`.
//! A release package leaves the demo out (`default-features = false` in the metadata, so cargo-deb
//! builds with `--no-default-features`); `production_build.rs` checks that build's features and
//! dependency graph, which building it here as well would cost a second full compile.
//!
//! It needs root, dpkg and cargo-deb. Without them it fails under CI (`.ci/run` installs
//! cargo-deb; CI runs as root) and is skipped elsewhere with one line on stderr, so a plain
//! `cargo test` passes on a machine without root. It is the only test in this file: it changes
//! the machine (a package, a user), so nothing else may run beside it; a lock file keeps other
//! runs of it on the machine waiting.

use std::collections::BTreeSet;
use std::fs;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use nostr_sdk::prelude::*;
use serbero_core::config::Config;
use serbero_core::prompts::PromptBundle;

/// The cargo-deb version `.ci/run` installs and the README names.
const CARGO_DEB_VERSION: &str = "3.8.0";
/// The Debian revision of the packages this test builds: an installed `serbero` with it is left
/// over from an interrupted run and is purged; any other installed `serbero` is left alone.
const TEST_REVISION: &str = "0~test";

const BINARY: &str = "/usr/bin/serbero";
const CONFIG: &str = "/etc/serbero/serbero.toml";
const UNIT: &str = "/usr/lib/systemd/system/serbero.service";
const PROMPTS: &str = "/usr/share/serbero/prompts";
const STATE: &str = "/var/lib/serbero";
const ENABLED_LINK: &str = "/etc/systemd/system/multi-user.target.wants/serbero.service";

const REPOSITORY_SAMPLE: &str = include_str!("../../serbero.toml");
const REPOSITORY_UNIT: &str = include_str!("../../contrib/serbero.service");

#[test]
fn the_package_installs_runs_check_config_and_purges_cleanly() {
    if let Err(problem) = missing_prerequisite() {
        skip_or_fail(&problem);
        return;
    }
    let _one_at_a_time = MachineLock::acquire();
    if let Err(problem) = nothing_of_anyone_else() {
        skip_or_fail(&problem);
        return;
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf();
    let binary_under_test = PathBuf::from(env!("CARGO_BIN_EXE_serbero"));
    let out = tempfile::tempdir().expect("temporary directory");

    let deb = build_package(&workspace, &binary_under_test, out.path());
    check_contents(&deb, &binary_under_test, out.path());

    let _purge = PurgeOnDrop;
    run_ok(Command::new("dpkg").arg("-i").arg(&deb));
    check_installed(&binary_under_test, &workspace);
    let installed = check_installed_config();
    // What the operator does next: the placeholder keys of the sample are refused, so each
    // `pubkey` is replaced with a real one.
    let edited = with_fresh_public_keys(&installed);
    fs::write(CONFIG, &edited).expect("edit the installed configuration");
    check_edited_config_loads(&edited);
    check_config_with_a_fresh_key();

    // What an operator leaves behind; purge takes it away too.
    fs::write("/etc/serbero/env", "SERBERO_PRIVATE_KEY=\n").expect("write /etc/serbero/env");
    fs::write(Path::new(STATE).join("serbero.db"), b"").expect("write a database file");
    run_ok(Command::new("chown").args(["serbero:serbero", "/var/lib/serbero/serbero.db"]));

    run_ok(Command::new("dpkg").args(["-r", "serbero"]));
    for gone in [BINARY, UNIT, PROMPTS] {
        assert!(!Path::new(gone).exists(), "dpkg -r left {gone}");
    }
    for kept in [CONFIG, "/etc/serbero/env", "/var/lib/serbero/serbero.db"] {
        assert!(Path::new(kept).exists(), "dpkg -r removed {kept}: only purge may");
    }
    assert!(getent("passwd", "serbero").is_some(), "dpkg -r removed the user: only purge may");

    run_ok(Command::new("dpkg").args(["-P", "serbero"]));
    for gone in [BINARY, UNIT, "/usr/share/serbero", "/etc/serbero", STATE, ENABLED_LINK] {
        assert!(!Path::new(gone).exists(), "dpkg -P left {gone}");
    }
    assert_eq!(getent("passwd", "serbero"), None, "dpkg -P left the user");
    assert_eq!(getent("group", "serbero"), None, "dpkg -P left the group");
    let status = Command::new("dpkg").args(["-s", "serbero"]).output().expect("dpkg -s");
    assert!(
        !status.status.success() && String::from_utf8_lossy(&status.stderr).contains("not installed"),
        "dpkg -s serbero after purge: {}",
        String::from_utf8_lossy(&status.stdout)
    );
}

/// `cargo deb --no-build` on the profile (and target) of the binary under test: the package holds
/// that file unchanged (`--no-strip`), and the configuration the build script generated beside
/// it. gzip at its fastest keeps packaging an unoptimised binary to seconds.
fn build_package(workspace: &Path, binary: &Path, out: &Path) -> PathBuf {
    let profile_dir = binary.parent().expect("profile directory");
    let profile = match profile_dir.file_name().and_then(|name| name.to_str()).expect("profile name") {
        "debug" => "dev".to_owned(),
        name => name.to_owned(),
    };
    // <target dir>/<profile>/serbero, or <target dir>/<triple>/<profile>/serbero under --target.
    let mut target_dir = profile_dir.parent().expect("target directory").to_path_buf();
    let mut triple = None;
    if !target_dir.join("CACHEDIR.TAG").exists() && target_dir.parent().is_some_and(|p| p.join("CACHEDIR.TAG").exists())
    {
        triple = target_dir.file_name().map(|name| name.to_string_lossy().into_owned());
        target_dir.pop();
    }
    let mut command = Command::new(cargo());
    command
        .current_dir(workspace)
        .env("CARGO_TARGET_DIR", &target_dir)
        .args(["deb", "-p", "serbero", "--no-build", "--quiet", "--no-strip", "--fast"])
        .args(["-Z", "gz", "--compress-system", "--deb-revision", TEST_REVISION, "--profile", &profile])
        .arg("--output")
        .arg(out);
    if let Some(triple) = triple {
        command.args(["--target", &triple]);
    }
    run_ok(&mut command);
    let debs: Vec<PathBuf> = fs::read_dir(out)
        .expect("output directory")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "deb"))
        .collect();
    assert_eq!(debs.len(), 1, "cargo deb made one package: {debs:?}");
    debs.into_iter().next().unwrap()
}

/// What `dpkg -c` lists: the files promised, with their modes, and no secret in any of them.
fn check_contents(deb: &Path, binary_under_test: &Path, out: &Path) {
    let listing = String::from_utf8(run_ok(Command::new("dpkg").arg("-c").arg(deb)).stdout).expect("utf-8");
    // "-rw-r--r-- 0/0  5518 2026-01-01 00:00 ./usr/share/serbero/prompts/phase3-system.md"
    let files: Vec<(String, String)> = listing
        .lines()
        .filter(|line| line.starts_with('-'))
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let path = fields.last().expect("a path").trim_start_matches('.').to_owned();
            (path, fields[0].to_owned())
        })
        .collect();
    let mode_of = |path: &str| files.iter().find(|(p, _)| p == path).map(|(_, mode)| mode.as_str());
    assert_eq!(mode_of(BINARY), Some("-rwxr-xr-x"), "{listing}");
    assert_eq!(mode_of(CONFIG), Some("-rw-r-----"), "{listing}");
    assert_eq!(mode_of(UNIT), Some("-rw-r--r--"), "{listing}");
    assert_eq!(mode_of("/usr/share/doc/serbero/README.md"), Some("-rw-r--r--"), "{listing}");
    for prompt in repository_prompts() {
        assert_eq!(mode_of(&format!("{PROMPTS}/{prompt}")), Some("-rw-r--r--"), "{listing}");
    }

    let root = out.join("contents");
    run_ok(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&root));
    // Every text file: the configuration, the unit, the prompts, the documentation.
    let sample_key = sample_private_key();
    let mut texts = 0;
    for (path, _) in &files {
        let Ok(text) = fs::read_to_string(root.join(path.trim_start_matches('/'))) else { continue };
        texts += 1;
        if let Some(key) = &sample_key {
            assert!(!text.contains(key.as_str()), "{path} holds the repository sample's private key");
        }
        let secrets = secret_keys_in(&text, path.starts_with("/etc/"));
        assert!(secrets.is_empty(), "{path} holds {} secret key(s)", secrets.len());
    }
    assert!(texts >= files.len() - 1, "every file but the binary is text: {listing}");
    let packaged = fs::read(root.join(BINARY.trim_start_matches('/'))).expect("packaged binary");
    assert!(
        packaged == fs::read(binary_under_test).expect("binary under test"),
        "the package holds the binary under test"
    );
}

/// The installed files, their modes and owners, the system user, and a unit left alone.
fn check_installed(binary_under_test: &Path, workspace: &Path) {
    let (uid, gid) = {
        let user = getent("passwd", "serbero").expect("the package created the user serbero");
        let fields: Vec<&str> = user.split(':').collect();
        assert_eq!(fields[5], STATE, "home directory: {user}");
        assert!(["/usr/sbin/nologin", "/sbin/nologin", "/bin/false"].contains(&fields[6]), "login shell: {user}");
        let uid: u32 = fields[2].parse().expect("uid");
        assert!(uid < 1000, "a system user: {user}");
        let group = getent("group", "serbero").expect("the package created the group serbero");
        let gid: u32 = group.split(':').nth(2).and_then(|gid| gid.parse().ok()).expect("gid");
        assert_eq!(fields[3].parse::<u32>().ok(), Some(gid), "the user's primary group is serbero: {user}");
        (uid, gid)
    };

    let expect = |path: &str, mode: u32, owner: (u32, u32)| {
        let meta = fs::metadata(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(meta.permissions().mode() & 0o7777, mode, "{path}: mode {:o}", meta.permissions().mode());
        assert_eq!((meta.uid(), meta.gid()), owner, "{path}: owner");
    };
    expect(BINARY, 0o755, (0, 0));
    expect("/etc/serbero", 0o750, (0, gid));
    expect(CONFIG, 0o640, (0, gid));
    expect(UNIT, 0o644, (0, 0));
    expect(STATE, 0o750, (uid, gid));
    for prompt in repository_prompts() {
        let installed = format!("{PROMPTS}/{prompt}");
        expect(&installed, 0o644, (0, 0));
        assert_eq!(fs::read(&installed).ok(), fs::read(workspace.join("prompts").join(&prompt)).ok(), "{installed}");
    }
    assert!(fs::read(BINARY).expect("installed binary") == fs::read(binary_under_test).expect("binary"));

    let conffiles =
        String::from_utf8(run_ok(Command::new("dpkg-query").args(["-W", "-f=${Conffiles}", "serbero"])).stdout)
            .expect("utf-8");
    assert!(conffiles.contains(CONFIG), "{CONFIG} is a conffile: {conffiles}");

    // The unit is the repository's, and names the package's paths.
    assert_eq!(fs::read_to_string(UNIT).expect("unit"), REPOSITORY_UNIT);
    for key in ["ExecStartPre=", "ExecStart="] {
        let line = REPOSITORY_UNIT.lines().find(|line| line.starts_with(key)).expect(key);
        let expected = format!("{key}{BINARY} --config {CONFIG} ");
        assert!(line.starts_with(&expected), "{line}");
    }
    assert!(!Path::new(ENABLED_LINK).exists(), "the package must not enable the unit: it has no key yet");
}

/// The installed configuration is the repository's sample with the package's paths and without
/// a private key.
fn check_installed_config() -> String {
    let installed = fs::read_to_string(CONFIG).expect("installed configuration");
    let active = |line: &&str| !line.trim_start().starts_with('#') && line.contains('=');
    assert!(!installed.lines().filter(active).any(|line| key_of(line) == "private_key"), "a private_key line is set");
    assert!(installed.lines().any(|line| line == format!("db_path = \"{STATE}/serbero.db\"")), "{installed}");

    // Every other line of the sample is there, in order.
    let mut rest = installed.lines();
    for line in REPOSITORY_SAMPLE.lines() {
        let changed = active(&line)
            && (["private_key", "db_path"].contains(&key_of(line).as_str()) || line.contains("\"./prompts/"));
        if !changed {
            assert!(rest.any(|installed_line| installed_line == line), "the sample's line is missing or moved: {line}");
        }
    }
    installed
}

/// The configuration as an operator would edit it: every `pubkey` set to a key of their own.
fn with_fresh_public_keys(config: &str) -> String {
    let mut edited = String::new();
    for line in config.lines() {
        if !line.trim_start().starts_with('#') && key_of(line) == "pubkey" {
            edited.push_str(&format!("pubkey = \"{}\"", Keys::generate().public_key().to_bech32().expect("npub")));
        } else {
            edited.push_str(line);
        }
        edited.push('\n');
    }
    edited
}

/// The edited configuration loads without warnings, and its prompt paths (the package's) load.
fn check_edited_config_loads(edited: &str) {
    let key_line = format!("[serbero]\nprivate_key = \"{}\"\n", Keys::generate().secret_key().to_secret_hex());
    let loaded = Config::from_toml_str(&edited.replacen("[serbero]\n", &key_line, 1))
        .expect("the installed configuration loads once edited");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let prompts = &loaded.config.prompts;
    for path in [
        &prompts.system_instructions_path,
        &prompts.classification_policy_path,
        &prompts.escalation_policy_path,
        &prompts.mediation_style_path,
        &prompts.message_templates_path,
    ] {
        assert!(path.starts_with(PROMPTS), "{}", path.display());
    }
    PromptBundle::load(prompts).expect("the installed prompts load");
}

fn key_of(line: &str) -> String {
    line.split('=').next().unwrap_or_default().trim().trim_matches('"').to_owned()
}

/// With no key `check-config` fails (the file holds none); with `SERBERO_PRIVATE_KEY` it passes
/// and prints that key's npub, as root and as the daemon's user; other users cannot read the file.
fn check_config_with_a_fresh_key() {
    let check = |key: Option<&str>| {
        let mut command = Command::new(BINARY);
        command.args(["check-config", "--config", CONFIG]).env_clear();
        if let Some(key) = key {
            command.env("SERBERO_PRIVATE_KEY", key);
        }
        command.output().expect("run the installed serbero")
    };
    let without = check(None);
    let stderr = String::from_utf8_lossy(&without.stderr);
    assert_eq!(without.status.code(), Some(2), "check-config without a key: {stderr}");
    assert!(stderr.contains("serbero.private_key"), "{stderr}");

    let keys = Keys::generate();
    let with = check(Some(&keys.secret_key().to_bech32().expect("nsec")));
    let stdout = String::from_utf8_lossy(&with.stdout);
    assert!(with.status.success(), "check-config: {}{stdout}", String::from_utf8_lossy(&with.stderr));
    let npub = keys.public_key().to_bech32().expect("npub");
    assert!(stdout.contains(&format!("serbero pubkey (npub): {npub}")), "{stdout}");
    assert!(stdout.contains(&format!("database:              {STATE}/serbero.db")), "{stdout}");
    assert!(!stdout.contains("warning:"), "{stdout}");

    let as_user = |user: &str, program: &str, args: &[&str]| {
        Command::new("runuser")
            .args(["-u", user, "--", program])
            .args(args)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("SERBERO_PRIVATE_KEY", keys.secret_key().to_bech32().expect("nsec"))
            .output()
            .expect("runuser")
    };
    let check = as_user("serbero", BINARY, &["check-config", "--config", CONFIG]);
    assert!(check.status.success(), "check-config as serbero: {}", String::from_utf8_lossy(&check.stderr));
    let other = as_user("nobody", "cat", &[CONFIG]);
    assert!(!other.status.success(), "another user can read {CONFIG}");
}

/// Purges the package however the test ends, so a failed assertion leaves no package behind.
struct PurgeOnDrop;

impl Drop for PurgeOnDrop {
    fn drop(&mut self) {
        if installed_version().is_some() {
            let _ = Command::new("dpkg").args(["-P", "serbero"]).output();
        }
    }
}

/// Under CI a missing prerequisite fails the test; elsewhere it is skipped with one line on
/// stderr, written past the test harness's capture so that it shows.
fn skip_or_fail(problem: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("debian_package: {problem}");
    }
    let line = format!("debian_package: skipped: {problem}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// Root, dpkg and cargo-deb.
fn missing_prerequisite() -> Result<(), String> {
    let succeeds = |program: &str, args: &[&str]| {
        Command::new(program).args(args).output().is_ok_and(|output| output.status.success())
    };
    let root = Command::new("id").arg("-u").output().is_ok_and(|output| output.stdout.trim_ascii() == b"0");
    let dpkg = succeeds("dpkg", &["--version"]) && succeeds("dpkg-deb", &["--version"]);
    let cargo_deb = succeeds(&cargo(), &["deb", "--version"]);
    let missing: Vec<&str> = [(root, "root"), (dpkg, "dpkg"), (cargo_deb, "cargo-deb")]
        .into_iter()
        .filter(|(ok, _)| !ok)
        .map(|(_, what)| what)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "needs root, dpkg and cargo-deb, missing {}: install cargo-deb with `cargo install cargo-deb --locked \
         --version {CARGO_DEB_VERSION}`, then run `cargo test -p serbero --test debian_package` as root",
        missing.join(", ")
    ))
}

/// No `serbero` of anyone else's on the machine, as the test purges what it installs. A package
/// of this test's left by an interrupted run is purged; anything else named serbero
/// (a package, a user, its directories) stops the test, which would delete it.
fn nothing_of_anyone_else() -> Result<(), String> {
    if let Some(version) = installed_version() {
        if !version.ends_with(&format!("-{TEST_REVISION}")) {
            return Err(format!("serbero {version} is installed here, and this test would purge it"));
        }
        let _ = writeln!(std::io::stderr(), "debian_package: purging serbero {version}, left by an interrupted run");
        run_ok(Command::new("dpkg").args(["-P", "serbero"]));
    }
    if let Some(path) = [STATE, "/etc/serbero"].into_iter().find(|path| Path::new(path).exists()) {
        return Err(format!("{path} exists without the package (installed by hand?), and this test would delete it"));
    }
    if getent("passwd", "serbero").is_some() || getent("group", "serbero").is_some() {
        return Err("a user or group serbero exists without the package, and this test would delete it".to_owned());
    }
    Ok(())
}

/// One run of this test at a time on the machine (several checkouts' `cargo test` would install
/// and purge the same package): a file holding the holder's process id, taken over when that
/// process is gone.
struct MachineLock(PathBuf);

impl MachineLock {
    fn acquire() -> Self {
        let path = std::env::temp_dir().join("serbero-debian-package-test.lock");
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    write!(file, "{}", std::process::id()).expect("write the lock file");
                    return Self(path);
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                    let holder = fs::read_to_string(&path).ok().and_then(|pid| pid.trim().parse::<u32>().ok());
                    let age = fs::metadata(&path).and_then(|meta| meta.modified()).ok().and_then(|t| t.elapsed().ok());
                    let gone = match holder {
                        Some(pid) => !Path::new(&format!("/proc/{pid}")).exists(),
                        // Just created, the id not yet written; or left empty by a crash.
                        None => age.is_some_and(|age| age > Duration::from_secs(10)),
                    };
                    if gone {
                        let _ = fs::remove_file(&path);
                        continue;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "another run of this test holds {} ({holder:?})",
                        path.display()
                    );
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => panic!("{}: {e}", path.display()),
            }
        }
    }
}

impl Drop for MachineLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// The version of the installed (or half-removed) `serbero` package, if any.
fn installed_version() -> Option<String> {
    let output =
        Command::new("dpkg-query").args(["-W", "-f=${db:Status-Abbrev} ${Version}", "serbero"]).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (status, version) = text.split_once(' ')?;
    (output.status.success() && !status.starts_with("un") && !status.starts_with("pn"))
        .then(|| version.trim().to_owned())
}

fn getent(database: &str, name: &str) -> Option<String> {
    let output = Command::new("getent").args([database, name]).output().expect("getent");
    output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

fn run_ok(command: &mut Command) -> Output {
    let output = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn repository_prompts() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../prompts");
    let names: BTreeSet<String> = fs::read_dir(dir)
        .expect("prompts/")
        .map(|entry| entry.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .collect();
    assert!(!names.is_empty(), "prompts/ holds the prompt files");
    names
}

/// The value of the sample's `private_key` line, if it has one.
fn sample_private_key() -> Option<String> {
    REPOSITORY_SAMPLE
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .find(|(key, _)| key.trim() == "private_key")
        .map(|(_, value)| value.trim().trim_matches('"').to_owned())
        .filter(|value| !value.is_empty())
}

/// Words of the text that are secret keys: bech32 `nsec1…` anywhere, and 64 hex characters where
/// `hex_too` (configuration files; elsewhere such words are ids and hashes).
fn secret_keys_in(text: &str, hex_too: bool) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| {
            let is_hex = word.len() == 64 && word.bytes().all(|b| b.is_ascii_hexdigit());
            (word.starts_with("nsec1") || (hex_too && is_hex)) && SecretKey::parse(word).is_ok()
        })
        .map(str::to_owned)
        .collect()
}
