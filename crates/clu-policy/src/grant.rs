//! Grants: what a tool declares it needs, before they are rendered into a policy document.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Action, Conditions, Error, Result};

/// The placeholders a resource template may use, each filled from an [`ArnContext`].
pub const PLACEHOLDERS: [&str; 4] = ["partition", "region", "account", "cluster"];

/// A resource ARN with placeholders, such as `arn:{partition}:logs:{region}:{account}:log-group:*`.
///
/// Tools declare templates rather than ARNs because the partition, region, account and cluster
/// are only known where the agent is installed. `*` alone is the whole-service resource.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ResourceTemplate(String);

impl ResourceTemplate {
    /// Parses a template, refusing unknown placeholders and unbalanced braces.
    pub fn parse(template: &str) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidResourceTemplate {
            template: template.to_owned(),
            reason,
        };
        if template != "*" && !template.starts_with("arn:") {
            return Err(invalid("a resource is `*` or an ARN starting with `arn:`".into()));
        }
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| invalid("a `{` has no matching `}`".into()))?;
            let name = &rest[open + 1..open + close];
            if !PLACEHOLDERS.contains(&name) {
                return Err(invalid(format!(
                    "unknown placeholder `{{{name}}}`; known are {}",
                    PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
                )));
            }
            rest = &rest[open + close + 1..];
        }
        if rest.contains('}') {
            return Err(invalid("a `}` has no matching `{`".into()));
        }
        if template.starts_with("arn:") && template.split(':').count() < 6 {
            return Err(invalid(
                "an ARN has six `:`-separated parts: arn:partition:service:region:account:resource"
                    .into(),
            ));
        }
        Ok(Self(template.to_owned()))
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is the bare `*` resource.
    pub fn is_any(&self) -> bool {
        self.0 == "*"
    }

    /// Fills the placeholders from `context`.
    pub fn render(&self, context: &ArnContext) -> String {
        let mut out = self.0.clone();
        for (name, value) in context.values() {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
    }
}

impl TryFrom<String> for ResourceTemplate {
    type Error = Error;

    fn try_from(template: String) -> Result<Self> {
        Self::parse(&template)
    }
}

impl From<ResourceTemplate> for String {
    fn from(template: ResourceTemplate) -> Self {
        template.0
    }
}

impl fmt::Display for ResourceTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ResourceTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResourceTemplate({})", self.0)
    }
}

/// Where the agent runs, used to fill resource templates.
///
/// An unknown part stays `*`, which keeps the committed documents deployable in any account
/// while the operator can render a tighter one for their own account, region and cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArnContext {
    /// The AWS partition, `aws` unless in China or GovCloud.
    pub partition: String,
    /// The region, or `*`.
    pub region: String,
    /// The twelve-digit account id, or `*`.
    pub account: String,
    /// The EKS cluster name, or `*`.
    pub cluster: String,
}

impl Default for ArnContext {
    fn default() -> Self {
        Self {
            partition: "aws".into(),
            region: "*".into(),
            account: "*".into(),
            cluster: "*".into(),
        }
    }
}

impl ArnContext {
    fn values(&self) -> [(&'static str, &str); 4] {
        [
            ("partition", &self.partition),
            ("region", &self.region),
            ("account", &self.account),
            ("cluster", &self.cluster),
        ]
    }
}

/// Actions a tool needs on a set of resources, optionally under conditions.
///
/// A grant whose resource is `*` for an action that supports resource-level scoping must say
/// why in `wildcard_reason`; the registry tests and the lint hold that.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The actions, each known to the catalogue.
    pub actions: BTreeSet<Action>,
    /// The resources the actions apply to.
    pub resources: BTreeSet<ResourceTemplate>,
    /// Conditions every request must meet.
    #[serde(default, skip_serializing_if = "Conditions::is_empty")]
    pub conditions: Conditions,
    /// Why the grant needs `*` where the action could be scoped to resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wildcard_reason: Option<String>,
}

impl Grant {
    /// A grant of `actions` on `resources`. Panics are avoided: invalid text is an error.
    pub fn new<'a>(
        actions: impl IntoIterator<Item = &'a str>,
        resources: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self> {
        Ok(Self {
            actions: actions.into_iter().map(Action::parse).collect::<Result<_>>()?,
            resources: resources.into_iter().map(ResourceTemplate::parse).collect::<Result<_>>()?,
            conditions: Conditions::new(),
            wildcard_reason: None,
        })
    }

    /// Adds conditions to the grant.
    pub fn with_conditions(mut self, conditions: Conditions) -> Self {
        self.conditions = conditions;
        self
    }

    /// States why the grant uses the `*` resource.
    pub fn with_wildcard_reason(mut self, reason: impl Into<String>) -> Self {
        self.wildcard_reason = Some(reason.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_placeholders_from_the_context() {
        let template =
            ResourceTemplate::parse("arn:{partition}:eks:{region}:{account}:cluster/{cluster}")
                .unwrap();
        let context = ArnContext {
            region: "eu-west-1".into(),
            account: "123456789012".into(),
            cluster: "prod".into(),
            ..ArnContext::default()
        };
        assert_eq!(template.render(&context), "arn:aws:eks:eu-west-1:123456789012:cluster/prod");
        assert_eq!(template.render(&ArnContext::default()), "arn:aws:eks:*:*:cluster/*");
    }

    #[test]
    fn refuses_unknown_placeholders_and_broken_templates() {
        let error = ResourceTemplate::parse("arn:{partition}:s3:::{bucket}").unwrap_err();
        assert!(error.to_string().contains("unknown placeholder `{bucket}`"), "{error}");
        assert!(ResourceTemplate::parse("arn:{partition:s3:::x").is_err());
        assert!(ResourceTemplate::parse("arn:aws:s3}:::x").is_err());
        assert!(ResourceTemplate::parse("bucket").is_err());
        assert!(ResourceTemplate::parse("arn:aws:s3").is_err());
        assert!(ResourceTemplate::parse("*").unwrap().is_any());
    }

    #[test]
    fn a_grant_refuses_an_invalid_action() {
        assert!(Grant::new(["logs:Start*"], ["*"]).is_err());
        let grant = Grant::new(["logs:StartQuery", "logs:startquery"], ["*"]).unwrap();
        assert_eq!(grant.actions.len(), 1);
    }
}
