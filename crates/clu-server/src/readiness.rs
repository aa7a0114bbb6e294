//! Readiness as a set of named gates the start-up task passes one by one; `/readyz` answers
//! 200 only when every gate has passed.

use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock};

use serde::Serialize;

/// The state of one gate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "message", rename_all = "lowercase")]
pub(crate) enum Gate {
    /// Not done yet.
    Pending,
    /// Done.
    Passed,
    /// Done and failed, with why.
    Failed(String),
}

/// The gates of the service, all pending at first.
pub(crate) struct Readiness {
    gates: RwLock<BTreeMap<&'static str, Gate>>,
    draining: RwLock<bool>,
}

impl Readiness {
    /// Gates named `names`, all pending.
    pub(crate) fn new(names: &[&'static str]) -> Self {
        Self {
            gates: RwLock::new(names.iter().map(|name| (*name, Gate::Pending)).collect()),
            draining: RwLock::new(false),
        }
    }

    /// Sets the state of the gate `name`.
    pub(crate) fn set(&self, name: &'static str, gate: Gate) {
        self.gates.write().unwrap_or_else(PoisonError::into_inner).insert(name, gate);
    }

    /// Marks the service as shutting down, which makes it unready whatever the gates say, so
    /// the Service stops sending it traffic while in-flight requests finish.
    pub(crate) fn drain(&self) {
        *self.draining.write().unwrap_or_else(PoisonError::into_inner) = true;
    }

    /// The first gate that has not passed, with its state, if any.
    pub(crate) fn blocking_gate(&self) -> Option<(&'static str, Gate)> {
        let gates = self.gates.read().unwrap_or_else(PoisonError::into_inner);
        gates
            .iter()
            .find(|(_, gate)| **gate != Gate::Passed)
            .map(|(name, gate)| (*name, gate.clone()))
    }

    /// Whether every gate passed and the service is not shutting down, with every gate.
    pub(crate) fn report(&self) -> (bool, bool, BTreeMap<&'static str, Gate>) {
        let gates = self.gates.read().unwrap_or_else(PoisonError::into_inner).clone();
        let draining = *self.draining.read().unwrap_or_else(PoisonError::into_inner);
        let ready = !draining && gates.values().all(|gate| *gate == Gate::Passed);
        (ready, draining, gates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_gate_passed_and_not_draining() {
        let readiness = Readiness::new(&["metering", "preflight"]);
        assert!(!readiness.report().0);
        readiness.set("metering", Gate::Passed);
        assert!(!readiness.report().0);
        readiness.set("preflight", Gate::Failed("no".into()));
        assert!(!readiness.report().0);
        readiness.set("preflight", Gate::Passed);
        assert!(readiness.report().0);
        readiness.drain();
        assert!(!readiness.report().0);
    }
}
