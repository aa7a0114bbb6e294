//! Cost Explorer views: cost over a window grouped by service or by a cost allocation tag, the
//! forecast, the tag keys and values seen in billing, and the values of a billing dimension.
//!
//! Cost Explorer must be enabled once per account; until then every call fails, and these
//! views say so as a result (`{"enabled": false, "reason": ...}`) rather than as an error, since
//! that is an answer about the account. Cost Explorer has one endpoint per partition, in
//! us-east-1 for the commercial partition, whatever region the agent runs in.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_costexplorer::types::{
    DateInterval, Dimension, Granularity, GroupDefinition, GroupDefinitionType, Metric,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_types::region::Region;
use clu_core::error::ToolError;
use clu_core::tool::{Tool, ToolContext};
use clu_policy::Grant;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::common::{View, grant, limit};

/// Cost Explorer reads are scoped only by billing view, and the default view of the account,
/// which these views read, has no ARN to name in a policy.
const WILDCARD_REASON: &str =
    "Cost Explorer reads the account's default billing view, which has no ARN to scope to";

fn ce_grant(action: &str) -> Grant {
    grant(&[action], &["*"]).with_wildcard_reason(WILDCARD_REASON)
}

/// The module's tools, in a fixed order.
pub(crate) fn tools() -> Vec<Arc<dyn Tool>> {
    vec![
        View::<CostInput>::tool(
            "cost_by_service",
            "Give the account's cost over a window (default the last 30 days, daily or \
             monthly) grouped by AWS service, largest first, with the total per period. Use it \
             to see which service drives a cost increase.",
            vec![ce_grant("ce:GetCostAndUsage")],
            |context, input| Box::pin(cost_by_service(context, input)),
        ),
        View::<CostByTagInput>::tool(
            "cost_by_tag",
            "Give the account's cost over a window grouped by the values of one cost \
             allocation tag (such as `eks:cluster-name` or `team`), largest first. Use it to \
             see what a cluster or a team costs.",
            vec![ce_grant("ce:GetCostAndUsage")],
            |context, input| Box::pin(cost_by_tag(context, input)),
        ),
        View::<ForecastInput>::tool(
            "cost_forecast",
            "Forecast the account's cost from today over the next days (default 30) with the \
             80% prediction interval, in total and per period.",
            vec![ce_grant("ce:GetCostForecast")],
            |context, input| Box::pin(cost_forecast(context, input)),
        ),
        View::<TagsInput>::tool(
            "cost_list_tags",
            "List the cost allocation tag keys seen in billing over a window, or with `tag_key` \
             the values of one key. Use it before grouping cost by a tag.",
            vec![ce_grant("ce:GetTags")],
            |context, input| Box::pin(cost_list_tags(context, input)),
        ),
        View::<DimensionInput>::tool(
            "cost_dimension_values",
            "List the values of one billing dimension seen over a window, such as the \
             services, regions, usage types or instance types that were billed.",
            vec![ce_grant("ce:GetDimensionValues")],
            |context, input| Box::pin(cost_dimension_values(context, input)),
        ),
    ]
}

/// A Cost Explorer client on the partition's Cost Explorer endpoint.
fn ce_client(context: &ToolContext) -> clu_core::Result<aws_sdk_costexplorer::Client> {
    let region = match context.arn_context().partition.as_str() {
        "aws-cn" => "cn-northwest-1",
        _ => "us-east-1",
    };
    clu_core::aws_client!(
        context,
        aws_sdk_costexplorer,
        |b: aws_sdk_costexplorer::config::Builder| { b.region(Region::new(region)) }
    )
}

/// The civil date (year, month, day) of a day counted from 1970-01-01.
fn civil_date(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's days-to-civil algorithm: eras of 400 years, March-based years.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn date(days: i64) -> String {
    let (year, month, day) = civil_date(days);
    format!("{year:04}-{month:02}-{day:02}")
}

fn today() -> i64 {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    i64::try_from(seconds / 86_400).unwrap_or(0)
}

/// Whether `text` is a `YYYY-MM-DD` date, the only form Cost Explorer takes.
fn is_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes.iter().enumerate().all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit())
}

