//! Cost Explorer views: GetCostAndUsage against moto (seeded through its static results API),
//! the rest against an awsJson stub, including an account that has not enabled Cost Explorer.

mod aws_support;

use aws_support::Harness;
use clu_testkit::awsstub::{AwsJsonStub, StubReply};
use clu_testkit::moto;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Queues results for moto's GetCostAndUsage, which answers each new request with the next.
async fn seed_cost_results(results: Value) {
    let endpoint = moto::endpoint();
    let address = endpoint.trim_start_matches("http://");
    let body = json!({ "results": results }).to_string();
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST /moto-api/static/ce/cost-and-usage-results HTTP/1.1\r\nHost: {address}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "moto refused the seed: {answer}");
}

fn group(key: &str, amount: &str) -> Value {
    json!({"Keys": [key], "Metrics": {"UnblendedCost": {"Amount": amount, "Unit": "USD"}}})
}

#[tokio::test]
async fn cost_by_service_and_by_tag_rank_groups_and_sum_the_rest() {
    let config = moto::sdk_config("eu-west-1").await;
    // A window of its own per run, since moto keeps each request's answer.
    let year = 2000 + std::process::id() % 20;
    let window = json!({"start": format!("{year}-03-01"), "end": format!("{year}-04-01")});
    seed_cost_results(json!([
        {"ResultsByTime": [{
            "TimePeriod": {"Start": format!("{year}-03-01"), "End": format!("{year}-04-01")},
            "Total": {},
            "Groups": [
                group("Amazon Relational Database Service", "120.004"),
                group("Amazon Elastic Compute Cloud - Compute", "812.5"),
                group("Amazon Simple Storage Service", "3.333"),
                group("AWS Key Management Service", "1.0"),
            ],
            "Estimated": false
        }]},
        {"ResultsByTime": [{
            "TimePeriod": {"Start": format!("{year}-03-01"), "End": format!("{year}-04-01")},
            "Total": {},
            "Groups": [group("team$orders", "40"), group("team$", "60")],
            "Estimated": true
        }]},
    ]))
    .await;
    let harness = Harness::new(config);

    let mut input = window.clone();
    input["top"] = json!(2);
    let by_service = harness.call("cost_by_service", input).await;
    let mut input = window.clone();
    input["tag_key"] = json!("team");
    let by_tag = harness.call("cost_by_tag", input).await;

    assert_eq!(by_service["enabled"], true);
    let period = &by_service["periods"][0];
    assert_eq!(
        period["groups"],
        json!([
            {"key": "Amazon Elastic Compute Cloud - Compute", "amount": 812.5},
            {"key": "Amazon Relational Database Service", "amount": 120.0},
        ])
    );
    assert_eq!(period["others"], 4.33);
    assert_eq!(period["total"], 936.84);
    assert_eq!(period["estimated"], false);
    assert_eq!(by_tag["tag_key"], "team");
    assert_eq!(by_tag["periods"][0]["groups"][0], json!({"key": "team$", "amount": 60.0}));
    assert_eq!(by_tag["periods"][0]["estimated"], true);
    harness.assert_declared_equals_used(&["cost_by_service", "cost_by_tag"]);
}

#[tokio::test]
async fn a_bad_window_is_refused_before_anything_is_sent() {
    let stub = AwsJsonStub::start(|_, _| StubReply::Ok(json!({}))).await;
    let harness = Harness::new(stub.sdk_config().await);

    let error = harness.error("cost_by_service", json!({"start": "03/01/2026"})).await;
    assert_eq!(error.code(), "invalid-input");
    assert!(error.to_string().contains("`start` is `03/01/2026`"), "{error}");
    let error =
        harness.error("cost_by_service", json!({"start": "2026-03-01", "end": "2026-02-01"})).await;
    assert!(error.to_string().contains("must come before"), "{error}");
    assert!(stub.requests().is_empty());
}

