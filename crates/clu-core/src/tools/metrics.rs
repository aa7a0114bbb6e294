//! CloudWatch metrics: time series, statistics, the metric catalogue and alarms.
//!
//! The model reads what these tools return, so the output is compact: timestamps are ISO-8601,
//! every series carries a summary (points, min, max, average, last) so that the points themselves
//! need not be read, and each list stops at a bound with a `truncated` marker.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{
    AlarmType, CompositeAlarm, Dimension, DimensionFilter, MetricAlarm, MetricDataQuery,
    MetricDataResult, MetricStat, RecentlyActive, ScanBy, StateValue, Statistic,
};
use aws_smithy_types::DateTime;
use aws_smithy_types::date_time::Format;
use clu_policy::Grant;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::{Result, ToolError};
use crate::tool::{Permissions, Risk, Tier, Tool, ToolContext, ToolSpec};

/// Every alarm of the account and region, in the `alarm:NAME` form of the `alarm` resource type.
const ALL_ALARMS: &str = "arn:{partition}:cloudwatch:{region}:{account}:alarm:*";

/// Why the metric reads are granted on `*` although the catalogue lists a resource type for
/// them: the only one is the optional `dataset`, which does not cover the account's own metrics.
/// A metric has no ARN, so IAM authorizes reading it on `*` alone.
const METRICS_HAVE_NO_ARN: &str = "metrics have no ARN; the optional `dataset` resource type \
                                   does not cover the account's own metrics";

/// CloudWatch keeps metric data for 15 months; a longer window cannot return more.
const MAX_WINDOW_DAYS: i64 = 455;

/// The most queries one GetMetricData call takes.
const MAX_QUERIES: usize = 500;

/// The most datapoints one GetMetricStatistics call returns.
const MAX_STATISTICS_POINTS: i64 = 1440;

/// The most extended statistics (percentiles and the like) one GetMetricStatistics call takes.
const MAX_EXTENDED_STATISTICS: usize = 10;

/// The most GetMetricData pages one call reads; each holds up to 100,800 points.
const MAX_METRIC_DATA_PAGES: usize = 10;

/// The periods a default is chosen from, shortest first.
const PERIOD_LADDER: [i64; 7] = [60, 300, 900, 3600, 10_800, 21_600, 86_400];

/// The standard statistics, which every metric has without asking for percentiles.
const STANDARD_STATISTICS: [&str; 5] = ["Average", "Sum", "Minimum", "Maximum", "SampleCount"];

const MINUTE: i64 = 60;
const DAY: i64 = 86_400;

fn fixed_grant(actions: &[&str], resource: &str) -> Grant {
    Grant::new(actions.iter().copied(), [resource])
        .unwrap_or_else(|error| unreachable!("a fixed grant is valid: {error}"))
}

fn iso(time: &DateTime) -> Value {
    time.fmt(Format::DateTime).map_or(Value::Null, Value::String)
}

/// `numerator / denominator` rounded up, for a positive span and period.
fn ceil_div(numerator: i64, denominator: i64) -> i64 {
    let denominator = denominator.max(1);
    (numerator + denominator - 1) / denominator
}

fn now_seconds() -> i64 {
    DateTime::from(SystemTime::now()).secs()
}

/// Drops the null fields of an object, so rows carry only what the alarm or metric has.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(fields) => {
            Value::Object(fields.into_iter().filter(|(_, v)| !v.is_null()).collect())
        }
        other => other,
    }
}

fn dimensions_of(dimensions: Option<Vec<Dimension>>) -> Value {
    let fields: Map<String, Value> = dimensions
        .unwrap_or_default()
        .into_iter()
        .filter_map(|d| Some((d.name?, Value::String(d.value.unwrap_or_default()))))
        .collect();
    Value::Object(fields)
}

fn sdk_dimensions(dimensions: &BTreeMap<String, String>) -> Option<Vec<Dimension>> {
    let dimensions: Vec<Dimension> = dimensions
        .iter()
        .map(|(name, value)| Dimension::builder().name(name).value(value).build())
        .collect();
    (!dimensions.is_empty()).then_some(dimensions)
}

/// The time range of a request, in epoch seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window {
    start: i64,
    end: i64,
}

