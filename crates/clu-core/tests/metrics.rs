//! The CloudWatch metrics tools against the real SDK, over the wire, through the guard.
//!
//! The CloudWatch SDK speaks Smithy RPC v2 CBOR, which moto does not serve, so these tests run
//! every tool against `clu_testkit::cborstub`: the request leaves the real tool code through a
//! client built by `aws_client!`, passes the permission guard, is encoded, sent over HTTP and
//! decoded by the stub, and the stub's reply goes back through the SDK's own deserializers.

use std::sync::Arc;

use clu_core::guard::Recorder;
use clu_core::tool::ToolEnv;
use clu_core::{CallOutcome, Registry};
use clu_testkit::cborstub::{CborStub, StubReply, timestamp};
use serde_json::{Value, json};

/// 2024-05-01T12:00:00Z.
const NOON: i64 = 1_714_564_800;

async fn env(stub: &CborStub) -> Arc<ToolEnv> {
    Arc::new(ToolEnv { aws: Some(stub.sdk_config().await), ..ToolEnv::default() })
}

async fn call(stub: &CborStub, tool: &str, input: Value) -> CallOutcome {
    let registry = clu_core::tools::registry().unwrap();
    registry.call(&env(stub).await, tool, input).await
}

/// The epoch seconds of a timestamp as the stub decoded it.
fn seconds(value: &Value) -> f64 {
    value["$timestamp"].as_f64().unwrap_or_else(|| panic!("not a timestamp: {value}"))
}

/// A pod CPU series as CloudWatch pages it when asked newest first: `points` of
/// (seconds before noon, value).
fn cpu_result(status: &str, points: &[(i64, f64)]) -> Value {
    json!({
        "Id": "cpu",
        "Label": "pod_cpu_utilization",
        "StatusCode": status,
        "Timestamps": points.iter().map(|(ago, _)| timestamp(NOON - ago)).collect::<Vec<_>>(),
        "Values": points.iter().map(|(_, v)| *v).collect::<Vec<_>>(),
    })
}

#[tokio::test]
async fn get_metric_data_merges_pages_and_summarizes_each_series() {
    let stub = CborStub::start(|operation, body| {
        assert_eq!(operation, "GetMetricData");
        match body.get("NextToken").and_then(Value::as_str) {
            None => StubReply::Ok(json!({
                "MetricDataResults": [
                    cpu_result("PartialData", &[(0, 71.5), (60, 64.0)]),
                    {"Id": "ratio", "StatusCode": "Complete", "Timestamps": [timestamp(NOON)], "Values": [0.5]},
                ],
                "NextToken": "page-2",
                "Messages": [],
            })),
            Some("page-2") => StubReply::Ok(json!({
                "MetricDataResults": [cpu_result("Complete", &[(120, 12.5)])],
            })),
            Some(other) => StubReply::Error(400, "InvalidNextToken".into(), format!("unknown {other}")),
        }
    })
    .await;

    let outcome = call(
        &stub,
        "cloudwatch_get_metric_data",
        json!({
            "since_minutes": 60,
            "queries": [
                {
                    "id": "cpu",
                    "namespace": "ContainerInsights",
                    "metric_name": "pod_cpu_utilization",
                    "dimensions": {"ClusterName": "prod", "Namespace": "shop", "PodName": "web"},
                },
                {
                    "id": "limit",
                    "namespace": "ContainerInsights",
                    "metric_name": "pod_cpu_limit",
                    "dimensions": {"ClusterName": "prod"},
                    "stat": "Maximum",
                    "period": 300,
                    "return_data": false,
                },
                {"id": "ratio", "expression": "cpu / limit", "label": "cpu over limit"},
            ],
        }),
    )
    .await;

    let output = outcome.result.unwrap();
    assert_eq!(outcome.audit.aws_actions, ["cloudwatch:GetMetricData", "cloudwatch:GetMetricData"]);
    let cpu = &output["series"][0];
    assert_eq!(cpu["id"], "cpu");
    assert_eq!(cpu["label"], "pod_cpu_utilization");
    assert_eq!(cpu["status"], "Complete", "the last page decides the status");
    assert_eq!(
        cpu["timestamps"],
        json!(["2024-05-01T11:58:00Z", "2024-05-01T11:59:00Z", "2024-05-01T12:00:00Z"])
    );
    assert_eq!(cpu["values"], json!([12.5, 64.0, 71.5]));
    assert_eq!(
        cpu["summary"],
        json!({
            "points": 3, "min": 12.5, "max": 71.5, "avg": 49.333333333333336, "last": 71.5,
            "last_at": "2024-05-01T12:00:00Z",
        })
    );
    assert_eq!(cpu["truncated"], false);
    assert_eq!(output["series"][1]["id"], "ratio");
    assert_eq!(output["series"].as_array().unwrap().len(), 2);
    assert_eq!(output["truncated"], false);
    assert_eq!(output["default_period"], 60);

    let requests = stub.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].service, "GraniteServiceVersion20100801");
    assert_eq!(requests[1].body["NextToken"], "page-2");
    let body = &requests[0].body;
    assert_eq!(body["ScanBy"], "TimestampDescending");
    assert_eq!(seconds(&body["EndTime"]) - seconds(&body["StartTime"]), 3600.0);
    let queries = &body["MetricDataQueries"];
    assert_eq!(
        queries[0],
        json!({
            "Id": "cpu",
            "MetricStat": {
                "Metric": {
                    "Namespace": "ContainerInsights",
                    "MetricName": "pod_cpu_utilization",
                    "Dimensions": [
                        {"Name": "ClusterName", "Value": "prod"},
                        {"Name": "Namespace", "Value": "shop"},
                        {"Name": "PodName", "Value": "web"},
                    ],
                },
                "Period": 60,
                "Stat": "Average",
            },
        })
    );
    assert_eq!(queries[1]["MetricStat"]["Period"], 300);
    assert_eq!(queries[1]["MetricStat"]["Stat"], "Maximum");
    assert_eq!(queries[1]["ReturnData"], false);
    assert_eq!(
        queries[2],
        json!({"Id": "ratio", "Expression": "cpu / limit", "Label": "cpu over limit"})
    );
}

