//! Offline evaluation of policy documents against one request, the way IAM decides it.
//!
//! This answers "would these documents allow `action` on `resource`?" without calling AWS, to
//! compare what a deployed role grants with what the agent's tools need. Only the documents
//! given are considered: no permissions boundary, service control policy or session policy,
//! and the `Principal` of a resource policy is not checked.
//!
//! Evaluation fails closed. A condition the evaluator cannot decide, because its operator is
//! not implemented here (the `Date*`, `IpAddress` and `Binary*` families, for example), a key
//! it needs is missing from the [`RequestContext`], a number does not parse or a value uses a
//! policy variable such as `${aws:username}`, is *unknown*: an Allow statement with an unknown
//! condition does not apply, and a Deny statement with one does. A missing key counts as
//! absent only for the operators made to test absence, `...IfExists` and `Null`, because the
//! context may simply not have been told about a key the real request would carry.

use std::collections::BTreeMap;

use crate::document::{Effect, Resources, Version};
use crate::{Action, Conditions, PolicyDocument, Statement, wildcard};

/// The condition keys of a request and their values, such as `aws:RequestedRegion`.
///
/// Keys compare without case, as IAM's do; values keep theirs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestContext {
    values: BTreeMap<String, Vec<String>>,
}

impl RequestContext {
    /// A context with no key.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the values of `key`, replacing any it had.
    pub fn insert<I, V>(&mut self, key: &str, values: I) -> &mut Self
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        self.values.insert(key.to_ascii_lowercase(), values.into_iter().map(Into::into).collect());
        self
    }

    /// Builder form of [`RequestContext::insert`].
    pub fn with<I, V>(mut self, key: &str, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        self.insert(key, values);
        self
    }

    /// The values of `key`, if the context has any.
    pub fn get(&self, key: &str) -> Option<&[String]> {
        self.values
            .get(&key.to_ascii_lowercase())
            .map(Vec::as_slice)
            .filter(|values| !values.is_empty())
    }
}

/// The outcome of evaluating a request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// An Allow statement applies and no Deny statement does.
    Allowed {
        /// The Sid of the first Allow statement that applies.
        sid: Option<String>,
    },
    /// A Deny statement applies, which no Allow can override.
    ExplicitDeny {
        /// The Sid of the first Deny statement that applies.
        sid: Option<String>,
    },
    /// No statement applies, so IAM denies by default.
    ImplicitDeny,
}

impl Decision {
    /// Whether the request is allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed { .. })
    }
}

/// Decides whether `documents` together allow `action` on `resource` in `context`.
///
/// An explicit Deny anywhere wins over every Allow; without an Allow the request is implicitly
/// denied. Unknown conditions fail closed, as the module documentation explains.
pub fn evaluate(
    documents: &[PolicyDocument],
    action: &Action,
    resource: &str,
    context: &RequestContext,
) -> Decision {
    let mut allowed_by = None;
    for document in documents {
        for statement in &document.statements {
            let applies = statement_applies(document.version, statement, action, resource, context);
            match statement.effect {
                Effect::Deny if applies != Truth::No => {
                    return Decision::ExplicitDeny { sid: statement.sid.clone() };
                }
                Effect::Allow if applies == Truth::Yes && allowed_by.is_none() => {
                    allowed_by = Some(statement.sid.clone());
                }
                Effect::Allow | Effect::Deny => {}
            }
        }
    }
    match allowed_by {
        Some(sid) => Decision::Allowed { sid },
        None => Decision::ImplicitDeny,
    }
}

/// The `required` (action, resource) pairs that `documents` do not allow, in input order.
pub fn missing(
    documents: &[PolicyDocument],
    required: &[(Action, String)],
    context: &RequestContext,
) -> Vec<(Action, String)> {
    required
        .iter()
        .filter(|(action, resource)| !evaluate(documents, action, resource, context).is_allowed())
        .cloned()
        .collect()
}

/// Three-valued logic: what the evaluator can say about a statement or a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Truth {
    Yes,
    No,
    Unknown,
}

impl Truth {
    fn from_bool(value: bool) -> Self {
        if value { Self::Yes } else { Self::No }
    }

