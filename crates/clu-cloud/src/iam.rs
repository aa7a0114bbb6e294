//! IAM views: roles with the service accounts their trust admits (IRSA), one role with every
//! policy decoded, the OIDC providers against the cluster's issuer, and the policy simulator.
//!
//! The fault these views exist to find is the broken link between a pod and its role: a trust
//! policy that names another service account or another cluster's issuer, a cluster whose
//! issuer has no IAM OIDC provider, or a role that lacks the action the pod needs.

use std::collections::BTreeMap;
use std::sync::Arc;

use clu_core::error::ToolError;
use clu_core::tool::{Tool, ToolContext};
use clu_policy::document::{Effect, Principal, PrincipalKind, Principals};
use clu_policy::{Action, PolicyDocument, Statement};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::common::{
    Bounded, View, failure_in_place, grant, is_missing, limit, not_found, tag_map, timestamp,
    to_json,
};

/// Every role of the account, whatever its path.
const ROLES: &str = "arn:{partition}:iam::{account}:role/*";
/// Every user of the account, whatever its path.
const USERS: &str = "arn:{partition}:iam::{account}:user/*";
/// Customer managed policies of the account.
const ACCOUNT_POLICIES: &str = "arn:{partition}:iam::{account}:policy/*";
/// AWS managed policies, which live in the pseudo-account `aws`.
const AWS_POLICIES: &str = "arn:{partition}:iam::aws:policy/*";
/// Every OIDC provider of the account.
const OIDC_PROVIDERS: &str = "arn:{partition}:iam::{account}:oidc-provider/*";
/// The agent's own cluster.
const CLUSTER: &str = "arn:{partition}:eks:{region}:{account}:cluster/{cluster}";

const WEB_IDENTITY: &str = "sts:AssumeRoleWithWebIdentity";
const STS_AUDIENCE: &str = "sts.amazonaws.com";
const POD_IDENTITY_SERVICE: &str = "pods.eks.amazonaws.com";
const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// The module's tools, in a fixed order.
pub(crate) fn tools() -> Vec<Arc<dyn Tool>> {
    vec![
        View::<ListRolesInput>::tool(
            "iam_list_roles",
            "List IAM roles (name, ARN, path, creation, last use when IAM reports it) and, for \
             each, the Kubernetes service accounts its trust policy lets assume it through IRSA \
             (OIDC provider, namespace/serviceaccount pairs, audiences, wildcards noted) or \
             whether EKS Pod Identity may assume it. Use it to find which role a service \
             account can get, or why a pod's role is refused.",
            vec![grant(&["iam:ListRoles"], &["*"])],
            |context, input| Box::pin(list_roles(context, input)),
        ),
        View::<GetRoleInput>::tool(
            "iam_get_role",
            "Describe one IAM role (by name or ARN): its trust policy decoded and explained \
             statement by statement, the service accounts it admits, its inline policies \
             decoded, and its attached managed policies with their default version's document. \
             Use it to see what a role trusts and what it may do.",
            vec![
                grant(
                    &[
                        "iam:GetRole",
                        "iam:ListRolePolicies",
                        "iam:GetRolePolicy",
                        "iam:ListAttachedRolePolicies",
                    ],
                    &[ROLES],
                ),
                grant(
                    &["iam:GetPolicy", "iam:GetPolicyVersion"],
                    &[ACCOUNT_POLICIES, AWS_POLICIES],
                ),
            ],
            |context, input| Box::pin(get_role(context, input)),
        ),
        View::<OidcProvidersInput>::tool(
            "iam_list_oidc_providers",
            "List the account's IAM OIDC identity providers (issuer, client ids, thumbprints) \
             and, given an EKS cluster, whether the cluster's OIDC issuer has a provider: \
             without one no IRSA role of the cluster can be assumed. Use it when pods get no \
             AWS credentials from their service account.",
            vec![
                grant(&["iam:ListOpenIDConnectProviders"], &["*"]),
                grant(&["iam:GetOpenIDConnectProvider"], &[OIDC_PROVIDERS]),
                grant(&["eks:DescribeCluster"], &[CLUSTER]),
            ],
            |context, input| Box::pin(list_oidc_providers(context, input)),
        ),
        View::<SimulateInput>::tool(
            "iam_simulate_principal_policy",
            "Simulate whether an IAM role or user (or the role behind an STS assumed-role ARN, \
             as GetCallerIdentity returns inside a pod) may perform IAM actions, optionally on \
             given resource ARNs: per action and resource the decision (allowed, explicitDeny, \
             implicitDeny) and the statements that decided it. Use it to prove which permission \
             a role lacks.",
            vec![
                grant(&["iam:SimulatePrincipalPolicy"], &[ROLES, USERS]),
                grant(&["iam:GetRole"], &[ROLES]),
            ],
            |context, input| Box::pin(simulate_principal_policy(context, input)),
        ),
    ]
}

