//! The plan kernel: how a write verb goes from a proposal to a change a human approved.
//!
//! A write verb (a tool whose [`Risk`] is not `Read`) never changes anything when it is called.
//! Its [`Tool::invoke`] returns a [`PlanBody`]: a summary, the server-side dry-run, the diff
//! between the live and the planned state, and what it will touch. The registry turns that into
//! a stored [`Plan`] whose `digest` binds the verb, its input and the diff. A human approves the
//! plan by its id and digest; the registry then repeats the dry-run, refuses to go on if the
//! diff changed, and only then calls [`Tool::apply`]. What it returns ([`Applied`]) carries a
//! verification and, when the change can be taken back, the input of an undo, which is itself
//! proposed as a new plan.
//!
//! Approvals are single-use, expire (15 minutes by default, time from an injected [`Clock`]),
//! and are refused for namespaces outside the policy's allow list or inside its deny list
//! (`kube-system` by default). Every plan, decision and result is an audit event on the
//! [`AUDIT_TARGET`].

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tracing::Instrument;

use crate::error::{Result, ToolError};
use crate::guard::Invocation;
use crate::registry::{AUDIT_TARGET, Registry, input_digest};
use crate::tool::{Permissions, Risk, Tier, Tool, ToolContext, ToolEnv, ToolSpec};

/// How long a plan can be approved after it was made, unless configured otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

/// The approver recorded when a verb is approved by the `autoApprove` setting.
pub const AUTO_APPROVER: &str = "auto-approval";

/// Why a plan could not be made, approved, rejected or applied.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    /// The plan was not approved, so nothing is applied.
    #[error("plan `{plan_id}` of `{tool}` waits for a human approval; nothing was changed")]
    ApprovalRequired {
        /// The plan.
        plan_id: String,
        /// Its verb.
        tool: String,
    },
    /// No plan has the id.
    #[error("no plan `{plan_id}`")]
    NotFound {
        /// The id asked for.
        plan_id: String,
    },
    /// The plan's approval window has passed.
    #[error("plan `{plan_id}` expired at {expired_at}; make a new plan")]
    Expired {
        /// The plan.
        plan_id: String,
        /// When it expired.
        expired_at: Timestamp,
    },
    /// The plan was already approved, applied or rejected: an approval is single-use.
    #[error("plan `{plan_id}` is already {state}; an approval is used once")]
    Used {
        /// The plan.
        plan_id: String,
        /// Its state, such as `applied`.
        state: String,
    },
    /// The approval carries another digest than the plan, or the stored plan was changed.
    #[error("the approval of plan `{plan_id}` does not match it: {reason}")]
    DigestMismatch {
        /// The plan.
        plan_id: String,
        /// Which digest differs from which.
        reason: String,
    },
    /// The live state changed between the plan and the apply; nothing was applied.
    #[error(
        "the live state changed since plan `{plan_id}` was made, so nothing was applied; \
         make a new plan and approve it"
    )]
    Stale {
        /// The plan.
        plan_id: String,
    },
    /// The plan touches a namespace the approval policy does not allow.
    #[error("plan `{plan_id}` touches namespace `{namespace}`, which {reason}")]
    NamespaceDenied {
        /// The plan.
        plan_id: String,
        /// The namespace.
        namespace: String,
        /// Why: denied by the deny list, or not in the allow list.
        reason: String,
    },
    /// The tool is not a write verb, so it has nothing to apply.
    #[error("tool `{tool}` is not a write verb and has nothing to apply")]
    NotAWriteVerb {
        /// The tool.
        tool: String,
    },
    /// The plan store could not be read or written.
    #[error("the plan store failed: {message}")]
    Store {
        /// What went wrong, naming the file.
        message: String,
    },
}

impl PlanError {
    /// The stable kebab-case code of the error, listed in `docs/errors.md`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ApprovalRequired { .. } => "approval-required",
            Self::NotFound { .. } => "plan-not-found",
            Self::Expired { .. } => "plan-expired",
            Self::Used { .. } => "plan-used",
            Self::DigestMismatch { .. } => "digest-mismatch",
            Self::Stale { .. } => "plan-stale",
            Self::NamespaceDenied { .. } => "namespace-denied",
            Self::NotAWriteVerb { .. } => "not-a-write-verb",
            Self::Store { .. } => "plan-store-failed",
        }
    }

    /// Every code [`PlanError::code`] can return.
    pub const CODES: &'static [&'static str] = &[
        "approval-required",
        "plan-not-found",
        "plan-expired",
        "plan-used",
        "digest-mismatch",
        "plan-stale",
        "namespace-denied",
        "not-a-write-verb",
        "plan-store-failed",
    ];

    fn store(what: impl fmt::Display, error: impl fmt::Display) -> Self {
        Self::Store { message: format!("{what}: {error}") }
    }
}