    fn not(self) -> Self {
        match self {
            Self::Yes => Self::No,
            Self::No => Self::Yes,
            Self::Unknown => Self::Unknown,
        }
    }

    /// `No` if any is `No`, else `Unknown` if any is, else `Yes` (also for none at all).
    fn all(items: impl IntoIterator<Item = Self>) -> Self {
        items.into_iter().fold(Self::Yes, |acc, item| match (acc, item) {
            (Self::No, _) | (_, Self::No) => Self::No,
            (Self::Unknown, _) | (_, Self::Unknown) => Self::Unknown,
            (Self::Yes, Self::Yes) => Self::Yes,
        })
    }

    /// `Yes` if any is `Yes`, else `Unknown` if any is, else `No` (also for none at all).
    fn any(items: impl IntoIterator<Item = Self>) -> Self {
        items.into_iter().fold(Self::No, |acc, item| match (acc, item) {
            (Self::Yes, _) | (_, Self::Yes) => Self::Yes,
            (Self::Unknown, _) | (_, Self::Unknown) => Self::Unknown,
            (Self::No, Self::No) => Self::No,
        })
    }
}

fn statement_applies(
    version: Version,
    statement: &Statement,
    action: &Action,
    resource: &str,
    context: &RequestContext,
) -> Truth {
    if !statement.matches_action(action) {
        return Truth::No;
    }
    let variables = version == Version::V2012_10_17;
    let resource_truth = match &statement.resource {
        None => Truth::Yes,
        Some(Resources::Resource(patterns)) => resource_matches(patterns, resource, variables),
        Some(Resources::NotResource(patterns)) => {
            resource_matches(patterns, resource, variables).not()
        }
    };
    Truth::all([resource_truth, conditions_hold(&statement.condition, context, variables)])
}

fn resource_matches(patterns: &[String], resource: &str, variables: bool) -> Truth {
    Truth::any(patterns.iter().map(|pattern| {
        if wildcard::matches(pattern, resource, false) {
            Truth::Yes
        } else if variables && pattern.contains("${") {
            Truth::Unknown
        } else {
            Truth::No
        }
    }))
}

/// Every condition of the block must hold: operators and keys combine with AND.
fn conditions_hold(conditions: &Conditions, context: &RequestContext, variables: bool) -> Truth {
    Truth::all(conditions.iter().map(|(operator, key, values)| {
        if variables && values.iter().any(|value| value.contains("${")) {
            return Truth::Unknown;
        }
        condition_holds(operator, context.get(key), values)
    }))
}

/// How a condition combines the request's values of a key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    /// No prefix: a positive operator needs one value to match, a negated one needs all.
    Plain,
    /// `ForAnyValue:`: at least one request value must satisfy the operator.
    AnyValue,
    /// `ForAllValues:`: every request value must satisfy the operator.
    AllValues,
}

/// How one request value is compared with one policy value.
#[derive(Clone, Copy)]
enum Comparison {
    Equals,
    EqualsIgnoreCase,
    Like,
    Arn,
    Bool,
    Number(fn(f64, f64) -> bool),
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

fn strip_suffix_ignore_case<'a>(text: &'a str, suffix: &str) -> Option<&'a str> {
    let split = text.len().checked_sub(suffix.len())?;
    let tail = text.get(split..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &text[..split])
}

fn condition_holds(operator: &str, request: Option<&[String]>, policy: &[String]) -> Truth {
    let (qualifier, rest) = if let Some(rest) = strip_prefix_ignore_case(operator, "ForAnyValue:") {
        (SetQualifier::AnyValue, rest)
    } else if let Some(rest) = strip_prefix_ignore_case(operator, "ForAllValues:") {
        (SetQualifier::AllValues, rest)
    } else {
        (SetQualifier::Plain, operator)
    };
    let (base, if_exists) = match strip_suffix_ignore_case(rest, "IfExists") {
        Some(base) => (base, true),
        None => (rest, false),
    };

    if base.eq_ignore_ascii_case("Null") {
        return Truth::any(policy.iter().map(|value| match value.to_ascii_lowercase().as_str() {
            "true" => Truth::from_bool(request.is_none()),
            "false" => Truth::from_bool(request.is_some()),
            _ => Truth::Unknown,
        }));
    }
    let Some((comparison, negated)) = comparison(base) else {
        return Truth::Unknown;
    };
    let Some(request) = request else {
        return if if_exists { Truth::Yes } else { Truth::Unknown };
    };

    let each = request.iter().map(|value| {
        let matched =
            Truth::any(policy.iter().map(|expected| compare(comparison, value, expected)));
        if negated { matched.not() } else { matched }
    });
    match (qualifier, negated) {
        (SetQualifier::AnyValue, _) | (SetQualifier::Plain, false) => Truth::any(each),
        (SetQualifier::AllValues, _) | (SetQualifier::Plain, true) => Truth::all(each),
    }
}

