//! Who may call the service: a bearer token from a mounted file, or Kubernetes TokenReview
//! with an allow list. Every route but `/healthz`, `/readyz` and `/metrics` passes here.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use axum::http::{HeaderMap, StatusCode, header};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use kube::Api;
use kube::api::PostParams;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ServeError};
use crate::settings::AuthSettings;

/// The caller a request was authenticated as, for the logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Caller {
    /// The user name TokenReview gave, or `bearer-token` for the shared token.
    pub(crate) name: String,
}

/// Checks the credentials of a request.
pub(crate) enum Authenticator {
    /// A shared token in a file.
    Bearer(BearerFile),
    /// Kubernetes TokenReview with an allow list.
    TokenReview(TokenReviewer),
}

impl Authenticator {
    /// The authenticator `settings` describe; TokenReview needs the cluster's `client`.
    pub(crate) fn new(
        settings: &AuthSettings,
        client: Option<kube::Client>,
    ) -> Result<Self, ServeError> {
        match settings {
            AuthSettings::BearerToken { token_file } => {
                let file = BearerFile { path: token_file.clone(), cached: Mutex::new(None) };
                file.digest().map_err(|problem| {
                    ServeError::Settings(format!("`serve.auth.tokenFile`: {problem}"))
                })?;
                Ok(Self::Bearer(file))
            }
            AuthSettings::TokenReview {
                allowed_users,
                allowed_groups,
                allowed_service_accounts,
                cache_for,
            } => {
                let client = client.ok_or_else(|| {
                    ServeError::Settings(
                        "`serve.auth.mode: tokenReview` needs a Kubernetes client, and the agent \
                         has none (no in-cluster service account and no kubeconfig)"
                            .into(),
                    )
                })?;
                let mut service_accounts = BTreeSet::new();
                for account in allowed_service_accounts {
                    let Some((namespace, name)) = account.split_once('/') else {
                        return Err(ServeError::Settings(format!(
                            "`serve.auth.allowedServiceAccounts`: `{account}` is not \
                             `namespace/name`"
                        )));
                    };
                    service_accounts.insert(format!("system:serviceaccount:{namespace}:{name}"));
                }
                if allowed_users.is_empty()
                    && allowed_groups.is_empty()
                    && service_accounts.is_empty()
                {
                    return Err(ServeError::Settings(
                        "`serve.auth.mode: tokenReview` allows nobody: list callers in \
                         `allowedUsers`, `allowedGroups` or `allowedServiceAccounts`"
                            .into(),
                    ));
                }
                Ok(Self::TokenReview(TokenReviewer {
                    client,
                    users: allowed_users.iter().cloned().collect(),
                    groups: allowed_groups.iter().cloned().collect(),
                    service_accounts,
                    cache_for: *cache_for,
                    cache: Mutex::new(HashMap::new()),
                }))
            }
        }
    }

    /// The caller of a request with `headers`, or the error to answer with.
    pub(crate) async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, ApiError> {
        let token = bearer_token(headers)?;
        match self {
            Self::Bearer(file) => file.check(token),
            Self::TokenReview(reviewer) => reviewer.check(token).await,
        }
    }
}

/// The token of an `Authorization: Bearer` header.
fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthenticated("missing credentials: send `Authorization: Bearer <token>`")
    })?;
    let text = value.to_str().map_err(|_| {
        ApiError::unauthenticated("the `Authorization` header is not visible ASCII")
    })?;
    match text.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(token.trim())
        }
        _ => Err(ApiError::unauthenticated("the `Authorization` header is not `Bearer <token>`")),
    }
}

/// SHA-256 of a token: comparing digests of equal length in constant time hides both the
/// token's bytes and its length from a timing attacker.
fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |difference, (x, y)| difference | (x ^ y)) == 0
}

/// The shared token, read again whenever its file changes, as a mounted Secret does when it is
/// rotated (the kubelet swaps a symlink, which changes the file's modification time).
pub(crate) struct BearerFile {
    path: PathBuf,
    cached: Mutex<Option<CachedToken>>,
}

#[derive(Clone, Copy)]
struct CachedToken {
    modified: Option<SystemTime>,
    len: u64,
    digest: [u8; 32],
}

