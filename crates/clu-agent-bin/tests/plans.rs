//! The plan commands as processes against the fake API server: `call` of a write verb makes a
//! plan in the file store and changes nothing; `plans` lists it; `approve` shows the diff,
//! applies it and names the undo plan; a second `approve` is refused; `reject` closes a plan;
//! `approvals` in the configuration is read, and a field it does not have is refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clu_testkit::apiserver::fixture::{Fixture, NAMESPACE};
use clu_testkit::apiserver::{FakeApiServer, ObjectKey};
use serde_json::{Value, json};

struct Setup {
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    config: PathBuf,
}

impl Setup {
    fn new(server: &FakeApiServer, approvals: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\nusers:\n- name: fake\n  user: {{}}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\ncurrent-context: fake\n",
            server.url()
        );
        std::fs::write(&kubeconfig, text).unwrap();
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, format!("modules:\n  corePlus:\n    enabled: true\n{approvals}"))
            .unwrap();
        Self { dir, kubeconfig, config }
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_clu-agent"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "eu-west-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("KUBECONFIG", &self.kubeconfig)
            .env("CLU_STATE_DIR", self.state())
            .env("USER", "alice")
            .arg("--config")
            .arg(&self.config)
            .args(args);
        command
    }
}

/// Runs the command off the runtime, so the fake server keeps serving it.
async fn run(setup: &Setup, args: &[&str]) -> Output {
    let mut command = setup.command(args);
    tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
}