#[tokio::test]
async fn get_metric_data_keeps_the_newest_points_and_says_how_many_it_dropped() {
    let stub = CborStub::start(|_, _| {
        let points: Vec<(i64, f64)> = (0..5).map(|i| (i * 60, f64::from(i as i32))).collect();
        StubReply::Ok(json!({"MetricDataResults": [cpu_result("Complete", &points)]}))
    })
    .await;

    let output = call(
        &stub,
        "cloudwatch_get_metric_data",
        json!({
            "start": "2024-05-01T11:00:00Z",
            "end": "2024-05-01T12:00:00Z",
            "max_points_per_series": 2,
            "queries": [{"id": "cpu", "namespace": "ContainerInsights", "metric_name": "pod_cpu_utilization"}],
        }),
    )
    .await
    .result
    .unwrap();

    let cpu = &output["series"][0];
    assert_eq!(cpu["timestamps"], json!(["2024-05-01T11:59:00Z", "2024-05-01T12:00:00Z"]));
    assert_eq!(cpu["values"], json!([1.0, 0.0]));
    assert_eq!(cpu["truncated"], true);
    assert_eq!(cpu["note"], "kept the newest 2 of 5 points");
    assert_eq!(cpu["summary"]["points"], 5);
    assert_eq!(cpu["summary"]["max"], 4.0);
    assert_eq!(output["start"], "2024-05-01T11:00:00Z");
    assert_eq!(output["end"], "2024-05-01T12:00:00Z");
    let body = &stub.requests()[0].body;
    assert_eq!(seconds(&body["StartTime"]), (NOON - 3600) as f64);
    assert_eq!(seconds(&body["EndTime"]), NOON as f64);
}

#[tokio::test]
async fn get_metric_data_stops_at_the_page_bound_and_marks_the_output_truncated() {
    // Each page points to the next; the SDK's paginator stops on a repeated token.
    let stub = CborStub::start(|_, body| {
        let page = body.get("NextToken").and_then(Value::as_str).map_or(0, |t| t.len());
        StubReply::Ok(json!({
            "MetricDataResults": [cpu_result("PartialData", &[(page as i64 * 60, 1.0)])],
            "NextToken": "n".repeat(page + 1),
        }))
    })
    .await;

    let output = call(
        &stub,
        "cloudwatch_get_metric_data",
        json!({"queries": [{"id": "cpu", "namespace": "ContainerInsights", "metric_name": "pod_cpu_utilization"}]}),
    )
    .await
    .result
    .unwrap();

    assert_eq!(stub.requests().len(), 10);
    assert_eq!(output["truncated"], true);
    assert!(output["note"].as_str().unwrap().contains("more than 10 pages"), "{output}");
    assert_eq!(output["series"][0]["status"], "PartialData");
    assert_eq!(output["series"][0]["summary"]["points"], 10);
}

