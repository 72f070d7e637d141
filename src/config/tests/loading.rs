//! Loading whole configuration files: every section read, defaults, one-line errors naming
//! the key, warnings, environment overrides and secrets kept out of every message.

use std::fmt;

use nostr_sdk::ToBech32;

use super::super::serbero::{ENV_DB_PATH, ENV_LOG, ENV_PRIVATE_KEY};
use super::super::*;

// Throwaway keys, used only here (not the shipped sample's: those are refused).
pub(super) const SECRET_HEX: &str = "77f501c954ef64c9565f382871017161421147cb8243af54708990de609194c4";
pub(super) const SECRET_PUBKEY_HEX: &str = "b61eeceb40f034619096bb182d42429a1c8e6b8cd61cceee0cee858c6eb2585f";
pub(super) const MOSTRO_HEX: &str = "1724a77bc001a73a715e289274f139961bf0ea0a86b86d9c5e48802aebf6b366";
pub(super) const SOLVER_A_HEX: &str = "f8ac194bd211350f68f6b326cde9c5252f4803acdb1ffe44591b7febd2c16c07";
pub(super) const SOLVER_B_HEX: &str = "7a480e912c31a947a2d5617bdefb85237e99b7ae51e9ebdfcd5d6fec393cb2db";

/// The smallest valid file; cases break it with `replace` or extend it by appending sections.
pub(super) fn base() -> String {
    format!(
        "[serbero]\nprivate_key = \"{SECRET_HEX}\"\n\n[mostro]\npubkey = \"{MOSTRO_HEX}\"\n\n\
         [[relays]]\nurl = \"wss://relay.example\"\n\n"
    )
}

pub(super) fn solver_section(pubkey: &str, extra: &str) -> String {
    format!("[[solvers]]\npubkey = \"{pubkey}\"\n{extra}\n")
}

/// Parses with the given environment instead of the process one.
pub(super) fn parse_with_env(text: &str, vars: &[(&str, &str)]) -> Result<Loaded, ConfigError> {
    let lookup = |name: &str| vars.iter().find(|(var, _)| *var == name).map(|(_, value)| value.to_string());
    parse(text, PathBuf::from(INLINE_ORIGIN), &lookup)
}

fn parse_ok(text: &str) -> Loaded {
    parse_with_env(text, &[]).unwrap_or_else(|error| panic!("expected a valid config: {error}"))
}

fn parse_err(text: &str) -> String {
    match parse_with_env(text, &[]) {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(error) => error.to_string(),
    }
}

pub(super) fn public_key(hex: &str) -> PublicKey {
    PublicKey::parse(hex).unwrap()
}

/// Every section with a value different from its default.
pub(super) fn full_document() -> String {
    base()
        + &solver_section(SOLVER_A_HEX, "permission = \"write\"")
        + &solver_section(SOLVER_B_HEX, "")
        + r#"
[[relays]]
url = "ws://127.0.0.1:7777"

[serbero.extra_never]

[timeouts]
renotification_seconds = 600
renotification_check_interval_seconds = 5

[outbox]
max_attempts = 3
retry_initial_seconds = 2
retry_max_seconds = 20
claim_ttl_seconds = 15

[mediation]
enabled = true
max_rounds = 0
party_response_timeout_seconds = 0
solver_auth_retry_initial_seconds = 7
solver_auth_retry_max_interval_seconds = 70
solver_auth_retry_max_total_seconds = 700
solver_auth_retry_max_attempts = 4
take_timeout_seconds = 9
session_timeout_seconds = 0
idle_hibernate_seconds = 5
party_questions = "model"
question_guard = false
transcript_quiet_seconds = 4
transcript_max_wait_seconds = 40

[reasoning]
provider = "anthropic"
model = "claude"
api_base = "https://llm.example/v1/"
api_key_env = "MY_KEY"
request_timeout_seconds = 9
followup_retry_count = 3

[prompts]
system_instructions_path = "p/a.md"
classification_policy_path = "p/b.md"
escalation_policy_path = "p/c.md"
mediation_style_path = "p/d.md"
message_templates_path = "p/e.md"

[chat]
inbound_fetch_interval_seconds = 4

[escalation]
enabled = true
dispatch_interval_seconds = 8
fallback_to_all_solvers = true

[retention]
days = 30
"#
}

