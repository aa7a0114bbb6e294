//! Lint for identity policy documents, checked against the offline catalogue.
//!
//! Every finding carries a stable kebab-case code, so scripts and tests can rely on it and a
//! reader can look it up in [`CODES`]. Deny statements only take permissions away, so they are
//! not linted for writes in a read-only tier, wildcards or unscoped resources; a misspelt action
//! or a resource that fits nothing is reported for them too, because it makes the Deny miss.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use crate::catalog::{ActionInfo, ResourceType};
use crate::document::{Actions, Effect, MANAGED_POLICY_SIZE_LIMIT, Resources};
use crate::{Action, Catalog, PolicyDocument, Statement};

/// An exact action the catalogue does not know, or a pattern that matches no known action.
pub const UNKNOWN_ACTION: &str = "unknown-action";
/// An action beyond List and Read in a document linted as read-only.
pub const WRITE_IN_READ_ONLY_TIER: &str = "write-in-read-only-tier";
/// An Allow statement uses an action wildcard or `NotAction`.
pub const WILDCARD_ACTION: &str = "wildcard-action";
/// A resource fits none of its actions' resource types, or an action none of its resources.
pub const RESOURCE_MISMATCH: &str = "resource-mismatch";
/// An action that can be scoped to resources is allowed on every resource.
pub const UNSCOPED_RESOURCE: &str = "unscoped-resource";
/// The document is over the size limit, counted without whitespace.
pub const DOCUMENT_TOO_LARGE: &str = "document-too-large";
/// Every code [`lint_document`] can report, sorted.
pub const CODES: [&str; 6] = [
    DOCUMENT_TOO_LARGE,
    RESOURCE_MISMATCH,
    UNKNOWN_ACTION,
    UNSCOPED_RESOURCE,
    WILDCARD_ACTION,
    WRITE_IN_READ_ONLY_TIER,
];

/// One problem found in a document. Displays as `SID: CODE: message`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The Sid of the statement, or `-` when it has none or the finding is about the document.
    pub sid: String,
    /// The stable code, one of [`CODES`] or of [`crate::trust::TRUST_CODES`].
    pub code: &'static str,
    /// What is wrong, for a person.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.sid, self.code, self.message)
    }
}

/// What [`lint_document`] holds a document to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LintOptions {
    /// Whether the document belongs to a read-only tier, where only List and Read may appear.
    pub read_only: bool,
    /// Sids of statements that may write even in a read-only document.
    pub write_sids: BTreeSet<String>,
    /// Actions accepted on the `*` resource although they could be scoped.
    pub accepted_wildcards: BTreeSet<Action>,
    /// The most characters, without whitespace, the document may have.
    pub size_limit: usize,
}

impl Default for LintOptions {
    fn default() -> Self {
        Self {
            read_only: false,
            write_sids: BTreeSet::new(),
            accepted_wildcards: BTreeSet::new(),
            size_limit: MANAGED_POLICY_SIZE_LIMIT,
        }
    }
}

/// Lints `document` against `catalog`, returning findings ordered by statement, then code,
/// with a finding about the whole document last.
pub fn lint_document(
    document: &PolicyDocument,
    catalog: &Catalog,
    options: &LintOptions,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for statement in &document.statements {
        let mut found = StatementLint { statement, catalog, options, found: Vec::new() }.run();
        found.sort_by_key(|finding| finding.code);
        findings.extend(found);
    }

    let size = document.size_without_whitespace();
    if size > options.size_limit {
        findings.push(Finding {
            sid: "-".into(),
            code: DOCUMENT_TOO_LARGE,
            message: format!(
                "the document is {size} characters without whitespace, over the limit of {}",
                options.size_limit
            ),
        });
    }
    findings
}

/// How many matched actions a finding names before it says "and N more".
const EXAMPLES: usize = 3;

struct StatementLint<'a> {
    statement: &'a Statement,
    catalog: &'a Catalog,
    options: &'a LintOptions,
    found: Vec<Finding>,
}