fn json_of(output: &Output) -> Value {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn replicas(server: &FakeApiServer) -> Value {
    let key = ObjectKey {
        group: "apps".into(),
        version: "v1".into(),
        resource: "deployments".into(),
        namespace: NAMESPACE.into(),
        name: "web".into(),
    };
    server.object(&key).unwrap()["spec"]["replicas"].clone()
}

fn scale_input(replicas: u32) -> String {
    json!({ "kind": "Deployment", "namespace": NAMESPACE, "name": "web", "replicas": replicas })
        .to_string()
}

fn plan_files(state: &Path) -> usize {
    std::fs::read_dir(state.join("plans"))
        .map(|entries| {
            entries
                .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".json"))
                .count()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn call_plans_approve_applies_once_and_names_the_undo_plan() {
    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    let setup = Setup::new(&server, "");

    let plan = json_of(
        &run(&setup, &["call", "k8s_scale", "--input", &scale_input(4), "-o", "json"]).await,
    );
    let id = plan["id"].as_str().unwrap().to_owned();
    let digest = plan["digest"].as_str().unwrap().to_owned();
    assert_eq!(plan["state"]["kind"], "pending");
    assert_eq!(replicas(&server), json!(2), "a call of a write verb changes nothing");
    assert_eq!(plan_files(&setup.state()), 1);

    let listed = json_of(&run(&setup, &["plans", "-o", "json"]).await);
    assert_eq!(listed[0]["id"], json!(id));
    assert_eq!(listed[0]["state"], "pending");
    assert_eq!(listed[0]["tool"], "k8s_scale");

    let wrong = run(&setup, &["approve", &id, "--digest", &"0".repeat(64)]).await;
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("[digest-mismatch]"));
    assert_eq!(replicas(&server), json!(2));

    let approved = run(&setup, &["approve", &id, "--digest", &digest, "-o", "json"]).await;
    let stderr = String::from_utf8_lossy(&approved.stderr).into_owned();
    assert!(stderr.contains("+  replicas: 4"), "the diff is shown: {stderr}");
    let report = json_of(&approved);
    assert_eq!(report["verification"]["passed"], json!(true));
    assert_eq!(replicas(&server), json!(4));
    let undo = report["undo_plan"]["id"].as_str().unwrap().to_owned();
    assert_eq!(report["undo_plan"]["input"]["replicas"], json!(2));

    let replay = run(&setup, &["approve", &id, "--digest", &digest]).await;
    assert_eq!(replay.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&replay.stderr).contains("[plan-used]"));

    let table = run(&setup, &["approve", &undo]).await;
    assert!(table.status.success(), "{}", String::from_utf8_lossy(&table.stderr));
    assert!(String::from_utf8_lossy(&table.stdout).contains("verification passed"));
    assert_eq!(replicas(&server), json!(2));

    let listed = json_of(&run(&setup, &["plans", "-o", "json"]).await);
    let states: Vec<&str> =
        listed.as_array().unwrap().iter().map(|p| p["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["applied", "applied", "pending"], "the undo of the undo waits");
}

#[tokio::test]
async fn reject_closes_a_plan_and_the_namespace_policy_comes_from_the_configuration() {
    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    let setup =
        Setup::new(&server, "approvals:\n  ttl: 60\n  namespaces:\n    allow: [payments]\n");

    let plan = json_of(
        &run(&setup, &["call", "k8s_scale", "--input", &scale_input(4), "-o", "json"]).await,
    );
    let id = plan["id"].as_str().unwrap().to_owned();
    let created: k8s_openapi::jiff::Timestamp =
        plan["created_at"].as_str().unwrap().parse().unwrap();
    let expires: k8s_openapi::jiff::Timestamp =
        plan["expires_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(expires.duration_since(created).as_secs(), 60, "the configured ttl");

    let denied = run(&setup, &["approve", &id]).await;
    assert!(String::from_utf8_lossy(&denied.stderr).contains("[namespace-denied]"));
    assert_eq!(replicas(&server), json!(2));

    let rejected = run(&setup, &["reject", &id, "--reason", "wrong namespace"]).await;
    assert!(rejected.status.success(), "{}", String::from_utf8_lossy(&rejected.stderr));
    let listed = json_of(&run(&setup, &["plans", "-o", "json"]).await);
    assert_eq!(listed[0]["state"], "rejected");
    let again = run(&setup, &["approve", &id]).await;
    assert!(String::from_utf8_lossy(&again.stderr).contains("[plan-used]"));
}

#[tokio::test]
async fn auto_approval_applies_at_once_when_configured_and_unknown_fields_are_refused() {
    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    let setup = Setup::new(&server, "approvals:\n  autoApprove: [k8s_scale]\n");
    let report = json_of(
        &run(&setup, &["call", "k8s_scale", "--input", &scale_input(3), "-o", "json"]).await,
    );
    assert_eq!(report["verification"]["passed"], json!(true));
    assert_eq!(replicas(&server), json!(3));

    let setup = Setup::new(&server, "approvals:\n  autoapprove: [k8s_scale]\n");
    let refused = run(&setup, &["plans"]).await;
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("autoapprove"));
}

/// A fake `helm`: records each argv (one argument a line, then `--`) in `argv.log`, copies the
/// file given with `-f` to `values.seen`, and answers each subcommand with canned output. Its
/// release storage must be ConfigMaps, as the verbs set.
const FAKE_HELM: &str = r#"#!/bin/sh
dir=$(dirname "$0")
for arg in "$@"; do printf '%s\n' "$arg" >> "$dir/argv.log"; done
printf -- '--\n' >> "$dir/argv.log"
[ "$HELM_DRIVER" = configmap ] || { echo "HELM_DRIVER is $HELM_DRIVER" >&2; exit 3; }
previous=
for arg in "$@"; do
  [ "$previous" = "-f" ] && cp "$arg" "$dir/values.seen"
  previous=$arg
done
case "$1" in
  install|upgrade) cat "$dir/release.json" ;;
  get) case "$*" in *--revision*) cat "$dir/manifest-1.yaml" ;; *) cat "$dir/manifest-live.yaml" ;; esac ;;
  history) cat "$dir/history.json" ;;
  status) echo '{"name":"cache","info":{"status":"deployed"}}' ;;
  rollback) echo 'Rollback was a success! Happy Helming!' ;;
  uninstall) echo 'release "cache" uninstalled' ;;
  *) echo "unexpected helm $1" >&2; exit 2 ;;
esac
"#;

