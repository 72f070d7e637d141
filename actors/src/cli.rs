//! Output of the `check-config` and `status` commands.

use std::path::Path;

use nostr_sdk::ToBech32;
use serbero_core::config::{Format, Loaded};

use crate::status::StatusReport;

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
