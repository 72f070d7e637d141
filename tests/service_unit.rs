//! The systemd unit shipped in `contrib/` keeps the promises the README makes about it.

use std::collections::HashMap;

fn service_section() -> HashMap<String, String> {
    let unit = include_str!("../contrib/serbero.service");
    let mut in_service = false;
    let mut keys = HashMap::new();
    for line in unit.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if line.starts_with('[') {
            in_service = line == "[Service]";
        } else if let (true, Some((key, value))) = (in_service, line.split_once('=')) {
            keys.insert(key.to_owned(), value.to_owned());
        }
    }
    keys
}

#[test]
fn the_unit_waits_for_readiness_restarts_on_failure_and_is_hardened() {
    let service = service_section();
    let expected = [
        ("Type", "notify"),
        ("NotifyAccess", "main"),
        ("WatchdogSec", "60"),
        ("Restart", "on-failure"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("StateDirectory", "serbero"),
        ("Environment", "SERBERO_DB_PATH=/var/lib/serbero/serbero.db"),
        ("KillSignal", "SIGTERM"),
    ];
    for (key, value) in expected {
        assert_eq!(service.get(key).map(String::as_str), Some(value), "{key}");
    }
    assert!(service["ExecStart"].ends_with(" run"), "{}", service["ExecStart"]);
    assert!(service["ExecStartPre"].ends_with(" check-config"), "bad config fails the start, not a restart loop");
    assert!(service["RestrictAddressFamilies"].contains("AF_UNIX"), "the readiness message travels over AF_UNIX");
}
