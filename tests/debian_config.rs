//! The configuration the Debian package installs (`contrib/debian/serbero.toml`) is the
//! repository's sample `serbero.toml` with the installation's paths and without the sample's
//! published private key, nothing else: the sample stays the single source. When the sample
//! changes, this test fails and says how to write the packaged file again.

use std::path::Path;

const STATE_DIR: &str = "/var/lib/serbero";
const PROMPTS_DIR: &str = "/usr/share/serbero/prompts";

const HEADER: &str = "\
# Serbero's configuration, installed by the serbero Debian package.
#
# It is the sample serbero.toml of Serbero's repository with the paths of the package (the
# database in the state directory /var/lib/serbero, the prompts in /usr/share/serbero/prompts)
# and without a private key. Before the service can start: replace the placeholder keys marked
# REPLACE below, and give Serbero its own key outside this file, as a systemd credential read
# through SERBERO_PRIVATE_KEY_FILE (recommended) or as SERBERO_PRIVATE_KEY in /etc/serbero/env.
# Until then `serbero check-config` fails, and so does the unit's start.
# See /usr/share/doc/serbero/README.md, \"Running it as a service\". The unit also sets
# SERBERO_DB_PATH=/var/lib/serbero/serbero.db, which takes precedence over db_path below.
#
";

#[test]
fn the_packaged_configuration_is_the_sample_with_the_install_paths() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let sample = std::fs::read_to_string(root.join("serbero.toml")).expect("the sample");
    let (want, problems) = installed_config(&sample);
    assert!(problems.is_empty(), "the sample no longer has what the package adjusts: {problems:?}");
    let packaged = root.join("contrib/debian/serbero.toml");
    if std::env::var_os("SERBERO_WRITE_PACKAGE_CONFIG").is_some() {
        std::fs::write(&packaged, &want).expect("write the packaged configuration");
    }
    let got = std::fs::read_to_string(&packaged).unwrap_or_default();
    assert!(
        got == want,
        "{} is not the sample with the install paths; write it again with\n  \
         SERBERO_WRITE_PACKAGE_CONFIG=1 cargo test --test debian_config",
        packaged.display()
    );
    assert!(!got.lines().any(|l| l.trim_start().starts_with("private_key")), "no key is packaged");
}

/// The sample with the installation's paths and without an active `private_key` line, and what
/// could not be adjusted (a changed sample; the package test reports it too).
fn installed_config(sample: &str) -> (String, Vec<String>) {
    let mut installed = String::from(HEADER);
    let (mut db_paths, mut prompt_paths) = (0, 0);
    for line in sample.lines() {
        let key_and_value = Some(line.trim_start()).filter(|l| !l.starts_with('#')).and_then(|l| l.split_once('='));
        match key_and_value.map(|(key, value)| (key.trim().trim_matches('"'), value.trim())) {
            Some(("private_key", _)) => {
                installed.push_str("# private_key: removed by the package (the sample's key is published); see the\n");
                installed.push_str("# top of this file for where Serbero reads its key from.\n");
                continue;
            }
            Some(("db_path", _)) => {
                db_paths += 1;
                installed.push_str(&format!("db_path = \"{STATE_DIR}/serbero.db\"\n"));
                continue;
            }
            Some((key, value)) if value.starts_with("\"./prompts/") => {
                prompt_paths += 1;
                installed.push_str(&format!("{key} = \"{PROMPTS_DIR}/{}\n", &value["\"./prompts/".len()..]));
                continue;
            }
            _ => {}
        }
        installed.push_str(line);
        installed.push('\n');
    }
    let mut problems = Vec::new();
    if db_paths != 1 {
        problems.push(format!("expected one db_path line in the sample, found {db_paths}"));
    }
    if prompt_paths == 0 {
        problems.push("no [prompts] path of the form \"./prompts/...\" in the sample".to_owned());
    }
    (installed, problems)
}