#[tokio::test]
async fn get_metric_statistics_returns_percentiles_sorted_by_time() {
    let stub = CborStub::start(|_, _| {
        StubReply::Ok(json!({
            "Label": "TargetResponseTime",
            "Datapoints": [
                {"Timestamp": timestamp(NOON), "Average": 0.21, "Maximum": 1.9, "Unit": "Seconds",
                 "ExtendedStatistics": {"p99": 1.2}},
                {"Timestamp": timestamp(NOON - 300), "Average": 0.18, "Maximum": 0.7, "Unit": "Seconds",
                 "ExtendedStatistics": {"p99": 0.6}},
            ],
        }))
    })
    .await;

    let outcome = call(
        &stub,
        "cloudwatch_get_metric_statistics",
        json!({
            "namespace": "AWS/ApplicationELB",
            "metric_name": "TargetResponseTime",
            "dimensions": {"LoadBalancer": "app/shop/50dc6c495c0c9188"},
            "statistics": ["average", "Maximum", "p99"],
            "period": 300,
            "start": "2024-05-01T11:00:00Z",
            "end": "2024-05-01T12:00:00Z",
        }),
    )
    .await;

    let output = outcome.result.unwrap();
    assert_eq!(outcome.audit.aws_actions, ["cloudwatch:GetMetricStatistics"]);
    assert_eq!(
        output["datapoints"],
        json!([
            {"timestamp": "2024-05-01T11:55:00Z", "Average": 0.18, "Maximum": 0.7, "p99": 0.6},
            {"timestamp": "2024-05-01T12:00:00Z", "Average": 0.21, "Maximum": 1.9, "p99": 1.2},
        ])
    );
    assert_eq!(output["unit"], "Seconds");
    assert_eq!(output["period"], 300);
    assert_eq!(output["label"], "TargetResponseTime");

    let body = &stub.requests()[0].body;
    assert_eq!(stub.operations(), ["GetMetricStatistics"]);
    assert_eq!(body["Namespace"], "AWS/ApplicationELB");
    assert_eq!(
        body["Dimensions"],
        json!([{"Name": "LoadBalancer", "Value": "app/shop/50dc6c495c0c9188"}])
    );
    assert_eq!(body["Statistics"], json!(["Average", "Maximum"]));
    assert_eq!(body["ExtendedStatistics"], json!(["p99"]));
    assert_eq!(body["Period"], 300);
}

#[tokio::test]
async fn list_metrics_pages_to_the_limit_with_compact_rows() {
    let stub = CborStub::start(|_, body| {
        let metric = |pod: &str| {
            json!({
                "Namespace": "ContainerInsights",
                "MetricName": "pod_memory_utilization",
                "Dimensions": [{"Name": "ClusterName", "Value": "prod"}, {"Name": "PodName", "Value": pod}],
            })
        };
        match body.get("NextToken").and_then(Value::as_str) {
            None => StubReply::Ok(json!({"Metrics": [metric("web"), metric("worker")], "NextToken": "p2"})),
            Some(_) => StubReply::Ok(json!({"Metrics": [metric("cron"), metric("api")], "NextToken": "p3"})),
        }
    })
    .await;

    let output = call(
        &stub,
        "cloudwatch_list_metrics",
        json!({
            "namespace": "ContainerInsights",
            "dimensions": [{"name": "ClusterName", "value": "prod"}, {"name": "PodName"}],
            "recently_active": true,
            "limit": 3,
        }),
    )
    .await
    .result
    .unwrap();

    assert_eq!(output["truncated"], true);
    let metrics = output["metrics"].as_array().unwrap();
    assert_eq!(metrics.len(), 3);
    assert_eq!(
        metrics[2],
        json!({
            "namespace": "ContainerInsights",
            "metric_name": "pod_memory_utilization",
            "dimensions": {"ClusterName": "prod", "PodName": "cron"},
        })
    );
    let requests = stub.requests();
    assert_eq!(requests.len(), 2, "the limit stops the pages");
    assert_eq!(requests[0].body["RecentlyActive"], "PT3H");
    assert_eq!(
        requests[0].body["Dimensions"],
        json!([{"Name": "ClusterName", "Value": "prod"}, {"Name": "PodName"}])
    );
}