/// Input of `iam_list_roles`.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListRolesInput {
    /// Only roles under this path, such as `/eks/`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub(crate) path_prefix: Option<String>,
    /// Only roles whose name contains this, without regard to case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub(crate) name_contains: Option<String>,
    /// Only roles whose trust admits a Kubernetes service account (IRSA) or EKS Pod Identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pods_only: Option<bool>,
    /// At most this many roles (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub(crate) limit: Option<u32>,
}

/// The roles of an account and who in the cluster may assume them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolesView {
    /// The roles, in IAM's order.
    pub roles: Vec<RoleSummary>,
    /// Whether roles past the bound were left out.
    pub truncated: bool,
}

/// One role and the pods that may assume it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleSummary {
    /// The role's name.
    pub name: String,
    /// The role's ARN.
    pub arn: String,
    /// The role's path, `/` unless set.
    pub path: String,
    /// When the role was created, RFC 3339.
    pub created: Option<String>,
    /// The role's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// When and where the role was last used, when IAM reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_used: Option<LastUsed>,
    /// The IRSA statements of its trust policy, one per OIDC provider trusted.
    pub irsa: Vec<IrsaTrust>,
    /// Whether EKS Pod Identity (`pods.eks.amazonaws.com`) may assume the role.
    pub pod_identity: bool,
    /// Why the trust policy could not be read, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_error: Option<String>,
}

/// When and where a role was last used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastUsed {
    /// When, RFC 3339.
    pub at: Option<String>,
    /// In which region.
    pub region: Option<String>,
}

/// One OIDC provider a trust policy admits web identity tokens from, and the service accounts
/// whose tokens it accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IrsaTrust {
    /// The statement's Sid, or `-`.
    pub sid: String,
    /// The federated principal: the OIDC provider's ARN.
    pub provider: String,
    /// The issuer host the provider ARN names, such as `oidc.eks.eu-west-1.amazonaws.com/id/ABC`.
    pub issuer: String,
    /// The service accounts the `:sub` conditions admit.
    pub subjects: Vec<IrsaSubject>,
    /// The token audiences the `:aud` conditions admit.
    pub audiences: Vec<String>,
    /// What is wrong with the statement, for a person.
    pub findings: Vec<String>,
}

/// One `:sub` value of an IRSA trust statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IrsaSubject {
    /// The value as written, such as `system:serviceaccount:prod:api`.
    pub subject: String,
    /// The namespace, when the value names a service account.
    pub namespace: Option<String>,
    /// The service account, when the value names one.
    pub service_account: Option<String>,
    /// The condition operator, such as `StringEquals` or `StringLike`.
    pub operator: String,
    /// Whether the value matches more than one service account (a wildcard under a `Like`
    /// operator).
    pub wildcard: bool,
}

async fn list_roles(context: &ToolContext, input: ListRolesInput) -> clu_core::Result<Value> {
    let client = clu_core::aws_client!(context, aws_sdk_iam)?;
    let mut roles = Bounded::new(limit(input.limit, 200));
    let needle = input.name_contains.as_deref().map(str::to_lowercase);

    let mut pages = client.list_roles().set_path_prefix(input.path_prefix).into_paginator().send();
    'pages: while let Some(page) = pages.next().await {
        let page = page.map_err(|e| context.aws_error(e))?;
        for role in page.roles {
            if needle.as_ref().is_some_and(|n| !role.role_name.to_lowercase().contains(n)) {
                continue;
            }
            let summary = role_summary(&role);
            if input.pods_only == Some(true) && summary.irsa.is_empty() && !summary.pod_identity {
                continue;
            }
            if !roles.push(summary) {
                break 'pages;
            }
        }
    }
    to_json(context, &RolesView { roles: roles.items, truncated: roles.truncated })
}

fn role_summary(role: &aws_sdk_iam::types::Role) -> RoleSummary {
    let trust = role.assume_role_policy_document.as_deref().map(decode_policy);
    let (irsa, pod_identity, trust_error) = match &trust {
        Some(Ok((_, Some(document)))) => {
            (irsa_statements(document), trusts_pod_identity(document), None)
        }
        Some(Ok((_, None))) => {
            (Vec::new(), false, Some("the trust policy is not a valid IAM policy".to_owned()))
        }
        Some(Err(error)) => (Vec::new(), false, Some(error.clone())),
        None => (Vec::new(), false, None),
    };
    RoleSummary {
        name: role.role_name.clone(),
        arn: role.arn.clone(),
        path: role.path.clone(),
        created: timestamp(Some(&role.create_date)),
        description: role.description.clone().filter(|d| !d.is_empty()),
        last_used: role.role_last_used.as_ref().and_then(|used| {
            let at = timestamp(used.last_used_date.as_ref());
            (at.is_some() || used.region.is_some())
                .then(|| LastUsed { at, region: used.region.clone() })
        }),
        irsa,
        pod_identity,
        trust_error,
    }
}

