//! IAM policy documents: read from any valid IAM JSON, written back deterministically.
//!
//! Reading is lenient where IAM is (a single statement or a list, a string or a list of strings)
//! and strict where a mistake would change what the policy means: an unknown key, both `Action`
//! and `NotAction`, or an empty list is an error naming the statement. Writing sorts and
//! deduplicates every list except the statements themselves, so a document that means the same
//! thing always produces the same text and a reviewer's diff shows only real changes.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::{Action, ActionPattern, Conditions, Error, Result, wildcard};

/// The size IAM allows a customer managed policy, counted without whitespace.
pub const MANAGED_POLICY_SIZE_LIMIT: usize = 6_144;

/// The version of the policy language a document is written in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Version {
    /// `2012-10-17`, the current language, which knows policy variables; what Clu writes.
    #[default]
    V2012_10_17,
    /// `2008-10-17`, the original language, and what IAM assumes when `Version` is missing.
    V2008_10_17,
}

impl Version {
    /// The version as IAM spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V2012_10_17 => "2012-10-17",
            Self::V2008_10_17 => "2008-10-17",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        [Self::V2012_10_17, Self::V2008_10_17].into_iter().find(|version| version.as_str() == text)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a statement allows or denies what it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Effect {
    /// The statement grants what it matches.
    Allow,
    /// The statement refuses what it matches, whatever any other statement allows.
    Deny,
}

impl Effect {
    /// The effect as IAM spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "Allow",
            Self::Deny => "Deny",
        }
    }
}

impl fmt::Display for Effect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of identity a principal names, the key of a `Principal` object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum PrincipalKind {
    /// `AWS`: accounts, IAM users and roles, by ARN or account id.
    Aws,
    /// `CanonicalUser`: an S3 canonical user id.
    CanonicalUser,
    /// `Federated`: an OIDC or SAML identity provider.
    Federated,
    /// `Service`: an AWS service such as `pods.eks.amazonaws.com`.
    Service,
}

impl PrincipalKind {
    const ALL: [Self; 4] = [Self::Aws, Self::CanonicalUser, Self::Federated, Self::Service];

    /// The kind as IAM spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Aws => "AWS",
            Self::CanonicalUser => "CanonicalUser",
            Self::Federated => "Federated",
            Self::Service => "Service",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

impl fmt::Display for PrincipalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a statement of a trust or resource policy is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Principal {
    /// `"*"`: everyone, including anonymous callers.
    Anyone,
    /// Named identities by kind, each list sorted and unique. `{"AWS": "*"}` is written this way
    /// and means every AWS identity, which is not the same as [`Principal::Anyone`].
    Identities(BTreeMap<PrincipalKind, Vec<String>>),
}

impl Principal {
    /// A principal of one kind and one identity.
    pub fn one(kind: PrincipalKind, identity: impl Into<String>) -> Self {
        Self::Identities(BTreeMap::from([(kind, vec![identity.into()])]))
    }

    /// An AWS service principal such as `pods.eks.amazonaws.com`.
    pub fn service(name: impl Into<String>) -> Self {
        Self::one(PrincipalKind::Service, name)
    }

    /// A federated principal such as an OIDC provider ARN.
    pub fn federated(provider: impl Into<String>) -> Self {
        Self::one(PrincipalKind::Federated, provider)
    }

    /// The identities of `kind`, empty for [`Principal::Anyone`] or when the kind is absent.
    pub fn identities(&self, kind: PrincipalKind) -> &[String] {
        match self {
            Self::Anyone => &[],
            Self::Identities(map) => map.get(&kind).map_or(&[], Vec::as_slice),
        }
    }