fn firing_alarm(name: &str) -> Value {
    json!({
        "AlarmName": name,
        "AlarmArn": format!("arn:aws:cloudwatch:eu-west-1:123456789012:alarm:{name}"),
        "StateValue": "ALARM",
        "StateReason": "Threshold Crossed: 3 out of the last 3 datapoints were greater than the threshold (80.0).",
        "StateUpdatedTimestamp": timestamp(NOON),
        "Namespace": "ContainerInsights",
        "MetricName": "node_cpu_utilization",
        "Dimensions": [{"Name": "ClusterName", "Value": "prod"}],
        "Statistic": "Average",
        "Period": 300,
        "EvaluationPeriods": 3,
        "Threshold": 80.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "ActionsEnabled": true,
    })
}

#[tokio::test]
async fn describe_alarms_shows_a_firing_alarm_and_a_composite_one() {
    let stub = CborStub::start(|_, _| {
        StubReply::Ok(json!({
            "MetricAlarms": [firing_alarm("prod-node-cpu-high")],
            "CompositeAlarms": [{
                "AlarmName": "prod-degraded",
                "AlarmRule": "ALARM(prod-node-cpu-high) OR ALARM(prod-5xx)",
                "StateValue": "ALARM",
                "StateReason": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:prod-node-cpu-high transitioned to ALARM",
                "StateUpdatedTimestamp": timestamp(NOON + 60),
            }],
        }))
    })
    .await;

    let outcome = call(
        &stub,
        "cloudwatch_describe_alarms",
        json!({"state": "ALARM", "name_prefix": "prod-"}),
    )
    .await;

    let output = outcome.result.unwrap();
    assert_eq!(outcome.audit.aws_actions, ["cloudwatch:DescribeAlarms"]);
    assert_eq!(
        output,
        json!({
            "alarms": [
                {
                    "name": "prod-degraded",
                    "type": "composite",
                    "state": "ALARM",
                    "reason": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:prod-node-cpu-high transitioned to ALARM",
                    "updated": "2024-05-01T12:01:00Z",
                    "rule": "ALARM(prod-node-cpu-high) OR ALARM(prod-5xx)",
                },
                {
                    "name": "prod-node-cpu-high",
                    "type": "metric",
                    "state": "ALARM",
                    "reason": "Threshold Crossed: 3 out of the last 3 datapoints were greater than the threshold (80.0).",
                    "updated": "2024-05-01T12:00:00Z",
                    "namespace": "ContainerInsights",
                    "metric_name": "node_cpu_utilization",
                    "dimensions": {"ClusterName": "prod"},
                    "statistic": "Average",
                    "period": 300,
                    "comparison": "GreaterThanThreshold",
                    "threshold": 80.0,
                    "evaluation_periods": 3,
                    "actions_enabled": true,
                },
            ],
            "truncated": false,
        })
    );
    let body = &stub.requests()[0].body;
    assert_eq!(body["StateValue"], "ALARM");
    assert_eq!(body["AlarmNamePrefix"], "prod-");
    assert_eq!(body["AlarmTypes"], json!(["MetricAlarm", "CompositeAlarm"]));
}

#[tokio::test]
async fn describe_alarms_follows_pages_up_to_the_limit() {
    let stub = CborStub::start(|_, body| match body.get("NextToken").and_then(Value::as_str) {
        None => StubReply::Ok(
            json!({"MetricAlarms": [firing_alarm("a1"), firing_alarm("a2")], "NextToken": "n"}),
        ),
        Some(_) => StubReply::Ok(json!({"MetricAlarms": [firing_alarm("a3"), firing_alarm("a4")]})),
    })
    .await;

    let output =
        call(&stub, "cloudwatch_describe_alarms", json!({"alarm_types": ["metric"], "limit": 3}))
            .await
            .result
            .unwrap();

    let names: Vec<&str> =
        output["alarms"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["a1", "a2", "a3"]);
    assert_eq!(output["truncated"], true);
    assert_eq!(stub.requests()[0].body["AlarmTypes"], json!(["MetricAlarm"]));
    assert_eq!(stub.requests()[0].body["MaxRecords"], 100);
}

