//! What the stub servers share: serving a router on a free loopback port, and an SDK
//! configuration that points at an endpoint with static test credentials.

use std::net::SocketAddr;

use aws_credential_types::Credentials;
use aws_types::SdkConfig;
use aws_types::region::Region;

/// Serves `app` on a free loopback port until the test's runtime ends; panics naming `what`
/// when no port can be bound, since a test cannot run without its stub.
pub(crate) async fn serve(app: axum::Router, what: &str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("cannot bind a loopback port for the {what}: {e}"));
    let address = listener.local_addr().unwrap_or_else(|e| panic!("no local address: {e}"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    address
}

/// An SDK configuration for `endpoint` in `region` with static test credentials; with
/// `attempts`, the retry limit (one makes error tests answer without waiting on retries).
pub(crate) async fn sdk_config(endpoint: String, region: &str, attempts: Option<u32>) -> SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "clu-testkit"));
    if let Some(attempts) = attempts {
        loader = loader
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(attempts));
    }
    loader.load().await
}
