//! The `Condition` block of a statement: operator → condition key → values.

use std::collections::BTreeMap;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

/// A `Condition` block such as `{"StringEquals": {"aws:RequestedRegion": ["eu-west-1"]}}`.
///
/// Values are kept as strings, which is how IAM compares them: JSON `true` and `"true"` are the
/// same condition. Operators and keys are sorted and values deduplicated, so two blocks that
/// mean the same thing compare and serialize the same.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Conditions(BTreeMap<String, BTreeMap<String, Vec<String>>>);

impl Conditions {
    /// An empty block.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `values` for `key` under `operator`, keeping values sorted and unique.
    pub fn insert<I, V>(&mut self, operator: &str, key: &str, values: I) -> &mut Self
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        let slot =
            self.0.entry(operator.to_owned()).or_default().entry(key.to_owned()).or_default();
        slot.extend(values.into_iter().map(Into::into));
        slot.sort();
        slot.dedup();
        self
    }

    /// Builder form of [`Conditions::insert`].
    pub fn with<I, V>(mut self, operator: &str, key: &str, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: Into<String>,
    {
        self.insert(operator, key, values);
        self
    }

    /// Whether the block has no condition at all.
    pub fn is_empty(&self) -> bool {
        self.0.values().all(BTreeMap::is_empty)
    }

    /// Every (operator, key, values) triple, sorted.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, &[String])> {
        self.0.iter().flat_map(|(operator, keys)| {
            keys.iter()
                .map(move |(key, values)| (operator.as_str(), key.as_str(), values.as_slice()))
        })
    }

    /// The values for `key` under `operator`, if the block has them.
    pub fn get(&self, operator: &str, key: &str) -> Option<&[String]> {
        self.0.get(operator)?.get(key).map(Vec::as_slice)
    }
}

impl Serialize for Conditions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut operators = serializer.serialize_map(Some(self.0.len()))?;
        for (operator, keys) in &self.0 {
            let keys: BTreeMap<&str, OneOrMany<'_>> =
                keys.iter().map(|(key, values)| (key.as_str(), OneOrMany(values))).collect();
            operators.serialize_entry(operator, &keys)?;
        }
        operators.end()
    }
}

/// Serializes one value as a string and several as a list, the form people write by hand.
struct OneOrMany<'a>(&'a [String]);

impl Serialize for OneOrMany<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            [one] => serializer.serialize_str(one),
            many => many.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Conditions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Block;

        impl<'de> Visitor<'de> for Block {
            type Value = Conditions;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a Condition object of operators, each an object of condition keys")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Conditions, A::Error> {
                let mut block = Conditions::new();
                while let Some((operator, keys)) =
                    map.next_entry::<String, BTreeMap<String, serde_json::Value>>()?
                {
                    if keys.is_empty() {
                        return Err(de::Error::custom(format!(
                            "condition operator `{operator}` has no condition key"
                        )));
                    }
                    for (key, value) in keys {
                        let values = condition_values(&operator, &key, value)?;
                        block.insert(&operator, &key, values);
                    }
                }
                Ok(block)
            }
        }

        deserializer.deserialize_map(Block)
    }
}

fn condition_values<E: de::Error>(
    operator: &str,
    key: &str,
    value: serde_json::Value,
) -> Result<Vec<String>, E> {
    use serde_json::Value;

    let scalar = |value: Value| match value {
        Value::String(text) => Ok(text),
        Value::Bool(flag) => Ok(flag.to_string()),
        Value::Number(number) => Ok(number.to_string()),
        other => Err(E::custom(format!(
            "condition `{operator}` / `{key}` has a value that is not a string, number or \
             boolean: {other}"
        ))),
    };
    match value {
        Value::Array(items) if items.is_empty() => {
            Err(E::custom(format!("condition `{operator}` / `{key}` has an empty list of values")))
        }
        Value::Array(items) => items.into_iter().map(scalar).collect(),
        single => Ok(vec![scalar(single)?]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_string_list_bool_and_number_values() {
        let block: Conditions = serde_json::from_str(
            r#"{"Bool": {"aws:SecureTransport": false},
                "NumericLessThan": {"s3:max-keys": 10},
                "StringEquals": {"aws:RequestedRegion": ["eu-west-1", "eu-west-1", "us-east-1"]}}"#,
        )
        .unwrap();
        assert_eq!(block.get("Bool", "aws:SecureTransport"), Some(&["false".to_owned()][..]));
        assert_eq!(block.get("NumericLessThan", "s3:max-keys"), Some(&["10".to_owned()][..]));
        assert_eq!(
            block.get("StringEquals", "aws:RequestedRegion").unwrap(),
            ["eu-west-1", "us-east-1"]
        );
    }

    #[test]
    fn writes_one_value_as_a_string_and_several_as_a_list() {
        let block = Conditions::new().with("StringEquals", "a:b", ["x"]).with(
            "StringLike",
            "c:d",
            ["z", "y"],
        );
        assert_eq!(
            serde_json::to_string(&block).unwrap(),
            r#"{"StringEquals":{"a:b":"x"},"StringLike":{"c:d":["y","z"]}}"#
        );
    }

    #[test]
    fn refuses_empty_and_nested_values() {
        for text in [
            r#"{"StringEquals": {}}"#,
            r#"{"StringEquals": {"a:b": []}}"#,
            r#"{"StringEquals": {"a:b": {"x": 1}}}"#,
        ] {
            assert!(serde_json::from_str::<Conditions>(text).is_err(), "{text}");
        }
    }
}