    fn to_value(&self) -> Value {
        match self {
            Self::Anyone => Value::String("*".into()),
            Self::Identities(map) => Value::Object(
                map.iter()
                    .map(|(kind, identities)| {
                        (kind.as_str().to_owned(), one_or_many(normalize_strings(identities)))
                    })
                    .collect(),
            ),
        }
    }
}

/// The `Principal` or `NotPrincipal` element of a statement.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Principals {
    /// `Principal`: the statement is about these identities.
    Principal(Principal),
    /// `NotPrincipal`: the statement is about every identity except these.
    NotPrincipal(Principal),
}

/// The `Action` or `NotAction` element of a statement.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Actions {
    /// `Action`: the statement covers the actions these patterns match.
    Action(Vec<ActionPattern>),
    /// `NotAction`: the statement covers every action these patterns do not match.
    NotAction(Vec<ActionPattern>),
}

impl Actions {
    /// The patterns, whichever element holds them.
    pub fn patterns(&self) -> &[ActionPattern] {
        match self {
            Self::Action(patterns) | Self::NotAction(patterns) => patterns,
        }
    }

    /// Whether the element covers `action`, without regard to case.
    pub fn matches(&self, action: &Action) -> bool {
        match self {
            Self::Action(patterns) => patterns.iter().any(|pattern| pattern.matches(action)),
            Self::NotAction(patterns) => !patterns.iter().any(|pattern| pattern.matches(action)),
        }
    }
}

/// The `Resource` or `NotResource` element of a statement.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Resources {
    /// `Resource`: the statement covers the resources these ARN globs match.
    Resource(Vec<String>),
    /// `NotResource`: the statement covers every resource these ARN globs do not match.
    NotResource(Vec<String>),
}

impl Resources {
    /// The ARN globs, whichever element holds them.
    pub fn patterns(&self) -> &[String] {
        match self {
            Self::Resource(patterns) | Self::NotResource(patterns) => patterns,
        }
    }

    /// Whether the element covers `resource`; ARNs compare with case, as IAM does.
    pub fn matches(&self, resource: &str) -> bool {
        let any = |patterns: &[String]| {
            patterns.iter().any(|pattern| wildcard::matches(pattern, resource, false))
        };
        match self {
            Self::Resource(patterns) => any(patterns),
            Self::NotResource(patterns) => !any(patterns),
        }
    }
}

/// One statement of a policy document.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Statement {
    /// The statement id; IAM identity policies accept only ASCII letters and digits.
    pub sid: Option<String>,
    /// Allow or Deny.
    pub effect: Effect,
    /// The principal, which only trust and resource policies have.
    pub principal: Option<Principals>,
    /// The actions covered.
    pub action: Actions,
    /// The resources covered. Identity policies need one; trust policies have none, because
    /// the resource is the role itself.
    pub resource: Option<Resources>,
    /// Conditions every covered request must meet; empty when there are none.
    pub condition: Conditions,
}

impl Statement {
    /// An Allow statement of `actions` on `resources`.
    pub fn allow<R: Into<String>>(
        actions: impl IntoIterator<Item = ActionPattern>,
        resources: impl IntoIterator<Item = R>,
    ) -> Self {
        Self::new(Effect::Allow, actions, resources)
    }

    /// A Deny statement of `actions` on `resources`.
    pub fn deny<R: Into<String>>(
        actions: impl IntoIterator<Item = ActionPattern>,
        resources: impl IntoIterator<Item = R>,
    ) -> Self {
        Self::new(Effect::Deny, actions, resources)
    }

    /// An Allow statement of a trust policy: `principal` may perform `actions` on the role,
    /// which is why there is no `Resource` element.
    pub fn trust(principal: Principal, actions: impl IntoIterator<Item = ActionPattern>) -> Self {
        Self {
            sid: None,
            effect: Effect::Allow,
            principal: Some(Principals::Principal(principal)),
            action: Actions::Action(normalize_actions(actions.into_iter().collect())),
            resource: None,
            condition: Conditions::new(),
        }
    }

