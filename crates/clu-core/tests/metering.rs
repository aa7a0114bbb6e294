//! Marketplace metering at start against a stub of the metering endpoint: what is sent, which
//! answers stop the agent with which code, which are retried and how often, and that the call
//! passes the permission guard like any tool's.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use clu_core::guard::Recorder;
use clu_core::metering::{
    Backoff, MeteringConfig, MeteringError, MeteringStatus, REGISTER_USAGE_TOOL, register_at_start,
};
use clu_core::{Registry, ToolEnv};
use clu_testkit::awsstub::{AwsJsonStub, StubReply};
use serde_json::{Value, json};

const PRODUCT_CODE: &str = "clu-product-code";

fn marketplace() -> MeteringConfig {
    MeteringConfig::Marketplace { product_code: PRODUCT_CODE.into(), public_key_version: 1 }
}

fn core_registry() -> Registry {
    clu_core::tools::registry().unwrap()
}

/// A fixed-seed backoff of `attempts` whose sleeps return at once and are recorded.
fn instant_backoff(attempts: u32) -> (Backoff, Arc<Mutex<Vec<Duration>>>) {
    let slept = Arc::new(Mutex::new(Vec::new()));
    let record = slept.clone();
    let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2), attempts)
        .with_seed(7)
        .with_sleeper(move |delay| {
            record.lock().unwrap_or_else(PoisonError::into_inner).push(delay);
            Box::pin(async {})
        });
    (backoff, slept)
}

