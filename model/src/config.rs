//! What a check explores: group size, protocol, features and fault budgets.

use crate::bugs::Bug;
use crate::state::{Budget, MAX_CONSUMERS, MAX_PARTITIONS};
use std::fmt;

/// The rebalance protocol every consumer of the group runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Revoke every partition before rejoining.
    Eager,
    /// KIP-429: keep partitions across the rebalance, revoke only what moves, rejoin to receive it.
    Cooperative,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Eager => "eager",
            Protocol::Cooperative => "cooperative",
        }
    }
}

/// Who computes the leader's assignment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Assignor {
    /// The model's own small sticky rule (`assignment.rs`).
    Model,
    /// One of kgroup-assign's production assignors, checked inside the protocol.
    Kafka(kgroup_assign::Strategy),
}

impl Assignor {
    pub fn name(self) -> &'static str {
        match self {
            Assignor::Model => "model",
            Assignor::Kafka(s) => s.name(),
        }
    }

    pub fn from_name(name: &str) -> Option<Assignor> {
        match name {
            "model" => Some(Assignor::Model),
            other => kgroup_assign::Strategy::from_name(other).map(Assignor::Kafka),
        }
    }
}

/// One configuration of the model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    /// Consumers in the group (each one slot, one connection).
    pub consumers: u8,
    /// Partitions of the one subscribed topic.
    pub partitions: u8,
    /// Records in each partition.
    pub records: u8,
    pub protocol: Protocol,
    /// Every consumer has a `group.instance.id` (KIP-345).
    pub static_members: bool,
    /// Exactly-once consume-transform-produce: each record's output and the input offsets are
    /// committed in one transaction (KIP-98, KIP-447), read back read_committed.
    pub eos: bool,
    /// Who computes the leader's assignment.
    pub assignor: Assignor,
    /// Consumers commit with `commitAsync`: an OffsetCommit is sent without waiting for the
    /// answer, so a connection can hold several requests (implied by a `reorders` budget).
    pub async_commits: bool,
    /// Fault budgets.
    pub faults: Budget,
    /// The seeded bug switched on, if any.
    pub bug: Option<Bug>,
}

/// A configuration the model cannot represent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Two consumers, two partitions of one record, EAGER, no faults.
    pub fn small() -> Config {
        Config {
            consumers: 2,
            partitions: 2,
            records: 1,
            protocol: Protocol::Eager,
            static_members: false,
            eos: false,
            assignor: Assignor::Model,
            async_commits: false,
            faults: Budget::default(),
            bug: None,
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.consumers == 0 || self.consumers as usize > MAX_CONSUMERS {
            return Err(ConfigError(format!(
                "consumers must be 1..={MAX_CONSUMERS}, got {}",
                self.consumers
            )));
        }
        if self.partitions == 0 || self.partitions as usize > MAX_PARTITIONS {
            return Err(ConfigError(format!(
                "partitions must be 1..={MAX_PARTITIONS}, got {}",
                self.partitions
            )));
        }
        if self.records > 7 {
            return Err(ConfigError(format!(
                "records must be 0..=7, got {}",
                self.records
            )));
        }
        if let Assignor::Kafka(s) = self.assignor {
            // A consumer runs COOPERATIVE only with an assignor that supports it (KIP-429):
            // cooperative-sticky; range, roundrobin and sticky are EAGER.
            let cooperative = s == kgroup_assign::Strategy::CooperativeSticky;
            if cooperative != (self.protocol == Protocol::Cooperative) {
                return Err(ConfigError(format!(
                    "assignor {} runs with the {} protocol, not {}",
                    s.name(),
                    if cooperative { "cooperative" } else { "eager" },
                    self.protocol.name()
                )));
            }
        }
        let f = &self.faults;
        if self.async_commits && self.eos {
            return Err(ConfigError(
                "async commits and exactly-once exclude each other: exactly-once commits offsets \
                 inside the transaction (TxnOffsetCommit), never with commitAsync"
                    .into(),
            ));
        }
        if f.reorders > 0 && !self.async_commits {
            return Err(ConfigError(
                "reorders need async commits: a consumer that waits for each answer never has \
                 two requests on its connection to reorder"
                    .into(),
            ));
        }
        if f.duplicates > 0 && !self.static_members {
            return Err(ConfigError(
                "duplicates need static members: a second process of a dynamic member is just \
                 another member"
                    .into(),
            ));
        }
        if self.consumers as usize + f.duplicates as usize > MAX_CONSUMERS {
            return Err(ConfigError(format!(
                "consumers plus duplicates must be at most {MAX_CONSUMERS}, got {}",
                self.consumers as usize + f.duplicates as usize
            )));
        }
        let total: u16 = [
            f.crashes,
            f.losses,
            f.expiries,
            f.failovers,
            f.leaves,
            f.reorders,
            f.duplicates,
        ]
        .iter()
        .map(|&b| u16::from(b))
        .sum();
        if total > 12 {
            return Err(ConfigError(format!(
                "fault budgets may add up to at most 12, got {total} (each fault multiplies the state space)"
            )));
        }
        Ok(())
    }

    /// Every partition of the topic.
    pub fn all_partitions(&self) -> u8 {
        ((1u16 << self.partitions) - 1) as u8
    }

    pub fn has_bug(&self, bug: Bug) -> bool {
        self.bug == Some(bug)
    }

    /// A one-line description, as the checker's summary prints it.
    pub fn describe(&self) -> String {
        let f = &self.faults;
        let mut s = format!(
            "{} consumers, {} partitions x {} records, {}{}{}{}, faults: crash {} loss {} expiry {} failover {} leave {}",
            self.consumers,
            self.partitions,
            self.records,
            self.protocol.name(),
            if self.static_members { ", static" } else { "" },
            if self.eos { ", exactly-once" } else { "" },
            if self.async_commits { ", async commits" } else { "" },
            f.crashes,
            f.losses,
            f.expiries,
            f.failovers,
            f.leaves,
        );
        if f.reorders > 0 {
            s.push_str(&format!(" reorder {}", f.reorders));
        }
        if f.duplicates > 0 {
            s.push_str(&format!(" duplicate {}", f.duplicates));
        }
        if self.assignor != Assignor::Model {
            s.push_str(&format!(", assignor {}", self.assignor.name()));
        }
        if let Some(b) = self.bug {
            s.push_str(&format!(", bug {}", b.name()));
        }
        s
    }
}