fn ce_stub(operation: &str, body: &Value) -> StubReply {
    match operation {
        "GetCostForecast" => StubReply::Ok(json!({
            "Total": {"Amount": "1234.5678", "Unit": "USD"},
            "ForecastResultsByTime": [{
                "TimePeriod": {"Start": "2026-12-01", "End": "2027-01-01"},
                "MeanValue": "1234.5678",
                "PredictionIntervalLowerBound": "1100.1",
                "PredictionIntervalUpperBound": "1400.9"
            }]
        })),
        "GetTags" if body.get("TagKey").is_some() => StubReply::Ok(json!({
            "Tags": ["orders", "payments"], "ReturnSize": 2, "TotalSize": 2
        })),
        "GetTags" if body.get("NextPageToken").is_none() => StubReply::Ok(json!({
            "Tags": ["team", "eks:cluster-name"], "ReturnSize": 2, "TotalSize": 3,
            "NextPageToken": "page-2"
        })),
        "GetTags" => StubReply::Ok(json!({"Tags": ["env"], "ReturnSize": 1, "TotalSize": 3})),
        "GetDimensionValues" => StubReply::Ok(json!({
            "DimensionValues": [
                {"Value": "eu-west-1", "Attributes": {"description": "EU (Ireland)"}},
                {"Value": "us-east-1", "Attributes": {}}
            ],
            "ReturnSize": 2, "TotalSize": 2
        })),
        other => StubReply::Error(400, "ValidationException".into(), format!("no {other}")),
    }
}

#[tokio::test]
async fn forecast_tags_and_dimension_values_are_read() {
    let stub = AwsJsonStub::start(ce_stub).await;
    let harness = Harness::new(stub.sdk_config().await);

    let forecast = harness.call("cost_forecast", json!({"days": 20})).await;
    let keys = harness.call("cost_list_tags", json!({})).await;
    let two_keys = harness.call("cost_list_tags", json!({"limit": 2})).await;
    let values = harness.call("cost_list_tags", json!({"tag_key": "team"})).await;
    let regions = harness.call("cost_dimension_values", json!({"dimension": "region"})).await;

    assert_eq!(forecast["total"], 1234.57);
    assert_eq!(
        forecast["periods"][0],
        json!({
            "start": "2026-12-01", "end": "2027-01-01", "mean": 1234.57, "low": 1100.1, "high": 1400.9
        })
    );
    assert_eq!(keys["tag_keys"], json!(["team", "eks:cluster-name", "env"]));
    assert_eq!(keys["truncated"], false);
    assert_eq!(two_keys["tag_keys"], json!(["team", "eks:cluster-name"]));
    assert_eq!(two_keys["truncated"], true);
    assert_eq!(values["values"], json!(["orders", "payments"]));
    assert_eq!(regions["dimension"], "REGION");
    assert_eq!(
        regions["values"][0],
        json!({"value": "eu-west-1", "attributes": {"description": "EU (Ireland)"}})
    );
    assert_eq!(regions["values"][1], json!({"value": "us-east-1"}));

    let requests = stub.requests();
    let forecast_request = requests.iter().find(|r| r.operation == "GetCostForecast").unwrap();
    assert_eq!(forecast_request.body["Metric"], "UNBLENDED_COST");
    assert_eq!(forecast_request.body["PredictionIntervalLevel"], 80);
    let period = &forecast_request.body["TimePeriod"];
    assert!(period["Start"].as_str().unwrap() < period["End"].as_str().unwrap(), "{period}");
    harness.assert_declared_equals_used(&[
        "cost_forecast",
        "cost_list_tags",
        "cost_dimension_values",
    ]);
}

#[tokio::test]
async fn an_account_without_cost_explorer_is_told_so() {
    let stub = AwsJsonStub::start(|_, _| {
        StubReply::Error(
            400,
            "DataUnavailableException".into(),
            "Cost Explorer has not been enabled for this account".into(),
        )
    })
    .await;
    let harness = Harness::new(stub.sdk_config().await);

    for (tool, input) in [
        ("cost_by_service", json!({})),
        ("cost_forecast", json!({})),
        ("cost_list_tags", json!({})),
        ("cost_dimension_values", json!({"dimension": "service"})),
    ] {
        let view = harness.call(tool, input).await;
        assert_eq!(view["enabled"], false, "{tool}: {view}");
        assert!(view["reason"].as_str().unwrap().contains("not been enabled"), "{tool}: {view}");
    }
}

#[tokio::test]
async fn access_denied_names_the_cost_explorer_action() {
    let stub = AwsJsonStub::start(|_, _| {
        StubReply::Error(400, "AccessDeniedException".into(), "User is not authorized".into())
    })
    .await;
    let harness = Harness::new(stub.sdk_config().await);

    let error = harness.error("cost_forecast", json!({})).await;

    assert_eq!(error.code(), "iam-access-denied");
    assert_eq!(
        error.to_string(),
        "tool `cost_forecast` needs `ce:GetCostForecast` on `*`: User is not authorized"
    );
}