impl Window {
    /// Resolves `since_minutes`, or an explicit ISO-8601 `start` with an optional `end`.
    fn resolve(
        tool: &str,
        since_minutes: Option<u32>,
        start: Option<&str>,
        end: Option<&str>,
        now: i64,
    ) -> Result<Window> {
        let invalid = |message: String| ToolError::invalid_input(tool, message);
        let parse = |field: &str, text: &str| {
            DateTime::from_str(text, Format::DateTimeWithOffset).map(|t| t.secs()).map_err(|_| {
                invalid(format!(
                    "`/{field}`: `{text}` is not an ISO-8601 date-time such as \
                     2024-05-01T12:00:00Z"
                ))
            })
        };

        let window = match (since_minutes, start, end) {
            (Some(_), Some(_), _) | (Some(_), None, Some(_)) => {
                return Err(invalid(
                    "`/since_minutes`: give either since_minutes or start (and end), not both"
                        .into(),
                ));
            }
            (None, None, Some(_)) => {
                return Err(invalid("`/start`: needed when end is given".into()));
            }
            (since, None, None) => {
                Window { start: now - i64::from(since.unwrap_or(60)) * MINUTE, end: now }
            }
            (None, Some(start), end) => {
                let end = end.map(|end| parse("end", end)).transpose()?.unwrap_or(now);
                Window { start: parse("start", start)?, end }
            }
        };

        if window.start >= window.end {
            return Err(invalid(format!(
                "`/start`: must be before `/end`, but {} is not before {}",
                iso(&DateTime::from_secs(window.start)),
                iso(&DateTime::from_secs(window.end)),
            )));
        }
        if window.span() > MAX_WINDOW_DAYS * DAY {
            let field = if since_minutes.is_some() { "since_minutes" } else { "start" };
            return Err(invalid(format!(
                "`/{field}`: the window spans {} days, but CloudWatch keeps metrics for \
                 {MAX_WINDOW_DAYS} days",
                window.span() / DAY
            )));
        }
        Ok(window)
    }

    fn span(&self) -> i64 {
        self.end - self.start
    }

    /// A period that gives at most `target_points` per series, and that CloudWatch still serves
    /// for data as old as the window's start: one minute for data of the last 15 days, five
    /// minutes up to 63 days, an hour beyond.
    fn default_period(&self, now: i64, target_points: i64) -> i64 {
        let age = now - self.start;
        let shortest = match age {
            age if age > 63 * DAY => 3600,
            age if age > 15 * DAY => 300,
            _ => 60,
        };
        PERIOD_LADDER
            .into_iter()
            .filter(|period| *period >= shortest)
            .find(|period| ceil_div(self.span(), *period) <= target_points.max(1))
            .unwrap_or(DAY)
    }

    fn sdk_start(&self) -> DateTime {
        DateTime::from_secs(self.start)
    }

    fn sdk_end(&self) -> DateTime {
        DateTime::from_secs(self.end)
    }

    fn describe(&self) -> Value {
        json!({
            "start": iso(&self.sdk_start()),
            "end": iso(&self.sdk_end()),
        })
    }
}

/// CloudWatch takes periods of 1, 5, 10, 20 or 30 seconds (high-resolution metrics) or any
/// multiple of a minute.
fn check_period(tool: &str, field: &str, seconds: u32) -> Result<i32> {
    let valid =
        matches!(seconds, 1 | 5 | 10 | 20 | 30) || (seconds > 0 && seconds.is_multiple_of(60));
    let period = i32::try_from(seconds).ok().filter(|_| valid);
    period.ok_or_else(|| {
        ToolError::invalid_input(
            tool,
            format!(
                "`/{field}`: {seconds} is not a CloudWatch period; use 1, 5, 10, 20, 30 or a \
                 multiple of 60 seconds"
            ),
        )
    })
}

fn period_i32(period: i64) -> i32 {
    i32::try_from(period).unwrap_or(i32::MAX)
}

/// Whether `id` is a query id CloudWatch accepts: a lowercase letter, then letters, digits
/// and underscores.
fn is_query_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Input of `cloudwatch_get_metric_data`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetMetricDataInput {
    /// The series to fetch, at most 500: each is a metric with a statistic, or a metric-math
    /// expression over the ids of other queries.
    #[schemars(length(min = 1, max = 500))]
    pub queries: Vec<MetricQuery>,
    /// How far back to look, in minutes (default 60). Give this, or `start`.
    #[serde(default)]
    #[schemars(range(min = 1, max = 655200))]
    pub since_minutes: Option<u32>,
    /// The window's start, ISO-8601 such as `2024-05-01T12:00:00Z`.
    #[serde(default)]
    pub start: Option<String>,
    /// The window's end, ISO-8601 (default now); needs `start`.
    #[serde(default)]
    pub end: Option<String>,
    /// The newest points kept per series (default 100); the summary still covers every point.
    #[serde(default)]
    #[schemars(range(min = 1, max = 1440))]
    pub max_points_per_series: Option<u32>,
}

