//! The model's state: one group coordinator with its durable log, N consumers, and the network
//! between them. Everything is small integers, bitmasks and short sorted vectors, so that tens of
//! millions of states fit in memory.
//!
//! Partitions are numbered `0..P` and sets of partitions are bitmasks (`u8`, so `P ≤ 8`). Offsets
//! are record numbers `0..=R`: a committed offset `o` means "records `0..o` are done", as in
//! Kafka, where the committed offset is the next record to read. A partition without a committed
//! offset reads from its start (`auto.offset.reset=earliest`), which the model writes as 0.

use kgroup_protocol::{ErrorCode, GroupState};
use std::fmt;

/// The most partitions a configuration may have (offsets live in fixed arrays).
pub const MAX_PARTITIONS: usize = 4;
/// The most consumers a configuration may have.
pub const MAX_CONSUMERS: usize = 6;

/// A set of partitions, one bit each.
pub type Parts = u8;
/// One offset per partition.
pub type Offsets = [u8; MAX_PARTITIONS];
/// In an offset list of a request: this partition is not part of it.
pub const ABSENT: u8 = u8::MAX;

/// A member id the coordinator handed out. Kafka makes them from the client id and a UUID; the
/// model makes them from the consumer's slot (its connection) and a per-slot counter that
/// survives the consumer's restarts, so an id is never handed out twice, as a UUID is not.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberId {
    pub slot: u8,
    pub nonce: u8,
}

impl fmt::Debug for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m{}.{}", self.slot, self.nonce)
    }
}

/// The whole system.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    /// The group coordinator's in-memory state (rebuilt from `log` on failover).
    pub coord: Coord,
    /// The coordinator's `__consumer_offsets` partition, as the records it holds replay to. The
    /// topic is compacted, so the latest record per key is all a load reads; the model keeps just
    /// that.
    pub log: Log,
    /// The consumers, by slot. A slot is also the consumer's one connection to the coordinator.
    pub consumers: Vec<Consumer>,
    /// Per connection, requests in flight to the coordinator, oldest first.
    pub to_coord: Vec<Vec<Req>>,
    /// Per connection, responses in flight to the consumer, oldest first.
    pub to_consumer: Vec<Vec<Resp>>,
    /// Fault budgets left.
    pub budget: Budget,
    /// Per partition, the records some consumer has processed (bit `o` = record `o`).
    pub processed: [u8; MAX_PARTITIONS],
    /// History flags the properties read (see [`Seen`]).
    pub seen: u8,
    /// Exactly-once only: the transaction coordinator's state per transactional id. Each
    /// consumer instance has one transactional producer, `transactional.id` = its identity,
    /// that survives restarts of the process (KIP-447: one producer per consumer).
    pub txn: Vec<Txn>,
    /// Exactly-once only: per input partition, the records whose output is in the output
    /// partition as committed (what a read_committed reader sees).
    pub output: [u8; MAX_PARTITIONS],
    /// Exactly-once only: transaction markers on their way from the transaction coordinator to
    /// the group coordinator (WriteTxnMarkers for `__consumer_offsets`), oldest first:
    /// `(transactional id, commit, producer epoch)`.
    pub markers: Vec<(u8, bool, u8)>,
}

/// A transactional id at the transaction coordinator.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Txn {
    /// The producer epoch: InitProducerId of a new process bumps it, aborting the open
    /// transaction, and every later request of an older epoch is refused (PRODUCER_FENCED).
    pub epoch: u8,
    /// The open transaction's output: per input partition, the records whose output it holds.
    pub open: [u8; MAX_PARTITIONS],
}

impl Txn {
    pub fn is_open(&self) -> bool {
        self.open.iter().any(|&o| o != 0)
    }
}

/// Events the `sometimes` properties and the offset property look back on.
#[derive(Clone, Copy, Debug)]
pub struct Seen;
impl Seen {
    /// A committed offset was lowered.
    pub const REGRESSED: u8 = 1;
    /// A static member rejoined under a new member id without a rebalance.
    pub const STATIC_REJOIN: u8 = 2;
    /// Under COOPERATIVE, a consumer gave up a partition because the assignment moved it.
    pub const COOP_REVOKE: u8 = 4;
    /// The coordinator failed over while a rebalance was in progress.
    pub const FAILOVER_MID_REBALANCE: u8 = 8;
    /// A commit from a member the group no longer has reached the coordinator.
    pub const ZOMBIE_COMMIT: u8 = 16;
    /// Exactly-once: an input record's output was committed a second time.
    pub const DUPLICATE: u8 = 32;
    /// Exactly-once: a zombie's TxnOffsetCommit was refused (its transaction then aborts).
    pub const ZOMBIE_TXN_ABORTED: u8 = 64;
    /// A running process that a newer process of its instance had taken over (or whose producer
    /// epoch it had bumped) was fenced and stopped.
    pub const FENCED: u8 = 128;
}