fn slept(record: &Arc<Mutex<Vec<Duration>>>) -> Vec<Duration> {
    record.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

async fn env_for(stub: &AwsJsonStub) -> Arc<ToolEnv> {
    Arc::new(ToolEnv { aws: Some(stub.sdk_config().await), ..ToolEnv::default() })
}

fn signed_answer() -> StubReply {
    StubReply::Ok(
        json!({"Signature": "eyJhbGciOiJQUzI1NiJ9.e30.c2ln", "PublicKeyRotationTimestamp": 1_767_225_600}),
    )
}

fn register_usage_requests(stub: &AwsJsonStub) -> Vec<Value> {
    stub.requests()
        .into_iter()
        .inspect(|request| assert_eq!(request.operation, "RegisterUsage"))
        .map(|request| request.body)
        .collect()
}

#[tokio::test]
async fn a_registration_sends_the_product_code_key_version_and_nonce_and_continues() {
    let stub = AwsJsonStub::start(|_, _| signed_answer()).await;
    let (backoff, sleeps) = instant_backoff(4);

    let status =
        register_at_start(&core_registry(), &env_for(&stub).await, &marketplace(), &backoff)
            .await
            .unwrap();

    let MeteringStatus::Registered {
        product_code,
        nonce,
        signature_present,
        public_key_rotation_timestamp,
        attempts,
        ..
    } = status
    else {
        panic!("expected a registration, got {status:?}");
    };
    assert_eq!(product_code, PRODUCT_CODE);
    assert!(signature_present);
    assert_eq!(public_key_rotation_timestamp.as_deref(), Some("2026-01-01T00:00:00Z"));
    assert_eq!(attempts, 1);
    assert_eq!(nonce.len(), 32);
    assert_eq!(
        register_usage_requests(&stub),
        [json!({"ProductCode": PRODUCT_CODE, "PublicKeyVersion": 1, "Nonce": nonce})]
    );
    assert!(slept(&sleeps).is_empty());
}

#[tokio::test]
async fn an_answer_without_a_signature_is_reported_as_such() {
    let stub = AwsJsonStub::start(|_, _| StubReply::Ok(json!({}))).await;
    let (backoff, _) = instant_backoff(2);

    let status =
        register_at_start(&core_registry(), &env_for(&stub).await, &marketplace(), &backoff)
            .await
            .unwrap();

    assert!(
        matches!(status, MeteringStatus::Registered { signature_present: false, .. }),
        "{status:?}"
    );
}

#[tokio::test]
async fn every_refusal_no_retry_can_change_stops_after_one_request_with_its_code() {
    let cases = [
        ("CustomerNotEntitledException", 400, "not-entitled", 10, "subscribe to Clu"),
        ("InvalidProductCodeException", 400, "invalid-product-code", 11, "`clu-product-code`"),
        ("PlatformNotSupportedException", 400, "platform-not-supported", 12, "Amazon EKS"),
        ("InvalidPublicKeyVersionException", 400, "invalid-public-key-version", 13, "version 1"),
        ("InvalidRegionException", 400, "invalid-region", 14, "`eu-west-1`"),
        ("DisabledApiException", 400, "metering-api-disabled", 15, "disabled in region"),
        ("AccessDeniedException", 400, "metering-access-denied", 16, "docs/iam/core.json"),
        ("ValidationException", 400, "metering-failed", 19, "failed to register usage"),
    ];
    for (aws_code, status, code, exit_code, names) in cases {
        let stub = AwsJsonStub::start(move |_, _| {
            StubReply::Error(status, aws_code.into(), "refused by the stub".into())
        })
        .await;
        let (backoff, sleeps) = instant_backoff(5);

        let error =
            register_at_start(&core_registry(), &env_for(&stub).await, &marketplace(), &backoff)
                .await
                .unwrap_err();

        assert_eq!((error.code(), error.exit_code()), (code, exit_code), "{aws_code}: {error}");
        let message = error.to_string();
        assert!(message.contains(names), "{aws_code}: {message}");
        if code != "metering-failed" {
            assert!(message.contains("refused by the stub"), "{aws_code}: {message}");
        }
        assert_eq!(register_usage_requests(&stub).len(), 1, "{aws_code} was retried");
        assert!(slept(&sleeps).is_empty(), "{aws_code} waited");
    }
}

#[tokio::test]
async fn throttling_twice_then_success_takes_three_requests_and_the_backoff_waits() {
    let answered = Arc::new(Mutex::new(0));
    let count = answered.clone();
    let stub = AwsJsonStub::start(move |_, _| {
        let mut count = count.lock().unwrap_or_else(PoisonError::into_inner);
        *count += 1;
        if *count <= 2 {
            StubReply::Error(400, "ThrottlingException".into(), "Rate exceeded".into())
        } else {
            signed_answer()
        }
    })
    .await;
    let (backoff, sleeps) = instant_backoff(5);

    let status =
        register_at_start(&core_registry(), &env_for(&stub).await, &marketplace(), &backoff)
            .await
            .unwrap();

    assert!(matches!(status, MeteringStatus::Registered { attempts: 3, .. }), "{status:?}");
    let bodies = register_usage_requests(&stub);
    assert_eq!(bodies.len(), 3);
    assert!(bodies.iter().all(|body| body == &bodies[0]), "every retry resends the same nonce");
    assert_eq!(slept(&sleeps), backoff.delays()[..2]);
}

#[tokio::test]
async fn internal_errors_until_the_attempts_run_out_stop_with_their_own_code() {
    let stub = AwsJsonStub::start(|_, _| {
        StubReply::Error(500, "InternalServiceErrorException".into(), "try again".into())
    })
    .await;
    let (backoff, sleeps) = instant_backoff(4);

    let error =
        register_at_start(&core_registry(), &env_for(&stub).await, &marketplace(), &backoff)
            .await
            .unwrap_err();

    assert!(matches!(error, MeteringError::RetriesExhausted { attempts: 4, .. }), "{error:?}");
    assert_eq!((error.code(), error.exit_code()), ("metering-retries-exhausted", 17));
    assert!(error.to_string().contains("InternalServiceErrorException: try again"), "{error}");
    assert_eq!(register_usage_requests(&stub).len(), 4);
    assert_eq!(slept(&sleeps), backoff.delays());
}

#[tokio::test]
async fn a_server_error_without_a_known_code_is_retried() {
    let stub = AwsJsonStub::start(|_, _| {
        StubReply::Error(503, "ServiceUnavailable".into(), "down for a moment".into())
    })
    .await;
    let (backoff, _) = instant_backoff(2);

    let error =
        register_at_start(&core_registry(), &env_for(&stub).await, &marketplace(), &backoff)
            .await
            .unwrap_err();

    assert_eq!(error.code(), "metering-retries-exhausted");
    assert_eq!(register_usage_requests(&stub).len(), 2);
}

#[tokio::test]
async fn an_endpoint_that_cannot_be_reached_is_retried_until_the_attempts_run_out() {
    let stub = AwsJsonStub::start(|_, _| signed_answer()).await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let config =
        stub.sdk_config().await.to_builder().endpoint_url(format!("http://{closed}")).build();
    let env = Arc::new(ToolEnv { aws: Some(config), ..ToolEnv::default() });
    let (backoff, sleeps) = instant_backoff(3);

    let error =
        register_at_start(&core_registry(), &env, &marketplace(), &backoff).await.unwrap_err();

    assert!(matches!(error, MeteringError::RetriesExhausted { attempts: 3, .. }), "{error:?}");
    assert!(error.to_string().contains("transient failure"), "{error}");
    assert_eq!(slept(&sleeps).len(), 2);
}

/// Collects what a tracing subscriber writes, for tests of log lines.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn metering_off_sends_nothing_and_warns_that_the_agent_runs_unmetered() {
    let stub = AwsJsonStub::start(|_, _| signed_answer()).await;
    let (backoff, _) = instant_backoff(3);
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber =
        tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
    let _default = tracing::subscriber::set_default(subscriber);

    let status =
        register_at_start(&core_registry(), &env_for(&stub).await, &MeteringConfig::Off, &backoff)
            .await
            .unwrap();

    assert_eq!(status, MeteringStatus::Unmetered);
    assert!(stub.requests().is_empty(), "{:?}", stub.requests());
    let log = String::from_utf8_lossy(&captured.0.lock().unwrap_or_else(PoisonError::into_inner))
        .into_owned();
    assert!(log.contains("WARN"), "{log}");
    assert!(log.contains("runs unmetered because metering is switched off"), "{log}");
}