#[test]
fn full_file_parses_every_section() {
    let loaded = parse_ok(&full_document());
    let config = &loaded.config;
    assert_eq!(loaded.path, Path::new("<inline>"));
    assert_eq!(config.serbero.keys.public_key(), public_key(SECRET_PUBKEY_HEX));
    assert_eq!(config.serbero.db_path, Path::new("serbero.db"));
    assert_eq!(config.serbero.log_level, "info");
    assert_eq!(config.mostro.pubkey, public_key(MOSTRO_HEX));
    let relays: Vec<&str> = config.relays.iter().map(RelayUrl::as_str).collect();
    assert_eq!(relays, ["wss://relay.example", "ws://127.0.0.1:7777"]);
    let write = Solver::new(public_key(SOLVER_A_HEX), Permission::Write);
    let read = Solver::new(public_key(SOLVER_B_HEX), Permission::Read);
    assert_eq!(config.solvers, [write, read]);
    // Debug output lists every field, so one comparison per section covers them all.
    let expected_sections = [
        format!("{:?}", Timeouts { renotification_seconds: 600, renotification_check_interval_seconds: 5 }),
        format!(
            "{:?}",
            OutboxSettings { max_attempts: 3, retry_initial_seconds: 2, retry_max_seconds: 20, claim_ttl_seconds: 15 }
        ),
        format!(
            "{:?}",
            MediationSettings {
                enabled: true,
                max_rounds: 0,
                party_response_timeout_seconds: 0,
                solver_auth_retry_initial_seconds: 7,
                solver_auth_retry_max_interval_seconds: 70,
                solver_auth_retry_max_total_seconds: 700,
                solver_auth_retry_max_attempts: 4,
                take_timeout_seconds: 9,
                session_timeout_seconds: 0,
                idle_hibernate_seconds: 5,
                party_questions: PartyQuestions::Model,
                question_guard: false,
                transcript_quiet_seconds: 4,
                transcript_max_wait_seconds: 40,
            }
        ),
        format!(
            "{:?}",
            ReasoningSettings {
                enabled: false,
                provider: "anthropic".into(),
                model: "claude".into(),
                api_base: "https://llm.example/v1".into(),
                api_key_env: "MY_KEY".into(),
                request_timeout_seconds: 9,
                followup_retry_count: 3,
                api_key: None,
            }
        ),
        format!(
            "{:?}",
            PromptSettings {
                system_instructions_path: "p/a.md".into(),
                classification_policy_path: "p/b.md".into(),
                escalation_policy_path: "p/c.md".into(),
                mediation_style_path: "p/d.md".into(),
                message_templates_path: "p/e.md".into(),
            }
        ),
        format!("{:?}", ChatSettings { inbound_fetch_interval_seconds: 4 }),
        format!(
            "{:?}",
            EscalationSettings { enabled: true, dispatch_interval_seconds: 8, fallback_to_all_solvers: true }
        ),
        format!("{:?}", RetentionSettings { days: 30 }),
    ];
    let actual_sections = [
        format!("{:?}", config.timeouts),
        format!("{:?}", config.outbox),
        format!("{:?}", config.mediation),
        format!("{:?}", config.reasoning),
        format!("{:?}", config.prompts),
        format!("{:?}", config.chat),
        format!("{:?}", config.escalation),
        format!("{:?}", config.retention),
    ];
    assert_eq!(actual_sections, expected_sections);
    assert_eq!(loaded.warnings, ["unknown configuration key `serbero.extra_never` (ignored)"]);
}

