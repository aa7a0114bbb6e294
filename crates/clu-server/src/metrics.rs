//! The service's Prometheus metrics, served as text at `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolOutcome {
    tool: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabel {
    tool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Direction {
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ScanOutcome {
    source: String,
    outcome: String,
}

fn latency_histogram() -> Histogram {
    // From 5 ms to about 80 s: a cached Kubernetes get to a slow Logs Insights query.
    Histogram::new(exponential_buckets(0.005, 2.0, 15))
}

/// Every metric of the service, with the registry that encodes them.
pub(crate) struct Metrics {
    registry: Registry,
    tool_calls: Family<ToolOutcome, Counter>,
    tool_latency: Family<ToolLabel, Histogram, fn() -> Histogram>,
    tokens: Family<Direction, Counter>,
    investigations: Family<OutcomeLabel, Counter>,
    plans: Family<StateLabel, Gauge>,
    in_flight: Gauge,
    scans: Family<ScanOutcome, Counter>,
    leader: Gauge,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("clu");
        let tool_calls = Family::<ToolOutcome, Counter>::default();
        registry.register("tool_calls", "Tool calls by tool and outcome", tool_calls.clone());
        let tool_latency = Family::<ToolLabel, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        registry.register(
            "tool_call_duration_seconds",
            "Wall time of tool calls",
            tool_latency.clone(),
        );
        let tokens = Family::<Direction, Counter>::default();
        registry.register(
            "model_tokens",
            "Model tokens by direction (input, output)",
            tokens.clone(),
        );
        let investigations = Family::<OutcomeLabel, Counter>::default();
        registry.register("investigations", "Investigations by outcome", investigations.clone());
        let plans = Family::<StateLabel, Gauge>::default();
        registry.register("plans", "Plans by state", plans.clone());
        let in_flight = Gauge::default();
        registry.register(
            "requests_in_flight",
            "Investigations and tool calls running now",
            in_flight.clone(),
        );
        let scans = Family::<ScanOutcome, Counter>::default();
        registry.register("scans", "Scheduled scans by source and outcome", scans.clone());
        let leader = Gauge::default();
        registry.register(
            "scan_leader",
            "1 while this replica holds the scan Lease, else 0",
            leader.clone(),
        );
        Self {
            registry,
            tool_calls,
            tool_latency,
            tokens,
            investigations,
            plans,
            in_flight,
            scans,
            leader,
        }
    }

    /// Counts one tool call and its wall time.
    pub(crate) fn tool_call(&self, tool: &str, outcome: &str, duration_ms: u64) {
        self.tool_calls
            .get_or_create(&ToolOutcome { tool: tool.to_owned(), outcome: outcome.to_owned() })
            .inc();
        #[expect(clippy::cast_precision_loss, reason = "milliseconds fit an f64 for years")]
        let seconds = duration_ms as f64 / 1000.0;
        self.tool_latency.get_or_create(&ToolLabel { tool: tool.to_owned() }).observe(seconds);
    }

    /// Counts one investigation's outcome and its tokens.
    pub(crate) fn investigation(&self, outcome: &str, input_tokens: u64, output_tokens: u64) {
        self.investigations.get_or_create(&OutcomeLabel { outcome: outcome.to_owned() }).inc();
        self.tokens.get_or_create(&Direction { direction: "input" }).inc_by(input_tokens);
        self.tokens.get_or_create(&Direction { direction: "output" }).inc_by(output_tokens);
    }

    /// Sets how many plans are in `state`.
    pub(crate) fn plans_in_state(&self, state: &str, count: i64) {
        self.plans.get_or_create(&StateLabel { state: state.to_owned() }).set(count);
    }

    /// Counts one scan of `source`.
    pub(crate) fn scan(&self, source: &str, outcome: &str) {
        self.scans
            .get_or_create(&ScanOutcome { source: source.to_owned(), outcome: outcome.to_owned() })
            .inc();
    }

    /// Records whether this replica leads the scans.
    pub(crate) fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// The gauge of requests running now.
    pub(crate) fn in_flight(&self) -> &Gauge {
        &self.in_flight
    }

    /// The text exposition format.
    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(%error, "failed to encode the metrics");
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_counts_with_their_labels() {
        let metrics = Metrics::new();
        metrics.tool_call("k8s_get", "ok", 12);
        metrics.tool_call("k8s_get", "not-found", 3);
        metrics.investigation("answered", 300, 50);
        metrics.plans_in_state("pending", 2);
        let text = metrics.encode();
        assert!(text.contains(r#"clu_tool_calls_total{tool="k8s_get",outcome="ok"} 1"#), "{text}");
        assert!(
            text.contains(r#"clu_tool_call_duration_seconds_count{tool="k8s_get"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"clu_model_tokens_total{direction="input"} 300"#), "{text}");
        assert!(text.contains(r#"clu_investigations_total{outcome="answered"} 1"#), "{text}");
        assert!(text.contains(r#"clu_plans{state="pending"} 2"#), "{text}");
        assert!(text.contains("clu_requests_in_flight 0"), "{text}");
    }
}