/// The source of time for expiry and for a verb's polling, so tests need not sleep.
#[async_trait]
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> Timestamp;

    /// Waits for `duration`.
    async fn sleep(&self, duration: Duration);
}

/// The system's clock and tokio's timer.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// A clock that moves only when told to; sleeping moves it by the time slept, at once.
#[derive(Debug)]
pub struct ManualClock(Mutex<Timestamp>);

impl ManualClock {
    /// A clock standing at `now`.
    pub fn new(now: Timestamp) -> Self {
        Self(Mutex::new(now))
    }

    /// Moves the clock forward by `duration`.
    pub fn advance(&self, duration: Duration) {
        let mut now = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *now = now.saturating_add(signed(duration)).unwrap_or(*now);
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn sleep(&self, duration: Duration) {
        self.advance(duration);
        // Let other tasks run, as a real sleep would.
        tokio::task::yield_now().await;
    }
}

/// A shared [`Clock`], the system's unless a test injects another.
#[derive(Clone)]
pub struct SharedClock(pub Arc<dyn Clock>);

impl SharedClock {
    /// The clock.
    pub fn get(&self) -> &dyn Clock {
        self.0.as_ref()
    }
}

impl Default for SharedClock {
    fn default() -> Self {
        Self(Arc::new(SystemClock))
    }
}

impl fmt::Debug for SharedClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SharedClock")
    }
}

fn signed(duration: Duration) -> SignedDuration {
    SignedDuration::try_from(duration).unwrap_or(SignedDuration::MAX)
}

/// Who may approve what: the `approvals` section of the configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ApprovalPolicy {
    /// How long a plan can be approved after it was made, in seconds.
    #[serde(with = "seconds")]
    pub ttl: Duration,
    /// Verbs whose plans are approved without a human, as named by `clu-agent tools`. Empty by
    /// default: every change waits for a person.
    pub auto_approve: Vec<String>,
    /// Which namespaces plans may touch.
    pub namespaces: NamespacePolicy,
}

impl Default for ApprovalPolicy {
    fn default() -> Self {
        Self { ttl: DEFAULT_TTL, auto_approve: Vec::new(), namespaces: NamespacePolicy::default() }
    }
}

impl ApprovalPolicy {
    /// Whether `tool`'s plans are approved without a human.
    pub fn auto_approves(&self, tool: &str) -> bool {
        self.auto_approve.iter().any(|name| name == tool)
    }
}

/// The namespaces plans may touch. Cluster-scoped objects (nodes) are outside this policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct NamespacePolicy {
    /// When not empty, the only namespaces plans may touch.
    pub allow: Vec<String>,
    /// Namespaces plans may never touch; `kube-system` by default.
    pub deny: Vec<String>,
}

impl Default for NamespacePolicy {
    fn default() -> Self {
        Self { allow: Vec::new(), deny: vec!["kube-system".to_owned()] }
    }
}

impl NamespacePolicy {
    /// `None` when `namespace` may be touched, else why not.
    pub fn refusal(&self, namespace: &str) -> Option<String> {
        if self.deny.iter().any(|denied| denied == namespace) {
            Some("the approval policy denies (`approvals.namespaces.deny`)".to_owned())
        } else if !self.allow.is_empty() && !self.allow.iter().any(|allowed| allowed == namespace) {
            Some(format!(
                "is not in the approval policy's allow list (`approvals.namespaces.allow`: {})",
                self.allow.join(", ")
            ))
        } else {
            None
        }
    }
}

mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(value.as_secs())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

/// What a write verb's [`Tool::invoke`] returns: the plan of a change, made without changing
/// anything.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanBody {
    /// What the change does, in one sentence.
    pub summary: String,
    /// The namespace it touches; `None` for cluster-scoped objects.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The objects it touches, such as `apps/v1 Deployment shop/web`.
    #[serde(default)]
    pub touches: Vec<String>,
    /// A readable diff of the live state against the planned state.
    pub diff: String,
    /// What the server-side dry-run answered.
    #[serde(default)]
    pub dry_run: Value,
    /// The input the apply will use when the plan fixed something the call left open (a
    /// restart's timestamp, the revision to roll back to); the call's input otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_input: Option<Value>,
}

impl PlanBody {
    /// A plan with a summary, a diff and the dry-run's answer.
    pub fn new(summary: impl Into<String>, diff: impl Into<String>, dry_run: Value) -> Self {
        Self {
            summary: summary.into(),
            namespace: None,
            touches: Vec::new(),
            diff: diff.into(),
            dry_run,
            pinned_input: None,
        }
    }

    /// The same plan, touching objects in `namespace`.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// The same plan, touching `object` as well.
    pub fn touches(mut self, object: impl Into<String>) -> Self {
        self.touches.push(object.into());
        self
    }

