//! What the configuration refuses to protect the operator (published sample keys, Serbero's own
//! key as a recipient, a key in both recipient lists) and secrets read from files.

use nostr_sdk::{Keys, ToBech32};

use super::super::serbero::ENV_PRIVATE_KEY;
use super::super::*;
use super::loading::{
    base, parse_with_env, public_key, solver_section, MOSTRO_HEX, SECRET_HEX, SECRET_PUBKEY_HEX, SOLVER_A_HEX,
    SOLVER_B_HEX,
};

const SAMPLE_NSEC: &str = "nsec10eg29u5ru6c2j4h8vnp5ntyf0y94jkpfn6l88ceg8ynx5chjwpgsar5ek5";
const SAMPLE_SECRET_HEX: &str = "7e50a2f283e6b0a956e764c349ac89790b5958299ebe73e32839266a62f27051";
const SAMPLE_MOSTRO: &str = "npub1epa3xjtdp964hz6r9hrsuxee3m4grzzmc4nm4naktrjt6kswdhxqxkzlyd";
const SAMPLE_SOLVER: &str = "npub1x4fsgr5yfl9kqdewwlrvrgw6e30kuwm3t6pfpsqcxq0cky7t6nqswx6zst";
const SAMPLE_SOLVER_HEX: &str = "3553040e844fcb60372e77c6c1a1dacc5f6e3b715e8290c018301f8b13cbd4c1";
const SAMPLE_OBSERVER: &str = "npub14v7vcpzjllrzfvanhhvf96x6nxul7rq0guk6cekz633fwpwuwx7qke3kkm";
const OBSERVER_HEX: &str = "8cff8e180e12f3c197540d5cffd34437beee8af77fb89ce953f06bcc2314bfb5";

fn observer_section(pubkey: &str) -> String {
    format!("[[observers]]\npubkey = \"{pubkey}\"\n")
}

/// A file in `dir` holding `contents`, with `mode` on Unix; its path as a string.
fn secret_file(dir: &Path, name: &str, contents: &str, mode: u32) -> String {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = mode;
    path.to_str().unwrap().to_owned()
}