/// The window a view reads: explicit dates, or the last `days` days up to today (exclusive).
fn window(
    context: &ToolContext,
    window: &Window,
    default_days: i64,
    forward: bool,
) -> clu_core::Result<DateInterval> {
    let today = today();
    let days = window.days.map_or(default_days, i64::from);
    let (default_start, default_end) =
        if forward { (date(today), date(today + days)) } else { (date(today - days), date(today)) };
    let start = window.start.clone().unwrap_or(default_start);
    let end = window.end.clone().unwrap_or(default_end);
    for (field, value) in [("start", &start), ("end", &end)] {
        if !is_date(value) {
            return Err(ToolError::invalid_input(
                context.tool(),
                format!("`{field}` is `{value}`; write a date as YYYY-MM-DD"),
            ));
        }
    }
    if start >= end {
        return Err(ToolError::invalid_input(
            context.tool(),
            format!("`start` ({start}) must come before `end` ({end})"),
        ));
    }
    DateInterval::builder()
        .start(start)
        .end(end)
        .build()
        .map_err(|e| ToolError::failed(context.tool(), e.to_string()))
}

/// The time window of a cost view.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
pub(crate) struct Window {
    /// The first day, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) start: Option<String>,
    /// The day after the last, `YYYY-MM-DD` (Cost Explorer's end is exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) end: Option<String>,
    /// Without dates, this many days (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 365))]
    pub(crate) days: Option<u32>,
}

/// How finely cost is split in time.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Period {
    /// One row per day.
    Daily,
    /// One row per calendar month.
    #[default]
    Monthly,
}

impl Period {
    fn granularity(self) -> Granularity {
        match self {
            Period::Daily => Granularity::Daily,
            Period::Monthly => Granularity::Monthly,
        }
    }
}

/// Input of `cost_by_service`.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
pub(crate) struct CostInput {
    /// The window.
    #[serde(flatten)]
    pub(crate) window: Window,
    /// Daily or monthly periods (default monthly).
    #[serde(default)]
    pub(crate) period: Period,
    /// At most this many groups per period, the largest; the rest are summed as `others`
    /// (default 15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 200))]
    pub(crate) top: Option<u32>,
}

/// Input of `cost_by_tag`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub(crate) struct CostByTagInput {
    /// The cost allocation tag key, such as `eks:cluster-name`.
    #[schemars(length(min = 1, max = 128))]
    pub(crate) tag_key: String,
    /// The window.
    #[serde(flatten)]
    pub(crate) window: Window,
    /// Daily or monthly periods (default monthly).
    #[serde(default)]
    pub(crate) period: Period,
    /// At most this many groups per period, the largest; the rest are summed as `others`
    /// (default 15).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 200))]
    pub(crate) top: Option<u32>,
}

const COST_METRIC: &str = "UnblendedCost";

/// Whether a Cost Explorer error says the account has not enabled it, or its data is not ready.
fn disabled_reason<E: ProvideErrorMetadata>(error: &E) -> Option<String> {
    let code = error.code().unwrap_or_default();
    let message = error.message().unwrap_or_default();
    let not_enabled = message.to_ascii_lowercase().contains("not enabled");
    (code == "DataUnavailableException" || not_enabled)
        .then(|| if message.is_empty() { code.to_owned() } else { format!("{code}: {message}") })
}

fn amount(
    metrics: Option<&std::collections::HashMap<String, aws_sdk_costexplorer::types::MetricValue>>,
) -> (f64, Option<String>) {
    let value = metrics.and_then(|m| m.get(COST_METRIC));
    let amount =
        value.and_then(|v| v.amount.as_deref()).and_then(|a| a.parse().ok()).unwrap_or(0.0);
    (amount, value.and_then(|v| v.unit.clone()))
}

