//! Seeded bugs: real defects of Kafka's group protocol (or of its clients), each a removed guard
//! or an old behaviour, switched on one at a time. Each must make the checker find a
//! counterexample to the property it names; `tests/bugs.rs` holds that.

use crate::config::Config;

/// A seeded bug. Names are kebab-case and stable: scripts pass them to `kgroup check --bug`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bug {
    /// OffsetCommit is applied without checking the member id and generation, so a zombie's
    /// commit lands after the partition's new owner committed further.
    CommitWithoutGenerationCheck,
    /// Under COOPERATIVE, the leader hands a partition to its new owner in the same round in
    /// which the old owner still holds it, instead of withholding it for the follow-up rebalance.
    CooperativeHandoverWithoutRevoke,
    /// A static member rejoining with a new member id is added beside the old id instead of
    /// replacing (fencing) it, so the old id keeps its assignment.
    StaticRejoinWithoutFencing,
    /// A member removed by its session timeout during a rebalance is still waited for, so the
    /// join phase never completes.
    ExpiredMemberBlocksRebalance,
    /// The consumer keeps processing after its session expired (no `max.poll.interval.ms`
    /// self-check): the timing assumption of the consumer-side property, dropped.
    ZombieKeepsProcessing,
    /// Under EAGER, the consumer rejoins without first revoking its partitions.
    EagerRejoinWithoutRevoke,
    /// A static member's new member id replaces the old one in memory only; no group record is
    /// written, so a failover brings the old id back.
    StaticReplacementNotStored,
    /// A member whose session expires is dropped without starting a rebalance, so its
    /// partitions stay without an owner.
    ExpiryWithoutRebalance,
    /// TxnOffsetCommit is accepted without KIP-447's member id, generation and instance checks:
    /// a zombie's transaction commits after the partition's new owner committed the same records.
    TxnCommitWithoutMemberCheck,
    /// OffsetFetch ignores `require_stable` and answers while a transactional commit waits for
    /// its marker, so the new owner starts from an offset about to be superseded.
    OffsetFetchIgnoresPending,
    /// Loading the offsets partition drops transactional offsets that have no marker yet, so the
    /// marker that follows commits nothing.
    LoadSkipsPendingTxnOffsets,
    /// The consumer commits the position it has fetched up to rather than what it has
    /// processed (auto-commit with asynchronous processing): the committed offset runs ahead of
    /// the records actually handled.
    CommitFetchedPosition,
    /// The transaction coordinator accepts requests of an older producer epoch: the process an
    /// InitProducerId replaced (a zombie producer) commits a transaction after its successor
    /// aborted the one holding its output.
    ZombieProducerNotFenced,
}