/// One query of `cloudwatch_get_metric_data`: a metric (namespace, metric name, dimensions,
/// stat) or an expression.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricQuery {
    /// The query's id, unique in the call: a lowercase letter, then letters, digits and `_`.
    /// Expressions refer to other queries by it.
    #[schemars(length(min = 1, max = 255), pattern(r"^[a-z][a-zA-Z0-9_]*$"))]
    pub id: String,
    /// The metric's namespace, such as `ContainerInsights` or `AWS/EC2`.
    #[serde(default)]
    pub namespace: Option<String>,
    /// The metric's name, such as `pod_cpu_utilization`.
    #[serde(default)]
    pub metric_name: Option<String>,
    /// The metric's dimensions, all of them, as name to value, such as
    /// `{"ClusterName": "prod", "Namespace": "shop", "PodName": "web"}`.
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    /// The statistic (default `Average`): `Sum`, `Minimum`, `Maximum`, `SampleCount`, or a
    /// percentile such as `p99`.
    #[serde(default)]
    pub stat: Option<String>,
    /// The period in seconds (default chosen from the window): 1, 5, 10, 20, 30 or a multiple
    /// of 60.
    #[serde(default)]
    #[schemars(range(min = 1, max = 31536000))]
    pub period: Option<u32>,
    /// A metric-math expression instead of a metric, such as `100 * errors / requests`.
    #[serde(default)]
    #[schemars(length(min = 1, max = 2048))]
    pub expression: Option<String>,
    /// A label for the series.
    #[serde(default)]
    pub label: Option<String>,
    /// Whether to return this series (default true); false for inputs of an expression only.
    #[serde(default)]
    pub return_data: Option<bool>,
}

/// Fetches several metric series, or expressions over them, over one window.
pub struct GetMetricData {
    spec: ToolSpec,
}

impl GetMetricData {
    /// The tool.
    pub fn new() -> Self {
        let grant = fixed_grant(&["cloudwatch:GetMetricData"], "*")
            .with_wildcard_reason(METRICS_HAVE_NO_ARN);
        Self {
            spec: ToolSpec::new::<GetMetricDataInput>(
                "cloudwatch_get_metric_data",
                "Fetch CloudWatch metric series over a window: several queries at once, each a \
                 metric (namespace, name, dimensions, stat such as Average or p99) or a \
                 metric-math expression over other queries. Each series comes with a summary \
                 (points, min, max, avg, last) and its newest points. Use it to see how pod, \
                 node or load balancer metrics moved around an incident.",
                Tier::Core,
                Risk::Read,
                Permissions { iam: vec![grant], rbac: vec![] },
            ),
        }
    }
}

/// Turns the input's queries into SDK queries, checking what the schema cannot say: unique
/// ids, a metric or an expression but not both, and CloudWatch's periods.
fn build_queries(
    tool: &str,
    input: &GetMetricDataInput,
    default_period: i64,
) -> Result<Vec<MetricDataQuery>> {
    let invalid = |message: String| ToolError::invalid_input(tool, message);
    if input.queries.len() > MAX_QUERIES {
        return Err(invalid(format!(
            "`/queries`: {} queries, but CloudWatch takes at most {MAX_QUERIES}",
            input.queries.len()
        )));
    }

    let mut seen = HashMap::new();
    let mut queries = Vec::with_capacity(input.queries.len());
    for (index, query) in input.queries.iter().enumerate() {
        let at = format!("queries/{index}");
        if !is_query_id(&query.id) {
            return Err(invalid(format!(
                "`/{at}/id`: `{}` must start with a lowercase letter and hold only letters, \
                     digits and underscores",
                query.id
            )));
        }
        if let Some(earlier) = seen.insert(query.id.as_str(), index) {
            return Err(invalid(format!(
                "`/{at}/id`: `{}` is already the id of query {earlier}",
                query.id
            )));
        }
        let period = query.period.map(|p| check_period(tool, &format!("{at}/period"), p));
        let period = period.transpose()?;

        let builder = MetricDataQuery::builder()
            .id(&query.id)
            .set_label(query.label.clone())
            .set_return_data(query.return_data);
        let built = match &query.expression {
            Some(expression) => {
                let has_metric = query.namespace.is_some()
                    || query.metric_name.is_some()
                    || query.stat.is_some()
                    || !query.dimensions.is_empty();
                if has_metric {
                    return Err(invalid(format!(
                        "`/{at}/expression`: give either an expression or a metric \
                             (namespace, metric_name, dimensions, stat), not both"
                    )));
                }
                builder.expression(expression).set_period(period).build()
            }
            None => {
                let namespace = query.namespace.as_ref().ok_or_else(|| {
                    invalid(format!("`/{at}/namespace`: needed unless the query has an expression"))
                })?;
                let metric_name = query.metric_name.as_ref().ok_or_else(|| {
                    invalid(format!(
                        "`/{at}/metric_name`: needed unless the query has an expression"
                    ))
                })?;
                let metric = aws_sdk_cloudwatch::types::Metric::builder()
                    .namespace(namespace)
                    .metric_name(metric_name)
                    .set_dimensions(sdk_dimensions(&query.dimensions))
                    .build();
                let stat = MetricStat::builder()
                    .metric(metric)
                    .stat(query.stat.as_deref().unwrap_or("Average"))
                    .period(period.unwrap_or_else(|| period_i32(default_period)))
                    .build();
                builder.metric_stat(stat).build()
            }
        };
        queries.push(built);
    }
    Ok(queries)
}

