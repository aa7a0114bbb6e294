//! AWS Marketplace metering for the container product: one `RegisterUsage` call at start.
//!
//! The Marketplace contract for paid container products is that the software calls
//! `RegisterUsage` once when it starts, from the Region its pod runs in, and stops when AWS says
//! the customer may not run it. [`register_at_start`] makes that call through the internal tool
//! [`RegisterUsage`], so it is declared, guarded and audited like every other AWS call, and turns
//! the answer into a [`MeteringStatus`] to continue with or a [`MeteringError`] to stop with.
//!
//! Refusals that no retry can change (not entitled, wrong product code, unsupported platform,
//! and the like) stop the agent at once with a stable code and exit code. Throttling and
//! failures on AWS's side are retried with exponential backoff and jitter, a bounded number of
//! times, as the [`Backoff`] says.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_marketplacemetering::operation::register_usage::RegisterUsageError;
use aws_smithy_types::error::display::DisplayErrorContext;
use clu_policy::Grant;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Result, ToolError};
use crate::guard::aws::SdkError;
use crate::registry::Registry;
use crate::tool::{Permissions, Risk, Tier, Tool, ToolContext, ToolEnv, ToolSpec};

/// The name of the internal tool that calls `RegisterUsage`.
pub const REGISTER_USAGE_TOOL: &str = "marketplace_register_usage";

/// The IAM action `RegisterUsage` needs; it has no resource type, so IAM takes only `*`.
const REGISTER_USAGE_ACTION: &str = "aws-marketplace:RegisterUsage";

/// How the tool starts the message of a failure worth retrying that AWS did not report as
/// throttling: a failure on AWS's side, or no answer at all. [`register_at_start`] retries
/// exactly these and throttling.
const TRANSIENT: &str = "transient failure";

/// Input of `marketplace_register_usage`.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterUsageInput {
    /// The product code AWS Marketplace gave the Clu listing.
    #[schemars(length(min = 1, max = 255))]
    pub product_code: String,
    /// The version of the Marketplace public key that signs the answer.
    #[schemars(range(min = 1))]
    pub public_key_version: i32,
    /// A value unique to this start, echoed in the signed answer to guard against replay.
    #[serde(default)]
    #[schemars(length(max = 255))]
    pub nonce: Option<String>,
}

/// Registers this running copy of the agent with AWS Marketplace.
///
/// The agent calls it itself at start; the model is never offered it. Its risk is `write`
/// because IAM classes `RegisterUsage` as a Write action, which keeps the action in a
/// statement of its own in the derived documents.
pub struct RegisterUsage {
    spec: ToolSpec,
}

impl RegisterUsage {
    /// The tool.
    pub fn new() -> Self {
        let register = Grant::new([REGISTER_USAGE_ACTION], ["*"])
            .unwrap_or_else(|error| unreachable!("a fixed grant is valid: {error}"));
        let permissions = Permissions { iam: vec![register], rbac: vec![] };
        Self {
            spec: ToolSpec::new::<RegisterUsageInput>(
                REGISTER_USAGE_TOOL,
                "Register this running copy of the agent with AWS Marketplace (RegisterUsage), \
                 as the container-product contract requires once at start. Called by the agent \
                 itself, never by the model.",
                Tier::Core,
                Risk::Write,
                permissions,
            )
            .internal(),
        }
    }
}

impl Default for RegisterUsage {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Tool for RegisterUsage {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let input: RegisterUsageInput = context.parse_input(input)?;

        // The start-up logic owns retrying, so one call here is one request on the wire and
        // the number of attempts is exactly what its backoff says.
        let client = crate::aws_client!(context, aws_sdk_marketplacemetering, |builder| {
            aws_sdk_marketplacemetering::config::Builder::retry_config(
                builder,
                aws_sdk_marketplacemetering::config::retry::RetryConfig::disabled(),
            )
        })?;
        let output = client
            .register_usage()
            .product_code(&input.product_code)
            .public_key_version(input.public_key_version)
            .set_nonce(input.nonce)
            .send()
            .await
            .map_err(|error| register_usage_error(context, error))?;

