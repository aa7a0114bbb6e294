//! The plan kernel's rules, on a small write verb over an in-memory table: nothing changes
//! without an approval, an approval binds one diff once and expires, the namespace policy
//! holds, and an undo is proposed and applicable.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Value, json};

use super::*;
use crate::tool::{Permissions, Risk, Tier, Tool, ToolContext, ToolEnv, ToolSpec};

type Table = Arc<Mutex<BTreeMap<String, i64>>>;

/// Sets `key` in `namespace` of a shared table to `value`.
struct SetValue {
    spec: ToolSpec,
    table: Table,
}

#[derive(Deserialize, schemars::JsonSchema)]
#[expect(dead_code, reason = "the schema is what the test needs; the tool reads the JSON")]
struct SetInput {
    namespace: String,
    key: String,
    value: i64,
}

impl SetValue {
    fn new(table: Table) -> Self {
        let spec = ToolSpec::new::<SetInput>(
            "set_value",
            "Sets one value of the test table, behind a plan and an approval.",
            Tier::CorePlus,
            Risk::Write,
            Permissions::default(),
        );
        Self { spec, table }
    }

    fn key(input: &Value) -> String {
        format!(
            "{}/{}",
            input["namespace"].as_str().unwrap_or(""),
            input["key"].as_str().unwrap_or("")
        )
    }
}

#[async_trait]
impl Tool for SetValue {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, _context: &ToolContext, input: Value) -> crate::Result<Value> {
        let key = Self::key(&input);
        let live = self.table.lock().unwrap().get(&key).copied();
        let planned = input["value"].as_i64().unwrap_or_default();
        let diff = format!("-{key}: {live:?}\n+{key}: {planned}\n");
        Ok(PlanBody::new(format!("set {key} to {planned}"), diff, json!({ "value": planned }))
            .namespace(input["namespace"].as_str().unwrap_or_default())
            .touches(key)
            .into_value())
    }

    async fn apply(&self, _context: &ToolContext, input: Value) -> crate::Result<Applied> {
        let key = Self::key(&input);
        let planned = input["value"].as_i64().unwrap_or_default();
        let previous = self.table.lock().unwrap().insert(key.clone(), planned);
        let undo = previous.map(|value| Undo {
            tool: "set_value".into(),
            input: json!({ "namespace": input["namespace"], "key": input["key"], "value": value }),
        });
        Ok(Applied {
            result: json!({ "key": key, "value": planned }),
            verification: Verification::passed(format!("{key} reads {planned}")),
            undo,
        })
    }
}

/// A read tool, which has nothing to apply.
struct ReadOnly(ToolSpec);

#[async_trait]
impl Tool for ReadOnly {
    fn spec(&self) -> &ToolSpec {
        &self.0
    }

    async fn invoke(&self, _context: &ToolContext, _input: Value) -> crate::Result<Value> {
        Ok(json!({ "read": true }))
    }
}

struct Harness {
    registry: Registry,
    env: Arc<ToolEnv>,
    table: Table,
    clock: Arc<ManualClock>,
}

fn start() -> Timestamp {
    "2026-12-03T10:00:00Z".parse().unwrap()
}

impl Harness {
    fn new() -> Self {
        Self::with(ApprovalPolicy::default(), Arc::new(MemoryPlanStore::new()))
    }

    fn with(approvals: ApprovalPolicy, plans: Arc<dyn PlanStore>) -> Self {
        let table: Table = Arc::new(Mutex::new(BTreeMap::from([("shop/replicas".into(), 2)])));
        let read = ToolSpec::new::<SetInput>(
            "read_value",
            "Reads one value of the test table; never changes it.",
            Tier::Core,
            Risk::Read,
            Permissions::default(),
        );
        let registry = Registry::new([
            Arc::new(SetValue::new(table.clone())) as Arc<dyn Tool>,
            Arc::new(ReadOnly(read)),
        ])
        .unwrap();
        let clock = Arc::new(ManualClock::new(start()));
        let env = Arc::new(ToolEnv {
            plans: Some(plans),
            approvals,
            clock: SharedClock(clock.clone()),
            ..ToolEnv::default()
        });
        Self { registry, env, table, clock }
    }

    async fn plan(&self, namespace: &str, value: i64) -> Plan {
        let input = json!({ "namespace": namespace, "key": "replicas", "value": value });
        let outcome = self.registry.call(&self.env, "set_value", input).await;
        let value = outcome.result.unwrap_or_else(|e| panic!("[{}] {e}", e.code()));
        let plan = outcome.plan.expect("a write verb's call returns a plan");
        assert_eq!(value["id"], json!(plan.id));
        plan
    }

