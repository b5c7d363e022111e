//! The group coordinator: Kafka 3.9's classic `GroupCoordinator`, sans-IO.
//!
//! # Call order
//!
//! ```text
//! loop {
//!     coordinator.handle_request(now, ctx, request)   // for each request that arrives
//!     coordinator.handle_timeout(now)                 // when poll_timeout()'s deadline passes
//!     while let Some(out) = coordinator.poll_output() {
//!         Output::Append(entry)          => write it to the offsets log
//!         Output::Response { id, .. }    => send it, but only once every Append before it
//!                                           is durable
//!     }
//!     sleep until coordinator.poll_timeout()
//! }
//! ```
//!
//! The coordinator never reads a clock or does IO: time comes in as `now` (milliseconds), and
//! member ids come from an injected generator, so a run is a function of its inputs. Responses
//! are matched to requests by the caller's request id, because JoinGroup and SyncGroup are
//! answered when the rebalance completes, possibly in reply to another member's request.
//!
//! # State
//!
//! The durable state (committed offsets, pending transactional offsets, the stored group
//! records) lives in a [`Store`] whose only mutator is replay: every record the coordinator
//! writes is emitted as [`Output::Append`] and applied through [`Store::replay`] at once, and
//! [`GroupCoordinator::load`] rebuilds a coordinator from a replayed store. The rebalance in
//! progress (who has rejoined, which JoinGroup and SyncGroup requests wait for an answer, the
//! timers) is in memory only, as in Kafka: a coordinator that fails over loses it, and the
//! groups come back Stable (or Empty) with their stored members and assignments.
//!
//! # Where the code departs from Kafka
//!
//! Kafka keeps members in a hash map, so the order of the member list the leader receives and
//! the choice among protocols with equal votes are arbitrary; here members are listed in the
//! order they joined and a tie goes to the candidate the first member prefers. docs/core.md
//! lists the other choices.

use crate::records::{
    GroupMetadataValue, LogEntry, MemberMetadata, OffsetCommitValue, Record, RecordKey, RecordValue,
};
use crate::store::Store;
use kgroup_protocol::api::*;
use kgroup_protocol::TopicPartition;
use kgroup_protocol::{ErrorCode, GenerationId, GroupId, GroupInstanceId, GroupState, MemberId};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;

/// A string's length as Java's `String.length()` counts it (UTF-16 units), which is what
/// Kafka compares with `offset.metadata.max.bytes`.
fn java_length(s: &str) -> usize {
    s.encode_utf16().count()
}

/// The longest string a record field may hold: Kafka's records carry `int16` string lengths,
/// and a member id adds `-` and a UUID (37 bytes) to the client or instance id it starts with.
const MAX_STRING: usize = i16::MAX as usize - 64;

/// Whether every string the request could put into a record fits a record. Kafka's non-flexible
/// request versions cannot carry longer ones; flexible versions can, and Kafka would then fail
/// the append. Refusing such a request up front (INVALID_REQUEST) keeps every entry the
/// coordinator emits encodable. Commit metadata over `offset.metadata.max.bytes` (`metadata_max`)
/// is never written (it is refused per partition with OFFSET_METADATA_TOO_LARGE after the member
/// checks, as Kafka does), so only metadata within that limit must fit.
fn strings_fit(ctx: &Context, request: &Request, metadata_max: usize) -> bool {
    let fits = |s: &str| s.len() <= MAX_STRING;
    let opt = |s: &Option<GroupInstanceId>| s.as_ref().is_none_or(|i| fits(&i.0));
    let metadata = |m: &str| fits(m) || java_length(m) > metadata_max;
    let parts = |ps: &[OffsetCommitPartition]| {
        ps.iter().all(|p| {
            fits(&p.partition.topic) && p.committed_metadata.as_deref().is_none_or(metadata)
        })
    };
    fits(&ctx.client_id)
        && fits(&ctx.client_host)
        && match request {
            Request::JoinGroup(r) => {
                let m = &r.message;
                fits(&m.group_id.0)
                    && fits(&m.member_id.0)
                    && opt(&m.group_instance_id)
                    && fits(&m.protocol_type)
                    && m.protocols.iter().all(|p| fits(&p.name))
            }
            Request::SyncGroup(r) => {
                let m = &r.message;
                fits(&m.group_id.0) && fits(&m.member_id.0) && opt(&m.group_instance_id)
            }
            Request::Heartbeat(r) => fits(&r.message.group_id.0),
            Request::LeaveGroup(r) => fits(&r.message.group_id.0),
            Request::OffsetCommit(r) => fits(&r.message.group_id.0) && parts(&r.message.partitions),
            Request::TxnOffsetCommit(r) => {
                fits(&r.message.group_id.0) && parts(&r.message.partitions)
            }
            Request::OffsetFetch(r) => fits(&r.message.group_id.0),
            Request::DescribeGroups(_) | Request::ListGroups(_) => true,
            Request::DeleteGroups(r) => r.message.groups.iter().all(|g| fits(&g.0)),
        }
}

/// The same outcome for every partition of a commit request.
fn each_partition(
    parts: &[OffsetCommitPartition],
    error: ErrorCode,
) -> Vec<(TopicPartition, ErrorCode)> {
    parts.iter().map(|p| (p.partition.clone(), error)).collect()
}

/// The caller's id for a request; responses carry it back.
pub type RequestId = u64;

/// The broker settings the coordinator reads, with Kafka's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `group.min.session.timeout.ms`.
    pub group_min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub group_max_session_timeout_ms: i32,
    /// `group.max.size`.
    pub group_max_size: usize,
    /// `group.initial.rebalance.delay.ms` (KIP-134).
    pub group_initial_rebalance_delay_ms: i32,
    /// `offset.metadata.max.bytes`.
    pub offset_metadata_max_bytes: usize,
    /// How long a new member's JoinGroup may wait before the member is dropped (Kafka's
    /// `NewMemberJoinTimeoutMs`, five minutes).
    pub new_member_join_timeout_ms: i32,
    /// `offsets.retention.ms` (KIP-211: counted from when the group became Empty).
    pub offsets_retention_ms: i64,
    /// `offsets.retention.check.interval.ms`: how often expired offsets are removed.
    pub offsets_retention_check_interval_ms: u64,
    /// `offsets.topic.num.partitions`: a group lives on partition
    /// `abs(hash(group.id)) % offsets.topic.num.partitions` of `__consumer_offsets`.
    pub offsets_topic_num_partitions: i32,
    /// The `__consumer_offsets` partitions this coordinator leads; `None`: all of them. A request
    /// for a group on another partition is answered NOT_COORDINATOR.
    pub owned_partitions: Option<BTreeSet<i32>>,
    /// Test only: one guard removed, to show that the conformance traces catch it.
    #[cfg(feature = "broken-variants")]
    pub broken: Option<Broken>,
}

/// Broken variants of the coordinator, for testing the tests (cargo feature `broken-variants`,
/// never on in a build that serves clients). Each removes one guard, as the model's seeded bug
/// of the same name does; the conformance corpus must fail each of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broken {
    /// OffsetCommit skips its member, generation and rebalance checks.
    CommitWithoutGenerationCheck,
    /// Requests are not checked against the member id that holds their `group.instance.id`, so
    /// a replaced static member's old id is never answered FENCED_INSTANCE_ID (no seeded bug
    /// of the model matches it: the model's `static-rejoin-without-fencing` keeps the old id as
    /// a member).
    StaticInstanceNotChecked,
    /// A pending member's expiry does not let a join phase that waited for it complete.
    ExpiredMemberBlocksRebalance,
    /// A static member replaced in a Stable group is not written to the log.
    StaticReplacementNotStored,
    /// A session expiry drops a member of a Stable group without a rebalance.
    ExpiryWithoutRebalance,
    /// TxnOffsetCommit skips KIP-447's member and generation checks.
    TxnCommitWithoutMemberCheck,
    /// OffsetFetch ignores `require_stable`.
    OffsetFetchIgnoresPending,
    /// A coordinator loading the log drops transactional offsets still waiting for their
    /// marker, so the commit marker that follows commits nothing.
    LoadSkipsPendingTxnOffsets,
    /// TxnOffsetCommit of a superseded producer epoch is accepted.
    ZombieProducerNotFenced,
    /// A static member's replacement keeps the old member id as a (dynamic) member beside the
    /// new one, with the instance's assignment, instead of removing it.
    StaticRejoinWithoutFencing,
}

impl Broken {
    pub const ALL: &'static [Broken] = &[
        Broken::CommitWithoutGenerationCheck,
        Broken::StaticInstanceNotChecked,
        Broken::ExpiredMemberBlocksRebalance,
        Broken::StaticReplacementNotStored,
        Broken::ExpiryWithoutRebalance,
        Broken::TxnCommitWithoutMemberCheck,
        Broken::OffsetFetchIgnoresPending,
        Broken::LoadSkipsPendingTxnOffsets,
        Broken::ZombieProducerNotFenced,
        Broken::StaticRejoinWithoutFencing,
    ];

    /// Whether the model has a seeded bug of the same name (and so a trace generated to tell
    /// it apart).
    pub fn in_model(self) -> bool {
        self != Broken::StaticInstanceNotChecked
    }

    /// Its name: the name of the model's seeded bug it matches, if there is one.
    pub fn name(self) -> &'static str {
        match self {
            Broken::CommitWithoutGenerationCheck => "commit-without-generation-check",
            Broken::StaticInstanceNotChecked => "static-instance-not-checked",
            Broken::ExpiredMemberBlocksRebalance => "expired-member-blocks-rebalance",
            Broken::StaticReplacementNotStored => "static-replacement-not-stored",
            Broken::ExpiryWithoutRebalance => "expiry-without-rebalance",
            Broken::TxnCommitWithoutMemberCheck => "txn-commit-without-member-check",
            Broken::OffsetFetchIgnoresPending => "offset-fetch-ignores-pending",
            Broken::LoadSkipsPendingTxnOffsets => "load-skips-pending-txn-offsets",
            Broken::ZombieProducerNotFenced => "zombie-producer-not-fenced",
            Broken::StaticRejoinWithoutFencing => "static-rejoin-without-fencing",
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_max_size: i32::MAX as usize,
            group_initial_rebalance_delay_ms: 3_000,
            offset_metadata_max_bytes: 4_096,
            new_member_join_timeout_ms: 300_000,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1000,
            offsets_retention_check_interval_ms: 600_000,
            offsets_topic_num_partitions: kgroup_protocol::DEFAULT_OFFSETS_TOPIC_PARTITIONS,
            owned_partitions: None,
            #[cfg(feature = "broken-variants")]
            broken: None,
        }
    }
}