        let rotation = output
            .public_key_rotation_timestamp
            .and_then(|at| at.fmt(aws_smithy_types::date_time::Format::DateTime).ok());
        Ok(json!({
            "signature": output.signature,
            "public_key_rotation_timestamp": rotation,
        }))
    }
}

/// Maps a `RegisterUsage` failure, marking the ones worth retrying that are not throttling.
fn register_usage_error(context: &ToolContext, error: SdkError<RegisterUsageError>) -> ToolError {
    let transient = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => {
            service.raw().status().is_server_error()
                || matches!(service.err(), RegisterUsageError::InternalServiceErrorException(_))
        }
        _ => false,
    };
    let detail = match &error {
        SdkError::ServiceError(_) => None,
        other => Some(DisplayErrorContext(other).to_string()),
    };

    match context.aws_error(error) {
        ToolError::Aws { tool, operation, message, throttled: false } if transient => {
            let message = format!("{TRANSIENT}: {}", detail.unwrap_or(message));
            ToolError::Aws { tool, operation, message, throttled: false }
        }
        mapped => mapped,
    }
}

/// Whether and how the agent is metered, from the agent's configuration file.
///
/// There is no default: a configuration must say `mode: off` to run unmetered, so a forgotten
/// setting cannot silently ship an unmetered agent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "mode",
    rename_all = "snake_case",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
#[non_exhaustive]
pub enum MeteringConfig {
    /// Register with AWS Marketplace at start, as the paid container product must.
    Marketplace {
        /// The product code of the Clu listing.
        product_code: String,
        /// The version of the Marketplace public key that signs the answer.
        public_key_version: i32,
    },
    /// Do not meter: for development and for copies not sold through AWS Marketplace.
    Off,
}

/// How the agent continues after metering.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MeteringStatus {
    /// AWS Marketplace accepted the registration.
    Registered {
        /// The product code registered.
        product_code: String,
        /// The nonce sent, which the signed answer echoes.
        nonce: String,
        /// Whether the answer carried a signature.
        signature_present: bool,
        /// When Marketplace next rotates its public key, if it said.
        public_key_rotation_timestamp: Option<String>,
        /// How many requests it took, one when nothing was retried.
        attempts: u32,
    },
    /// Metering is switched off in the configuration.
    Unmetered,
}

/// Why the agent must stop instead of running unregistered.
///
/// Display gives the cause and what the operator should do; [`MeteringError::code`] and
/// [`MeteringError::exit_code`] are stable and listed in `docs/errors.md`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MeteringError {
    /// The account has no active subscription to the product.
    #[error(
        "the AWS account is not entitled to product `{product_code}`: subscribe to Clu in AWS \
         Marketplace from this account, or run the agent in the subscribed account ({message})"
    )]
    NotEntitled {
        /// The product code sent.
        product_code: String,
        /// AWS's own words.
        message: String,
    },
    /// The product code is not the one the product was published with.
    #[error(
        "AWS Marketplace does not know product code `{product_code}`: set `metering.productCode` \
         to the code of the Clu listing ({message})"
    )]
    InvalidProductCode {
        /// The product code sent.
        product_code: String,
        /// AWS's own words.
        message: String,
    },
    /// Marketplace does not meter the platform the agent runs on.
    #[error(
        "AWS Marketplace does not meter containers on this platform: run the agent on Amazon \
         EKS, Amazon ECS or AWS Fargate ({message})"
    )]
    PlatformNotSupported {
        /// AWS's own words.
        message: String,
    },
    /// The public key version is not one Marketplace has.
    #[error(
        "AWS Marketplace has no public key version {public_key_version}: set \
         `metering.publicKeyVersion` to the version given with the listing ({message})"
    )]
    InvalidPublicKeyVersion {
        /// The version sent.
        public_key_version: i32,
        /// AWS's own words.
        message: String,
    },
    /// The call was made from another Region than the one the agent runs in.
    #[error(
        "RegisterUsage was called in region `{region}`, not the one the agent runs in: set the \
         agent's AWS region to the cluster's region ({message})"
    )]
    InvalidRegion {
        /// The region the call was made in.
        region: String,
        /// AWS's own words.
        message: String,
    },
    /// The metering API is disabled in the Region.
    #[error(
        "the AWS Marketplace metering API is disabled in region `{region}`: run the agent in a \
         region where AWS Marketplace metering is available ({message})"
    )]
    ApiDisabled {
        /// The region the call was made in.
        region: String,
        /// AWS's own words.
        message: String,
    },
    /// The agent's role may not call `RegisterUsage`.
    #[error(
        "the agent's IAM role may not call `aws-marketplace:RegisterUsage`: attach the Core \
         policy from docs/iam/core.json to the role ({message})"
    )]
    AccessDenied {
        /// AWS's own words.
        message: String,
    },
    /// Throttling or failures on AWS's side outlasted every attempt.
    #[error(
        "AWS Marketplace did not accept the registration after {attempts} attempts: check the \
         AWS Health Dashboard and the network path to the metering endpoint, then restart the \
         agent (last failure: {last})"
    )]
    RetriesExhausted {
        /// How many requests were sent.
        attempts: u32,
        /// The message of the last failure.
        last: String,
    },
    /// The metering settings do not fit what `RegisterUsage` takes.
    #[error("invalid metering settings: {message}")]
    InvalidConfig {
        /// What is wrong, naming the field.
        message: String,
    },
    /// Registration failed for another reason, such as no AWS configuration.
    #[error("failed to register usage with AWS Marketplace")]
    Failed(#[source] ToolError),
}

