//! Access to a moto server, the AWS emulator the tests run against.
//!
//! `.ci/run` starts one on `127.0.0.1:5000` and exports `MOTO_ENDPOINT`; a developer does the
//! same (see the README). Tests isolate themselves with unique resource names, not by resetting
//! the server, because tests in one binary run concurrently.

use std::sync::atomic::{AtomicU64, Ordering};

use aws_types::SdkConfig;

/// Where moto listens, from `MOTO_ENDPOINT` or the default `http://127.0.0.1:5000`.
pub fn endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5000".to_owned())
}

/// An SDK configuration for moto: endpoint override, static test credentials, a fixed region.
///
/// Panics with a clear instruction when no moto server answers, because a test that needs one
/// must not pass silently without it.
pub async fn sdk_config(region: &str) -> SdkConfig {
    let endpoint = endpoint();
    let address = endpoint.trim_start_matches("http://").to_owned();
    if tokio::net::TcpStream::connect(&address).await.is_err() {
        panic!(
            "no moto server at {endpoint}: start one with `moto_server -H 127.0.0.1 -p 5000` \
             (see README.md) or set MOTO_ENDPOINT"
        );
    }
    crate::local::sdk_config(endpoint, region, None).await
}

/// A name no other test in this process uses, such as `clu-test-17-volumes`.
pub fn unique_name(label: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("clu-test-{}-{n}-{label}", std::process::id())
}
