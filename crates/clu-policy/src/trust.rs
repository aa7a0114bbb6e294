//! Trust policies that let the agent's pod assume its role, and lint for hand-written ones.
//!
//! EKS offers two ways for a pod to get AWS credentials. IRSA federates the cluster's OIDC
//! issuer and trusts a web identity token whose `sub` names the service account; EKS Pod
//! Identity trusts the `pods.eks.amazonaws.com` service, and the association (made outside the
//! policy) names the service account. Both policies are generated here, and [`lint_trust`]
//! catches the mistakes that make an IRSA trust policy either unusable or open to every pod.

use crate::document::{Effect, PolicyDocument, Principal, PrincipalKind, Principals, Statement};
use crate::lint::Finding;
use crate::{Action, ActionPattern, Conditions};

/// The account id written when none is known yet, for the operator to replace.
pub const ACCOUNT_ID_PLACEHOLDER: &str = "<ACCOUNT_ID>";
/// The OIDC issuer host written when none is known yet, for the operator to replace.
pub const OIDC_ISSUER_PLACEHOLDER: &str = "<OIDC_ISSUER_HOST>";
/// The namespace the agent is installed in unless told otherwise.
pub const DEFAULT_NAMESPACE: &str = "clu-ops";
/// The agent's service account unless told otherwise.
pub const DEFAULT_SERVICE_ACCOUNT: &str = "clu-ops-agent";
/// The service principal of EKS Pod Identity.
pub const POD_IDENTITY_SERVICE: &str = "pods.eks.amazonaws.com";

/// A condition key carries the issuer's `https://`, which IAM never matches.
pub const TRUST_ISSUER_HAS_SCHEME: &str = "trust-issuer-has-scheme";
/// A `:sub` condition admits more than one service account through a wildcard.
pub const TRUST_WILDCARD_SUB: &str = "trust-wildcard-sub";
/// A web identity statement does not pin the token's audience with an `:aud` condition.
pub const TRUST_MISSING_AUD: &str = "trust-missing-aud";
/// A web identity statement has no `:sub` condition, so any service account may assume it.
pub const TRUST_MISSING_SUB: &str = "trust-missing-sub";
/// Every code [`lint_trust`] can report, sorted.
pub const TRUST_CODES: [&str; 4] =
    [TRUST_ISSUER_HAS_SCHEME, TRUST_MISSING_AUD, TRUST_MISSING_SUB, TRUST_WILDCARD_SUB];

const ASSUME_ROLE_WITH_WEB_IDENTITY: &str = "sts:AssumeRoleWithWebIdentity";
const STS_AUDIENCE: &str = "sts.amazonaws.com";

/// Where the IRSA trust policy points: the cluster's OIDC provider and the agent's account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IrsaOptions {
    /// The AWS partition, `aws` unless in China or GovCloud.
    pub partition: String,
    /// The account that owns the OIDC provider; a placeholder is written when unknown.
    pub account_id: Option<String>,
    /// The cluster's OIDC issuer, with or without `https://`; a placeholder when unknown.
    pub oidc_issuer: Option<String>,
    /// The agent's namespace.
    pub namespace: String,
    /// The agent's service account.
    pub service_account: String,
}

impl Default for IrsaOptions {
    fn default() -> Self {
        Self {
            partition: "aws".into(),
            account_id: None,
            oidc_issuer: None,
            namespace: DEFAULT_NAMESPACE.into(),
            service_account: DEFAULT_SERVICE_ACCOUNT.into(),
        }
    }
}

/// The issuer as IAM names it in provider ARNs and condition keys: without scheme or final `/`.
///
/// `https://oidc.eks.eu-west-1.amazonaws.com/id/ABC` becomes
/// `oidc.eks.eu-west-1.amazonaws.com/id/ABC`.
pub fn issuer_host(issuer: &str) -> &str {
    let trimmed = issuer.trim();
    let without_scheme = ["https://", "http://"]
        .iter()
        .find_map(|scheme| {
            let head = trimmed.get(..scheme.len())?;
            head.eq_ignore_ascii_case(scheme).then(|| &trimmed[scheme.len()..])
        })
        .unwrap_or(trimmed);
    without_scheme.trim_end_matches('/')
}

/// The IRSA trust policy: the cluster's OIDC provider may assume the role for exactly the
/// agent's service account, with tokens meant for STS.
pub fn irsa_trust_policy(options: &IrsaOptions) -> PolicyDocument {
    let host = options.oidc_issuer.as_deref().map_or(OIDC_ISSUER_PLACEHOLDER, issuer_host);
    let account = options.account_id.as_deref().unwrap_or(ACCOUNT_ID_PLACEHOLDER);
    let provider = format!("arn:{}:iam::{account}:oidc-provider/{host}", options.partition);
    let subject =
        format!("system:serviceaccount:{}:{}", options.namespace, options.service_account);
    let condition = Conditions::new().with("StringEquals", &format!("{host}:sub"), [subject]).with(
        "StringEquals",
        &format!("{host}:aud"),
        [STS_AUDIENCE],
    );

    let patterns = constant_patterns(&[ASSUME_ROLE_WITH_WEB_IDENTITY]);
    let statement = Statement::trust(Principal::federated(provider), patterns)
        .with_sid("AssumeFromServiceAccount")
        .with_condition(condition);
    PolicyDocument::new(vec![statement])
}