/// Fault budgets: how many more of each fault may happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Budget {
    /// Consumer crashes (each followed, when the checker chooses, by a restart).
    pub crashes: u8,
    /// Dropped connections, losing what was in flight on them.
    pub losses: u8,
    /// Session expiries of a consumer that is alive but too slow (a zombie).
    pub expiries: u8,
    /// Coordinator failovers: in-memory state lost, rebuilt from the log.
    pub failovers: u8,
    /// Graceful shutdowns of a dynamic member (LeaveGroup).
    pub leaves: u8,
    /// Requests the coordinator takes out of order, ahead of an older one on the same
    /// connection (dropping the per-connection FIFO of TCP).
    pub reorders: u8,
    /// Second processes of a static instance started while the first still runs (the same
    /// `group.instance.id` and `transactional.id`: an operator's mistake KIP-345 detects).
    pub duplicates: u8,
}

/// The group coordinator's in-memory view of the one group.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Coord {
    pub state: GroupState,
    pub generation: u8,
    pub leader: Option<MemberId>,
    /// Members, sorted by id.
    pub members: Vec<Member>,
    /// Ids handed out with MEMBER_ID_REQUIRED that have not joined yet (KIP-394).
    pub pending: Vec<MemberId>,
    /// Committed offsets.
    pub offsets: Offsets,
    /// Seeded bug `expired-member-blocks-rebalance`: the coordinator still waits for a member it
    /// removed.
    pub waits_for_removed: bool,
    /// TxnOffsetCommit offsets waiting for their transaction's marker, per transactional id
    /// (sorted by it).
    pub txn_pending: Vec<(u8, Offsets)>,
}

/// A member of the group as the coordinator holds it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Member {
    pub id: MemberId,
    /// `group.instance.id` of a static member (the model names instances by slot).
    pub instance: Option<u8>,
    /// It has sent JoinGroup in the current rebalance.
    pub joined: bool,
    /// Responses the coordinator owes this member on its live connection ([`Owed`]).
    pub owed: u8,
    /// The partitions it reported as owned in its last JoinGroup (COOPERATIVE; empty for EAGER).
    pub owned: Parts,
    /// The generation it reported with them.
    pub owned_generation: u8,
    /// Its partitions in the leader's last assignment.
    pub assignment: Parts,
}

/// Responses a member waits for.
#[derive(Clone, Copy, Debug)]
pub struct Owed;
impl Owed {
    pub const JOIN: u8 = 1;
    pub const SYNC: u8 = 2;
}

/// The durable state: what replaying the `__consumer_offsets` partition yields.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Log {
    /// The last group metadata record.
    pub group: GroupRecord,
    /// The last offset commit record per partition.
    pub offsets: Offsets,
    /// Transactional offset commits not yet followed by their marker, per transactional id.
    pub txn_pending: Vec<(u8, Offsets)>,
    /// Per transactional id, the highest producer epoch the partition has appended (its
    /// producer state): an append of an older epoch is refused with INVALID_PRODUCER_EPOCH.
    /// It belongs to the partition, not the coordinator, so a failover keeps it.
    pub producer_epochs: [u8; MAX_CONSUMERS],
}

/// A group metadata record: generation, leader, and members with their assignments.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct GroupRecord {
    pub generation: u8,
    pub leader: Option<MemberId>,
    /// Per member, sorted by id: `(member id, group.instance.id, assignment, subscription)`.
    /// The subscription is what the member's last JoinGroup reported as owned, with its
    /// generation (Kafka's GroupMetadataValue stores each member's protocol metadata), so a
    /// loaded group compares a rejoin's subscription with it as the old coordinator would have.
    pub members: Vec<(MemberId, Option<u8>, Parts, Subscription)>,
}

/// What a member's JoinGroup reported: the partitions it owns and their generation.
pub type Subscription = (Parts, u8);

/// Where a consumer is in the join/sync cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    /// Crashed or shut down for good (a crash with restart starts a new process at once).
    Down,
    /// Got FENCED_INSTANCE_ID: a fatal error, the process has stopped for good.
    Fenced,
    /// Must (re)join: sends JoinGroup next.
    Unjoined,
    /// JoinGroup sent, waiting for its response.
    Joining,
    /// SyncGroup sent, waiting for the assignment.
    Syncing,
    /// OffsetFetch sent for newly assigned partitions.
    Fetching,
    /// In the group with its assignment.
    Stable,
}

/// A consumer: the client side of the protocol plus the application's processing.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Consumer {
    /// The instance this process runs as: its `group.instance.id` when static and its
    /// `transactional.id` under exactly-once. The slot's own number, except for a duplicate.
    pub identity: u8,
    /// Exactly-once: the producer epoch its InitProducerId returned.
    pub epoch: u8,
    pub phase: Phase,
    /// A request is in flight (the model's consumer sends one group request at a time).
    pub waiting: bool,
    pub member: Option<MemberId>,
    pub generation: u8,
    /// Member ids this slot has been given so far (the next id's nonce).
    pub nonce: u8,
    /// Partitions of its current assignment.
    pub assigned: Parts,
    /// Partitions it is processing: assigned, position known, not revoked or lost.
    pub owned: Parts,
    /// Partitions it must rejoin to give up or receive (COOPERATIVE follow-up rebalance).
    pub rejoin: bool,
    /// Next record to process, per owned partition.
    pub position: Offsets,
    /// The offset it knows to be committed, per owned partition.
    pub committed: Offsets,
    /// Ghost state, read only by the properties: another process of this one's static instance
    /// took its member id over (the `duplicates` fault) and it has not yet heard.
    pub superseded: bool,
}