/// Decodes a policy document as IAM returns it (URL-encoded JSON): the JSON as written, and the
/// document when it parses as an IAM policy.
fn decode_policy(text: &str) -> Result<(Value, Option<PolicyDocument>), String> {
    let trimmed = text.trim();
    let decoded =
        if trimmed.starts_with('{') { trimmed.to_owned() } else { percent_decode(trimmed)? };
    let value: Value = serde_json::from_str(&decoded)
        .map_err(|e| format!("the policy document is not JSON: {e}"))?;
    let document = PolicyDocument::from_value(&value).ok();
    Ok((value, document))
}

/// Decodes RFC 3986 percent-encoding, the form IAM returns policy documents in.
fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = text
                .get(index + 1..index + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                format!("the policy document has a bad escape at byte {index}")
            })?;
            out.push(hex);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the policy document is not UTF-8".to_owned())
}

fn web_identity() -> Option<Action> {
    Action::parse(WEB_IDENTITY).ok()
}

fn principal_of(statement: &Statement) -> Option<&Principal> {
    match &statement.principal {
        Some(Principals::Principal(principal)) => Some(principal),
        _ => None,
    }
}

fn trusts_pod_identity(document: &PolicyDocument) -> bool {
    document.statements.iter().any(|statement| {
        statement.effect == Effect::Allow
            && principal_of(statement).is_some_and(|principal| {
                principal
                    .identities(PrincipalKind::Service)
                    .iter()
                    .any(|service| service == POD_IDENTITY_SERVICE)
            })
    })
}

