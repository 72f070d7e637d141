//! The `check-config`, `status` and `prune` commands.

use std::path::Path;

use anyhow::{bail, Context};
use nostr_sdk::{Timestamp, ToBech32};
use rusqlite::{Connection, TransactionBehavior};
use serbero_core::config::{Config, Format, Loaded};
use serbero_core::retention::{self, Prune, Pruned, Pruner, Pruners};
use serbero_core::storage;

use crate::status::StatusReport;
use crate::{dispute, escalation, sessions};

/// Every owner's pruning, as the daemon's actors run it (each its own), for `serbero prune`.
const PRUNING_OWNERS: [&Pruners; 3] = [&dispute::PRUNERS, &escalation::PRUNERS, &sessions::PRUNERS];

pub fn print_check_config(loaded: &Loaded) {
    let c = &loaded.config;
    let me = c.serbero.keys.public_key();
    println!("configuration OK: {}", loaded.path.display());
    println!("serbero pubkey (hex):  {}", me.to_hex());
    println!("serbero pubkey (npub): {}", me.to_bech32().unwrap_or_default());
    println!("  register this key with your Mostro node as a solver to let Serbero take disputes");
    println!("mostro pubkey:         {}", c.mostro.pubkey.to_hex());
    println!("database:              {}", c.serbero.db_path.display());
    println!("log level:             {} (format: {})", c.serbero.log_level, c.serbero.log_format.as_str());
    match c.http.enabled {
        true => println!("http endpoint:         http://{}/health and /metrics", c.http.listen),
        false => println!("http endpoint:         disabled ([http].enabled = false)"),
    }
    println!("relays ({}):", c.relays.len());
    for url in &c.relays {
        println!("  {url}");
    }
    println!("solvers ({}):", c.solvers.len());
    for s in &c.solvers {
        println!("  {} ({}; {})", s.pubkey.to_bech32().unwrap_or_default(), s.permission, s.formats);
    }
    if c.solvers.iter().any(|s| s.formats.contains(Format::Mostrix)) {
        println!("  Mostrix reads Serbero's messages once a solver lists Serbero's npub in trusted_dm_senders");
    }
    println!("observers ({}):", c.observers.len());
    for o in &c.observers {
        println!("  {} ({})", o.pubkey.to_bech32().unwrap_or_default(), o.formats);
    }
    let t = &c.timeouts;
    println!(
        "re-notify after {} s, checked every {} s",
        t.renotification_seconds, t.renotification_check_interval_seconds
    );
    let o = &c.outbox;
    println!(
        "outbox: {} attempts, retry every {}..{} s, claims expire after {} s",
        o.max_attempts, o.retry_initial_seconds, o.retry_max_seconds, o.claim_ttl_seconds
    );
    match c.retention.days {
        0 => println!("retention: everything is kept ([retention].days = 0)"),
        days => println!("retention: finished messages, their audit rows and ended chats are pruned after {days} days"),
    }
    println!(
        "mediation: {}, reasoning: {}, escalation: {}",
        on(c.mediation.enabled),
        on(c.reasoning.enabled),
        on(c.escalation.enabled)
    );
    for warning in &loaded.warnings {
        println!("warning: {warning}");
    }
}

fn on(enabled: bool) -> &'static str {
    if enabled {
        "enabled"
    } else {
        "disabled"
    }
}

pub fn print_status(db_path: &Path, json: bool) -> anyhow::Result<()> {
    let report = StatusReport::read(db_path)?;
    match json {
        true => println!("{}", serde_json::to_string_pretty(&report)?),
        false => println!("{report}"),
    }
    Ok(())
}

/// `serbero prune`: deletes now what the retention period lets go, the daemon's own statements
/// table by table; `dry_run` counts it instead. Safe beside a running daemon: each batch is its
/// own short transaction, and the busy timeout waits for the daemon's.
pub fn prune(config: &Config, dry_run: bool) -> anyhow::Result<()> {
    let days = config.retention.days;
    let Some(cutoff) = config.retention.cutoff(storage::now_unix()) else {
        println!("retention.days = 0: Serbero keeps everything; nothing to prune");
        return Ok(());
    };
    let db_path = &config.serbero.db_path;
    let mut conn = open_current(db_path)?;
    let before = Timestamp::from(cutoff.max(0) as u64).to_human_datetime();
    let (pruned, did, note) = match dry_run {
        true => {
            let pruned = count_all(&conn, cutoff).with_context(|| format!("counting in {}", db_path.display()))?;
            (pruned, "would delete", "; dry run, nothing deleted")
        }
        false => {
            let pruned = delete_all(&mut conn, cutoff).with_context(|| format!("pruning {}", db_path.display()))?;
            (pruned, "deleted", "")
        }
    };
    let db = db_path.display();
    println!("{db}: {did} what Serbero finished with before {before} (retention.days = {days}){note}:");
    for (table, rows) in pruned.tables() {
        println!("  {table:<15} {rows:>9} rows");
    }
    Ok(())
}

/// The database the daemon uses, at the schema this build prunes.
fn open_current(db_path: &Path) -> anyhow::Result<Connection> {
    if !db_path.exists() {
        bail!("no database at {} (the daemon creates it on first start)", db_path.display());
    }
    let conn = storage::open(db_path)?;
    match storage::schema_version(&conn)? {
        version if version < storage::SCHEMA_VERSION => bail!(
            "{} is at schema version {version}; start the daemon once to upgrade it to {}",
            db_path.display(),
            storage::SCHEMA_VERSION
        ),
        version if version > storage::SCHEMA_VERSION => bail!(
            "{} is at schema version {version}, newer than this Serbero understands ({})",
            db_path.display(),
            storage::SCHEMA_VERSION
        ),
        _ => Ok(conn),
    }
}

fn count_all(conn: &Connection, cutoff: i64) -> rusqlite::Result<Pruned> {
    let mut pruned = Pruned::default();
    for (table, prune) in PRUNING_OWNERS.iter().flat_map(|owner| owner.iter()) {
        pruned.add(table, prune(conn, cutoff, Prune::Count)?);
    }
    Ok(pruned)
}

fn delete_all(conn: &mut Connection, cutoff: i64) -> rusqlite::Result<Pruned> {
    let mut pruned = Pruned::default();
    for (table, prune) in PRUNING_OWNERS.iter().flat_map(|owner| owner.iter()) {
        pruned.add(table, delete_in_batches(conn, *prune, cutoff)?);
    }
    Ok(pruned)
}

/// One owner's rows of one table, a `BEGIN IMMEDIATE` transaction per batch: the daemon's
/// writers never wait longer than one batch.
fn delete_in_batches(conn: &mut Connection, prune: Pruner, cutoff: i64) -> rusqlite::Result<usize> {
    let mut total = 0;
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let deleted = prune(&tx, cutoff, Prune::Delete(retention::BATCH))?;
        tx.commit()?;
        total += deleted;
        if deleted < retention::BATCH {
            return Ok(total);
        }
    }
}
