//! `cargo xtask policy` as a process: the lint's output format and exit codes, `--tier`.

use std::process::Command;

fn xtask(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask")).args(args).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn lint_exits_zero_on_a_clean_document() {
    let dir = tempfile::tempdir().unwrap();
    let clean = write(
        &dir,
        "clean.json",
        r#"{"Version": "2012-10-17", "Statement": [
        {"Sid": "Read", "Effect": "Allow", "Action": "logs:StartQuery",
         "Resource": "arn:aws:logs:eu-west-1:123456789012:log-group:app:*"}]}"#,
    );
    let (code, stdout, stderr) = xtask(&["policy", "lint", &clean]);
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (0, "", ""));
}

#[test]
fn lint_prints_one_line_per_finding_and_exits_one() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        &dir,
        "bad.json",
        r#"{"Version": "2012-10-17", "Statement": [
        {"Sid": "Typo", "Effect": "Allow", "Action": "logs:StartQeury", "Resource": "*"},
        {"Sid": "Broad", "Effect": "Allow", "Action": "s3:Get*", "Resource": "*"}]}"#,
    );
    let (code, stdout, _) = xtask(&["policy", "lint", &bad]);
    assert_eq!(code, 1);
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with(&format!("{bad}: Typo: unknown-action: "))
            && l.contains("logs:StartQuery")),
        "{stdout}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with(&format!("{bad}: Broad: wildcard-action: "))),
        "{stdout}"
    );
    assert!(lines.iter().all(|l| l.starts_with(&format!("{bad}: "))), "{stdout}");
}

#[test]
fn lint_exits_two_on_unreadable_or_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let invalid = write(&dir, "invalid.json", "{ not json");
    let (code, _, stderr) = xtask(&["policy", "lint", &invalid]);
    assert_eq!(code, 2);
    assert!(
        stderr.starts_with(&format!("{invalid}: invalid policy document: not JSON")),
        "{stderr}"
    );

    let missing = dir.path().join("missing.json").display().to_string();
    let (code, _, stderr) = xtask(&["policy", "lint", &missing]);
    assert_eq!(code, 2);
    assert!(stderr.contains("cannot read"), "{stderr}");
}

#[test]
fn lint_reads_trust_policies_with_the_trust_rules() {
    let dir = tempfile::tempdir().unwrap();
    let trust = write(
        &dir,
        "trust.json",
        r#"{"Version": "2012-10-17", "Statement": [{
        "Sid": "Irsa", "Effect": "Allow",
        "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringLike": {"oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub": "system:serviceaccount:*"}}}]}"#,
    );
    let (code, stdout, _) = xtask(&["policy", "lint", &trust]);
    assert_eq!(code, 1);
    assert!(
        stdout.contains("trust-wildcard-sub") && stdout.contains("trust-missing-aud"),
        "{stdout}"
    );
}

#[test]
fn tier_prints_a_scoped_document() {
    let (code, stdout, _) =
        xtask(&["policy", "--tier", "core", "--account", "123456789012", "--region", "eu-west-1"]);
    assert_eq!(code, 0);
    let document: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert!(stdout.contains("arn:aws:logs:eu-west-1:123456789012:log-group:*:*"), "{stdout}");
    assert_eq!(document["Version"], "2012-10-17");

    let (code, _, stderr) = xtask(&["policy", "--tier", "premium"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("unknown tier `premium`"), "{stderr}");
}