fn round_cents(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

async fn grouped_cost(
    context: &ToolContext,
    group: GroupDefinition,
    window_input: &Window,
    period: Period,
    top: usize,
) -> clu_core::Result<Value> {
    let client = ce_client(context)?;
    let interval = window(context, window_input, 30, false)?;
    let (start, end) = (interval.start.clone(), interval.end.clone());
    let mut periods = Vec::new();
    let mut token = None;
    // A token per page, and a bounded count of pages: a year of days grouped by service fits
    // in a few pages, and the bound stops a service that never stops paging.
    for _ in 0..20 {
        let answer = client
            .get_cost_and_usage()
            .time_period(interval.clone())
            .granularity(period.granularity())
            .metrics(COST_METRIC)
            .group_by(group.clone())
            .set_next_page_token(token.take())
            .send()
            .await;
        let output = match answer {
            Ok(output) => output,
            Err(error) => {
                if let Some(reason) = disabled_reason(&error) {
                    return Ok(json!({ "enabled": false, "reason": reason }));
                }
                return Err(context.aws_error(error));
            }
        };
        for result in output.results_by_time.unwrap_or_default() {
            let mut groups: Vec<(String, f64)> = result
                .groups
                .unwrap_or_default()
                .into_iter()
                .map(|g| {
                    let key = g.keys.unwrap_or_default().join(", ");
                    (key, amount(g.metrics.as_ref()).0)
                })
                .collect();
            groups.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let (total_listed, unit) = amount(result.total.as_ref());
            let sum: f64 = groups.iter().map(|g| g.1).sum();
            let others: f64 = groups.iter().skip(top).map(|g| g.1).sum();
            let kept: Vec<Value> = groups
                .iter()
                .take(top)
                .map(|(key, value)| json!({ "key": key, "amount": round_cents(*value) }))
                .collect();
            periods.push(json!({
                "start": result.time_period.as_ref().map(|p| p.start.clone()),
                "end": result.time_period.as_ref().map(|p| p.end.clone()),
                "total": round_cents(if total_listed > 0.0 { total_listed } else { sum }),
                "unit": unit.unwrap_or_else(|| "USD".to_owned()),
                "estimated": result.estimated,
                "groups": kept,
                "others": round_cents(others),
            }));
        }
        token = output.next_page_token.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    Ok(json!({
        "enabled": true,
        "start": start,
        "end": end,
        "metric": COST_METRIC,
        "periods": periods,
        "truncated": token.is_some(),
    }))
}

async fn cost_by_service(context: &ToolContext, input: CostInput) -> clu_core::Result<Value> {
    let group =
        GroupDefinition::builder().r#type(GroupDefinitionType::Dimension).key("SERVICE").build();
    grouped_cost(context, group, &input.window, input.period, limit(input.top, 15)).await
}

async fn cost_by_tag(context: &ToolContext, input: CostByTagInput) -> clu_core::Result<Value> {
    let group =
        GroupDefinition::builder().r#type(GroupDefinitionType::Tag).key(&input.tag_key).build();
    let mut view =
        grouped_cost(context, group, &input.window, input.period, limit(input.top, 15)).await?;
    view["tag_key"] = json!(input.tag_key);
    Ok(view)
}

/// Input of `cost_forecast`.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
pub(crate) struct ForecastInput {
    /// The window, from today forward unless dates are given.
    #[serde(flatten)]
    pub(crate) window: Window,
    /// Daily or monthly periods (default monthly).
    #[serde(default)]
    pub(crate) period: Period,
}

async fn cost_forecast(context: &ToolContext, input: ForecastInput) -> clu_core::Result<Value> {
    let client = ce_client(context)?;
    let interval = window(context, &input.window, 30, true)?;
    let answer = client
        .get_cost_forecast()
        .time_period(interval.clone())
        .metric(Metric::UnblendedCost)
        .granularity(input.period.granularity())
        .prediction_interval_level(80)
        .send()
        .await;
    let output = match answer {
        Ok(output) => output,
        Err(error) => {
            if let Some(reason) = disabled_reason(&error) {
                return Ok(json!({ "enabled": false, "reason": reason }));
            }
            return Err(context.aws_error(error));
        }
    };
    let number = |text: Option<&str>| text.and_then(|t| t.parse::<f64>().ok()).map(round_cents);
    let periods: Vec<Value> = output
        .forecast_results_by_time
        .unwrap_or_default()
        .into_iter()
        .map(|f| {
            json!({
                "start": f.time_period.as_ref().map(|p| p.start.clone()),
                "end": f.time_period.as_ref().map(|p| p.end.clone()),
                "mean": number(f.mean_value.as_deref()),
                "low": number(f.prediction_interval_lower_bound.as_deref()),
                "high": number(f.prediction_interval_upper_bound.as_deref()),
            })
        })
        .collect();
    Ok(json!({
        "enabled": true,
        "start": interval.start,
        "end": interval.end,
        "total": number(output.total.as_ref().and_then(|t| t.amount.as_deref())),
        "unit": output.total.and_then(|t| t.unit),
        "prediction_interval": 80,
        "periods": periods,
    }))
}

/// Input of `cost_list_tags`.
#[derive(Debug, Default, Deserialize, Serialize, JsonSchema)]
pub(crate) struct TagsInput {
    /// The values of this tag key instead of the keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub(crate) tag_key: Option<String>,
    /// Only keys or values containing this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub(crate) search: Option<String>,
    /// The window.
    #[serde(flatten)]
    pub(crate) window: Window,
    /// At most this many (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 5000))]
    pub(crate) limit: Option<u32>,
}

async fn cost_list_tags(context: &ToolContext, input: TagsInput) -> clu_core::Result<Value> {
    let client = ce_client(context)?;
    let interval = window(context, &input.window, 30, false)?;
    let bound = limit(input.limit, 200);
    let mut tags = Vec::new();
    let mut token = None;
    let mut truncated = false;
    loop {
        let answer = client
            .get_tags()
            .time_period(interval.clone())
            .set_tag_key(input.tag_key.clone())
            .set_search_string(input.search.clone())
            .set_next_page_token(token.take())
            .send()
            .await;
        let output = match answer {
            Ok(output) => output,
            Err(error) => {
                if let Some(reason) = disabled_reason(&error) {
                    return Ok(json!({ "enabled": false, "reason": reason }));
                }
                return Err(context.aws_error(error));
            }
        };
        for tag in output.tags {
            if tags.len() == bound {
                truncated = true;
                break;
            }
            tags.push(tag);
        }
        token = output.next_page_token.filter(|t| !t.is_empty());
        if truncated || token.is_none() {
            truncated |= token.is_some();
            break;
        }
    }
    let key = if input.tag_key.is_some() { "values" } else { "tag_keys" };
    let mut view = json!({
        "enabled": true,
        "start": interval.start,
        "end": interval.end,
        "truncated": truncated,
    });
    view[key] = json!(tags);
    if let Some(tag_key) = input.tag_key {
        view["tag_key"] = json!(tag_key);
    }
    Ok(view)
}

/// A billing dimension whose values can be listed.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum BillingDimension {
    /// AWS services, such as `Amazon Elastic Compute Cloud - Compute`.
    Service,
    /// Regions.
    Region,
    /// Linked accounts of an organization.
    LinkedAccount,
    /// Usage types, such as `EUW1-BoxUsage:m5.large`.
    UsageType,
    /// EC2 instance types.
    InstanceType,
    /// Purchase options (on demand, spot, savings plans...).
    PurchaseType,
    /// Operations, such as `RunInstances`.
    Operation,
}

impl BillingDimension {
    fn dimension(self) -> Dimension {
        match self {
            BillingDimension::Service => Dimension::Service,
            BillingDimension::Region => Dimension::Region,
            BillingDimension::LinkedAccount => Dimension::LinkedAccount,
            BillingDimension::UsageType => Dimension::UsageType,
            BillingDimension::InstanceType => Dimension::InstanceType,
            BillingDimension::PurchaseType => Dimension::PurchaseType,
            BillingDimension::Operation => Dimension::Operation,
        }
    }
}

/// Input of `cost_dimension_values`.
#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub(crate) struct DimensionInput {
    /// The dimension.
    pub(crate) dimension: BillingDimension,
    /// Only values containing this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub(crate) search: Option<String>,
    /// The window.
    #[serde(flatten)]
    pub(crate) window: Window,
    /// At most this many values (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 5000))]
    pub(crate) limit: Option<u32>,
}

