//! Architecture invariants of the workspace that a test can hold.

use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).unwrap().to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every AWS client in shipped code is built by `clu_core::aws_client!`, which adds the guard,
/// so no code path reaches AWS without passing it. Tests may seed fixtures with plain clients.
#[test]
fn shipped_code_builds_aws_clients_only_through_the_guarded_macro() {
    let root = workspace_root();
    let mut files = Vec::new();
    for krate in std::fs::read_dir(root.join("crates")).unwrap() {
        let krate = krate.unwrap().path();
        if krate.ends_with("clu-testkit") {
            continue;
        }
        rust_files(&krate.join("src"), &mut files);
    }
    rust_files(&root.join("xtask/src"), &mut files);

    let macro_home = root.join("crates/clu-core/src/tool.rs");
    let mut offences = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            let building = line.contains("Client::from_conf(") || line.contains("Client::new(&");
            let aws = line.contains("aws_sdk_") || line.contains("$sdk::Client");
            if building && aws && file != macro_home {
                offences.push(format!("{}:{}", file.display(), number + 1));
            }
        }
    }
    assert!(offences.is_empty(), "AWS clients built outside aws_client!: {offences:?}");
}

/// Known shortcomings carry one marker, `FIXME(reason)`, so they can be found and counted.
#[test]
fn shortcomings_use_the_fixme_marker_only() {
    let root = workspace_root();
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    rust_files(&root.join("xtask"), &mut files);
    let mut offences = Vec::new();
    let markers = [
        concat!("TO", "DO"),
        concat!("X", "XX"),
        concat!("todo", "!("),
        concat!("unimplemented", "!("),
    ];
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            if markers.iter().any(|m| line.contains(m)) {
                offences.push(format!("{}:{}", file.display(), number + 1));
            }
            let fixme = concat!("FIX", "ME");
            if line.contains(fixme) && !line.contains(&format!("{fixme}(")) {
                offences.push(format!(
                    "{}:{} (a {fixme} without a reason)",
                    file.display(),
                    number + 1
                ));
            }
        }
    }
    assert!(offences.is_empty(), "{offences:?}");
}

/// Every error code a tool call can fail with is documented for operators.
#[test]
fn every_tool_error_code_is_documented() {
    let page = std::fs::read_to_string(workspace_root().join("docs/errors.md")).unwrap();
    for code in clu_core::ToolError::CODES {
        assert!(page.contains(&format!("`{code}`")), "docs/errors.md does not document `{code}`");
    }
}
