//! Every table has one writer. Scans the SQL in every `.rs` file under `src/` and `actors/src/`
//! and fails, listing every violation at once, when a table is written outside its owner module
//! or a schema change is made outside the migration runner. `#[cfg(test)]` items are left out:
//! fixtures may seed any table.

mod sources;

use std::collections::BTreeSet;
use std::fs;

use sources::{root, rust_files};

/// Table → the file whose SQL may write it. A table listed more than once is partitioned: each
/// writer writes only its own rows (the comment says by what).
const OWNERS: &[(&str, &str)] = &[
    ("disputes", "actors/src/dispute/store.rs"),
    ("dispute_state_transitions", "actors/src/dispute/store.rs"),
    ("dispute_observations", "actors/src/dispute/store.rs"),
    ("dispute_watch", "actors/src/dispute/store.rs"),
    // By notif_type: the core's three types and the mediation resolution report; the handoff
    // DMs; a session's summaries and escalation alerts. The handoff DMs and the alerts share the
    // type mediation_escalation_recommended (as in the earlier Serbero); each writer records
    // only the attempts of its own outbox rows.
    ("notifications", "actors/src/dispute/store.rs"),
    ("notifications", "actors/src/escalation/store.rs"),
    ("notifications", "actors/src/session/record.rs"),
    ("escalation_dispatches", "actors/src/escalation/store.rs"),
    ("escalation_handoffs", "actors/src/escalation/store.rs"),
    // By kind: the handoff producer (called in a session's transaction) appends
    // escalation_recommended and handoff_prepared; the dispatcher its four escalation_* kinds;
    // AuthRetry its three auth_retry_* kinds; the Dispute actor resolved_externally_reported; a
    // session the rest of its own audit (verdict, opening, classifications, summary, closing).
    ("mediation_events", "src/handoff.rs"),
    ("mediation_events", "actors/src/escalation/store.rs"),
    ("mediation_events", "actors/src/auth_retry/store.rs"),
    ("mediation_events", "actors/src/dispute/store.rs"),
    ("mediation_events", "actors/src/session/record.rs"),
    ("solver_auth", "actors/src/auth_retry/store.rs"),
    // By session: each session writes its own row; the handoff producer's escalation flip runs
    // in that session's transaction.
    ("mediation_sessions", "src/handoff.rs"),
    ("mediation_sessions", "actors/src/session/record.rs"),
    ("mediation_summaries", "actors/src/session/record.rs"),
    ("reasoning_rationales", "actors/src/session/record.rs"),
    // By dispute: each session actor writes its own dispute's take and chat.
    ("solver_takes", "actors/src/session/store.rs"),
    ("take_evidence", "actors/src/session/store.rs"),
    ("party_messages", "actors/src/session/store.rs"),
    // Shared by every actor that sends DMs; each statement there is scoped to its owner's rows
    // (`session:<dispute id>` for each session).
    ("outbox", "actors/src/outbox/store.rs"),
    ("schema_version", "src/storage.rs"),
];

/// The migration runner: the only Rust file with DDL (the rest of the schema is `migrations/`).
const SCHEMA_OWNER: &str = "src/storage.rs";

#[test]
fn every_table_is_written_only_by_its_owner() {
    let mut violations = BTreeSet::new();
    for file in rust_files() {
        for statement in sql_statements(&fs::read_to_string(root().join(&file)).expect("read source")) {
            violations.extend(check(&file, &statement));
        }
    }
    let report: Vec<String> = violations.into_iter().collect();
    assert!(report.is_empty(), "table ownership violations:\n{}", report.join("\n"));
}

#[test]
fn owner_map_matches_the_migrations_and_the_code() {
    let created = migrated_tables();
    let writes: BTreeSet<(String, String)> = rust_files()
        .into_iter()
        .flat_map(|file| {
            let statements = sql_statements(&fs::read_to_string(root().join(&file)).expect("read source"));
            statements.into_iter().filter_map(move |statement| match statement {
                Sql::Write(table) => Some((table, file.clone())),
                Sql::Schema => None,
            })
        })
        .collect();
    let unowned: BTreeSet<&String> =
        writes.iter().map(|(t, _)| t).filter(|t| created.contains(*t) && owners(t).is_empty()).collect();
    assert!(unowned.is_empty(), "migrated tables the code writes with no entry in OWNERS: {unowned:?}");
    let stale: Vec<&str> = OWNERS.iter().map(|(t, _)| *t).filter(|t| !created.contains(*t)).collect();
    assert!(stale.is_empty(), "OWNERS names tables no migration creates: {stale:?}");
    // Also shows the scanner sees the writes it is there to police.
    let idle: Vec<&str> = OWNERS
        .iter()
        .filter(|(t, file)| !writes.contains(&(t.to_string(), file.to_string())))
        .map(|(t, _)| *t)
        .collect();
    assert!(idle.is_empty(), "OWNERS entries whose owner never writes the table: {idle:?}");
}