impl MeteringError {
    /// Every code with its exit code, in exit-code order, as `docs/errors.md` lists them.
    pub const CODES: &'static [(&'static str, u8)] = &[
        ("not-entitled", 10),
        ("invalid-product-code", 11),
        ("platform-not-supported", 12),
        ("invalid-public-key-version", 13),
        ("invalid-region", 14),
        ("metering-api-disabled", 15),
        ("metering-access-denied", 16),
        ("metering-retries-exhausted", 17),
        ("invalid-metering-config", 18),
        ("metering-failed", 19),
    ];

    /// The stable kebab-case code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotEntitled { .. } => "not-entitled",
            Self::InvalidProductCode { .. } => "invalid-product-code",
            Self::PlatformNotSupported { .. } => "platform-not-supported",
            Self::InvalidPublicKeyVersion { .. } => "invalid-public-key-version",
            Self::InvalidRegion { .. } => "invalid-region",
            Self::ApiDisabled { .. } => "metering-api-disabled",
            Self::AccessDenied { .. } => "metering-access-denied",
            Self::RetriesExhausted { .. } => "metering-retries-exhausted",
            Self::InvalidConfig { .. } => "invalid-metering-config",
            Self::Failed(_) => "metering-failed",
        }
    }

    /// The process exit code the agent stops with, distinct per code.
    pub fn exit_code(&self) -> u8 {
        let code = self.code();
        Self::CODES.iter().find(|(known, _)| *known == code).map_or(1, |&(_, exit_code)| exit_code)
    }
}

/// How [`register_at_start`] waits between attempts.
pub type Sleeper = Arc<dyn Fn(Duration) -> BoxFuture<'static, ()> + Send + Sync>;

/// Exponential backoff with jitter, for a bounded number of attempts.
///
/// The delay before retry `n` (counting from 0) is drawn from `[cap / 2, cap]` with
/// `cap = min(max, initial * 2^n)`: the cap grows the wait, the jitter keeps many agents
/// started together from retrying in step. The draw is a pure function of the seed and `n`.
#[derive(Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempts: u32,
    seed: u64,
    sleeper: Sleeper,
}

impl fmt::Debug for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backoff")
            .field("initial", &self.initial)
            .field("max", &self.max)
            .field("attempts", &self.attempts)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl Default for Backoff {
    /// Six attempts over about a minute: 1 s doubling to at most 30 s between them.
    fn default() -> Self {
        Self::new(Duration::from_secs(1), Duration::from_secs(30), 6)
    }
}

impl Backoff {
    /// At most `attempts` requests (at least one), waiting `initial` doubling up to `max`
    /// between them, with a fresh seed and tokio's sleep.
    pub fn new(initial: Duration, max: Duration, attempts: u32) -> Self {
        Self {
            initial,
            max: max.max(initial),
            attempts: attempts.max(1),
            seed: RandomState::new().hash_one(std::process::id()),
            sleeper: Arc::new(|delay| Box::pin(tokio::time::sleep(delay))),
        }
    }