impl Default for GetMetricData {
    fn default() -> Self {
        Self::new()
    }
}

/// The points of one series gathered across pages.
#[derive(Default)]
struct Series {
    id: String,
    label: Option<String>,
    status: Option<String>,
    points: Vec<(DateTime, f64)>,
    messages: Vec<Value>,
}

impl Series {
    fn absorb(&mut self, result: MetricDataResult) {
        if self.label.is_none() {
            self.label = result.label;
        }
        // A series is complete when its last page says so; earlier pages say PartialData.
        self.status = result.status_code.map(|s| s.as_str().to_owned()).or(self.status.take());
        let timestamps = result.timestamps.unwrap_or_default();
        let values = result.values.unwrap_or_default();
        self.points.extend(timestamps.into_iter().zip(values));
        for message in result.messages.unwrap_or_default() {
            self.messages.push(json!({ "code": message.code, "message": message.value }));
        }
    }

    fn into_output(mut self, max_points: usize) -> Value {
        self.points.sort_by_key(|(time, _)| *time);
        let count = self.points.len();
        let summary = match self.points.last() {
            None => json!({ "points": 0 }),
            Some((last_at, last)) => {
                let values = self.points.iter().map(|(_, v)| *v);
                let min = values.clone().fold(f64::INFINITY, f64::min);
                let max = values.clone().fold(f64::NEG_INFINITY, f64::max);
                let average = values.sum::<f64>() / count as f64;
                json!({
                    "points": count,
                    "min": min,
                    "max": max,
                    "avg": average,
                    "last": last,
                    "last_at": iso(last_at),
                })
            }
        };
        let kept = &self.points[count.saturating_sub(max_points)..];
        let mut output = json!({
            "id": self.id,
            "label": self.label,
            "status": self.status,
            "summary": summary,
            "timestamps": kept.iter().map(|(t, _)| iso(t)).collect::<Vec<_>>(),
            "values": kept.iter().map(|(_, v)| *v).collect::<Vec<_>>(),
            "truncated": kept.len() < count,
        });
        if kept.len() < count {
            output["note"] = json!(format!("kept the newest {} of {count} points", kept.len()));
        }
        if !self.messages.is_empty() {
            output["messages"] = Value::Array(self.messages);
        }
        without_nulls(output)
    }
}

#[async_trait]
impl Tool for GetMetricData {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let input: GetMetricDataInput = context.parse_input(input)?;
        let tool = context.tool();
        let now = now_seconds();
        let window = Window::resolve(
            tool,
            input.since_minutes,
            input.start.as_deref(),
            input.end.as_deref(),
            now,
        )?;
        let max_points = input.max_points_per_series.unwrap_or(100);
        let default_period = window.default_period(now, i64::from(max_points));
        let queries = build_queries(tool, &input, default_period)?;
        let client = crate::aws_client!(context, aws_sdk_cloudwatch)?;

        // Newest first, so that if the page bound is reached the points kept are the recent ones.
        let mut pages = client
            .get_metric_data()
            .set_metric_data_queries(Some(queries))
            .start_time(window.sdk_start())
            .end_time(window.sdk_end())
            .scan_by(ScanBy::TimestampDescending)
            .into_paginator()
            .send();
        let mut series: Vec<Series> = Vec::new();
        let mut index_of: HashMap<String, usize> = HashMap::new();
        let mut messages = Vec::new();
        let mut read = 0;
        let mut more = false;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| context.aws_error(e))?;
            read += 1;
            for result in page.metric_data_results.unwrap_or_default() {
                let id = result.id.clone().unwrap_or_default();
                let index = *index_of.entry(id.clone()).or_insert_with(|| {
                    series.push(Series { id, ..Series::default() });
                    series.len() - 1
                });
                if let Some(entry) = series.get_mut(index) {
                    entry.absorb(result);
                }
            }
            for message in page.messages.unwrap_or_default() {
                messages.push(json!({ "code": message.code, "message": message.value }));
            }
            if read == MAX_METRIC_DATA_PAGES {
                more = page.next_token.is_some();
                break;
            }
        }

        let series: Vec<Value> =
            series.into_iter().map(|s| s.into_output(max_points as usize)).collect();
        let mut output = window.describe();
        output["default_period"] = json!(default_period);
        output["series"] = Value::Array(series);
        if !messages.is_empty() {
            output["messages"] = Value::Array(messages);
        }
        output["truncated"] = json!(more);
        if more {
            output["note"] = json!(format!(
                "the window holds more than {MAX_METRIC_DATA_PAGES} pages of data; series and \
                 summaries cover only its newest part; narrow the window or lengthen the period"
            ));
        }
        Ok(output)
    }
}