/// The EKS Pod Identity trust policy: the Pod Identity service may assume the role and tag the
/// session with the pod's attributes.
pub fn pod_identity_trust_policy() -> PolicyDocument {
    let patterns = constant_patterns(&["sts:AssumeRole", "sts:TagSession"]);
    let statement = Statement::trust(Principal::service(POD_IDENTITY_SERVICE), patterns)
        .with_sid("AssumeFromPodIdentity");
    PolicyDocument::new(vec![statement])
}

/// Patterns for action names written in this module. They are constants that parse, which a
/// test holds, so dropping a failure here never drops an action.
fn constant_patterns(texts: &[&str]) -> Vec<ActionPattern> {
    texts.iter().filter_map(|text| ActionPattern::parse(text).ok()).collect()
}

/// Lints a trust policy, returning findings ordered by statement, then code.
///
/// Deny statements are not linted: they only take trust away.
pub fn lint_trust(document: &PolicyDocument) -> Vec<Finding> {
    let web_identity = Action::parse(ASSUME_ROLE_WITH_WEB_IDENTITY).ok();
    let mut findings = Vec::new();

    for statement in &document.statements {
        if statement.effect != Effect::Allow {
            continue;
        }
        let sid = statement.sid_or_dash();
        let mut found = Vec::new();
        let finding =
            |code: &'static str, message: String| Finding { sid: sid.to_owned(), code, message };

        for (_, key, _) in statement.condition.iter() {
            if key.contains("://") {
                found.push(finding(
                    TRUST_ISSUER_HAS_SCHEME,
                    format!(
                        "condition key `{key}` has the issuer's scheme, so it never matches; \
                         write it `{}`",
                        issuer_host(key)
                    ),
                ));
            }
        }
        let principal = match &statement.principal {
            Some(Principals::Principal(principal)) => Some(principal),
            _ => None,
        };
        for provider in principal
            .map(|principal| principal.identities(PrincipalKind::Federated))
            .unwrap_or_default()
        {
            if provider.contains("://") {
                found.push(finding(
                    TRUST_ISSUER_HAS_SCHEME,
                    format!(
                        "federated principal `{provider}` has the issuer's scheme; an OIDC \
                         provider ARN ends in the issuer host"
                    ),
                ));
            }
        }

        let is_web_identity =
            web_identity.as_ref().is_some_and(|action| statement.matches_action(action));
        if is_web_identity {
            let ends_with = |key: &str, suffix: &str| {
                key.len() >= suffix.len()
                    && key[key.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
            };
            let mut has_sub = false;
            let mut has_aud = false;
            for (operator, key, values) in statement.condition.iter() {
                has_aud |= ends_with(key, ":aud");
                if !ends_with(key, ":sub") {
                    continue;
                }
                has_sub = true;
                for value in values.iter().filter(|value| value.contains(['*', '?'])) {
                    found.push(finding(
                        TRUST_WILDCARD_SUB,
                        format!(
                            "`{operator}` on `{key}` has the wildcard value `{value}`; every \
                             service account it matches could assume the role"
                        ),
                    ));
                }
            }
            if !has_aud {
                found.push(finding(
                    TRUST_MISSING_AUD,
                    "no `:aud` condition; pin the token's audience to `sts.amazonaws.com`".into(),
                ));
            }
            if !has_sub {
                found.push(finding(
                    TRUST_MISSING_SUB,
                    "no `:sub` condition; any service account of the cluster could assume the \
                     role"
                        .into(),
                ));
            }
        }

        found.sort_by_key(|finding| finding.code);
        findings.extend(found);
    }
    findings
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn codes(document: &str) -> Vec<String> {
        lint_trust(&PolicyDocument::parse(document).unwrap())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn irsa_policy_for_a_known_cluster() {
        let options = IrsaOptions {
            account_id: Some("123456789012".into()),
            oidc_issuer: Some("https://oidc.eks.eu-west-1.amazonaws.com/id/ABC".into()),
            ..IrsaOptions::default()
        };
        assert_eq!(
            irsa_trust_policy(&options).to_pretty_json(),
            r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "AssumeFromServiceAccount",
      "Effect": "Allow",
      "Principal": {
        "Federated": "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
      },
      "Action": "sts:AssumeRoleWithWebIdentity",
      "Condition": {
        "StringEquals": {
          "oidc.eks.eu-west-1.amazonaws.com/id/ABC:aud": "sts.amazonaws.com",
          "oidc.eks.eu-west-1.amazonaws.com/id/ABC:sub": "system:serviceaccount:clu-ops:clu-ops-agent"
        }
      }
    }
  ]
}
"#
        );
    }

    #[test]
    fn irsa_policy_with_placeholders() {
        let options = IrsaOptions {
            partition: "aws-cn".into(),
            namespace: "ops".into(),
            service_account: "agent".into(),
            ..IrsaOptions::default()
        };
        let text = irsa_trust_policy(&options).to_pretty_json();
        assert!(
            text.contains("arn:aws-cn:iam::<ACCOUNT_ID>:oidc-provider/<OIDC_ISSUER_HOST>"),
            "{text}"
        );
        assert!(text.contains(r#""<OIDC_ISSUER_HOST>:sub": "system:serviceaccount:ops:agent""#));
    }

    #[test]
    fn pod_identity_policy() {
        assert_eq!(
            pod_identity_trust_policy().to_pretty_json(),
            r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "AssumeFromPodIdentity",
      "Effect": "Allow",
      "Principal": {
        "Service": "pods.eks.amazonaws.com"
      },
      "Action": [
        "sts:AssumeRole",
        "sts:TagSession"
      ]
    }
  ]
}
"#
        );
    }

    #[test]
    fn generated_policies_lint_clean_and_parse_back() {
        for document in [
            irsa_trust_policy(&IrsaOptions::default()),
            irsa_trust_policy(&IrsaOptions {
                oidc_issuer: Some("https://oidc.eks.us-east-1.amazonaws.com/id/X/".into()),
                ..IrsaOptions::default()
            }),
            pod_identity_trust_policy(),
        ] {
            assert_eq!(lint_trust(&document), Vec::new(), "{}", document.to_pretty_json());
            assert_eq!(PolicyDocument::parse(&document.to_pretty_json()).unwrap(), document);
        }
    }

    #[test]
    fn issuer_host_strips_scheme_and_trailing_slash() {
        assert_eq!(
            issuer_host("https://oidc.eks.x.amazonaws.com/id/A/"),
            "oidc.eks.x.amazonaws.com/id/A"
        );
        assert_eq!(issuer_host("HTTPS://host/id/A"), "host/id/A");
        assert_eq!(issuer_host("host/id/A"), "host/id/A");
    }

    const HEAD: &str = r#"{"Version":"2012-10-17","Statement":{"Sid":"Pod","Effect":"Allow",
        "Principal":{"Federated":"arn:aws:iam::1:oidc-provider/oidc.example/id/A"},
        "Action":"sts:AssumeRoleWithWebIdentity""#;

    #[test]
    fn issuer_with_scheme_in_a_condition_key() {
        let document = format!(
            r#"{HEAD},"Condition":{{"StringEquals":{{
                "https://oidc.example/id/A:sub":"system:serviceaccount:clu-ops:clu-ops-agent",
                "https://oidc.example/id/A:aud":"sts.amazonaws.com"}}}}}}}}"#
        );
        assert_eq!(
            codes(&document),
            [
                "Pod: trust-issuer-has-scheme: condition key `https://oidc.example/id/A:aud` has \
                 the issuer's scheme, so it never matches; write it \
                 `oidc.example/id/A:aud`",
                "Pod: trust-issuer-has-scheme: condition key `https://oidc.example/id/A:sub` has \
                 the issuer's scheme, so it never matches; write it \
                 `oidc.example/id/A:sub`",
            ]
        );
    }

    #[test]
    fn wildcard_subject() {
        let document = format!(
            r#"{HEAD},"Condition":{{
                "StringLike":{{"oidc.example/id/A:sub":"system:serviceaccount:clu-ops:*"}},
                "StringEquals":{{"oidc.example/id/A:aud":"sts.amazonaws.com"}}}}}}}}"#
        );
        assert_eq!(
            codes(&document),
            ["Pod: trust-wildcard-sub: `StringLike` on `oidc.example/id/A:sub` has the wildcard \
              value `system:serviceaccount:clu-ops:*`; every service account it matches could \
              assume the role"]
        );
    }

    #[test]
    fn missing_audience() {
        let document = format!(
            r#"{HEAD},"Condition":{{"StringEquals":{{
                "oidc.example/id/A:sub":"system:serviceaccount:clu-ops:clu-ops-agent"}}}}}}}}"#
        );
        assert_eq!(
            codes(&document),
            ["Pod: trust-missing-aud: no `:aud` condition; pin the token's audience to \
              `sts.amazonaws.com`"]
        );
    }

    #[test]
    fn missing_subject_and_audience() {
        let document = format!("{HEAD}}}}}");
        let found: Vec<_> =
            lint_trust(&PolicyDocument::parse(&document).unwrap()).iter().map(|f| f.code).collect();
        assert_eq!(found, [TRUST_MISSING_AUD, TRUST_MISSING_SUB]);
    }

    #[test]
    fn deny_statements_and_other_services_are_not_web_identity_findings() {
        let document = r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Deny","Principal":"*","Action":"sts:AssumeRoleWithWebIdentity"},
            {"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},
             "Action":"sts:AssumeRole"}]}"#;
        assert_eq!(codes(document), Vec::<String>::new());
    }
}