    /// The same plan, applying `input` instead of the call's.
    pub fn pinned_input(mut self, input: Value) -> Self {
        self.pinned_input = Some(input);
        self
    }

    /// The body as [`Tool::invoke`] returns it.
    pub fn into_value(self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Whether a change did what it should, as the verb checked after applying it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verification {
    /// Whether the check passed.
    pub passed: bool,
    /// What was checked and seen.
    pub message: String,
}

impl Verification {
    /// A passed check.
    pub fn passed(message: impl Into<String>) -> Self {
        Self { passed: true, message: message.into() }
    }

    /// A failed check.
    pub fn failed(message: impl Into<String>) -> Self {
        Self { passed: false, message: message.into() }
    }
}

/// How to take a change back: a call of a verb, proposed as a new plan after the apply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Undo {
    /// The verb, often the same.
    pub tool: String,
    /// Its input.
    pub input: Value,
}

/// What a write verb's [`Tool::apply`] returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    /// What the API answered, trimmed to what matters.
    pub result: Value,
    /// The check made after the change.
    pub verification: Verification,
    /// How to take the change back, when it can be.
    pub undo: Option<Undo>,
}

/// Where a plan is in its life. Only `pending` can be approved or rejected, only `approved`
/// can be applied; every other state is final.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PlanState {
    /// Waits for a decision.
    Pending,
    /// Approved, not yet applied.
    Approved {
        /// Who approved.
        by: String,
        /// When.
        at: Timestamp,
    },
    /// Being applied.
    Applying {
        /// Who approved.
        by: String,
        /// When the apply started.
        at: Timestamp,
    },
    /// Applied.
    Applied {
        /// Who approved.
        by: String,
        /// When the apply finished.
        at: Timestamp,
        /// Whether the verification passed.
        verified: bool,
        /// The plan proposed to undo it.
        #[serde(default)]
        undo_plan: Option<String>,
    },
    /// The apply failed.
    Failed {
        /// Who approved.
        by: String,
        /// When it failed.
        at: Timestamp,
        /// The error's code.
        code: String,
        /// The error.
        message: String,
    },
    /// The live state changed before the apply; nothing was applied.
    Stale {
        /// When that was found.
        at: Timestamp,
    },
    /// Rejected by a human.
    Rejected {
        /// Who rejected.
        by: String,
        /// When.
        at: Timestamp,
        /// Why, if they said.
        #[serde(default)]
        reason: Option<String>,
    },
}

impl PlanState {
    /// The state's name: `pending`, `approved`, `applying`, `applied`, `failed`, `stale`,
    /// `rejected`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved { .. } => "approved",
            Self::Applying { .. } => "applying",
            Self::Applied { .. } => "applied",
            Self::Failed { .. } => "failed",
            Self::Stale { .. } => "stale",
            Self::Rejected { .. } => "rejected",
        }
    }
}

impl fmt::Display for PlanState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A stored plan: what a write verb will do, bound by a digest to what a human approves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The plan's id, such as `plan-3f2a9c0d1e4b5a68`.
    pub id: String,
    /// The verb.
    pub tool: String,
    /// The verb's tier.
    pub tier: Tier,
    /// The verb's risk.
    pub risk: Risk,
    /// The input the apply will use.
    pub input: Value,
    /// What it does, in one sentence.
    pub summary: String,
    /// The namespace it touches; `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// The objects it touches.
    pub touches: Vec<String>,
    /// The diff of the live state against the planned state.
    pub diff: String,
    /// What the server-side dry-run answered.
    pub dry_run: Value,
    /// The IAM grants and RBAC rules the apply runs under.
    pub permissions: Permissions,
    /// SHA-256 over the canonical (verb, input, diff): what an approval must name.
    pub digest: String,
    /// When the plan was made.
    pub created_at: Timestamp,
    /// When it can no longer be approved.
    pub expires_at: Timestamp,
    /// The plan this one undoes, for undo plans.
    #[serde(default)]
    pub undo_of: Option<String>,
    /// Where it is in its life.
    pub state: PlanState,
}

impl Plan {
    /// Whether the plan's window has passed at `now`.
    pub fn expired(&self, now: Timestamp) -> bool {
        now >= self.expires_at
    }

    /// The plan as the model and API callers see it, with what to do next.
    pub fn to_value(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if self.state == PlanState::Pending {
            value["next"] = json!(format!(
                "nothing was changed: a human must approve plan `{}` (digest `{}`) before {}, \
                 for example with `clu-agent approve {}`",
                self.id, self.digest, self.expires_at, self.id
            ));
        }
        value
    }
}

/// The digest that binds a plan: SHA-256 over the canonical JSON of (verb, input, diff).
pub fn plan_digest(tool: &str, input: &Value, diff: &str) -> String {
    input_digest(&json!({ "verb": tool, "input": input, "diff": diff }))
}