#[test]
fn optional_sections_take_their_defaults() {
    let loaded = parse_ok(&(base() + &solver_section(SOLVER_A_HEX, "")));
    let config = &loaded.config;
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(config.solvers[0].permission, Permission::Read);
    let debug = |value: &dyn fmt::Debug| format!("{value:?}");
    assert_eq!(debug(&config.timeouts), debug(&Timeouts::default()));
    assert_eq!(debug(&config.outbox), debug(&OutboxSettings::default()));
    assert_eq!(debug(&config.mediation), debug(&MediationSettings::default()));
    assert_eq!(debug(&config.reasoning), debug(&ReasoningSettings::default()));
    assert_eq!(debug(&config.prompts), debug(&PromptSettings::default()));
    assert_eq!(debug(&config.chat), debug(&ChatSettings::default()));
    assert_eq!(debug(&config.escalation), debug(&EscalationSettings::default()));
    assert_eq!(config.retention, RetentionSettings::default());
    assert_eq!(config.reasoning.model, "gpt-4o-mini");
    assert_eq!(config.timeouts.renotification_seconds, 300);
    assert_eq!(config.outbox.max_attempts, 10);
    assert_eq!(config.escalation.dispatch_interval_seconds, 30);
}

#[test]
fn keys_are_accepted_as_hex_and_bech32() {
    let serbero = Keys::generate();
    let mostro = Keys::generate().public_key();
    let solver = Keys::generate().public_key();
    let secret_forms = [serbero.secret_key().to_secret_hex(), serbero.secret_key().to_bech32().unwrap()];
    let public_forms = |key: PublicKey| [key.to_hex(), key.to_bech32().unwrap()];
    for secret in &secret_forms {
        for (mostro_text, solver_text) in public_forms(mostro).iter().zip(public_forms(solver).iter().rev()) {
            let text = format!(
                "[serbero]\nprivate_key = \"{secret}\"\n[mostro]\npubkey = \"{mostro_text}\"\n\
                 [[relays]]\nurl = \"wss://r.example\"\n[[solvers]]\npubkey = \"{solver_text}\"\n"
            );
            let config = parse_ok(&text).config;
            assert_eq!(config.serbero.keys.public_key(), serbero.public_key());
            assert_eq!(config.mostro.pubkey, mostro);
            assert_eq!(config.solvers[0].pubkey, solver);
        }
    }
}

#[test]
fn every_invalid_value_is_one_line_naming_its_key() {
    let private_key_line = format!("private_key = \"{SECRET_HEX}\"\n");
    let mostro_line = format!("pubkey = \"{MOSTRO_HEX}\"\n");
    let relay_line = "url = \"wss://relay.example\"\n";
    let mut cases: Vec<(String, &str)> = vec![
        (base().replace(&private_key_line, ""), "serbero.private_key: missing"),
        (base().replace(SECRET_HEX, "   "), "serbero.private_key: missing"),
        (base().replace(SECRET_HEX, "nsec1notakey"), "serbero.private_key: not a valid secret key"),
        (base().replace(&mostro_line, ""), "mostro.pubkey: missing"),
        (base().replace(MOSTRO_HEX, &MOSTRO_HEX[2..]), "mostro.pubkey: not a valid public key"),
        (base().replace(&format!("[[relays]]\n{relay_line}"), ""), "relays: missing"),
        (base().replace("wss://relay.example", "http://x"), "relays[0].url: `http://x` is not a ws:// or wss:// URL"),
        (base().replace("wss://relay.example", "wss://"), "relays[0].url: `wss://` is not a valid relay URL"),
        (base() + "[[relays]]\nname = \"second\"\n", "relays[1].url: missing"),
        (base().replace(relay_line, "url = [1]\n"), "relays[0].url"),
        (base() + &solver_section("npub1xyz", ""), "solvers[0].pubkey: not a valid public key"),
        (base() + "[[solvers]]\npermission = \"write\"\n", "solvers[0].pubkey: missing"),
        (
            base() + &solver_section(SOLVER_A_HEX, "permission = \"admin\""),
            "solvers[0].permission: `admin` is not read or write",
        ),
        (base() + &solver_section(SOLVER_A_HEX, "permission = \"Write\""), "solvers[0].permission"),
        (
            base()
                + &solver_section(SOLVER_A_HEX, "")
                + &solver_section(SOLVER_B_HEX, "")
                + &solver_section(SOLVER_A_HEX, ""),
            "solvers[2].pubkey: same public key as solvers[0].pubkey",
        ),
        (base().replace(&private_key_line, &format!("{private_key_line}db_path = \"\"\n")), "serbero.db_path"),
        (base() + "[outbox]\nretry_initial_seconds = 30\nretry_max_seconds = 10\n", "outbox.retry_initial_seconds"),
        (base() + "[reasoning]\nprovider = \"ppqai\"\n", "reasoning.provider: `ppqai` is not one of"),
        (base() + "[reasoning]\nprovider = \"openclaw\"\n", "; use `openai-compatible` with the service's api_base"),
        (base() + "[timeouts]\nrenotification_seconds = \"soon\"\n", "timeouts.renotification_seconds"),
        (base() + "[timeouts]\nrenotification_seconds = -1\n", "timeouts.renotification_seconds"),
        (base() + "[outbox]\nmax_attempts = 99999999999\n", "outbox.max_attempts"),
        (base() + "[timeouts\n", "<inline>: TOML parse error at line"),
        (base() + "[mediation]\nparty_questions = \"free\"\n", "mediation.party_questions"),
    ];
    let must_be_positive = [
        "timeouts.renotification_seconds",
        "timeouts.renotification_check_interval_seconds",
        "escalation.dispatch_interval_seconds",
        "chat.inbound_fetch_interval_seconds",
        "mediation.solver_auth_retry_initial_seconds",
        "mediation.solver_auth_retry_max_interval_seconds",
        "mediation.solver_auth_retry_max_total_seconds",
        "mediation.solver_auth_retry_max_attempts",
        "mediation.take_timeout_seconds",
        "mediation.idle_hibernate_seconds",
        "outbox.max_attempts",
        "outbox.retry_initial_seconds",
        "outbox.retry_max_seconds",
        "outbox.claim_ttl_seconds",
    ];
    for key in must_be_positive {
        let (section, name) = key.split_once('.').unwrap();
        cases.push((base() + &format!("[{section}]\n{name} = 0\n"), key));
    }
    for (text, expected) in cases {
        let message = parse_err(&text);
        assert!(message.contains(expected), "expected `{expected}` in `{message}`");
        assert!(!message.contains('\n'), "not one line: {message}");
    }
}

