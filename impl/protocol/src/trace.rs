//! Traces: sequences of protocol steps with what each one did. The model writes a
//! counterexample as a [`Counterexample`]; the conformance trace format (requests, responses,
//! clock steps) grows here too, so that the model writes and the conformance crate reads one
//! set of types.

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

/// The version of the counterexample format below.
pub const COUNTEREXAMPLE_VERSION: u32 = 1;

/// A path of the model that breaks a property (or reaches a goal).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct Counterexample {
    pub version: u32,
    /// The property, by its sentence.
    pub property: String,
    /// The configuration, as `kgroup check` describes it.
    pub config: String,
    /// The seeded bug switched on, if any.
    pub bug: Option<String>,
    pub steps: Vec<CounterexampleStep>,
}

/// One step and the system after it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct CounterexampleStep {
    /// 1-based.
    pub step: u32,
    /// `coordinator`, `consumer N`, or `fault`.
    pub actor: String,
    /// What happened, with the message it carried.
    pub action: String,
    /// The group state after the step (`Stable`, `PreparingRebalance`, …).
    pub group_state: String,
    pub generation: u32,
    /// The coordinator's members with their assigned partitions.
    pub assignment: Vec<MemberPartitions>,
    /// Per consumer, the partitions it is processing.
    pub processing: Vec<Vec<u32>>,
    /// Committed offset per partition.
    pub committed: Vec<u32>,
}

/// A member id with a set of partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
pub struct MemberPartitions {
    pub member: String,
    pub partitions: Vec<u32>,
}
