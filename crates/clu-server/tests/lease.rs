//! Leader election of two replicas over one fake API server: exactly one leads, a graceful stop
//! hands over at once, a crash hands over after the lease duration.

use std::time::{Duration, Instant};

use clu_server::{LeaderElector, LeaseSettings};
use clu_testkit::apiserver::FakeApiServer;
use k8s_openapi::api::coordination::v1::Lease;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

fn settings() -> LeaseSettings {
    LeaseSettings {
        name: "clu-ops-agent-scans".into(),
        namespace: "clu-ops".into(),
        lease_duration: Duration::from_millis(1500),
        renew_deadline: Duration::from_millis(1000),
        retry_period: Duration::from_millis(100),
    }
}

struct Replica {
    leading: watch::Receiver<bool>,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn replica(server: &FakeApiServer, identity: &str) -> Replica {
    let elector = LeaderElector::new(server.client(), &settings(), identity);
    let leading = elector.subscribe();
    let stop = CancellationToken::new();
    let task = tokio::spawn(elector.run(stop.clone()));
    Replica { leading, stop, task }
}

impl Replica {
    fn leads(&self) -> bool {
        *self.leading.borrow()
    }
}

async fn holder(server: &FakeApiServer) -> Option<String> {
    let api = kube::Api::<Lease>::namespaced(server.client(), "clu-ops");
    api.get_opt("clu-ops-agent-scans").await.unwrap()?.spec?.holder_identity
}

/// Waits until `check` holds, for at most `limit`, and says how long it took.
async fn until(limit: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

/// Samples both replicas for `span` and fails if both ever lead at once.
async fn never_both(a: &Replica, b: &Replica, span: Duration) {
    let started = Instant::now();
    while started.elapsed() < span {
        assert!(!(a.leads() && b.leads()), "two replicas lead at once");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn exactly_one_of_two_replicas_leads_and_a_graceful_stop_hands_over_at_once() {
    let server = FakeApiServer::start(Vec::new()).await;
    let a = replica(&server, "agent-a");
    let b = replica(&server, "agent-b");

    until(Duration::from_secs(5), || a.leads() || b.leads()).await;
    never_both(&a, &b, Duration::from_millis(800)).await;
    let (mut leader, follower, leader_name, follower_name) =
        if a.leads() { (a, b, "agent-a", "agent-b") } else { (b, a, "agent-b", "agent-a") };
    assert_eq!(holder(&server).await.as_deref(), Some(leader_name));

    // The leader renews: its claim outlives the lease duration while it runs.
    tokio::time::sleep(settings().lease_duration * 2).await;
    assert!(leader.leads() && !follower.leads());

    leader.stop.cancel();
    (&mut leader.task).await.unwrap();
    assert!(!leader.leads(), "a stopped replica does not lead");
    let handover = until(Duration::from_secs(5), || follower.leads()).await;
    assert!(
        handover < settings().lease_duration,
        "a released Lease is taken at once, not after its duration ({handover:?})"
    );
    assert_eq!(holder(&server).await.as_deref(), Some(follower_name));
    follower.stop.cancel();
    follower.task.await.unwrap();
}

#[tokio::test]
async fn after_a_crash_the_other_replica_takes_over_only_once_the_lease_expired() {
    let server = FakeApiServer::start(Vec::new()).await;
    let a = replica(&server, "agent-a");
    until(Duration::from_secs(5), || a.leads()).await;
    let b = replica(&server, "agent-b");
    never_both(&a, &b, Duration::from_millis(500)).await;
    assert!(!b.leads(), "a held Lease is not taken");

    // A crash: no release, no more renewals.
    a.task.abort();
    let crashed = Instant::now();
    until(Duration::from_secs(10), || b.leads()).await;
    assert!(
        crashed.elapsed() >= settings().lease_duration,
        "taken over before the lease expired ({:?})",
        crashed.elapsed()
    );
    assert_eq!(holder(&server).await.as_deref(), Some("agent-b"));
    let api = kube::Api::<Lease>::namespaced(server.client(), "clu-ops");
    let lease = api.get("clu-ops-agent-scans").await.unwrap();
    assert_eq!(lease.spec.unwrap().lease_transitions, Some(1));
    b.stop.cancel();
}

#[tokio::test]
async fn a_write_with_a_stale_resource_version_is_refused_so_only_one_wins() {
    let server = FakeApiServer::start(Vec::new()).await;
    let a = replica(&server, "agent-a");
    until(Duration::from_secs(5), || a.leads()).await;

    // Another writer replaces the Lease with what it read before the leader's last renewal.
    let api = kube::Api::<Lease>::namespaced(server.client(), "clu-ops");
    let mut stale = api.get("clu-ops-agent-scans").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stale.spec.as_mut().unwrap().holder_identity = Some("intruder".into());
    let error = api
        .replace("clu-ops-agent-scans", &kube::api::PostParams::default(), &stale)
        .await
        .unwrap_err();
    assert!(matches!(error, kube::Error::Api(ref status) if status.code == 409), "{error}");
    assert_eq!(holder(&server).await.as_deref(), Some("agent-a"));
    assert!(a.leads());
    a.stop.cancel();
}