#[test]
fn party_response_timeout_may_be_zero() {
    let config = parse_ok(&(base() + "[mediation]\nparty_response_timeout_seconds = 0\n")).config;
    assert_eq!(config.mediation.party_response_timeout_seconds, 0);
}

#[test]
fn retention_zero_keeps_everything_and_a_value_that_is_no_day_count_names_the_key() {
    let kept = parse_ok(&(base() + "[retention]\ndays = 0\n")).config.retention;
    assert_eq!(kept.cutoff(1_767_225_600), None);
    for value in ["-1", "4294967296", "\"ninety\""] {
        let error = parse_err(&(base() + &format!("[retention]\ndays = {value}\n")));
        assert!(error.contains("retention.days"), "days = {value}: {error}");
        assert_eq!(error.lines().count(), 1, "{error}");
    }
}

#[test]
fn unknown_keys_are_warnings_naming_them() {
    let text = base()
        + &solver_section(SOLVER_A_HEX, "role = \"boss\"")
        + "[timeouts]\nrenotify = 5\n[extras]\nanything = 1\n";
    let warnings = parse_ok(&text).warnings;
    for key in ["timeouts.renotify", "solvers[0].role", "extras"] {
        let expected = format!("unknown configuration key `{key}` (ignored)");
        assert!(warnings.contains(&expected), "missing `{expected}` in {warnings:?}");
    }
    assert_eq!(warnings.len(), 3, "{warnings:?}");
}

#[test]
fn missing_solvers_and_repeated_relays_are_warnings() {
    let text = base() + "[[relays]]\nurl = \"ws://other.example\"\n[[relays]]\nurl = \"wss://relay.example\"\n";
    let loaded = parse_ok(&text);
    assert_eq!(loaded.config.relays.len(), 2);
    assert_eq!(
        loaded.warnings,
        [
            "relays[2].url: `wss://relay.example` repeats relays[0].url (ignored)",
            "no solvers configured; disputes will be recorded but nobody is notified",
        ]
    );
}

#[test]
fn escalation_without_a_write_solver_is_a_warning() {
    let text = base() + &solver_section(SOLVER_A_HEX, "") + "[escalation]\nenabled = true\n";
    let warnings = parse_ok(&text).warnings;
    assert!(warnings.iter().any(|w| w.contains("handoffs cannot be delivered")), "{warnings:?}");
}