/// What applying an approved plan did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApplyReport {
    /// The plan applied.
    pub plan_id: String,
    /// Its verb.
    pub tool: String,
    /// What the API answered.
    pub result: Value,
    /// The check made after the change.
    pub verification: Verification,
    /// The plan proposed to undo the change, waiting for its own approval.
    pub undo_plan: Option<Plan>,
    /// Why no undo plan could be made, when the verb offered one.
    pub undo_error: Option<String>,
}

impl ApplyReport {
    /// The report as JSON.
    pub fn to_value(&self) -> Value {
        let mut value = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Some(plan) = &self.undo_plan {
            value["undo_plan"] = plan.to_value();
        }
        value
    }
}

/// Where plans are kept between the proposal and the apply.
///
/// [`PlanStore::transition`] is a compare-and-swap, which is what makes an approval single-use
/// when two approvers race.
pub trait PlanStore: Send + Sync + 'static {
    /// Stores a new plan.
    fn insert(&self, plan: &Plan) -> Result<(), PlanError>;

    /// The plan with `id`.
    fn get(&self, id: &str) -> Result<Plan, PlanError>;

    /// Every plan, oldest first.
    fn list(&self) -> Result<Vec<Plan>, PlanError>;

    /// Replaces the stored plan with `plan` if its stored state is still `expected`; `false`
    /// when another decision came first.
    fn transition(&self, plan: &Plan, expected: &PlanState) -> Result<bool, PlanError>;
}

/// Plans in memory, for a long-running server.
#[derive(Debug, Default)]
pub struct MemoryPlanStore(Mutex<BTreeMap<String, Plan>>);

impl MemoryPlanStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Plan>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl PlanStore for MemoryPlanStore {
    fn insert(&self, plan: &Plan) -> Result<(), PlanError> {
        self.lock().insert(plan.id.clone(), plan.clone());
        Ok(())
    }

    fn get(&self, id: &str) -> Result<Plan, PlanError> {
        self.lock().get(id).cloned().ok_or_else(|| PlanError::NotFound { plan_id: id.to_owned() })
    }

    fn list(&self) -> Result<Vec<Plan>, PlanError> {
        let mut plans: Vec<Plan> = self.lock().values().cloned().collect();
        plans.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(plans)
    }

    fn transition(&self, plan: &Plan, expected: &PlanState) -> Result<bool, PlanError> {
        let mut plans = self.lock();
        match plans.get_mut(&plan.id) {
            Some(stored) if &stored.state == expected => {
                *stored = plan.clone();
                Ok(true)
            }
            Some(_) => Ok(false),
            None => Err(PlanError::NotFound { plan_id: plan.id.clone() }),
        }
    }
}

/// Plans as one JSON file each in a directory, for the CLI, whose `call` and `approve` are
/// separate processes. Writes are atomic (a temporary file renamed over the old one) and
/// transitions hold an exclusive lock on the directory's lock file.
#[derive(Clone, Debug)]
pub struct FilePlanStore {
    dir: PathBuf,
}

impl FilePlanStore {
    /// A store in `dir`, created if missing.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, PlanError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)
            .map_err(|e| PlanError::store(format!("cannot create {}", dir.display()), e))?;
        Ok(Self { dir })
    }

    /// The default directory: `$CLU_STATE_DIR/plans`, else `$XDG_STATE_HOME/clu/plans`, else
    /// `~/.local/state/clu/plans`.
    pub fn default_dir() -> Option<PathBuf> {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
        let state = var("CLU_STATE_DIR")
            .or_else(|| var("XDG_STATE_HOME").map(|dir| dir.join("clu")))
            .or_else(|| var("HOME").map(|home| home.join(".local/state/clu")))?;
        Some(state.join("plans"))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: &str) -> Result<PathBuf, PlanError> {
        // Ids come from the command line: only the shape the kernel makes is a file name.
        let well_formed = id.strip_prefix("plan-").is_some_and(|hex| {
            !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit() && !c.is_uppercase())
        });
        if well_formed {
            Ok(self.dir.join(format!("{id}.json")))
        } else {
            Err(PlanError::NotFound { plan_id: id.to_owned() })
        }
    }

    fn read(&self, path: &Path, id: &str) -> Result<Plan, PlanError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(PlanError::NotFound { plan_id: id.to_owned() });
            }
            Err(e) => return Err(PlanError::store(format!("cannot read {}", path.display()), e)),
        };
        serde_json::from_str(&text)
            .map_err(|e| PlanError::store(format!("{} is not a plan", path.display()), e))
    }

    fn write(&self, plan: &Plan) -> Result<(), PlanError> {
        let path = self.path(&plan.id)?;
        let temporary = self.dir.join(format!(".{}.json.tmp", plan.id));
        let text = serde_json::to_string_pretty(plan)
            .map_err(|e| PlanError::store("cannot serialize the plan", e))?;
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(text.as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            std::fs::rename(&temporary, &path)
        };
        write().map_err(|e| PlanError::store(format!("cannot write {}", path.display()), e))
    }

    fn locked<T>(&self, f: impl FnOnce() -> Result<T, PlanError>) -> Result<T, PlanError> {
        let lock_path = self.dir.join(".lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| PlanError::store(format!("cannot open {}", lock_path.display()), e))?;
        lock.lock()
            .map_err(|e| PlanError::store(format!("cannot lock {}", lock_path.display()), e))?;
        let result = f();
        // Closing the file releases the lock; unlocking first only makes it prompt.
        let _ = lock.unlock();
        result
    }
}

