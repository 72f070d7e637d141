//! Serbero never settles or cancels a dispute: no code path can send `admin-settle` or
//! `admin-cancel`. Proven on every source of the daemon (`src/`, `actors/src/` with its demo,
//! test modules aside): the two actions are never named; Mostro messages are built only by the
//! take request in `src/take.rs` and by the solvers' `send-dm` in `src/dm.rs`, which names no
//! other action; and the one place that wraps a message for the node checks it against the
//! read-only list first. The simulated node and parties of the `serbero-sim` crate
//! (`actors/sim/src/`) speak as the node and as trade parties, so they may build other messages,
//! but never these two either.

mod sources;

use std::fs;

use sources::{root, rust_files, rust_files_under};

/// Names of the fund-moving actions, as Rust variants and on the wire.
const FORBIDDEN: &[&str] = &["AdminSettle", "AdminCancel", "admin-settle", "admin-cancel"];
/// Ways to build a Mostro message.
const MESSAGE_BUILDERS: &[&str] =
    &["Message::new_", "MessageKind::new", "Message::Dispute(", "Message::Order(", "Message::cant_do"];
/// Ways to wrap a message for the node.
const WRAPPERS: &[&str] = &["wrap_message_with(", "wrap_message_nip44(", "wrap_message("];

const TAKE_MODULE: &str = "src/take.rs";
/// Builds the Mostrix-readable DMs to solvers: `send-dm` only, addressed to a solver's key.
const SOLVER_DM: &str = "src/dm.rs";
const SENDER: &str = "actors/src/session/take.rs";
const SIMULATORS: &str = "actors/sim/src";

#[test]
fn no_source_names_a_fund_moving_action() {
    let offenders = fund_moving_names(&production_sources());
    assert!(offenders.is_empty(), "{offenders:?}");
}

#[test]
fn the_simulators_never_name_a_fund_moving_action_either() {
    let files = rust_files_under(&[SIMULATORS]);
    assert!(files.contains(&format!("{SIMULATORS}/fake_node.rs")), "scan found the simulators: {files:?}");
    let offenders = fund_moving_names(&with_production_code(files));
    assert!(offenders.is_empty(), "{offenders:?}");
}

#[test]
fn mostro_messages_are_built_only_by_the_take_request() {
    let builders = files_using(MESSAGE_BUILDERS);
    assert_eq!(builders, [SOLVER_DM, TAKE_MODULE], "Mostro messages built outside the take request and the send-dm");
    let sources = production_sources();
    let dm = &sources.iter().find(|(file, _)| file == SOLVER_DM).expect("send-dm source").1;
    let actions: Vec<&str> = dm.match_indices("Action::").map(|(at, _)| &dm[at..at + 14]).collect();
    assert_eq!(actions, ["Action::SendDm"], "the send-dm builder names `SendDm` and no other action");
}

#[test]
fn the_only_wrap_for_the_node_follows_the_read_only_check() {
    assert_eq!(files_using(WRAPPERS), [SENDER, SOLVER_DM]);
    let sources = production_sources();
    let code = &sources.iter().find(|(file, _)| file == SENDER).expect("sender source").1;
    let wraps: Vec<usize> = code.match_indices("wrap_message_with(").map(|(at, _)| at).collect();
    assert_eq!(wraps.len(), 1, "one wrap site");
    let check = code.find("ensure_read_only(&message)?").expect("the sender checks the message");
    assert!(check < wraps[0], "the check comes before the wrap");
    let between = &code[check..wraps[0]];
    assert!(!between.contains("message ="), "the checked message is the one wrapped");
}

/// `file: name` for each fund-moving action named in the code of these sources.
fn fund_moving_names(sources: &[(String, String)]) -> Vec<String> {
    sources
        .iter()
        .flat_map(|(file, code)| {
            FORBIDDEN.iter().filter(|name| code.contains(*name)).map(move |name| format!("{file}: {name}"))
        })
        .collect()
}

/// Files whose production code contains any of `needles`.
fn files_using(needles: &[&str]) -> Vec<String> {
    production_sources()
        .into_iter()
        .filter(|(_, code)| needles.iter().any(|n| code.contains(n)))
        .map(|(file, _)| file)
        .collect()
}

/// Every `.rs` file under `src/` and `actors/src/` with its production code.
fn production_sources() -> Vec<(String, String)> {
    with_production_code(rust_files())
}

/// Each file with its production code: the text before its test module. Our convention is one
/// `#[cfg(test)] mod tests`, last in the file; any other test item fails here rather than hiding
/// code from the scan.
fn with_production_code(files: Vec<String>) -> Vec<(String, String)> {
    files
        .into_iter()
        .map(|file| {
            let text = fs::read_to_string(root().join(&file)).expect("read source");
            let code = production_part(&file, &text).to_string();
            (file, code)
        })
        .collect()
}

fn production_part<'a>(file: &str, text: &'a str) -> &'a str {
    let Some(at) = text.find("#[cfg(test)]") else { return text };
    let rest = &text[at..];
    assert!(rest.starts_with("#[cfg(test)]\nmod tests {"), "{file}: a test item other than the final `mod tests`");
    assert_eq!(rest.matches("#[cfg(test)]").count(), 1, "{file}: more than one test item");
    &text[..at]
}