impl<'a> StatementLint<'a> {
    fn run(mut self) -> Vec<Finding> {
        let allow = self.statement.effect == Effect::Allow;
        let may_write =
            self.statement.sid.as_ref().is_some_and(|sid| self.options.write_sids.contains(sid));
        let check_writes = allow && self.options.read_only && !may_write;

        // The known actions the statement names exactly, and whether that is all it names; a
        // wildcard, an unknown action or a NotAction makes the statement's reach more than a
        // list, and a `NotAction` list is what the statement does not cover.
        let mut known: Vec<&'a ActionInfo> = Vec::new();
        let mut complete = matches!(self.statement.action, Actions::Action(_));
        for pattern in self.statement.action.patterns() {
            let matched: Vec<&'a ActionInfo> = self.catalog.matching(pattern).collect();
            if matched.is_empty() {
                let message = if pattern.is_wildcard() {
                    format!("`{pattern}` matches no known IAM action")
                } else {
                    let hint = self
                        .catalog
                        .suggest(pattern.as_str())
                        .map(|info| format!("; did you mean `{}`?", info.action))
                        .unwrap_or_default();
                    format!("`{pattern}` is not a known IAM action{hint}")
                };
                self.push(UNKNOWN_ACTION, message);
            }

            let Actions::Action(_) = self.statement.action else { continue };
            match (pattern.is_wildcard(), matched.as_slice()) {
                (false, [info]) => known.push(info),
                _ => complete = false,
            }
            if allow && pattern.is_wildcard() {
                self.push(
                    WILDCARD_ACTION,
                    format!("`{pattern}` is a wildcard; name the actions the statement needs"),
                );
            }
            if check_writes {
                self.check_writes(pattern.as_str(), &matched);
            }
        }

        if let Actions::NotAction(_) = self.statement.action {
            if allow {
                self.push(
                    WILDCARD_ACTION,
                    "NotAction in an Allow statement grants every action it does not list".into(),
                );
            }
            if check_writes {
                self.push(
                    WRITE_IN_READ_ONLY_TIER,
                    "NotAction in an Allow statement grants actions beyond List and Read".into(),
                );
            }
        }

        if let Some(Resources::Resource(resources)) = &self.statement.resource {
            self.check_fit(&known, complete, resources);
        }
        if allow {
            self.check_scoping(&known);
        }
        self.found
    }

    fn push(&mut self, code: &'static str, message: String) {
        let sid = self.statement.sid_or_dash().to_owned();
        self.found.push(Finding { sid, code, message });
    }

    fn check_writes(&mut self, pattern: &str, matched: &[&ActionInfo]) {
        let writes: Vec<&&ActionInfo> =
            matched.iter().filter(|info| !info.access_level.is_read_only()).collect();
        let message = match writes.as_slice() {
            [] => return,
            [info] if info.action.as_str().eq_ignore_ascii_case(pattern) => format!(
                "`{}` is a {} action in a read-only document",
                info.action, info.access_level
            ),
            many => {
                let mut names: Vec<String> =
                    many.iter().take(EXAMPLES).map(|info| format!("`{}`", info.action)).collect();
                if many.len() > EXAMPLES {
                    names.push(format!("{} more", many.len() - EXAMPLES));
                }
                format!(
                    "`{pattern}` matches actions beyond List and Read in a read-only document: {}",
                    names.join(", ")
                )
            }
        };
        self.push(WRITE_IN_READ_ONLY_TIER, message);
    }

    /// Reports resources no action of the statement can be about, when the statement names
    /// every action exactly (`complete`), then known actions that none of the statement's
    /// resources fit. ARNs with policy variables are not checked: their reach is not plain text.
    fn check_fit(&mut self, known: &[&'a ActionInfo], complete: bool, resources: &[String]) {
        if known.is_empty() {
            return;
        }
        let any = resources.iter().any(|resource| resource == "*");
        let specific: Vec<&String> = resources
            .iter()
            .filter(|resource| *resource != "*" && !resource.contains("${"))
            .collect();
        if specific.len() + usize::from(any) < resources.len() {
            return;
        }

        let typed: Vec<(&ActionInfo, Vec<&ResourceType>)> =
            known.iter().map(|info| (*info, self.resource_types(info))).collect();
        let all_types: Vec<&ResourceType> =
            typed.iter().flat_map(|(_, types)| types).copied().collect();

        let mut dead = 0;
        if complete && !all_types.is_empty() {
            for resource in &specific {
                if !all_types.iter().any(|resource_type| resource_type.fits(resource)) {
                    dead += 1;
                    self.push(
                        RESOURCE_MISMATCH,
                        format!(
                            "`{resource}` fits no resource type of the statement's actions ({})",
                            type_names(&all_types)
                        ),
                    );
                }
            }
        }
        if any || dead == specific.len() {
            // `*` fits every action, and resources already reported need no second finding.
            return;
        }

        for (info, types) in &typed {
            let message = if info.resource_types.is_empty() {
                format!(
                    "`{}` supports only the `*` resource, which the statement does not list",
                    info.action
                )
            } else if types.is_empty()
                || specific.iter().any(|resource| types.iter().any(|t| t.fits(resource)))
            {
                continue;
            } else {
                format!(
                    "`{}` takes {}, which none of the statement's resources fits",
                    info.action,
                    type_names(types)
                )
            };
            self.push(RESOURCE_MISMATCH, message);
        }
    }

    fn check_scoping(&mut self, known: &[&ActionInfo]) {
        let everything = match &self.statement.resource {
            Some(Resources::Resource(resources)) => resources.iter().any(|r| r == "*"),
            Some(Resources::NotResource(_)) => true,
            None => false,
        };
        if !everything {
            return;
        }
        for info in known {
            if !info.supports_resource_scoping()
                || self.options.accepted_wildcards.contains(&info.action)
            {
                continue;
            }
            let types = self.resource_types(info);
            self.push(
                UNSCOPED_RESOURCE,
                format!(
                    "`{}` can be scoped to {} but is allowed on every resource",
                    info.action,
                    type_names(&types)
                ),
            );
        }
    }

    fn resource_types(&self, info: &ActionInfo) -> Vec<&'a ResourceType> {
        let prefix = info.action.prefix();
        info.resource_types
            .iter()
            .filter_map(|resource| self.catalog.resource_type(prefix, &resource.name))
            .collect()
    }
}