fn fake_helm(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let bin = dir.join("helm-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let helm = bin.join("helm");
    std::fs::write(&helm, FAKE_HELM).unwrap();
    std::fs::set_permissions(&helm, std::fs::Permissions::from_mode(0o755)).unwrap();
    let live = "---\nkind: Deployment\nmetadata:\n  name: cache\nspec:\n  replicas: 1\n";
    let planned = "---\nkind: Deployment\nmetadata:\n  name: cache\nspec:\n  replicas: 2\n";
    std::fs::write(bin.join("manifest-live.yaml"), live).unwrap();
    std::fs::write(
        bin.join("manifest-1.yaml"),
        "---\nkind: Deployment\nmetadata:\n  name: cache\nspec:\n  replicas: 3\n",
    )
    .unwrap();
    std::fs::write(
        bin.join("release.json"),
        json!({ "name": "cache", "version": 3, "manifest": planned }).to_string(),
    )
    .unwrap();
    std::fs::write(
        bin.join("history.json"),
        json!([{ "revision": 1 }, { "revision": 2 }]).to_string(),
    )
    .unwrap();
    helm
}

/// The argv of each helm run, in order.
fn helm_runs(helm: &Path) -> Vec<Vec<String>> {
    let log = std::fs::read_to_string(helm.with_file_name("argv.log")).unwrap_or_default();
    log.split("--\n")
        .filter(|run| !run.is_empty())
        .map(|run| run.lines().map(str::to_owned).collect())
        .collect()
}

#[tokio::test]
async fn helm_upgrade_plans_with_a_server_dry_run_passes_values_by_file_and_undoes_by_rollback() {
    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    let setup = Setup::new(&server, "");
    let helm = fake_helm(setup.dir.path());
    let input = json!({
        "release": "cache",
        "namespace": NAMESPACE,
        "chart": "bitnami/redis",
        "version": "19.6.4",
        "values": { "replicaCount": 2 },
    })
    .to_string();

    let mut call = setup.command(&["call", "helm_upgrade", "--input", &input, "-o", "json"]);
    call.env("CLU_HELM", &helm);
    let plan = json_of(&tokio::task::spawn_blocking(move || call.output().unwrap()).await.unwrap());
    assert!(plan["diff"].as_str().unwrap().contains("-  replicas: 1\n+  replicas: 2"), "{plan:#}");
    let runs = helm_runs(&helm);
    assert_eq!(
        runs[0][..7],
        ["upgrade", "cache", "bitnami/redis", "--namespace", "shop", "--version", "19.6.4"]
    );
    assert_eq!(runs[0][7], "-f");
    assert_eq!(runs[0][9..], ["--dry-run=server", "--output", "json"]);
    assert_eq!(runs[1], ["get", "manifest", "cache", "--namespace", "shop"]);
    let values = std::fs::read_to_string(helm.with_file_name("values.seen")).unwrap();
    assert_eq!(values.trim(), "replicaCount: 2");
    assert!(
        !std::path::Path::new(&runs[0][8]).exists(),
        "the values file is removed after the run"
    );

    let id = plan["id"].as_str().unwrap().to_owned();
    let mut approve = setup.command(&["approve", &id, "-o", "json"]);
    approve.env("CLU_HELM", &helm);
    let report =
        json_of(&tokio::task::spawn_blocking(move || approve.output().unwrap()).await.unwrap());
    assert_eq!(report["verification"]["passed"], json!(true));
    assert_eq!(report["undo_plan"]["tool"], "helm_rollback");
    assert_eq!(report["undo_plan"]["input"]["revision"], json!(2));
    let runs = helm_runs(&helm);
    let applied: Vec<&Vec<String>> = runs.iter().filter(|r| r[0] == "upgrade").collect();
    assert_eq!(applied.len(), 3, "plan, replan and apply");
    assert_eq!(applied[2][9..], ["--output", "json"], "the apply is no dry run");
    assert!(
        runs.iter().any(|r| r[..2] == ["get", "manifest"] && r.contains(&"--revision".to_owned()))
    );
}

#[tokio::test]
async fn helm_verbs_without_helm_say_it_is_not_configured() {
    let server = FakeApiServer::with_fixture(Fixture::shop()).await;
    let setup = Setup::new(&server, "");
    let input = json!({ "release": "cache", "namespace": NAMESPACE }).to_string();
    let mut call = setup.command(&["call", "helm_uninstall", "--input", &input]);
    call.env("PATH", "/nonexistent");
    let output = tokio::task::spawn_blocking(move || call.output().unwrap()).await.unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("[not-configured]"));
}

/// Against a real cluster with a real `helm`: `KUBECONFIG` and `helm` from the environment.
#[test]
#[ignore = "needs cluster"]
fn helm_install_against_a_real_cluster_makes_a_plan() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, "modules:\n  corePlus:\n    enabled: true\n").unwrap();
    let input = json!({ "release": "clu-smoke", "namespace": "default", "chart": "oci://registry-1.docker.io/bitnamicharts/nginx" }).to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_clu-agent"))
        .env("CLU_STATE_DIR", dir.path())
        .arg("--config")
        .arg(&config)
        .args(["call", "helm_install", "--input", &input, "-o", "json"])
        .output()
        .unwrap();
    let plan = json_of(&output);
    assert!(plan["diff"].as_str().unwrap().contains("+"));
}