impl Bug {
    pub const ALL: &'static [Bug] = &[
        Bug::CommitWithoutGenerationCheck,
        Bug::CooperativeHandoverWithoutRevoke,
        Bug::StaticRejoinWithoutFencing,
        Bug::ExpiredMemberBlocksRebalance,
        Bug::ZombieKeepsProcessing,
        Bug::EagerRejoinWithoutRevoke,
        Bug::StaticReplacementNotStored,
        Bug::ExpiryWithoutRebalance,
        Bug::TxnCommitWithoutMemberCheck,
        Bug::OffsetFetchIgnoresPending,
        Bug::LoadSkipsPendingTxnOffsets,
        Bug::CommitFetchedPosition,
        Bug::ZombieProducerNotFenced,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Bug::CommitWithoutGenerationCheck => "commit-without-generation-check",
            Bug::CooperativeHandoverWithoutRevoke => "cooperative-handover-without-revoke",
            Bug::StaticRejoinWithoutFencing => "static-rejoin-without-fencing",
            Bug::ExpiredMemberBlocksRebalance => "expired-member-blocks-rebalance",
            Bug::ZombieKeepsProcessing => "zombie-keeps-processing",
            Bug::EagerRejoinWithoutRevoke => "eager-rejoin-without-revoke",
            Bug::StaticReplacementNotStored => "static-replacement-not-stored",
            Bug::ExpiryWithoutRebalance => "expiry-without-rebalance",
            Bug::TxnCommitWithoutMemberCheck => "txn-commit-without-member-check",
            Bug::OffsetFetchIgnoresPending => "offset-fetch-ignores-pending",
            Bug::LoadSkipsPendingTxnOffsets => "load-skips-pending-txn-offsets",
            Bug::CommitFetchedPosition => "commit-fetched-position",
            Bug::ZombieProducerNotFenced => "zombie-producer-not-fenced",
        }
    }

    pub fn from_name(name: &str) -> Option<Bug> {
        Bug::ALL.iter().copied().find(|b| b.name() == name)
    }

    /// The Apache Kafka issue the bug comes from, where there is one.
    pub fn kafka_issue(self) -> Option<&'static str> {
        match self {
            // Commits from old generations and unknown groups were accepted until this fix.
            Bug::CommitWithoutGenerationCheck => Some("KAFKA-2596"),
            // A partition revoked and reassigned in one round of a cooperative rebalance.
            Bug::CooperativeHandoverWithoutRevoke => Some("KAFKA-14639"),
            // KIP-345's fencing of a static member with a conflicting group.instance.id.
            Bug::StaticRejoinWithoutFencing => Some("KAFKA-8225"),
            // A new member's timeout left the group's rebalance stuck.
            Bug::ExpiredMemberBlocksRebalance => Some("KAFKA-9752"),
            // KIP-62: max.poll.interval.ms, the consumer's own liveness check.
            Bug::ZombieKeepsProcessing => Some("KAFKA-3888"),
            Bug::EagerRejoinWithoutRevoke => None,
            Bug::StaticReplacementNotStored => None,
            Bug::ExpiryWithoutRebalance => None,
            // KIP-447's broker side: TxnOffsetCommit checks generation, member and instance.
            Bug::TxnCommitWithoutMemberCheck => Some("KAFKA-9365"),
            // KIP-447's require_stable and UNSTABLE_OFFSET_COMMIT.
            Bug::OffsetFetchIgnoresPending => Some("KAFKA-9346"),
            Bug::LoadSkipsPendingTxnOffsets => None,
            Bug::CommitFetchedPosition => None,
            // KIP-98's producer epoch fencing, the guard removed (no single Kafka issue).
            Bug::ZombieProducerNotFenced => None,
        }
    }

    /// The property the bug breaks (its exact name in the model).
    pub fn breaks(self) -> &'static str {
        use crate::properties as p;
        match self {
            Bug::CommitWithoutGenerationCheck => p::NO_OFFSET_REGRESSION,
            Bug::CooperativeHandoverWithoutRevoke => p::NO_DOUBLE_PROCESSING,
            Bug::StaticRejoinWithoutFencing => p::NO_DOUBLE_OWNERSHIP,
            Bug::ExpiredMemberBlocksRebalance => p::REBALANCES_FINISH,
            Bug::ZombieKeepsProcessing => p::NO_DOUBLE_PROCESSING,
            Bug::EagerRejoinWithoutRevoke => p::NO_DOUBLE_PROCESSING,
            Bug::StaticReplacementNotStored => p::REPLAY_EQUALS_LIVE,
            Bug::ExpiryWithoutRebalance => p::REBALANCES_FINISH,
            Bug::TxnCommitWithoutMemberCheck => p::NO_DUPLICATE_OUTPUT,
            Bug::OffsetFetchIgnoresPending => p::NO_DUPLICATE_OUTPUT,
            Bug::LoadSkipsPendingTxnOffsets => p::REPLAY_EQUALS_LIVE,
            Bug::CommitFetchedPosition => p::NO_LOSS,
            Bug::ZombieProducerNotFenced => p::NO_LOSS,
        }
    }

    /// The smallest configuration in which the bug shows: the faults and features it needs.
    pub fn config(self) -> Config {
        use crate::config::Protocol;
        let mut c = Config::small();
        match self {
            Bug::CommitWithoutGenerationCheck => {
                c.consumers = 2;
                c.records = 2;
                c.faults.expiries = 1;
            }
            Bug::CooperativeHandoverWithoutRevoke => {
                c.consumers = 2;
                c.protocol = Protocol::Cooperative;
            }
            Bug::StaticRejoinWithoutFencing => {
                c.consumers = 2;
                c.static_members = true;
                c.faults.crashes = 1;
            }
            Bug::ExpiredMemberBlocksRebalance => {
                c.consumers = 2;
                c.faults.crashes = 1;
            }
            Bug::ZombieKeepsProcessing => {
                c.consumers = 2;
                c.faults.expiries = 1;
            }
            Bug::EagerRejoinWithoutRevoke => {
                c.consumers = 2;
            }
            Bug::StaticReplacementNotStored => {
                c.consumers = 1;
                c.static_members = true;
                c.faults.crashes = 1;
            }
            Bug::ExpiryWithoutRebalance => {
                c.consumers = 2;
                c.faults.crashes = 1;
            }
            Bug::TxnCommitWithoutMemberCheck => {
                c.consumers = 2;
                c.eos = true;
                c.faults.expiries = 1;
            }
            Bug::OffsetFetchIgnoresPending => {
                c.consumers = 2;
                c.eos = true;
                c.faults.crashes = 1;
            }
            Bug::LoadSkipsPendingTxnOffsets => {
                c.consumers = 1;
                c.eos = true;
                c.faults.failovers = 1;
            }
            Bug::CommitFetchedPosition => {
                c.consumers = 1;
                c.records = 2;
            }
            Bug::ZombieProducerNotFenced => {
                c.consumers = 1;
                c.partitions = 1;
                c.static_members = true;
                c.eos = true;
                c.faults.duplicates = 1;
            }
        }
        c.bug = Some(self);
        c
    }
}
