//! One way through the MediationSession: its modules (`actors/src/session/*.rs`) never import one
//! that imports them back, and none calls into the actor file (`session.rs`), whose handler alone
//! chains them; they may name its types (`Msg` for their timers). Read from the sources, test
//! modules aside.

mod sources;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;

use sources::{root, rust_files};

const SESSION_DIR: &str = "actors/src/session/";

/// Module → the names it takes from `super::` (sibling modules or the actor file's items).
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let files = rust_files().into_iter().filter(|f| f.starts_with(SESSION_DIR) && f.ends_with(".rs"));
    files
        .map(|file| {
            let code = fs::read_to_string(root().join(&file)).expect("read source");
            let code = code.split("#[cfg(test)]").next().unwrap_or_default().to_string();
            let module = file.trim_start_matches(SESSION_DIR).trim_end_matches(".rs").to_string();
            (module, super_names(&code))
        })
        .collect()
}

/// `super::a::..`, `super::b`, and each name of `super::{c, d::e}`.
fn super_names(code: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (at, _) in code.match_indices("super::") {
        let rest = &code[at + "super::".len()..];
        let list = match rest.strip_prefix('{') {
            Some(group) => &group[..group.find('}').expect("closed group")],
            None => &rest[..rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len())],
        };
        for item in list.split(',') {
            let name: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                names.insert(name);
            }
        }
    }
    names
}

#[test]
fn session_modules_import_each_other_one_way() {
    let imports = imports();
    assert!(imports.contains_key("take") && imports.contains_key("state"), "scan found the session modules");
    let siblings = |module: &str| -> Vec<String> {
        imports[module].iter().filter(|name| imports.contains_key(*name)).cloned().collect()
    };
    // Depth-first from every module; a module met again on the current path closes a cycle.
    fn visit(module: &str, path: &mut Vec<String>, siblings: &dyn Fn(&str) -> Vec<String>) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| m == module) {
            return Some(path[start..].iter().cloned().chain([module.to_string()]).collect());
        }
        path.push(module.to_string());
        let cycle = siblings(module).iter().find_map(|next| visit(next, path, siblings));
        path.pop();
        cycle
    }
    for module in imports.keys() {
        let cycle = visit(module, &mut Vec::new(), &siblings);
        assert!(cycle.is_none(), "session modules import each other back: {:?}", cycle.unwrap_or_default());
    }
}

#[test]
fn session_modules_call_nothing_in_the_actor_file() {
    let imports = imports();
    let calls: Vec<String> = imports
        .iter()
        .flat_map(|(module, names)| {
            let named = names.iter().filter(|name| !imports.contains_key(*name));
            named
                .filter(|name| name.starts_with(|c: char| c.is_lowercase()))
                .map(move |name| format!("{module}: {name}"))
        })
        .collect();
    assert!(calls.is_empty(), "session modules calling into session.rs: {calls:?}");
}