/// The comparison behind an operator name and whether the operator negates it; `None` for an
/// operator this evaluator does not implement.
fn comparison(base: &str) -> Option<(Comparison, bool)> {
    let found = match base.to_ascii_lowercase().as_str() {
        "stringequals" => (Comparison::Equals, false),
        "stringnotequals" => (Comparison::Equals, true),
        "stringequalsignorecase" => (Comparison::EqualsIgnoreCase, false),
        "stringnotequalsignorecase" => (Comparison::EqualsIgnoreCase, true),
        "stringlike" => (Comparison::Like, false),
        "stringnotlike" => (Comparison::Like, true),
        "arnequals" | "arnlike" => (Comparison::Arn, false),
        "arnnotequals" | "arnnotlike" => (Comparison::Arn, true),
        "bool" => (Comparison::Bool, false),
        "numericequals" => (Comparison::Number(|a, b| a == b), false),
        "numericnotequals" => (Comparison::Number(|a, b| a == b), true),
        "numericlessthan" => (Comparison::Number(|a, b| a < b), false),
        "numericlessthanequals" => (Comparison::Number(|a, b| a <= b), false),
        "numericgreaterthan" => (Comparison::Number(|a, b| a > b), false),
        "numericgreaterthanequals" => (Comparison::Number(|a, b| a >= b), false),
        _ => return None,
    };
    Some(found)
}

fn compare(comparison: Comparison, request: &str, policy: &str) -> Truth {
    match comparison {
        Comparison::Equals => Truth::from_bool(request == policy),
        Comparison::EqualsIgnoreCase => {
            Truth::from_bool(request.to_lowercase() == policy.to_lowercase())
        }
        Comparison::Like => Truth::from_bool(wildcard::matches(policy, request, false)),
        Comparison::Arn => Truth::from_bool(arn_matches(policy, request)),
        Comparison::Bool => Truth::from_bool(request.eq_ignore_ascii_case(policy)),
        Comparison::Number(holds) => match (request.trim().parse(), policy.trim().parse()) {
            (Ok(request), Ok(policy)) => Truth::from_bool(holds(request, policy)),
            _ => Truth::Unknown,
        },
    }
}