    fn value(&self, key: &str) -> Option<i64> {
        self.table.lock().unwrap().get(key).copied()
    }
}

fn code(result: crate::Result<impl std::fmt::Debug>) -> &'static str {
    match result {
        Ok(value) => panic!("should fail, returned {value:?}"),
        Err(error) => error.code(),
    }
}

#[tokio::test]
async fn a_write_verbs_call_stores_a_plan_and_changes_nothing() {
    let h = Harness::new();
    let plan = h.plan("shop", 5).await;

    assert_eq!(h.value("shop/replicas"), Some(2), "planning must not change anything");
    assert_eq!(plan.state, PlanState::Pending);
    assert_eq!(plan.namespace.as_deref(), Some("shop"));
    assert_eq!(plan.touches, ["shop/replicas"]);
    assert!(plan.diff.contains("+shop/replicas: 5"), "{}", plan.diff);
    assert_eq!(plan.digest, plan_digest("set_value", &plan.input, &plan.diff));
    assert_eq!(plan.digest.len(), 64);
    assert_eq!(plan.created_at, start());
    assert_eq!(plan.expires_at, start().saturating_add(signed(DEFAULT_TTL)).unwrap());
    assert!(plan.id.starts_with("plan-"));
    assert_eq!(h.registry.plans(&h.env).unwrap(), vec![plan.clone()]);
    assert!(plan.to_value()["next"].as_str().unwrap().contains(&plan.digest));
}

#[tokio::test]
async fn an_approved_plan_applies_and_offers_an_undo_plan_that_applies_too() {
    let h = Harness::new();
    let plan = h.plan("shop", 5).await;

    let report = h.registry.execute(&h.env, &plan.id, &plan.digest, "alice").await.unwrap();
    assert_eq!(h.value("shop/replicas"), Some(5));
    assert!(report.verification.passed);
    let undo = report.undo_plan.expect("the previous value is offered back as a plan");
    assert_eq!(undo.undo_of.as_deref(), Some(plan.id.as_str()));
    assert_eq!(undo.input["value"], json!(2));
    assert_eq!(undo.state, PlanState::Pending);
    assert_eq!(h.value("shop/replicas"), Some(5), "the undo waits for its own approval");

    let stored = h.registry.plan(&h.env, &plan.id).unwrap();
    assert!(
        matches!(&stored.state, PlanState::Applied { by, verified: true, undo_plan: Some(id), .. }
            if by == "alice" && id == &undo.id),
        "{:?}",
        stored.state
    );

    h.registry.execute(&h.env, &undo.id, &undo.digest, "bob").await.unwrap();
    assert_eq!(h.value("shop/replicas"), Some(2));
}

#[tokio::test]
async fn a_change_of_the_live_state_after_the_plan_makes_it_stale() {
    let h = Harness::new();
    let plan = h.plan("shop", 5).await;
    h.table.lock().unwrap().insert("shop/replicas".into(), 3);

    let error = h.registry.execute(&h.env, &plan.id, &plan.digest, "alice").await.unwrap_err();
    assert_eq!(error.code(), "plan-stale");
    assert!(error.to_string().contains("new plan"), "{error}");
    assert_eq!(h.value("shop/replicas"), Some(3), "nothing was applied");
    let stored = h.registry.plan(&h.env, &plan.id).unwrap();
    assert_eq!(stored.state.name(), "stale");
}

#[tokio::test]
async fn a_wrong_or_tampered_digest_is_refused() {
    let h = Harness::new();
    let plan = h.plan("shop", 5).await;
    let wrong = "0".repeat(64);
    assert_eq!(code(h.registry.approve(&h.env, &plan.id, &wrong, "alice")), "digest-mismatch");

    // Someone edits the stored input to another value, keeping the digest.
    let store = h.env.plans.clone().unwrap();
    let mut tampered = plan.clone();
    tampered.input["value"] = json!(500);
    assert!(store.transition(&tampered, &PlanState::Pending).unwrap());
    assert_eq!(
        code(h.registry.approve(&h.env, &plan.id, &plan.digest, "alice")),
        "digest-mismatch"
    );
    assert_eq!(h.value("shop/replicas"), Some(2));
    assert_eq!(h.registry.plan(&h.env, &plan.id).unwrap().state, PlanState::Pending);
}

