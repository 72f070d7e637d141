//! The production build leaves the demo and its simulators out. `nostr-relay-builder` and
//! `serbero-sim` reach `serbero` only as optional dependencies that the `demo` feature alone
//! enables; a build without default features has neither in its dependency graph; and the Debian
//! package (`[package.metadata.deb]` in `actors/Cargo.toml`) is such a build. Asked of cargo
//! (`cargo metadata`, `cargo tree`) rather than of the compiler, which cannot see what a build
//! would link without the features it was given.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// What only the demo may bring into the binary.
const DEMO_ONLY: [&str; 2] = ["nostr-relay-builder", "serbero-sim"];
const DEMO: &str = "demo";

#[test]
fn the_simulators_are_optional_and_only_the_demo_feature_enables_them() {
    let serbero = serbero_package();
    let dependencies = serbero["dependencies"].as_array().expect("dependencies");
    let not_dev = |dependency: &&Value| dependency["kind"].as_str() != Some("dev");
    let mut demo_only = 0;
    for dependency in dependencies.iter().filter(not_dev) {
        let name = dependency["name"].as_str().expect("dependency name");
        if DEMO_ONLY.contains(&name) {
            assert_eq!(dependency["optional"], Value::Bool(true), "{name} is a non-optional dependency of serbero");
            demo_only += 1;
        }
    }
    assert!(demo_only > 0, "serbero-sim is no dependency of serbero: the scan above checked nothing");

    let features = serbero["features"].as_object().expect("features");
    assert!(features.contains_key(DEMO), "serbero has no `{DEMO}` feature");
    for (feature, enables) in features {
        for entry in enables.as_array().expect("feature list").iter().map(|e| e.as_str().expect("feature entry")) {
            if feature != DEMO {
                let named = entry.trim_start_matches("dep:").split(['/', '?']).next().unwrap_or_default();
                assert!(!DEMO_ONLY.contains(&named), "feature `{feature}` enables {entry}: only `{DEMO}` may");
            }
            if feature != "default" {
                assert_ne!(entry, DEMO, "feature `{feature}` enables `{DEMO}`: only `default` may");
            }
        }
    }
}

#[test]
fn without_default_features_the_graph_has_no_simulators() {
    let without = normal_graph(&["--no-default-features"]);
    let present: Vec<&str> = DEMO_ONLY.iter().copied().filter(|name| without.contains(*name)).collect();
    assert!(present.is_empty(), "`cargo tree -p serbero --no-default-features -e normal` lists {present:?}");
    // The same listing with the defaults names both: the check above reads a real graph.
    let with = normal_graph(&[]);
    assert!(DEMO_ONLY.iter().all(|name| with.contains(*name)), "the default build lacks the demo: {with:?}");
}

#[test]
fn the_debian_package_is_built_without_the_demo() {
    let serbero = serbero_package();
    let deb = &serbero["metadata"]["deb"];
    assert!(deb.is_object(), "actors/Cargo.toml has no [package.metadata.deb]");
    assert_eq!(
        deb["default-features"],
        Value::Bool(false),
        "the package's build keeps the default features (the demo)"
    );
    // cargo-deb passes `--no-default-features` and then `--features` with this list.
    let listed: Vec<&str> = deb["features"]
        .as_array()
        .map_or_else(Vec::new, |list| list.iter().map(|feature| feature.as_str().expect("feature name")).collect());
    let mut args = vec!["--no-default-features".to_owned()];
    if !listed.is_empty() {
        args.extend(["--features".to_owned(), listed.join(",")]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let graph = normal_graph(&args);
    let present: Vec<&str> = DEMO_ONLY.iter().copied().filter(|name| graph.contains(*name)).collect();
    assert!(present.is_empty(), "the Debian package's build ({args:?}) links {present:?}");
    assert!(!enabled_features(&serbero, &listed).contains(DEMO), "the package's features {listed:?} enable `{DEMO}`");
}

/// `serbero` as `cargo metadata` describes it: dependencies, features, `[package.metadata]`.
fn serbero_package() -> Value {
    let output = cargo(&["metadata", "--format-version", "1", "--no-deps", "--locked"]);
    let metadata: Value = serde_json::from_str(&output).expect("cargo metadata prints JSON");
    let packages = metadata["packages"].as_array().expect("packages");
    packages.iter().find(|package| package["name"] == "serbero").expect("the serbero package").clone()
}

/// The names of the packages in `serbero`'s normal dependency graph, built with these flags.
fn normal_graph(flags: &[&str]) -> BTreeSet<String> {
    let mut args = vec!["tree", "-p", "serbero", "-e", "normal", "--prefix", "none", "--format", "{p}", "--locked"];
    args.extend(flags);
    // "nostr-sdk v0.44.1", "serbero-core v0.2.0 (/path) (*)"
    cargo(&args).lines().filter_map(|line| line.split_whitespace().next()).map(str::to_owned).collect()
}

/// The features of `package` that `listed` turns on, with those they turn on in turn.
fn enabled_features(package: &Value, listed: &[&str]) -> BTreeSet<String> {
    let features = package["features"].as_object().expect("features");
    let mut enabled = BTreeSet::new();
    let mut pending: Vec<String> = listed.iter().map(|feature| feature.to_string()).collect();
    while let Some(feature) = pending.pop() {
        if features.contains_key(&feature) && enabled.insert(feature.clone()) {
            let enables = features[&feature].as_array().expect("feature list");
            pending.extend(enables.iter().filter_map(Value::as_str).map(str::to_owned));
        }
    }
    enabled
}

/// Runs cargo in the workspace and returns what it printed.
fn cargo(args: &[&str]) -> String {
    let cargo = std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from);
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
    let output = Command::new(&cargo)
        .current_dir(workspace)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{} {args:?}: {e}", cargo.display()));
    assert!(output.status.success(), "cargo {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}
