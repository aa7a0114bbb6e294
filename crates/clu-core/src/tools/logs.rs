//! CloudWatch Logs: log groups, log streams and Logs Insights queries.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::types::{OrderBy, QueryStatus};
use clu_policy::Grant;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{Result, ToolError};
use crate::tool::{Permissions, Risk, Tier, Tool, ToolContext, ToolSpec};

/// Every log group of the account and region, in the `log-group:NAME:*` form the Logs actions
/// take for their resources.
const ALL_LOG_GROUPS: &str = "arn:{partition}:logs:{region}:{account}:log-group:*:*";

fn grant(actions: &[&str]) -> Grant {
    Grant::new(actions.iter().copied(), [ALL_LOG_GROUPS])
        .unwrap_or_else(|error| unreachable!("a fixed grant is valid: {error}"))
}

fn timestamp(millis: Option<i64>) -> Value {
    millis
        .and_then(|ms| {
            let seconds = ms.div_euclid(1000);
            let nanos = u32::try_from(ms.rem_euclid(1000) * 1_000_000).ok()?;
            aws_smithy_types::DateTime::from_secs_and_nanos(seconds, nanos)
                .fmt(aws_smithy_types::date_time::Format::DateTime)
                .ok()
        })
        .map_or(Value::Null, Value::String)
}

/// Input of `logs_describe_log_groups`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DescribeLogGroupsInput {
    /// Only groups whose name starts with this, such as `/aws/containerinsights/prod`.
    #[serde(default)]
    pub name_prefix: Option<String>,
    /// At most this many groups (default 100).
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
}

/// Lists log groups with their retention and stored bytes.
pub struct DescribeLogGroups {
    spec: ToolSpec,
}

impl DescribeLogGroups {
    /// The tool.
    pub fn new() -> Self {
        // DescribeLogGroups has no resource type to scope it to: IAM takes only `*` for it.
        let list_groups = Grant::new(["logs:DescribeLogGroups"], ["*"])
            .unwrap_or_else(|error| unreachable!("a fixed grant is valid: {error}"));
        let permissions = Permissions { iam: vec![list_groups], rbac: vec![] };
        Self {
            spec: ToolSpec::new::<DescribeLogGroupsInput>(
                "logs_describe_log_groups",
                "List CloudWatch Logs log groups (name, retention, stored bytes, creation time), \
                 optionally by name prefix. Use it to find where a cluster's or an application's \
                 logs are before running a Logs Insights query.",
                Tier::Core,
                Risk::Read,
                permissions,
            ),
        }
    }
}

impl Default for DescribeLogGroups {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Tool for DescribeLogGroups {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let input: DescribeLogGroupsInput = context.parse_input(input)?;
        let limit = input.limit.unwrap_or(100) as usize;
        let client = crate::aws_client!(context, aws_sdk_cloudwatchlogs)?;

        let mut groups = Vec::new();
        let mut truncated = false;
        let mut pages = client
            .describe_log_groups()
            .set_log_group_name_prefix(input.name_prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| context.aws_error(e))?;
            for group in page.log_groups.unwrap_or_default() {
                if groups.len() == limit {
                    truncated = true;
                    break;
                }
                groups.push(json!({
                    "name": group.log_group_name,
                    "retention_days": group.retention_in_days,
                    "stored_bytes": group.stored_bytes,
                    "created": timestamp(group.creation_time),
                    "class": group.log_group_class.map(|c| c.as_str().to_owned()),
                }));
            }
            if truncated {
                break;
            }
        }
        Ok(json!({ "log_groups": groups, "truncated": truncated }))
    }
}

/// Input of `logs_describe_log_streams`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DescribeLogStreamsInput {
    /// The log group.
    #[schemars(length(min = 1, max = 512))]
    pub log_group: String,
    /// Only streams whose name starts with this; then streams are ordered by name.
    #[serde(default)]
    pub name_prefix: Option<String>,
    /// At most this many streams (default 50), the most recently written first.
    #[serde(default)]
    #[schemars(range(min = 1, max = 500))]
    pub limit: Option<u32>,
}

/// Lists the streams of one log group, newest first.
pub struct DescribeLogStreams {
    spec: ToolSpec,
}

impl DescribeLogStreams {
    /// The tool.
    pub fn new() -> Self {
        let permissions =
            Permissions { iam: vec![grant(&["logs:DescribeLogStreams"])], rbac: vec![] };
        Self {
            spec: ToolSpec::new::<DescribeLogStreamsInput>(
                "logs_describe_log_streams",
                "List the log streams of one CloudWatch Logs group, the most recently written \
                 first, with their first and last event times. Use it to see which pods or \
                 nodes are still writing logs.",
                Tier::Core,
                Risk::Read,
                permissions,
            ),
        }
    }
}

impl Default for DescribeLogStreams {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Tool for DescribeLogStreams {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let input: DescribeLogStreamsInput = context.parse_input(input)?;
        let limit = input.limit.unwrap_or(50) as usize;
        let client = crate::aws_client!(context, aws_sdk_cloudwatchlogs)?;