/// Input of `cloudwatch_get_metric_statistics`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GetMetricStatisticsInput {
    /// The metric's namespace, such as `ContainerInsights`.
    #[schemars(length(min = 1, max = 255))]
    pub namespace: String,
    /// The metric's name, such as `node_cpu_utilization`.
    #[schemars(length(min = 1, max = 255))]
    pub metric_name: String,
    /// The metric's dimensions, all of them, as name to value.
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    /// The statistics (default `Average` and `Maximum`): any of `Average`, `Sum`, `Minimum`,
    /// `Maximum`, `SampleCount`, and up to ten percentiles such as `p90` or `p99.9`.
    #[serde(default)]
    #[schemars(length(min = 1, max = 15))]
    pub statistics: Option<Vec<String>>,
    /// The period in seconds (default chosen from the window): 1, 5, 10, 20, 30 or a multiple
    /// of 60. CloudWatch returns at most 1440 datapoints per call.
    #[serde(default)]
    #[schemars(range(min = 1, max = 31536000))]
    pub period: Option<u32>,
    /// How far back to look, in minutes (default 60). Give this, or `start`.
    #[serde(default)]
    #[schemars(range(min = 1, max = 655200))]
    pub since_minutes: Option<u32>,
    /// The window's start, ISO-8601 such as `2024-05-01T12:00:00Z`.
    #[serde(default)]
    pub start: Option<String>,
    /// The window's end, ISO-8601 (default now); needs `start`.
    #[serde(default)]
    pub end: Option<String>,
}

/// Fetches statistics of one metric, percentiles included, over a window.
pub struct GetMetricStatistics {
    spec: ToolSpec,
}

impl GetMetricStatistics {
    /// The tool.
    pub fn new() -> Self {
        // GetMetricStatistics has no resource type: IAM takes only `*` for it.
        let grant = fixed_grant(&["cloudwatch:GetMetricStatistics"], "*");
        Self {
            spec: ToolSpec::new::<GetMetricStatisticsInput>(
                "cloudwatch_get_metric_statistics",
                "Fetch statistics of one CloudWatch metric over a window, per period: Average, \
                 Sum, Minimum, Maximum, SampleCount and percentiles such as p99, as datapoints \
                 sorted by time. Use it for one metric's latency percentiles or peak usage.",
                Tier::Core,
                Risk::Read,
                Permissions { iam: vec![grant], rbac: vec![] },
            ),
        }
    }
}

impl Default for GetMetricStatistics {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether `name` is an extended statistic CloudWatch understands: a percentile `p99`, a
/// trimmed or windsorized form `tm90`, `wm99`, `tc90`, `ts90`, `pr(…)`-style ranges, or `IQM`.
fn is_extended_statistic(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if lower == "iqm" {
        return true;
    }
    let Some(prefix) =
        ["tm", "wm", "tc", "ts", "pr", "p"].into_iter().find(|p| lower.starts_with(p))
    else {
        return false;
    };
    let rest = &lower[prefix.len()..];
    if rest.starts_with('(') && rest.ends_with(')') && rest.len() > 2 {
        return true;
    }
    rest.parse::<f64>().is_ok_and(|percent| (0.0..=100.0).contains(&percent))
        && rest.chars().all(|c| c.is_ascii_digit() || c == '.')
}

/// Splits the statistics asked for into standard and extended ones.
fn split_statistics(tool: &str, names: &[String]) -> Result<(Vec<Statistic>, Vec<String>)> {
    let mut standard = Vec::new();
    let mut extended = Vec::new();
    for (index, name) in names.iter().enumerate() {
        if let Some(known) = STANDARD_STATISTICS.iter().find(|s| s.eq_ignore_ascii_case(name)) {
            standard.push(Statistic::from(*known));
        } else if is_extended_statistic(name) {
            extended.push(name.clone());
        } else {
            return Err(ToolError::invalid_input(
                tool,
                format!(
                    "`/statistics/{index}`: `{name}` is neither a statistic (Average, Sum, \
                     Minimum, Maximum, SampleCount) nor a percentile such as p99"
                ),
            ));
        }
    }
    if extended.len() > MAX_EXTENDED_STATISTICS {
        return Err(ToolError::invalid_input(
            tool,
            format!(
                "`/statistics`: {} percentiles, but CloudWatch takes at most \
                 {MAX_EXTENDED_STATISTICS} per call",
                extended.len()
            ),
        ));
    }
    Ok((standard, extended))
}

#[async_trait]
impl Tool for GetMetricStatistics {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let input: GetMetricStatisticsInput = context.parse_input(input)?;
        let tool = context.tool();
        let now = now_seconds();
        let window = Window::resolve(
            tool,
            input.since_minutes,
            input.start.as_deref(),
            input.end.as_deref(),
            now,
        )?;
        let names = input.statistics.unwrap_or_else(|| vec!["Average".into(), "Maximum".into()]);
        let (standard, extended) = split_statistics(tool, &names)?;
        let period = match input.period {
            Some(period) => i64::from(check_period(tool, "period", period)?),
            None => window.default_period(now, 360),
        };
        let points = ceil_div(window.span(), period);
        if points > MAX_STATISTICS_POINTS {
            let shortest = ceil_div(ceil_div(window.span(), MAX_STATISTICS_POINTS), 60) * 60;
            return Err(ToolError::invalid_input(
                tool,
                format!(
                    "`/period`: {period} s over this window gives {points} datapoints, but \
                     CloudWatch returns at most {MAX_STATISTICS_POINTS} per call; use a period \
                     of at least {shortest} s or a shorter window"
                ),
            ));
        }
        let client = crate::aws_client!(context, aws_sdk_cloudwatch)?;

