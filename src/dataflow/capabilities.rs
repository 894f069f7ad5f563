//! [`HeldCapabilities`]: the capabilities of an operator that applies its input time by time.
//!
//! Several of our operators keep state in hash maps instead of arrangements (time is a
//! totally ordered `u64` and the state is read by the operator alone). They share one
//! skeleton: set received updates aside with the capabilities they came with, apply a
//! time's updates once the input frontier has passed it, emit the changes at that time,
//! and hold capabilities only while updates are pending, so an idle operator holds none
//! and adds nothing to a round's progress tracking. This is that skeleton's capability
//! side, for any number of outputs.

use timely::dataflow::operators::{Capability, CapabilitySet, InputCapability};
use timely::progress::frontier::AntichainRef;

/// One capability set per output, covering every pending time.
pub struct HeldCapabilities {
    held: Vec<CapabilitySet<u64>>,
}

impl HeldCapabilities {
    /// No capabilities, for an operator with `outputs` outputs.
    pub fn new(outputs: usize) -> HeldCapabilities {
        HeldCapabilities {
            held: (0..outputs).map(|_| CapabilitySet::new()).collect(),
        }
    }

    /// Keeps the capability that a received batch came with, for every output.
    pub fn retain(&mut self, capability: &InputCapability<u64>) {
        for (port, held) in self.held.iter_mut().enumerate() {
            for retained in capability.retain_stamp(port).iter() {
                held.insert(retained.clone());
            }
        }
    }

    /// A capability for output `port` at `time`, which must not precede the earliest
    /// time held ([`HeldCapabilities::hold_from`]).
    pub fn at(&self, port: usize, time: &u64) -> Capability<u64> {
        self.held[port].delayed(time)
    }

    /// Holds capabilities from `earliest` on (the earliest time still pending), or
    /// none at all.
    pub fn hold_from(&mut self, earliest: Option<u64>) {
        for held in self.held.iter_mut() {
            match earliest {
                Some(earliest) => held.downgrade([earliest]),
                None => *held = CapabilitySet::new(),
            }
        }
    }
}

/// Whether every input frontier has passed `time`: its updates are complete.
pub fn passed(frontiers: &[AntichainRef<u64>], time: &u64) -> bool {
    frontiers.iter().all(|frontier| !frontier.less_equal(time))
}

/// Takes the updates whose time is complete ([`passed`]) out of `pending`, in the
/// order they came (the caller sorts them as it applies them).
pub fn take_ready<D, R>(
    pending: &mut Vec<(D, u64, R)>,
    frontiers: &[AntichainRef<u64>],
) -> Vec<(D, u64, R)> {
    let passed = |time: &u64| passed(frontiers, time);
    if !pending.iter().any(|(_, time, _)| passed(time)) {
        return Vec::new();
    }
    let (ready, later): (Vec<_>, Vec<_>) = std::mem::take(pending)
        .into_iter()
        .partition(|(_, time, _)| passed(time));
    *pending = later;
    ready
}

/// The earliest time of the updates in `pending`.
pub fn earliest<D, R>(pending: &[(D, u64, R)]) -> Option<u64> {
    pending.iter().map(|(_, time, _)| *time).min()
}