fn ends_with_ignore_case(text: &str, suffix: &str) -> bool {
    text.len() >= suffix.len()
        && text.is_char_boundary(text.len() - suffix.len())
        && text[text.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// The IRSA reading of a trust policy: each allow statement for web identity, per provider.
fn irsa_statements(document: &PolicyDocument) -> Vec<IrsaTrust> {
    let Some(web_identity) = web_identity() else { return Vec::new() };
    let mut trusts = Vec::new();
    for statement in &document.statements {
        if statement.effect != Effect::Allow || !statement.matches_action(&web_identity) {
            continue;
        }
        let providers = principal_of(statement)
            .map(|principal| principal.identities(PrincipalKind::Federated).to_vec())
            .unwrap_or_default();
        for provider in providers {
            trusts.push(irsa_trust(statement, provider));
        }
    }
    trusts
}

fn irsa_trust(statement: &Statement, provider: String) -> IrsaTrust {
    let issuer = provider
        .split_once(":oidc-provider/")
        .map_or_else(|| provider.clone(), |(_, host)| host.to_owned());
    let mut subjects = Vec::new();
    let mut audiences = Vec::new();
    let mut findings = Vec::new();
    let mut has_sub = false;

    for (operator, key, values) in statement.condition.iter() {
        let is_sub = ends_with_ignore_case(key, ":sub");
        let is_aud = ends_with_ignore_case(key, ":aud");
        if !is_sub && !is_aud {
            continue;
        }
        let key_issuer = &key[..key.len() - 4];
        if !key_issuer.eq_ignore_ascii_case(&issuer) {
            findings.push(format!(
                "condition key `{key}` names issuer `{key_issuer}`, not the trusted provider's \
                 `{issuer}`, so tokens of that provider never satisfy it"
            ));
        }
        if is_aud {
            audiences.extend(values.iter().cloned());
            continue;
        }
        has_sub = true;
        let like = operator.contains("Like");
        for value in values {
            let has_wildcard = value.contains(['*', '?']);
            if has_wildcard && !like {
                findings.push(format!(
                    "`{operator}` compares `{value}` literally, so its `*` or `?` matches no \
                     service account; use `StringLike` for a pattern"
                ));
            }
            let (namespace, service_account) = match value.strip_prefix(SERVICE_ACCOUNT_PREFIX) {
                Some(rest) => match rest.split_once(':') {
                    Some((namespace, account)) => {
                        (Some(namespace.to_owned()), Some(account.to_owned()))
                    }
                    None => (Some(rest.to_owned()), None),
                },
                None => (None, None),
            };
            if namespace.is_none() && !(like && value == "*") {
                findings.push(format!(
                    "`:sub` value `{value}` is not of the form \
                     `system:serviceaccount:NAMESPACE:NAME`, so no pod's token carries it"
                ));
            }
            subjects.push(IrsaSubject {
                subject: value.clone(),
                namespace,
                service_account,
                operator: operator.to_owned(),
                wildcard: has_wildcard && like,
            });
        }
    }

    if !has_sub {
        findings.push(
            "no `:sub` condition: every service account of the cluster may assume the role".into(),
        );
    }
    if subjects.iter().any(|s| s.wildcard) {
        findings.push("a wildcard `:sub` admits every service account it matches".into());
    }
    if audiences.is_empty() {
        findings.push(format!("no `:aud` condition pins the token audience to `{STS_AUDIENCE}`"));
    } else if !audiences.iter().any(|a| a == STS_AUDIENCE) {
        findings.push(format!(
            "the `:aud` condition admits {audiences:?} but not `{STS_AUDIENCE}`, the audience \
             of the tokens EKS projects for IRSA"
        ));
    }
    IrsaTrust {
        sid: statement.sid_or_dash().to_owned(),
        provider,
        issuer,
        subjects,
        audiences,
        findings,
    }
}

/// One statement of a policy in a sentence, such as "Allow Federated
/// `arn:aws:iam::1:oidc-provider/X` to sts:AssumeRoleWithWebIdentity when StringEquals
/// `X:sub` is `system:serviceaccount:a:b`".
fn explain_statement(statement: &Statement) -> String {
    let mut sentence = format!("{} ", statement.effect);
    match &statement.principal {
        Some(Principals::Principal(principal)) => sentence.push_str(&describe_principal(principal)),
        Some(Principals::NotPrincipal(principal)) => {
            sentence.push_str(&format!("everyone except {}", describe_principal(principal)));
        }
        None => sentence.push_str("the role's sessions"),
    }
    let patterns: Vec<String> =
        statement.action.patterns().iter().map(ToString::to_string).collect();
    match &statement.action {
        clu_policy::document::Actions::Action(_) => {
            sentence.push_str(&format!(" to {}", patterns.join(", ")));
        }
        clu_policy::document::Actions::NotAction(_) => {
            sentence.push_str(&format!(" every action except {}", patterns.join(", ")));
        }
    }
    if let Some(resources) = &statement.resource {
        let on = resources.patterns().join(", ");
        match resources {
            clu_policy::document::Resources::Resource(_) => {
                sentence.push_str(&format!(" on {on}"));
            }
            clu_policy::document::Resources::NotResource(_) => {
                sentence.push_str(&format!(" on every resource except {on}"));
            }
        }
    }
    let conditions: Vec<String> = statement
        .condition
        .iter()
        .map(|(operator, key, values)| format!("{operator} `{key}` is {}", values.join(" or ")))
        .collect();
    if !conditions.is_empty() {
        sentence.push_str(&format!(" when {}", conditions.join(" and ")));
    }
    sentence
}

fn describe_principal(principal: &Principal) -> String {
    match principal {
        Principal::Anyone => "anyone".to_owned(),
        Principal::Identities(map) => map
            .iter()
            .map(|(kind, identities)| {
                let names: Vec<String> = identities.iter().map(|i| format!("`{i}`")).collect();
                format!("{kind} {}", names.join(", "))
            })
            .collect::<Vec<_>>()
            .join(" and "),
    }
}

/// Input of `iam_get_role`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GetRoleInput {
    /// The role's name or ARN.
    #[schemars(length(min = 1, max = 2048))]
    pub(crate) role: String,
    /// At most this many inline and this many attached policies (default 20 each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub(crate) limit: Option<u32>,
}

/// One role with its trust and its permissions decoded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoleView {
    /// The role's name.
    pub name: String,
    /// The role's ARN.
    pub arn: String,
    /// The role's path.
    pub path: String,
    /// When the role was created, RFC 3339.
    pub created: Option<String>,
    /// The role's description.
    pub description: Option<String>,
    /// When and where the role was last used, when IAM reports it.
    pub last_used: Option<LastUsed>,
    /// The longest session the role allows, in seconds.
    pub max_session_seconds: Option<i32>,
    /// The ARN of the policy that bounds the role's permissions, if any.
    pub permissions_boundary: Option<String>,
    /// The role's tags.
    pub tags: BTreeMap<String, String>,
    /// The trust policy.
    pub trust: TrustView,
    /// The inline policies, decoded.
    pub inline_policies: Vec<InlinePolicy>,
    /// The attached managed policies with their default version's document.
    pub attached_policies: Vec<AttachedPolicy>,
    /// Whether policies past the bound were left out.
    pub truncated: bool,
}

/// A trust policy decoded and explained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrustView {
    /// The document as JSON.
    pub document: Value,
    /// Each statement in a sentence.
    pub explanation: Vec<String>,
    /// The IRSA statements, per OIDC provider.
    pub irsa: Vec<IrsaTrust>,
    /// Whether EKS Pod Identity may assume the role.
    pub pod_identity: bool,
    /// The trust lint's findings, as `code: message`.
    pub findings: Vec<String>,
}

/// An inline policy of a role.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InlinePolicy {
    /// The policy's name.
    pub name: String,
    /// The document as JSON, or the sub-read's failure in place.
    pub document: Value,
    /// Each statement in a sentence.
    pub explanation: Vec<String>,
}

/// A managed policy attached to a role.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttachedPolicy {
    /// The policy's name.
    pub name: Option<String>,
    /// The policy's ARN.
    pub arn: Option<String>,
    /// The default version's id, such as `v3`.
    pub default_version: Option<String>,
    /// The default version's document as JSON, or the sub-read's failure in place.
    pub document: Value,
    /// Each statement in a sentence.
    pub explanation: Vec<String>,
}

