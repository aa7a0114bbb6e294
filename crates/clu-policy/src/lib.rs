//! The IAM vocabulary of Clu.
//!
//! This crate knows what an IAM action, statement, policy document and trust policy are, carries
//! an offline catalogue of every IAM action, and can lint and evaluate documents. It performs no
//! IO and does not depend on the AWS SDK, so every other crate (and the build tooling) can use it
//! freely; a test in this crate holds that invariant.

pub mod action;
pub mod build;
pub mod catalog;
pub mod condition;
pub mod document;
pub mod error;
pub mod eval;
pub mod grant;
pub mod lint;
pub mod sdk;
pub mod trust;
mod wildcard;

pub use action::{Action, ActionPattern};
pub use catalog::{AccessLevel, Catalog};
pub use condition::Conditions;
pub use document::{PolicyDocument, Statement};
pub use error::{Error, Result};
pub use grant::{ArnContext, Grant, ResourceTemplate};