        // CloudWatch refuses a name prefix together with ordering by last event time.
        let request = client.describe_log_streams().log_group_name(&input.log_group);
        let request = match input.name_prefix {
            Some(prefix) => request.log_stream_name_prefix(prefix),
            None => request.order_by(OrderBy::LastEventTime).descending(true),
        };
        let mut streams = Vec::new();
        let mut truncated = false;
        let mut pages = request.into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| context.aws_error(e))?;
            for stream in page.log_streams.unwrap_or_default() {
                if streams.len() == limit {
                    truncated = true;
                    break;
                }
                streams.push(json!({
                    "name": stream.log_stream_name,
                    "first_event": timestamp(stream.first_event_timestamp),
                    "last_event": timestamp(stream.last_event_timestamp),
                    "created": timestamp(stream.creation_time),
                }));
            }
            if truncated {
                break;
            }
        }
        Ok(json!({ "log_group": input.log_group, "log_streams": streams, "truncated": truncated }))
    }
}

/// Input of `logs_insights_query`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InsightsQueryInput {
    /// The log groups to query (at most 50).
    #[schemars(length(min = 1, max = 50))]
    pub log_groups: Vec<String>,
    /// The Logs Insights query, such as `fields @timestamp, @message | filter @message like /error/`.
    #[schemars(length(min = 1, max = 10000))]
    pub query: String,
    /// How far back to look, in minutes (default 60).
    #[serde(default)]
    #[schemars(range(min = 1, max = 43200))]
    pub since_minutes: Option<u32>,
    /// At most this many rows (default 100).
    #[serde(default)]
    #[schemars(range(min = 1, max = 10000))]
    pub limit: Option<u32>,
}

/// Runs a Logs Insights query and waits for its results, within a bound.
pub struct InsightsQuery {
    spec: ToolSpec,
    max_wait: Duration,
}

impl InsightsQuery {
    /// The tool, waiting at most a minute for a query.
    pub fn new() -> Self {
        Self::with_max_wait(Duration::from_secs(60))
    }

    /// The tool, waiting at most `max_wait` for a query to finish.
    pub fn with_max_wait(max_wait: Duration) -> Self {
        let permissions = Permissions {
            iam: vec![grant(&["logs:StartQuery", "logs:GetQueryResults"])],
            rbac: vec![],
        };
        Self {
            spec: ToolSpec::new::<InsightsQueryInput>(
                "logs_insights_query",
                "Run a CloudWatch Logs Insights query over one or more log groups for the last \
                 N minutes and return the matching rows, with records matched and bytes \
                 scanned. Use it to find errors, exceptions or a request's trail in container \
                 and control-plane logs.",
                Tier::Core,
                Risk::Read,
                permissions,
            ),
            max_wait,
        }
    }
}

impl Default for InsightsQuery {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Tool for InsightsQuery {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let input: InsightsQueryInput = context.parse_input(input)?;
        let limit = input.limit.unwrap_or(100);
        let since = i64::from(input.since_minutes.unwrap_or(60)) * 60;
        let client = crate::aws_client!(context, aws_sdk_cloudwatchlogs)?;

        let end = aws_smithy_types::DateTime::from(std::time::SystemTime::now()).secs();
        let started = client
            .start_query()
            .set_log_group_names(Some(input.log_groups.clone()))
            .query_string(&input.query)
            .start_time(end - since)
            .end_time(end)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| context.aws_error(e))?;
        let query_id = started
            .query_id
            .ok_or_else(|| ToolError::failed(context.tool(), "StartQuery returned no query id"))?;

        // Poll with a doubling delay, capped, until the query ends or the wait runs out.
        let deadline = tokio::time::Instant::now() + self.max_wait;
        let mut delay = Duration::from_millis(250);
        loop {
            let results = client
                .get_query_results()
                .query_id(&query_id)
                .send()
                .await
                .map_err(|e| context.aws_error(e))?;
            let status = results.status.clone();
            match status.clone().unwrap_or(QueryStatus::Scheduled) {
                QueryStatus::Complete => {
                    return Ok(query_output(&query_id, "complete", results, limit as usize));
                }
                QueryStatus::Failed | QueryStatus::Cancelled | QueryStatus::Timeout => {
                    return Err(ToolError::failed(
                        context.tool(),
                        format!(
                            "query `{query_id}` ended as {}",
                            status.as_ref().map_or("unknown", QueryStatus::as_str)
                        ),
                    ));
                }
                _ => {}
            }
            if tokio::time::Instant::now() + delay > deadline {
                let mut output = query_output(&query_id, "running", results, limit as usize);
                output["note"] = json!(format!(
                    "the query was still running after {}s; these are partial results",
                    self.max_wait.as_secs()
                ));
                return Ok(output);
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
}

fn query_output(
    query_id: &str,
    status: &str,
    results: aws_sdk_cloudwatchlogs::operation::get_query_results::GetQueryResultsOutput,
    limit: usize,
) -> Value {
    let rows: Vec<Value> = results
        .results
        .unwrap_or_default()
        .into_iter()
        .take(limit)
        .map(|fields| {
            let row: serde_json::Map<String, Value> = fields
                .into_iter()
                .filter(|f| f.field.as_deref() != Some("@ptr"))
                .filter_map(|f| Some((f.field?, Value::String(f.value.unwrap_or_default()))))
                .collect();
            Value::Object(row)
        })
        .collect();
    let statistics = results.statistics.map(|s| {
        json!({
            "records_matched": s.records_matched,
            "records_scanned": s.records_scanned,
            "bytes_scanned": s.bytes_scanned,
        })
    });
    json!({
        "query_id": query_id,
        "status": status,
        "rows": rows,
        "statistics": statistics,
    })
}