#[test]
fn scanner_finds_writes_in_string_literals_only_outside_test_items() {
    let source = r####"
        // INSERT INTO commented_out (x) VALUES (1)
        /* UPDATE in_block_comment SET x = 1 /* nested */ */
        const A: &str = "insert   or IGNORE into
                         first (x) VALUES (1) ON CONFLICT (x) DO UPDATE SET x = 2";
        const B: &str = r#"Update "second" SET x = 1"#;
        const C: char = '"';
        fn f<'a>(_: &'a str) -> String { format!("DELETE FROM {table} WHERE 1") }
        const D: &str = "REPLACE INTO \
                         main.third VALUES (1); CREATE INDEX i ON third (x)";
        #[cfg(test)]
        mod tests { const E: &str = "INSERT INTO fixture VALUES ('}')"; }
        const G: &str = r#type; const H: char = '\''; const I: &str = "UPDATE last SET x = '{'";
    "####;
    let found: Vec<String> = sql_statements(source).iter().map(|s| format!("{s:?}")).collect();
    assert_eq!(
        found,
        [
            r#"Write("first")"#,
            r#"Write("second")"#,
            r#"Write("{table}")"#,
            r#"Write("third")"#,
            "Schema",
            r#"Write("last")"#
        ]
    );
}

/// What one SQL statement does that ownership cares about.
#[derive(Debug, PartialEq, Eq)]
enum Sql {
    Write(String),
    Schema,
}

fn check(file: &str, statement: &Sql) -> Option<String> {
    match statement {
        Sql::Schema if file != SCHEMA_OWNER => {
            Some(format!("{file}: changes the schema (only {SCHEMA_OWNER} and migrations/ may)"))
        }
        Sql::Schema => None,
        Sql::Write(table) => {
            let owners = owners(table);
            match owners.as_slice() {
                [] => Some(format!("{file}: writes `{table}`, which has no owner in OWNERS")),
                _ if owners.contains(&file) => None,
                _ => Some(format!("{file}: writes `{table}`, owned by {}", owners.join(", "))),
            }
        }
    }
}

fn owners(table: &str) -> Vec<&'static str> {
    OWNERS.iter().filter(|(t, _)| *t == table).map(|(_, file)| *file).collect()
}

/// Tables created by `migrations/*.sql`, plus `schema_version`, which the runner creates.
fn migrated_tables() -> BTreeSet<String> {
    let mut tables = BTreeSet::from(["schema_version".to_string()]);
    for entry in fs::read_dir(root().join("migrations")).expect("migrations dir") {
        let sql = fs::read_to_string(entry.expect("entry").path()).expect("read migration").to_lowercase();
        let words: Vec<&str> = sql.split(|c: char| c.is_whitespace() || c == '(').filter(|w| !w.is_empty()).collect();
        for (i, pair) in words.windows(2).enumerate() {
            if pair == ["create", "table"] {
                let name = if words.get(i + 2) == Some(&"if") { words.get(i + 5) } else { words.get(i + 2) };
                tables.insert(table_name(name.expect("table name")));
            }
        }
    }
    tables
}

/// The writes and schema changes in the string literals of `source`, in order, skipping
/// comments and `#[cfg(test)]` items.
fn sql_statements(source: &str) -> Vec<Sql> {
    let (code, literals) = lex(source);
    let skipped = test_items(&code);
    literals
        .iter()
        .filter(|(at, _)| !skipped.iter().any(|range| range.contains(at)))
        .flat_map(|(_, text)| classify(text))
        .collect()
}

/// Splits Rust source into code without comments (each string literal left as `""`) and the
/// literals' contents, each with its position in that code.
fn lex(source: &str) -> (String, Vec<(usize, String)>) {
    let chars: Vec<char> = source.chars().collect();
    let (mut code, mut literals) = (String::new(), Vec::new());
    let mut i = 0;
    while i < chars.len() {
        let rest = &chars[i..];
        match rest {
            ['/', '/', ..] => i += rest.iter().position(|&c| c == '\n').unwrap_or(rest.len()),
            ['/', '*', ..] => i += block_comment_len(rest),
            ['r' | 'b', ..] if raw_string_hashes(&chars, i).is_some() => {
                let (prefix, hashes) = raw_string_hashes(&chars, i).expect("raw string");
                let closing: Vec<char> = std::iter::once('"').chain(std::iter::repeat_n('#', hashes)).collect();
                let body = &rest[prefix + hashes + 1..];
                let len = body.windows(closing.len()).position(|w| w == closing.as_slice()).expect("raw string end");
                literals.push((code.len(), body[..len].iter().collect()));
                code.push_str("\"\"");
                i += prefix + hashes + 1 + len + closing.len();
            }
            ['"', ..] => {
                let mut end = 1;
                while rest[end] != '"' {
                    end += if rest[end] == '\\' { 2 } else { 1 };
                }
                literals.push((code.len(), rest[1..end].iter().collect()));
                code.push_str("\"\"");
                i += end + 1;
            }
            // A char literal: `'\''`, `'\n'`, `'\u{7b}'` (the escaped char is skipped) or `'x'`.
            ['\'', '\\', ..] => i += 3 + rest[3..].iter().position(|&c| c == '\'').expect("char end") + 1,
            ['\'', _, '\'', ..] => i += 3,
            [c, ..] => {
                code.push(*c);
                i += 1;
            }
            [] => unreachable!(),
        }
    }
    (code, literals)
}

