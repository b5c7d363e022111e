//! The seeded simulator (`kgroup sim`), in the manner of TigerBeetle's VOPR: kgroup-core's group
//! coordinator and N consumer state machines (`kgroup_core::consumer::Consumer`, Kafka's classic
//! `ConsumerCoordinator`) over a simulated network and clock with faults, all driven by one seed,
//! with BRIEF §3's invariants checked after every step. docs/simulator.md is its guide.
//!
//! A run is a function of its seed and [`SimOptions`]: the seed first draws a [`Scenario`]
//! (swarm testing: the number of consumers, topics, eager or cooperative, static or dynamic
//! members, timeouts, API versions, which fault kinds are on and how often), then every delay,
//! loss and fault, and what each application does. The same seed gives the same run, byte for
//! byte. For `steps` steps faults strike; then a quiet tail without faults runs until the group
//! has settled (or a bound of simulated time has passed, which is a liveness violation).
//!
//! What the consumers' applications do: each partition is an endless stream of records; a
//! consumer that owns a partition fetches its committed offset (OffsetFetch), processes records
//! from there, and now and then commits what it processed with `commitSync` (which blocks its
//! poll loop until it completes, as Kafka's does).

mod record;
mod rng;
mod scenario;
mod world;

pub mod cli;

pub use scenario::{FaultKind, Faults, Membership, Overrides, Scenario, GROUP};

use kgroup_core::coordinator;
use kgroup_protocol::trace::Trace;
use std::collections::BTreeMap;
use std::fmt;

/// Fault-phase steps when `--steps` is not given.
pub const DEFAULT_STEPS: u64 = 2_000;

/// How many of the last events a violation report shows by default.
pub const DEFAULT_EVENTS: usize = 40;

/// Deliberately wrong behaviour that each invariant checker must catch: the simulator's own
/// tests switch one on to show that the checker has teeth. None of them changes kgroup-core;
/// they act in the simulated network or application, where the real bugs they stand for live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sabotage {
    /// The leader's SyncGroup gives one partition to two members (the network copies it), as a
    /// broken assignor would. Caught by "no partition is owned by two members of one generation".
    DoubleOwnership,
    /// Under COOPERATIVE, the leader's SyncGroup hands a partition that another member still
    /// reported as owned straight to a new owner, skipping the revoke round (KAFKA-14639).
    /// Caught by "a partition is given to a new owner only after its previous owner revoked it".
    HandoverWithoutRevoke,
    /// The application keeps processing partitions after they were revoked or lost. Caught by
    /// "no partition is processed by two live consumers at once".
    ProcessAfterLoss,
    /// The application commits one record past what it processed (as auto-commit of fetched
    /// positions does). Caught by "a committed offset never passes an unprocessed record".
    CommitBeyondProcessed,
    /// The application commits offset 0 for a partition whose committed offset it fetched above
    /// 0. Caught by "a committed offset never moves backwards".
    RewindCommit,
    /// The network swallows the leader's SyncGroup, so the coordinator never completes a
    /// rebalance. Caught by "once faults stop, the group becomes Stable …".
    StuckRebalance,
}

impl Sabotage {
    pub const ALL: [Sabotage; 6] = [
        Sabotage::DoubleOwnership,
        Sabotage::HandoverWithoutRevoke,
        Sabotage::ProcessAfterLoss,
        Sabotage::CommitBeyondProcessed,
        Sabotage::RewindCommit,
        Sabotage::StuckRebalance,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Sabotage::DoubleOwnership => "double-ownership",
            Sabotage::HandoverWithoutRevoke => "handover-without-revoke",
            Sabotage::ProcessAfterLoss => "process-after-loss",
            Sabotage::CommitBeyondProcessed => "commit-beyond-processed",
            Sabotage::RewindCommit => "rewind-commit",
            Sabotage::StuckRebalance => "stuck-rebalance",
        }
    }

    pub fn from_name(name: &str) -> Option<Sabotage> {
        Sabotage::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The invariant this sabotage breaks.
    pub const fn breaks(self) -> Invariant {
        match self {
            Sabotage::DoubleOwnership => Invariant::NoDoubleOwnership,
            Sabotage::HandoverWithoutRevoke => Invariant::RevokeBeforeHandover,
            Sabotage::ProcessAfterLoss => Invariant::NoDoubleProcessing,
            Sabotage::CommitBeyondProcessed => Invariant::NoLoss,
            Sabotage::RewindCommit => Invariant::NoOffsetRegression,
            Sabotage::StuckRebalance => Invariant::RebalancesFinish,
        }
    }
}

