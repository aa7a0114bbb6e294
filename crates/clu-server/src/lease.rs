//! Leader election over a `coordination.k8s.io/v1` Lease, so that with several replicas only
//! one runs the scheduled scans.
//!
//! The rules are client-go's: a replica takes the Lease when it is absent, released, or not
//! renewed for its duration as this replica observed it (its own clock, never the holder's, so
//! clock skew between nodes cannot shorten a claim); the holder renews every retry period and
//! stops leading when renewals have failed for the renew deadline, which is shorter than the
//! duration, so it stops before anyone else may start. Every write carries the
//! `resourceVersion` it read, so of two replicas writing at once the API server accepts one and
//! answers the other 409 Conflict: two replicas cannot both win.

use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::settings::LeaseSettings;

/// The holder identity of this replica: the pod's name (`POD_NAME`, set by the chart from the
/// downward API), else the host name, which Kubernetes sets to the pod's name too.
pub fn holder_identity() -> String {
    let from_env = |key: &str| std::env::var(key).ok().filter(|value| !value.trim().is_empty());
    from_env("POD_NAME")
        .or_else(|| from_env("HOSTNAME"))
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty())
        })
        .unwrap_or_else(|| format!("clu-agent-{}", std::process::id()))
}

/// What this replica last saw of the Lease, and when it saw it change.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Observed {
    holder: Option<String>,
    renew_time: Option<Timestamp>,
    seen_at: Instant,
}

/// Takes part in the election of one Lease, telling through a watch channel whether this
/// replica leads.
pub struct LeaderElector {
    api: Api<Lease>,
    settings: LeaseSettings,
    identity: String,
    leading: watch::Sender<bool>,
    observed: Option<Observed>,
}

impl LeaderElector {
    /// An elector for the Lease of `settings` through `client`, as `identity`.
    pub fn new(
        client: kube::Client,
        settings: &LeaseSettings,
        identity: impl Into<String>,
    ) -> Self {
        Self {
            api: Api::namespaced(client, &settings.namespace),
            settings: settings.clone(),
            identity: identity.into(),
            leading: watch::Sender::new(false),
            observed: None,
        }
    }

    /// Whether this replica leads, now and as it changes.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.leading.subscribe()
    }

    /// Acquires and renews the Lease until `stop` is cancelled, then releases it if held, so
    /// another replica takes over at once instead of after the lease duration.
    pub async fn run(mut self, stop: CancellationToken) {
        let mut last_renewal: Option<Instant> = None;
        loop {
            let attempt =
                tokio::time::timeout(self.settings.renew_deadline, self.try_acquire_or_renew())
                    .await
                    .unwrap_or_else(|_| Err("the API server did not answer in time".to_owned()));
            match attempt {
                Ok(true) => {
                    last_renewal = Some(Instant::now());
                    self.set_leading(true);
                }
                Ok(false) => self.set_leading(false),
                Err(problem) => {
                    let within_deadline =
                        last_renewal.is_some_and(|at| at.elapsed() < self.settings.renew_deadline);
                    tracing::warn!(lease = %self.settings.name, %problem, "lease update failed");
                    if !within_deadline {
                        self.set_leading(false);
                    }
                }
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(self.settings.retry_period) => {}
            }
        }
        if *self.leading.borrow() {
            if let Err(problem) = self.release().await {
                tracing::warn!(lease = %self.settings.name, %problem, "failed to release the lease");
            }
            self.set_leading(false);
        }
    }

    fn set_leading(&self, leading: bool) {
        let changed = self.leading.send_if_modified(|current| {
            let changed = *current != leading;
            *current = leading;
            changed
        });
        if changed {
            tracing::info!(
                lease = %self.settings.name,
                identity = %self.identity,
                leading,
                "{}",
                if leading { "leading the scans" } else { "no longer leading the scans" }
            );
        }
    }

    /// The lease duration as the Lease carries it, in whole seconds, rounded up so that what
    /// other replicas wait for is never shorter than what this one was configured with.
    fn duration_seconds(&self) -> i32 {
        let duration = self.settings.lease_duration;
        let seconds = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
        i32::try_from(seconds.max(1)).unwrap_or(i32::MAX)
    }

    /// One round: `Ok(true)` when this replica holds the Lease afterwards.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, String> {
        let now = Timestamp::now();
        let current = self.api.get_opt(&self.settings.name).await.map_err(|e| e.to_string())?;
        let Some(mut lease) = current else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.settings.name.clone()),
                    namespace: Some(self.settings.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    acquire_time: Some(MicroTime(now)),
                    renew_time: Some(MicroTime(now)),
                    lease_duration_seconds: Some(self.duration_seconds()),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return written(self.api.create(&PostParams::default(), &lease).await);
        };

        let mut spec = lease.spec.take().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|holder| !holder.is_empty());
        let renew_time = spec.renew_time.as_ref().map(|time| time.0);
        let unchanged = self
            .observed
            .as_ref()
            .is_some_and(|seen| seen.holder == holder && seen.renew_time == renew_time);
        if !unchanged {
            self.observed =
                Some(Observed { holder: holder.clone(), renew_time, seen_at: Instant::now() });
        }

        if holder.as_deref() == Some(self.identity.as_str()) {
            spec.renew_time = Some(MicroTime(now));
            spec.lease_duration_seconds = Some(self.duration_seconds());
        } else {
            let claim = spec
                .lease_duration_seconds
                .and_then(|seconds| u64::try_from(seconds).ok())
                .map_or(self.settings.lease_duration, Duration::from_secs);
            let expired =
                self.observed.as_ref().is_some_and(|seen| seen.seen_at.elapsed() >= claim);
            if holder.is_some() && !expired {
                return Ok(false);
            }
            spec.holder_identity = Some(self.identity.clone());
            spec.acquire_time = Some(MicroTime(now));
            spec.renew_time = Some(MicroTime(now));
            spec.lease_duration_seconds = Some(self.duration_seconds());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
        }
        lease.spec = Some(spec);
        // The read resourceVersion stays in the metadata, which makes the replace conditional.
        written(self.api.replace(&self.settings.name, &PostParams::default(), &lease).await)
    }

    /// Gives the Lease up: no holder, so the next replica to look takes it.
    async fn release(&self) -> Result<(), String> {
        let Some(mut lease) =
            self.api.get_opt(&self.settings.name).await.map_err(|e| e.to_string())?
        else {
            return Ok(());
        };
        let mut spec = lease.spec.take().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        lease.spec = Some(spec);
        self.api
            .replace(&self.settings.name, &PostParams::default(), &lease)
            .await
            .map(|_| tracing::info!(lease = %self.settings.name, "released the lease"))
            .map_err(|e| e.to_string())
    }
}

/// A write's answer: `Ok(true)` when it was accepted, `Ok(false)` when another replica won
/// (409 Conflict on a stale resourceVersion, or on creating a Lease that now exists).
fn written(result: Result<Lease, kube::Error>) -> Result<bool, String> {
    match result {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(error) => Err(error.to_string()),
    }
}