/// IAM matches ARNs part by part, so a wildcard in one part never spans a `:` into the next;
/// the last part, the resource, may itself contain `:`.
fn arn_matches(pattern: &str, arn: &str) -> bool {
    let pattern_parts: Vec<&str> = pattern.splitn(6, ':').collect();
    let arn_parts: Vec<&str> = arn.splitn(6, ':').collect();
    if pattern_parts.len() < 6 || arn_parts.len() < 6 {
        return wildcard::matches(pattern, arn, false);
    }
    pattern_parts
        .iter()
        .zip(&arn_parts)
        .all(|(pattern, part)| wildcard::matches(pattern, part, false))
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn action(text: &str) -> Action {
        Action::parse(text).unwrap()
    }

    fn document(statements: &str) -> PolicyDocument {
        PolicyDocument::parse(&format!(r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#))
            .unwrap()
    }

    fn allowed(sid: &str) -> Decision {
        Decision::Allowed { sid: Some(sid.into()) }
    }

    fn denied(sid: &str) -> Decision {
        Decision::ExplicitDeny { sid: Some(sid.into()) }
    }

    /// Evaluates one statement that allows `s3:GetObject` on everything under `condition`.
    fn check_condition(condition: &str, context: &RequestContext) -> Decision {
        let documents = [document(&format!(
            r#"{{"Sid":"Cond","Effect":"Allow","Action":"s3:GetObject","Resource":"*",
                "Condition":{condition}}}"#
        ))];
        evaluate(&documents, &action("s3:GetObject"), "arn:aws:s3:::b/k", context)
    }

    const REGION: &str = r#"{"StringEquals":{"aws:RequestedRegion":["eu-west-1","eu-central-1"]}}"#;

    #[test]
    fn allows_with_action_wildcards_without_case() {
        let documents =
            [document(r#"{"Sid":"Read","Effect":"Allow","Action":"LOGS:get*","Resource":"*"}"#)];
        let context = RequestContext::new();
        assert_eq!(
            evaluate(&documents, &action("logs:GetLogEvents"), "x", &context),
            allowed("Read")
        );
        assert_eq!(
            evaluate(&documents, &action("logs:PutLogEvents"), "x", &context),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn resources_match_globs_with_case() {
        let documents = [document(
            r#"{"Sid":"Bucket","Effect":"Allow","Action":"s3:GetObject",
                "Resource":"arn:aws:s3:::logs/*"}"#,
        )];
        let context = RequestContext::new();
        let get = action("s3:GetObject");
        assert!(evaluate(&documents, &get, "arn:aws:s3:::logs/a/b", &context).is_allowed());
        assert!(!evaluate(&documents, &get, "arn:aws:s3:::LOGS/a", &context).is_allowed());
        assert!(!evaluate(&documents, &get, "arn:aws:s3:::other/a", &context).is_allowed());
    }

    #[test]
    fn an_explicit_deny_in_any_document_wins() {
        let documents = [
            document(r#"{"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"}"#),
            document(r#"{"Sid":"NoDelete","Effect":"Deny","Action":"eks:Delete*","Resource":"*"}"#),
        ];
        let context = RequestContext::new();
        assert_eq!(
            evaluate(&documents, &action("eks:DeleteCluster"), "*", &context),
            denied("NoDelete")
        );
        assert_eq!(
            evaluate(&documents, &action("eks:DescribeCluster"), "*", &context),
            allowed("All")
        );
    }

    #[test]
    fn not_action_denies_everything_except() {
        let documents = [document(
            r#"{"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"},
               {"Sid":"OnlyRead","Effect":"Deny","NotAction":["iam:Get*","iam:List*"],
                "Resource":"*"}"#,
        )];
        let context = RequestContext::new();
        assert_eq!(evaluate(&documents, &action("iam:GetRole"), "*", &context), allowed("All"));
        assert_eq!(
            evaluate(&documents, &action("iam:DeleteRole"), "*", &context),
            denied("OnlyRead")
        );
    }

    #[test]
    fn not_resource_covers_everything_else() {
        let documents = [document(
            r#"{"Sid":"NotProd","Effect":"Allow","Action":"eks:DescribeCluster",
                "NotResource":"arn:aws:eks:*:*:cluster/prod*"}"#,
        )];
        let context = RequestContext::new();
        let describe = action("eks:DescribeCluster");
        assert!(
            evaluate(&documents, &describe, "arn:aws:eks:eu-west-1:1:cluster/dev", &context)
                .is_allowed()
        );
        assert!(
            !evaluate(&documents, &describe, "arn:aws:eks:eu-west-1:1:cluster/prod-a", &context)
                .is_allowed()
        );
    }

    #[test]
    fn string_conditions_pass_and_fail() {
        let in_region = RequestContext::new().with("aws:RequestedRegion", ["eu-west-1"]);
        let elsewhere = RequestContext::new().with("AWS:requestedregion", ["us-east-1"]);
        assert_eq!(check_condition(REGION, &in_region), allowed("Cond"));
        assert_eq!(check_condition(REGION, &elsewhere), Decision::ImplicitDeny);

        let not_region = r#"{"StringNotEquals":{"aws:RequestedRegion":"us-east-1"}}"#;
        assert!(check_condition(not_region, &in_region).is_allowed());
        assert!(!check_condition(not_region, &elsewhere).is_allowed());

        let ignore_case = r#"{"StringEqualsIgnoreCase":{"aws:PrincipalTag/team":"OPS"}}"#;
        let team = RequestContext::new().with("aws:PrincipalTag/team", ["ops"]);
        assert!(check_condition(ignore_case, &team).is_allowed());
        let exact_case = r#"{"StringEquals":{"aws:PrincipalTag/team":"OPS"}}"#;
        assert!(!check_condition(exact_case, &team).is_allowed());

        let like = r#"{"StringLike":{"s3:prefix":"home/*"}}"#;
        let not_like = r#"{"StringNotLike":{"s3:prefix":"home/*"}}"#;
        let home = RequestContext::new().with("s3:prefix", ["home/me"]);
        assert!(check_condition(like, &home).is_allowed());
        assert!(!check_condition(not_like, &home).is_allowed());
    }

    #[test]
    fn arn_bool_null_and_numeric_conditions() {
        let arn = r#"{"ArnLike":{"aws:SourceArn":"arn:aws:eks:*:123456789012:cluster/*"}}"#;
        let source = |value: &str| RequestContext::new().with("aws:SourceArn", [value]);
        assert!(
            check_condition(arn, &source("arn:aws:eks:eu-west-1:123456789012:cluster/a"))
                .is_allowed()
        );
        assert!(
            !check_condition(arn, &source("arn:aws:eks:eu-west-1:999999999999:cluster/a"))
                .is_allowed()
        );
        let arn_not = r#"{"ArnNotLike":{"aws:SourceArn":"arn:aws:eks:*:123456789012:cluster/*"}}"#;
        assert!(
            check_condition(arn_not, &source("arn:aws:eks:eu-west-1:9:cluster/a")).is_allowed()
        );

        let secure = r#"{"Bool":{"aws:SecureTransport":true}}"#;
        assert!(
            check_condition(secure, &RequestContext::new().with("aws:SecureTransport", ["True"]))
                .is_allowed()
        );
        assert!(
            !check_condition(secure, &RequestContext::new().with("aws:SecureTransport", ["false"]))
                .is_allowed()
        );

        let untagged = r#"{"Null":{"aws:RequestTag/owner":"true"}}"#;
        assert!(check_condition(untagged, &RequestContext::new()).is_allowed());
        assert!(
            !check_condition(untagged, &RequestContext::new().with("aws:RequestTag/owner", ["me"]))
                .is_allowed()
        );

        let small = r#"{"NumericLessThanEquals":{"s3:max-keys":10}}"#;
        let keys = |value: &str| RequestContext::new().with("s3:max-keys", [value]);
        assert!(check_condition(small, &keys("10")).is_allowed());
        assert!(!check_condition(small, &keys("11")).is_allowed());
        assert!(!check_condition(small, &keys("ten")).is_allowed());
        assert!(
            check_condition(r#"{"NumericNotEquals":{"s3:max-keys":10}}"#, &keys("3")).is_allowed()
        );
        assert!(
            check_condition(r#"{"NumericGreaterThan":{"s3:max-keys":2.5}}"#, &keys("3"))
                .is_allowed()
        );
    }

    #[test]
    fn if_exists_treats_a_missing_key_as_passing() {
        let if_exists = r#"{"StringEqualsIfExists":{"aws:RequestedRegion":"eu-west-1"}}"#;
        assert!(check_condition(if_exists, &RequestContext::new()).is_allowed());
        let other = RequestContext::new().with("aws:RequestedRegion", ["us-east-1"]);
        assert!(!check_condition(if_exists, &other).is_allowed());
    }

    #[test]
    fn set_qualifiers() {
        let any = r#"{"ForAnyValue:StringEquals":{"aws:TagKeys":["team","owner"]}}"#;
        let all = r#"{"ForAllValues:StringEquals":{"aws:TagKeys":["team","owner"]}}"#;
        let tags =
            |values: &[&str]| RequestContext::new().with("aws:TagKeys", values.iter().copied());
        assert!(check_condition(any, &tags(&["team", "cost"])).is_allowed());
        assert!(!check_condition(any, &tags(&["cost"])).is_allowed());
        assert!(check_condition(all, &tags(&["team", "owner"])).is_allowed());
        assert!(!check_condition(all, &tags(&["team", "cost"])).is_allowed());

        let none_secret = r#"{"ForAllValues:StringNotLike":{"aws:TagKeys":"secret*"}}"#;
        assert!(check_condition(none_secret, &tags(&["team", "owner"])).is_allowed());
        assert!(!check_condition(none_secret, &tags(&["team", "secret-a"])).is_allowed());
    }

    #[test]
    fn unknown_conditions_fail_closed() {
        let statements = r#"{"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"},
            {"Sid":"Guard","Effect":"Deny","Action":"*","Resource":"*",
             "Condition":{"StringNotEquals":{"aws:RequestedRegion":"eu-west-1"}}}"#;
        let documents = [document(statements)];
        let describe = action("eks:DescribeCluster");
        let in_region = RequestContext::new().with("aws:RequestedRegion", ["eu-west-1"]);
        assert_eq!(evaluate(&documents, &describe, "*", &in_region), allowed("All"));
        assert_eq!(evaluate(&documents, &describe, "*", &RequestContext::new()), denied("Guard"));

        // An operator without an implementation: the Allow does not apply, the Deny does.
        let date = r#"{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}"#;
        let now = RequestContext::new().with("aws:CurrentTime", ["2025-01-01T00:00:00Z"]);
        assert_eq!(check_condition(date, &now), Decision::ImplicitDeny);
        let deny_by_date = [document(&format!(
            r#"{{"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"}},
               {{"Sid":"Date","Effect":"Deny","Action":"*","Resource":"*","Condition":{date}}}"#
        ))];
        assert_eq!(evaluate(&deny_by_date, &describe, "*", &now), denied("Date"));

        // A missing key for a plain operator, and a policy variable, are unknown too.
        assert_eq!(check_condition(REGION, &RequestContext::new()), Decision::ImplicitDeny);
        let variable = r#"{"StringEquals":{"aws:PrincipalTag/team":"${aws:username}"}}"#;
        let team = RequestContext::new().with("aws:PrincipalTag/team", ["${aws:username}"]);
        assert_eq!(check_condition(variable, &team), Decision::ImplicitDeny);
    }

    #[test]
    fn a_deny_whose_known_condition_fails_does_not_apply() {
        let documents = [document(
            r#"{"Sid":"All","Effect":"Allow","Action":"*","Resource":"*"},
               {"Sid":"Guard","Effect":"Deny","Action":"*","Resource":"*","Condition":{
                 "Bool":{"aws:SecureTransport":"false"},
                 "DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}}"#,
        )];
        let secure = RequestContext::new().with("aws:SecureTransport", ["true"]);
        assert_eq!(evaluate(&documents, &action("s3:GetObject"), "*", &secure), allowed("All"));
    }

    #[test]
    fn missing_lists_what_is_not_allowed_in_input_order() {
        let documents = [document(
            r#"{"Sid":"Logs","Effect":"Allow","Action":["logs:StartQuery","logs:GetQueryResults"],
                "Resource":"arn:aws:logs:*:*:log-group:app*"}"#,
        )];
        let group = "arn:aws:logs:eu-west-1:1:log-group:app-1".to_owned();
        let required = [
            (action("logs:StopQuery"), group.clone()),
            (action("logs:StartQuery"), group.clone()),
            (action("logs:StartQuery"), "arn:aws:logs:eu-west-1:1:log-group:db".to_owned()),
            (action("eks:DescribeCluster"), "*".to_owned()),
        ];
        let missing = missing(&documents, &required, &RequestContext::new());
        assert_eq!(missing, [required[0].clone(), required[2].clone(), required[3].clone()]);
    }

    #[test]
    fn a_statement_without_resource_covers_every_resource() {
        let documents = [document(
            r#"{"Sid":"Trust","Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},
                "Action":"sts:AssumeRole"}"#,
        )];
        let role = "arn:aws:iam::1:role/clu";
        assert!(
            evaluate(&documents, &action("sts:AssumeRole"), role, &RequestContext::new())
                .is_allowed()
        );
    }
}