impl PlanStore for FilePlanStore {
    fn insert(&self, plan: &Plan) -> Result<(), PlanError> {
        self.locked(|| self.write(plan))
    }

    fn get(&self, id: &str) -> Result<Plan, PlanError> {
        let path = self.path(id)?;
        self.read(&path, id)
    }

    fn list(&self) -> Result<Vec<Plan>, PlanError> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| PlanError::store(format!("cannot list {}", self.dir.display()), e))?;
        let mut plans = Vec::new();
        for entry in entries {
            let entry = entry
                .map_err(|e| PlanError::store(format!("cannot list {}", self.dir.display()), e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".json").filter(|id| id.starts_with("plan-")) {
                plans.push(self.read(&entry.path(), id)?);
            }
        }
        plans.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(plans)
    }

    fn transition(&self, plan: &Plan, expected: &PlanState) -> Result<bool, PlanError> {
        self.locked(|| {
            let stored = self.get(&plan.id)?;
            if &stored.state != expected {
                return Ok(false);
            }
            self.write(plan)?;
            Ok(true)
        })
    }
}

/// One audit event of a plan's life, on the [`AUDIT_TARGET`] beside the tool-call events.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct PlanAuditRecord {
    /// `plan`, `approve`, `reject`, `refuse`, `apply` or `stale`.
    pub decision: &'static str,
    /// The plan.
    pub plan_id: String,
    /// Its verb.
    pub tool: String,
    /// Its digest.
    pub digest: String,
    /// The namespace it touches.
    pub namespace: Option<String>,
    /// Who decided, for decisions.
    pub actor: Option<String>,
    /// `ok`, or the error code.
    pub outcome: String,
    /// What happened, in words.
    pub message: String,
    /// Kubernetes requests made by the apply.
    pub kube_requests: Vec<String>,
    /// What the guard refused during the apply.
    pub refused: Vec<String>,
}

fn audit(record: PlanAuditRecord) {
    let event = serde_json::to_string(&record).unwrap_or_default();
    tracing::info!(
        target: AUDIT_TARGET,
        plan = %record.plan_id,
        decision = record.decision,
        outcome = %record.outcome,
        event = %event
    );
}

fn audit_plan(
    plan: &Plan,
    decision: &'static str,
    actor: Option<&str>,
    outcome: Result<&str, &ToolError>,
) {
    let (outcome, message) = match outcome {
        Ok(message) => ("ok".to_owned(), message.to_owned()),
        Err(error) => (error.code().to_owned(), error.to_string()),
    };
    audit(PlanAuditRecord {
        decision,
        plan_id: plan.id.clone(),
        tool: plan.tool.clone(),
        digest: plan.digest.clone(),
        namespace: plan.namespace.clone(),
        actor: actor.map(str::to_owned),
        outcome,
        message,
        kube_requests: Vec::new(),
        refused: Vec::new(),
    });
}

fn new_plan_id(digest: &str, now: Timestamp) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut hasher = Sha256::new();
    hasher.update(digest.as_bytes());
    hasher.update(now.as_nanosecond().to_le_bytes());
    hasher.update(std::process::id().to_le_bytes());
    hasher.update(count.to_le_bytes());
    // The wall clock too: an injected clock repeats its times across processes.
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    hasher.update(wall.to_le_bytes());
    let hash = hasher.finalize();
    let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("plan-{hex}")
}

fn store(env: &ToolEnv, tool: &str) -> Result<Arc<dyn PlanStore>> {
    env.plans.clone().ok_or_else(|| ToolError::NotConfigured {
        tool: tool.to_owned(),
        what: "a plan store for write verbs".into(),
    })
}