#[test]
fn api_key_in_the_file_is_rejected() {
    let error = parse_with_env(&(base() + "[reasoning]\napi_key = \"sk-live-123\"\n"), &[]).unwrap_err();
    assert!(matches!(error, ConfigError::SecretInFile));
    assert!(error.to_string().starts_with("reasoning.api_key: secrets are not read from the file"));
    assert!(!error.to_string().contains("sk-live-123"));
}

/// All environment behaviour in one test: the overrides through an injected environment, then
/// one round trip through the real process environment under a variable name used nowhere
/// else (changing `SERBERO_*` here would race with other tests that load configurations).
#[test]
fn environment_overrides() {
    let other = Keys::generate();
    let other_secret = other.secret_key().to_secret_hex();
    let overridden = parse_with_env(
        &base(),
        &[(ENV_PRIVATE_KEY, &format!("  {other_secret}\n")), (ENV_DB_PATH, " /var/lib/s.db "), (ENV_LOG, "\tdebug ")],
    )
    .unwrap()
    .config;
    assert_eq!(overridden.serbero.keys.public_key(), other.public_key());
    assert_eq!(overridden.serbero.db_path, Path::new("/var/lib/s.db"));
    assert_eq!(overridden.serbero.log_level, "debug");

    let blank = [(ENV_PRIVATE_KEY, "  "), (ENV_DB_PATH, ""), (ENV_LOG, " \n")];
    let file_values =
        parse_with_env(&base().replace("\n\n[mostro]", "\ndb_path = \"file.db\"\n\n[mostro]"), &blank).unwrap().config;
    assert_eq!(file_values.serbero.keys.public_key(), public_key(SECRET_PUBKEY_HEX));
    assert_eq!(file_values.serbero.db_path, Path::new("file.db"));
    assert_eq!(file_values.serbero.log_level, "info");

    let without_file_key = base().replace(&format!("private_key = \"{SECRET_HEX}\"\n"), "");
    let from_env = parse_with_env(&without_file_key, &[(ENV_PRIVATE_KEY, SECRET_HEX)]).unwrap().config;
    assert_eq!(from_env.serbero.keys.public_key(), public_key(SECRET_PUBKEY_HEX));

    let enabled =
        base() + &solver_section(SOLVER_A_HEX, "") + "[reasoning]\nenabled = true\napi_key_env = \"LLM_KEY\"\n";
    let with_key = parse_with_env(&enabled, &[("LLM_KEY", " sk-abc \n")]).unwrap();
    assert_eq!(with_key.config.reasoning.api_key.as_deref(), Some("sk-abc"));
    assert!(with_key.config.reasoning.enabled && with_key.warnings.is_empty());
    for vars in [&[][..], &[("LLM_KEY", "   ")][..]] {
        let without_key = parse_with_env(&enabled, vars).unwrap();
        assert!(!without_key.config.reasoning.enabled && without_key.config.reasoning.api_key.is_none());
        assert_eq!(
            without_key.warnings,
            ["reasoning.enabled is true but neither $LLM_KEY nor $LLM_KEY_FILE is set; \
                 mediation will stay disabled this run"]
        );
    }
    let blank_name = parse_with_env(&enabled.replace("LLM_KEY", " "), &[]).unwrap();
    assert!(blank_name.warnings[0].contains("reasoning.api_key_env is empty"), "{:?}", blank_name.warnings);

    let variable = format!("SERBERO_CONFIG_TEST_KEY_{}", std::process::id());
    let previous = std::env::var_os(&variable);
    std::env::set_var(&variable, "  sk-process-env-7f3a  ");
    let loaded = Config::from_toml_str(&enabled.replace("LLM_KEY", &variable));
    match previous {
        Some(value) => std::env::set_var(&variable, value),
        None => std::env::remove_var(&variable),
    }
    assert_eq!(loaded.unwrap().config.reasoning.api_key.as_deref(), Some("sk-process-env-7f3a"));
}

