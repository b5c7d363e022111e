//! Kafka's client-side partition assignors as pure functions.
//!
//! A consumer group's leader runs one of these in the classic protocol (KIP-429 for the
//! cooperative variant, KIP-881 for rack awareness) and sends the result to the coordinator in
//! SyncGroup. Each assignor takes a [`GroupSpec`] and returns an [`Assignment`]:
//!
//! - [`Strategy::Range`] and [`Strategy::RoundRobin`] produce exactly Kafka's assignment.
//! - [`Strategy::Sticky`] and [`Strategy::CooperativeSticky`] keep Kafka's guarantees (balance,
//!   stickiness, conflicting claims resolved by generation, and for cooperative the withholding
//!   of every partition that changes owner) with an algorithm of their own that is linear in the
//!   size of the group when subscriptions are equal.
//!
//! With the `codec` feature, [`codec`] encodes and decodes the embedded consumer protocol
//! (ConsumerProtocolSubscription / ConsumerProtocolAssignment v0–v3 and the sticky user data)
//! byte for byte as Kafka does.
//!
//! Architecture Invariant: nothing here does IO, reads a clock or draws randomness; the same
//! input gives the same output, whatever the order of members in it.

#[cfg(feature = "codec")]
pub mod codec;
pub mod metrics;
mod ownership;
mod range;
mod roundrobin;
mod spec;
mod sticky;
mod subs;

pub use spec::{
    GroupSpec, GroupSpecBuilder, MemberInput, MemberRef, MemberSpec, MemberView, TopicSpec, Tp,
};

use kgroup_protocol::{java_string_cmp, MemberId, TopicPartition};
use std::cmp::Ordering;
use std::fmt;

/// A partition assignment strategy, named as Kafka names its assignors in JoinGroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Strategy {
    /// `range`: each topic's partitions split into contiguous ranges (`RangeAssignor`).
    Range,
    /// `roundrobin`: every partition dealt to members in turn (`RoundRobinAssignor`).
    RoundRobin,
    /// `sticky`: balanced, keeping previous ownership where balance allows (`StickyAssignor`).
    Sticky,
    /// `cooperative-sticky`: sticky, handing over moved partitions in a second rebalance
    /// (`CooperativeStickyAssignor`, KIP-429).
    CooperativeSticky,
}

impl Strategy {
    /// Every strategy, in the order Kafka documents them.
    pub const ALL: [Strategy; 4] = [
        Strategy::Range,
        Strategy::RoundRobin,
        Strategy::Sticky,
        Strategy::CooperativeSticky,
    ];

    /// The protocol name the assignor registers in JoinGroup.
    pub const fn name(self) -> &'static str {
        match self {
            Strategy::Range => "range",
            Strategy::RoundRobin => "roundrobin",
            Strategy::Sticky => "sticky",
            Strategy::CooperativeSticky => "cooperative-sticky",
        }
    }

    /// The strategy with this protocol name.
    pub fn from_name(name: &str) -> Option<Strategy> {
        Strategy::ALL.into_iter().find(|s| s.name() == name)
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Malformed assignor input. Odd but legal input (stale or conflicting claims, unknown topics) is
/// not an error: the assignors treat it as Kafka does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssignError {
    /// Two members share an id.
    #[error("duplicate member id `{0}`")]
    DuplicateMember(String),
    /// A topic is listed twice.
    #[error("topic `{0}` is listed twice")]
    DuplicateTopic(String),
    /// A partition count below zero (or beyond 2^32).
    #[error("topic `{topic}` has an invalid partition count {count}")]
    InvalidPartitionCount {
        /// The topic.
        topic: String,
        /// The count given.
        count: i64,
    },
    /// An owned partition with a negative number.
    #[error(
        "member {member} owns partition number {partition} (entry {index}), which cannot exist"
    )]
    InvalidOwnedPartition {
        /// The member's position in the input.
        member: usize,
        /// The entry's position in the member's owned list.
        index: usize,
        /// The partition number given.
        partition: i32,
    },
    /// A topic's partition racks do not list one entry per partition.
    #[error("topic `{topic}` has {expected} partitions but its partition racks list {actual}")]
    PartitionRacksLength {
        /// The topic.
        topic: String,
        /// Its partition count.
        expected: usize,
        /// The number of rack lists given.
        actual: usize,
    },
}

/// An assignor's output: for every member of the spec, in the spec's member order, its
/// partitions sorted by (topic, partition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// Partitions per member, aligned with [`GroupSpec::members`].
    pub members: Vec<Vec<Tp>>,
}

impl Assignment {
    /// The assignment with names: (member id, partitions) in the spec's member order.
    pub fn named(&self, spec: &GroupSpec) -> Vec<(MemberId, Vec<TopicPartition>)> {
        spec.members
            .iter()
            .zip(&self.members)
            .map(|(m, parts)| {
                (
                    m.id.clone(),
                    parts.iter().map(|&tp| spec.topic_partition(tp)).collect(),
                )
            })
            .collect()
    }

    /// How many partitions are assigned in all.
    pub fn total(&self) -> usize {
        self.members.iter().map(Vec::len).sum()
    }
}

/// Runs `strategy` over `spec`.
pub fn assign(strategy: Strategy, spec: &GroupSpec) -> Assignment {
    // Each assignor returns every member's partitions sorted: round-robin and classic range
    // produce them in order, the rack-aware range and the sticky assignors sort at the end.
    let members = match strategy {
        Strategy::Range => range::assign(spec),
        Strategy::RoundRobin => roundrobin::assign(spec),
        Strategy::Sticky => sticky::assign(spec, sticky::Flavor::Eager),
        Strategy::CooperativeSticky => sticky::assign(spec, sticky::Flavor::Cooperative),
    };
    debug_assert!(
        members.iter().all(|parts| parts.is_sorted()),
        "{strategy} returned unsorted partitions"
    );
    Assignment { members }
}

/// Kafka's member order for the range and round-robin assignors (`MemberInfo.compareTo`):
/// static members first, by group instance id, then dynamic members by member id. Ties (two
/// members claiming one instance id) fall back to the member id so the order is total.
pub(crate) fn kafka_member_order(spec: &GroupSpec) -> Vec<u32> {
    let mut order: Vec<u32> = (0..spec.members.len() as u32).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&spec.members[a as usize], &spec.members[b as usize]);
        let by_instance = match (&a.instance_id, &b.instance_id) {
            (Some(x), Some(y)) => java_string_cmp(x.as_str(), y.as_str()),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        by_instance.then_with(|| java_string_cmp(a.id.as_str(), b.id.as_str()))
    });
    order
}

/// Member indices sorted by member id (Java string order): the order the sticky assignors visit
/// members in, so that the output does not depend on the input's order.
pub(crate) fn member_id_order(spec: &GroupSpec) -> Vec<u32> {
    let mut order: Vec<u32> = (0..spec.members.len() as u32).collect();
    order.sort_by(|&a, &b| {
        java_string_cmp(
            spec.members[a as usize].id.as_str(),
            spec.members[b as usize].id.as_str(),
        )
    });
    order
}