/// For a raw string starting at `i` (`r"`, `r#"`, `br##"`…): its prefix length and hash count.
/// `None` for anything else, such as a raw identifier `r#type` or the end of an identifier.
fn raw_string_hashes(chars: &[char], i: usize) -> Option<(usize, usize)> {
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None;
    }
    let prefix = match chars[i..] {
        ['r', ..] => 1,
        ['b', 'r', ..] => 2,
        _ => return None,
    };
    let hashes = chars[i + prefix..].iter().take_while(|&&c| c == '#').count();
    (chars.get(i + prefix + hashes) == Some(&'"')).then_some((prefix, hashes))
}

fn block_comment_len(rest: &[char]) -> usize {
    let (mut depth, mut i) = (0, 0);
    loop {
        match &rest[i..] {
            ['/', '*', ..] => (depth, i) = (depth + 1, i + 2),
            ['*', '/', ..] if depth == 1 => return i + 2,
            ['*', '/', ..] => (depth, i) = (depth - 1, i + 2),
            [_, ..] => i += 1,
            [] => return i,
        }
    }
}

/// Byte ranges of `code` covered by items marked `#[cfg(test)]`.
fn test_items(code: &str) -> Vec<std::ops::Range<usize>> {
    let mut items = Vec::new();
    for (at, _) in code.match_indices("#[cfg(test)]") {
        let after = at + "#[cfg(test)]".len();
        let Some(open) = code[after..].find(['{', ';']).map(|i| after + i) else { continue };
        if code.as_bytes()[open] == b';' {
            items.push(at..open);
            continue;
        }
        let mut depth = 0;
        for (i, byte) in code.bytes().enumerate().skip(open) {
            depth += match byte {
                b'{' => 1,
                b'}' => -1,
                _ => 0,
            };
            if depth == 0 {
                items.push(at..i);
                break;
            }
        }
    }
    items
}

/// The writes and schema changes in one string literal.
fn classify(text: &str) -> Vec<Sql> {
    let lower = text.to_lowercase();
    let words: Vec<&str> =
        lower.split(|c: char| c.is_whitespace() || "(),;\\".contains(c)).filter(|w| !w.is_empty()).collect();
    let word = |i: usize| words.get(i).copied().unwrap_or("");
    let mut found = Vec::new();
    for i in 0..words.len() {
        // `INSERT OR IGNORE INTO t`, `UPDATE OR ABORT t`: skip the conflict clause.
        let target = |at: usize| if word(at) == "or" { at + 2 } else { at };
        let table = match (word(i), word(i + 1)) {
            ("insert", _) if word(target(i + 1)) == "into" => Some(word(target(i + 1) + 1)),
            ("replace", "into") | ("delete", "from") => Some(word(i + 2)),
            // `ON CONFLICT … DO UPDATE SET` is part of an insert, not a write of its own.
            ("update", next) if next != "set" && word(i.wrapping_sub(1)) != "do" => Some(word(target(i + 1))),
            ("create" | "alter" | "drop", _) => {
                let kind = words[i + 1..].iter().find(|w| !matches!(**w, "temp" | "temporary" | "unique"));
                if matches!(kind.copied(), Some("table" | "index" | "trigger" | "view")) {
                    found.push(Sql::Schema);
                }
                None
            }
            _ => None,
        };
        if let Some(table) = table.filter(|t| !t.is_empty()) {
            found.push(Sql::Write(table_name(table)));
        }
    }
    found
}

/// `"main"."t"`, `[t]`, `` `t` `` → `t`.
fn table_name(raw: &str) -> String {
    let unquoted: String = raw.chars().filter(|c| !"\"`[]".contains(*c)).collect();
    unquoted.strip_prefix("main.").unwrap_or(&unquoted).to_string()
}
