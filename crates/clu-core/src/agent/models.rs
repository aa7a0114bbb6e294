//! Which Bedrock models the agent may use, and the IAM grants that follow from that choice.

use std::fmt;

use clu_policy::Grant;
use serde::{Deserialize, Serialize};

/// The region-set prefixes of Bedrock's cross-region inference profiles.
pub const INFERENCE_PROFILE_PREFIXES: [&str; 4] = ["us", "eu", "apac", "global"];

/// The model families allowed when the configuration names none.
pub const DEFAULT_FAMILIES: [&str; 5] = [
    "anthropic.*",
    "meta.llama3-1-*",
    "meta.llama3-3-*",
    "openai.gpt-oss-*",
    "mistral.mistral-large-*",
];

/// A model id as the agent will send it, with what it means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelId {
    /// The id exactly as configured, such as `eu.anthropic.claude-sonnet-4-5-20250929-v1:0`.
    pub id: String,
    /// The region-set prefix when the id names an inference profile.
    pub profile_prefix: Option<String>,
    /// The foundation model behind it, such as `anthropic.claude-sonnet-4-5-20250929-v1:0`.
    pub foundation_model: String,
}

impl ModelId {
    /// Splits an id (bare, with a region-set prefix, or a foundation-model or
    /// inference-profile ARN) into its parts.
    pub fn parse(id: &str) -> Result<Self, ModelError> {
        let trimmed = id.trim();
        if trimmed.is_empty() {
            return Err(ModelError::Empty);
        }
        let resource = match trimmed.strip_prefix("arn:") {
            Some(_) => trimmed
                .rsplit_once(":foundation-model/")
                .or_else(|| trimmed.rsplit_once(":inference-profile/"))
                .map(|(_, rest)| rest)
                .ok_or_else(|| ModelError::Malformed {
                    id: trimmed.to_owned(),
                    reason: "an ARN must name a foundation-model or an inference-profile",
                })?,
            None => trimmed,
        };
        let (profile_prefix, foundation_model) = match resource.split_once('.') {
            Some((prefix, rest)) if INFERENCE_PROFILE_PREFIXES.contains(&prefix) => {
                (Some(prefix.to_owned()), rest.to_owned())
            }
            _ => (None, resource.to_owned()),
        };
        if !foundation_model.contains('.') {
            return Err(ModelError::Malformed {
                id: trimmed.to_owned(),
                reason: "a model id is `provider.model`, such as `anthropic.claude-…`",
            });
        }
        Ok(Self { id: trimmed.to_owned(), profile_prefix, foundation_model })
    }

    /// The provider, such as `anthropic`.
    pub fn provider(&self) -> &str {
        self.foundation_model.split('.').next().unwrap_or_default()
    }

    /// Whether Bedrock caches prompts for this model (cache points after system and tools).
    pub fn supports_prompt_caching(&self) -> bool {
        self.provider() == "anthropic"
    }

    /// Whether the model accepts a `status` on tool results; other models refuse the field.
    pub fn supports_tool_result_status(&self) -> bool {
        self.provider() == "anthropic"
    }
}

impl fmt::Display for ModelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

/// Why a model cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// No model was configured.
    #[error("no Bedrock model is configured; set `model.id`")]
    Empty,
    /// The id is not a Bedrock model id.
    #[error("`{id}` is not a Bedrock model id: {reason}")]
    Malformed {
        /// The id.
        id: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The model is outside the allowed families.
    #[error(
        "model `{id}` is outside the allowed model families ({allowed}); choose one of them or \
         extend `model.allowedFamilies`"
    )]
    NotAllowed {
        /// The id.
        id: String,
        /// The allowed families, joined.
        allowed: String,
    },
}

impl ModelError {
    /// The stable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            ModelError::Empty | ModelError::Malformed { .. } => "model-invalid",
            ModelError::NotAllowed { .. } => "model-not-allowed",
        }
    }
}

/// The model families the agent may use: patterns over foundation-model ids such as
/// `anthropic.*`. A family allows its foundation models and every inference profile of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AllowedModels(Vec<String>);

impl Default for AllowedModels {
    fn default() -> Self {
        Self(DEFAULT_FAMILIES.iter().map(|f| (*f).to_owned()).collect())
    }
}

impl AllowedModels {
    /// The given families. Each must be `provider.` followed by a model pattern.
    pub fn new(families: impl IntoIterator<Item = impl Into<String>>) -> Result<Self, ModelError> {
        let families: Vec<String> = families.into_iter().map(Into::into).collect();
        for family in &families {
            let valid = family.split_once('.').is_some_and(|(provider, rest)| {
                !provider.is_empty()
                    && !rest.is_empty()
                    && provider
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && family.bytes().all(|b| b.is_ascii_graphic() && b != b'/' && b != b'"')
            });
            if !valid {
                return Err(ModelError::Malformed {
                    id: family.clone(),
                    reason: "a model family is `provider.pattern`, such as `anthropic.*`",
                });
            }
        }
        Ok(Self(families))
    }