/// The role name in a role ARN (`arn:aws:iam::1:role/path/NAME`), or the text when it is a name.
fn role_name(role: &str) -> &str {
    if role.starts_with("arn:") { role.rsplit('/').next().unwrap_or(role) } else { role }
}

fn explain(document: Option<&PolicyDocument>) -> Vec<String> {
    document.map(|d| d.statements.iter().map(explain_statement).collect()).unwrap_or_default()
}

/// A decoded policy as (document JSON, explanation), the failure in place when it is not JSON.
pub(crate) fn decoded_in_place(text: &str) -> (Value, Vec<String>) {
    match decode_policy(text) {
        Ok((value, document)) => (value, explain(document.as_ref())),
        Err(error) => (json!({ "error": error }), Vec::new()),
    }
}

async fn get_role(context: &ToolContext, input: GetRoleInput) -> clu_core::Result<Value> {
    let client = clu_core::aws_client!(context, aws_sdk_iam)?;
    let name = role_name(&input.role).to_owned();
    let bound = limit(input.limit, 20);

    let role = match client.get_role().role_name(&name).send().await {
        Ok(output) => output.role,
        Err(error) if is_missing(&error) => return Ok(not_found(format!("IAM role `{name}`"))),
        Err(error) => return Err(context.aws_error(error)),
    };
    let Some(role) = role else { return Ok(not_found(format!("IAM role `{name}`"))) };

    let summary = role_summary(&role);
    let trust = match role.assume_role_policy_document.as_deref().map(decode_policy) {
        Some(Ok((value, document))) => TrustView {
            explanation: explain(document.as_ref()),
            irsa: summary.irsa.clone(),
            pod_identity: summary.pod_identity,
            findings: document
                .as_ref()
                .map(|d| {
                    clu_policy::trust::lint_trust(d)
                        .into_iter()
                        .map(|f| format!("{}: {}", f.code, f.message))
                        .collect()
                })
                .unwrap_or_default(),
            document: value,
        },
        Some(Err(error)) => TrustView {
            document: json!({ "error": error }),
            explanation: Vec::new(),
            irsa: Vec::new(),
            pod_identity: false,
            findings: Vec::new(),
        },
        None => TrustView {
            document: Value::Null,
            explanation: Vec::new(),
            irsa: Vec::new(),
            pod_identity: false,
            findings: Vec::new(),
        },
    };

    let mut inline = Bounded::new(bound);
    let mut pages = client.list_role_policies().role_name(&name).into_paginator().send();
    'inline: while let Some(page) = pages.next().await {
        let page = page.map_err(|e| context.aws_error(e))?;
        for policy_name in page.policy_names {
            if inline.is_full() {
                inline.truncated = true;
                break 'inline;
            }
            let policy =
                client.get_role_policy().role_name(&name).policy_name(&policy_name).send().await;
            let (document, explanation) = match policy {
                Ok(output) => decoded_in_place(&output.policy_document),
                Err(error) => (failure_in_place(&context.aws_error(error)), Vec::new()),
            };
            inline.push(InlinePolicy { name: policy_name, document, explanation });
        }
    }

    let mut attached = Bounded::new(bound);
    let mut pages = client.list_attached_role_policies().role_name(&name).into_paginator().send();
    'attached: while let Some(page) = pages.next().await {
        let page = page.map_err(|e| context.aws_error(e))?;
        for policy in page.attached_policies.unwrap_or_default() {
            if attached.is_full() {
                attached.truncated = true;
                break 'attached;
            }
            attached.push(attached_policy(context, &client, policy).await);
        }
    }

    let view = RoleView {
        name: summary.name,
        arn: summary.arn,
        path: summary.path,
        created: summary.created,
        description: summary.description,
        last_used: summary.last_used,
        max_session_seconds: role.max_session_duration,
        permissions_boundary: role
            .permissions_boundary
            .as_ref()
            .and_then(|b| b.permissions_boundary_arn.clone()),
        tags: tag_map(role.tags.unwrap_or_default().into_iter().map(|t| (t.key, t.value))),
        trust,
        inline_policies: inline.items,
        attached_policies: attached.items,
        truncated: inline.truncated || attached.truncated,
    };
    to_json(context, &view)
}

/// An attached policy with its default version's document; each failure is kept in place.
async fn attached_policy(
    context: &ToolContext,
    client: &aws_sdk_iam::Client,
    policy: aws_sdk_iam::types::AttachedPolicy,
) -> AttachedPolicy {
    let mut view = AttachedPolicy {
        name: policy.policy_name,
        arn: policy.policy_arn,
        default_version: None,
        document: Value::Null,
        explanation: Vec::new(),
    };
    let Some(arn) = view.arn.clone() else { return view };
    let version = match client.get_policy().policy_arn(&arn).send().await {
        Ok(output) => output.policy.and_then(|p| p.default_version_id),
        Err(error) => {
            view.document = failure_in_place(&context.aws_error(error));
            return view;
        }
    };
    let Some(version) = version else { return view };
    view.default_version = Some(version.clone());
    match client.get_policy_version().policy_arn(&arn).version_id(&version).send().await {
        Ok(output) => {
            if let Some(text) = output.policy_version.and_then(|v| v.document) {
                (view.document, view.explanation) = decoded_in_place(&text);
            }
        }
        Err(error) => view.document = failure_in_place(&context.aws_error(error)),
    }
    view
}

