//! Policy documents built from grants: merged, named, ordered and split to fit IAM's size limit.
//!
//! The output depends only on what the grants say, never on the order they come in, so the
//! committed documents change exactly when a tool's permissions do.

use std::collections::{BTreeMap, BTreeSet};

use crate::document::MANAGED_POLICY_SIZE_LIMIT;
use crate::{
    Action, ActionPattern, ArnContext, Conditions, Error, Grant, PolicyDocument, Result, Statement,
};

/// How [`build_documents`] names statements, renders resources and sizes documents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildOptions {
    /// The start of every Sid, such as `Core`; ASCII letters and digits only.
    pub sid_prefix: String,
    /// Fills the placeholders of resource templates.
    pub context: ArnContext,
    /// The most characters, without whitespace, one document may have.
    pub size_limit: usize,
}

impl BuildOptions {
    /// Options with `sid_prefix`, the default context and IAM's managed policy limit.
    pub fn new(sid_prefix: impl Into<String>) -> Self {
        Self { sid_prefix: sid_prefix.into(), ..Self::default() }
    }
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            sid_prefix: "Clu".into(),
            context: ArnContext::default(),
            size_limit: MANAGED_POLICY_SIZE_LIMIT,
        }
    }
}

/// Builds the Allow documents that grant exactly `grants`.
///
/// Actions that share the same rendered resources and conditions become one statement, whichever
/// grants they came from. Statements are ordered by their actions, then resources, then
/// conditions, and named `{prefix}{Service}` after the service of their first action, with `2`,
/// `3`, ... for the further statements of that service. When the statements together exceed
/// the size limit they are packed, in order, into as many documents as needed; a statement too
/// large for a document of its own is split by its actions into parts named `{sid}Part1`,
/// `{sid}Part2`, ... An empty list of grants builds no document.
///
/// # Errors
///
/// [`Error::StatementTooLarge`] when one action with its resources alone exceeds the limit,
/// [`Error::GrantWithoutResources`] for a grant with actions but no resource, and
/// [`Error::InvalidSidPrefix`] for a prefix IAM would refuse in a Sid.
pub fn build_documents(grants: &[Grant], options: &BuildOptions) -> Result<Vec<PolicyDocument>> {
    if !options.sid_prefix.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::InvalidSidPrefix { prefix: options.sid_prefix.clone() });
    }

    let groups = merge(grants, &options.context)?;
    let statements = name(groups, &options.sid_prefix);

    let mut pieces = Vec::new();
    for statement in statements {
        pieces.extend(split_to_fit(statement, options.size_limit)?);
    }
    Ok(pack(pieces, options.size_limit))
}

/// The actions, rendered resources and conditions of one statement before it has a Sid.
struct Group {
    actions: Vec<Action>,
    resources: BTreeSet<String>,
    conditions: Conditions,
}

impl Group {
    fn statement(&self, sid: &str, actions: &[Action]) -> Statement {
        Statement::allow(actions.iter().map(ActionPattern::from), self.resources.iter().cloned())
            .with_sid(sid)
            .with_condition(self.conditions.clone())
    }
}

/// Groups every action by its (rendered resources, conditions), sorted by content.
fn merge(grants: &[Grant], context: &ArnContext) -> Result<Vec<Group>> {
    let mut by_target: BTreeMap<(BTreeSet<String>, Conditions), BTreeSet<Action>> = BTreeMap::new();
    for grant in grants.iter().filter(|grant| !grant.actions.is_empty()) {
        if grant.resources.is_empty() {
            let actions: Vec<String> =
                grant.actions.iter().map(|action| format!("`{action}`")).collect();
            return Err(Error::GrantWithoutResources { actions: actions.join(", ") });
        }
        let mut resources: BTreeSet<String> =
            grant.resources.iter().map(|template| template.render(context)).collect();
        // `*` already covers every other resource; keeping the others would only add size.
        if resources.contains("*") {
            resources = BTreeSet::from(["*".to_owned()]);
        }
        by_target
            .entry((resources, grant.conditions.clone()))
            .or_default()
            .extend(grant.actions.iter().cloned());
    }

    let mut groups: Vec<Group> = by_target
        .into_iter()
        .map(|((resources, conditions), actions)| Group {
            actions: actions.into_iter().collect(),
            resources,
            conditions,
        })
        .collect();
    groups.sort_by(|a, b| {
        (&a.actions, &a.resources, &a.conditions).cmp(&(&b.actions, &b.resources, &b.conditions))
    });
    Ok(groups)
}