impl Registry {
    /// Turns a write verb's plan body into a stored plan. `input` is the call's input,
    /// already valid; the body may pin another.
    pub(crate) fn make_plan(
        &self,
        env: &ToolEnv,
        spec: &ToolSpec,
        input: Value,
        body: Value,
        undo_of: Option<String>,
    ) -> Result<Plan> {
        let plans = store(env, spec.name)?;
        let mut body: PlanBody = serde_json::from_value(body).map_err(|e| {
            ToolError::failed(spec.name, format!("the verb returned no valid plan: {e}"))
        })?;
        let input = match body.pinned_input.take() {
            Some(pinned) => {
                self.validate(spec.name, &pinned).map_err(|e| {
                    ToolError::failed(spec.name, format!("the verb pinned an invalid input: {e}"))
                })?;
                pinned
            }
            None => input,
        };
        let redactor = self.redactor();
        let summary = redactor.redact_text(&body.summary).into_owned();
        let diff = redactor.redact_text(&body.diff).into_owned();
        let mut dry_run = body.dry_run;
        redactor.redact_value(&mut dry_run);

        let now = env.clock.get().now();
        let digest = plan_digest(spec.name, &input, &diff);
        let plan = Plan {
            id: new_plan_id(&digest, now),
            tool: spec.name.to_owned(),
            tier: spec.tier,
            risk: spec.risk,
            input,
            summary,
            namespace: body.namespace,
            touches: body.touches,
            diff,
            dry_run,
            permissions: spec.permissions.clone(),
            digest,
            created_at: now,
            expires_at: now.saturating_add(signed(env.approvals.ttl)).unwrap_or(now),
            undo_of,
            state: PlanState::Pending,
        };
        plans.insert(&plan)?;
        audit_plan(&plan, "plan", None, Ok(&plan.summary));
        Ok(plan)
    }

    /// Proposes a plan of `tool` with `input` without the model: validates the input, runs the
    /// verb's dry-run and stores the plan.
    pub async fn propose(
        &self,
        env: &Arc<ToolEnv>,
        tool: &str,
        input: Value,
        undo_of: Option<String>,
    ) -> Result<Plan> {
        let entry_tool = self
            .get(tool)
            .cloned()
            .ok_or_else(|| ToolError::UnknownTool { name: tool.to_owned(), suggestion: None })?;
        let spec = entry_tool.spec();
        if !spec.needs_approval() {
            return Err(PlanError::NotAWriteVerb { tool: tool.to_owned() }.into());
        }
        self.validate(tool, &input)?;
        let body = self.run_verb(env, spec, &entry_tool, input.clone(), "plan").await?;
        self.make_plan(env, spec, input, body, undo_of)
    }

    /// Every stored plan, oldest first.
    pub fn plans(&self, env: &ToolEnv) -> Result<Vec<Plan>> {
        Ok(store(env, "plans")?.list()?)
    }

    /// The stored plan with `plan_id`.
    pub fn plan(&self, env: &ToolEnv, plan_id: &str) -> Result<Plan> {
        Ok(store(env, "plans")?.get(plan_id)?)
    }

    /// Approves a pending plan. Refuses a digest other than the plan's, a plan whose stored
    /// content no longer matches its digest, an expired plan, a plan already decided, and a
    /// namespace the policy does not allow. Every decision is audited.
    pub fn approve(
        &self,
        env: &ToolEnv,
        plan_id: &str,
        digest: &str,
        approver: &str,
    ) -> Result<Plan> {
        let plans = store(env, "approve")?;
        let plan = plans.get(plan_id).inspect_err(|e| {
            audit(refusal_record(plan_id, approver, e.code(), &e.to_string()));
        })?;
        let refuse = |error: PlanError| -> ToolError {
            let error = ToolError::from(error);
            audit_plan(&plan, "refuse", Some(approver), Err(&error));
            error
        };

        if plan.state != PlanState::Pending {
            return Err(refuse(PlanError::Used {
                plan_id: plan.id.clone(),
                state: plan.state.name().to_owned(),
            }));
        }
        if digest != plan.digest {
            return Err(refuse(PlanError::DigestMismatch {
                plan_id: plan.id.clone(),
                reason: format!(
                    "the approval names digest `{digest}`, the plan has `{}`",
                    plan.digest
                ),
            }));
        }
        let recomputed = plan_digest(&plan.tool, &plan.input, &plan.diff);
        if recomputed != plan.digest {
            return Err(refuse(PlanError::DigestMismatch {
                plan_id: plan.id.clone(),
                reason: "the stored plan's verb, input or diff was changed after it was made"
                    .to_owned(),
            }));
        }
        let now = env.clock.get().now();
        if plan.expired(now) {
            return Err(refuse(PlanError::Expired {
                plan_id: plan.id.clone(),
                expired_at: plan.expires_at,
            }));
        }
        if let Some(namespace) = &plan.namespace
            && let Some(reason) = env.approvals.namespaces.refusal(namespace)
        {
            return Err(refuse(PlanError::NamespaceDenied {
                plan_id: plan.id.clone(),
                namespace: namespace.clone(),
                reason,
            }));
        }
        match self.get(&plan.tool) {
            None => {
                let error = ToolError::UnknownTool { name: plan.tool.clone(), suggestion: None };
                audit_plan(&plan, "refuse", Some(approver), Err(&error));
                return Err(error);
            }
            Some(tool) if !tool.spec().needs_approval() => {
                return Err(refuse(PlanError::NotAWriteVerb { tool: plan.tool.clone() }));
            }
            Some(_) => {}
        }

        let mut approved = plan.clone();
        approved.state = PlanState::Approved { by: approver.to_owned(), at: now };
        if !plans.transition(&approved, &PlanState::Pending)? {
            let current = plans.get(plan_id)?;
            return Err(refuse(PlanError::Used {
                plan_id: plan.id.clone(),
                state: current.state.name().to_owned(),
            }));
        }
        audit_plan(&approved, "approve", Some(approver), Ok("approved"));
        Ok(approved)
    }