    /// The same backoff with a fixed jitter seed, so the delays are known in advance.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The same backoff waiting through `sleeper`, which a test can make instant.
    pub fn with_sleeper(
        mut self,
        sleeper: impl Fn(Duration) -> BoxFuture<'static, ()> + Send + Sync + 'static,
    ) -> Self {
        self.sleeper = Arc::new(sleeper);
        self
    }

    /// The most requests sent, counting the first.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The wait before retry `retry`, counting from 0 for the wait after the first request.
    pub fn delay(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry).unwrap_or(u32::MAX);
        let cap = self.initial.saturating_mul(factor).min(self.max);
        let half = cap / 2;
        let spread = u64::try_from((cap - half).as_nanos()).unwrap_or(u64::MAX);
        let draw = splitmix64(self.seed ^ u64::from(retry));
        let jitter = if spread == u64::MAX { draw } else { draw % (spread + 1) };
        half + Duration::from_nanos(jitter)
    }

    /// Every wait, in order: one fewer than the attempts.
    pub fn delays(&self) -> Vec<Duration> {
        (0..self.attempts - 1).map(|retry| self.delay(retry)).collect()
    }
}

/// One step of the SplitMix64 generator: a well-spread 64-bit value for each input.
fn splitmix64(input: u64) -> u64 {
    let mut z = input.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A nonce for one start, from the standard library's randomly keyed hasher: unpredictable
/// enough to tell one start's signed answer from another's, without a dependency on a random
/// number generator.
fn fresh_nonce() -> String {
    let high = RandomState::new().hash_one(std::time::SystemTime::now());
    let low = RandomState::new().hash_one(std::process::id());
    format!("{high:016x}{low:016x}")
}

/// What to do with one failed attempt.
enum Verdict {
    Retry,
    Stop(MeteringError),
}

/// Splits a [`ToolError::Aws`] message into the AWS error code and AWS's own words.
///
/// The guard's error mapping writes an error AWS answered as `Code: message`; a message without
/// a single-word prefix, such as a transport failure, has no code.
fn split_aws_message(message: &str) -> (Option<&str>, &str) {
    match message.split_once(": ") {
        Some((code, words))
            if !code.is_empty() && code.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            (Some(code), words)
        }
        _ => (None, message),
    }
}

fn judge(error: ToolError, product_code: &str, public_key_version: i32, region: &str) -> Verdict {
    let message = match &error {
        ToolError::Aws { throttled: true, .. } => return Verdict::Retry,
        ToolError::Aws { message, .. } if message.starts_with(TRANSIENT) => return Verdict::Retry,
        ToolError::Aws { message, .. } => message.clone(),
        ToolError::IamAccessDenied { message, .. } => {
            return Verdict::Stop(MeteringError::AccessDenied { message: message.clone() });
        }
        ToolError::InvalidInput { message, .. } => {
            return Verdict::Stop(MeteringError::InvalidConfig { message: message.clone() });
        }
        _ => return Verdict::Stop(MeteringError::Failed(error)),
    };

    let product_code = product_code.to_owned();
    let region = region.to_owned();
    let (code, words) = split_aws_message(&message);
    let aws = words.to_owned();
    Verdict::Stop(match code {
        Some("CustomerNotEntitledException") => {
            MeteringError::NotEntitled { product_code, message: aws }
        }
        Some("InvalidProductCodeException") => {
            MeteringError::InvalidProductCode { product_code, message: aws }
        }
        Some("PlatformNotSupportedException") => {
            MeteringError::PlatformNotSupported { message: aws }
        }
        Some("InvalidPublicKeyVersionException") => {
            MeteringError::InvalidPublicKeyVersion { public_key_version, message: aws }
        }
        Some("InvalidRegionException") => MeteringError::InvalidRegion { region, message: aws },
        Some("DisabledApiException") => MeteringError::ApiDisabled { region, message: aws },
        _ => MeteringError::Failed(error),
    })
}