/// Input of `iam_list_oidc_providers`.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OidcProvidersInput {
    /// The EKS cluster whose issuer to check; the agent's own cluster when it is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 100))]
    pub(crate) cluster: Option<String>,
    /// At most this many providers (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub(crate) limit: Option<u32>,
}

/// The account's OIDC providers and whether a cluster's issuer has one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcCheck {
    /// The providers.
    pub providers: Vec<OidcProvider>,
    /// The cluster's check, when a cluster was given or known.
    pub cluster: Option<ClusterIssuerCheck>,
    /// Whether providers past the bound were left out.
    pub truncated: bool,
}

/// One IAM OIDC identity provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcProvider {
    /// The provider's ARN.
    pub arn: String,
    /// The issuer host, as the ARN names it.
    pub issuer: String,
    /// The audiences (client ids) the provider accepts.
    pub client_ids: Vec<String>,
    /// The certificate thumbprints.
    pub thumbprints: Vec<String>,
    /// When it was created, RFC 3339.
    pub created: Option<String>,
    /// Why the provider could not be read, when it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Whether a cluster's OIDC issuer has an IAM provider, the precondition of every IRSA role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterIssuerCheck {
    /// The cluster's name.
    pub name: String,
    /// Whether the cluster exists.
    pub found: bool,
    /// The cluster's OIDC issuer URL.
    pub issuer: Option<String>,
    /// The provider whose issuer is the cluster's, if any.
    pub provider_arn: Option<String>,
    /// Whether the issuer has a provider.
    pub has_provider: bool,
    /// What is wrong, for a person.
    pub finding: Option<String>,
}

async fn list_oidc_providers(
    context: &ToolContext,
    input: OidcProvidersInput,
) -> clu_core::Result<Value> {
    let client = clu_core::aws_client!(context, aws_sdk_iam)?;
    let listed = client.list_open_id_connect_providers().send().await;
    let entries = listed.map_err(|e| context.aws_error(e))?.open_id_connect_provider_list;

    let mut providers = Bounded::new(limit(input.limit, 100));
    for arn in entries.unwrap_or_default().into_iter().filter_map(|entry| entry.arn) {
        if providers.is_full() {
            providers.truncated = true;
            break;
        }
        let issuer = arn.split_once(":oidc-provider/").map_or(arn.as_str(), |(_, h)| h).to_owned();
        let mut provider = OidcProvider {
            arn: arn.clone(),
            issuer,
            client_ids: Vec::new(),
            thumbprints: Vec::new(),
            created: None,
            error: None,
        };
        match client.get_open_id_connect_provider().open_id_connect_provider_arn(&arn).send().await
        {
            Ok(output) => {
                provider.client_ids = output.client_id_list.unwrap_or_default();
                provider.thumbprints = output.thumbprint_list.unwrap_or_default();
                provider.created = timestamp(output.create_date.as_ref());
            }
            Err(error) => provider.error = Some(context.aws_error(error).to_string()),
        }
        providers.push(provider);
    }

    let cluster = match crate::eks::cluster_name(context, input.cluster) {
        Some(name) => Some(issuer_check(context, &name, &providers.items).await?),
        None => None,
    };
    to_json(
        context,
        &OidcCheck { providers: providers.items, cluster, truncated: providers.truncated },
    )
}

async fn issuer_check(
    context: &ToolContext,
    name: &str,
    providers: &[OidcProvider],
) -> clu_core::Result<ClusterIssuerCheck> {
    let eks = clu_core::aws_client!(context, aws_sdk_eks)?;
    let mut check = ClusterIssuerCheck {
        name: name.to_owned(),
        found: false,
        issuer: None,
        provider_arn: None,
        has_provider: false,
        finding: None,
    };
    let cluster = match eks.describe_cluster().name(name).send().await {
        Ok(output) => output.cluster,
        Err(error) if is_missing(&error) => None,
        Err(error) => return Err(context.aws_error(error)),
    };
    let Some(cluster) = cluster else {
        check.finding = Some(format!("no EKS cluster named `{name}` in this region"));
        return Ok(check);
    };
    check.found = true;
    check.issuer = cluster.identity.and_then(|i| i.oidc).and_then(|o| o.issuer);
    let Some(issuer) = check.issuer.clone() else {
        check.finding = Some("the cluster reports no OIDC issuer".to_owned());
        return Ok(check);
    };
    let host = clu_policy::trust::issuer_host(&issuer);
    let provider = providers.iter().find(|p| p.issuer.eq_ignore_ascii_case(host));
    check.provider_arn = provider.map(|p| p.arn.clone());
    check.has_provider = provider.is_some();
    check.finding = match provider {
        None => Some(format!(
            "the cluster's issuer `{host}` has no IAM OIDC provider, so no IRSA role can be \
             assumed from this cluster; create one for the issuer"
        )),
        Some(p) if !p.client_ids.is_empty() && !p.client_ids.iter().any(|c| c == STS_AUDIENCE) => {
            Some(format!(
                "the provider `{}` does not accept the audience `{STS_AUDIENCE}`, which IRSA \
                 tokens carry",
                p.arn
            ))
        }
        Some(_) => None,
    };
    Ok(check)
}