    fn new<R: Into<String>>(
        effect: Effect,
        actions: impl IntoIterator<Item = ActionPattern>,
        resources: impl IntoIterator<Item = R>,
    ) -> Self {
        Self {
            sid: None,
            effect,
            principal: None,
            action: Actions::Action(normalize_actions(actions.into_iter().collect())),
            resource: Some(Resources::Resource(normalize_strings(
                resources.into_iter().map(Into::into),
            ))),
            condition: Conditions::new(),
        }
    }

    /// Sets the statement id.
    pub fn with_sid(mut self, sid: impl Into<String>) -> Self {
        self.sid = Some(sid.into());
        self
    }

    /// Sets the `Principal` element.
    pub fn with_principal(mut self, principal: Principal) -> Self {
        self.principal = Some(Principals::Principal(principal));
        self
    }

    /// Replaces the `Resource` element; `None` removes it, as a trust policy needs.
    pub fn with_resource(mut self, resource: Option<Resources>) -> Self {
        self.resource = resource;
        self
    }

    /// Sets the `Condition` block.
    pub fn with_condition(mut self, condition: Conditions) -> Self {
        self.condition = condition;
        self
    }

    /// The Sid, or `-` when the statement has none, for messages and findings.
    pub fn sid_or_dash(&self) -> &str {
        self.sid.as_deref().unwrap_or("-")
    }

    /// Whether the `Action` or `NotAction` element covers `action`.
    pub fn matches_action(&self, action: &Action) -> bool {
        self.action.matches(action)
    }

    /// Whether the `Resource` or `NotResource` element covers `resource`; a statement without
    /// either (a trust policy's) covers every resource.
    pub fn matches_resource(&self, resource: &str) -> bool {
        self.resource.as_ref().is_none_or(|element| element.matches(resource))
    }

    fn to_value(&self) -> Value {
        let mut object = Map::new();
        if let Some(sid) = &self.sid {
            object.insert("Sid".into(), Value::String(sid.clone()));
        }
        object.insert("Effect".into(), Value::String(self.effect.as_str().into()));
        match &self.principal {
            Some(Principals::Principal(principal)) => {
                object.insert("Principal".into(), principal.to_value());
            }
            Some(Principals::NotPrincipal(principal)) => {
                object.insert("NotPrincipal".into(), principal.to_value());
            }
            None => {}
        }
        let (key, patterns) = match &self.action {
            Actions::Action(patterns) => ("Action", patterns),
            Actions::NotAction(patterns) => ("NotAction", patterns),
        };
        let texts =
            normalize_actions(patterns.clone()).iter().map(|p| p.as_str().to_owned()).collect();
        object.insert(key.into(), one_or_many(texts));
        match &self.resource {
            Some(Resources::Resource(patterns)) => {
                object.insert("Resource".into(), one_or_many(normalize_strings(patterns)));
            }
            Some(Resources::NotResource(patterns)) => {
                object.insert("NotResource".into(), one_or_many(normalize_strings(patterns)));
            }
            None => {}
        }
        if !self.condition.is_empty() {
            // Conditions serialize through serde into a map of strings, which cannot fail; the
            // fallback keeps this function total rather than trusting that with a panic.
            let condition = serde_json::to_value(&self.condition).unwrap_or(Value::Null);
            object.insert("Condition".into(), condition);
        }
        Value::Object(object)
    }
}

/// An IAM policy document: an identity policy, a trust policy or a resource policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct PolicyDocument {
    /// The policy language version.
    pub version: Version,
    /// The optional document id.
    pub id: Option<String>,
    /// The statements, in the order they were written.
    pub statements: Vec<Statement>,
}

impl PolicyDocument {
    /// A `2012-10-17` document of `statements`.
    pub fn new(statements: Vec<Statement>) -> Self {
        Self { version: Version::V2012_10_17, id: None, statements }
    }

    /// Reads a document from IAM JSON text.
    pub fn parse(text: &str) -> Result<Self> {
        let value: Value =
            serde_json::from_str(text).map_err(|error| invalid(format!("not JSON: {error}")))?;
        Self::from_value(&value)
    }