    /// The family patterns.
    pub fn families(&self) -> &[String] {
        &self.0
    }

    /// Parses `id` and checks it against the families, before any call is made.
    pub fn check(&self, id: &str) -> Result<ModelId, ModelError> {
        let model = ModelId::parse(id)?;
        if self.0.iter().any(|family| glob(family, &model.foundation_model)) {
            Ok(model)
        } else {
            Err(ModelError::NotAllowed { id: model.id, allowed: self.0.join(", ") })
        }
    }

    /// The grant of Bedrock inference on exactly these families: their foundation models in
    /// any region (a cross-region profile routes to several) and their inference profiles.
    pub fn grant(&self) -> Grant {
        let mut resources = Vec::new();
        for family in &self.0 {
            resources.push(format!("arn:{{partition}}:bedrock:*::foundation-model/{family}"));
            for prefix in INFERENCE_PROFILE_PREFIXES {
                resources.push(format!(
                    "arn:{{partition}}:bedrock:{{region}}:{{account}}:inference-profile/{prefix}.{family}"
                ));
            }
        }
        let actions = ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"];
        Grant::new(actions, resources.iter().map(String::as_str))
            .unwrap_or_else(|error| unreachable!("families are validated: {error}"))
    }
}

/// IAM-style glob: `*` any run, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_default_families_bare_prefixed_and_as_arns() {
        let allowed = AllowedModels::default();
        for id in [
            "anthropic.claude-sonnet-4-5-20250929-v1:0",
            "eu.anthropic.claude-sonnet-4-5-20250929-v1:0",
            "global.anthropic.claude-haiku-4-5-20251001-v1:0",
            "us.meta.llama3-3-70b-instruct-v1:0",
            "meta.llama3-1-405b-instruct-v1:0",
            "openai.gpt-oss-120b-1:0",
            "mistral.mistral-large-2407-v1:0",
            "arn:aws:bedrock:eu-west-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
            "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.anthropic.claude-3-haiku-20240307-v1:0",
        ] {
            assert!(allowed.check(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn refuses_other_families_with_a_clear_error() {
        let allowed = AllowedModels::default();
        let error = allowed.check("amazon.titan-text-express-v1").unwrap_err();
        assert_eq!(error.code(), "model-not-allowed");
        assert!(error.to_string().starts_with("model `amazon.titan-text-express-v1` is outside"));
        for id in [
            "meta.llama2-13b-chat-v1",
            "us.meta.llama3-2-90b-instruct-v1:0",
            "cohere.command-r-v1:0",
        ] {
            assert!(allowed.check(id).is_err(), "{id}");
        }
        assert_eq!(allowed.check("").unwrap_err(), ModelError::Empty);
        assert_eq!(allowed.check("claude").unwrap_err().code(), "model-invalid");
        assert_eq!(
            allowed.check("arn:aws:bedrock:eu-west-1:1:custom-model/x").unwrap_err().code(),
            "model-invalid"
        );
    }

    #[test]
    fn splits_profile_prefixes() {
        let model = ModelId::parse("apac.anthropic.claude-3-5-sonnet-20240620-v1:0").unwrap();
        assert_eq!(model.profile_prefix.as_deref(), Some("apac"));
        assert_eq!(model.foundation_model, "anthropic.claude-3-5-sonnet-20240620-v1:0");
        assert!(model.supports_prompt_caching());
        assert!(
            !ModelId::parse("mistral.mistral-large-2407-v1:0").unwrap().supports_prompt_caching()
        );
    }

    #[test]
    fn the_grant_covers_foundation_models_and_profiles_of_each_family() {
        let allowed = AllowedModels::new(["anthropic.*"]).unwrap();
        let grant = allowed.grant();
        let resources: Vec<&str> = grant.resources.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            resources,
            [
                "arn:{partition}:bedrock:*::foundation-model/anthropic.*",
                "arn:{partition}:bedrock:{region}:{account}:inference-profile/apac.anthropic.*",
                "arn:{partition}:bedrock:{region}:{account}:inference-profile/eu.anthropic.*",
                "arn:{partition}:bedrock:{region}:{account}:inference-profile/global.anthropic.*",
                "arn:{partition}:bedrock:{region}:{account}:inference-profile/us.anthropic.*",
            ]
        );
        let actions: Vec<String> = grant.actions.iter().map(ToString::to_string).collect();
        assert_eq!(actions, ["bedrock:InvokeModel", "bedrock:InvokeModelWithResponseStream"]);
    }

    #[test]
    fn refuses_malformed_families() {
        for family in ["anthropic", "", ".x", "Anthropic.*", "anthropic.\"x"] {
            assert!(AllowedModels::new([family]).is_err(), "{family:?}");
        }
    }
}
