//! Whether a file holding something private (a secret, the parties' messages) can be read or
//! written by anyone but its owner.

use std::path::Path;

/// The permission bits of `path` when its group or others have any access to it; `None` when
/// it is private, absent, or the platform has no such bits.
#[cfg(unix)]
pub fn open_to_others(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o7777;
    (mode & 0o077 != 0).then_some(mode)
}

#[cfg(not(unix))]
pub fn open_to_others(_path: &Path) -> Option<u32> {
    None
}