#[tokio::test]
async fn without_an_aws_configuration_the_agent_stops_naming_what_is_missing() {
    let (backoff, _) = instant_backoff(3);
    let env = Arc::new(ToolEnv::default());

    let error =
        register_at_start(&core_registry(), &env, &marketplace(), &backoff).await.unwrap_err();

    assert_eq!((error.code(), error.exit_code()), ("metering-failed", 19));
    let source = std::error::Error::source(&error).map(ToString::to_string).unwrap_or_default();
    assert!(source.contains("an AWS configuration"), "{source}");
}

#[tokio::test]
async fn a_key_version_below_one_is_invalid_config_and_sends_nothing() {
    let stub = AwsJsonStub::start(|_, _| signed_answer()).await;
    let (backoff, _) = instant_backoff(3);
    let config =
        MeteringConfig::Marketplace { product_code: PRODUCT_CODE.into(), public_key_version: 0 };

    let error = register_at_start(&core_registry(), &env_for(&stub).await, &config, &backoff)
        .await
        .unwrap_err();

    assert_eq!((error.code(), error.exit_code()), ("invalid-metering-config", 18));
    assert!(error.to_string().contains("`/public_key_version`"), "{error}");
    assert!(stub.requests().is_empty());
}

#[tokio::test]
async fn the_call_passes_the_guard_and_is_audited_with_its_action() {
    let stub = AwsJsonStub::start(|_, _| signed_answer()).await;
    let input = json!({"product_code": PRODUCT_CODE, "public_key_version": 2});

    let outcome = core_registry().call(&env_for(&stub).await, REGISTER_USAGE_TOOL, input).await;

    assert_eq!(outcome.result.unwrap()["signature"], "eyJhbGciOiJQUzI1NiJ9.e30.c2ln");
    assert_eq!(outcome.audit.aws_actions, ["aws-marketplace:RegisterUsage"]);
    assert_eq!(outcome.audit.outcome, "ok");
    assert!(outcome.audit.refused.is_empty());
    assert_eq!(
        register_usage_requests(&stub),
        [json!({"ProductCode": PRODUCT_CODE, "PublicKeyVersion": 2})]
    );
}