/// A request from a consumer to the coordinator.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Req {
    /// JoinGroup. `member: None` is the empty member id of a first join; `nonce` is the id the
    /// coordinator will hand out for it. `owned` is the owned-partitions field of the embedded
    /// subscription (KIP-429).
    Join {
        member: Option<MemberId>,
        nonce: u8,
        instance: Option<u8>,
        owned: Parts,
        /// The generation of `owned` (subscription v1+), 0 for none. Filled only when a
        /// production assignor runs in the model; the model's own rule does not read it.
        generation: u8,
    },
    /// SyncGroup; the leader's carries the assignment of every member.
    Sync {
        member: MemberId,
        instance: Option<u8>,
        generation: u8,
        assignment: Option<Vec<(MemberId, Parts)>>,
    },
    Heartbeat {
        member: MemberId,
        instance: Option<u8>,
        generation: u8,
    },
    /// OffsetCommit of the listed partitions (`ABSENT` elsewhere).
    Commit {
        member: MemberId,
        instance: Option<u8>,
        generation: u8,
        offsets: Offsets,
    },
    /// OffsetFetch of these partitions (with `require_stable` under exactly-once, KIP-447).
    Fetch { partitions: Parts },
    /// TxnOffsetCommit of the consumer's transactional producer (`transactional.id` = its slot),
    /// with the group metadata KIP-447 added.
    TxnCommit {
        member: MemberId,
        instance: Option<u8>,
        generation: u8,
        producer: u8,
        /// The producer epoch the request is sent with.
        epoch: u8,
        offsets: Offsets,
    },
    /// LeaveGroup.
    Leave { member: MemberId },
}

/// A member as the leader sees it in the JoinGroup response: its id, the partitions it owns and
/// their generation.
pub type Claim = (MemberId, Parts, u8);

/// A response from the coordinator.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Resp {
    /// JoinGroup response. With MEMBER_ID_REQUIRED, `member` is the id to rejoin with. The leader
    /// gets every member with its owned partitions and their generation; followers get an empty
    /// list.
    Join {
        error: ErrorCode,
        member: Option<MemberId>,
        generation: u8,
        leader: Option<MemberId>,
        members: Vec<Claim>,
    },
    Sync {
        error: ErrorCode,
        assignment: Parts,
    },
    Heartbeat {
        error: ErrorCode,
    },
    Commit {
        error: ErrorCode,
        offsets: Offsets,
    },
    Fetch {
        error: ErrorCode,
        offsets: Offsets,
    },
    TxnCommit {
        error: ErrorCode,
        offsets: Offsets,
    },
    Leave {
        error: ErrorCode,
    },
}

impl Coord {
    pub fn member(&self, id: MemberId) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }
    pub fn member_mut(&mut self, id: MemberId) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }
    pub fn has(&self, id: MemberId) -> bool {
        self.member(id).is_some()
    }
    /// The member that currently holds `instance`.
    pub fn by_instance(&self, instance: u8) -> Option<&Member> {
        self.members.iter().find(|m| m.instance == Some(instance))
    }
    /// KIP-345 fencing: the request names an instance that a different member id now holds.
    pub fn fenced(&self, member: MemberId, instance: Option<u8>) -> bool {
        match instance.and_then(|i| self.by_instance(i)) {
            Some(holder) => holder.id != member,
            None => false,
        }
    }
    /// Every member with its owned partitions and their generation, as the leader gets them.
    pub fn claims(&self) -> Vec<Claim> {
        self.members
            .iter()
            .map(|m| (m.id, m.owned, m.owned_generation))
            .collect()
    }
    pub fn insert(&mut self, m: Member) {
        let at = self.members.partition_point(|x| x.id < m.id);
        self.members.insert(at, m);
    }
}

impl Consumer {
    /// A new process running as `identity`.
    pub fn new(identity: u8) -> Consumer {
        Consumer {
            identity,
            epoch: 0,
            phase: Phase::Unjoined,
            waiting: false,
            member: None,
            generation: 0,
            nonce: 0,
            assigned: 0,
            owned: 0,
            rejoin: false,
            position: [0; MAX_PARTITIONS],
            committed: [0; MAX_PARTITIONS],
            superseded: false,
        }
    }
    /// The process is running.
    pub fn alive(&self) -> bool {
        !matches!(self.phase, Phase::Down | Phase::Fenced)
    }
}

/// The partitions of a bitmask, lowest first.
pub fn parts(set: Parts) -> impl Iterator<Item = usize> {
    (0..8).filter(move |p| set & (1 << p) != 0)
}
