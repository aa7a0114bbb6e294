//! The error type of clu-policy.

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong while reading or building IAM material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Text that should name an IAM action does not.
    #[error("invalid IAM action `{text}`: {reason}")]
    InvalidAction {
        /// The text as given.
        text: String,
        /// Why it is not an action.
        reason: &'static str,
    },
    /// A resource ARN template is malformed or names an unknown placeholder.
    #[error("invalid resource template `{template}`: {reason}")]
    InvalidResourceTemplate {
        /// The template as given.
        template: String,
        /// Why it is not usable.
        reason: String,
    },
    /// A policy document is not valid IAM JSON.
    #[error("invalid policy document: {0}")]
    InvalidDocument(String),
    /// A single statement is larger than a managed policy may be, so no split can help.
    #[error("statement `{sid}` alone is {size} characters, over the {limit}-character limit")]
    StatementTooLarge {
        /// The statement's Sid.
        sid: String,
        /// Its size without whitespace.
        size: usize,
        /// The limit it exceeds.
        limit: usize,
    },
    /// The text of an IAM action catalogue does not follow the catalogue format.
    #[error("malformed IAM catalogue at line {line}: {reason}")]
    MalformedCatalog {
        /// The 1-based line number where reading stopped.
        line: usize,
        /// What is wrong with that line.
        reason: String,
    },
    /// A grant names actions but no resource, so it would grant nothing.
    #[error("the grant of {actions} has no resource")]
    GrantWithoutResources {
        /// The grant's actions, each in backticks, comma-separated.
        actions: String,
    },
    /// A Sid prefix has characters IAM does not accept in an identity policy's Sid.
    #[error("sid prefix `{prefix}` has characters other than ASCII letters and digits")]
    InvalidSidPrefix {
        /// The prefix as given.
        prefix: String,
    },
}