/// Gives each group its Sid: the prefix, the service of its first action, and a number from
/// the second statement of a service on.
fn name(groups: Vec<Group>, prefix: &str) -> Vec<(String, Group)> {
    let mut used = BTreeSet::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    groups
        .into_iter()
        .map(|group| {
            let service =
                group.actions.first().map(|a| service_word(a.prefix())).unwrap_or_default();
            let count = counts.entry(service.clone()).or_default();
            let sid = loop {
                *count += 1;
                let candidate = match *count {
                    1 => format!("{prefix}{service}"),
                    n => format!("{prefix}{service}{n}"),
                };
                if used.insert(candidate.clone()) {
                    break candidate;
                }
            };
            (sid, group)
        })
        .collect()
}

/// `resource-groups` → `ResourceGroups`: the service prefix as a Sid-safe word.
fn service_word(prefix: &str) -> String {
    prefix
        .split(|c: char| !c.is_ascii_alphanumeric())
        .flat_map(|part| {
            let mut chars = part.chars();
            chars.next().map(|first| first.to_ascii_uppercase()).into_iter().chain(chars)
        })
        .collect()
}

fn size_alone(statement: &Statement) -> usize {
    PolicyDocument::new(vec![statement.clone()]).size_without_whitespace()
}

/// The statement itself when it fits a document alone, otherwise parts of it that each do.
fn split_to_fit((sid, group): (String, Group), limit: usize) -> Result<Vec<Statement>> {
    let whole = group.statement(&sid, &group.actions);
    if size_alone(&whole) <= limit {
        return Ok(vec![whole]);
    }

    let mut parts = Vec::new();
    let mut taken: Vec<Action> = Vec::new();
    for action in &group.actions {
        let part_sid = format!("{sid}Part{}", parts.len() + 1);
        taken.push(action.clone());
        if size_alone(&group.statement(&part_sid, &taken)) <= limit {
            continue;
        }

        // The part was full before this action; close it and start the next one with it.
        taken.pop();
        if !taken.is_empty() {
            parts.push(group.statement(&part_sid, &taken));
            taken.clear();
        }
        let part_sid = format!("{sid}Part{}", parts.len() + 1);
        let alone = group.statement(&part_sid, std::slice::from_ref(action));
        let size = size_alone(&alone);
        if size > limit {
            return Err(Error::StatementTooLarge { sid, size, limit });
        }
        taken.push(action.clone());
    }
    if !taken.is_empty() {
        let part_sid = format!("{sid}Part{}", parts.len() + 1);
        parts.push(group.statement(&part_sid, &taken));
    }
    Ok(parts)
}

