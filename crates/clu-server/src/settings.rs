//! The `serve:` section of the agent's configuration: where to listen, who may call, how much
//! runs at once, how often scans run and which Lease elects the replica that runs them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the service runs, as the `serve:` section of the configuration file says.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServeSettings {
    /// The address to listen on; `--listen` overrides it.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// How callers authenticate. There is no default, so no install runs an open service.
    pub auth: AuthSettings,
    /// Investigations and tool calls that run at once; past it a request gets 429 at once.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// What a 429 answer's `Retry-After` says, in seconds.
    #[serde(default = "default_retry_after", with = "seconds")]
    pub retry_after: Duration,
    /// How long in-flight requests may run after SIGTERM or SIGINT, in seconds.
    #[serde(default = "default_shutdown_grace", with = "seconds")]
    pub shutdown_grace: Duration,
    /// The scheduled scans.
    #[serde(default)]
    pub scans: ScanSettings,
    /// The Lease that elects the one replica running the scans.
    #[serde(default)]
    pub lease: LeaseSettings,
    /// `Host` values the MCP endpoint accepts; empty accepts any. Requests are authenticated
    /// whatever this says, which is what stops a rebound DNS name from reaching the tools.
    #[serde(default)]
    pub mcp_allowed_hosts: Vec<String>,
    /// The checks that decide which tools are offered.
    #[serde(default)]
    pub preflight: PreflightSettings,
}

impl ServeSettings {
    /// Settings with every default and `auth`.
    pub fn new(auth: AuthSettings) -> Self {
        Self {
            listen: default_listen(),
            auth,
            max_in_flight: default_max_in_flight(),
            retry_after: default_retry_after(),
            shutdown_grace: default_shutdown_grace(),
            scans: ScanSettings::default(),
            lease: LeaseSettings::default(),
            mcp_allowed_hosts: Vec::new(),
            preflight: PreflightSettings::default(),
        }
    }
}

/// How callers prove who they are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "mode",
    rename_all = "camelCase",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
#[non_exhaustive]
pub enum AuthSettings {
    /// A shared bearer token, read from a file such as a mounted Secret. The file is read again
    /// whenever it changes, so a rotated Secret takes effect without a restart.
    BearerToken {
        /// The file holding the token; surrounding whitespace is ignored.
        token_file: PathBuf,
    },
    /// Kubernetes TokenReview: the caller sends its ServiceAccount (or OIDC) token and the API
    /// server says who it is; only the listed users, groups and ServiceAccounts may call.
    TokenReview {
        /// User names allowed, such as `alice@example.com`.
        #[serde(default)]
        allowed_users: Vec<String>,
        /// Groups allowed, such as `clu-operators`.
        #[serde(default)]
        allowed_groups: Vec<String>,
        /// ServiceAccounts allowed, as `namespace/name`.
        #[serde(default)]
        allowed_service_accounts: Vec<String>,
        /// How long an answer of the API server is reused for the same token, in seconds.
        #[serde(default = "default_review_cache", with = "seconds")]
        cache_for: Duration,
    },
}

/// Preflight in the service: access reviews, IAM simulation and the Bedrock check run before
/// the service is ready, and tools that fail are not offered to the model, the API or MCP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct PreflightSettings {
    /// Run preflight; when off, every tool the registry offers is offered unchecked.
    pub enabled: bool,
    /// Send the one tiny Converse call of the Bedrock check at start (never on a re-run).
    pub bedrock: bool,
    /// Seconds between two re-runs, so a permission granted or taken after start is seen;
    /// 0 runs preflight only at start.
    #[serde(with = "seconds")]
    pub interval: Duration,
    /// Seconds one request of a check may take before the check fails naming the timeout.
    #[serde(with = "seconds")]
    pub timeout: Duration,
}

impl Default for PreflightSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            bedrock: true,
            interval: Duration::from_secs(600),
            timeout: clu_core::preflight::DEFAULT_TIMEOUT,
        }
    }
}

/// The scheduled scans.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ScanSettings {
    /// Seconds between two scans.
    #[serde(with = "seconds")]
    pub interval: Duration,
    /// Only this namespace; every namespace when unset.
    pub namespace: Option<String>,
    /// The ConfigMap, in the Lease's namespace, where the leader publishes every report for
    /// all replicas to answer from.
    pub config_map: String,
}

impl Default for ScanSettings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(300),
            namespace: None,
            config_map: "clu-ops-agent-findings".into(),
        }
    }
}

/// A `coordination.k8s.io/v1` Lease and its timing, as client-go's leader election has it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LeaseSettings {
    /// The Lease's name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// How long a holder's claim lasts after its last renewal, in seconds; the Lease carries
    /// whole seconds, so a fraction is rounded up.
    #[serde(with = "seconds")]
    pub lease_duration: Duration,
    /// How long the holder keeps leading while renewals fail, in seconds; shorter than the
    /// lease duration, so it stops before another replica may take over.
    #[serde(with = "seconds")]
    pub renew_deadline: Duration,
    /// Seconds between two attempts to acquire or renew.
    #[serde(with = "seconds")]
    pub retry_period: Duration,
}

impl Default for LeaseSettings {
    fn default() -> Self {
        Self {
            name: "clu-ops-agent-scans".into(),
            namespace: "clu-ops".into(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 8080))
}

fn default_max_in_flight() -> usize {
    8
}

fn default_retry_after() -> Duration {
    Duration::from_secs(5)
}

fn default_shutdown_grace() -> Duration {
    Duration::from_secs(30)
}

fn default_review_cache() -> Duration {
    Duration::from_secs(60)
}

/// Durations as seconds, fractions allowed, as the rest of the configuration writes them.
mod seconds {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(value: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(value.as_secs_f64())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_everything_but_auth() {
        let settings: ServeSettings = serde_json::from_value(
            serde_json::json!({"auth": {"mode": "bearerToken", "tokenFile": "/t"}}),
        )
        .unwrap();
        assert_eq!(
            settings,
            ServeSettings::new(AuthSettings::BearerToken { token_file: "/t".into() })
        );
        assert_eq!(settings.lease.name, "clu-ops-agent-scans");
        assert_eq!(settings.lease.namespace, "clu-ops");
    }

    #[test]
    fn unknown_fields_and_a_missing_auth_are_refused() {
        let error = serde_json::from_value::<ServeSettings>(serde_json::json!({})).unwrap_err();
        assert!(error.to_string().contains("auth"), "{error}");
        let error = serde_json::from_value::<ServeSettings>(serde_json::json!({
            "auth": {"mode": "tokenReview", "allowedGroup": ["x"]}
        }))
        .unwrap_err();
        assert!(error.to_string().contains("allowedGroup"), "{error}");
    }
}