        let response = client
            .get_metric_statistics()
            .namespace(&input.namespace)
            .metric_name(&input.metric_name)
            .set_dimensions(sdk_dimensions(&input.dimensions))
            .start_time(window.sdk_start())
            .end_time(window.sdk_end())
            .period(period_i32(period))
            .set_statistics((!standard.is_empty()).then_some(standard))
            .set_extended_statistics((!extended.is_empty()).then_some(extended))
            .send()
            .await
            .map_err(|e| context.aws_error(e))?;

        let mut datapoints = response.datapoints.unwrap_or_default();
        datapoints.sort_by_key(|point| point.timestamp);
        let unit = datapoints.iter().find_map(|d| d.unit.as_ref().map(|u| u.as_str().to_owned()));
        let rows: Vec<Value> = datapoints
            .into_iter()
            .map(|point| {
                let mut row = Map::new();
                row.insert("timestamp".into(), point.timestamp.as_ref().map_or(Value::Null, iso));
                let standard = [
                    ("Average", point.average),
                    ("Sum", point.sum),
                    ("Minimum", point.minimum),
                    ("Maximum", point.maximum),
                    ("SampleCount", point.sample_count),
                ];
                for (name, value) in standard {
                    if let Some(value) = value {
                        row.insert(name.into(), json!(value));
                    }
                }
                let extended: BTreeMap<String, f64> =
                    point.extended_statistics.unwrap_or_default().into_iter().collect();
                for (name, value) in extended {
                    row.insert(name, json!(value));
                }
                Value::Object(row)
            })
            .collect();

        let mut output = window.describe();
        output["namespace"] = json!(input.namespace);
        output["metric_name"] = json!(input.metric_name);
        output["dimensions"] = json!(input.dimensions);
        output["period"] = json!(period);
        output["label"] = json!(response.label);
        output["unit"] = json!(unit);
        output["datapoints"] = Value::Array(rows);
        Ok(without_nulls(output))
    }
}

/// One dimension filter of `cloudwatch_list_metrics`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DimensionFilterInput {
    /// The dimension's name, such as `ClusterName`.
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// Its value; without one, any value matches.
    #[serde(default)]
    pub value: Option<String>,
}

/// Input of `cloudwatch_list_metrics`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListMetricsInput {
    /// Only metrics of this namespace, such as `ContainerInsights`.
    #[serde(default)]
    pub namespace: Option<String>,
    /// Only metrics of this name.
    #[serde(default)]
    pub metric_name: Option<String>,
    /// Only metrics with these dimensions (at most 10).
    #[serde(default)]
    #[schemars(length(max = 10))]
    pub dimensions: Vec<DimensionFilterInput>,
    /// Only metrics that received data in the last three hours.
    #[serde(default)]
    pub recently_active: bool,
    /// At most this many metrics (default 200).
    #[serde(default)]
    #[schemars(range(min = 1, max = 5000))]
    pub limit: Option<u32>,
}

/// Lists the metrics that exist, by namespace, name and dimensions.
pub struct ListMetrics {
    spec: ToolSpec,
}

impl ListMetrics {
    /// The tool.
    pub fn new() -> Self {
        let grant =
            fixed_grant(&["cloudwatch:ListMetrics"], "*").with_wildcard_reason(METRICS_HAVE_NO_ARN);
        Self {
            spec: ToolSpec::new::<ListMetricsInput>(
                "cloudwatch_list_metrics",
                "List the CloudWatch metrics that exist (namespace, name, dimensions), filtered \
                 by namespace, metric name, dimensions and recent activity. Use it to find the \
                 exact metric name and dimensions before fetching data.",
                Tier::Core,
                Risk::Read,
                Permissions { iam: vec![grant], rbac: vec![] },
            ),
        }
    }
}