#[test]
fn each_refusal_is_one_line_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let sample_file = secret_file(dir.path(), "sample.key", &format!("{SAMPLE_NSEC}\n"), 0o600);
    let own_file = secret_file(dir.path(), "own.key", SECRET_HEX, 0o600);
    let llm_file = secret_file(dir.path(), "llm.key", "sk-from-file-91e2", 0o600);
    let empty_file = secret_file(dir.path(), "empty.key", "\n", 0o600);
    let absent = dir.path().join("absent.key").to_str().unwrap().to_owned();
    let other = Keys::generate();
    let other_secret = other.secret_key().to_secret_hex();
    let own_npub = public_key(SECRET_PUBKEY_HEX).to_bech32().unwrap();
    let reasoning = "[reasoning]\nenabled = true\napi_key_env = \"LLM_KEY\"\n";
    let as_serbero_key = |secret: &str| base().replace(SECRET_HEX, secret);

    let own_key = "Serbero's own public key (serbero.private_key); Serbero would send messages to itself";
    let placeholder = "a placeholder key from the shipped serbero.toml (marked REPLACE)";
    let sample_secret = "the sample key published in serbero.toml, with which anyone can read Serbero's messages";
    type Case<'a> = (String, Vec<(&'a str, &'a str)>, String);
    let cases: Vec<Case> = vec![
        // Serbero's own key as a recipient, as the node, or derived from an overriding key.
        (base() + &solver_section(SECRET_PUBKEY_HEX, ""), vec![], format!("solvers[0].pubkey: {own_key}")),
        (
            base() + &solver_section(SOLVER_A_HEX, "") + &solver_section(&own_npub, "permission = \"write\""),
            vec![],
            format!("solvers[1].pubkey: {own_key}"),
        ),
        (base() + &observer_section(SECRET_PUBKEY_HEX), vec![], format!("observers[0].pubkey: {own_key}")),
        (
            base() + &solver_section(&other.public_key().to_hex(), ""),
            vec![(ENV_PRIVATE_KEY, &other_secret)],
            format!("solvers[0].pubkey: {own_key}"),
        ),
        (
            base().replace(MOSTRO_HEX, SECRET_PUBKEY_HEX),
            vec![],
            "mostro.pubkey: same as Serbero's own public key (serbero.private_key)".to_owned(),
        ),
        // The published sample keys, however they arrive.
        (as_serbero_key(SAMPLE_NSEC), vec![], format!("serbero.private_key: {sample_secret}")),
        (as_serbero_key(SAMPLE_SECRET_HEX), vec![], format!("serbero.private_key: {sample_secret}")),
        (
            base(),
            vec![(ENV_PRIVATE_KEY, SAMPLE_NSEC)],
            format!("serbero.private_key (from SERBERO_PRIVATE_KEY): {sample_secret}"),
        ),
        (
            base(),
            vec![("SERBERO_PRIVATE_KEY_FILE", &sample_file)],
            format!("serbero.private_key (from SERBERO_PRIVATE_KEY_FILE): {sample_secret}"),
        ),
        (base().replace(MOSTRO_HEX, SAMPLE_MOSTRO), vec![], format!("mostro.pubkey: {placeholder}; put your Mostro")),
        (
            base() + &solver_section(SAMPLE_SOLVER, ""),
            vec![],
            format!("solvers[0].pubkey: {placeholder}; put a solver"),
        ),
        (base() + &solver_section(SAMPLE_SOLVER_HEX, ""), vec![], format!("solvers[0].pubkey: {placeholder}")),
        (base() + &observer_section(SAMPLE_SOLVER), vec![], format!("observers[0].pubkey: {placeholder}; put an")),
        (base() + &observer_section(SAMPLE_OBSERVER), vec![], format!("observers[0].pubkey: {placeholder}")),
        (base() + &solver_section(SAMPLE_MOSTRO, ""), vec![], format!("solvers[0].pubkey: {placeholder}")),
        // One key, one list.
        (
            base()
                + &observer_section(OBSERVER_HEX)
                + &observer_section(SOLVER_A_HEX)
                + &observer_section(OBSERVER_HEX),
            vec![],
            "observers[2].pubkey: same public key as observers[0].pubkey".to_owned(),
        ),
        (
            base()
                + &solver_section(SOLVER_A_HEX, "")
                + &solver_section(SOLVER_B_HEX, "")
                + &observer_section(SOLVER_B_HEX),
            vec![],
            "observers[0].pubkey: same public key as solvers[1].pubkey; a key is a solver or an observer, not both"
                .to_owned(),
        ),
        // Secrets from files.
        (
            base(),
            vec![(ENV_PRIVATE_KEY, SECRET_HEX), ("SERBERO_PRIVATE_KEY_FILE", &own_file)],
            "serbero.private_key: both SERBERO_PRIVATE_KEY and SERBERO_PRIVATE_KEY_FILE are set; unset one of them"
                .to_owned(),
        ),
        (
            base() + reasoning,
            vec![("LLM_KEY", "sk-direct-4f0a"), ("LLM_KEY_FILE", &llm_file)],
            "reasoning.api_key: both LLM_KEY and LLM_KEY_FILE are set; unset one of them".to_owned(),
        ),
        (
            base(),
            vec![("SERBERO_PRIVATE_KEY_FILE", &absent)],
            format!("serbero.private_key: cannot read SERBERO_PRIVATE_KEY_FILE ({absent}): "),
        ),
        (
            base() + reasoning,
            vec![("LLM_KEY_FILE", &empty_file)],
            format!("reasoning.api_key: LLM_KEY_FILE ({empty_file}) is empty"),
        ),
        (
            base(),
            vec![("SERBERO_PRIVATE_KEY_FILE", &llm_file)],
            "serbero.private_key (from SERBERO_PRIVATE_KEY_FILE): not a valid secret key".to_owned(),
        ),
    ];
    for (text, env, expected) in cases {
        let message = match parse_with_env(&text, &env) {
            Ok(_) => panic!("expected `{expected}` for {env:?}:\n{text}"),
            Err(error) => error.to_string(),
        };
        assert!(message.starts_with(&expected), "expected `{expected}`, got `{message}`");
        assert!(!message.contains('\n'), "not one line: {message}");
        for secret in [SAMPLE_NSEC, SAMPLE_SECRET_HEX, SECRET_HEX, &other_secret, "sk-from-file", "sk-direct"] {
            assert!(!message.contains(secret), "secret in `{message}`");
        }
    }
}