    /// Reads a document from a parsed JSON value.
    pub fn from_value(value: &Value) -> Result<Self> {
        let object = value.as_object().ok_or_else(|| invalid("the document is not an object"))?;
        for key in object.keys() {
            if !DOCUMENT_KEYS.contains(&key.as_str()) {
                return Err(invalid(format!(
                    "unknown top-level key `{key}`{}",
                    did_you_mean(key, &DOCUMENT_KEYS)
                )));
            }
        }

        let version = match object.get("Version") {
            None => Version::V2008_10_17,
            Some(Value::String(text)) => Version::parse(text).ok_or_else(|| {
                invalid(format!("Version `{text}` is neither `2012-10-17` nor `2008-10-17`"))
            })?,
            Some(_) => return Err(invalid("Version is not a string")),
        };
        let id = match object.get("Id") {
            None => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(_) => return Err(invalid("Id is not a string")),
        };

        let statements = match object.get("Statement") {
            None => return Err(invalid("the document has no Statement")),
            Some(Value::Array(items)) if items.is_empty() => {
                return Err(invalid("the Statement list is empty"));
            }
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(index, item)| parse_statement(index + 1, item))
                .collect::<Result<_>>()?,
            Some(item @ Value::Object(_)) => vec![parse_statement(1, item)?],
            Some(_) => return Err(invalid("Statement is neither an object nor a list")),
        };
        Ok(Self { version, id, statements })
    }

    /// The document as a JSON value, in IAM's element order with every list normalized.
    pub fn to_value(&self) -> Value {
        let mut object = Map::new();
        object.insert("Version".into(), Value::String(self.version.as_str().into()));
        if let Some(id) = &self.id {
            object.insert("Id".into(), Value::String(id.clone()));
        }
        let statements = self.statements.iter().map(Statement::to_value).collect();
        object.insert("Statement".into(), Value::Array(statements));
        Value::Object(object)
    }

    /// The document as pretty JSON with two-space indentation and one trailing newline.
    pub fn to_pretty_json(&self) -> String {
        format!("{:#}\n", self.to_value())
    }

    /// The size IAM charges against the managed policy limit: characters, without whitespace.
    pub fn size_without_whitespace(&self) -> usize {
        self.to_value().to_string().chars().filter(|c| !c.is_whitespace()).count()
    }
}

impl FromStr for PolicyDocument {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        Self::parse(text)
    }
}

impl Serialize for PolicyDocument {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PolicyDocument {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Self::from_value(&value).map_err(serde::de::Error::custom)
    }
}

const DOCUMENT_KEYS: [&str; 3] = ["Version", "Id", "Statement"];

const STATEMENT_KEYS: [&str; 9] = [
    "Sid",
    "Effect",
    "Principal",
    "NotPrincipal",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Condition",
];

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidDocument(message.into())
}

/// A hint for a key that differs from a known one only in case, such as `action`.
fn did_you_mean(key: &str, known: &[&str]) -> String {
    known
        .iter()
        .find(|candidate| candidate.eq_ignore_ascii_case(key))
        .map(|candidate| format!("; did you mean `{candidate}`?"))
        .unwrap_or_default()
}

