//! Group states and coordinator placement of the classic group protocol.
//!
//! The states are those of Kafka's classic `GroupMetadata` (Empty, PreparingRebalance,
//! CompletingRebalance, Stable, Dead), named as DescribeGroups reports them. Placement follows
//! Kafka's `GroupCoordinator.partitionFor`: the `__consumer_offsets` partition of a group is
//! `Utils.abs(groupId.hashCode()) % offsets.topic.num.partitions`.

use crate::ids::{java_string_hash, GroupId};
use std::fmt;

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

/// Kafka's default for `offsets.topic.num.partitions`.
pub const DEFAULT_OFFSETS_TOPIC_PARTITIONS: i32 = 50;

/// The state of a classic consumer group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum GroupState {
    /// No members; offsets may still be held until they expire.
    Empty,
    /// A rebalance has started; the coordinator waits for members to (re)join.
    PreparingRebalance,
    /// Every member has joined; the coordinator waits for the leader's SyncGroup.
    CompletingRebalance,
    /// The leader's assignment has been handed out; members heartbeat.
    Stable,
    /// The group has been removed (deleted, or its metadata expired or migrated).
    Dead,
}

impl GroupState {
    /// The name Kafka's DescribeGroups and ListGroups report for the state.
    pub const fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    /// The state with this DescribeGroups name.
    pub fn from_name(name: &str) -> Option<GroupState> {
        [
            GroupState::Empty,
            GroupState::PreparingRebalance,
            GroupState::CompletingRebalance,
            GroupState::Stable,
            GroupState::Dead,
        ]
        .into_iter()
        .find(|s| s.name() == name)
    }
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The partition of `__consumer_offsets` whose leader coordinates `group_id`.
///
/// Kafka's `Utils.abs` maps `Integer.MIN_VALUE` to 0 rather than overflowing.
///
/// # Panics
/// If `offsets_topic_partitions` is not positive: the broker refuses such a configuration.
pub fn coordinator_partition(group_id: &GroupId, offsets_topic_partitions: i32) -> i32 {
    assert!(
        offsets_topic_partitions > 0,
        "offsets.topic.num.partitions must be positive"
    );
    let hash = java_string_hash(group_id.as_str());
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % offsets_topic_partitions
}

/// The rebalance protocol a consumer speaks: EAGER revokes everything before rejoining;
/// COOPERATIVE (KIP-429) revokes only what moves and hands it over in a follow-up rebalance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(
    feature = "serde",
    derive(Serialize, Deserialize),
    serde(rename_all = "lowercase")
)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum RebalanceProtocol {
    /// Revoke every owned partition before rejoining.
    Eager,
    /// Keep owned partitions across the rebalance; revoke only those that move (KIP-429).
    Cooperative,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_matches_kafka() {
        // abs("my-group".hashCode()) = 1906497762; 1906497762 % 50 = 12.
        assert_eq!(coordinator_partition(&GroupId::from("my-group"), 50), 12);
        assert_eq!(coordinator_partition(&GroupId::from("hello"), 50), 22);
        // "polygenelubricants".hashCode() == Integer.MIN_VALUE, which Utils.abs maps to 0.
        assert_eq!(
            coordinator_partition(&GroupId::from("polygenelubricants"), 50),
            0
        );
        assert_eq!(coordinator_partition(&GroupId::from(""), 50), 0);
        assert_eq!(coordinator_partition(&GroupId::from("a"), 7), 97 % 7);
    }

    #[test]
    fn state_names_round_trip() {
        for s in [
            GroupState::Empty,
            GroupState::PreparingRebalance,
            GroupState::CompletingRebalance,
            GroupState::Stable,
            GroupState::Dead,
        ] {
            assert_eq!(GroupState::from_name(s.name()), Some(s));
        }
        assert_eq!(GroupState::from_name("AwaitingSync"), None);
    }
}
