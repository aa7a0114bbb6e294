//! What the Cloud views share: bounded collection of pages, fixed grants, timestamps.

use clu_policy::Grant;
use serde::Serialize;

/// A grant written in the source; a test of the registry proves every such grant valid.
pub(crate) fn grant(actions: &[&str], resources: &[&str]) -> Grant {
    Grant::new(actions.iter().copied(), resources.iter().copied())
        .unwrap_or_else(|error| unreachable!("a fixed grant is valid: {error}"))
}

/// Items gathered from every page up to a bound, with a marker when more existed.
#[derive(Debug, Serialize)]
pub(crate) struct Bounded<T> {
    /// The items kept.
    pub(crate) items: Vec<T>,
    /// Whether items past the bound were left out.
    pub(crate) truncated: bool,
    #[serde(skip)]
    limit: usize,
}

impl<T> Bounded<T> {
    /// An empty collection that keeps at most `limit` items.
    pub(crate) fn new(limit: usize) -> Self {
        Self { items: Vec::new(), truncated: false, limit }
    }

    /// Adds one item; returns `false` once the bound is reached, so the caller stops paging.
    pub(crate) fn push(&mut self, item: T) -> bool {
        if self.items.len() >= self.limit {
            self.truncated = true;
            return false;
        }
        self.items.push(item);
        true
    }

    /// Whether the bound was reached.
    pub(crate) fn is_full(&self) -> bool {
        self.truncated || self.items.len() >= self.limit
    }
}

/// An SDK timestamp as RFC 3339, the form the model reads best.
pub(crate) fn timestamp(time: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    time.and_then(|t| t.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
}