/// The CI tier: the configurations `kgroup check` runs without options. Together they cover
/// three consumers, EAGER and COOPERATIVE, static members, exactly-once, kgroup-assign's
/// cooperative-sticky assignor inside the protocol, a zombie (session
/// expiry of a live consumer), consumer crashes, a lost connection, a graceful leave, a
/// duplicate static instance (fenced by instance id and producer epoch) and a coordinator
/// failover; together they finish in under six minutes on 2 cores (figures in
/// docs/model.md).
pub fn ci_tier() -> Vec<(&'static str, Config)> {
    let base = Config {
        partitions: 2,
        records: 1,
        ..Config::small()
    };
    let with = |f: fn(&mut Config)| {
        let mut c = base.clone();
        f(&mut c);
        c
    };
    vec![
        (
            "eager-3-crash-failover",
            with(|c| {
                c.consumers = 3;
                c.faults.crashes = 1;
                c.faults.failovers = 1;
            }),
        ),
        (
            "cooperative-3-zombie",
            with(|c| {
                c.consumers = 3;
                c.protocol = Protocol::Cooperative;
                c.faults.expiries = 1;
            }),
        ),
        (
            "eos-3-zombie",
            with(|c| {
                c.consumers = 3;
                c.eos = true;
                c.faults.expiries = 1;
            }),
        ),
        (
            "eos-2-crash-failover-2-records",
            with(|c| {
                c.eos = true;
                c.records = 2;
                c.faults.crashes = 1;
                c.faults.failovers = 1;
            }),
        ),
        (
            "static-eos-2-crash-zombie",
            with(|c| {
                c.static_members = true;
                c.eos = true;
                c.faults.crashes = 1;
                c.faults.expiries = 1;
            }),
        ),
        (
            "cooperative-eos-2-loss-failover",
            with(|c| {
                c.protocol = Protocol::Cooperative;
                c.eos = true;
                c.faults.losses = 1;
                c.faults.failovers = 1;
            }),
        ),
        (
            "cooperative-sticky-3-static-zombie",
            with(|c| {
                c.consumers = 3;
                c.protocol = Protocol::Cooperative;
                c.assignor = Assignor::Kafka(kgroup_assign::Strategy::CooperativeSticky);
                c.static_members = true;
                c.faults.expiries = 1;
            }),
        ),
        (
            "static-eos-2-duplicate-failover",
            with(|c| {
                c.static_members = true;
                c.eos = true;
                c.faults.duplicates = 1;
                c.faults.failovers = 1;
            }),
        ),
        (
            "eager-2-leave-zombie-2-records",
            with(|c| {
                c.records = 2;
                c.faults.leaves = 1;
                c.faults.expiries = 1;
            }),
        ),
    ]
}
