//! The account inventory against a slow AWS: does running the sections concurrently make the
//! whole take about as long as its slowest section? The target is at most 1.3 times the
//! slowest single call.
//!
//! A proxy in the bench stands in for AWS with a fixed latency: 50 ms for every request, 200 ms
//! for EC2 DescribeVolumes and for RDS (the slow sections). The bench seeds moto (at
//! `MOTO_ENDPOINT`) with a small account and takes one inventory through the proxy, which
//! records moto's answer to every request. From then on the proxy replays the recorded answer
//! after the latency, without moto: moto answers one request at a time, so behind it the
//! bench would measure moto's queue rather than the client's fan-out. The bench then times
//! every section's tool alone, then the whole inventory, and prints both and their ratio
//! before criterion's own timings, with the same inventory straight to moto for comparison.
//!
//! Run with `MOTO_ENDPOINT=http://127.0.0.1:5000 cargo bench -p clu-cloud --bench inventory`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_ec2::config::Credentials;
use aws_types::region::Region;
use clu_cloud::Cloud;
use clu_cloud::inventory::{InventoryOptions, SECTIONS, inventory};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The delay of every request.
const LATENCY: Duration = Duration::from_millis(50);

/// The delay of the slow sections' requests.
const SLOW_LATENCY: Duration = Duration::from_millis(200);

/// The most a request head may be before the proxy gives up on it.
const MAX_HEAD: usize = 64 * 1024;

fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5000".to_owned())
}

async fn sdk_config(endpoint: String) -> aws_types::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "bench"))
        .load()
        .await
}

/// Whether a request belongs to a slow section: RDS by its signing scope, EC2 volumes by its
/// action.
fn is_slow(request: &[u8]) -> bool {
    let text = String::from_utf8_lossy(request);
    text.contains("/rds/aws4_request") || text.contains("Action=DescribeVolumes")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn content_length(head: &[u8]) -> usize {
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    text.lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

/// What the proxy shares: moto's address, the recorded answers, and whether to replay them.
struct Proxy {
    upstream: SocketAddr,
    answers: Mutex<HashMap<Vec<u8>, Vec<u8>>>,
    replay: AtomicBool,
    requests: AtomicUsize,
    replayed: AtomicUsize,
}

/// What identifies a request's answer: the service of its signing scope, its `X-Amz-Target`,
/// its request line and its body. The signature, dates and invocation ids change every time
/// and are left out.
fn request_key(request: &[u8], head_end: usize) -> Vec<u8> {
    let head = String::from_utf8_lossy(&request[..head_end]);
    let mut key = Vec::new();
    let mut lines = head.lines();
    key.extend_from_slice(lines.next().unwrap_or_default().as_bytes());
    for line in lines {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("x-amz-target:") {
            key.extend_from_slice(lower.as_bytes());
        }
        if let Some(scope) = lower.find("/aws4_request") {
            let service = lower[..scope].rsplit('/').next().unwrap_or_default();
            key.extend_from_slice(service.as_bytes());
        }
    }
    key.push(0);
    key.extend_from_slice(&request[head_end..]);
    key
}

/// Reads one request, waits the latency, and answers it: from the recording when replaying
/// and it is there, else from moto (recording the answer). moto closes every connection after
/// its response, so a connection carries one request and an answer is all moto sent.
async fn relay(mut client: TcpStream, proxy: Arc<Proxy>) {
    let mut request = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(end) = find(&request, b"\r\n\r\n") {
            break end + 4;
        }
        if request.len() > MAX_HEAD {
            return;
        }
        match client.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&chunk[..n]),
        }
    };
    let total = head_end + content_length(&request[..head_end]);
    while request.len() < total {
        match client.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&chunk[..n]),
        }
    }
    proxy.requests.fetch_add(1, Ordering::Relaxed);
    tokio::time::sleep(if is_slow(&request) { SLOW_LATENCY } else { LATENCY }).await;

    let key = request_key(&request, head_end);
    if proxy.replay.load(Ordering::Relaxed) {
        let recorded = proxy.answers.lock().unwrap_or_else(|e| e.into_inner()).get(&key).cloned();
        if let Some(answer) = recorded {
            proxy.replayed.fetch_add(1, Ordering::Relaxed);
            let _ = client.write_all(&answer).await;
            let _ = client.shutdown().await;
            return;
        }
    }
    let Ok(mut moto) = TcpStream::connect(proxy.upstream).await else {
        return;
    };
    if moto.write_all(&request).await.is_err() {
        return;
    }
    let mut answer = Vec::new();
    if moto.read_to_end(&mut answer).await.is_err() {
        return;
    }
    proxy.answers.lock().unwrap_or_else(|e| e.into_inner()).insert(key, answer.clone());
    let _ = client.write_all(&answer).await;
    let _ = client.shutdown().await;
}