async fn cost_dimension_values(
    context: &ToolContext,
    input: DimensionInput,
) -> clu_core::Result<Value> {
    let client = ce_client(context)?;
    let interval = window(context, &input.window, 30, false)?;
    let bound = limit(input.limit, 200);
    let mut values = Vec::new();
    let mut token = None;
    let mut truncated = false;
    loop {
        let answer = client
            .get_dimension_values()
            .time_period(interval.clone())
            .dimension(input.dimension.dimension())
            .set_search_string(input.search.clone())
            .set_next_page_token(token.take())
            .send()
            .await;
        let output = match answer {
            Ok(output) => output,
            Err(error) => {
                if let Some(reason) = disabled_reason(&error) {
                    return Ok(json!({ "enabled": false, "reason": reason }));
                }
                return Err(context.aws_error(error));
            }
        };
        for value in output.dimension_values {
            if values.len() == bound {
                truncated = true;
                break;
            }
            let attributes: BTreeMap<String, String> =
                value.attributes.unwrap_or_default().into_iter().collect();
            values.push(if attributes.is_empty() {
                json!({ "value": value.value })
            } else {
                json!({ "value": value.value, "attributes": attributes })
            });
        }
        token = output.next_page_token.filter(|t| !t.is_empty());
        if truncated || token.is_none() {
            truncated |= token.is_some();
            break;
        }
    }
    Ok(json!({
        "enabled": true,
        "dimension": input.dimension.dimension().as_str(),
        "start": interval.start,
        "end": interval.end,
        "values": values,
        "truncated": truncated,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_since_the_epoch_become_civil_dates() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(59), "1970-03-01");
        assert_eq!(date(11_016), "2000-02-29");
        assert_eq!(date(19_723), "2024-01-01");
        assert_eq!(date(20_790), "2026-12-03");
        assert_eq!(date(-1), "1969-12-31");
    }

    #[test]
    fn only_iso_dates_are_dates() {
        assert!(is_date("2026-01-31"));
        assert!(!is_date("2026-1-31"));
        assert!(!is_date("31/01/2026"));
        assert!(!is_date("2026-01-3x"));
    }
}