#[test]
fn observers_are_read_with_their_formats() {
    let text = base()
        + &solver_section(SOLVER_A_HEX, "")
        + &observer_section(OBSERVER_HEX)
        + &observer_section(SOLVER_B_HEX)
        + "formats = [\"mostrix\"]\n";
    let loaded = parse_with_env(&text, &[]).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let observers: Vec<(PublicKey, Formats)> =
        loaded.config.observers.iter().map(|observer| (observer.pubkey, observer.formats)).collect();
    assert_eq!(
        observers,
        [(public_key(OBSERVER_HEX), Formats::default()), (public_key(SOLVER_B_HEX), Formats::only(Format::Mostrix))]
    );
}

#[test]
fn secrets_come_from_the_files_their_file_variables_name() {
    let dir = tempfile::tempdir().unwrap();
    let other = Keys::generate();
    let key_file =
        secret_file(dir.path(), "serbero.key", &format!("{}\n", other.secret_key().to_bech32().unwrap()), 0o400);
    let api_file = secret_file(dir.path(), "api.key", "  sk-from-file-33b0\n", 0o600);
    let enabled = base() + &solver_section(SOLVER_A_HEX, "") + "[reasoning]\nenabled = true\n";
    let env = [("SERBERO_PRIVATE_KEY_FILE", key_file.as_str()), ("SERBERO_REASONING_API_KEY_FILE", api_file.as_str())];
    let loaded = parse_with_env(&enabled, &env).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.config.serbero.keys.public_key(), other.public_key());
    assert_eq!(loaded.config.reasoning.api_key.as_deref(), Some("sk-from-file-33b0"));
    assert!(loaded.config.reasoning.enabled);
    assert!(!format!("{loaded:?}").contains("sk-from-file"));

    // The file form of a variable named by reasoning.api_key_env; unused while reasoning is off.
    let named = enabled.replace("enabled = true\n", "enabled = true\napi_key_env = \"LLM_KEY\"\n");
    let loaded = parse_with_env(&named, &[("LLM_KEY_FILE", &api_file)]).unwrap();
    assert_eq!(loaded.config.reasoning.api_key.as_deref(), Some("sk-from-file-33b0"));
    let off = parse_with_env(&base(), &[("SERBERO_REASONING_API_KEY_FILE", "/nonexistent/key")]).unwrap();
    assert!(off.config.reasoning.api_key.is_none());
}

#[cfg(unix)]
#[test]
fn a_secret_file_its_group_or_others_can_read_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = secret_file(dir.path(), "serbero.key", SECRET_HEX, 0o640);
    let api_file = secret_file(dir.path(), "api.key", "sk-from-file-0c4d", 0o644);
    let enabled = base() + &solver_section(SOLVER_A_HEX, "") + "[reasoning]\nenabled = true\n";
    let env = [("SERBERO_PRIVATE_KEY_FILE", key_file.as_str()), ("SERBERO_REASONING_API_KEY_FILE", api_file.as_str())];
    let loaded = parse_with_env(&enabled, &env).unwrap();
    assert_eq!(loaded.config.serbero.keys.public_key(), public_key(SECRET_PUBKEY_HEX));
    assert_eq!(
        loaded.warnings,
        [
            format!(
                "SERBERO_PRIVATE_KEY_FILE ({key_file}) is accessible to its group or others (mode 0640); \
                 restrict it with `chmod 600 {key_file}`"
            ),
            format!(
                "SERBERO_REASONING_API_KEY_FILE ({api_file}) is accessible to its group or others (mode 0644); \
                 restrict it with `chmod 600 {api_file}`"
            ),
        ]
    );
}