/// Each input must fail with `invalid-input` naming `field`, before anything is sent.
async fn assert_invalid(tool: &str, input: Value, field: &str) {
    let stub = CborStub::start(|_, _| StubReply::Ok(json!({}))).await;
    let error = call(&stub, tool, input.clone()).await.result.unwrap_err();
    assert_eq!(error.code(), "invalid-input", "{input}: {error}");
    let message = error.to_string();
    assert!(message.contains(&format!("`{field}`")), "{input}: {message} does not name {field}");
    assert!(stub.requests().is_empty(), "{input}: sent {:?}", stub.operations());
}

fn cpu_query() -> Value {
    json!({"id": "cpu", "namespace": "ContainerInsights", "metric_name": "pod_cpu_utilization"})
}

#[tokio::test]
async fn get_metric_data_refuses_bad_windows_and_queries_naming_the_field() {
    let tool = "cloudwatch_get_metric_data";
    let cases = [
        (
            json!({"queries": [cpu_query()], "start": "2024-05-01T12:00:00Z", "end": "2024-05-01T11:00:00Z"}),
            "/start",
        ),
        (
            json!({"queries": [cpu_query()], "start": "2020-01-01T00:00:00Z", "end": "2024-01-01T00:00:00Z"}),
            "/start",
        ),
        (json!({"queries": [cpu_query()], "start": "yesterday"}), "/start"),
        (json!({"queries": [cpu_query()], "end": "2024-05-01T11:00:00Z"}), "/start"),
        (
            json!({"queries": [cpu_query()], "since_minutes": 30, "start": "2024-05-01T11:00:00Z"}),
            "/since_minutes",
        ),
        (
            json!({"queries": [{"id": "Cpu", "namespace": "n", "metric_name": "m"}]}),
            "/queries/0/id",
        ),
        (json!({"queries": [cpu_query(), cpu_query()]}), "/queries/1/id"),
        (
            json!({"queries": [{"id": "x", "expression": "cpu * 2", "namespace": "n"}]}),
            "/queries/0/expression",
        ),
        (json!({"queries": [{"id": "x", "namespace": "n"}]}), "/queries/0/metric_name"),
        (json!({"queries": [{"id": "x", "metric_name": "m"}]}), "/queries/0/namespace"),
        (
            json!({"queries": [{"id": "x", "namespace": "n", "metric_name": "m", "period": 45}]}),
            "/queries/0/period",
        ),
        (
            json!({"queries": (0..501).map(|i| json!({"id": format!("m{i}"), "namespace": "n", "metric_name": "m"})).collect::<Vec<_>>()}),
            "/queries",
        ),
    ];
    for (input, field) in cases {
        assert_invalid(tool, input, field).await;
    }
}

#[tokio::test]
async fn get_metric_statistics_refuses_too_many_points_and_unknown_statistics() {
    let tool = "cloudwatch_get_metric_statistics";
    let base = |extra: Value| {
        let mut input =
            json!({"namespace": "ContainerInsights", "metric_name": "node_cpu_utilization"});
        input.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        input
    };
    let week =
        json!({"start": "2024-05-01T00:00:00Z", "end": "2024-05-08T00:00:00Z", "period": 60});
    assert_invalid(tool, base(week), "/period").await;
    assert_invalid(tool, base(json!({"statistics": ["Average", "median"]})), "/statistics/1").await;
    let percentiles: Vec<String> = (1..=11).map(|i| format!("p{}", 88 + i)).collect();
    assert_invalid(tool, base(json!({"statistics": percentiles})), "/statistics").await;
}

#[tokio::test]
async fn too_short_a_period_says_which_period_would_do() {
    let stub = CborStub::start(|_, _| StubReply::Ok(json!({}))).await;
    let input = json!({
        "namespace": "ContainerInsights", "metric_name": "node_cpu_utilization",
        "start": "2024-05-01T00:00:00Z", "end": "2024-05-08T00:00:00Z", "period": 60,
    });
    let error = call(&stub, "cloudwatch_get_metric_statistics", input).await.result.unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid input for tool `cloudwatch_get_metric_statistics`: `/period`: 60 s over this \
         window gives 10080 datapoints, but CloudWatch returns at most 1440 per call; use a \
         period of at least 420 s or a shorter window"
    );
}