#[tokio::test]
async fn an_expired_plan_is_refused() {
    let h = Harness::new();
    let plan = h.plan("shop", 5).await;
    h.clock.advance(DEFAULT_TTL - Duration::from_secs(1));
    let approved = h.registry.approve(&h.env, &plan.id, &plan.digest, "alice").unwrap();
    assert_eq!(approved.state.name(), "approved");

    let second = h.plan("shop", 6).await;
    h.clock.advance(DEFAULT_TTL);
    assert_eq!(
        code(h.registry.approve(&h.env, &second.id, &second.digest, "alice")),
        "plan-expired"
    );
    // An approved plan expires too if it is not applied within the window.
    assert_eq!(code(h.registry.apply_approved(&h.env, &plan.id).await), "plan-expired");
    assert_eq!(h.value("shop/replicas"), Some(2));
}

#[tokio::test]
async fn an_approval_is_used_once() {
    let h = Harness::new();
    let plan = h.plan("shop", 5).await;
    h.registry.execute(&h.env, &plan.id, &plan.digest, "alice").await.unwrap();
    h.table.lock().unwrap().insert("shop/replicas".into(), 2);

    assert_eq!(
        code(h.registry.execute(&h.env, &plan.id, &plan.digest, "alice").await),
        "plan-used"
    );
    assert_eq!(code(h.registry.apply_approved(&h.env, &plan.id).await), "plan-used");
    assert_eq!(code(h.registry.reject(&h.env, &plan.id, "bob", None)), "plan-used");
    assert_eq!(h.value("shop/replicas"), Some(2), "a replay changes nothing");
}

#[tokio::test]
async fn a_rejected_plan_can_never_be_applied() {
    let h = Harness::new();
    let plan = h.plan("shop", 5).await;
    let rejected = h.registry.reject(&h.env, &plan.id, "bob", Some("not now")).unwrap();
    assert!(
        matches!(rejected.state, PlanState::Rejected { ref reason, .. } if reason.as_deref() == Some("not now"))
    );
    assert_eq!(
        code(h.registry.execute(&h.env, &plan.id, &plan.digest, "alice").await),
        "plan-used"
    );
    assert_eq!(h.value("shop/replicas"), Some(2));
}

#[tokio::test]
async fn an_unapproved_plan_is_not_applied() {
    let h = Harness::new();
    let plan = h.plan("shop", 5).await;
    assert_eq!(code(h.registry.apply_approved(&h.env, &plan.id).await), "approval-required");
    assert_eq!(code(h.registry.approve(&h.env, "plan-0000", &plan.digest, "a")), "plan-not-found");
    assert_eq!(h.value("shop/replicas"), Some(2));
}

#[tokio::test]
async fn kube_system_is_denied_by_default_and_the_allow_list_holds() {
    let h = Harness::new();
    let plan = h.plan("kube-system", 1).await;
    let error = h.registry.approve(&h.env, &plan.id, &plan.digest, "alice").unwrap_err();
    assert_eq!(error.code(), "namespace-denied");
    assert!(error.to_string().contains("kube-system"), "{error}");

    let policy = ApprovalPolicy {
        namespaces: NamespacePolicy { allow: vec!["shop".into()], deny: Vec::new() },
        ..ApprovalPolicy::default()
    };
    let h = Harness::with(policy, Arc::new(MemoryPlanStore::new()));
    let outside = h.plan("payments", 1).await;
    assert_eq!(
        code(h.registry.approve(&h.env, &outside.id, &outside.digest, "alice")),
        "namespace-denied"
    );
    let inside = h.plan("shop", 1).await;
    h.registry.execute(&h.env, &inside.id, &inside.digest, "alice").await.unwrap();
    assert_eq!(h.value("payments/replicas"), None);
    assert_eq!(h.value("shop/replicas"), Some(1));
}