fn parse_statement(number: usize, value: &Value) -> Result<Statement> {
    let object =
        value.as_object().ok_or_else(|| invalid(format!("statement {number} is not an object")))?;

    let sid = match object.get("Sid") {
        None => None,
        Some(Value::String(sid)) => Some(sid.clone()),
        Some(_) => {
            return Err(invalid(format!("statement {number} has a Sid that is not a string")));
        }
    };
    let label = match &sid {
        Some(sid) => format!("statement {number} (`{sid}`)"),
        None => format!("statement {number}"),
    };
    let fail = |message: String| invalid(format!("{label} {message}"));

    for key in object.keys() {
        if !STATEMENT_KEYS.contains(&key.as_str()) {
            return Err(fail(format!(
                "has unknown key `{key}`{}",
                did_you_mean(key, &STATEMENT_KEYS)
            )));
        }
    }

    let effect = match object.get("Effect") {
        None => return Err(fail("has no Effect".into())),
        Some(Value::String(text)) if text == "Allow" => Effect::Allow,
        Some(Value::String(text)) if text == "Deny" => Effect::Deny,
        Some(other) => return Err(fail(format!("has Effect {other}, neither `Allow` nor `Deny`"))),
    };

    let principal = match pair(object, "Principal", "NotPrincipal").map_err(&fail)? {
        None => None,
        Some((key, value)) => {
            let principal = parse_principal(key, value).map_err(&fail)?;
            Some(if key == "Principal" {
                Principals::Principal(principal)
            } else {
                Principals::NotPrincipal(principal)
            })
        }
    };

    let action = match pair(object, "Action", "NotAction").map_err(&fail)? {
        None => return Err(fail("has neither Action nor NotAction".into())),
        Some((key, value)) => {
            let patterns = strings(key, value)
                .map_err(&fail)?
                .iter()
                .map(|text| ActionPattern::parse(text))
                .collect::<Result<Vec<_>>>()
                .map_err(|error| fail(format!("has a bad {key}: {error}")))?;
            let patterns = normalize_actions(patterns);
            if key == "Action" { Actions::Action(patterns) } else { Actions::NotAction(patterns) }
        }
    };

    let resource = match pair(object, "Resource", "NotResource").map_err(&fail)? {
        None => None,
        Some((key, value)) => {
            let patterns = normalize_strings(strings(key, value).map_err(&fail)?);
            if patterns.iter().any(String::is_empty) {
                return Err(fail(format!("has an empty string in {key}")));
            }
            Some(if key == "Resource" {
                Resources::Resource(patterns)
            } else {
                Resources::NotResource(patterns)
            })
        }
    };

    let condition = match object.get("Condition") {
        None => Conditions::new(),
        Some(value) => Conditions::deserialize(value)
            .map_err(|error| fail(format!("has a bad Condition: {error}")))?,
    };

    Ok(Statement { sid, effect, principal, action, resource, condition })
}

/// The one element present of a pair that excludes each other, such as `Action`/`NotAction`.
fn pair<'a>(
    object: &'a Map<String, Value>,
    positive: &'static str,
    negative: &'static str,
) -> Result<Option<(&'static str, &'a Value)>, String> {
    match (object.get(positive), object.get(negative)) {
        (Some(_), Some(_)) => Err(format!("has both {positive} and {negative}")),
        (Some(value), None) => Ok(Some((positive, value))),
        (None, Some(value)) => Ok(Some((negative, value))),
        (None, None) => Ok(None),
    }
}

/// A string or a non-empty list of strings, the shape of most IAM elements.
fn strings(key: &str, value: &Value) -> Result<Vec<String>, String> {
    match value {
        Value::String(text) => Ok(vec![text.clone()]),
        Value::Array(items) if items.is_empty() => Err(format!("has an empty {key} list")),
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::String(text) => Ok(text.clone()),
                other => Err(format!("has {other} in {key}, which is not a string")),
            })
            .collect(),
        other => Err(format!("has {key} {other}, neither a string nor a list of strings")),
    }
}

fn parse_principal(key: &str, value: &Value) -> Result<Principal, String> {
    match value {
        Value::String(text) if text == "*" => Ok(Principal::Anyone),
        Value::Object(kinds) if kinds.is_empty() => Err(format!("has an empty {key} object")),
        Value::Object(kinds) => {
            let mut identities = BTreeMap::new();
            for (name, value) in kinds {
                let kind = PrincipalKind::parse(name).ok_or_else(|| {
                    format!(
                        "has unknown {key} kind `{name}`; IAM knows AWS, CanonicalUser, \
                         Federated and Service"
                    )
                })?;
                let element = format!("{key} {name}");
                identities.insert(kind, normalize_strings(strings(&element, value)?));
            }
            Ok(Principal::Identities(identities))
        }
        other => Err(format!("has {key} {other}, neither `*` nor an object of principal kinds")),
    }
}