/// Input of `iam_simulate_principal_policy`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SimulateInput {
    /// An IAM role or user ARN, or an STS assumed-role ARN
    /// (`arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`), which is resolved to its role.
    #[schemars(length(min = 20, max = 2048))]
    pub(crate) principal_arn: String,
    /// The IAM actions to simulate, such as `s3:GetObject`.
    #[schemars(length(min = 1, max = 100))]
    pub(crate) actions: Vec<String>,
    /// The resource ARNs to simulate each action on (default: all resources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 100))]
    pub(crate) resources: Option<Vec<String>>,
    /// At most this many results (default 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 5000))]
    pub(crate) limit: Option<u32>,
}

/// Where an STS assumed-role ARN points: `(partition, account, role name)`.
fn assumed_role(arn: &str) -> Option<(&str, &str, &str)> {
    let mut parts = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("sts"), Some(_), Some(account), Some(resource)) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let name = resource.strip_prefix("assumed-role/")?.split('/').next()?;
    (!name.is_empty()).then_some((partition, account, name))
}

fn is_iam_principal(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", _, "iam", "", _, resource]
        if resource.starts_with("role/") || resource.starts_with("user/"))
}

async fn simulate_principal_policy(
    context: &ToolContext,
    input: SimulateInput,
) -> clu_core::Result<Value> {
    let tool = context.tool();
    for action in &input.actions {
        Action::parse(action).map_err(|e| {
            ToolError::invalid_input(tool, format!("`actions` holds `{action}`: {e}"))
        })?;
    }
    let client = clu_core::aws_client!(context, aws_sdk_iam)?;

    let principal = if let Some((_, _, name)) = assumed_role(&input.principal_arn) {
        // A session ARN drops the role's path, so only IAM can say which role it is.
        match client.get_role().role_name(name).send().await {
            Ok(output) => match output.role {
                Some(role) => role.arn,
                None => return Ok(not_found(format!("IAM role `{name}`"))),
            },
            Err(error) if is_missing(&error) => {
                return Ok(not_found(format!(
                    "IAM role `{name}` behind `{}`",
                    input.principal_arn
                )));
            }
            Err(error) => return Err(context.aws_error(error)),
        }
    } else if is_iam_principal(&input.principal_arn) {
        input.principal_arn.clone()
    } else {
        return Err(ToolError::invalid_input(
            tool,
            format!(
                "`principal_arn` `{}` is neither an IAM role or user ARN \
                 (`arn:aws:iam::ACCOUNT:role/NAME`) nor an STS assumed-role ARN \
                 (`arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION`)",
                input.principal_arn
            ),
        ));
    };

    let mut results = Bounded::new(limit(input.limit, 500));
    let mut pages = client
        .simulate_principal_policy()
        .policy_source_arn(&principal)
        .set_action_names(Some(input.actions))
        .set_resource_arns(input.resources)
        .into_paginator()
        .send();
    'pages: while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(error) if is_missing(&error) => {
                return Ok(not_found(format!("IAM principal `{principal}`")));
            }
            Err(error) => return Err(context.aws_error(error)),
        };
        for result in page.evaluation_results.unwrap_or_default() {
            for row in simulation_rows(result) {
                if !results.push(row) {
                    break 'pages;
                }
            }
        }
    }
    Ok(json!({
        "principal_arn": principal,
        "results": results.items,
        "truncated": results.truncated,
    }))
}

/// One row per action and resource: the per-resource results when IAM gives them, else the
/// action's own.
fn simulation_rows(result: aws_sdk_iam::types::EvaluationResult) -> Vec<Value> {
    let row = |resource: Option<String>,
               decision: &aws_sdk_iam::types::PolicyEvaluationDecisionType,
               statements: Option<Vec<aws_sdk_iam::types::Statement>>,
               missing: Option<Vec<String>>| {
        let mut row = json!({
            "action": result.eval_action_name,
            "resource": resource.unwrap_or_else(|| "*".to_owned()),
            "decision": decision.as_str(),
            "matched_statements": statements
                .unwrap_or_default()
                .iter()
                .map(matched_statement)
                .collect::<Vec<_>>(),
        });
        if let Some(missing) = missing.filter(|m| !m.is_empty()) {
            row["missing_context_values"] = json!(missing);
        }
        row
    };
    let specific = result.resource_specific_results.clone().unwrap_or_default();
    if specific.is_empty() {
        return vec![row(
            result.eval_resource_name.clone(),
            &result.eval_decision,
            result.matched_statements.clone(),
            result.missing_context_values.clone(),
        )];
    }
    specific
        .into_iter()
        .map(|r| {
            row(
                Some(r.eval_resource_name),
                &r.eval_resource_decision,
                r.matched_statements,
                r.missing_context_values,
            )
        })
        .collect()
}