    /// Rejects a pending plan, which can then never be applied.
    pub fn reject(
        &self,
        env: &ToolEnv,
        plan_id: &str,
        approver: &str,
        reason: Option<&str>,
    ) -> Result<Plan> {
        let plans = store(env, "reject")?;
        let plan = plans.get(plan_id)?;
        let mut rejected = plan.clone();
        rejected.state = PlanState::Rejected {
            by: approver.to_owned(),
            at: env.clock.get().now(),
            reason: reason.map(str::to_owned),
        };
        if plan.state != PlanState::Pending || !plans.transition(&rejected, &PlanState::Pending)? {
            let current = plans.get(plan_id)?;
            let error = ToolError::from(PlanError::Used {
                plan_id: plan.id.clone(),
                state: current.state.name().to_owned(),
            });
            audit_plan(&plan, "refuse", Some(approver), Err(&error));
            return Err(error);
        }
        audit_plan(&rejected, "reject", Some(approver), Ok(reason.unwrap_or("rejected")));
        Ok(rejected)
    }

    /// Approves a plan and applies it at once, as an operator's `approve` command does.
    pub async fn execute(
        &self,
        env: &Arc<ToolEnv>,
        plan_id: &str,
        digest: &str,
        approver: &str,
    ) -> Result<ApplyReport> {
        self.approve(env, plan_id, digest, approver)?;
        self.apply_approved(env, plan_id).await
    }

    /// Applies an approved plan: repeats its dry-run, refuses (and marks the plan stale) when
    /// the diff changed, applies, records the result and proposes the undo plan.
    pub async fn apply_approved(&self, env: &Arc<ToolEnv>, plan_id: &str) -> Result<ApplyReport> {
        let plans = store(env, "apply")?;
        let plan = plans.get(plan_id)?;
        let PlanState::Approved { by, .. } = plan.state.clone() else {
            let error = match plan.state {
                PlanState::Pending => PlanError::ApprovalRequired {
                    plan_id: plan.id.clone(),
                    tool: plan.tool.clone(),
                },
                ref other => {
                    PlanError::Used { plan_id: plan.id.clone(), state: other.name().to_owned() }
                }
            };
            let error = ToolError::from(error);
            audit_plan(&plan, "refuse", None, Err(&error));
            return Err(error);
        };
        let tool = self
            .get(&plan.tool)
            .cloned()
            .ok_or_else(|| ToolError::UnknownTool { name: plan.tool.clone(), suggestion: None })?;
        let spec = tool.spec();
        let now = env.clock.get().now();
        if plan.expired(now) {
            let error = ToolError::from(PlanError::Expired {
                plan_id: plan.id.clone(),
                expired_at: plan.expires_at,
            });
            audit_plan(&plan, "refuse", Some(&by), Err(&error));
            return Err(error);
        }

        // Claim the plan, so a second applier of the same approval finds it used.
        let mut applying = plan.clone();
        applying.state = PlanState::Applying { by: by.clone(), at: now };
        if !plans.transition(&applying, &plan.state)? {
            let current = plans.get(plan_id)?;
            let error = ToolError::from(PlanError::Used {
                plan_id: plan.id.clone(),
                state: current.state.name().to_owned(),
            });
            audit_plan(&plan, "refuse", Some(&by), Err(&error));
            return Err(error);
        }

        let finish = |state: PlanState| -> Result<Plan> {
            let mut done = applying.clone();
            done.state = state;
            plans.transition(&done, &applying.state)?;
            Ok(done)
        };

        // The dry-run again: the approval holds only for the diff the human saw.
        let replanned = match self.run_verb(env, spec, &tool, plan.input.clone(), "replan").await {
            Ok(body) => body,
            Err(error) => {
                finish(failed_state(&by, env.clock.get().now(), &error))?;
                audit_plan(&plan, "apply", Some(&by), Err(&error));
                return Err(error);
            }
        };
        let diff = serde_json::from_value::<PlanBody>(replanned)
            .map(|body| self.redactor().redact_text(&body.diff).into_owned())
            .map_err(|e| {
                ToolError::failed(spec.name, format!("the verb returned no valid plan: {e}"))
            });
        let diff = match diff {
            Ok(diff) => diff,
            Err(error) => {
                finish(failed_state(&by, env.clock.get().now(), &error))?;
                audit_plan(&plan, "apply", Some(&by), Err(&error));
                return Err(error);
            }
        };
        if plan_digest(&plan.tool, &plan.input, &diff) != plan.digest {
            finish(PlanState::Stale { at: env.clock.get().now() })?;
            let error = ToolError::from(PlanError::Stale { plan_id: plan.id.clone() });
            audit_plan(&plan, "stale", Some(&by), Err(&error));
            return Err(error);
        }

        let (applied, log) = self.run_apply(env, spec, &tool, plan.input.clone()).await;
        let mut record = PlanAuditRecord {
            decision: "apply",
            plan_id: plan.id.clone(),
            tool: plan.tool.clone(),
            digest: plan.digest.clone(),
            namespace: plan.namespace.clone(),
            actor: Some(by.clone()),
            outcome: "ok".to_owned(),
            message: String::new(),
            kube_requests: log.kube_requests.iter().map(ToString::to_string).collect(),
            refused: log.refused.clone(),
        };
        let mut applied = match applied {
            Ok(applied) => applied,
            Err(error) => {
                finish(failed_state(&by, env.clock.get().now(), &error))?;
                record.outcome = error.code().to_owned();
                record.message = error.to_string();
                audit(record);
                return Err(error);
            }
        };
        self.redactor().redact_value(&mut applied.result);

        let (undo_plan, undo_error) = match applied.undo.take() {
            Some(undo) => {
                match Box::pin(self.propose(env, &undo.tool, undo.input, Some(plan.id.clone())))
                    .await
                {
                    Ok(undo_plan) => (Some(undo_plan), None),
                    Err(error) => (None, Some(format!("[{}] {error}", error.code()))),
                }
            }
            None => (None, None),
        };
        finish(PlanState::Applied {
            by: by.clone(),
            at: env.clock.get().now(),
            verified: applied.verification.passed,
            undo_plan: undo_plan.as_ref().map(|p| p.id.clone()),
        })?;
        record.message = format!(
            "applied; verification {}: {}",
            if applied.verification.passed { "passed" } else { "failed" },
            applied.verification.message
        );
        audit(record);
        Ok(ApplyReport {
            plan_id: plan.id.clone(),
            tool: plan.tool.clone(),
            result: applied.result,
            verification: applied.verification,
            undo_plan,
            undo_error,
        })
    }