/// Fills documents with the statements in order, starting a new one when the next would not fit.
fn pack(statements: Vec<Statement>, limit: usize) -> Vec<PolicyDocument> {
    let mut documents = Vec::new();
    let mut current = PolicyDocument::new(Vec::new());
    for statement in statements {
        current.statements.push(statement);
        if current.statements.len() > 1 && current.size_without_whitespace() > limit {
            let overflow = current.statements.pop().into_iter().collect();
            documents.push(std::mem::replace(&mut current, PolicyDocument::new(overflow)));
        }
    }
    if !current.statements.is_empty() {
        documents.push(current);
    }
    documents
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn grant(actions: &[&str], resources: &[&str]) -> Grant {
        Grant::new(actions.iter().copied(), resources.iter().copied()).unwrap()
    }

    fn build(grants: &[Grant], options: &BuildOptions) -> Vec<String> {
        build_documents(grants, options)
            .unwrap()
            .iter()
            .map(PolicyDocument::to_pretty_json)
            .collect()
    }

    fn sample_grants() -> Vec<Grant> {
        let log_groups = "arn:{partition}:logs:{region}:{account}:log-group:*";
        let region = Conditions::new().with("StringEquals", "aws:RequestedRegion", ["eu-west-1"]);
        vec![
            grant(&["logs:StartQuery", "logs:FilterLogEvents"], &[log_groups]),
            grant(
                &["eks:DescribeCluster"],
                &["arn:{partition}:eks:{region}:{account}:cluster/{cluster}"],
            ),
            grant(&["logs:GetQueryResults"], &["*"]).with_wildcard_reason("no resource type"),
            grant(&["logs:GetLogEvents"], &[log_groups]),
            grant(&["logs:DescribeLogGroups"], &["*"]).with_conditions(region),
            grant(&["logs:StopQuery"], &["*"]),
        ]
    }

    #[test]
    fn merges_actions_that_share_resources_and_conditions() {
        let options = BuildOptions {
            context: ArnContext { account: "123456789012".into(), ..ArnContext::default() },
            ..BuildOptions::new("Core")
        };
        let documents = build(&sample_grants(), &options);
        assert_eq!(documents.len(), 1);
        assert_eq!(
            documents[0],
            r#"{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "CoreEks",
      "Effect": "Allow",
      "Action": "eks:DescribeCluster",
      "Resource": "arn:aws:eks:*:123456789012:cluster/*"
    },
    {
      "Sid": "CoreLogs",
      "Effect": "Allow",
      "Action": "logs:DescribeLogGroups",
      "Resource": "*",
      "Condition": {
        "StringEquals": {
          "aws:RequestedRegion": "eu-west-1"
        }
      }
    },
    {
      "Sid": "CoreLogs2",
      "Effect": "Allow",
      "Action": [
        "logs:FilterLogEvents",
        "logs:GetLogEvents",
        "logs:StartQuery"
      ],
      "Resource": "arn:aws:logs:*:123456789012:log-group:*"
    },
    {
      "Sid": "CoreLogs3",
      "Effect": "Allow",
      "Action": [
        "logs:GetQueryResults",
        "logs:StopQuery"
      ],
      "Resource": "*"
    }
  ]
}
"#
        );
    }

    #[test]
    fn output_does_not_depend_on_grant_order() {
        let options = BuildOptions::new("Core");
        let grants = sample_grants();
        let expect = build(&grants, &options);
        let mut reversed = grants.clone();
        reversed.reverse();
        assert_eq!(build(&reversed, &options), expect);
        for shift in 1..grants.len() {
            let mut rotated = grants.clone();
            rotated.rotate_left(shift);
            assert_eq!(build(&rotated, &options), expect, "rotated by {shift}");
        }
    }

    #[test]
    fn the_bare_star_absorbs_other_resources() {
        let documents = build_documents(
            &[grant(&["s3:GetObject"], &["*", "arn:aws:s3:::b/*"])],
            &BuildOptions::default(),
        )
        .unwrap();
        assert_eq!(
            documents[0].statements[0].resource,
            Some(crate::document::Resources::Resource(vec!["*".into()]))
        );
    }

    #[test]
    fn splits_into_documents_under_a_small_limit() {
        let grants = sample_grants();
        let options = BuildOptions { size_limit: 260, ..BuildOptions::new("Core") };
        let documents = build_documents(&grants, &options).unwrap();
        assert!(documents.len() > 1, "{documents:#?}");
        for document in &documents {
            assert!(document.size_without_whitespace() <= 260, "{}", document.to_pretty_json());
        }

        let sids: Vec<&str> =
            documents.iter().flat_map(|d| &d.statements).map(Statement::sid_or_dash).collect();
        assert_eq!(sids, ["CoreEks", "CoreLogs", "CoreLogs2", "CoreLogs3"]);
        assert_eq!(build_documents(&grants, &options).unwrap(), documents);
    }

    #[test]
    fn splits_a_statement_too_large_alone_by_its_actions() {
        let actions =
            ["logs:StartQuery", "logs:StopQuery", "logs:GetQueryResults", "logs:GetLogEvents"];
        let options = BuildOptions { size_limit: 150, ..BuildOptions::new("Core") };
        let documents = build_documents(&[grant(&actions, &["*"])], &options).unwrap();

        let mut seen = Vec::new();
        for document in &documents {
            assert!(document.size_without_whitespace() <= 150, "{}", document.to_pretty_json());
            for statement in &document.statements {
                assert!(statement.sid_or_dash().starts_with("CoreLogsPart"), "{statement:?}");
                seen.extend(statement.action.patterns().iter().map(|p| p.to_string()));
            }
        }
        seen.sort_by_key(|text| text.to_ascii_lowercase());
        let mut expect = actions.map(String::from).to_vec();
        expect.sort_by_key(|text| text.to_ascii_lowercase());
        assert_eq!(seen, expect);
    }

    #[test]
    fn one_action_over_the_limit_is_an_error() {
        let options = BuildOptions { size_limit: 60, ..BuildOptions::new("Core") };
        let error = build_documents(&[grant(&["logs:StartQuery"], &["*"])], &options).unwrap_err();
        let Error::StatementTooLarge { sid, size, limit } = error else {
            panic!("unexpected {error:?}");
        };
        assert_eq!((sid.as_str(), limit), ("CoreLogs", 60));
        assert!(size > 60, "{size}");
    }

    #[test]
    fn no_grants_build_no_document() {
        assert_eq!(build_documents(&[], &BuildOptions::default()).unwrap(), Vec::new());
    }

    #[test]
    fn refuses_a_grant_without_resources_and_a_bad_prefix() {
        let error = build_documents(
            &[grant(&["logs:StartQuery", "logs:StopQuery"], &[])],
            &BuildOptions::default(),
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "the grant of `logs:StartQuery`, `logs:StopQuery` has no resource"
        );
        let error = build_documents(&[], &BuildOptions::new("Core-1")).unwrap_err();
        assert_eq!(error, Error::InvalidSidPrefix { prefix: "Core-1".into() });
    }

    #[test]
    fn service_words_are_sid_safe() {
        assert_eq!(service_word("resource-groups"), "ResourceGroups");
        assert_eq!(service_word("ec2"), "Ec2");
    }
}