fn matched_statement(statement: &aws_sdk_iam::types::Statement) -> Value {
    json!({
        "policy": statement.source_policy_id,
        "type": statement.source_policy_type.as_ref().map(|t| t.as_str().to_owned()),
        "start_line": statement.start_position.as_ref().map(|p| p.line),
        "end_line": statement.end_position.as_ref().map(|p| p.line),
    })
}

impl crate::Cloud {
    /// The account's IAM roles with the service accounts each trust admits, up to `limit`.
    pub async fn roles(&self, limit: Option<u32>) -> Result<RolesView, ToolError> {
        let input = ListRolesInput { limit, ..ListRolesInput::default() };
        self.call_typed("iam_list_roles", &input).await
    }

    /// One IAM role by name or ARN with every policy decoded; `None` when it does not exist.
    pub async fn role(&self, role: &str) -> Result<Option<RoleView>, ToolError> {
        let input = GetRoleInput { role: role.to_owned(), limit: None };
        let output = self.call_typed::<_, Value>("iam_get_role", &input).await?;
        crate::common::found("iam_get_role", output)
    }

    /// The account's OIDC providers, and whether `cluster`'s issuer has one.
    pub async fn oidc_check(&self, cluster: Option<&str>) -> Result<OidcCheck, ToolError> {
        let input = OidcProvidersInput { cluster: cluster.map(str::to_owned), limit: None };
        self.call_typed("iam_list_oidc_providers", &input).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust(condition: Value) -> PolicyDocument {
        PolicyDocument::from_value(&json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Federated": "arn:aws:iam::1:oidc-provider/oidc.example/id/A"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": condition,
            }]
        }))
        .unwrap()
    }

    #[test]
    fn a_star_under_string_equals_matches_nothing_and_says_so() {
        let document = trust(json!({"StringEquals": {
            "oidc.example/id/A:sub": "system:serviceaccount:web:*",
            "oidc.example/id/A:aud": "sts.amazonaws.com",
        }}));

        let irsa = irsa_statements(&document);

        assert!(!irsa[0].subjects[0].wildcard);
        assert_eq!(irsa[0].findings.len(), 1, "{:?}", irsa[0].findings);
        assert!(irsa[0].findings[0].contains("compares `system:serviceaccount:web:*` literally"));
    }

    #[test]
    fn a_trust_without_sub_or_with_the_wrong_audience_is_a_finding() {
        let document = trust(json!({"StringEquals": {"oidc.example/id/A:aud": "other"}}));

        let findings = &irsa_statements(&document)[0].findings;

        assert!(findings.iter().any(|f| f.starts_with("no `:sub` condition")), "{findings:?}");
        assert!(findings.iter().any(|f| f.contains("but not `sts.amazonaws.com`")), "{findings:?}");
    }

    #[test]
    fn a_sub_that_names_no_service_account_is_a_finding() {
        let document = trust(json!({"StringEquals": {
            "oidc.example/id/A:sub": "web:api",
            "oidc.example/id/A:aud": "sts.amazonaws.com",
        }}));

        let irsa = irsa_statements(&document);

        assert_eq!(irsa[0].subjects[0].namespace, None);
        assert!(irsa[0].findings[0].contains("is not of the form"), "{:?}", irsa[0].findings);
    }

    #[test]
    fn policies_decode_from_url_encoding_or_as_written() {
        let text = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
        let encoded: String = text
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();

        let (value, document) = decode_policy(&encoded).unwrap();

        assert_eq!(value, serde_json::from_str::<Value>(text).unwrap());
        assert_eq!(document.unwrap().statements.len(), 1);
        assert_eq!(decode_policy(text).unwrap().0, value);
        assert_eq!(
            decode_policy("%7B%2").unwrap_err(),
            "the policy document has a bad escape at byte 3"
        );
    }

    #[test]
    fn an_assumed_role_arn_names_its_role() {
        assert_eq!(
            assumed_role("arn:aws:sts::123456789012:assumed-role/clu-ops-agent/botocore-1"),
            Some(("aws", "123456789012", "clu-ops-agent"))
        );
        assert_eq!(assumed_role("arn:aws:iam::123456789012:role/clu-ops-agent"), None);
        assert_eq!(assumed_role("arn:aws:sts::1:assumed-role//s"), None);
        assert!(is_iam_principal("arn:aws-cn:iam::1:role/path/x"));
        assert!(is_iam_principal("arn:aws:iam::1:user/alice"));
        assert!(!is_iam_principal("arn:aws:iam::1:policy/x"));
        assert_eq!(role_name("arn:aws:iam::1:role/a/b/name"), "name");
        assert_eq!(role_name("name"), "name");
    }
}