/// Who sent a request: the request id and the client fields of the request header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub id: RequestId,
    /// `client.id` from the request header.
    pub client_id: String,
    /// The client's address as the broker sees it (`/10.0.0.1`).
    pub client_host: String,
}

/// A request to the group coordinator and its response: the pair kgroup-protocol defines, which
/// the conformance traces carry too.
pub use kgroup_protocol::api::{Request, Response};

/// What the coordinator asks its driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Write this entry to the offsets log. It is already applied to the coordinator's store.
    Append(LogEntry),
    /// Send this response, once every earlier [`Output::Append`] is durable.
    Response { id: RequestId, response: Response },
    /// This request will never be answered, as in Kafka: a newer JoinGroup (or SyncGroup) of the
    /// same member took its place while it waited, or the member was removed (by another
    /// connection's LeaveGroup, say) while its SyncGroup waited. Kafka drops such a request
    /// silently; the driver can forget it (and a wire server close its connection).
    Abandoned { id: RequestId },
}

/// Makes the unique part of member ids (Kafka uses a random UUID).
pub trait MemberIds: Send {
    fn next_suffix(&mut self) -> String;
}

/// Deterministic member-id suffixes shaped like UUIDs: `00000000-0000-0000-0000-000000000001`,
/// `...002`, and so on.
#[derive(Debug, Default, Clone)]
pub struct SequentialIds {
    next: u64,
}

impl MemberIds for SequentialIds {
    fn next_suffix(&mut self) -> String {
        self.next += 1;
        format!("00000000-0000-0000-0000-{:012x}", self.next)
    }
}

/// A member as the coordinator holds it.
#[derive(Debug, Clone)]
struct Member {
    id: String,
    instance: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout_ms: i32,
    rebalance_timeout_ms: i32,
    protocol_type: String,
    protocols: Vec<JoinGroupProtocol>,
    assignment: Vec<u8>,
    /// The JoinGroup waiting for the join phase to end: request id and API version.
    awaiting_join: Option<(RequestId, i16)>,
    /// The SyncGroup waiting for the leader's assignment.
    awaiting_sync: Option<RequestId>,
    /// Joined in the current rebalance and not yet through a completed join phase: it may be
    /// dropped while its JoinGroup waits (Kafka's `isNew`).
    is_new: bool,
    /// The member's expiry timer.
    heartbeat: Option<TimerId>,
}

impl Member {
    fn metadata(&self, protocol: &str) -> Vec<u8> {
        self.protocols
            .iter()
            .find(|p| p.name == protocol)
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }

    /// The member's vote among `candidates`: its most preferred one.
    fn vote<'a>(&'a self, candidates: &BTreeSet<&str>) -> Option<&'a str> {
        self.protocols
            .iter()
            .map(|p| p.name.as_str())
            .find(|p| candidates.contains(p))
    }

    fn same_protocols(&self, protocols: &[JoinGroupProtocol]) -> bool {
        self.protocols == protocols
    }
}

/// What a join phase waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinWait {
    /// KIP-134: the first rebalance of an empty group waits `delay` and, while new members keep
    /// arriving, again, up to `remaining` more.
    Initial { remaining_ms: i64 },
    /// Every member rejoins, or the rebalance timeout ends the phase.
    Rebalance,
}

#[derive(Debug, Clone)]
struct Group {
    id: String,
    state: GroupState,
    generation: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader: Option<String>,
    /// Members by id, and their ids in the order they joined.
    members: HashMap<String, Member>,
    order: Vec<String>,
    /// `group.instance.id` to member id.
    statics: HashMap<String, String>,
    /// Ids handed out with MEMBER_ID_REQUIRED that have not joined yet (KIP-394), with their
    /// expiry timers.
    pending: HashMap<String, TimerId>,
    /// Members that have not sent SyncGroup in this generation yet.
    pending_sync: HashSet<String>,
    join_timer: Option<(TimerId, JoinWait)>,
    sync_timer: Option<TimerId>,
    /// A member joined during an initial delay (the delay may be extended).
    new_member_added: bool,
    /// How many members have a JoinGroup waiting (kept, so that a join costs O(1)).
    joining: usize,
    /// For each protocol name, how many members support it (Kafka's `supportedProtocols`).
    protocol_counts: HashMap<String, usize>,
    /// The topics the members of a `consumer` group subscribe to, decoded from their
    /// subscriptions when a generation starts; `None` when unknown (another protocol type, or a
    /// subscription that does not decode). KIP-496 expires offsets of other topics.
    subscribed: Option<BTreeSet<String>>,
    state_timestamp: i64,
}

impl Group {
    fn new(id: &str, now: u64) -> Group {
        Group {
            id: id.to_owned(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: HashMap::new(),
            order: Vec::new(),
            statics: HashMap::new(),
            pending: HashMap::new(),
            pending_sync: HashSet::new(),
            join_timer: None,
            sync_timer: None,
            new_member_added: false,
            joining: 0,
            protocol_counts: HashMap::new(),
            subscribed: None,
            state_timestamp: now as i64,
        }
    }

    fn count_protocols(&mut self, protocols: &[JoinGroupProtocol], add: bool) {
        for p in protocols {
            let n = self.protocol_counts.entry(p.name.clone()).or_default();
            if add {
                *n += 1;
            } else {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.protocol_counts.remove(&p.name);
                }
            }
        }
    }

    /// Sets a member's waiting JoinGroup and returns the one it replaces.
    fn set_joining(
        &mut self,
        id: &str,
        join: Option<(RequestId, i16)>,
    ) -> Option<(RequestId, i16)> {
        let m = self.members.get_mut(id)?;
        let old = std::mem::replace(&mut m.awaiting_join, join);
        self.joining = self.joining + usize::from(join.is_some()) - usize::from(old.is_some());
        old
    }

    /// Replaces a member's protocols, keeping the support counts.
    fn set_protocols(&mut self, id: &str, protocols: Vec<JoinGroupProtocol>) {
        let Some(m) = self.members.get_mut(id) else {
            return;
        };
        let old = std::mem::replace(&mut m.protocols, protocols);
        let new = m.protocols.clone();
        self.count_protocols(&old, false);
        self.count_protocols(&new, true);
    }

    fn has(&self, id: &str) -> bool {
        self.members.contains_key(id)
    }

    fn is_leader(&self, id: &str) -> bool {
        self.leader.as_deref() == Some(id)
    }

    fn awaiting_join(&self) -> usize {
        self.joining
    }

    fn all_joined(&self) -> bool {
        debug_assert_eq!(
            self.joining,
            self.members
                .values()
                .filter(|m| m.awaiting_join.is_some())
                .count(),
            "the count of waiting JoinGroups"
        );
        self.pending.is_empty() && self.joining == self.members.len()
    }

    fn rebalance_timeout_ms(&self) -> i32 {
        self.members
            .values()
            .map(|m| m.rebalance_timeout_ms)
            .max()
            .unwrap_or(0)
    }

    /// Kafka's `validateCurrentMember`: an instance id must be registered (UNKNOWN_MEMBER_ID)
    /// to this member id (FENCED_INSTANCE_ID); then the member id must be known.
    fn member_error(&self, member: &str, instance: Option<&str>) -> Option<ErrorCode> {
        if let Some(i) = instance {
            match self.statics.get(i) {
                Some(holder) if holder != member => return Some(ErrorCode::FencedInstanceId),
                Some(_) => {}
                None => return Some(ErrorCode::UnknownMemberId),
            }
        }
        (!self.has(member)).then_some(ErrorCode::UnknownMemberId)
    }

    /// Kafka's `supportsProtocols`: an Empty group (which has no members) takes any protocol.
    fn supports(&self, protocol_type: &str, protocols: &[JoinGroupProtocol]) -> bool {
        if self.state == GroupState::Empty {
            debug_assert!(self.members.is_empty(), "an Empty group has no members");
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        let all = self.members.len();
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|p| self.protocol_counts.get(&p.name).copied().unwrap_or(0) == all)
    }