impl BearerFile {
    /// The digest of the current token, reading the file when it changed since last time.
    fn digest(&self) -> Result<[u8; 32], String> {
        let shown = self.path.display();
        let metadata =
            std::fs::metadata(&self.path).map_err(|e| format!("cannot read {shown}: {e}"))?;
        let modified = metadata.modified().ok();
        let mut cached = self.cached.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(token) = *cached
            && token.modified == modified
            && token.len == metadata.len()
        {
            return Ok(token.digest);
        }
        let text =
            std::fs::read_to_string(&self.path).map_err(|e| format!("cannot read {shown}: {e}"))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(format!("{shown} is empty"));
        }
        let fresh = CachedToken { modified, len: metadata.len(), digest: digest(token) };
        *cached = Some(fresh);
        Ok(fresh.digest)
    }

    fn check(&self, presented: &str) -> Result<Caller, ApiError> {
        let expected = match self.digest() {
            Ok(expected) => expected,
            Err(problem) => {
                // A rotation in progress can leave the file briefly unreadable; the last token
                // read stays valid until a new one can be read.
                let last =
                    self.cached.lock().unwrap_or_else(PoisonError::into_inner).map(|c| c.digest);
                match last {
                    Some(last) => {
                        tracing::warn!(%problem, "keeping the last bearer token read");
                        last
                    }
                    None => {
                        return Err(ApiError::new(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "auth-unavailable",
                            format!("the service cannot read its token file: {problem}"),
                        ));
                    }
                }
            }
        };
        if constant_time_eq(&digest(presented), &expected) {
            Ok(Caller { name: "bearer-token".into() })
        } else {
            Err(ApiError::unauthenticated("the bearer token is not valid"))
        }
    }
}

/// TokenReview against the API server, with answers reused for a while per token.
pub(crate) struct TokenReviewer {
    client: kube::Client,
    users: BTreeSet<String>,
    groups: BTreeSet<String>,
    service_accounts: BTreeSet<String>,
    cache_for: Duration,
    cache: Mutex<HashMap<[u8; 32], Reviewed>>,
}

/// An answer of the API server about one token, and when it came.
type Reviewed = (Instant, Result<Caller, ApiError>);

/// Answers kept at most; past it the cache starts over, which bounds memory when many
/// different tokens are tried.
const REVIEW_CACHE_ENTRIES: usize = 1024;

impl TokenReviewer {
    async fn check(&self, token: &str) -> Result<Caller, ApiError> {
        let key = digest(token);
        if let Some((at, answer)) =
            self.cache.lock().unwrap_or_else(PoisonError::into_inner).get(&key)
            && at.elapsed() < self.cache_for
        {
            return answer.clone();
        }

        let review = TokenReview {
            spec: TokenReviewSpec { token: Some(token.to_owned()), audiences: None },
            ..TokenReview::default()
        };
        let reviewed = Api::<TokenReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await
            .map_err(|error| {
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "auth-unavailable",
                    format!("the Kubernetes TokenReview failed: {error}"),
                )
            })?;
        let answer = self.judge(reviewed);

        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= REVIEW_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(key, (Instant::now(), answer.clone()));
        answer
    }

    fn judge(&self, reviewed: TokenReview) -> Result<Caller, ApiError> {
        let status = reviewed.status.unwrap_or_default();
        if status.authenticated != Some(true) {
            let why = status.error.unwrap_or_else(|| "the token is not valid".into());
            return Err(ApiError::unauthenticated(format!(
                "the API server did not authenticate the token: {why}"
            )));
        }
        let user = status.user.unwrap_or_default();
        let name = user.username.unwrap_or_default();
        let groups = user.groups.unwrap_or_default();
        let allowed = self.users.contains(&name)
            || self.service_accounts.contains(&name)
            || groups.iter().any(|group| self.groups.contains(group));
        if allowed {
            Ok(Caller { name })
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "not-authorized",
                format!(
                    "`{name}` is authenticated but not allowed: list it in \
                     `serve.auth.allowedUsers` or `allowedServiceAccounts`, or one of its groups \
                     in `allowedGroups`"
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, value.parse().unwrap());
        headers
    }

    #[test]
    fn reads_the_bearer_scheme_only() {
        assert_eq!(bearer_token(&headers("Bearer abc")).unwrap(), "abc");
        assert_eq!(bearer_token(&headers("bearer  abc ")).unwrap(), "abc");
        assert!(bearer_token(&headers("Basic abc")).is_err());
        assert!(bearer_token(&headers("Bearer ")).is_err());
        assert_eq!(bearer_token(&HeaderMap::new()).unwrap_err().code, "unauthenticated");
    }

    #[test]
    fn a_rotated_token_file_takes_effect_and_the_old_token_stops_working() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").unwrap();
        let file = BearerFile { path: path.clone(), cached: Mutex::new(None) };
        assert!(file.check("first").is_ok());
        assert!(file.check("firs").is_err());

        // A longer token changes the length even where the clock does not tick.
        std::fs::write(&path, "second-token\n").unwrap();
        assert!(file.check("second-token").is_ok());
        assert_eq!(file.check("first").unwrap_err().code, "unauthenticated");

        std::fs::remove_file(&path).unwrap();
        assert!(file.check("second-token").is_ok(), "the last token read stays valid");
    }

    #[test]
    fn digests_compare_equal_only_when_equal() {
        assert!(constant_time_eq(&digest("a"), &digest("a")));
        assert!(!constant_time_eq(&digest("a"), &digest("b")));
    }
}
