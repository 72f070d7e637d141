//! The daemon's own Rust sources, for the tests that check properties of the code itself.

use std::fs;
use std::path::{Path, PathBuf};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// Every `.rs` file under `src/` and `actors/src/`, relative to the workspace root.
pub fn rust_files() -> Vec<String> {
    let files = rust_files_under(&["src", "actors/src"]);
    assert!(files.contains(&"actors/src/dispute/store.rs".to_string()), "scan found the sources");
    files
}

/// Every `.rs` file under these directories of the workspace, relative to its root, sorted.
pub fn rust_files_under(dirs: &[&str]) -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for dir in dirs {
        walk(&root().join(dir), &mut files);
    }
    let mut files: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(root()).expect("under root").to_string_lossy().replace('\\', "/"))
        .collect();
    files.sort();
    files
}