#[tokio::test]
async fn the_tool_declares_exactly_the_actions_it_uses() {
    let stub = AwsJsonStub::start(|_, _| signed_answer()).await;
    let recorder = Recorder::new();
    let env = Arc::new(ToolEnv {
        aws: Some(stub.sdk_config().await),
        recorder: Some(recorder.clone()),
        ..ToolEnv::default()
    });
    let registry = core_registry();
    let (backoff, _) = instant_backoff(1);

    register_at_start(&registry, &env, &marketplace(), &backoff).await.unwrap();

    let spec = registry.get(REGISTER_USAGE_TOOL).unwrap().spec();
    assert_eq!(recorder.actions_of(REGISTER_USAGE_TOOL), spec.permissions.actions());
    assert_eq!(recorder.tools().into_iter().collect::<Vec<_>>(), [REGISTER_USAGE_TOOL]);
}

#[test]
fn the_tool_is_internal_and_never_offered_to_the_model() {
    let registry = core_registry();
    let tool = registry.get(REGISTER_USAGE_TOOL).unwrap();
    assert!(!tool.spec().offered_to_model);
    assert!(registry.offered_to_model().all(|tool| tool.spec().name != REGISTER_USAGE_TOOL));
}

#[test]
fn the_configuration_must_name_its_mode() {
    let off: MeteringConfig = serde_json::from_value(json!({"mode": "off"})).unwrap();
    assert_eq!(off, MeteringConfig::Off);
    let metered: MeteringConfig = serde_json::from_value(
        json!({"mode": "marketplace", "productCode": "abc", "publicKeyVersion": 1}),
    )
    .unwrap();
    assert_eq!(
        metered,
        MeteringConfig::Marketplace { product_code: "abc".into(), public_key_version: 1 }
    );

    for wrong in [
        json!({}),
        json!({"productCode": "abc", "publicKeyVersion": 1}),
        json!({"mode": "marketplace", "productCode": "abc"}),
        json!({"mode": "marketplace", "productCode": "abc", "publicKeyVersion": 1, "x": 1}),
    ] {
        assert!(serde_json::from_value::<MeteringConfig>(wrong.clone()).is_err(), "{wrong}");
    }
}

#[test]
fn the_delays_grow_within_their_jitter_band_up_to_the_cap() {
    let backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1), 7).with_seed(42);

    let delays = backoff.delays();

    assert_eq!(delays.len(), 6);
    for (retry, delay) in delays.iter().enumerate() {
        let cap = (Duration::from_millis(100) * 2u32.pow(retry as u32)).min(Duration::from_secs(1));
        assert!(
            *delay >= cap / 2 && *delay <= cap,
            "retry {retry}: {delay:?} outside [{:?}, {cap:?}]",
            cap / 2
        );
    }
    assert!(delays[4] >= Duration::from_millis(500) && delays[5] <= Duration::from_secs(1));
}

#[test]
fn the_delays_are_a_pure_function_of_the_seed() {
    let backoff =
        |seed| Backoff::new(Duration::from_millis(100), Duration::from_secs(5), 6).with_seed(seed);

    assert_eq!(backoff(1).delays(), backoff(1).delays());
    assert_ne!(backoff(1).delays(), backoff(2).delays());
    assert_eq!(backoff(1).delay(3), backoff(1).delays()[3]);
}

#[test]
fn a_single_attempt_never_waits_and_huge_retries_stay_at_the_cap() {
    let once = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 0);
    assert_eq!(once.attempts(), 1);
    assert!(once.delays().is_empty());

    let capped = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 3).with_seed(9);
    assert!(capped.delay(200) <= Duration::from_secs(30));
    assert!(capped.delay(200) >= Duration::from_secs(15));
}

#[test]
fn every_metering_code_and_exit_code_is_documented() {
    let page =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/errors.md"))
            .unwrap();
    let section =
        page.split("## Marketplace metering").nth(1).expect("a Marketplace metering section");
    for (code, exit_code) in MeteringError::CODES {
        assert!(
            section.lines().any(|line| line.starts_with(&format!("| {exit_code} | `{code}` |"))),
            "docs/errors.md does not list `{code}` with exit code {exit_code}"
        );
    }
}