/// `log-group, log-stream`: the distinct names of `types`, in order, for a message.
fn type_names(types: &[&ResourceType]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for resource_type in types {
        if !names.contains(&resource_type.name.as_str()) {
            names.push(&resource_type.name);
        }
    }
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn lint(statements: &str, options: &LintOptions) -> Vec<String> {
        let document = PolicyDocument::parse(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{statements}]}}"#
        ))
        .unwrap();
        lint_document(&document, Catalog::embedded(), options)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn read_only() -> LintOptions {
        LintOptions { read_only: true, ..LintOptions::default() }
    }

    const CLEAN: &str = r#"
        {"Sid":"Describe","Effect":"Allow","Action":["eks:DescribeCluster","eks:ListNodegroups"],
         "Resource":"arn:aws:eks:*:*:cluster/*"},
        {"Sid":"Logs","Effect":"Allow","Action":["logs:StartQuery","logs:FilterLogEvents"],
         "Resource":"arn:aws:logs:*:*:log-group:/aws/eks/*"},
        {"Sid":"Streams","Effect":"Allow","Action":["logs:GetLogEvents"],
         "Resource":"arn:aws:logs:*:*:log-group:/aws/eks/*:log-stream:*"},
        {"Sid":"Global","Effect":"Allow","Action":["logs:StopQuery","ec2:DescribeInstances"],
         "Resource":"*"}"#;

    #[test]
    fn a_clean_read_only_document_has_no_finding() {
        assert_eq!(lint(CLEAN, &read_only()), Vec::<String>::new());
    }

    #[test]
    fn unknown_actions_get_a_suggestion() {
        assert_eq!(
            lint(
                r#"{"Sid":"Typo","Effect":"Allow","Action":["logs:StartQeury","logs:Fetch*"],
                    "Resource":"*"}"#,
                &LintOptions::default()
            ),
            [
                "Typo: unknown-action: `logs:Fetch*` matches no known IAM action",
                "Typo: unknown-action: `logs:StartQeury` is not a known IAM action; did you mean \
                 `logs:StartQuery`?",
                "Typo: wildcard-action: `logs:Fetch*` is a wildcard; name the actions the \
                 statement needs",
            ]
        );
    }

    #[test]
    fn writes_in_a_read_only_document() {
        let statements = r#"
            {"Sid":"Cleanup","Effect":"Allow","Action":"eks:DeleteCluster",
             "Resource":"arn:aws:eks:*:*:cluster/*"},
            {"Effect":"Allow","Action":"logs:Put*","Resource":"arn:aws:logs:*:*:log-group:*"}"#;
        let found = lint(statements, &read_only());
        assert_eq!(
            found[0],
            "Cleanup: write-in-read-only-tier: `eks:DeleteCluster` is a Write action in a \
             read-only document"
        );
        assert!(
            found.iter().any(|f| f.starts_with(
                "-: write-in-read-only-tier: `logs:Put*` matches actions beyond List and Read in a \
                 read-only document: `logs:PutAccountPolicy`"
            )),
            "{found:#?}"
        );

        let allowed =
            LintOptions { write_sids: BTreeSet::from(["Cleanup".to_owned()]), ..read_only() };
        assert!(!lint(statements, &allowed).iter().any(|f| f.starts_with("Cleanup:")));
        assert_eq!(
            lint(statements, &LintOptions::default())
                .iter()
                .filter(|f| f.contains(WRITE_IN_READ_ONLY_TIER))
                .count(),
            0
        );
    }

    #[test]
    fn not_action_in_an_allow_statement() {
        assert_eq!(
            lint(
                r#"{"Sid":"Broad","Effect":"Allow","NotAction":"iam:*","Resource":"*"}"#,
                &read_only()
            ),
            [
                "Broad: wildcard-action: NotAction in an Allow statement grants every action it \
                 does not list",
                "Broad: write-in-read-only-tier: NotAction in an Allow statement grants actions \
                 beyond List and Read",
            ]
        );
    }

    #[test]
    fn deny_statements_are_not_linted_for_writes_wildcards_or_scoping() {
        let statements = r#"
            {"Sid":"Guard","Effect":"Deny","Action":["eks:Delete*","eks:DeleteCluster"],
             "Resource":"*"},
            {"Sid":"Guard2","Effect":"Deny","NotAction":"eks:Describe*","Resource":"*"}"#;
        assert_eq!(lint(statements, &read_only()), Vec::<String>::new());
        assert_eq!(
            lint(
                r#"{"Sid":"Guard","Effect":"Deny","Action":"eks:DeleteClustr","Resource":"*"}"#,
                &read_only()
            ),
            ["Guard: unknown-action: `eks:DeleteClustr` is not a known IAM action; did you mean \
              `eks:DeleteCluster`?"]
        );
    }

    #[test]
    fn resources_that_fit_no_action_and_actions_no_resource_fits() {
        assert_eq!(
            lint(
                r#"{"Sid":"Wrong","Effect":"Allow","Action":"eks:DescribeCluster",
                    "Resource":"arn:aws:logs:*:*:log-group:*"}"#,
                &LintOptions::default()
            ),
            ["Wrong: resource-mismatch: `arn:aws:logs:*:*:log-group:*` fits no resource type of \
              the statement's actions (cluster)"]
        );
        assert_eq!(
            lint(
                r#"{"Sid":"Mixed","Effect":"Allow","Action":["logs:StartQuery","logs:GetLogEvents"],
                    "Resource":"arn:aws:logs:*:*:log-group:app"}"#,
                &LintOptions::default()
            ),
            ["Mixed: resource-mismatch: `logs:GetLogEvents` takes log-stream, which none of the \
              statement's resources fits"]
        );
        assert_eq!(
            lint(
                r#"{"Sid":"Star","Effect":"Allow","Action":["logs:StopQuery"],
                    "Resource":"arn:aws:logs:*:*:log-group:app"}"#,
                &LintOptions::default()
            ),
            ["Star: resource-mismatch: `logs:StopQuery` supports only the `*` resource, which \
              the statement does not list"]
        );
    }

    #[test]
    fn a_statement_may_serve_several_resource_types() {
        let statements = r#"{"Sid":"Both","Effect":"Allow",
            "Action":["logs:StartQuery","logs:GetLogEvents"],
            "Resource":["arn:aws:logs:*:*:log-group:app",
                        "arn:aws:logs:*:*:log-group:app:log-stream:*"]}"#;
        assert_eq!(lint(statements, &LintOptions::default()), Vec::<String>::new());
    }

    #[test]
    fn unscoped_resources_unless_accepted() {
        let statements = r#"{"Sid":"All","Effect":"Allow",
            "Action":["eks:DescribeCluster","eks:ListClusters"],"Resource":"*"}"#;
        assert_eq!(
            lint(statements, &LintOptions::default()),
            ["All: unscoped-resource: `eks:DescribeCluster` can be scoped to cluster but is \
              allowed on every resource"]
        );
        let accepted = LintOptions {
            accepted_wildcards: BTreeSet::from([Action::parse("eks:describecluster").unwrap()]),
            ..LintOptions::default()
        };
        assert_eq!(lint(statements, &accepted), Vec::<String>::new());
    }

    #[test]
    fn documents_over_the_size_limit() {
        let options = LintOptions { size_limit: 100, ..read_only() };
        let found = lint(CLEAN, &options);
        let [finding] = found.as_slice() else { panic!("{found:#?}") };
        assert!(
            finding.starts_with("-: document-too-large: the document is ")
                && finding.ends_with(" characters without whitespace, over the limit of 100"),
            "{finding}"
        );
    }

    #[test]
    fn findings_are_ordered_by_statement_then_code() {
        let document = PolicyDocument::parse(
            r#"{"Version":"2012-10-17","Statement":[
               {"Sid":"A","Effect":"Allow","Action":["eks:DeleteCluster","eks:Describe*"],
                "Resource":"*"},
               {"Sid":"B","Effect":"Allow","Action":"s3:GetObjekt","Resource":"*"}]}"#,
        )
        .unwrap();
        let found: Vec<(String, &str)> =
            lint_document(&document, Catalog::embedded(), &read_only())
                .into_iter()
                .map(|finding| (finding.sid, finding.code))
                .collect();
        let expect = [
            ("A", UNSCOPED_RESOURCE),
            ("A", WILDCARD_ACTION),
            ("A", WRITE_IN_READ_ONLY_TIER),
            ("B", UNKNOWN_ACTION),
        ];
        assert_eq!(found, expect.map(|(sid, code)| (sid.to_owned(), code)));
    }

    #[test]
    fn codes_are_sorted_unique_kebab_case() {
        for codes in [&CODES[..], &crate::trust::TRUST_CODES[..]] {
            let mut sorted = codes.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted, codes);
            for code in codes {
                assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'), "{code}");
            }
        }
    }
}