impl Default for ListMetrics {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl Tool for ListMetrics {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let input: ListMetricsInput = context.parse_input(input)?;
        let limit = input.limit.unwrap_or(200) as usize;
        let filters: Vec<DimensionFilter> = input
            .dimensions
            .iter()
            .map(|d| DimensionFilter::builder().name(&d.name).set_value(d.value.clone()).build())
            .collect();
        let client = crate::aws_client!(context, aws_sdk_cloudwatch)?;

        let mut pages = client
            .list_metrics()
            .set_namespace(input.namespace)
            .set_metric_name(input.metric_name)
            .set_dimensions((!filters.is_empty()).then_some(filters))
            .set_recently_active(input.recently_active.then_some(RecentlyActive::Pt3H))
            .into_paginator()
            .send();
        let mut metrics = Vec::new();
        let mut truncated = false;
        'pages: while let Some(page) = pages.next().await {
            let page = page.map_err(|e| context.aws_error(e))?;
            for metric in page.metrics.unwrap_or_default() {
                if metrics.len() == limit {
                    truncated = true;
                    break 'pages;
                }
                metrics.push(json!({
                    "namespace": metric.namespace,
                    "metric_name": metric.metric_name,
                    "dimensions": dimensions_of(metric.dimensions),
                }));
            }
        }
        Ok(json!({ "metrics": metrics, "truncated": truncated }))
    }
}

/// An alarm state, as CloudWatch spells it.
#[derive(Clone, Copy, Debug, Deserialize, JsonSchema)]
pub enum AlarmState {
    /// The metric is within its threshold.
    #[serde(rename = "OK")]
    Ok,
    /// The metric breached its threshold.
    #[serde(rename = "ALARM")]
    Alarm,
    /// Too little data to decide.
    #[serde(rename = "INSUFFICIENT_DATA")]
    InsufficientData,
}

impl AlarmState {
    fn sdk(self) -> StateValue {
        match self {
            AlarmState::Ok => StateValue::Ok,
            AlarmState::Alarm => StateValue::Alarm,
            AlarmState::InsufficientData => StateValue::InsufficientData,
        }
    }
}

/// A kind of alarm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlarmKind {
    /// An alarm on one metric or a metric-math expression.
    Metric,
    /// An alarm over the states of other alarms.
    Composite,
}

/// Input of `cloudwatch_describe_alarms`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DescribeAlarmsInput {
    /// Only alarms in this state.
    #[serde(default)]
    pub state: Option<AlarmState>,
    /// Only alarms whose name starts with this.
    #[serde(default)]
    #[schemars(length(min = 1, max = 255))]
    pub name_prefix: Option<String>,
    /// Which kinds of alarm (default both).
    #[serde(default)]
    #[schemars(length(min = 1, max = 2))]
    pub alarm_types: Option<Vec<AlarmKind>>,
    /// At most this many alarms (default 100).
    #[serde(default)]
    #[schemars(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
}

/// Lists alarms with their state, reason and what they watch.
pub struct DescribeAlarms {
    spec: ToolSpec,
}

impl DescribeAlarms {
    /// The tool.
    pub fn new() -> Self {
        let grant = fixed_grant(&["cloudwatch:DescribeAlarms"], ALL_ALARMS);
        Self {
            spec: ToolSpec::new::<DescribeAlarmsInput>(
                "cloudwatch_describe_alarms",
                "List CloudWatch alarms, metric and composite, optionally by state (OK, ALARM, \
                 INSUFFICIENT_DATA) and name prefix: state, reason, when it changed, and the \
                 metric, threshold and comparison each watches. Use it to see what is firing.",
                Tier::Core,
                Risk::Read,
                Permissions { iam: vec![grant], rbac: vec![] },
            ),
        }
    }
}

impl Default for DescribeAlarms {
    fn default() -> Self {
        Self::new()
    }
}

fn metric_alarm_row(alarm: MetricAlarm) -> Value {
    let statistic = alarm.statistic.map(|s| s.as_str().to_owned()).or(alarm.extended_statistic);
    // An alarm on metric math has no metric of its own: show the expression it evaluates.
    let expression =
        alarm.metrics.unwrap_or_default().into_iter().find_map(|query| {
            query.return_data.unwrap_or(true).then_some(query.expression).flatten()
        });
    without_nulls(json!({
        "name": alarm.alarm_name,
        "type": "metric",
        "state": alarm.state_value.map(|s| s.as_str().to_owned()),
        "reason": alarm.state_reason,
        "updated": alarm.state_updated_timestamp.as_ref().map_or(Value::Null, iso),
        "namespace": alarm.namespace,
        "metric_name": alarm.metric_name,
        "dimensions": alarm.dimensions.map(|d| dimensions_of(Some(d))),
        "expression": expression,
        "statistic": statistic,
        "period": alarm.period,
        "comparison": alarm.comparison_operator.map(|c| c.as_str().to_owned()),
        "threshold": alarm.threshold,
        "evaluation_periods": alarm.evaluation_periods,
        "datapoints_to_alarm": alarm.datapoints_to_alarm,
        "actions_enabled": alarm.actions_enabled,
    }))
}