#[test]
fn secrets_never_appear_in_errors_or_debug_output() {
    let secret_line = format!("private_key = \"{SECRET_HEX}\"");
    let nearly_valid = format!("{}g", &SECRET_HEX[..63]);
    let secret_nsec = Keys::parse(SECRET_HEX).unwrap().secret_key().to_bech32().unwrap();
    let broken_documents = [
        base().replace(&secret_line, &format!("private_key = \"{SECRET_HEX}")),
        base().replace(&secret_line, &format!("private_key = {SECRET_HEX}")),
        base().replace(&secret_line, &format!("{secret_line} extra")),
        base().replace(SECRET_HEX, &nearly_valid),
        base().replace(MOSTRO_HEX, &secret_nsec),
        base() + "[timeouts]\nrenotification_seconds = 0\n",
    ];
    for text in &broken_documents {
        let message = parse_err(text);
        let leaked =
            [&SECRET_HEX[..16], &nearly_valid[..16], &secret_nsec[5..21]].iter().any(|part| message.contains(part));
        assert!(!leaked, "secret in `{message}`");
    }
    let from_env = parse_with_env(&base(), &[(ENV_PRIVATE_KEY, &nearly_valid)]).unwrap_err().to_string();
    assert!(from_env.starts_with("serbero.private_key (from SERBERO_PRIVATE_KEY): not a valid secret key"));
    assert!(!from_env.contains(&nearly_valid[..16]));

    let enabled = base() + "[reasoning]\nenabled = true\n";
    let loaded = parse_with_env(&enabled, &[("SERBERO_REASONING_API_KEY", "sk-very-secret")]).unwrap();
    assert!(!format!("{loaded:?}").contains("sk-very-secret"));
    assert!(!format!("{loaded:?}").contains(SECRET_HEX));
}

#[test]
fn load_reads_the_named_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mine.toml");
    std::fs::write(&path, base()).unwrap();
    let loaded = Config::load(Some(&path)).unwrap();
    assert_eq!(loaded.path, path);
    assert_eq!(loaded.config.mostro.pubkey, public_key(MOSTRO_HEX));

    let absent = dir.path().join("absent.toml");
    let error = Config::load(Some(&absent)).unwrap_err();
    assert!(matches!(error, ConfigError::Unreadable { .. }));
    assert!(error.to_string().starts_with(&format!("{}: cannot read the configuration file", absent.display())));

    std::fs::write(&path, base() + "[chat]\ninbound_fetch_interval_seconds = \"x\"\n").unwrap();
    let message = Config::load(Some(&path)).unwrap_err().to_string();
    assert!(
        message.starts_with(&path.display().to_string()) && message.contains("chat.inbound_fetch_interval_seconds"),
        "{message}"
    );
}

/// The sample's keys are public, so it loads only once the operator replaced them: a key of
/// their own (here through the environment) and their node's and solvers' public keys.
#[test]
fn shipped_sample_loads_without_warnings_once_its_keys_are_replaced() {
    let sample = include_str!("../../../serbero.toml");
    let untouched = parse_with_env(sample, &[]).unwrap_err().to_string();
    assert!(untouched.starts_with("serbero.private_key: the sample key published in serbero.toml"), "{untouched}");
    let own_key = Keys::generate().secret_key().to_secret_hex();
    let env = [(ENV_PRIVATE_KEY, own_key.as_str())];
    let replacements = [
        ("npub1epa3xjtdp964hz6r9hrsuxee3m4grzzmc4nm4naktrjt6kswdhxqxkzlyd", MOSTRO_HEX, "mostro.pubkey"),
        ("npub1zugth6a7mxtn42n7y3v3rf7373dchy6hz278q2kll5q5swjtngzs5vmecm", SOLVER_A_HEX, "solvers[0].pubkey"),
        ("npub1x4fsgr5yfl9kqdewwlrvrgw6e30kuwm3t6pfpsqcxq0cky7t6nqswx6zst", SOLVER_B_HEX, "solvers[1].pubkey"),
    ];
    let mut edited = sample.to_owned();
    for (placeholder, real, key) in replacements {
        let message = parse_with_env(&edited, &env).unwrap_err().to_string();
        assert!(message.starts_with(&format!("{key}: a placeholder key from the shipped serbero.toml")), "{message}");
        edited = edited.replace(placeholder, real);
    }
    let loaded = parse_with_env(&edited, &env).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(loaded.config.serbero.keys.secret_key().to_secret_hex(), own_key);
    assert!(loaded.config.observers.is_empty(), "the observer example is commented out");
    let permissions: Vec<Permission> = loaded.config.solvers.iter().map(|solver| solver.permission).collect();
    assert_eq!(permissions, [Permission::Read, Permission::Write]);
    assert_eq!(loaded.config.relays[0].as_str(), "wss://relay.mostro.network");
}

