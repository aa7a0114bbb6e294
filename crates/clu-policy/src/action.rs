//! IAM actions (`service:Name`) and action patterns (`service:Get*`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Result, wildcard};

/// One IAM action such as `logs:StartQuery`: a service prefix and an action name, no wildcard.
///
/// IAM compares actions without regard to case, so equality and ordering here do too, while
/// `Display` keeps the spelling it was given (the catalogue's spelling, for declared actions).
#[derive(Clone)]
pub struct Action {
    text: String,
    colon: usize,
}

impl Action {
    /// Parses `prefix:Name`, refusing wildcards, empty parts and characters IAM does not use.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidAction { text: text.to_owned(), reason };
        let (prefix, name) =
            text.split_once(':').ok_or_else(|| invalid("expected `service:Action`"))?;
        validate_prefix(prefix).map_err(invalid)?;
        if name.is_empty() {
            return Err(invalid("the action name is empty"));
        }
        if wildcard::has_wildcard(name) {
            return Err(invalid("an action may not contain a wildcard; use an action pattern"));
        }
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(invalid("an action name has only letters, digits, `-` and `_`"));
        }
        Ok(Self { text: text.to_owned(), colon: prefix.len() })
    }

    /// The service prefix, such as `logs`.
    pub fn prefix(&self) -> &str {
        &self.text[..self.colon]
    }

    /// The action name, such as `StartQuery`.
    pub fn name(&self) -> &str {
        &self.text[self.colon + 1..]
    }

    /// The whole action as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn key(&self) -> impl Iterator<Item = u8> + '_ {
        self.text.bytes().map(|b| b.to_ascii_lowercase())
    }
}

fn validate_prefix(prefix: &str) -> Result<(), &'static str> {
    if prefix.is_empty() {
        return Err("the service prefix is empty");
    }
    if !prefix.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err("a service prefix has only lowercase letters, digits and `-`");
    }
    Ok(())
}

impl PartialEq for Action {
    fn eq(&self, other: &Self) -> bool {
        self.text.eq_ignore_ascii_case(&other.text)
    }
}

impl Eq for Action {}

impl PartialOrd for Action {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Action {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(other.key())
    }
}

impl std::hash::Hash for Action {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for b in self.key() {
            state.write_u8(b);
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Action({})", self.text)
    }
}

impl FromStr for Action {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        Self::parse(text)
    }
}

impl Serialize for Action {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// An action pattern as IAM accepts in `Action` and `NotAction`: `*`, `s3:*`, `s3:Get*`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ActionPattern {
    text: String,
}

impl ActionPattern {
    /// Parses a pattern; `*` alone matches every action of every service.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidAction { text: text.to_owned(), reason };
        if text == "*" {
            return Ok(Self { text: text.to_owned() });
        }
        let (prefix, name) =
            text.split_once(':').ok_or_else(|| invalid("expected `service:Action`"))?;
        let prefix_ok =
            prefix.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'*' | b'?'));
        if prefix.is_empty() || !prefix_ok {
            return Err(invalid("a service prefix has only letters, digits, `-` and wildcards"));
        }
        let name_ok = name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'*' | b'?'));
        if name.is_empty() || !name_ok {
            return Err(invalid("an action name has only letters, digits, `-`, `_` and wildcards"));
        }
        Ok(Self { text: text.to_owned() })
    }

    /// Whether the pattern matches `action`, without regard to case as IAM does.
    pub fn matches(&self, action: &Action) -> bool {
        wildcard::matches(&self.text, action.as_str(), true)
    }

    /// Whether the pattern contains `*` or `?`.
    pub fn is_wildcard(&self) -> bool {
        wildcard::has_wildcard(&self.text)
    }

    /// The exact action this pattern names, when it has no wildcard.
    pub fn as_action(&self) -> Option<Action> {
        if self.is_wildcard() { None } else { Action::parse(&self.text).ok() }
    }

    /// The pattern as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl From<&Action> for ActionPattern {
    fn from(action: &Action) -> Self {
        Self { text: action.as_str().to_owned() }
    }
}

impl fmt::Display for ActionPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for ActionPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActionPattern({})", self.text)
    }
}

impl FromStr for ActionPattern {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        Self::parse(text)
    }
}

impl Serialize for ActionPattern {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for ActionPattern {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_splits_an_action() {
        let action = Action::parse("logs:StartQuery").unwrap();
        assert_eq!(action.prefix(), "logs");
        assert_eq!(action.name(), "StartQuery");
        assert_eq!(action.to_string(), "logs:StartQuery");
    }

    #[test]
    fn refuses_malformed_actions_with_the_reason() {
        for (text, reason) in [
            ("StartQuery", "expected `service:Action`"),
            (":StartQuery", "the service prefix is empty"),
            ("logs:", "the action name is empty"),
            ("logs:Start*", "an action may not contain a wildcard; use an action pattern"),
            ("Logs:StartQuery", "a service prefix has only lowercase letters, digits and `-`"),
            ("logs:Start Query", "an action name has only letters, digits, `-` and `_`"),
        ] {
            let error = Action::parse(text).unwrap_err();
            assert_eq!(error, Error::InvalidAction { text: text.into(), reason }, "{text}");
        }
    }

    #[test]
    fn actions_compare_without_case() {
        let a = Action::parse("s3:GetObject").unwrap();
        let b = Action::parse("s3:getobject").unwrap();
        assert_eq!(a, b);
        let set: std::collections::HashSet<_> = [a, b].into_iter().collect();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn patterns_match_actions() {
        let action = Action::parse("ec2:DescribeVpcs").unwrap();
        for pattern in ["*", "ec2:*", "ec2:Describe*", "EC2:describevpcs", "ec2:Describe?pcs"] {
            assert!(ActionPattern::parse(pattern).unwrap().matches(&action), "{pattern}");
        }
        for pattern in ["ec2:Get*", "s3:*", "ec2:DescribeVpc"] {
            assert!(!ActionPattern::parse(pattern).unwrap().matches(&action), "{pattern}");
        }
    }

    #[test]
    fn refuses_malformed_patterns() {
        for text in ["", "ec2", "ec2:", "ec2:Describe Vpcs"] {
            assert!(ActionPattern::parse(text).is_err(), "{text:?}");
        }
    }
}