fn composite_alarm_row(alarm: CompositeAlarm) -> Value {
    without_nulls(json!({
        "name": alarm.alarm_name,
        "type": "composite",
        "state": alarm.state_value.map(|s| s.as_str().to_owned()),
        "reason": alarm.state_reason,
        "updated": alarm.state_updated_timestamp.as_ref().map_or(Value::Null, iso),
        "rule": alarm.alarm_rule,
        "actions_enabled": alarm.actions_enabled,
    }))
}

#[async_trait]
impl Tool for DescribeAlarms {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn invoke(&self, context: &ToolContext, input: Value) -> Result<Value> {
        let input: DescribeAlarmsInput = context.parse_input(input)?;
        let limit = input.limit.unwrap_or(100) as usize;
        let kinds =
            input.alarm_types.unwrap_or_else(|| vec![AlarmKind::Metric, AlarmKind::Composite]);
        let mut types: Vec<AlarmType> = Vec::new();
        for kind in kinds {
            let sdk = match kind {
                AlarmKind::Metric => AlarmType::MetricAlarm,
                AlarmKind::Composite => AlarmType::CompositeAlarm,
            };
            if !types.contains(&sdk) {
                types.push(sdk);
            }
        }
        let client = crate::aws_client!(context, aws_sdk_cloudwatch)?;

        let mut pages = client
            .describe_alarms()
            .set_state_value(input.state.map(AlarmState::sdk))
            .set_alarm_name_prefix(input.name_prefix)
            .set_alarm_types(Some(types))
            .max_records(100)
            .into_paginator()
            .send();
        let mut alarms = Vec::new();
        let mut truncated = false;
        'pages: while let Some(page) = pages.next().await {
            let page = page.map_err(|e| context.aws_error(e))?;
            let metric = page.metric_alarms.unwrap_or_default().into_iter().map(metric_alarm_row);
            let composite =
                page.composite_alarms.unwrap_or_default().into_iter().map(composite_alarm_row);
            for row in composite.chain(metric) {
                if alarms.len() == limit {
                    truncated = true;
                    break 'pages;
                }
                alarms.push(row);
            }
        }
        Ok(json!({ "alarms": alarms, "truncated": truncated }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_714_564_800; // 2024-05-01T12:00:00Z

    fn window(since: Option<u32>, start: Option<&str>, end: Option<&str>) -> Result<Window> {
        Window::resolve("t", since, start, end, NOW)
    }

    #[test]
    fn a_window_is_the_last_hour_by_default() {
        assert_eq!(window(None, None, None).unwrap(), Window { start: NOW - 3600, end: NOW });
    }

    #[test]
    fn explicit_bounds_accept_offsets() {
        let w =
            window(None, Some("2024-05-01T13:00:00+02:00"), Some("2024-05-01T12:00:00Z")).unwrap();
        assert_eq!(w, Window { start: NOW - 3600, end: NOW });
    }

    #[test]
    fn the_default_period_fits_the_points_and_the_age_of_the_data() {
        let hour = Window { start: NOW - 3600, end: NOW };
        assert_eq!(hour.default_period(NOW, 100), 60);
        let day = Window { start: NOW - DAY, end: NOW };
        assert_eq!(day.default_period(NOW, 100), 900);
        let old = Window { start: NOW - 70 * DAY, end: NOW - 70 * DAY + 3600 };
        assert_eq!(old.default_period(NOW, 100), 3600);
    }

    #[test]
    fn periods_follow_cloudwatch_rules() {
        assert_eq!(check_period("t", "period", 30).unwrap(), 30);
        assert_eq!(check_period("t", "period", 300).unwrap(), 300);
        let error = check_period("t", "period", 45).unwrap_err();
        assert!(error.to_string().contains("`/period`: 45"), "{error}");
    }

    #[test]
    fn query_ids_follow_cloudwatch_rules() {
        assert!(is_query_id("cpu_p99"));
        assert!(is_query_id("m1"));
        assert!(!is_query_id("Cpu"));
        assert!(!is_query_id("1m"));
        assert!(!is_query_id("cpu-p99"));
        assert!(!is_query_id(""));
    }

    #[test]
    fn extended_statistics_are_recognized() {
        for name in ["p99", "p99.9", "P50", "tm90", "TM(10%:90%)", "IQM", "wm99", "p100"] {
            assert!(is_extended_statistic(name), "{name}");
        }
        for name in ["median", "p", "p101", "pabc", "tm"] {
            assert!(!is_extended_statistic(name), "{name}");
        }
    }
}