#[tokio::test]
async fn access_denied_names_get_metric_data_and_its_resource() {
    let stub = CborStub::start(|_, _| {
        StubReply::Error(
            403,
            "AccessDenied".into(),
            "User: arn:aws:sts::123456789012:assumed-role/clu/agent is not authorized to perform: \
             cloudwatch:GetMetricData"
                .into(),
        )
    })
    .await;

    let outcome =
        call(&stub, "cloudwatch_get_metric_data", json!({"queries": [cpu_query()]})).await;

    let error = outcome.result.unwrap_err();
    assert_eq!(error.code(), "iam-access-denied");
    assert_eq!(
        error.to_string(),
        "tool `cloudwatch_get_metric_data` needs `cloudwatch:GetMetricData` on `*`: User: \
         arn:aws:sts::123456789012:assumed-role/clu/agent is not authorized to perform: \
         cloudwatch:GetMetricData"
    );
    assert_eq!(outcome.audit.outcome, "iam-access-denied");
}

#[tokio::test]
async fn access_denied_on_alarms_names_the_alarm_resource() {
    let stub = CborStub::start(|_, _| {
        StubReply::Error(403, "AccessDeniedException".into(), "not authorized".into())
    })
    .await;

    let error = call(&stub, "cloudwatch_describe_alarms", json!({})).await.result.unwrap_err();

    assert_eq!(
        error.to_string(),
        "tool `cloudwatch_describe_alarms` needs `cloudwatch:DescribeAlarms` on \
         `arn:aws:cloudwatch:*:*:alarm:*`: not authorized"
    );
}

#[tokio::test]
async fn throttling_and_bad_parameters_keep_their_codes() {
    let stub =
        CborStub::start(|_, _| StubReply::Error(400, "Throttling".into(), "Rate exceeded".into()))
            .await;
    let error = call(&stub, "cloudwatch_list_metrics", json!({})).await.result.unwrap_err();
    assert_eq!(error.code(), "aws-throttled");

    let stub = CborStub::start(|_, _| {
        StubReply::Error(
            400,
            "InvalidParameterValue".into(),
            "The parameter Namespace is invalid.".into(),
        )
    })
    .await;
    let error =
        call(&stub, "cloudwatch_list_metrics", json!({"namespace": "x"})).await.result.unwrap_err();
    assert_eq!(error.code(), "aws-error");
    assert_eq!(
        error.to_string(),
        "tool `cloudwatch_list_metrics`: AWS cloudwatch:ListMetrics failed: InvalidParameterValue: \
         The parameter Namespace is invalid."
    );
}

#[tokio::test]
async fn metrics_tools_use_exactly_what_they_declare() {
    let stub = CborStub::start(|operation, _| match operation {
        "GetMetricData" => {
            StubReply::Ok(json!({"MetricDataResults": [cpu_result("Complete", &[(0, 1.0)])]}))
        }
        "GetMetricStatistics" => StubReply::Ok(json!({"Datapoints": []})),
        "ListMetrics" => StubReply::Ok(json!({"Metrics": []})),
        "DescribeAlarms" => StubReply::Ok(json!({"MetricAlarms": [firing_alarm("a")]})),
        other => StubReply::Error(400, "UnknownOperationException".into(), other.to_owned()),
    })
    .await;
    let recorder = Recorder::new();
    let env = Arc::new(ToolEnv {
        aws: Some(stub.sdk_config().await),
        recorder: Some(recorder.clone()),
        ..ToolEnv::default()
    });
    let registry: Registry = clu_core::tools::registry().unwrap();

    let inputs = [
        ("cloudwatch_get_metric_data", json!({"queries": [cpu_query()]})),
        ("cloudwatch_get_metric_statistics", json!({"namespace": "n", "metric_name": "m"})),
        ("cloudwatch_list_metrics", json!({})),
        ("cloudwatch_describe_alarms", json!({})),
    ];
    for (tool, input) in &inputs {
        registry.call(&env, tool, input.clone()).await.result.unwrap();
    }

    for (tool, _) in &inputs {
        let spec = registry.get(tool).unwrap().spec();
        assert!(!recorder.actions_of(tool).is_empty(), "tool `{tool}` used nothing");
        assert_eq!(
            recorder.actions_of(tool),
            spec.permissions.actions(),
            "tool `{tool}` must declare exactly the actions it uses"
        );
    }
    assert_eq!(
        stub.operations(),
        ["GetMetricData", "GetMetricStatistics", "ListMetrics", "DescribeAlarms"]
    );
}
