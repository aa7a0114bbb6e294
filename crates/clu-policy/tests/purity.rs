//! Architecture invariant: clu-policy does no IO and does not depend on the AWS SDK.
//!
//! The crate is the vocabulary every other crate and the build tooling share; keeping it pure
//! keeps it usable anywhere and its results reproducible.

use std::path::Path;

/// Paths whose use would mean IO or a runtime.
const FORBIDDEN: [&str; 8] = [
    "std::fs",
    "std::net",
    "std::process",
    "std::env",
    "tokio",
    "aws_sdk",
    "aws_config",
    "reqwest",
];

#[test]
fn clu_policy_source_does_no_io() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offences = Vec::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            for forbidden in FORBIDDEN {
                if code.contains(forbidden) {
                    offences.push(format!("{}:{}: {forbidden}", path.display(), number + 1));
                }
            }
        }
    }
    assert!(offences.is_empty(), "clu-policy must stay pure: {offences:#?}");
}

#[test]
fn clu_policy_depends_only_on_pure_crates() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let dependencies = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .unwrap_or_default();
    let names: Vec<&str> = dependencies
        .lines()
        .filter_map(|line| line.split(['.', '=', ' ']).next())
        .filter(|name| !name.is_empty())
        .collect();
    assert_eq!(names, ["serde", "serde_json", "thiserror"]);
}
