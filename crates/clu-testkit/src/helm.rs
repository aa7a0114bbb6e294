//! A stand-in for the `helm` executable, for tests of the helm verbs: a Python script that
//! reads the cluster from `$KUBECONFIG` and sends the requests helm sends for install, upgrade,
//! rollback, uninstall, status, history and `get manifest`, with release storage in ConfigMaps.
//! Its charts are JSON lists of objects written beside it. It needs `python3` on `PATH`.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The script.
pub const SCRIPT: &str = include_str!("fake_helm.py");

/// Writes the fake helm into `dir/helm` with the charts `charts` (`("repo/name", objects)`)
/// beside it, and returns its path.
pub fn install(dir: &Path, charts: &[(&str, Value)]) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(dir).expect("the fake helm's directory can be made");
    let helm = dir.join("helm");
    std::fs::write(&helm, SCRIPT).expect("the fake helm can be written");
    std::fs::set_permissions(&helm, std::fs::Permissions::from_mode(0o755))
        .expect("the fake helm can be made executable");
    for (chart, objects) in charts {
        let file = dir.join(format!("{}.json", chart.replace('/', "_")));
        std::fs::write(file, objects.to_string()).expect("a chart can be written");
    }
    helm
}

/// Each argv the fake helm ran with, oldest first.
pub fn runs(helm: &Path) -> Vec<Vec<String>> {
    let log = std::fs::read_to_string(helm.with_file_name("argv.log")).unwrap_or_default();
    log.split("--\n")
        .filter(|run| !run.is_empty())
        .map(|run| run.lines().map(str::to_owned).collect())
        .collect()
}