#[test]
fn minimal_fills_every_other_section_with_defaults() {
    let keys = Keys::generate();
    let relay = RelayUrl::parse("ws://127.0.0.1:1").unwrap();
    let config = Config::minimal(keys.clone(), public_key(MOSTRO_HEX), vec![relay], vec![], "t.db".into());
    assert_eq!(config.serbero.keys.public_key(), keys.public_key());
    assert_eq!(config.serbero.log_level, "info");
    assert_eq!(config.outbox.claim_ttl_seconds, 60);
    assert!(!config.reasoning.enabled && !config.mediation.enabled && !config.escalation.enabled);
}

#[test]
fn log_format_from_the_file_or_the_environment() {
    for format in [LogFormat::Text, LogFormat::Json] {
        assert_eq!(format.as_str().parse::<LogFormat>(), Ok(format));
    }
    type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Result<LogFormat, &'a str>);
    let cases: &[Case] = &[
        ("", &[], Ok(LogFormat::Text)),
        ("log_format = \"json\"\n", &[], Ok(LogFormat::Json)),
        ("log_format = \"text\"\n", &[("SERBERO_LOG_FORMAT", "json")], Ok(LogFormat::Json)),
        ("log_format = \"json\"\n", &[("SERBERO_LOG_FORMAT", " ")], Ok(LogFormat::Json)),
        ("log_format = \"xml\"\n", &[], Err("serbero.log_format: `xml` is not text or json")),
        ("", &[("SERBERO_LOG_FORMAT", "JSON")], Err("serbero.log_format (from SERBERO_LOG_FORMAT): `JSON`")),
    ];
    for (line, env, expected) in cases {
        let text = base().replace("[mostro]", &format!("{line}\n[mostro]"));
        match (parse_with_env(&text, env), expected) {
            (Ok(loaded), Ok(format)) => assert_eq!(loaded.config.serbero.log_format, *format, "{line} {env:?}"),
            (Err(error), Err(message)) => assert!(error.to_string().starts_with(message), "{error}"),
            (got, want) => {
                panic!("{line} {env:?}: got {:?}, want {want:?}", got.map(|l| l.config.serbero.log_format))
            }
        }
    }
}

#[test]
fn http_endpoint_is_off_and_on_loopback_by_default() {
    let http = parse_ok(&base()).config.http;
    assert_eq!(http, HttpSettings { enabled: false, listen: "127.0.0.1:9797".parse().unwrap() });
    let loaded = parse_ok(&(base() + "[http]\nenabled = true\nlisten = \"[::1]:9100\"\n"));
    assert_eq!(loaded.config.http.listen, "[::1]:9100".parse().unwrap());
    assert!(!loaded.warnings.iter().any(|w| w.contains("http")), "{:?}", loaded.warnings);
}

#[test]
fn http_listen_must_be_an_address_and_a_public_one_is_warned_about() {
    let error = parse_err(&(base() + "[http]\nlisten = \"localhost\"\n"));
    assert_eq!(error, "http.listen: `localhost` is not an address and port (e.g. 127.0.0.1:9797)");
    let loaded = parse_ok(&(base() + "[http]\nenabled = true\nlisten = \"0.0.0.0:9797\"\n"));
    assert!(
        loaded.warnings.iter().any(|w| w.contains("0.0.0.0:9797 is not a loopback address")),
        "{:?}",
        loaded.warnings
    );
    let off = parse_ok(&(base() + "[http]\nlisten = \"0.0.0.0:9797\"\n"));
    assert!(
        !off.warnings.iter().any(|w| w.contains("http")),
        "a disabled endpoint listens nowhere: {:?}",
        off.warnings
    );
}