#[tokio::test]
async fn auto_approval_is_off_by_default_and_on_when_configured() {
    assert!(ApprovalPolicy::default().auto_approve.is_empty());
    let h = Harness::new();
    h.plan("shop", 5).await;
    assert_eq!(h.value("shop/replicas"), Some(2));

    let policy =
        ApprovalPolicy { auto_approve: vec!["set_value".into()], ..ApprovalPolicy::default() };
    let h = Harness::with(policy, Arc::new(MemoryPlanStore::new()));
    let input = json!({ "namespace": "shop", "key": "replicas", "value": 7 });
    let outcome = h.registry.call(&h.env, "set_value", input).await;
    let report = outcome.result.unwrap();
    assert!(outcome.plan.is_none(), "nothing waits for a human");
    assert_eq!(report["verification"]["passed"], json!(true));
    assert_eq!(h.value("shop/replicas"), Some(7));
    let plans = h.registry.plans(&h.env).unwrap();
    assert!(
        plans
            .iter()
            .any(|p| matches!(&p.state, PlanState::Applied { by, .. } if by == AUTO_APPROVER))
    );

    // The namespace policy still holds for auto-approved verbs.
    let input = json!({ "namespace": "kube-system", "key": "replicas", "value": 7 });
    let outcome = h.registry.call(&h.env, "set_value", input).await;
    assert_eq!(code(outcome.result), "namespace-denied");
    assert_eq!(h.value("kube-system/replicas"), None);
}

#[tokio::test]
async fn write_verbs_need_a_plan_store_and_read_tools_have_nothing_to_apply() {
    let h = Harness::new();
    let env = Arc::new(ToolEnv::default());
    let input = json!({ "namespace": "shop", "key": "replicas", "value": 5 });
    let outcome = h.registry.call(&env, "set_value", input.clone()).await;
    assert_eq!(code(outcome.result), "not-configured");

    assert_eq!(
        code(h.registry.propose(&h.env, "read_value", input, None).await),
        "not-a-write-verb"
    );
    let read = h
        .registry
        .call(&h.env, "read_value", json!({"namespace": "a", "key": "b", "value": 1}))
        .await;
    assert!(read.plan.is_none() && read.result.is_ok());
}

#[tokio::test]
async fn the_file_store_keeps_plans_across_processes_and_refuses_odd_ids() {
    let dir = std::env::temp_dir().join(format!("clu-plans-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Arc::new(FilePlanStore::new(&dir).unwrap());
    let h = Harness::with(ApprovalPolicy::default(), store.clone());
    let plan = h.plan("shop", 5).await;

    // Another process opens the same directory.
    let again = FilePlanStore::new(&dir).unwrap();
    assert_eq!(again.get(&plan.id).unwrap(), plan);
    assert_eq!(again.list().unwrap(), vec![plan.clone()]);
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(names, vec![format!("{}.json", plan.id)], "no temporary file is left");

    h.registry.execute(&h.env, &plan.id, &plan.digest, "alice").await.unwrap();
    assert_eq!(again.get(&plan.id).unwrap().state.name(), "applied");
    for odd in ["../etc/passwd", "plan-../../x", "plan-", "PLAN-00", "plan-ZZ"] {
        assert_eq!(PlanError::code(&again.get(odd).unwrap_err()), "plan-not-found", "{odd}");
    }
    std::fs::write(dir.join("plan-00ff.json"), "{ not json").unwrap();
    assert_eq!(again.get("plan-00ff").unwrap_err().code(), "plan-store-failed");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_policy_reads_camel_case_with_safe_defaults() {
    let policy: ApprovalPolicy = serde_json::from_value(json!({
        "ttl": 300,
        "autoApprove": ["k8s_scale"],
        "namespaces": { "allow": ["shop"] },
    }))
    .unwrap();
    assert_eq!(policy.ttl, Duration::from_secs(300));
    assert!(policy.auto_approves("k8s_scale") && !policy.auto_approves("k8s_delete"));
    assert_eq!(policy.namespaces.deny, ["kube-system"], "the deny list keeps its default");

    let default: ApprovalPolicy = serde_json::from_value(json!({})).unwrap();
    assert_eq!(default, ApprovalPolicy::default());
    assert_eq!(default.ttl, DEFAULT_TTL);
    let unknown = serde_json::from_value::<ApprovalPolicy>(json!({ "autoapprove": [] }));
    assert!(unknown.unwrap_err().to_string().contains("autoapprove"));
}

#[test]
fn the_digest_binds_verb_input_and_diff() {
    let input = json!({ "b": 1, "a": 2 });
    let digest = plan_digest("k8s_scale", &input, "-1\n+2\n");
    assert_eq!(digest, plan_digest("k8s_scale", &json!({ "a": 2, "b": 1 }), "-1\n+2\n"));
    assert_ne!(digest, plan_digest("k8s_delete", &input, "-1\n+2\n"));
    assert_ne!(digest, plan_digest("k8s_scale", &json!({ "a": 3, "b": 1 }), "-1\n+2\n"));
    assert_ne!(digest, plan_digest("k8s_scale", &input, "-1\n+3\n"));
}