/// Registers the agent with AWS Marketplace as `config` says, retrying as `backoff` says.
///
/// Returns how to continue, or why the agent must stop; the caller exits with
/// [`MeteringError::exit_code`]. The call goes through `registry`, which must hold the
/// [`RegisterUsage`] tool, so the guard and the audit see it.
pub async fn register_at_start(
    registry: &Registry,
    env: &Arc<ToolEnv>,
    config: &MeteringConfig,
    backoff: &Backoff,
) -> Result<MeteringStatus, MeteringError> {
    let (product_code, public_key_version) = match config {
        MeteringConfig::Marketplace { product_code, public_key_version } => {
            (product_code, *public_key_version)
        }
        MeteringConfig::Off => {
            tracing::warn!(
                "the agent runs unmetered because metering is switched off in its configuration \
                 (`metering.mode: off`)"
            );
            return Ok(MeteringStatus::Unmetered);
        }
    };

    let nonce = fresh_nonce();
    let input = serde_json::to_value(RegisterUsageInput {
        product_code: product_code.clone(),
        public_key_version,
        nonce: Some(nonce.clone()),
    })
    .map_err(|error| MeteringError::InvalidConfig { message: error.to_string() })?;
    let region = env
        .aws
        .as_ref()
        .and_then(|config| config.region())
        .map_or_else(|| "unset".to_owned(), ToString::to_string);

    let mut attempt = 0;
    loop {
        attempt += 1;
        let outcome = registry.call(env, REGISTER_USAGE_TOOL, input.clone()).await;
        let error = match outcome.result {
            Ok(output) => {
                // The answer comes from AWS's own endpoint over TLS, with the request signed by
                // the agent's role, which is the trust the Marketplace contract asks for. The
                // signature is a token for the seller to verify offline against the product's
                // public key; the agent reports whether one came back.
                let signature_present =
                    output["signature"].as_str().is_some_and(|signature| !signature.is_empty());
                let public_key_rotation_timestamp =
                    output["public_key_rotation_timestamp"].as_str().map(str::to_owned);
                tracing::info!(%product_code, attempts = attempt, signature_present, "registered usage with AWS Marketplace");
                return Ok(MeteringStatus::Registered {
                    product_code: product_code.clone(),
                    nonce,
                    signature_present,
                    public_key_rotation_timestamp,
                    attempts: attempt,
                });
            }
            Err(error) => error,
        };

        let last = error.to_string();
        match judge(error, product_code, public_key_version, &region) {
            Verdict::Stop(stop) => return Err(stop),
            Verdict::Retry if attempt >= backoff.attempts() => {
                return Err(MeteringError::RetriesExhausted { attempts: attempt, last });
            }
            Verdict::Retry => {
                let delay = backoff.delay(attempt - 1);
                tracing::warn!(attempt, delay_ms = delay.as_millis(), error = %last, "registering usage failed; retrying");
                (backoff.sleeper)(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_its_listed_code_and_a_distinct_exit_code() {
        let text = || "text".to_owned();
        let errors = [
            MeteringError::NotEntitled { product_code: text(), message: text() },
            MeteringError::InvalidProductCode { product_code: text(), message: text() },
            MeteringError::PlatformNotSupported { message: text() },
            MeteringError::InvalidPublicKeyVersion { public_key_version: 1, message: text() },
            MeteringError::InvalidRegion { region: text(), message: text() },
            MeteringError::ApiDisabled { region: text(), message: text() },
            MeteringError::AccessDenied { message: text() },
            MeteringError::RetriesExhausted { attempts: 3, last: text() },
            MeteringError::InvalidConfig { message: text() },
            MeteringError::Failed(ToolError::failed(REGISTER_USAGE_TOOL, "boom")),
        ];
        let listed: Vec<(&str, u8)> =
            errors.iter().map(|error| (error.code(), error.exit_code())).collect();
        assert_eq!(listed, MeteringError::CODES);
    }

    #[test]
    fn an_aws_error_code_is_a_single_word_before_the_message() {
        assert_eq!(
            split_aws_message("InvalidRegionException: wrong: region"),
            (Some("InvalidRegionException"), "wrong: region")
        );
        assert_eq!(
            split_aws_message("dispatch failure: io error"),
            (None, "dispatch failure: io error")
        );
        assert_eq!(split_aws_message(": empty"), (None, ": empty"));
    }
}