    /// Kafka's `selectProtocol`: the protocols every member supports; each member votes for its
    /// most preferred one; the most votes win (a tie: the first member's preference).
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.get(self.order.first()?)?;
        let candidates: BTreeSet<&str> = first
            .protocols
            .iter()
            .map(|p| p.name.as_str())
            .filter(|name| self.protocol_counts.get(*name) == Some(&self.members.len()))
            .collect();
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(v) = m.vote(&candidates) {
                *votes.entry(v).or_default() += 1;
            }
        }
        let best = votes.values().copied().max()?;
        first
            .protocols
            .iter()
            .map(|p| p.name.as_str())
            .find(|p| votes.get(p) == Some(&best))
            .map(str::to_owned)
    }

    fn add(&mut self, m: Member) {
        if self.members.is_empty() {
            self.protocol_type = Some(m.protocol_type.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(m.id.clone());
        }
        if let Some(i) = &m.instance {
            self.statics.insert(i.clone(), m.id.clone());
        }
        self.count_protocols(&m.protocols, true);
        self.joining += usize::from(m.awaiting_join.is_some());
        self.order.push(m.id.clone());
        self.members.insert(m.id.clone(), m);
    }

    /// Removes a member; a removed leader is replaced by the first remaining member.
    fn remove(&mut self, id: &str) -> Option<Member> {
        let m = self.members.remove(id)?;
        self.count_protocols(&m.protocols, false);
        self.joining -= usize::from(m.awaiting_join.is_some());
        self.order.retain(|x| x != id);
        self.pending_sync.remove(id);
        if let Some(i) = &m.instance {
            if self.statics.get(i).map(String::as_str) == Some(id) {
                self.statics.remove(i);
            }
        }
        if self.is_leader(id) {
            self.leader = self.order.first().cloned();
        }
        Some(m)
    }

    /// Kafka's `computeSubscribedTopics`: the union of the members' subscribed topics, if the
    /// group speaks the consumer protocol and every subscription decodes.
    fn compute_subscribed(&self) -> Option<BTreeSet<String>> {
        let protocol = self.protocol_name.as_deref()?;
        if self.protocol_type.as_deref() != Some("consumer") {
            return None;
        }
        let mut topics = BTreeSet::new();
        for m in self.members.values() {
            let (_, sub) = kgroup_assign::codec::decode_subscription(&m.metadata(protocol)).ok()?;
            topics.extend(sub.topics);
        }
        Some(topics)
    }

    /// The members with their metadata for the selected protocol, as the leader gets them.
    fn member_list(&self) -> Vec<JoinGroupResponseMember> {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        self.order
            .iter()
            .filter_map(|id| self.members.get(id))
            .map(|m| JoinGroupResponseMember {
                member_id: MemberId(m.id.clone()),
                group_instance_id: m.instance.clone().map(GroupInstanceId),
                metadata: m.metadata(&protocol),
            })
            .collect()
    }

    /// The group metadata record of the group as it is now.
    fn record(&self) -> GroupMetadataValue {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        GroupMetadataValue {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation,
            protocol: self.protocol_name.clone(),
            leader: self.leader.clone(),
            current_state_timestamp: self.state_timestamp,
            members: self
                .order
                .iter()
                .filter_map(|id| self.members.get(id))
                .map(|m| MemberMetadata {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout: m.rebalance_timeout_ms,
                    session_timeout: m.session_timeout_ms,
                    subscription: m.metadata(&protocol),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }
}

/// A timer's identity; a cancelled timer's id is never reused.
type TimerId = u64;

#[derive(Debug, Clone, PartialEq, Eq)]
enum TimerKind {
    /// A member's session (or a new member's join) expiry.
    Heartbeat { group: String, member: String },
    /// A pending member (KIP-394) that never came back.
    Pending { group: String, member: String },
    /// The join phase's end (rebalance timeout or initial delay).
    Join { group: String },
    /// Members that have not sent SyncGroup within the rebalance timeout are removed.
    Sync { group: String, generation: i32 },
    /// The periodic removal of expired offsets and of empty groups without offsets.
    Retention,
}

/// Deadlines in order; cancelled timers are skipped when they come up.
#[derive(Debug, Default)]
struct Timers {
    queue: BTreeSet<(u64, TimerId)>,
    live: HashMap<TimerId, TimerKind>,
    next: TimerId,
}

impl Timers {
    fn schedule(&mut self, at: u64, kind: TimerKind) -> TimerId {
        self.next += 1;
        self.queue.insert((at, self.next));
        self.live.insert(self.next, kind);
        self.next
    }
    fn cancel(&mut self, id: Option<TimerId>) {
        if let Some(id) = id {
            self.live.remove(&id);
        }
    }
    fn next_deadline(&mut self) -> Option<u64> {
        while let Some(&(at, id)) = self.queue.first() {
            if self.live.contains_key(&id) {
                return Some(at);
            }
            self.queue.pop_first();
        }
        None
    }
    fn pop_due(&mut self, now: u64) -> Option<TimerKind> {
        while let Some(&(at, id)) = self.queue.first() {
            if at > now {
                return None;
            }
            self.queue.pop_first();
            if let Some(kind) = self.live.remove(&id) {
                return Some(kind);
            }
        }
        None
    }
}

/// The group coordinator for the groups of one offsets partition.
pub struct GroupCoordinator {
    config: Config,
    store: Store,
    groups: BTreeMap<String, Group>,
    outputs: VecDeque<Output>,
    timers: Timers,
    ids: Box<dyn MemberIds>,
    now: u64,
}

impl fmt::Debug for GroupCoordinator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupCoordinator")
            .field("groups", &self.groups.len())
            .field("outputs", &self.outputs.len())
            .field("now", &self.now)
            .finish()
    }
}

impl GroupCoordinator {
    /// A coordinator with no groups.
    pub fn new(config: Config, ids: Box<dyn MemberIds>) -> GroupCoordinator {
        GroupCoordinator::load(config, ids, Store::new(), 0)
    }

    /// A coordinator that has loaded its partition: `store` is the replayed log. Groups with
    /// members come back Stable with their stored assignments, each member's session starting
    /// at `now` (a group with more members than `group_max_size` starts a rebalance at once, as
    /// Kafka's `onGroupLoaded`); groups with only offsets come back Empty.
    pub fn load(
        config: Config,
        ids: Box<dyn MemberIds>,
        store: Store,
        now: u64,
    ) -> GroupCoordinator {
        let mut c = GroupCoordinator {
            config,
            store,
            groups: BTreeMap::new(),
            outputs: VecDeque::new(),
            timers: Timers::default(),
            ids,
            now,
        };
        #[cfg(feature = "broken-variants")]
        if c.broken(Broken::LoadSkipsPendingTxnOffsets) {
            c.store.forget_pending();
        }
        let stored: Vec<(String, GroupMetadataValue)> = c
            .store
            .groups()
            .map(|(id, g)| (id.clone(), g.clone()))
            .collect();
        for (id, value) in stored {
            let mut g = Group::new(&id, now);
            g.generation = value.generation;
            g.protocol_type = Some(value.protocol_type.clone());
            g.protocol_name = value.protocol.clone();
            g.state_timestamp = value.current_state_timestamp;
            for m in &value.members {
                let protocols = match &value.protocol {
                    Some(p) => vec![JoinGroupProtocol {
                        name: p.clone(),
                        metadata: m.subscription.clone(),
                    }],
                    None => vec![],
                };
                g.add(Member {
                    id: m.member_id.clone(),
                    instance: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    session_timeout_ms: m.session_timeout,
                    rebalance_timeout_ms: m.rebalance_timeout,
                    protocol_type: value.protocol_type.clone(),
                    protocols,
                    assignment: m.assignment.clone(),
                    awaiting_join: None,
                    awaiting_sync: None,
                    is_new: false,
                    heartbeat: None,
                });
            }
            g.leader = value.leader.clone();
            g.subscribed = g.compute_subscribed();
            g.state = if g.members.is_empty() {
                GroupState::Empty
            } else {
                GroupState::Stable
            };
            let ids: Vec<String> = g.order.clone();
            let over_capacity = g.members.len() > c.config.group_max_size;
            c.groups.insert(id.clone(), g);
            if over_capacity {
                // Kafka's onGroupLoaded: a group loaded with more members than
                // group.max.size rebalances, so that the extra members are shed (their rejoins
                // are refused GROUP_MAX_SIZE_REACHED).
                c.prepare_rebalance(&id);
            }
            for m in ids {
                c.schedule_heartbeat(&id, &m, None);
            }
        }
        let offset_groups: Vec<String> = c.store.groups_with_offsets().cloned().collect();
        let pending_groups: Vec<String> = c
            .store
            .pending()
            .values()
            .flat_map(|t| t.offsets.keys().cloned())
            .collect();
        for id in offset_groups.into_iter().chain(pending_groups) {
            c.groups
                .entry(id.clone())
                .or_insert_with(|| Group::new(&id, now));
        }
        let first = now + c.config.offsets_retention_check_interval_ms;
        c.timers.schedule(first, TimerKind::Retention);
        c
    }

    /// The durable state, as replaying the appended entries gives it.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The next output, oldest first.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`GroupCoordinator::handle_timeout`] must next be called.
    pub fn poll_timeout(&mut self) -> Option<u64> {
        self.timers.next_deadline()
    }

    /// The state of a group, if the coordinator has it.
    pub fn group_state(&self, group: &str) -> Option<GroupState> {
        self.groups.get(group).map(|g| g.state)
    }

    /// Takes one request.
    pub fn handle_request(&mut self, now: u64, ctx: Context, request: Request) {
        self.now = self.now.max(now);
        let id = ctx.id;
        if !strings_fit(&ctx, &request, self.config.offset_metadata_max_bytes) {
            return self.refuse(id, &request, ErrorCode::InvalidRequest);
        }
        match request {
            Request::JoinGroup(r) => self.join_group(&ctx, r),
            Request::SyncGroup(r) => self.sync_group(id, r),
            Request::Heartbeat(r) => {
                let error = self.heartbeat(&r.message);
                self.respond(
                    id,
                    Response::Heartbeat(HeartbeatResponse { error_code: error }),
                );
            }
            Request::LeaveGroup(r) => {
                let resp = self.leave_group(r);
                self.respond(id, Response::LeaveGroup(resp));
            }
            Request::OffsetCommit(r) => {
                let resp = self.offset_commit(&r.message);
                self.respond(id, Response::OffsetCommit(resp));
            }
            Request::OffsetFetch(r) => {
                let resp = self.offset_fetch(&r.message);
                self.respond(id, Response::OffsetFetch(resp));
            }
            Request::TxnOffsetCommit(r) => {
                let resp = self.txn_offset_commit(&r.message);
                self.respond(id, Response::TxnOffsetCommit(resp));
            }
            Request::DescribeGroups(r) => {
                let resp = self.describe_groups(&r.message);
                self.respond(id, Response::DescribeGroups(resp));
            }
            Request::ListGroups(r) => {
                let resp = self.list_groups(&r.message);
                self.respond(id, Response::ListGroups(resp));
            }
            Request::DeleteGroups(r) => {
                let resp = self.delete_groups(&r.message);
                self.respond(id, Response::DeleteGroups(resp));
            }
        }
    }

    /// Whether the test-only broken variant `b` is switched on.
    fn broken(&self, b: Broken) -> bool {
        #[cfg(feature = "broken-variants")]
        {
            self.config.broken == Some(b)
        }
        #[cfg(not(feature = "broken-variants"))]
        {
            let _ = b;
            false
        }
    }

    /// The `group.instance.id` a member check compares: none when the broken variant that
    /// does not fence replaced static members is on.
    fn fence<'a>(&self, instance: Option<&'a str>) -> Option<&'a str> {
        instance.filter(|_| !self.broken(Broken::StaticInstanceNotChecked))
    }

    /// Fires every timer whose deadline is at or before `now`.
    pub fn handle_timeout(&mut self, now: u64) {
        self.now = self.now.max(now);
        while let Some(kind) = self.timers.pop_due(now) {
            match kind {
                TimerKind::Heartbeat { group, member } => self.expire_member(&group, &member),
                TimerKind::Pending { group, member } => {
                    let blocks = self.broken(Broken::ExpiredMemberBlocksRebalance);
                    if let Some(g) = self.groups.get_mut(&group) {
                        if g.pending.remove(&member).is_some() && !blocks {
                            self.check_join(&group);
                        }
                    }
                }
                TimerKind::Join { group } => self.join_deadline(&group),
                TimerKind::Sync { group, generation } => self.sync_deadline(&group, generation),
                TimerKind::Retention => {
                    self.expire_offsets();
                    let next = self.now + self.config.offsets_retention_check_interval_ms;
                    self.timers.schedule(next, TimerKind::Retention);
                }
            }
        }
    }

    /// A transaction marker for `producer_id` has been written to this partition (WriteTxnMarkers):
    /// its pending offsets become committed, or are dropped.
    pub fn handle_marker(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
    ) {
        self.append(LogEntry::Marker {
            producer_id,
            producer_epoch,
            commit,
            coordinator_epoch,
        });
    }

    /// Kafka's `validateGroupStatus`: INVALID_GROUP_ID (an empty id, except for the APIs that
    /// accept one: OffsetCommit, OffsetFetch, DescribeGroups, DeleteGroups), then
    /// NOT_COORDINATOR for a group on a partition this coordinator does not lead.
    fn group_status(&self, gid: &str, empty_ok: bool) -> Option<ErrorCode> {
        if gid.is_empty() && !empty_ok {
            return Some(ErrorCode::InvalidGroupId);
        }
        let owned = self.config.owned_partitions.as_ref()?;
        let partition = kgroup_protocol::coordinator_partition(
            &GroupId(gid.to_owned()),
            self.config.offsets_topic_num_partitions,
        );
        (!owned.contains(&partition)).then_some(ErrorCode::NotCoordinator)
    }

    /// Answers `request` with `error` and nothing else, in the response shape of its API.
    fn refuse(&mut self, id: RequestId, request: &Request, error: ErrorCode) {
        let response = match request {
            Request::JoinGroup(_) => Response::JoinGroup(Self::join_response(error, "")),
            Request::SyncGroup(_) => Response::SyncGroup(Self::sync_error(error)),
            Request::Heartbeat(_) => Response::Heartbeat(HeartbeatResponse { error_code: error }),
            Request::LeaveGroup(_) => Response::LeaveGroup(LeaveGroupResponse {
                error_code: error,
                members: vec![],
            }),
            Request::OffsetCommit(r) => Response::OffsetCommit(OffsetCommitResponse {
                partitions: each_partition(&r.message.partitions, error),
            }),
            Request::TxnOffsetCommit(r) => Response::TxnOffsetCommit(TxnOffsetCommitResponse {
                partitions: each_partition(&r.message.partitions, error),
            }),
            Request::OffsetFetch(_) => Response::OffsetFetch(OffsetFetchResponse {
                error_code: error,
                partitions: vec![],
            }),
            Request::DescribeGroups(r) => Response::DescribeGroups(DescribeGroupsResponse {
                groups: r
                    .message
                    .groups
                    .iter()
                    .map(|g| DescribedGroup {
                        error_code: error,
                        group_id: g.clone(),
                        group_state: String::new(),
                        protocol_type: String::new(),
                        protocol_data: String::new(),
                        members: vec![],
                    })
                    .collect(),
            }),
            Request::ListGroups(_) => Response::ListGroups(ListGroupsResponse {
                error_code: error,
                groups: vec![],
            }),
            Request::DeleteGroups(r) => Response::DeleteGroups(DeleteGroupsResponse {
                results: r
                    .message
                    .groups
                    .iter()
                    .map(|g| (g.clone(), error))
                    .collect(),
            }),
        };
        self.respond(id, response);
    }

    // ---- outputs -------------------------------------------------------------------------

    fn respond(&mut self, id: RequestId, response: Response) {
        self.outputs.push_back(Output::Response { id, response });
    }

    fn append(&mut self, entry: LogEntry) {
        self.store
            .replay(&entry)
            .expect("the coordinator writes only entries of the right shape");
        self.outputs.push_back(Output::Append(entry));
    }

    fn store_group(&mut self, group: &str) {
        let Some(g) = self.groups.get(group) else {
            return;
        };
        let value = g.record();
        self.append(LogEntry::Plain(Record {
            key: RecordKey::GroupMetadata {
                group: group.to_owned(),
            },
            value: Some(RecordValue::GroupMetadata(value)),
        }));
    }

    fn join_response(error: ErrorCode, member: &str) -> JoinGroupResponse {
        JoinGroupResponse {
            error_code: error,
            generation_id: GenerationId::UNKNOWN,
            protocol_type: None,
            protocol_name: None,
            leader: MemberId(String::new()),
            skip_assignment: false,
            member_id: MemberId(member.to_owned()),
            members: vec![],
        }
    }

    fn sync_error(error: ErrorCode) -> SyncGroupResponse {
        SyncGroupResponse {
            error_code: error,
            protocol_type: None,
            protocol_name: None,
            assignment: vec![],
        }
    }

    // ---- timers --------------------------------------------------------------------------

    /// Kafka's `completeAndScheduleNextHeartbeatExpiration`: the member's session starts over.
    fn schedule_heartbeat(&mut self, group: &str, member: &str, timeout_ms: Option<i32>) {
        let Some(m) = self
            .groups
            .get_mut(group)
            .and_then(|g| g.members.get_mut(member))
        else {
            return;
        };
        self.timers.cancel(m.heartbeat.take());
        let timeout = timeout_ms.unwrap_or(m.session_timeout_ms).max(0) as u64;
        m.heartbeat = Some(self.timers.schedule(
            self.now + timeout,
            TimerKind::Heartbeat {
                group: group.to_owned(),
                member: member.to_owned(),
            },
        ));
    }

    /// A member's timer fired: a new member that never completed a join, or a member that is
    /// not waiting in a rebalance and sent nothing for its session timeout, is removed.
    fn expire_member(&mut self, group: &str, member: &str) {
        let Some(m) = self
            .groups
            .get_mut(group)
            .and_then(|g| g.members.get_mut(member))
        else {
            return;
        };
        m.heartbeat = None;
        let waiting = m.awaiting_join.is_some() || m.awaiting_sync.is_some();
        if m.is_new || !waiting {
            if self.broken(Broken::ExpiryWithoutRebalance)
                && self.groups[group].state == GroupState::Stable
            {
                let g = self.groups.get_mut(group).expect("present");
                g.remove(member);
                return;
            }
            self.remove_member(group, member);
        }
    }

    // ---- JoinGroup -----------------------------------------------------------------------

    fn join_group(&mut self, ctx: &Context, r: Versioned<JoinGroupRequest>) {
        let version = r.api_version;
        let mut req = r.message;
        if version == 0 {
            // JoinGroup v0 has no rebalance timeout: Kafka uses the session timeout.
            req.rebalance_timeout_ms = req.session_timeout_ms;
        }
        let member = req.member_id.0.clone();
        let reply = |c: &mut Self, e| {
            c.respond(ctx.id, Response::JoinGroup(Self::join_response(e, &member)))
        };
        if let Some(e) = self.group_status(&req.group_id.0, false) {
            return reply(self, e);
        }
        let session = req.session_timeout_ms;
        if session < self.config.group_min_session_timeout_ms
            || session > self.config.group_max_session_timeout_ms
        {
            return reply(self, ErrorCode::InvalidSessionTimeout);
        }
        let gid = req.group_id.0.clone();
        let unknown = member.is_empty();
        if !self.groups.contains_key(&gid) {
            if !unknown {
                return reply(self, ErrorCode::UnknownMemberId);
            }
            self.groups.insert(gid.clone(), Group::new(&gid, self.now));
        }
        let g = self.groups.get(&gid).expect("present");
        let accept = match g.state {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                g.members
                    .get(&member)
                    .is_some_and(|m| m.awaiting_join.is_some())
                    || g.awaiting_join() < self.config.group_max_size
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                g.has(&member) || g.members.len() < self.config.group_max_size
            }
        };
        if !accept {
            if g.has(&member) {
                self.remove_member(&gid, &member);
            }
            let g = self.groups.get_mut(&gid).expect("present");
            if let Some(t) = g.pending.remove(&member) {
                self.timers.cancel(Some(t));
            }
            let resp = Self::join_response(ErrorCode::GroupMaxSizeReached, "");
            self.respond(ctx.id, Response::JoinGroup(resp));
            // As after any JoinGroup: the refused member (a pending one, say) may have been all
            // the join phase was waiting for.
            return self.check_join(&gid);
        }
        if unknown {
            self.new_member_join(ctx, version, &gid, req);
        } else {
            self.current_member_join(ctx, version, &gid, req);
        }
        self.check_join(&gid);
    }

    fn new_member_join(&mut self, ctx: &Context, version: i16, gid: &str, req: JoinGroupRequest) {
        let g = &self.groups[gid];
        if g.state == GroupState::Dead {
            let resp = Self::join_response(ErrorCode::CoordinatorNotAvailable, "");
            return self.respond(ctx.id, Response::JoinGroup(resp));
        }
        if !g.supports(&req.protocol_type, &req.protocols) {
            let resp = Self::join_response(ErrorCode::InconsistentGroupProtocol, "");
            return self.respond(ctx.id, Response::JoinGroup(resp));
        }
        let prefix = match &req.group_instance_id {
            Some(i) => i.0.clone(),
            None => ctx.client_id.clone(),
        };
        let new_id = format!("{prefix}-{}", self.ids.next_suffix());
        match &req.group_instance_id {
            Some(instance) => match g.statics.get(&instance.0).cloned() {
                Some(old) => self.replace_static_member(ctx, version, gid, &old, &new_id, req),
                None => self.add_member_and_rebalance(ctx, version, gid, &new_id, req),
            },
            None if version >= 4 => {
                // KIP-394: the member must come back with the id it is given.
                let timer = self.timers.schedule(
                    self.now + req.session_timeout_ms.max(0) as u64,
                    TimerKind::Pending {
                        group: gid.to_owned(),
                        member: new_id.clone(),
                    },
                );
                let g = self.groups.get_mut(gid).expect("present");
                g.pending.insert(new_id.clone(), timer);
                let resp = Self::join_response(ErrorCode::MemberIdRequired, &new_id);
                self.respond(ctx.id, Response::JoinGroup(resp));
            }
            None => self.add_member_and_rebalance(ctx, version, gid, &new_id, req),
        }
    }

    fn current_member_join(
        &mut self,
        ctx: &Context,
        version: i16,
        gid: &str,
        req: JoinGroupRequest,
    ) {
        let member = req.member_id.0.clone();
        let instance = req.group_instance_id.as_ref().map(|i| i.0.clone());
        let g = &self.groups[gid];
        let error = |c: &mut Self, e| {
            c.respond(ctx.id, Response::JoinGroup(Self::join_response(e, &member)))
        };
        if g.state == GroupState::Dead {
            return error(self, ErrorCode::CoordinatorNotAvailable);
        }
        if !g.supports(&req.protocol_type, &req.protocols) {
            return error(self, ErrorCode::InconsistentGroupProtocol);
        }
        if g.pending.contains_key(&member) {
            if instance.is_some() {
                // A pending member is dynamic (KIP-394 applies to members without an instance
                // id); Kafka throws an IllegalStateException here, which its request handler
                // answers UNKNOWN_SERVER_ERROR, changing nothing.
                let resp = Self::join_response(ErrorCode::UnknownServerError, "");
                return self.respond(ctx.id, Response::JoinGroup(resp));
            }
            let g = self.groups.get_mut(gid).expect("present");
            let timer = g.pending.remove(&member);
            self.timers.cancel(timer);
            return self.add_member_and_rebalance(ctx, version, gid, &member, req);
        }
        if let Some(e) = g.member_error(&member, self.fence(instance.as_deref())) {
            return error(self, e);
        }
        match g.state {
            GroupState::PreparingRebalance => {
                self.update_member_and_rebalance(ctx, version, gid, req)
            }
            GroupState::CompletingRebalance => {
                if g.members[&member].same_protocols(&req.protocols) {
                    // A retry: answer with the current generation (the leader gets the list).
                    let resp = self.current_generation_response(gid, &member, g.is_leader(&member));
                    self.respond(ctx.id, Response::JoinGroup(resp));
                } else {
                    self.update_member_and_rebalance(ctx, version, gid, req);
                }
            }
            GroupState::Stable => {
                if g.is_leader(&member) || !g.members[&member].same_protocols(&req.protocols) {
                    // The leader rejoining (it may have seen a metadata change) or a member
                    // whose subscription changed starts a rebalance.
                    self.update_member_and_rebalance(ctx, version, gid, req);
                } else {
                    let resp = self.current_generation_response(gid, &member, false);
                    self.respond(ctx.id, Response::JoinGroup(resp));
                }
            }
            GroupState::Empty | GroupState::Dead => error(self, ErrorCode::UnknownMemberId),
        }
    }

    fn current_generation_response(
        &self,
        gid: &str,
        member: &str,
        with_members: bool,
    ) -> JoinGroupResponse {
        let g = &self.groups[gid];
        JoinGroupResponse {
            error_code: ErrorCode::None,
            generation_id: GenerationId(g.generation),
            protocol_type: g.protocol_type.clone(),
            protocol_name: g.protocol_name.clone(),
            leader: MemberId(g.leader.clone().unwrap_or_default()),
            skip_assignment: false,
            member_id: MemberId(member.to_owned()),
            members: if with_members {
                g.member_list()
            } else {
                vec![]
            },
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        ctx: &Context,
        version: i16,
        gid: &str,
        id: &str,
        req: JoinGroupRequest,
    ) {
        let g = self.groups.get_mut(gid).expect("present");
        if g.state == GroupState::PreparingRebalance && g.generation == 0 {
            g.new_member_added = true;
        }
        g.add(Member {
            id: id.to_owned(),
            instance: req.group_instance_id.map(|i| i.0),
            client_id: ctx.client_id.clone(),
            client_host: ctx.client_host.clone(),
            session_timeout_ms: req.session_timeout_ms,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            protocol_type: req.protocol_type,
            protocols: req.protocols,
            assignment: vec![],
            awaiting_join: Some((ctx.id, version)),
            awaiting_sync: None,
            is_new: true,
            heartbeat: None,
        });
        let timeout = self.config.new_member_join_timeout_ms;
        self.schedule_heartbeat(gid, id, Some(timeout));
        self.maybe_prepare_rebalance(gid);
    }

    fn update_member_and_rebalance(
        &mut self,
        ctx: &Context,
        version: i16,
        gid: &str,
        req: JoinGroupRequest,
    ) {
        let g = self.groups.get_mut(gid).expect("present");
        let id = &req.member_id.0;
        let m = g.members.get_mut(id).expect("validated");
        m.session_timeout_ms = req.session_timeout_ms;
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        g.set_protocols(id, req.protocols);
        if let Some((old, _)) = g.set_joining(id, Some((ctx.id, version))) {
            self.outputs.push_back(Output::Abandoned { id: old });
        }
        self.maybe_prepare_rebalance(gid);
    }

    /// KIP-345: a known `group.instance.id` joins with an empty member id. The new id takes the
    /// old member's place; requests the old id was waiting on are answered FENCED_INSTANCE_ID.
    fn replace_static_member(
        &mut self,
        ctx: &Context,
        version: i16,
        gid: &str,
        old: &str,
        new: &str,
        req: JoinGroupRequest,
    ) {
        let keep_old = self.broken(Broken::StaticRejoinWithoutFencing);
        let g = self.groups.get_mut(gid).expect("present");
        let leader_before = g.leader.clone();
        let fenced_join = g.set_joining(old, None);
        g.set_protocols(old, req.protocols);
        let Some(mut m) = g.members.remove(old) else {
            return;
        };
        let pos = g.order.iter().position(|x| x == old);
        let fenced_sync = m.awaiting_sync.take();
        m.id = new.to_owned();
        let session_before = m.session_timeout_ms;
        m.session_timeout_ms = req.session_timeout_ms;
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        if let Some(p) = pos {
            g.order[p] = new.to_owned();
        }
        if let Some(i) = &m.instance {
            g.statics.insert(i.clone(), new.to_owned());
        }
        // Kafka leaves the old id among the members that have not synced: if it had not, the
        // sync deadline rebalances the group, whether or not the new id syncs.
        if g.is_leader(old) {
            g.leader = Some(new.to_owned());
        }
        let heartbeat = m.heartbeat.take();
        let twin = keep_old.then(|| Member {
            id: old.to_owned(),
            instance: None,
            awaiting_join: None,
            awaiting_sync: None,
            heartbeat: None,
            ..m.clone()
        });
        g.members.insert(new.to_owned(), m);
        if let Some(twin) = twin {
            g.add(twin);
        }
        self.timers.cancel(heartbeat);
        if keep_old {
            self.schedule_heartbeat(gid, old, None);
        }
        if let Some((id, _)) = fenced_join {
            let resp = Self::join_response(ErrorCode::FencedInstanceId, old);
            self.respond(id, Response::JoinGroup(resp));
        }
        if let Some(id) = fenced_sync {
            self.respond(
                id,
                Response::SyncGroup(Self::sync_error(ErrorCode::FencedInstanceId)),
            );
        }
        // Kafka restarts the session before it takes the request's timeouts: this session is as
        // long as the old member's; the new timeout counts from the next one.
        self.schedule_heartbeat(gid, new, Some(session_before));
        let g = self.groups.get_mut(gid).expect("present");
        match g.state {
            GroupState::Stable => {
                if g.select_protocol() == g.protocol_name {
                    // Nothing the group agreed on changes: store the new id, no rebalance.
                    // Before v9 the answer names the leader as it was, so a replaced leader does
                    // not compute an assignment a Stable group would not hand out; from v9 it
                    // names the new leader with the member list and skip_assignment (KIP-814).
                    if !self.broken(Broken::StaticReplacementNotStored) {
                        self.store_group(gid);
                    }
                    let g = &self.groups[gid];
                    let lead = g.is_leader(new) && version >= 9;
                    let leader_now = g.leader.clone();
                    let leader_before = if version >= 9 {
                        leader_now
                    } else {
                        leader_before
                    };
                    let resp = JoinGroupResponse {
                        error_code: ErrorCode::None,
                        generation_id: GenerationId(g.generation),
                        protocol_type: g.protocol_type.clone(),
                        protocol_name: g.protocol_name.clone(),
                        leader: MemberId(leader_before.unwrap_or_default()),
                        skip_assignment: lead,
                        member_id: MemberId(new.to_owned()),
                        members: if lead { g.member_list() } else { vec![] },
                    };
                    self.respond(ctx.id, Response::JoinGroup(resp));
                } else {
                    self.mark_joining(gid, new, ctx.id, version);
                    self.maybe_prepare_rebalance(gid);
                }
            }
            GroupState::CompletingRebalance => {
                // The leader may already have been sent the old id; start over.
                self.mark_joining(gid, new, ctx.id, version);
                self.prepare_rebalance(gid);
            }
            GroupState::PreparingRebalance => self.mark_joining(gid, new, ctx.id, version),
            GroupState::Empty | GroupState::Dead => {
                // A group without members has no static member to replace.
                self.mark_joining(gid, new, ctx.id, version);
            }
        }
    }

    fn mark_joining(&mut self, gid: &str, member: &str, id: RequestId, version: i16) {
        let Some(g) = self.groups.get_mut(gid) else {
            return;
        };
        if let Some((old, _)) = g.set_joining(member, Some((id, version))) {
            self.outputs.push_back(Output::Abandoned { id: old });
        }
    }

    /// Kafka's `maybePrepareRebalance`: from Empty, Stable or CompletingRebalance.
    fn maybe_prepare_rebalance(&mut self, gid: &str) {
        let can = matches!(
            self.groups[gid].state,
            GroupState::Empty | GroupState::Stable | GroupState::CompletingRebalance
        );
        if can {
            self.prepare_rebalance(gid);
        }
    }

    /// Kafka's `prepareRebalance`: SyncGroups waiting in CompletingRebalance get
    /// REBALANCE_IN_PROGRESS, and the join phase starts (with KIP-134's delay for an empty
    /// group).
    fn prepare_rebalance(&mut self, gid: &str) {
        let now = self.now;
        let delay = self.config.group_initial_rebalance_delay_ms;
        let g = self.groups.get_mut(gid).expect("present");
        let mut answers = vec![];
        if g.state == GroupState::CompletingRebalance {
            // In join order, so that the outputs do not depend on hashing.
            for id in &g.order {
                let m = g.members.get_mut(id).expect("listed");
                m.assignment.clear();
                if let Some(req) = m.awaiting_sync.take() {
                    answers.push((req, id.clone()));
                }
            }
        }
        // Kafka answers the waiting SyncGroups, restarting each member's session, before it sets
        // the join phase's timer: timers due at the same moment fire in the order they were set.
        for (req, member) in answers {
            let resp = Self::sync_error(ErrorCode::RebalanceInProgress);
            self.respond(req, Response::SyncGroup(resp));
            self.schedule_heartbeat(gid, &member, None);
        }
        let g = self.groups.get_mut(gid).expect("present");
        let sync_timer = g.sync_timer.take();
        let join_timer = g.join_timer.take().map(|(t, _)| t);
        let wait = if g.state == GroupState::Empty {
            JoinWait::Initial {
                remaining_ms: i64::from((g.rebalance_timeout_ms() - delay).max(0)),
            }
        } else {
            JoinWait::Rebalance
        };
        let after = match wait {
            JoinWait::Initial { .. } => delay,
            JoinWait::Rebalance => g.rebalance_timeout_ms(),
        };
        g.state = GroupState::PreparingRebalance;
        g.state_timestamp = now as i64;
        self.timers.cancel(sync_timer);
        self.timers.cancel(join_timer);
        let t = self.timers.schedule(
            now + after.max(0) as u64,
            TimerKind::Join {
                group: gid.to_owned(),
            },
        );
        self.groups.get_mut(gid).expect("present").join_timer = Some((t, wait));
        // As Kafka's purgatory tries a delayed join at once: it may already be complete.
        self.check_join(gid);
    }

    /// The join phase ends early when every member has rejoined (not during the initial delay,
    /// which always runs its course).
    fn check_join(&mut self, gid: &str) {
        let Some(g) = self.groups.get(gid) else {
            return;
        };
        let rebalance = matches!(g.join_timer, Some((_, JoinWait::Rebalance)));
        if g.state == GroupState::PreparingRebalance && rebalance && g.all_joined() {
            self.complete_join(gid);
        }
    }

    fn join_deadline(&mut self, gid: &str) {
        let Some(g) = self.groups.get_mut(gid) else {
            return;
        };
        let Some((_, wait)) = g.join_timer.take() else {
            return;
        };
        if let JoinWait::Initial { remaining_ms } = wait {
            if g.new_member_added && remaining_ms > 0 {
                // Members are still arriving: wait another delay, within the rebalance timeout.
                g.new_member_added = false;
                let delay = i64::from(self.config.group_initial_rebalance_delay_ms);
                let next = delay.min(remaining_ms);
                let t = self.timers.schedule(
                    self.now + next.max(0) as u64,
                    TimerKind::Join {
                        group: gid.to_owned(),
                    },
                );
                g.join_timer = Some((
                    t,
                    JoinWait::Initial {
                        remaining_ms: (remaining_ms - next).max(0),
                    },
                ));
                return;
            }
        }
        self.complete_join(gid);
    }

    /// Kafka's `onCompleteJoin`: dynamic members that did not rejoin are dropped, a new
    /// generation starts, and every waiting JoinGroup is answered (the leader with the member
    /// list).
    fn complete_join(&mut self, gid: &str) {
        let now = self.now;
        let g = self.groups.get_mut(gid).expect("present");
        if let Some((t, _)) = g.join_timer.take() {
            self.timers.cancel(Some(t));
        }
        let dropped: Vec<String> = g
            .order
            .iter()
            .filter(|id| {
                let m = &g.members[*id];
                m.awaiting_join.is_none() && m.instance.is_none()
            })
            .cloned()
            .collect();
        for id in &dropped {
            if let Some(m) = g.remove(id) {
                self.timers.cancel(m.heartbeat);
            }
        }
        let g = self.groups.get_mut(gid).expect("present");
        // Kafka's `maybeElectNewJoinedLeader`: the leader must be a member that rejoined;
        // otherwise the first one that did. When none did, the leader stays as it was.
        let leader_joined = g
            .leader
            .as_ref()
            .and_then(|l| g.members.get(l))
            .is_some_and(|m| m.awaiting_join.is_some());
        let joined = g
            .order
            .iter()
            .find(|id| g.members[*id].awaiting_join.is_some())
            .cloned();
        let elected = leader_joined || joined.is_some();
        if !leader_joined && joined.is_some() {
            g.leader = joined;
        }
        if !elected && !g.members.is_empty() {
            // Only static members that did not rejoin are left: wait another rebalance timeout
            // for their sessions to end or for them to come back.
            let t = self.timers.schedule(
                now + g.rebalance_timeout_ms().max(0) as u64,
                TimerKind::Join {
                    group: gid.to_owned(),
                },
            );
            g.join_timer = Some((t, JoinWait::Rebalance));
            return;
        }
        g.generation += 1;
        g.state_timestamp = now as i64;
        g.pending_sync.clear();
        if g.members.is_empty() {
            g.protocol_name = None;
            g.state = GroupState::Empty;
            self.store_group(gid);
            return;
        }
        g.protocol_name = g.select_protocol();
        g.subscribed = g.compute_subscribed();
        g.state = GroupState::CompletingRebalance;
        let list = g.member_list();
        let mut answers = vec![];
        let ids = g.order.clone();
        for id in &ids {
            let m = g.members.get_mut(id).expect("listed");
            m.is_new = false;
            let join = m.awaiting_join.take();
            g.joining -= usize::from(join.is_some());
            if let Some((req, _)) = join {
                let lead = g.leader.as_deref() == Some(id.as_str());
                answers.push((
                    req,
                    JoinGroupResponse {
                        error_code: ErrorCode::None,
                        generation_id: GenerationId(g.generation),
                        protocol_type: g.protocol_type.clone(),
                        protocol_name: g.protocol_name.clone(),
                        leader: MemberId(g.leader.clone().unwrap_or_default()),
                        skip_assignment: false,
                        member_id: MemberId(id.clone()),
                        members: if lead { list.clone() } else { vec![] },
                    },
                ));
            }
            g.pending_sync.insert(id.clone());
        }
        let generation = g.generation;
        let timeout = g.rebalance_timeout_ms().max(0) as u64;
        for (req, resp) in answers {
            self.respond(req, Response::JoinGroup(resp));
        }
        for id in &ids {
            self.schedule_heartbeat(gid, id, None);
        }
        let t = self.timers.schedule(
            now + timeout,
            TimerKind::Sync {
                group: gid.to_owned(),
                generation,
            },
        );
        self.groups.get_mut(gid).expect("present").sync_timer = Some(t);
    }

    /// Members that have not sent SyncGroup within the rebalance timeout are removed and the
    /// group rebalances.
    fn sync_deadline(&mut self, gid: &str, generation: i32) {
        let Some(g) = self.groups.get_mut(gid) else {
            return;
        };
        g.sync_timer = None;
        let live = matches!(
            g.state,
            GroupState::CompletingRebalance | GroupState::Stable
        );
        if g.generation != generation || !live || g.pending_sync.is_empty() {
            return;
        }
        let late: Vec<String> = g.pending_sync.drain().collect();
        for id in late {
            if let Some(m) = g.remove(&id) {
                self.timers.cancel(m.heartbeat);
            }
        }
        self.prepare_rebalance(gid);
    }

    /// Kafka's `removeMemberAndUpdateGroup`: a waiting JoinGroup is answered
    /// UNKNOWN_MEMBER_ID, and the group rebalances (or its join phase may now be complete).
    fn remove_member(&mut self, gid: &str, member: &str) {
        let Some(g) = self.groups.get_mut(gid) else {
            return;
        };
        let Some(m) = g.remove(member) else { return };
        self.timers.cancel(m.heartbeat);
        if let Some((id, _)) = m.awaiting_join {
            let resp = Self::join_response(ErrorCode::UnknownMemberId, "");
            self.respond(id, Response::JoinGroup(resp));
        }
        if let Some(id) = m.awaiting_sync {
            // Kafka answers a removed member's waiting JoinGroup but not its SyncGroup.
            self.outputs.push_back(Output::Abandoned { id });
        }
        match self.groups[gid].state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance(gid)
            }
            GroupState::PreparingRebalance => self.check_join(gid),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    // ---- SyncGroup -----------------------------------------------------------------------

    fn sync_group(&mut self, id: RequestId, r: Versioned<SyncGroupRequest>) {
        let req = r.message;
        let gid = req.group_id.0.clone();
        let member = req.member_id.0.clone();
        let instance = req.group_instance_id.as_ref().map(|i| i.0.as_str());
        let reply = |c: &mut Self, e| c.respond(id, Response::SyncGroup(Self::sync_error(e)));
        if let Some(e) = self.group_status(&gid, false) {
            return reply(self, e);
        }
        let Some(g) = self.groups.get(&gid) else {
            return reply(self, ErrorCode::UnknownMemberId);
        };
        if g.state == GroupState::Dead {
            return reply(self, ErrorCode::CoordinatorNotAvailable);
        }
        if let Some(e) = g.member_error(&member, self.fence(instance)) {
            return reply(self, e);
        }
        if req.generation_id.0 != g.generation {
            return reply(self, ErrorCode::IllegalGeneration);
        }
        let type_differs = req
            .protocol_type
            .as_ref()
            .is_some_and(|t| g.protocol_type.as_ref() != Some(t));
        let name_differs = req
            .protocol_name
            .as_ref()
            .is_some_and(|n| g.protocol_name.as_ref() != Some(n));
        if type_differs || name_differs {
            return reply(self, ErrorCode::InconsistentGroupProtocol);
        }
        match g.state {
            GroupState::Empty => reply(self, ErrorCode::UnknownMemberId),
            GroupState::PreparingRebalance => reply(self, ErrorCode::RebalanceInProgress),
            GroupState::CompletingRebalance => {
                let is_leader = g.is_leader(&member);
                let g = self.groups.get_mut(&gid).expect("present");
                g.pending_sync.remove(&member);
                let m = g.members.get_mut(&member).expect("validated");
                if let Some(old) = m.awaiting_sync.replace(id) {
                    self.outputs.push_back(Output::Abandoned { id: old });
                }
                if is_leader {
                    self.set_assignment(&gid, req.assignments);
                }
            }
            GroupState::Stable => {
                let g = self.groups.get_mut(&gid).expect("present");
                g.pending_sync.remove(&member);
                let resp = SyncGroupResponse {
                    error_code: ErrorCode::None,
                    protocol_type: g.protocol_type.clone(),
                    protocol_name: g.protocol_name.clone(),
                    assignment: g.members[&member].assignment.clone(),
                };
                self.respond(id, Response::SyncGroup(resp));
                self.schedule_heartbeat(&gid, &member, None);
            }
            GroupState::Dead => reply(self, ErrorCode::CoordinatorNotAvailable),
        }
    }

    /// The leader's assignment: members it left out get an empty one; the group is stored,
    /// becomes Stable, and every waiting SyncGroup is answered.
    fn set_assignment(&mut self, gid: &str, assignments: Vec<SyncGroupAssignment>) {
        let now = self.now;
        let g = self.groups.get_mut(gid).expect("present");
        let mut given: HashMap<String, Vec<u8>> = assignments
            .into_iter()
            .map(|a| (a.member_id.0, a.assignment))
            .collect();
        for m in g.members.values_mut() {
            m.assignment = given.remove(&m.id).unwrap_or_default();
        }
        // The record is built before the group turns Stable, as Kafka's storeGroup is: it
        // carries the time the join phase completed.
        self.store_group(gid);
        let g = self.groups.get_mut(gid).expect("present");
        g.state = GroupState::Stable;
        g.state_timestamp = now as i64;
        let mut answers = vec![];
        let ids = g.order.clone();
        for id in &ids {
            let m = g.members.get_mut(id).expect("listed");
            if let Some(req) = m.awaiting_sync.take() {
                answers.push((
                    req,
                    id.clone(),
                    SyncGroupResponse {
                        error_code: ErrorCode::None,
                        protocol_type: g.protocol_type.clone(),
                        protocol_name: g.protocol_name.clone(),
                        assignment: m.assignment.clone(),
                    },
                ));
            }
        }
        for (req, member, resp) in answers {
            self.respond(req, Response::SyncGroup(resp));
            self.schedule_heartbeat(gid, &member, None);
        }
    }

    // ---- Heartbeat, LeaveGroup -----------------------------------------------------------

    fn heartbeat(&mut self, req: &HeartbeatRequest) -> ErrorCode {
        let gid = req.group_id.0.as_str();
        if let Some(e) = self.group_status(gid, false) {
            return e;
        }
        let member = req.member_id.0.as_str();
        let instance = req.group_instance_id.as_ref().map(|i| i.0.as_str());
        let Some(g) = self.groups.get(gid) else {
            return ErrorCode::UnknownMemberId;
        };
        if g.state == GroupState::Dead {
            return ErrorCode::CoordinatorNotAvailable;
        }
        if let Some(e) = g.member_error(member, self.fence(instance)) {
            return e;
        }
        if req.generation_id.0 != g.generation {
            return ErrorCode::IllegalGeneration;
        }
        let error = match g.state {
            GroupState::Empty => return ErrorCode::UnknownMemberId,
            GroupState::PreparingRebalance => ErrorCode::RebalanceInProgress,
            GroupState::CompletingRebalance | GroupState::Stable => ErrorCode::None,
            GroupState::Dead => return ErrorCode::CoordinatorNotAvailable,
        };
        let (gid, member) = (gid.to_owned(), member.to_owned());
        self.schedule_heartbeat(&gid, &member, None);
        error
    }

    fn leave_group(&mut self, r: Versioned<LeaveGroupRequest>) -> LeaveGroupResponse {
        let req = r.message;
        let gid = req.group_id.0.clone();
        let top = |e| LeaveGroupResponse {
            error_code: e,
            members: vec![],
        };
        if let Some(e) = self.group_status(&gid, false) {
            return top(e);
        }
        let mut results = vec![];
        match self.groups.get(&gid).map(|g| g.state) {
            None => {
                for m in &req.members {
                    results.push((m, ErrorCode::UnknownMemberId));
                }
            }
            Some(GroupState::Dead) => return top(ErrorCode::CoordinatorNotAvailable),
            Some(_) => {
                for m in &req.members {
                    let error = self.leave_one(&gid, m);
                    results.push((m, error));
                }
            }
        }
        if r.api_version < 3 {
            // One member, its outcome as the top-level error.
            let error = results.first().map_or(ErrorCode::None, |(_, e)| *e);
            return top(error);
        }
        LeaveGroupResponse {
            error_code: ErrorCode::None,
            members: results
                .into_iter()
                .map(|(m, error_code)| LeaveGroupMemberResponse {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    error_code,
                })
                .collect(),
        }
    }

    fn leave_one(&mut self, gid: &str, m: &LeaveGroupMember) -> ErrorCode {
        let g = &self.groups[gid];
        let member = m.member_id.0.as_str();
        let instance = m.group_instance_id.as_ref().map(|i| i.0.as_str());
        if member.is_empty() {
            // Administrative removal by instance id (KIP-345).
            return match instance.and_then(|i| g.statics.get(i)).cloned() {
                Some(current) => {
                    self.remove_member(gid, &current);
                    ErrorCode::None
                }
                None => ErrorCode::UnknownMemberId,
            };
        }
        if g.pending.contains_key(member) {
            let g = self.groups.get_mut(gid).expect("present");
            let timer = g.pending.remove(member);
            self.timers.cancel(timer);
            self.check_join(gid);
            return ErrorCode::None;
        }
        if let Some(e) = g.member_error(member, self.fence(instance)) {
            return e;
        }
        let member = member.to_owned();
        self.remove_member(gid, &member);
        ErrorCode::None
    }

    // ---- offsets -------------------------------------------------------------------------

    /// Kafka's `validateOffsetCommit`.
    fn commit_error(
        g: &Group,
        generation: i32,
        member: &str,
        instance: Option<&str>,
        transactional: bool,
    ) -> Option<ErrorCode> {
        if g.state == GroupState::Dead {
            return Some(ErrorCode::CoordinatorNotAvailable);
        }
        if generation < 0 && g.state == GroupState::Empty {
            // An admin client, or a consumer without group management: it may commit for an
            // Empty group whatever member or instance id it names (KAFKA-14201).
            return None;
        }
        if generation >= 0 || !member.is_empty() || instance.is_some() {
            if let Some(e) = g.member_error(member, instance) {
                return Some(e);
            }
            if generation != g.generation {
                return Some(ErrorCode::IllegalGeneration);
            }
            None
        } else if !transactional && g.state != GroupState::Empty {
            // Only members commit for a group with members.
            Some(ErrorCode::UnknownMemberId)
        } else {
            None
        }
    }

    /// Writes one offset commit record per partition (transactional, pending until its marker,
    /// when a producer is given); metadata over `offset.metadata.max.bytes` is refused per
    /// partition with OFFSET_METADATA_TOO_LARGE.
    fn write_offsets(
        &mut self,
        gid: &str,
        partitions: &[OffsetCommitPartition],
        producer: Option<(i64, i16)>,
    ) -> Vec<(TopicPartition, ErrorCode)> {
        let mut out = vec![];
        for p in partitions {
            let too_large = p
                .committed_metadata
                .as_ref()
                .is_some_and(|m| java_length(m) > self.config.offset_metadata_max_bytes);
            if too_large {
                out.push((p.partition.clone(), ErrorCode::OffsetMetadataTooLarge));
                continue;
            }
            let record = Record {
                key: RecordKey::OffsetCommit {
                    group: gid.to_owned(),
                    topic: p.partition.topic.clone(),
                    partition: p.partition.partition,
                },
                value: Some(RecordValue::OffsetCommit(OffsetCommitValue {
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata: p.committed_metadata.clone().unwrap_or_default(),
                    commit_timestamp: self.now as i64,
                    expire_timestamp: -1,
                })),
            };
            self.append(match producer {
                None => LogEntry::Plain(record),
                Some((producer_id, producer_epoch)) => LogEntry::Transactional {
                    producer_id,
                    producer_epoch,
                    record,
                },
            });
            out.push((p.partition.clone(), ErrorCode::None));
        }
        out
    }

    fn offset_commit(&mut self, req: &OffsetCommitRequest) -> OffsetCommitResponse {
        let all = |e| OffsetCommitResponse {
            partitions: each_partition(&req.partitions, e),
        };
        let gid = req.group_id.0.clone();
        let generation = req.generation_id.0;
        let member = req.member_id.0.as_str();
        let instance = req.group_instance_id.as_ref().map(|i| i.0.as_str());
        if let Some(e) = self.group_status(&gid, true) {
            return all(e);
        }
        if !self.groups.contains_key(&gid) {
            if generation >= 0 {
                // A member of a group the coordinator does not have: an old generation.
                return all(ErrorCode::IllegalGeneration);
            }
            // A standalone commit (no group management): the group is created Empty.
            self.groups.insert(gid.clone(), Group::new(&gid, self.now));
        }
        let g = &self.groups[&gid];
        if !self.broken(Broken::CommitWithoutGenerationCheck) {
            if let Some(e) = Self::commit_error(g, generation, member, self.fence(instance), false)
            {
                return all(e);
            }
            if g.state == GroupState::CompletingRebalance {
                // The member has its new generation but not its assignment yet.
                return all(ErrorCode::RebalanceInProgress);
            }
        }
        if g.has(member) {
            let member = member.to_owned();
            self.schedule_heartbeat(&gid, &member, None);
        }
        OffsetCommitResponse {
            partitions: self.write_offsets(&gid, &req.partitions, None),
        }
    }

    fn txn_offset_commit(&mut self, req: &TxnOffsetCommitRequest) -> TxnOffsetCommitResponse {
        let all = |e| TxnOffsetCommitResponse {
            partitions: each_partition(&req.partitions, e),
        };
        let gid = req.group_id.0.clone();
        if let Some(e) = self.group_status(&gid, false) {
            return all(e);
        }
        self.groups
            .entry(gid.clone())
            .or_insert_with(|| Group::new(&gid, self.now));
        let g = &self.groups[&gid];
        let member = req.member_id.0.as_str();
        let instance = req.group_instance_id.as_ref().map(|i| i.0.as_str());
        if let Some(e) =
            Self::commit_error(g, req.generation_id.0, member, self.fence(instance), true)
                .filter(|_| !self.broken(Broken::TxnCommitWithoutMemberCheck))
        {
            return all(e);
        }
        if self.store.stale_epoch(req.producer_id, req.producer_epoch)
            && !self.broken(Broken::ZombieProducerNotFenced)
        {
            // The partition's producer state refuses an append of a superseded epoch.
            return all(ErrorCode::InvalidProducerEpoch);
        }
        let producer = Some((req.producer_id, req.producer_epoch));
        TxnOffsetCommitResponse {
            partitions: self.write_offsets(&gid, &req.partitions, producer),
        }
    }

    fn offset_fetch(&self, req: &OffsetFetchRequest) -> OffsetFetchResponse {
        let gid = req.group_id.0.as_str();
        if let Some(error_code) = self.group_status(gid, true) {
            return OffsetFetchResponse {
                error_code,
                partitions: vec![],
            };
        }
        let entry = |tp: &TopicPartition| {
            if req.require_stable
                && self.store.has_pending(gid, &tp.topic, tp.partition)
                && !self.broken(Broken::OffsetFetchIgnoresPending)
            {
                return OffsetFetchPartition {
                    partition: tp.clone(),
                    committed_offset: -1,
                    committed_leader_epoch: -1,
                    metadata: Some(String::new()),
                    error_code: ErrorCode::UnstableOffsetCommit,
                };
            }
            match self.store.offset(gid, &tp.topic, tp.partition) {
                Some(c) => OffsetFetchPartition {
                    partition: tp.clone(),
                    committed_offset: c.value.offset,
                    committed_leader_epoch: c.value.leader_epoch,
                    metadata: Some(c.value.metadata.clone()),
                    error_code: ErrorCode::None,
                },
                None => OffsetFetchPartition {
                    partition: tp.clone(),
                    committed_offset: -1,
                    committed_leader_epoch: -1,
                    metadata: Some(String::new()),
                    error_code: ErrorCode::None,
                },
            }
        };
        let partitions = match &req.partitions {
            Some(list) => list.iter().map(entry).collect(),
            None => {
                let mut all: Vec<TopicPartition> = self
                    .store
                    .offsets(gid)
                    .map(|((t, p), _)| TopicPartition::new(t.clone(), *p))
                    .collect();
                all.sort();
                all.iter().map(entry).collect()
            }
        };
        OffsetFetchResponse {
            error_code: ErrorCode::None,
            partitions,
        }
    }

    // ---- admin ---------------------------------------------------------------------------

    fn describe_groups(&self, req: &DescribeGroupsRequest) -> DescribeGroupsResponse {
        let groups = req
            .groups
            .iter()
            .map(|gid| match self.groups.get(&gid.0) {
                _ if self.group_status(&gid.0, true).is_some() => DescribedGroup {
                    error_code: self.group_status(&gid.0, true).unwrap_or(ErrorCode::None),
                    group_id: gid.clone(),
                    group_state: String::new(),
                    protocol_type: String::new(),
                    protocol_data: String::new(),
                    members: vec![],
                },
                None => DescribedGroup {
                    error_code: ErrorCode::None,
                    group_id: gid.clone(),
                    group_state: GroupState::Dead.name().to_owned(),
                    protocol_type: String::new(),
                    protocol_data: String::new(),
                    members: vec![],
                },
                Some(g) => {
                    let stable = g.state == GroupState::Stable;
                    let protocol = g.protocol_name.clone().unwrap_or_default();
                    DescribedGroup {
                        error_code: ErrorCode::None,
                        group_id: gid.clone(),
                        group_state: g.state.name().to_owned(),
                        protocol_type: g.protocol_type.clone().unwrap_or_default(),
                        protocol_data: if stable {
                            protocol.clone()
                        } else {
                            String::new()
                        },
                        members: g
                            .order
                            .iter()
                            .filter_map(|id| g.members.get(id))
                            .map(|m| DescribedMember {
                                member_id: MemberId(m.id.clone()),
                                group_instance_id: m.instance.clone().map(GroupInstanceId),
                                client_id: m.client_id.clone(),
                                client_host: m.client_host.clone(),
                                member_metadata: if stable {
                                    m.metadata(&protocol)
                                } else {
                                    vec![]
                                },
                                member_assignment: if stable {
                                    m.assignment.clone()
                                } else {
                                    vec![]
                                },
                            })
                            .collect(),
                    }
                }
            })
            .collect();
        DescribeGroupsResponse { groups }
    }

    fn list_groups(&self, req: &ListGroupsRequest) -> ListGroupsResponse {
        let mut groups: Vec<ListedGroup> = self
            .groups
            .values()
            .filter(|g| g.state != GroupState::Dead)
            .filter(|g| {
                req.states_filter.is_empty()
                    || req
                        .states_filter
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(g.state.name()))
            })
            .map(|g| ListedGroup {
                group_id: GroupId(g.id.clone()),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                group_state: g.state.name().to_owned(),
            })
            .collect();
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        ListGroupsResponse {
            error_code: ErrorCode::None,
            groups,
        }
    }

    /// DeleteGroups: an Empty group is removed with its offsets (tombstones for each committed
    /// offset and for the group record).
    fn delete_groups(&mut self, req: &DeleteGroupsRequest) -> DeleteGroupsResponse {
        let mut results = vec![];
        let mut seen = HashSet::new();
        // Kafka takes the ids as a set: one result per group.
        for gid in req.groups.iter().filter(|g| seen.insert(g.0.clone())) {
            if let Some(e) = self.group_status(&gid.0, true) {
                results.push((gid.clone(), e));
                continue;
            }
            let error = match self.groups.get(&gid.0).map(|g| g.state) {
                None | Some(GroupState::Dead) => ErrorCode::GroupIdNotFound,
                Some(GroupState::Empty) => {
                    self.delete_group(&gid.0);
                    ErrorCode::None
                }
                Some(_) => ErrorCode::NonEmptyGroup,
            };
            results.push((gid.clone(), error));
        }
        DeleteGroupsResponse { results }
    }

    /// Kafka's `cleanupGroupMetadata`: offsets past their retention are removed (tombstones),
    /// never one with a transactional commit pending; then an Empty group left without offsets
    /// is removed too. An Empty group's offsets expire `offsets.retention.ms` after it became
    /// Empty (KIP-211); a group without a protocol type (standalone commits) has each offset
    /// expire that long after its commit; an offset written with an explicit expire timestamp
    /// (OffsetCommit v1) expires then. In a Stable `consumer` group, offsets of topics no member
    /// subscribes to expire by commit time (KIP-496); other offsets of groups with members are
    /// kept. A group with a transactional commit pending is not removed.
    fn expire_offsets(&mut self) {
        let now = self.now as i64;
        let retention = self.config.offsets_retention_ms;
        let gids: Vec<String> = self.groups.keys().cloned().collect();
        for gid in gids {
            let g = &self.groups[&gid];
            // KIP-211: an Empty group's offsets count from when it became Empty (unknown in
            // records older than GroupMetadataValue v2: then from each commit).
            let known = (g.state_timestamp >= 0).then_some(g.state_timestamp);
            // KIP-496: a Stable consumer group's offsets of topics no member subscribes to
            // expire by their commit time.
            let none = BTreeSet::new();
            let (since_empty, subscribed) = match (g.protocol_type.as_deref(), g.state) {
                (Some(_), GroupState::Empty) => (known, &none),
                (None, _) => (None, &none),
                (Some("consumer"), GroupState::Stable) if g.subscribed.is_some() => {
                    (None, g.subscribed.as_ref().unwrap_or(&none))
                }
                _ => continue,
            };
            let expired: Vec<(String, i32)> = self
                .store
                .offsets(&gid)
                .filter(|((topic, _), c)| {
                    if subscribed.contains(topic) {
                        return false;
                    }
                    if c.value.expire_timestamp >= 0 {
                        return now >= c.value.expire_timestamp;
                    }
                    let base = since_empty.unwrap_or(c.value.commit_timestamp);
                    now - base >= retention
                })
                .map(|(p, _)| p.clone())
                .collect();
            for (topic, partition) in expired {
                self.append(LogEntry::Plain(Record {
                    key: RecordKey::OffsetCommit {
                        group: gid.clone(),
                        topic,
                        partition,
                    },
                    value: None,
                }));
            }
            let empty = self.groups[&gid].state == GroupState::Empty;
            let no_offsets =
                self.store.offsets(&gid).next().is_none() && !self.store.group_has_pending(&gid);
            if empty && no_offsets {
                self.delete_group(&gid);
            }
        }
    }

    fn delete_group(&mut self, gid: &str) {
        let parts: Vec<(String, i32)> = self.store.offsets(gid).map(|(p, _)| p.clone()).collect();
        for (topic, partition) in parts {
            self.append(LogEntry::Plain(Record {
                key: RecordKey::OffsetCommit {
                    group: gid.to_owned(),
                    topic,
                    partition,
                },
                value: None,
            }));
        }
        if self.store.group(gid).is_some() {
            self.append(LogEntry::Plain(Record {
                key: RecordKey::GroupMetadata {
                    group: gid.to_owned(),
                },
                value: None,
            }));
        }
        if let Some(g) = self.groups.remove(gid) {
            for (_, t) in g.pending {
                self.timers.cancel(Some(t));
            }
            self.timers.cancel(g.join_timer.map(|(t, _)| t));
            self.timers.cancel(g.sync_timer);
        }
    }
}