/// Sorts patterns without case, as IAM compares them, and drops repeats, keeping the spelling
/// that sorts first among equals.
fn normalize_actions(mut patterns: Vec<ActionPattern>) -> Vec<ActionPattern> {
    patterns.sort_by_cached_key(|pattern| (pattern.as_str().to_ascii_lowercase(), pattern.clone()));
    patterns.dedup_by(|later, earlier| later.as_str().eq_ignore_ascii_case(earlier.as_str()));
    patterns
}

fn normalize_strings<S: Into<String>>(items: impl IntoIterator<Item = S>) -> Vec<String> {
    let mut items: Vec<String> = items.into_iter().map(Into::into).collect();
    items.sort();
    items.dedup();
    items
}

fn one_or_many(mut items: Vec<String>) -> Value {
    if items.len() == 1 {
        Value::String(items.remove(0))
    } else {
        Value::Array(items.into_iter().map(Value::String).collect())
    }
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    /// Parses `input`, asserts it writes back as `expect`, and that `expect` is a fixed point.
    fn check_round_trip(input: &str, expect: &str) {
        let document = PolicyDocument::parse(input).unwrap();
        let written = document.to_pretty_json();
        assert_eq!(written, expect);
        let again = PolicyDocument::parse(&written).unwrap();
        assert_eq!(again, document);
        assert_eq!(again.to_pretty_json(), written);
    }

    fn check_error(input: &str, expect: &str) {
        let error = PolicyDocument::parse(input).unwrap_err();
        assert_eq!(error.to_string(), format!("invalid policy document: {expect}"));
    }

    #[test]
    fn managed_policy_shape_round_trips_sorted_and_deduplicated() {
        check_round_trip(
            r#"{
                "Version": "2012-10-17",
                "Statement": [{
                    "Sid": "ReadLogs",
                    "Effect": "Allow",
                    "Resource": ["arn:aws:logs:*:*:log-group:*", "*", "*"],
                    "Action": ["logs:GetLogEvents", "logs:describeLogGroups",
                               "logs:DescribeLogGroups", "logs:FilterLogEvents"]
                }, {
                    "Effect": "Allow",
                    "Action": "eks:DescribeCluster",
                    "Resource": "*"
                }]
            }"#,
            r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "ReadLogs",
      "Effect": "Allow",
      "Action": [
        "logs:DescribeLogGroups",
        "logs:FilterLogEvents",
        "logs:GetLogEvents"
      ],
      "Resource": [
        "*",
        "arn:aws:logs:*:*:log-group:*"
      ]
    },
    {
      "Effect": "Allow",
      "Action": "eks:DescribeCluster",
      "Resource": "*"
    }
  ]
}
"#,
        );
    }

    #[test]
    fn trust_policy_shape_round_trips() {
        check_round_trip(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow",
                "Principal":{"Service":["pods.eks.amazonaws.com"],
                             "AWS":"arn:aws:iam::123456789012:root"},
                "Action":["sts:TagSession","sts:AssumeRole"]}}"#,
            r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Principal": {
        "AWS": "arn:aws:iam::123456789012:root",
        "Service": "pods.eks.amazonaws.com"
      },
      "Action": [
        "sts:AssumeRole",
        "sts:TagSession"
      ]
    }
  ]
}
"#,
        );
    }

    #[test]
    fn not_action_deny_with_bool_and_number_conditions_round_trips() {
        check_round_trip(
            r#"{
                "Id": "Guard",
                "Version": "2012-10-17",
                "Statement": [{
                    "Condition": {"Bool": {"aws:MultiFactorAuthPresent": false},
                                  "NumericGreaterThan": {"aws:MultiFactorAuthAge": 3600}},
                    "NotAction": ["iam:*", "sts:GetSessionToken"],
                    "NotResource": "arn:aws:iam::*:user/${aws:username}",
                    "Effect": "Deny",
                    "Sid": "DenyWithoutMfa"
                }]
            }"#,
            r#"{
  "Version": "2012-10-17",
  "Id": "Guard",
  "Statement": [
    {
      "Sid": "DenyWithoutMfa",
      "Effect": "Deny",
      "NotAction": [
        "iam:*",
        "sts:GetSessionToken"
      ],
      "NotResource": "arn:aws:iam::*:user/${aws:username}",
      "Condition": {
        "Bool": {
          "aws:MultiFactorAuthPresent": "false"
        },
        "NumericGreaterThan": {
          "aws:MultiFactorAuthAge": "3600"
        }
      }
    }
  ]
}
"#,
        );
    }

    #[test]
    fn anyone_and_not_principal_round_trip() {
        let document = PolicyDocument::parse(
            r#"{"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Principal":"*","Action":"s3:GetObject",
                 "Resource":"arn:aws:s3:::public/*"},
                {"Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::1:root","*"]},
                 "Action":"s3:*","Resource":"*"}]}"#,
        )
        .unwrap();
        assert_eq!(
            document.statements[0].principal,
            Some(Principals::Principal(Principal::Anyone))
        );
        let Some(Principals::NotPrincipal(principal)) = &document.statements[1].principal else {
            panic!("expected NotPrincipal: {document:?}");
        };
        assert_eq!(principal.identities(PrincipalKind::Aws), ["*", "arn:aws:iam::1:root"]);
        assert_eq!(PolicyDocument::parse(&document.to_pretty_json()).unwrap(), document);
    }

    #[test]
    fn a_missing_version_is_the_2008_language() {
        let document = PolicyDocument::parse(
            r#"{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}"#,
        )
        .unwrap();
        assert_eq!(document.version, Version::V2008_10_17);
        assert!(document.to_pretty_json().contains(r#""Version": "2008-10-17""#));
    }

    #[test]
    fn errors_name_the_statement_and_what_is_wrong() {
        let wrap = |statement: &str| {
            format!(
                r#"{{"Version":"2012-10-17","Statement":[
                    {{"Effect":"Allow","Action":"eks:ListClusters","Resource":"*"}},{statement}]}}"#
            )
        };
        for (statement, expect) in [
            (
                r#"{"Sid":"ReadLogs","Effect":"Allow","Action":"logs:GetLogEvents",
                    "NotAction":"logs:PutLogEvents","Resource":"*"}"#,
                "statement 2 (`ReadLogs`) has both Action and NotAction",
            ),
            (
                r#"{"Effect":"Allow","Resource":"*"}"#,
                "statement 2 has neither Action nor NotAction",
            ),
            (
                r#"{"Effect":"Allow","Action":"a:B","Resource":"*","NotResource":"*"}"#,
                "statement 2 has both Resource and NotResource",
            ),
            (
                r#"{"Effect":"Allow","Actions":"a:B","Resource":"*"}"#,
                "statement 2 has unknown key `Actions`",
            ),
            (
                r#"{"effect":"Allow","Action":"a:B","Resource":"*"}"#,
                "statement 2 has unknown key `effect`; did you mean `Effect`?",
            ),
            (r#"{"Action":"a:B","Resource":"*"}"#, "statement 2 has no Effect"),
            (
                r#"{"Effect":"allow","Action":"a:B","Resource":"*"}"#,
                r#"statement 2 has Effect "allow", neither `Allow` nor `Deny`"#,
            ),
            (
                r#"{"Effect":"Allow","Action":[],"Resource":"*"}"#,
                "statement 2 has an empty Action list",
            ),
            (
                r#"{"Effect":"Allow","Action":"a:B","Resource":[1]}"#,
                "statement 2 has 1 in Resource, which is not a string",
            ),
            (
                r#"{"Effect":"Allow","Action":"GetObject","Resource":"*"}"#,
                "statement 2 has a bad Action: invalid IAM action `GetObject`: expected \
                 `service:Action`",
            ),
            (
                r#"{"Effect":"Allow","Principal":{"Users":"x"},"Action":"a:B"}"#,
                "statement 2 has unknown Principal kind `Users`; IAM knows AWS, CanonicalUser, \
                 Federated and Service",
            ),
            (
                r#"{"Effect":"Allow","Principal":"everyone","Action":"a:B"}"#,
                "statement 2 has Principal \"everyone\", neither `*` nor an object of principal \
                 kinds",
            ),
            (
                r#"{"Effect":"Allow","Action":"a:B","Resource":"*",
                    "Condition":{"StringEquals":{}}}"#,
                "statement 2 has a bad Condition: condition operator `StringEquals` has no \
                 condition key",
            ),
            ("[]", "statement 2 is not an object"),
        ] {
            check_error(&wrap(statement), expect);
        }
    }

    #[test]
    fn document_level_errors() {
        for (input, expect) in [
            ("[]", "the document is not an object"),
            (r#"{"Version":"2012-10-17"}"#, "the document has no Statement"),
            (r#"{"Statement":[]}"#, "the Statement list is empty"),
            (r#"{"Statement":"x"}"#, "Statement is neither an object nor a list"),
            (
                r#"{"Version":"2010-01-01","Statement":[]}"#,
                "Version `2010-01-01` is neither `2012-10-17` nor `2008-10-17`",
            ),
            (r#"{"Version":"2012-10-17","Statements":[]}"#, "unknown top-level key `Statements`"),
        ] {
            check_error(input, expect);
        }
        let error = PolicyDocument::parse("{").unwrap_err().to_string();
        assert!(error.starts_with("invalid policy document: not JSON: "), "{error}");
    }

    #[test]
    fn size_counts_characters_without_whitespace() {
        let document = PolicyDocument::new(vec![Statement::allow(
            [ActionPattern::parse("eks:DescribeCluster").unwrap()],
            ["*"],
        )]);
        let compact = concat!(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","#,
            r#""Action":"eks:DescribeCluster","Resource":"*"}]}"#
        );
        assert_eq!(document.size_without_whitespace(), compact.len());
        assert_eq!(
            document.size_without_whitespace(),
            document.to_pretty_json().chars().filter(|c| !c.is_whitespace()).count()
        );
    }

    #[test]
    fn serde_goes_through_the_same_reader_and_writer() {
        let document: PolicyDocument = serde_json::from_str(
            r#"{"Version":"2012-10-17",
                "Statement":{"Effect":"Allow","Action":"a:B","Resource":"*"}}"#,
        )
        .unwrap();
        assert_eq!(serde_json::to_value(&document).unwrap(), document.to_value());
        let error = serde_json::from_str::<PolicyDocument>(r#"{"Statement":{}}"#).unwrap_err();
        assert!(error.to_string().contains("statement 1 has no Effect"), "{error}");
    }

    #[test]
    fn statement_matching_helpers() {
        let statement = &PolicyDocument::parse(
            r#"{"Version":"2012-10-17","Statement":{"Effect":"Deny","NotAction":"iam:Get*",
                "NotResource":"arn:aws:s3:::keep/*"}}"#,
        )
        .unwrap()
        .statements[0];
        let action = |text| Action::parse(text).unwrap();
        assert!(!statement.matches_action(&action("iam:GetRole")));
        assert!(statement.matches_action(&action("iam:DeleteRole")));
        assert!(!statement.matches_resource("arn:aws:s3:::keep/a"));
        assert!(statement.matches_resource("arn:aws:s3:::KEEP/a"));
        assert_eq!(statement.sid_or_dash(), "-");
    }
}
