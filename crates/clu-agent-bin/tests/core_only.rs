//! A core-only agent (`--no-default-features`) carries neither the code nor the permissions of
//! the Cloud and Core Plus tiers.
//!
//! The test builds that binary with cargo into its own target directory (a nested build in the
//! test's own directory would wait forever on the lock the running `cargo test` holds), then
//! runs it as a process.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds the core-only binary once per test process and returns its path.
fn core_only_binary() -> PathBuf {
    static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BINARY
        .get_or_init(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("target"))
                .join("core-only");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .current_dir(workspace_root())
                .args(["build", "--quiet", "-p", "clu-agent-bin", "--no-default-features"])
                .env("CARGO_TARGET_DIR", &target)
                .status()
                .expect("cargo runs");
            assert!(status.success(), "the core-only build failed");
            target.join("debug/clu-agent")
        })
        .clone()
}

fn run(args: &[&str]) -> Value {
    let output = Command::new(core_only_binary())
        .args(args)
        .env_clear()
        .env("AWS_REGION", "eu-west-1")
        .env("KUBECONFIG", "/nonexistent")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn the_core_only_agent_lists_only_core_tools() {
    let tools = run(&["tools", "--offline", "-o", "json"]);
    let tools = tools.as_array().unwrap();
    assert!(tools.iter().any(|t| t["name"] == "k8s_list"));
    let others: Vec<&Value> = tools.iter().filter(|t| t["tier"] != "core").collect();
    assert!(others.is_empty(), "{others:#?}");
}

#[test]
fn the_core_only_agent_prints_only_core_statements() {
    let documents = run(&["policy", "-o", "json"]);
    let text = documents.to_string();
    assert!(text.contains("logs:StartQuery"), "{text}");
    for foreign in ["ec2:", "eks:", "iam:", "rds:", "\"Sid\":\"CorePlus", "\"Sid\":\"Cloud"] {
        assert!(!text.contains(foreign), "`{foreign}` in the core-only policy: {text}");
    }
}

#[test]
fn enabling_a_tier_the_binary_lacks_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, "modules:\n  cloud:\n    enabled: true\n").unwrap();
    let output = Command::new(core_only_binary())
        .args(["tools", "--offline", "--config"])
        .arg(&path)
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("cloud"), "{stderr}");
}

#[test]
fn the_core_only_agent_links_no_cloud_or_core_plus_code() {
    let binary = std::fs::read(core_only_binary()).unwrap();
    for crate_name in ["clu_cloud", "clu_coreplus", "aws_sdk_ec2", "aws_sdk_iam"] {
        let found = binary.windows(crate_name.len()).any(|w| w == crate_name.as_bytes());
        assert!(!found, "the core-only binary contains `{crate_name}`");
    }
    // The same search finds the Core crate, so it would find the others were they linked.
    assert!(binary.windows("clu_core".len()).any(|w| w == b"clu_core"));
}
