//! Turning a list of 10,000 pods into the model-ready summary `k8s_list` returns: the rows
//! and their JSON text. The target is at most 50 ms and 100 MiB.
//!
//! `k8s_list` reads pods typed and makes their rows with `pod_summary_rows`; the same rows from
//! the pods as JSON maps (`summary_rows`, what every other kind and `k8s_describe` use) are
//! timed beside it. Memory is read as the growth of the process's resident set while one
//! summary is built and serialized, printed before the timing runs.
//!
//! Run with `cargo bench -p clu-core --bench pod_summary`.

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

use clu_core::tools::k8s::{pod_summary_rows, summary_rows};
use clu_testkit::apiserver::fixture;
use k8s_openapi::api::core::v1::Pod;

fn pods(count: usize) -> Vec<Value> {
    (0..count)
        .map(|i| {
            let labels =
                json!({ "app": format!("svc-{}", i % 50), "pod-template-hash": "7f9c8b6d5" });
            let node = format!("ip-10-0-{}-{}.ec2.internal", i % 8, i % 200);
            fixture::running_pod(
                "shop",
                &format!("svc-{}-7f9c8b6d5-{i:05}", i % 50),
                &labels,
                ("ReplicaSet", &format!("svc-{}-7f9c8b6d5", i % 50)),
                &node,
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop:v1.4.2",
            )
        })
        .collect()
}

fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn summary(c: &mut Criterion) {
    let pods = pods(10_000);
    let typed: Vec<Pod> = pods
        .iter()
        .map(|pod| serde_json::from_value(pod.clone()).expect("a fixture pod reads as a Pod"))
        .collect();
    let before = resident_kib();
    let text = serde_json::to_string(&pod_summary_rows(&typed)).unwrap_or_default();
    let after = resident_kib();
    if let (Some(before), Some(after)) = (before, after) {
        println!(
            "pod summary: {} rows, {} KiB of JSON, resident set grew by {} KiB",
            typed.len(),
            text.len() / 1024,
            after.saturating_sub(before)
        );
    }

    c.bench_function("summary of 10,000 typed pods (k8s_list)", |b| {
        b.iter(|| serde_json::to_string(&pod_summary_rows(std::hint::black_box(&typed))))
    });
    c.bench_function("rows of 10,000 typed pods", |b| {
        b.iter(|| pod_summary_rows(std::hint::black_box(&typed)))
    });
    c.bench_function("summary of 10,000 pods as JSON maps", |b| {
        b.iter(|| serde_json::to_string(&summary_rows("Pod", std::hint::black_box(&pods))))
    });
}

criterion_group!(benches, summary);
criterion_main!(benches);
