//! The service manager's readiness protocol (`sd_notify`): with `Type=notify`, systemd starts
//! units ordered after Serbero only once it sends `READY=1`, and shows its `STATUS=` line; with
//! `WatchdogSec=` it restarts Serbero when `WATCHDOG=1` stops coming.
//! Without `$NOTIFY_SOCKET` (not run by systemd) every call does nothing.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use tracing::warn;

/// Sends `state` (e.g. `READY=1`) to the socket systemd named, if any.
pub fn notify(state: &str) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else { return };
    if let Err(e) = send(&socket, state) {
        warn!(error = %e, state, "cannot tell systemd our state ($NOTIFY_SOCKET)");
    }
}

/// How often to tell the watchdog we are alive: half the `WatchdogSec=` systemd passed in
/// `$WATCHDOG_USEC`, as systemd advises; `None` when no watchdog is set for this process.
pub fn watchdog_interval() -> Option<Duration> {
    interval_for(std::env::var("WATCHDOG_USEC").ok().as_deref(), std::env::var("WATCHDOG_PID").ok().as_deref())
}

fn interval_for(usec: Option<&str>, pid: Option<&str>) -> Option<Duration> {
    let usec: u64 = usec?.trim().parse().ok().filter(|usec| *usec > 0)?;
    if pid.is_some_and(|pid| pid.trim().parse::<u32>().ok() != Some(std::process::id())) {
        return None;
    }
    Some(Duration::from_micros(usec / 2))
}

fn send(socket: &std::ffi::OsStr, state: &str) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let sender = UnixDatagram::unbound()?;
    // A listener that stopped reading must not block a runtime thread; the message is dropped.
    sender.set_nonblocking(true)?;
    match socket.as_bytes().strip_prefix(b"@") {
        Some(name) => send_abstract(&sender, name, state),
        None => sender.send_to(state.as_bytes(), socket).map(drop),
    }
}

/// `@name` is a socket in Linux's abstract namespace.
#[cfg(target_os = "linux")]
fn send_abstract(sender: &UnixDatagram, name: &[u8], state: &str) -> io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    let address = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    sender.send_to_addr(state.as_bytes(), &address).map(drop)
}

#[cfg(not(target_os = "linux"))]
fn send_abstract(_: &UnixDatagram, _: &[u8], _: &str) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "abstract sockets exist only on Linux"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_the_state_to_a_socket_path_and_to_an_abstract_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let receiver = UnixDatagram::bind(&path).unwrap();
        send(path.as_os_str(), "READY=1\nSTATUS=watching").unwrap();
        let mut buffer = [0u8; 64];
        let n = receiver.recv(&mut buffer).unwrap();
        assert_eq!(&buffer[..n], b"READY=1\nSTATUS=watching");

        #[cfg(target_os = "linux")]
        {
            use std::os::linux::net::SocketAddrExt;
            let name = format!("serbero-test-{}", std::process::id());
            let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
            let receiver = UnixDatagram::bind_addr(&address).unwrap();
            send(std::ffi::OsStr::new(&format!("@{name}")), "STOPPING=1").unwrap();
            let n = receiver.recv(&mut buffer).unwrap();
            assert_eq!(&buffer[..n], b"STOPPING=1");
        }
    }

    #[test]
    fn the_watchdog_interval_is_half_the_timeout_and_only_for_this_process() {
        let us = std::process::id().to_string();
        let cases = [
            (None, None, None),
            (Some("60000000"), None, Some(Duration::from_secs(30))),
            (Some("60000000"), Some(us.as_str()), Some(Duration::from_secs(30))),
            (Some("60000000"), Some("1"), None),
            (Some("0"), None, None),
            (Some("soon"), None, None),
        ];
        for (usec, pid, expected) in cases {
            assert_eq!(interval_for(usec, pid), expected, "{usec:?} {pid:?}");
        }
    }

    #[test]
    fn a_missing_socket_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        assert!(send(dir.path().join("absent").as_os_str(), "READY=1").is_err());
    }
}