    /// Runs a verb's `invoke` (its plan, never a change) under its guard, in a span.
    async fn run_verb(
        &self,
        env: &Arc<ToolEnv>,
        spec: &ToolSpec,
        tool: &Arc<dyn Tool>,
        input: Value,
        phase: &'static str,
    ) -> Result<Value> {
        let invocation =
            Arc::new(Invocation::new(spec.name, spec.permissions.clone(), env.recorder.clone()));
        let context = ToolContext { env: env.clone(), invocation: invocation.clone() };
        let span = tracing::info_span!("tool", tool = spec.name, tier = %spec.tier, phase);
        tool.invoke(&context, input).instrument(span).await
    }

    async fn run_apply(
        &self,
        env: &Arc<ToolEnv>,
        spec: &ToolSpec,
        tool: &Arc<dyn Tool>,
        input: Value,
    ) -> (Result<Applied>, crate::guard::CallLog) {
        let started = Instant::now();
        let invocation =
            Arc::new(Invocation::new(spec.name, spec.permissions.clone(), env.recorder.clone()));
        let context = ToolContext { env: env.clone(), invocation: invocation.clone() };
        let span =
            tracing::info_span!("tool", tool = spec.name, tier = %spec.tier, phase = "apply");
        let result = tool.apply(&context, input).instrument(span).await;
        tracing::debug!(tool = spec.name, elapsed_ms = started.elapsed().as_millis(), "applied");
        (result, invocation.take_log())
    }
}

fn failed_state(by: &str, at: Timestamp, error: &ToolError) -> PlanState {
    PlanState::Failed {
        by: by.to_owned(),
        at,
        code: error.code().to_owned(),
        message: error.to_string(),
    }
}

fn refusal_record(plan_id: &str, actor: &str, code: &str, message: &str) -> PlanAuditRecord {
    PlanAuditRecord {
        decision: "refuse",
        plan_id: plan_id.to_owned(),
        tool: String::new(),
        digest: String::new(),
        namespace: None,
        actor: Some(actor.to_owned()),
        outcome: code.to_owned(),
        message: message.to_owned(),
        kube_requests: Vec::new(),
        refused: Vec::new(),
    }
}

#[cfg(test)]
mod tests;