/// Starts the delaying proxy in front of moto, recording.
async fn start_proxy(upstream: SocketAddr) -> (SocketAddr, Arc<Proxy>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port for the proxy");
    let address = listener.local_addr().expect("the proxy's address");
    let proxy = Arc::new(Proxy {
        upstream,
        answers: Mutex::new(HashMap::new()),
        replay: AtomicBool::new(false),
        requests: AtomicUsize::new(0),
        replayed: AtomicUsize::new(0),
    });
    let shared = proxy.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(relay(client, shared.clone()));
        }
    });
    (address, proxy)
}

/// A small account: a VPC with subnets, groups, instances, volumes and a load balancer.
async fn seed(config: &aws_types::SdkConfig) {
    let ec2 = aws_sdk_ec2::Client::new(config);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(config);
    let vpc = ec2.create_vpc().cidr_block("10.20.0.0/16").send().await.expect("seed a VPC");
    let vpc = vpc.vpc.and_then(|v| v.vpc_id).expect("a VPC id");
    let mut subnets = Vec::new();
    for (block, zone) in [("10.20.1.0/24", "us-east-1a"), ("10.20.2.0/24", "us-east-1b")] {
        let subnet = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(block)
            .availability_zone(zone)
            .send()
            .await
            .expect("seed a subnet");
        subnets.push(subnet.subnet.and_then(|s| s.subnet_id).expect("a subnet id"));
    }
    for size in [10, 50, 200] {
        ec2.create_volume()
            .size(size)
            .availability_zone("us-east-1a")
            .send()
            .await
            .expect("seed a volume");
    }
    ec2.run_instances()
        .image_id("ami-12c6146b")
        .min_count(2)
        .max_count(2)
        .subnet_id(&subnets[0])
        .send()
        .await
        .expect("seed instances");
    let lb = elb
        .create_load_balancer()
        .name(format!("bench-lb-{}", std::process::id()))
        .set_subnets(Some(subnets))
        .send()
        .await
        .expect("seed a load balancer");
    let lb_arn = lb.load_balancers()[0].load_balancer_arn.clone().expect("a load balancer ARN");
    let group = elb
        .create_target_group()
        .name(format!("bench-tg-{}", std::process::id()))
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .port(80)
        .vpc_id(&vpc)
        .send()
        .await
        .expect("seed a target group");
    let group_arn = group.target_groups()[0].target_group_arn.clone().expect("a group ARN");
    elb.create_listener()
        .load_balancer_arn(lb_arn)
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .port(80)
        .default_actions(
            aws_sdk_elasticloadbalancingv2::types::Action::builder()
                .r#type(aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum::Forward)
                .target_group_arn(group_arn)
                .build(),
        )
        .send()
        .await
        .expect("seed a listener");
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Each section's tool alone, the median of three calls; the slowest of them.
async fn slowest_single_call(cloud: &Cloud) -> (String, Duration) {
    let mut slowest = (String::new(), Duration::ZERO);
    for (_, tool) in SECTIONS {
        if cloud.registry().get(tool).is_none() {
            continue;
        }
        let mut samples = Vec::new();
        for _ in 0..3 {
            let started = Instant::now();
            cloud.call(tool, json!({})).await.unwrap_or_else(|e| panic!("{tool}: {e}"));
            samples.push(started.elapsed());
        }
        let time = median(samples);
        if time > slowest.1 {
            slowest = (tool.to_owned(), time);
        }
    }
    slowest
}

async fn inventory_time(cloud: &Cloud, options: &InventoryOptions) -> Duration {
    let mut samples = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let taken = inventory(cloud, options).await;
        samples.push(started.elapsed());
        for section in &taken.sections {
            let known = cloud.registry().get(&section.tool).is_some();
            assert!(!known || section.error.is_none(), "{section:?}");
        }
    }
    median(samples)
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let moto = moto_endpoint();
    let upstream: SocketAddr = moto
        .trim_start_matches("http://")
        .parse()
        .unwrap_or_else(|e| panic!("MOTO_ENDPOINT `{moto}` is not http://IP:PORT: {e}"));
    let cloud = runtime.block_on(async {
        if TcpStream::connect(upstream).await.is_err() {
            panic!("no moto server at {moto}: start one and set MOTO_ENDPOINT");
        }
        seed(&sdk_config(moto.clone()).await).await;
        let (address, proxy) = start_proxy(upstream).await;
        (Cloud::new(&sdk_config(format!("http://{address}")).await), proxy)
    });
    let (cloud, proxy) = cloud;
    let options = InventoryOptions { keep_output: false, ..InventoryOptions::default() };

    let direct = runtime.block_on(async { Cloud::new(&sdk_config(moto.clone()).await) });
    let (tool, slowest, concurrent, sequential, eight_at_a_time, baseline) =
        runtime.block_on(async {
            // Record every answer (moto loads each service lazily on its first request), then
            // replay: single calls and inventories alike answer after the latency alone.
            let _ = inventory(&cloud, &options).await;
            let _ = slowest_single_call(&cloud).await;
            proxy.replay.store(true, Ordering::Relaxed);
            let (tool, slowest) = slowest_single_call(&cloud).await;
            let concurrent = inventory_time(&cloud, &options).await;
            let one_at_a_time = InventoryOptions { concurrency: 1, ..options.clone() };
            let sequential = inventory_time(&cloud, &one_at_a_time).await;
            let eight = InventoryOptions { concurrency: 8, ..options.clone() };
            let eight_at_a_time = inventory_time(&cloud, &eight).await;
            // The same inventory straight to moto: what moto and the client spend besides the
            // injected latency.
            let _ = inventory(&direct, &options).await;
            let baseline = inventory_time(&direct, &options).await;
            (tool, slowest, concurrent, sequential, eight_at_a_time, baseline)
        });
    println!(
        "proxy: {} requests, {} answered from the recording",
        proxy.requests.load(Ordering::Relaxed),
        proxy.replayed.load(Ordering::Relaxed)
    );
    println!(
        "inventory through a {} ms proxy ({} ms for volumes and RDS): slowest single call \
         {:.3} s ({tool}), inventory {:.3} s with {} at a time, ratio {:.2}; one at a time \
         {:.3} s, 8 at a time {:.3} s; straight to moto (no latency, moto's own queue) {:.3} s",
        LATENCY.as_millis(),
        SLOW_LATENCY.as_millis(),
        slowest.as_secs_f64(),
        concurrent.as_secs_f64(),
        options.concurrency,
        concurrent.as_secs_f64() / slowest.as_secs_f64(),
        sequential.as_secs_f64(),
        eight_at_a_time.as_secs_f64(),
        baseline.as_secs_f64(),
    );

    let mut group = c.benchmark_group("inventory");
    group.sample_size(10).measurement_time(Duration::from_secs(5));
    group.bench_function("every section at once, 50 ms per request", |b| {
        b.iter(|| runtime.block_on(inventory(&cloud, &options)))
    });
    group.bench_function("slowest section alone", |b| {
        b.iter(|| runtime.block_on(cloud.call(&tool, json!({}))))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