/// What a run does besides what its seed draws.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Steps with faults before the quiet tail.
    pub steps: u64,
    /// Pinned scenario choices.
    pub overrides: Overrides,
    /// The timing assumption of "no partition is processed by two live consumers at once": a
    /// consumer processes only while the coordinator holds its member id. Off, a consumer goes
    /// on processing until it learns it was removed, as Kafka's does, and the checker shows what
    /// breaks (docs/simulator.md).
    pub timing_assumption: bool,
    pub sabotage: Option<Sabotage>,
    /// Applied to the coordinator's configuration after the scenario set it up: the switch
    /// through which a run can use another kgroup-core configuration (a seeded broken variant,
    /// say). A saved trace records only the settings a trace carries.
    pub tweak_coordinator: Option<fn(&mut coordinator::Config)>,
    /// Record the coordinator's inputs and answers as a conformance trace.
    pub record_trace: bool,
    /// Keep the last this-many events for a violation report (0: none, the fastest).
    pub keep_events: usize,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            steps: DEFAULT_STEPS,
            overrides: Overrides::default(),
            timing_assumption: true,
            sabotage: None,
            tweak_coordinator: None,
            record_trace: false,
            keep_events: DEFAULT_EVENTS,
        }
    }
}

/// The invariants the simulator checks, named by the model's sentences where the model has the
/// property (docs/invariants/).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    /// Per generation, the SyncGroup answers give each partition to at most one member (a static
    /// member counts as its `group.instance.id`).
    NoDoubleOwnership,
    /// A SyncGroup answer never gives a member a partition that another member reported as owned
    /// when it joined that generation (KIP-429); and a consumer is never assigned a partition
    /// that another consumer in the group still owns by its callbacks.
    RevokeBeforeHandover,
    /// The partitions running consumers process are pairwise disjoint (under the timing
    /// assumption).
    NoDoubleProcessing,
    /// The committed offset of a partition, read from the coordinator's store, never decreases.
    NoOffsetRegression,
    /// Every record below a committed offset has been processed.
    NoLoss,
    /// After the faults stop, the group settles within a bound of simulated time and stays so.
    RebalancesFinish,
    /// At a failover, the store rebuilt from the decoded log equals the live one.
    ReplayEqualsLive,
    /// No consumer fails (a fatal error), its callbacks agree with its assignment, and its
    /// timers make progress.
    ConsumersHealthy,
}

impl Invariant {
    pub const ALL: [Invariant; 8] = [
        Invariant::NoDoubleOwnership,
        Invariant::RevokeBeforeHandover,
        Invariant::NoDoubleProcessing,
        Invariant::NoOffsetRegression,
        Invariant::NoLoss,
        Invariant::RebalancesFinish,
        Invariant::ReplayEqualsLive,
        Invariant::ConsumersHealthy,
    ];

    pub fn sentence(self) -> &'static str {
        use kgroup_model::properties as p;
        match self {
            Invariant::NoDoubleOwnership => p::NO_DOUBLE_OWNERSHIP,
            Invariant::RevokeBeforeHandover => p::REVOKE_BEFORE_HANDOVER,
            Invariant::NoDoubleProcessing => p::NO_DOUBLE_PROCESSING,
            Invariant::NoOffsetRegression => "a committed offset never moves backwards",
            Invariant::NoLoss => p::NO_LOSS,
            Invariant::RebalancesFinish => p::REBALANCES_FINISH,
            Invariant::ReplayEqualsLive => p::REPLAY_EQUALS_LIVE,
            Invariant::ConsumersHealthy => {
                "no consumer fails, and its callbacks agree with its assignment"
            }
        }
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.sentence())
    }
}

/// An invariant that failed, where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub invariant: Invariant,
    pub step: u64,
    pub time_ms: u64,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step {} (t={} ms): {}: {}",
            self.step, self.time_ms, self.invariant, self.message
        )
    }
}

/// Counts of what happened in a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Steps with faults, and in the quiet tail.
    pub fault_steps: u64,
    pub tail_steps: u64,
    /// Simulated time at the end, and when the faults stopped.
    pub sim_ms: u64,
    pub faults_end_ms: u64,
    /// Faults injected, by kind.
    pub faults: BTreeMap<FaultKind, u64>,
    /// Rebalances: the group entered CompletingRebalance.
    pub rebalances: u64,
    pub max_generation: i32,
    /// `commitSync` calls, and those that succeeded.
    pub commits: u64,
    pub commits_ok: u64,
    pub records_processed: u64,
    pub requests: u64,
    /// Static processes fenced after a coordinator failover and started again.
    pub fenced_restarts: u64,
    /// SyncGroup answers the ownership checks looked at.
    pub sync_answers: u64,
    /// Evaluations of the state invariants (after every step).
    pub checks: u64,
    /// When the group settled after the faults stopped, and the bound it had.
    pub settled_after_ms: Option<u64>,
    pub liveness_bound_ms: u64,
}

impl Stats {
    pub fn steps(&self) -> u64 {
        self.fault_steps + self.tail_steps
    }
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct Report {
    pub seed: u64,
    pub scenario: Scenario,
    pub stats: Stats,
    pub violation: Option<Violation>,
    /// The last events before the end (as many as `keep_events`).
    pub events: Vec<String>,
    pub trace: Option<Trace>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.violation.is_none()
    }
}

/// Runs one seed.
pub fn run(seed: u64, opts: &SimOptions) -> Report {
    world::World::new(seed, opts).run()
}
