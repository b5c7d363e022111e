//! The consumer side of the classic group protocol: Kafka 3.9's `AbstractCoordinator` and
//! `ConsumerCoordinator` (the classic, pre-KIP-848 consumer), sans-IO.
//!
//! A [`Consumer`] joins a group, runs the leader's assignor when it is elected, heartbeats,
//! commits offsets and leaves, exactly as Kafka's Java client sequences those requests, and tells
//! its application which partitions it owns through the rebalance callbacks
//! ([`Output::PartitionsRevoked`], [`Output::PartitionsAssigned`], [`Output::PartitionsLost`]).
//! It never reads a clock, opens a socket or draws randomness: time comes in as `now`
//! (milliseconds), requests go out as [`Output::Send`] with ids the consumer allocates, and
//! responses come back through [`Consumer::handle_response`]. A run is therefore a function of
//! its inputs, which is what the seeded simulator and the tests rely on.
//!
//! # Two threads, one machine
//!
//! Kafka's consumer has an application thread (`poll`, `commitSync`, `close`) and a heartbeat
//! thread. Here both are inputs of one machine:
//!
//! - [`Consumer::poll`] is the application's `poll`: it runs the rebalance callbacks, starts a
//!   JoinGroup when one is needed (`joinGroupIfNeeded`) and resets the `max.poll.interval.ms`
//!   timer. Callbacks are only ever emitted from `poll`, [`Consumer::leave`] and fatal errors, as
//!   Kafka only invokes them on the application thread.
//! - [`Consumer::handle_timeout`] is the heartbeat thread and the network client's timers:
//!   heartbeats, the client-side session timeout, the poll-interval expiry, request timeouts,
//!   coordinator rediscovery and commit retries.
//! - [`Consumer::handle_response`] is the network client completing a request. As in Kafka, a
//!   JoinGroup response is acted on at once (the leader assigns and every member sends SyncGroup
//!   from the response handler), while the outcome of the whole join (the assignment, or the
//!   error) waits for the next `poll`.
//!
//! # Where the machine departs from Kafka
//!
//! - There is no FindCoordinator: the driver owns the connection. "Marking the coordinator
//!   unknown" drops every request in flight (Kafka disconnects too), asks the driver to close the
//!   connection ([`Output::Disconnect`]) unless the driver reported the disconnection, and treats
//!   the coordinator as found again `retry.backoff.ms` later.
//! - Backoffs are the fixed `retry.backoff.ms`, without Kafka's exponential growth and random
//!   jitter, so that runs are reproducible.
//! - Auto-commit, pattern subscriptions, subscription changes, pausing and fetching are not
//!   modelled; [`Consumer::commit`] is `commitSync` with `default.api.timeout.ms`.
//! - A fatal error ends the machine, as an application that closes its consumer on the
//!   exception: [`Output::Fatal`], then what `close()` does (the owned partitions revoked, or
//!   lost if the generation is gone or a rebalance is under way, and LeaveGroup for a dynamic
//!   member in the group); after FENCED_INSTANCE_ID the partitions are lost and nothing is sent.
//!   FENCED_INSTANCE_ID from a heartbeat is reported at once rather than from the next `poll`.
//!   Errors Kafka raises locally as exceptions without an error code (an assignment or
//!   subscription that does not decode, a protocol the member did not offer) are
//!   INCONSISTENT_GROUP_PROTOCOL.
//! - The coordinator counts as known from the start, and the configuration is checked up front
//!   (including Kafka's documented rule that `heartbeat.interval.ms` is below
//!   `session.timeout.ms`).

use crate::coordinator::{Request, RequestId, Response};
use kgroup_assign::codec::{self, AssignmentMessage, StickyUserData, Subscription};
use kgroup_assign::{GroupSpec, Strategy};
use kgroup_protocol::api::*;
use kgroup_protocol::{
    java_string_cmp, ErrorCode, GenerationId, GroupId, GroupInstanceId, MemberId,
    RebalanceProtocol, TopicPartition,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::mem;

/// The protocol type consumers register in JoinGroup (`ConsumerProtocol.PROTOCOL_TYPE`).
pub const PROTOCOL_TYPE: &str = "consumer";

/// Kafka's `JOIN_GROUP_TIMEOUT_LAPSE`: a JoinGroup may wait for the whole rebalance timeout at
/// the coordinator, so its request timeout is the rebalance timeout plus this margin.
const JOIN_GROUP_TIMEOUT_LAPSE_MS: u64 = 5_000;

/// The embedded consumer protocol version this client writes (Kafka 3.9 writes v3).
const CONSUMER_PROTOCOL_VERSION: i16 = codec::HIGHEST_VERSION;

/// The API versions the consumer speaks, one per request it sends.
///
/// Behaviour that depends on a version follows the version: the group instance id is sent from
/// JoinGroup v5 (SyncGroup and Heartbeat v3, OffsetCommit v7), the protocol type and name in
/// SyncGroup from v5, the join reason from JoinGroup v8, and KIP-814's `skip_assignment` exists
/// from JoinGroup v9.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersions {
    /// JoinGroup, 0..=9.
    pub join_group: i16,
    /// SyncGroup, 0..=5.
    pub sync_group: i16,
    /// Heartbeat, 0..=4.
    pub heartbeat: i16,
    /// LeaveGroup, 0..=5.
    pub leave_group: i16,
    /// OffsetCommit, 0..=9.
    pub offset_commit: i16,
}

impl ApiVersions {
    /// The newest versions the coordinator supports: what a 3.9 client negotiates with it.
    pub const NEWEST: ApiVersions = ApiVersions {
        join_group: 9,
        sync_group: 5,
        heartbeat: 4,
        leave_group: 5,
        offset_commit: 8,
    };
}

impl Default for ApiVersions {
    fn default() -> Self {
        ApiVersions::NEWEST
    }
}

/// The consumer settings the group protocol reads, named after Kafka's configs, with Kafka
/// 3.9's defaults from [`ConsumerConfig::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerConfig {
    /// `group.id`.
    pub group_id: String,
    /// `client.id`: the coordinator makes dynamic member ids from it.
    pub client_id: String,
    /// `group.instance.id`: set for a static member (KIP-345), which keeps its place in the
    /// group across restarts and never sends LeaveGroup.
    pub group_instance_id: Option<String>,
    /// `session.timeout.ms` (45 s).
    pub session_timeout_ms: i32,
    /// `max.poll.interval.ms` (5 min), which Kafka also sends as the rebalance timeout.
    pub rebalance_timeout_ms: i32,
    /// `heartbeat.interval.ms` (3 s).
    pub heartbeat_interval_ms: u64,
    /// `retry.backoff.ms` (100 ms).
    pub retry_backoff_ms: u64,
    /// `request.timeout.ms` (30 s).
    pub request_timeout_ms: u64,
    /// `default.api.timeout.ms` (60 s): how long a commit keeps retrying.
    pub default_api_timeout_ms: u64,
    /// `partition.assignment.strategy`, most preferred first (Kafka's default: range, then
    /// cooperative-sticky). The rebalance protocol is COOPERATIVE only if every strategy
    /// supports it, as Kafka chooses the newest protocol all the assignors share.
    pub strategies: Vec<Strategy>,
    /// The subscribed topics.
    pub topics: Vec<String>,
    /// `client.rack` (KIP-881), sent in the subscription.
    pub rack: Option<String>,
    /// The API versions to use.
    pub versions: ApiVersions,
}

impl ConsumerConfig {
    /// A dynamic member of `group_id` subscribing to `topics`, with Kafka's defaults.
    pub fn new<S: Into<String>>(
        group_id: impl Into<String>,
        client_id: impl Into<String>,
        topics: impl IntoIterator<Item = S>,
    ) -> ConsumerConfig {
        ConsumerConfig {
            group_id: group_id.into(),
            client_id: client_id.into(),
            group_instance_id: None,
            session_timeout_ms: 45_000,
            rebalance_timeout_ms: 300_000,
            heartbeat_interval_ms: 3_000,
            retry_backoff_ms: 100,
            request_timeout_ms: 30_000,
            default_api_timeout_ms: 60_000,
            strategies: vec![Strategy::Range, Strategy::CooperativeSticky],
            topics: topics.into_iter().map(Into::into).collect(),
            rack: None,
            versions: ApiVersions::NEWEST,
        }
    }

    /// The rebalance protocol the strategies share: COOPERATIVE only if all are
    /// cooperative-sticky (Kafka's `ConsumerCoordinator` constructor).
    pub fn protocol(&self) -> RebalanceProtocol {
        let all_cooperative = !self.strategies.is_empty()
            && self
                .strategies
                .iter()
                .all(|s| *s == Strategy::CooperativeSticky);
        if all_cooperative {
            RebalanceProtocol::Cooperative
        } else {
            RebalanceProtocol::Eager
        }
    }
}

/// A configuration the consumer refuses, as Kafka's client refuses it at construction or at its
/// first request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `group.id` is empty.
    #[error("group.id must not be empty")]
    EmptyGroupId,
    /// No assignment strategy.
    #[error("partition.assignment.strategy must name at least one assignor")]
    NoStrategies,
    /// A strategy is listed twice.
    #[error("assignor `{0}` is listed twice")]
    DuplicateStrategy(Strategy),
    /// No topic is subscribed.
    #[error("the subscription names no topic")]
    NoTopics,
    /// A timeout or interval is zero or negative, or the heartbeat interval is not below the
    /// session timeout.
    #[error("invalid timeouts: {0}")]
    Timeouts(&'static str),
    /// An API version this consumer does not speak.
    #[error("{api} version {version} is not supported")]
    UnsupportedVersion {
        /// The API.
        api: &'static str,
        /// The version asked for.
        version: i16,
    },
    /// Static membership needs JoinGroup v5, SyncGroup v3, Heartbeat v3 and OffsetCommit v7.
    #[error("group.instance.id needs {api} v{needed} or newer, not v{version}")]
    StaticNeedsVersion {
        /// The API.
        api: &'static str,
        /// The oldest version that carries the instance id.
        needed: i16,
        /// The version configured.
        version: i16,
    },
}

impl ConsumerConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.group_id.is_empty() {
            return Err(ConfigError::EmptyGroupId);
        }
        if self.strategies.is_empty() {
            return Err(ConfigError::NoStrategies);
        }
        for (i, s) in self.strategies.iter().enumerate() {
            if self.strategies[..i].contains(s) {
                return Err(ConfigError::DuplicateStrategy(*s));
            }
        }
        if self.topics.is_empty() {
            return Err(ConfigError::NoTopics);
        }
        if self.session_timeout_ms <= 0 || self.rebalance_timeout_ms <= 0 {
            return Err(ConfigError::Timeouts(
                "session and rebalance timeouts must be positive",
            ));
        }
        if self.heartbeat_interval_ms == 0 || self.request_timeout_ms == 0 {
            return Err(ConfigError::Timeouts(
                "heartbeat interval and request timeout must be positive",
            ));
        }
        if self.heartbeat_interval_ms >= self.session_timeout_ms as u64 {
            return Err(ConfigError::Timeouts(
                "heartbeat.interval.ms must be lower than session.timeout.ms",
            ));
        }
        let v = self.versions;
        for (api, version, max) in [
            ("JoinGroup", v.join_group, 9),
            ("SyncGroup", v.sync_group, 5),
            ("Heartbeat", v.heartbeat, 4),
            ("LeaveGroup", v.leave_group, 5),
            ("OffsetCommit", v.offset_commit, 9),
        ] {
            if !(0..=max).contains(&version) {
                return Err(ConfigError::UnsupportedVersion { api, version });
            }
        }
        if self.group_instance_id.is_some() {
            for (api, version, needed) in [
                ("JoinGroup", v.join_group, 5),
                ("SyncGroup", v.sync_group, 3),
                ("Heartbeat", v.heartbeat, 3),
                ("OffsetCommit", v.offset_commit, 7),
            ] {
                if version < needed {
                    return Err(ConfigError::StaticNeedsVersion {
                        api,
                        needed,
                        version,
                    });
                }
            }
        }
        Ok(())
    }
}

/// What the consumer asks its driver and its application to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this request to the group coordinator; its response comes back with `id`.
    Send {
        /// The consumer's id for the request.
        id: RequestId,
        /// The request.
        request: Request,
    },
    /// Close the connection to the coordinator: the consumer has given up on every request in
    /// flight on it (Kafka disconnects on NOT_COORDINATOR, on a request timeout and when no
    /// heartbeat succeeded for a session timeout). Late responses to them are ignored.
    Disconnect,
    /// `onPartitionsRevoked`: stop processing these partitions (and commit their offsets) before
    /// another member may be given them.
    PartitionsRevoked(Vec<TopicPartition>),
    /// `onPartitionsAssigned`: these partitions are newly owned (possibly none; Kafka calls the
    /// listener after every completed rebalance).
    PartitionsAssigned(Vec<TopicPartition>),
    /// `onPartitionsLost`: these partitions may already belong to another member; committing
    /// their offsets would fail.
    PartitionsLost(Vec<TopicPartition>),
    /// A [`Consumer::commit`] finished: `error` is NONE on success, else the broker's error, or
    /// REBALANCE_IN_PROGRESS / UNKNOWN_MEMBER_ID when the consumer was not in a stable
    /// generation to commit with (Kafka's `RebalanceInProgressException` /
    /// `CommitFailedException`), or REQUEST_TIMED_OUT when `default.api.timeout.ms` ran out.
    CommitCompleted {
        /// The offsets the commit carried.
        offsets: Vec<OffsetCommitPartition>,
        /// The outcome.
        error: ErrorCode,
    },
    /// An error the consumer cannot recover from (FENCED_INSTANCE_ID, GROUP_MAX_SIZE_REACHED,
    /// INCONSISTENT_GROUP_PROTOCOL, ...): Kafka throws it from `poll`. The machine stops.
    Fatal(ErrorCode),
}

/// Kafka's `MemberState`: where the member is in the join/sync cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberState {
    /// Not in a group: before the first join, or after an error reset the generation.
    Unjoined,
    /// JoinGroup sent, no response yet.
    PreparingRebalance,
    /// JoinGroup answered, SyncGroup not yet.
    CompletingRebalance,
    /// SyncGroup answered: the member has a generation and heartbeats.
    Stable,
}

impl MemberState {
    /// Kafka's `hasNotJoinedGroup`: the heartbeat thread is idle in these states.
    fn has_not_joined(self) -> bool {
        matches!(
            self,
            MemberState::Unjoined | MemberState::PreparingRebalance
        )
    }
}

/// Kafka's `Generation`: what a member knows of its membership. The coordinator's answers are
/// judged against the generation a request was sent with (`generationUnchanged`), so that a late
/// error about an old generation does not reset a newer one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Generation {
    id: i32,
    member_id: String,
    protocol: Option<String>,
}

impl Generation {
    /// `Generation.NO_GENERATION`.
    fn none() -> Generation {
        Generation {
            id: GenerationId::UNKNOWN.0,
            member_id: String::new(),
            protocol: None,
        }
    }

    /// `hasGenerationReset`: the member id may survive ILLEGAL_GENERATION, so only the
    /// generation and protocol are looked at.
    fn is_reset(&self) -> bool {
        self.id == GenerationId::UNKNOWN.0 && self.protocol.is_none()
    }

    /// The test `onJoinPrepare` and `onLeavePrepare` use to decide that owned partitions are
    /// lost rather than revoked.
    fn is_gone(&self) -> bool {
        self.id == GenerationId::UNKNOWN.0 || self.member_id.is_empty()
    }
}

/// The simple name of the exception Kafka's client raises for an error code:
/// UNKNOWN_MEMBER_ID is `UnknownMemberIdException`, and so on.
fn exception_name(e: ErrorCode) -> &'static str {
    match e {
        ErrorCode::UnknownMemberId => "UnknownMemberIdException",
        ErrorCode::IllegalGeneration => "IllegalGenerationException",
        ErrorCode::RebalanceInProgress => "RebalanceInProgressException",
        ErrorCode::CoordinatorNotAvailable => "CoordinatorNotAvailableException",
        ErrorCode::NotCoordinator => "NotCoordinatorException",
        ErrorCode::CoordinatorLoadInProgress => "CoordinatorLoadInProgressException",
        _ => "KafkaException",
    }
}

/// How a failed join is retried by `joinGroupIfNeeded`. The retries carry the simple name of
/// the exception Kafka's client raises, which becomes the next JoinGroup's reason ("rebalance
/// failed due to ..."); MEMBER_ID_REQUIRED carries none: its own reason stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinFailure {
    /// UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS, MEMBER_ID_REQUIRED: rejoin
    /// at once.
    Immediate(Option<&'static str>),
    /// A retriable error (coordinator moved or loading, disconnection): rejoin after the backoff.
    Backoff(&'static str),
    /// Thrown to the application.
    Fatal(ErrorCode),
}

/// Kafka's `joinFuture`: the JoinGroup + SyncGroup exchange of one join attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
enum JoinPhase {
    /// No join attempt under way.
    Idle,
    /// JoinGroup in flight.
    Joining(RequestId),
    /// SyncGroup in flight.
    Syncing(RequestId),
    /// The attempt ended; the next `poll` acts on it.
    Succeeded(Vec<u8>),
    Failed(JoinFailure),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Join,
    Sync,
    Heartbeat,
    Commit,
    Leave,
}

/// A request in flight: what it was, the generation it was sent with, and when the network
/// client gives up on it (`request.timeout.ms`).
#[derive(Debug, Clone)]
struct InFlight {
    kind: Kind,
    sent: Generation,
    deadline: u64,
}

/// A `commitSync` under way: retried on retriable errors until its deadline.
#[derive(Debug, Clone)]
struct CommitJob {
    offsets: Vec<OffsetCommitPartition>,
    deadline: u64,
    retry_at: u64,
    in_flight: Option<RequestId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    Running,
    Closed,
    Failed(ErrorCode),
}

/// One consumer of a group: Kafka's classic `ConsumerCoordinator`, sans-IO.
///
/// # Call order
///
/// ```text
/// let mut consumer = Consumer::new(config, now)?;
/// consumer.set_metadata(partition_counts);            // whenever metadata changes
/// loop {
///     consumer.poll(now);                             // each application poll
///     consumer.handle_response(now, id, response);    // for each response to a Send
///     consumer.handle_timeout(now);                   // when poll_timeout()'s deadline passes
///     consumer.disconnect(now);                       // when the connection breaks
///     consumer.commit(now, offsets);                  // commitSync
///     while let Some(out) = consumer.poll_output() {
///         Output::Send { id, request } => send it to the coordinator
///         Output::Disconnect           => close the connection, drop its responses
///         Output::Partitions*(..)      => run the rebalance listener
///         Output::CommitCompleted {..} => commitSync returns
///         Output::Fatal(error)         => the consumer is finished
///     }
/// }
/// consumer.leave(now);                                // close()
/// ```
///
/// Joins happen only in [`Consumer::poll`], as Kafka's classic consumer only joins from the
/// application's poll: an application that stops polling stops rebalancing (and after
/// `max.poll.interval.ms` leaves the group) while its heartbeats go on.
#[derive(Debug)]
pub struct Consumer {
    config: ConsumerConfig,
    protocol: RebalanceProtocol,
    /// The subscription, sorted in Java string order (Kafka's is a hash set; sorting keeps the
    /// JoinGroup bytes reproducible).
    topics: Vec<String>,
    life: Life,
    state: MemberState,
    generation: Generation,
    rejoin_needed: bool,
    rejoin_reason: String,
    needs_join_prepare: bool,
    phase: JoinPhase,
    /// A retriable join failure waits until then.
    join_retry_at: u64,
    /// `Some(t)` while the coordinator is unknown: it counts as found again at `t`.
    coordinator_ready_at: Option<u64>,
    in_flight: BTreeMap<RequestId, InFlight>,
    commits: VecDeque<CommitJob>,
    next_id: RequestId,
    // Kafka's `Heartbeat` timers.
    heartbeat_due: u64,
    session_deadline: u64,
    last_poll: u64,
    /// The partitions the application owns: assigned and not yet revoked or lost.
    owned: BTreeSet<TopicPartition>,
    is_leader: bool,
    /// The leader's view of the metadata it assigned with (`assignmentSnapshot`); a change
    /// makes it rejoin so the group is reassigned.
    assignment_snapshot: Option<BTreeMap<String, Option<i32>>>,
    metadata: BTreeMap<String, i32>,
    /// What the assignors remember between rebalances (`onAssignment`): the generation of the
    /// last assignment, and for `sticky` the assignment itself.
    assignor_generation: i32,
    assignor_previous: Option<Vec<TopicPartition>>,
    outputs: VecDeque<Output>,
    now: u64,
}

impl Consumer {
    /// A consumer that has not joined yet; the first [`Consumer::poll`] sends JoinGroup.
    pub fn new(config: ConsumerConfig, now: u64) -> Result<Consumer, ConfigError> {
        config.validate()?;
        let mut topics = config.topics.clone();
        topics.sort_by(|a, b| java_string_cmp(a, b));
        topics.dedup();
        Ok(Consumer {
            protocol: config.protocol(),
            topics,
            life: Life::Running,
            state: MemberState::Unjoined,
            generation: Generation::none(),
            rejoin_needed: true,
            rejoin_reason: String::new(),
            needs_join_prepare: true,
            phase: JoinPhase::Idle,
            join_retry_at: 0,
            coordinator_ready_at: None,
            in_flight: BTreeMap::new(),
            commits: VecDeque::new(),
            next_id: 0,
            heartbeat_due: now,
            session_deadline: now,
            last_poll: now,
            owned: BTreeSet::new(),
            is_leader: false,
            assignment_snapshot: None,
            metadata: BTreeMap::new(),
            assignor_generation: GenerationId::UNKNOWN.0,
            assignor_previous: None,
            outputs: VecDeque::new(),
            now,
            config,
        })
    }

    // ---- observation ---------------------------------------------------------------------

    /// The configuration.
    pub fn config(&self) -> &ConsumerConfig {
        &self.config
    }

    /// The rebalance protocol in use.
    pub fn protocol(&self) -> RebalanceProtocol {
        self.protocol
    }

    /// Where the member is in the join/sync cycle.
    pub fn state(&self) -> MemberState {
        self.state
    }

    /// The member id ("" before the coordinator gave one, or after it was reset).
    pub fn member_id(&self) -> &str {
        &self.generation.member_id
    }

    /// The generation the member last joined, -1 if none.
    pub fn generation(&self) -> i32 {
        self.generation.id
    }

    /// Whether this member computed the current assignment.
    pub fn is_leader(&self) -> bool {
        self.is_leader
    }

    /// The partitions the application owns: assigned, and not revoked or lost since.
    pub fn assignment(&self) -> &BTreeSet<TopicPartition> {
        &self.owned
    }

    /// Whether a rebalance is wanted or under way (Kafka's `rejoinNeededOrPending`).
    pub fn rebalance_pending(&self) -> bool {
        self.rejoin_needed || self.phase != JoinPhase::Idle || self.metadata_changed()
    }

    /// Stable, with its assignment applied and no rebalance wanted.
    pub fn is_stable(&self) -> bool {
        self.life == Life::Running && self.state == MemberState::Stable && !self.rebalance_pending()
    }

    /// The fatal error that ended the consumer, if one did.
    pub fn fatal_error(&self) -> Option<ErrorCode> {
        match self.life {
            Life::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// Whether [`Consumer::leave`] closed the consumer.
    pub fn is_closed(&self) -> bool {
        self.life == Life::Closed
    }

    /// The next output, oldest first.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`Consumer::handle_timeout`] must next be called, if ever. Joins are not timers:
    /// they wait for [`Consumer::poll`].
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.life != Life::Running {
            return None;
        }
        let mut next: Option<u64> = None;
        let mut at = |t: u64| next = Some(next.map_or(t, |n| n.min(t)));
        for f in self.in_flight.values() {
            at(f.deadline);
        }
        match self.coordinator_ready_at {
            Some(t) => at(t),
            None => {
                if !self.state.has_not_joined() {
                    at(self.heartbeat_due);
                    at(self.session_deadline);
                    at(self.poll_deadline());
                }
            }
        }
        if let Some(job) = self.commits.front() {
            at(job.deadline);
            if job.in_flight.is_none() && self.coordinator_ready_at.is_none() {
                at(job.retry_at);
            }
        }
        next
    }

    // ---- inputs --------------------------------------------------------------------------

    /// The partition counts of topics (a metadata response). The leader assigns the topics the
    /// group subscribes to from these counts, and rejoins when they change after it assigned.
    pub fn set_metadata<S: Into<String>>(&mut self, counts: impl IntoIterator<Item = (S, i32)>) {
        self.metadata = counts.into_iter().map(|(t, n)| (t.into(), n)).collect();
    }

    /// The application polls: timers first (the heartbeat thread ran while the application was
    /// away), then the poll-interval timer restarts, then the rebalance callbacks and any
    /// JoinGroup or SyncGroup due.
    pub fn poll(&mut self, now: u64) {
        self.advance_clock(now);
        if self.life != Life::Running {
            return;
        }
        self.run_timers();
        if self.life != Life::Running {
            return;
        }
        self.last_poll = self.now;
        self.join_group_if_needed();
    }

    /// The response to request `id`. Responses to requests the consumer gave up on (after a
    /// disconnection or a timeout) are ignored.
    pub fn handle_response(&mut self, now: u64, id: RequestId, response: Response) {
        self.advance_clock(now);
        if self.life != Life::Running {
            return;
        }
        let Some(f) = self.in_flight.remove(&id) else {
            return;
        };
        match (f.kind, response) {
            (Kind::Join, Response::JoinGroup(r)) => self.on_join_response(id, &f.sent, r),
            (Kind::Sync, Response::SyncGroup(r)) => self.on_sync_response(id, &f.sent, r),
            (Kind::Heartbeat, Response::Heartbeat(r)) => {
                self.on_heartbeat_response(&f.sent, r.error_code)
            }
            (Kind::Commit, Response::OffsetCommit(r)) => self.on_commit_response(id, &f.sent, r),
            (Kind::Leave, Response::LeaveGroup(_)) => {}
            (kind, _) => {
                // An answer of the wrong kind: the connection cannot be trusted any more.
                self.request_failed(id, kind);
                self.mark_coordinator_unknown(false);
            }
        }
        self.drive_commits();
    }

    /// Deadlines: the heartbeat thread and the network client's timers.
    pub fn handle_timeout(&mut self, now: u64) {
        self.advance_clock(now);
        if self.life == Life::Running {
            self.run_timers();
        }
    }

    /// `commitSync(offsets)`: one OffsetCommit with the current generation and member id,
    /// retried on retriable errors for `default.api.timeout.ms`; the outcome comes as
    /// [`Output::CommitCompleted`]. Commits are sent one at a time, in call order.
    pub fn commit(&mut self, now: u64, offsets: Vec<OffsetCommitPartition>) {
        self.advance_clock(now);
        if let Life::Failed(e) = self.life {
            self.outputs
                .push_back(Output::CommitCompleted { offsets, error: e });
            return;
        }
        if self.life == Life::Closed {
            self.outputs.push_back(Output::CommitCompleted {
                offsets,
                error: ErrorCode::UnknownMemberId,
            });
            return;
        }
        if offsets.is_empty() {
            // commitSync with nothing to commit returns at once.
            self.outputs.push_back(Output::CommitCompleted {
                offsets,
                error: ErrorCode::None,
            });
            return;
        }
        if offsets.iter().any(|o| o.committed_offset < 0) {
            // Kafka refuses a negative offset locally (IllegalArgumentException), sending
            // nothing; INVALID_COMMIT_OFFSET_SIZE is the nearest error code.
            self.outputs.push_back(Output::CommitCompleted {
                offsets,
                error: ErrorCode::InvalidCommitOffsetSize,
            });
            return;
        }
        self.commits.push_back(CommitJob {
            offsets,
            deadline: self.now.saturating_add(self.config.default_api_timeout_ms),
            retry_at: 0,
            in_flight: None,
        });
        self.drive_commits();
    }

    /// `close()`: the owned partitions are revoked (lost, if the generation is gone or a
    /// rebalance is under way), a dynamic member sends LeaveGroup, a static one does not (its
    /// session timeout removes it, so a restart within it keeps its assignment), and the
    /// consumer stops. Commits still pending end with REQUEST_TIMED_OUT.
    pub fn leave(&mut self, now: u64) {
        self.advance_clock(now);
        if self.life != Life::Running {
            return;
        }
        self.on_leave_prepare();
        self.maybe_leave_group("the consumer is being closed");
        self.life = Life::Closed;
        self.in_flight.clear();
        self.phase = JoinPhase::Idle;
        for job in mem::take(&mut self.commits) {
            self.outputs.push_back(Output::CommitCompleted {
                offsets: job.offsets,
                error: ErrorCode::RequestTimedOut,
            });
        }
    }

    /// The connection to the coordinator broke: every request in flight is lost, and each is
    /// retried as Kafka's client retries it (joins from the next poll, heartbeats and commits
    /// after the backoff, once the coordinator is found again).
    pub fn disconnect(&mut self, now: u64) {
        self.advance_clock(now);
        if self.life == Life::Running {
            self.mark_coordinator_unknown(true);
            self.drive_commits();
        }
    }

    // ---- time ----------------------------------------------------------------------------

    fn advance_clock(&mut self, now: u64) {
        self.now = self.now.max(now);
    }

    fn poll_deadline(&self) -> u64 {
        self.last_poll
            .saturating_add(self.config.rebalance_timeout_ms as u64)
    }

    /// The timers, in the order Kafka's network client and heartbeat thread check them.
    fn run_timers(&mut self) {
        let now = self.now;
        if self.in_flight.values().any(|f| f.deadline <= now) {
            // The network client times the request out by closing the connection.
            self.mark_coordinator_unknown(false);
        }
        if let Some(t) = self.coordinator_ready_at {
            if now >= t {
                // Found again (`FindCoordinatorResponseHandler`): the session timer restarts.
                self.coordinator_ready_at = None;
                self.session_deadline = now.saturating_add(self.config.session_timeout_ms as u64);
            }
        }
        if self.coordinator_ready_at.is_none() && !self.state.has_not_joined() {
            if now >= self.session_deadline {
                // No heartbeat succeeded for a session: the coordinator may be gone.
                self.mark_coordinator_unknown(false);
            } else if now >= self.poll_deadline() {
                // `handlePollTimeoutExpiry`: the application stalled; leave so the group can
                // rebalance without it.
                self.maybe_leave_group("consumer poll timeout has expired.");
            } else if now >= self.heartbeat_due {
                self.send_heartbeat();
            }
        }
        self.drive_commits();
    }

    // ---- the join/sync cycle -------------------------------------------------------------

    /// Kafka's `rejoinNeededOrPending`, including `ConsumerCoordinator`'s check that the
    /// metadata the leader assigned with has not changed.
    fn rejoin_needed_or_pending(&mut self) -> bool {
        if self.metadata_changed() && !self.rejoin_needed {
            self.request_rejoin("cached metadata has changed");
        }
        self.rejoin_needed || self.phase != JoinPhase::Idle
    }

    fn metadata_changed(&self) -> bool {
        self.assignment_snapshot
            .as_ref()
            .is_some_and(|snap| *snap != self.snapshot_of(snap.keys()))
    }

    fn snapshot_of<'a>(
        &self,
        topics: impl IntoIterator<Item = &'a String>,
    ) -> BTreeMap<String, Option<i32>> {
        topics
            .into_iter()
            .map(|t| (t.clone(), self.metadata.get(t).copied()))
            .collect()
    }

    /// `requestRejoin`: the reason goes into the next JoinGroup (v8+), cut to 255 characters as
    /// `JoinGroupRequest.maybeTruncateReason` does.
    fn request_rejoin(&mut self, reason: &str) {
        self.rejoin_reason = reason.chars().take(255).collect();
        self.rejoin_needed = true;
    }

    /// `resetStateAndRejoin`: the generation is forgotten (the member id too, unless only the
    /// generation was refused), so the partitions are lost at the next join.
    fn reset_state_and_rejoin(&mut self, reason: &str, reset_member_id: bool) {
        self.state = MemberState::Unjoined;
        self.generation = if reset_member_id {
            Generation::none()
        } else {
            Generation {
                member_id: mem::take(&mut self.generation.member_id),
                ..Generation::none()
            }
        };
        self.request_rejoin(reason);
        self.needs_join_prepare = true;
    }

    /// `joinGroupIfNeeded`, without blocking: each call moves the join as far as it can and
    /// returns when it must wait for a response or a backoff.
    fn join_group_if_needed(&mut self) {
        while self.life == Life::Running && self.rejoin_needed_or_pending() {
            if self.coordinator_ready_at.is_some() {
                return;
            }
            if self.needs_join_prepare {
                self.needs_join_prepare = false;
                self.on_join_prepare();
            }
            match mem::replace(&mut self.phase, JoinPhase::Idle) {
                JoinPhase::Idle => {
                    if self.now >= self.join_retry_at {
                        self.send_join_group();
                    }
                    return;
                }
                waiting @ (JoinPhase::Joining(_) | JoinPhase::Syncing(_)) => {
                    self.phase = waiting;
                    return;
                }
                JoinPhase::Succeeded(assignment) => {
                    if !self.generation.is_reset() && self.state == MemberState::Stable {
                        self.on_join_complete(&assignment);
                        self.needs_join_prepare = true;
                    } else {
                        // The heartbeat thread reset the generation after SyncGroup succeeded.
                        self.reset_state_and_rejoin(
                            "rebalance failed since the generation was reset",
                            true,
                        );
                    }
                }
                JoinPhase::Failed(failure) => {
                    let exception = match failure {
                        JoinFailure::Immediate(e) => e,
                        JoinFailure::Backoff(e) => Some(e),
                        JoinFailure::Fatal(_) => None,
                    };
                    if let Some(e) = exception {
                        self.request_rejoin(&format!("rebalance failed due to {e}"));
                    }
                    match failure {
                        JoinFailure::Immediate(_) => {}
                        JoinFailure::Backoff(_) => {
                            self.join_retry_at =
                                self.now.saturating_add(self.config.retry_backoff_ms);
                            return;
                        }
                        JoinFailure::Fatal(e) => {
                            self.fatal(e);
                            return;
                        }
                    }
                }
            }
        }
    }

    /// `onJoinPrepare`: before JoinGroup, partitions of a lost generation are lost; otherwise
    /// EAGER revokes everything (so nobody else is given a partition this member still
    /// processes) and COOPERATIVE revokes only partitions of topics no longer subscribed.
    fn on_join_prepare(&mut self) {
        if self.generation.is_gone() {
            if !self.owned.is_empty() {
                let lost = mem::take(&mut self.owned);
                self.outputs
                    .push_back(Output::PartitionsLost(lost.into_iter().collect()));
            }
        } else {
            match self.protocol {
                RebalanceProtocol::Eager => {
                    let revoked = mem::take(&mut self.owned);
                    self.outputs
                        .push_back(Output::PartitionsRevoked(revoked.into_iter().collect()));
                }
                RebalanceProtocol::Cooperative => {
                    let revoked: Vec<TopicPartition> = self
                        .owned
                        .iter()
                        .filter(|tp| !self.subscribes(&tp.topic))
                        .cloned()
                        .collect();
                    if !revoked.is_empty() {
                        for tp in &revoked {
                            self.owned.remove(tp);
                        }
                        self.outputs.push_back(Output::PartitionsRevoked(revoked));
                    }
                }
            }
        }
        self.is_leader = false;
    }

    fn subscribes(&self, topic: &str) -> bool {
        self.topics.iter().any(|t| t == topic)
    }

    /// The protocols of JoinGroup: one subscription per configured assignor, in preference
    /// order, each with the owned partitions, the generation and that assignor's user data.
    fn join_protocols(&self) -> Result<Vec<JoinGroupProtocol>, codec::CodecError> {
        let owned: Vec<TopicPartition> = self.owned.iter().cloned().collect();
        self.config
            .strategies
            .iter()
            .map(|&s| {
                let user_data = match s {
                    Strategy::Range | Strategy::RoundRobin => None,
                    Strategy::Sticky => self.assignor_previous.as_ref().map(|previous| {
                        codec::encode_sticky_user_data(&StickyUserData {
                            previous_assignment: previous.clone(),
                            generation: Some(self.assignor_generation),
                        })
                    }),
                    Strategy::CooperativeSticky => Some(codec::encode_cooperative_user_data(
                        self.assignor_generation,
                    )),
                };
                let subscription = Subscription {
                    topics: self.topics.clone(),
                    user_data,
                    owned_partitions: owned.clone(),
                    generation_id: self.generation.id,
                    rack_id: self.config.rack.clone(),
                };
                Ok(JoinGroupProtocol {
                    name: s.name().to_owned(),
                    metadata: codec::encode_subscription(&subscription, CONSUMER_PROTOCOL_VERSION)?,
                })
            })
            .collect()
    }

    fn send_join_group(&mut self) {
        let protocols = match self.join_protocols() {
            Ok(p) => p,
            // Only a topic or rack name too long for the wire gets here.
            Err(_) => return self.fatal(ErrorCode::InvalidRequest),
        };
        self.state = MemberState::PreparingRebalance;
        let version = self.config.versions.join_group;
        let request = JoinGroupRequest {
            group_id: GroupId(self.config.group_id.clone()),
            session_timeout_ms: self.config.session_timeout_ms,
            rebalance_timeout_ms: self.config.rebalance_timeout_ms,
            member_id: MemberId(self.generation.member_id.clone()),
            group_instance_id: self.instance_id(version >= 5),
            protocol_type: PROTOCOL_TYPE.to_owned(),
            protocols,
            reason: (version >= 8).then(|| self.rejoin_reason.clone()),
        };
        // The coordinator holds a JoinGroup for up to the rebalance timeout.
        let timeout = self
            .config
            .request_timeout_ms
            .max(self.config.rebalance_timeout_ms as u64 + JOIN_GROUP_TIMEOUT_LAPSE_MS);
        let id = self.send(
            Kind::Join,
            Request::JoinGroup(Versioned {
                api_version: version,
                message: request,
            }),
            timeout,
        );
        self.phase = JoinPhase::Joining(id);
    }

    fn instance_id(&self, supported: bool) -> Option<GroupInstanceId> {
        self.config
            .group_instance_id
            .as_ref()
            .filter(|_| supported)
            .map(|i| GroupInstanceId(i.clone()))
    }

    /// `JoinGroupResponseHandler`.
    fn on_join_response(&mut self, id: RequestId, sent: &Generation, r: JoinGroupResponse) {
        if self.phase != JoinPhase::Joining(id) {
            return;
        }
        let failure = match r.error_code {
            ErrorCode::None => {
                if r.protocol_type
                    .as_deref()
                    .is_some_and(|t| t != PROTOCOL_TYPE)
                {
                    JoinFailure::Fatal(ErrorCode::InconsistentGroupProtocol)
                } else if self.state != MemberState::PreparingRebalance {
                    // `UnjoinedGroupException`: the member left while the JoinGroup waited.
                    JoinFailure::Backoff("UnjoinedGroupException")
                } else {
                    return self.on_joined(r);
                }
            }
            ErrorCode::CoordinatorLoadInProgress => {
                JoinFailure::Backoff("CoordinatorLoadInProgressException")
            }
            ErrorCode::UnknownMemberId => {
                if self.generation == *sent {
                    self.reset_state_and_rejoin(
                        "encountered UNKNOWN_MEMBER_ID from JOIN_GROUP response",
                        true,
                    );
                }
                JoinFailure::Immediate(Some("UnknownMemberIdException"))
            }
            ErrorCode::CoordinatorNotAvailable | ErrorCode::NotCoordinator => {
                self.mark_coordinator_unknown(false);
                JoinFailure::Backoff(exception_name(r.error_code))
            }
            ErrorCode::MemberIdRequired => {
                // KIP-394: rejoin at once with the member id the coordinator chose.
                self.generation = Generation {
                    member_id: r.member_id.0,
                    ..Generation::none()
                };
                let reason = format!(
                    "need to re-join with the given member-id: {}",
                    self.generation.member_id
                );
                self.request_rejoin(&reason);
                JoinFailure::Immediate(None)
            }
            ErrorCode::RebalanceInProgress => {
                JoinFailure::Immediate(Some("RebalanceInProgressException"))
            }
            // FENCED_INSTANCE_ID, INCONSISTENT_GROUP_PROTOCOL, INVALID_SESSION_TIMEOUT,
            // INVALID_GROUP_ID, GROUP_AUTHORIZATION_FAILED, GROUP_MAX_SIZE_REACHED,
            // UNSUPPORTED_VERSION and anything unexpected are thrown to the application.
            other => JoinFailure::Fatal(other),
        };
        self.phase = JoinPhase::Failed(failure);
    }

    /// A successful JoinGroup: the new generation is known, the heartbeat thread starts, and
    /// the member sends SyncGroup (the leader with everyone's assignment).
    fn on_joined(&mut self, r: JoinGroupResponse) {
        self.state = MemberState::CompletingRebalance;
        // `HeartbeatThread.enable` → `Heartbeat.resetTimeouts`.
        let now = self.now;
        self.session_deadline = now.saturating_add(self.config.session_timeout_ms as u64);
        self.last_poll = now;
        self.heartbeat_due = now.saturating_add(self.config.heartbeat_interval_ms);
        self.generation = Generation {
            id: r.generation_id.0,
            member_id: r.member_id.0.clone(),
            protocol: r.protocol_name.clone(),
        };
        let assignments = if r.member_id == r.leader {
            match self.on_leader_elected(&r) {
                Ok(a) => a,
                Err(e) => {
                    self.phase = JoinPhase::Failed(JoinFailure::Fatal(e));
                    return;
                }
            }
        } else {
            vec![]
        };
        let version = self.config.versions.sync_group;
        let request = SyncGroupRequest {
            group_id: GroupId(self.config.group_id.clone()),
            generation_id: GenerationId(self.generation.id),
            member_id: MemberId(self.generation.member_id.clone()),
            group_instance_id: self.instance_id(version >= 3),
            protocol_type: (version >= 5).then(|| PROTOCOL_TYPE.to_owned()),
            protocol_name: if version >= 5 {
                self.generation.protocol.clone()
            } else {
                None
            },
            assignments,
        };
        let timeout = self.config.request_timeout_ms;
        let id = self.send(
            Kind::Sync,
            Request::SyncGroup(Versioned {
                api_version: version,
                message: request,
            }),
            timeout,
        );
        self.phase = JoinPhase::Syncing(id);
    }

    /// `onLeaderElected`: decode every member's subscription, run the selected assignor over
    /// the topics the group subscribes to, and encode each member's assignment. A static
    /// leader rejoining a stable group (KIP-814) skips the assignor: the coordinator keeps the
    /// assignment it has. Errors are what Kafka throws: a protocol the member did not offer, or
    /// metadata that is not a consumer subscription.
    fn on_leader_elected(
        &mut self,
        r: &JoinGroupResponse,
    ) -> Result<Vec<SyncGroupAssignment>, ErrorCode> {
        let strategy = self
            .selected_strategy(r.protocol_name.as_deref())
            .ok_or(ErrorCode::InconsistentGroupProtocol)?;
        let mut group_topics: BTreeSet<String> = BTreeSet::new();
        let mut members = Vec::with_capacity(r.members.len());
        for m in &r.members {
            let (_, subscription) = codec::decode_subscription(&m.metadata)
                .map_err(|_| ErrorCode::InconsistentGroupProtocol)?;
            group_topics.extend(subscription.topics.iter().cloned());
            let mut input = codec::member_input(
                m.member_id.as_str(),
                m.group_instance_id.as_ref().map(GroupInstanceId::as_str),
                strategy,
                &subscription,
            );
            // A negative partition cannot exist; Kafka's assignors never match it either.
            input.owned.retain(|(_, p)| *p >= 0);
            members.push(input);
        }
        self.is_leader = true;
        let snapshot = self.snapshot_of(&group_topics);
        self.assignment_snapshot = Some(snapshot.clone());
        if r.skip_assignment {
            return Ok(vec![]);
        }
        let mut builder = GroupSpec::builder();
        for (topic, count) in &snapshot {
            // A topic without metadata is not assigned (Kafka skips it with a warning).
            if let Some(n) = count.filter(|n| *n >= 0) {
                builder = builder.topic(topic.clone(), i64::from(n));
            }
        }
        for m in members {
            builder = builder.member(m);
        }
        let spec = builder
            .build()
            .map_err(|_| ErrorCode::InconsistentGroupProtocol)?;
        let assignment = kgroup_assign::assign(strategy, &spec);
        assignment
            .named(&spec)
            .into_iter()
            .map(|(member_id, partitions)| {
                let message = AssignmentMessage {
                    partitions,
                    user_data: None,
                };
                codec::encode_assignment(&message, CONSUMER_PROTOCOL_VERSION)
                    .map(|assignment| SyncGroupAssignment {
                        member_id,
                        assignment,
                    })
                    .map_err(|_| ErrorCode::InvalidRequest)
            })
            .collect()
    }

    fn selected_strategy(&self, name: Option<&str>) -> Option<Strategy> {
        name.and_then(Strategy::from_name)
            .filter(|s| self.config.strategies.contains(s))
    }

    /// `SyncGroupResponseHandler`.
    fn on_sync_response(&mut self, id: RequestId, sent: &Generation, r: SyncGroupResponse) {
        if self.phase != JoinPhase::Syncing(id) {
            return;
        }
        let failure = match r.error_code {
            ErrorCode::None => {
                if r.protocol_type
                    .as_deref()
                    .is_some_and(|t| t != PROTOCOL_TYPE)
                {
                    JoinFailure::Fatal(ErrorCode::InconsistentGroupProtocol)
                } else if !self.generation.is_reset()
                    && self.state == MemberState::CompletingRebalance
                {
                    let inconsistent = r
                        .protocol_name
                        .as_ref()
                        .is_some_and(|n| Some(n) != self.generation.protocol.as_ref());
                    if inconsistent {
                        JoinFailure::Fatal(ErrorCode::InconsistentGroupProtocol)
                    } else {
                        self.state = MemberState::Stable;
                        self.rejoin_needed = false;
                        self.rejoin_reason.clear();
                        self.phase = JoinPhase::Succeeded(r.assignment);
                        return;
                    }
                } else {
                    // The heartbeat thread reset the generation meanwhile: retry at once.
                    JoinFailure::Immediate(Some("UnjoinedGroupException"))
                }
            }
            ErrorCode::RebalanceInProgress => {
                JoinFailure::Immediate(Some("RebalanceInProgressException"))
            }
            ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration => {
                if self.generation == *sent {
                    let reset_member_id = r.error_code != ErrorCode::IllegalGeneration;
                    let reason = format!(
                        "encountered {} from SYNC_GROUP response",
                        r.error_code.name()
                    );
                    self.reset_state_and_rejoin(&reason, reset_member_id);
                }
                JoinFailure::Immediate(Some(exception_name(r.error_code)))
            }
            ErrorCode::CoordinatorNotAvailable | ErrorCode::NotCoordinator => {
                self.mark_coordinator_unknown(false);
                JoinFailure::Backoff(exception_name(r.error_code))
            }
            // FENCED_INSTANCE_ID, GROUP_AUTHORIZATION_FAILED and anything unexpected.
            other => JoinFailure::Fatal(other),
        };
        self.phase = JoinPhase::Failed(failure);
    }

    /// `onJoinComplete`: the assignment is applied. COOPERATIVE revokes what it no longer has
    /// and, if it revoked anything, rejoins so the partitions can go to their new owners in a
    /// follow-up rebalance (KIP-429); then the newly added partitions are assigned.
    fn on_join_complete(&mut self, bytes: &[u8]) {
        if !self.is_leader {
            self.assignment_snapshot = None;
        }
        let Some(strategy) = self.selected_strategy(self.generation.protocol.as_deref()) else {
            return self.fatal(ErrorCode::InconsistentGroupProtocol);
        };
        // Kafka refuses an assignment shorter than the version prefix.
        if bytes.len() < 2 {
            return self.fatal(ErrorCode::InconsistentGroupProtocol);
        }
        let Ok((_, message)) = codec::decode_assignment(bytes) else {
            return self.fatal(ErrorCode::InconsistentGroupProtocol);
        };
        let assigned: BTreeSet<TopicPartition> = message.partitions.into_iter().collect();
        if !assigned.iter().all(|tp| self.subscribes(&tp.topic)) {
            self.request_rejoin("received assignment does not match the current subscription");
            return;
        }
        let added: Vec<TopicPartition> = assigned.difference(&self.owned).cloned().collect();
        if self.protocol == RebalanceProtocol::Cooperative {
            let revoked: Vec<TopicPartition> = self.owned.difference(&assigned).cloned().collect();
            if !revoked.is_empty() {
                self.outputs
                    .push_back(Output::PartitionsRevoked(revoked.clone()));
                self.request_rejoin("need to revoke partitions and re-join");
            }
        }
        // `assignor.onAssignment`.
        self.assignor_generation = self.generation.id;
        if strategy == Strategy::Sticky {
            self.assignor_previous = Some(assigned.iter().cloned().collect());
        }
        self.owned = assigned;
        self.outputs.push_back(Output::PartitionsAssigned(added));
    }

    // ---- heartbeats ----------------------------------------------------------------------

    fn send_heartbeat(&mut self) {
        self.heartbeat_due = self.now.saturating_add(self.config.heartbeat_interval_ms);
        let version = self.config.versions.heartbeat;
        let request = HeartbeatRequest {
            group_id: GroupId(self.config.group_id.clone()),
            generation_id: GenerationId(self.generation.id),
            member_id: MemberId(self.generation.member_id.clone()),
            group_instance_id: self.instance_id(version >= 3),
        };
        let timeout = self.config.request_timeout_ms;
        self.send(
            Kind::Heartbeat,
            Request::Heartbeat(Versioned {
                api_version: version,
                message: request,
            }),
            timeout,
        );
    }

    /// `HeartbeatResponseHandler` and the heartbeat thread's listener. Errors about a
    /// generation the member has already left behind are ignored.
    fn on_heartbeat_response(&mut self, sent: &Generation, error: ErrorCode) {
        match error {
            ErrorCode::None => self.receive_heartbeat(),
            ErrorCode::CoordinatorNotAvailable | ErrorCode::NotCoordinator => {
                self.mark_coordinator_unknown(false);
                self.fail_heartbeat();
            }
            ErrorCode::RebalanceInProgress => {
                // Only a stable member rejoins; one already rebalancing ignores it. Either way
                // the coordinator heard from the member.
                if self.state == MemberState::Stable {
                    self.request_rejoin("group is already rebalancing");
                }
                self.receive_heartbeat();
            }
            ErrorCode::IllegalGeneration
            | ErrorCode::UnknownMemberId
            | ErrorCode::FencedInstanceId => {
                if self.generation == *sent {
                    let reason = format!("encountered {} from HEARTBEAT response", error.name());
                    self.reset_state_and_rejoin(&reason, error != ErrorCode::IllegalGeneration);
                    if error == ErrorCode::FencedInstanceId {
                        return self.fatal(error);
                    }
                    self.fail_heartbeat();
                } else {
                    self.receive_heartbeat();
                }
            }
            _ => self.fail_heartbeat(),
        }
    }

    fn receive_heartbeat(&mut self) {
        self.session_deadline = self
            .now
            .saturating_add(self.config.session_timeout_ms as u64);
    }

    fn fail_heartbeat(&mut self) {
        self.heartbeat_due = self.now.saturating_add(self.config.retry_backoff_ms);
    }

    // ---- leaving -------------------------------------------------------------------------

    /// `onLeavePrepare`.
    fn on_leave_prepare(&mut self) {
        if self.owned.is_empty() {
            return;
        }
        let dropped: Vec<TopicPartition> = mem::take(&mut self.owned).into_iter().collect();
        let rebalancing = matches!(
            self.state,
            MemberState::PreparingRebalance | MemberState::CompletingRebalance
        );
        if self.generation.is_gone() || rebalancing {
            self.outputs.push_back(Output::PartitionsLost(dropped));
        } else {
            self.outputs.push_back(Output::PartitionsRevoked(dropped));
        }
    }

    /// `maybeLeaveGroup`: only a dynamic member that is in the group says so; every member
    /// forgets its generation.
    fn maybe_leave_group(&mut self, reason: &str) {
        let dynamic = self.config.group_instance_id.is_none();
        if dynamic
            && self.coordinator_ready_at.is_none()
            && self.state != MemberState::Unjoined
            && !self.generation.member_id.is_empty()
        {
            let version = self.config.versions.leave_group;
            let request = LeaveGroupRequest {
                group_id: GroupId(self.config.group_id.clone()),
                members: vec![LeaveGroupMember {
                    member_id: MemberId(self.generation.member_id.clone()),
                    group_instance_id: None,
                    reason: (version >= 5).then(|| reason.to_owned()),
                }],
            };
            let timeout = self.config.request_timeout_ms;
            self.send(
                Kind::Leave,
                Request::LeaveGroup(Versioned {
                    api_version: version,
                    message: request,
                }),
                timeout,
            );
        }
        self.reset_state_and_rejoin("consumer pro-actively leaving the group", true);
    }

    // ---- commits -------------------------------------------------------------------------

    /// Sends the oldest pending commit when it may go, and ends the ones that cannot.
    fn drive_commits(&mut self) {
        let now = self.now;
        while self.life == Life::Running {
            let Some(job) = self.commits.front() else {
                return;
            };
            if now >= job.deadline {
                if let Some(id) = job.in_flight {
                    self.in_flight.remove(&id);
                }
                self.finish_commit(ErrorCode::RequestTimedOut);
                continue;
            }
            if job.in_flight.is_some() || now < job.retry_at || self.coordinator_ready_at.is_some()
            {
                return;
            }
            if job.offsets.is_empty() {
                self.finish_commit(ErrorCode::None);
                continue;
            }
            // `generationIfStable`: only a stable member commits with its generation.
            match self.state {
                MemberState::Stable => {}
                MemberState::PreparingRebalance | MemberState::CompletingRebalance => {
                    self.finish_commit(ErrorCode::RebalanceInProgress);
                    continue;
                }
                MemberState::Unjoined => {
                    self.finish_commit(ErrorCode::UnknownMemberId);
                    continue;
                }
            }
            let version = self.config.versions.offset_commit;
            let request = OffsetCommitRequest {
                group_id: GroupId(self.config.group_id.clone()),
                generation_id: GenerationId(self.generation.id),
                member_id: MemberId(self.generation.member_id.clone()),
                group_instance_id: self.instance_id(version >= 7),
                partitions: job.offsets.clone(),
            };
            let timeout = self.config.request_timeout_ms;
            let id = self.send(
                Kind::Commit,
                Request::OffsetCommit(Versioned {
                    api_version: version,
                    message: request,
                }),
                timeout,
            );
            if let Some(job) = self.commits.front_mut() {
                job.in_flight = Some(id);
            }
            return;
        }
    }

    fn finish_commit(&mut self, error: ErrorCode) {
        if let Some(job) = self.commits.pop_front() {
            self.outputs.push_back(Output::CommitCompleted {
                offsets: job.offsets,
                error,
            });
        }
    }

    /// A retriable failure: the commit is sent again after the backoff (its deadline permitting).
    fn retry_commit(&mut self) {
        let at = self.now.saturating_add(self.config.retry_backoff_ms);
        if let Some(job) = self.commits.front_mut() {
            job.in_flight = None;
            job.retry_at = at;
        }
    }

    /// `OffsetCommitResponseHandler`: the first partition error decides, as in Kafka.
    fn on_commit_response(&mut self, id: RequestId, sent: &Generation, r: OffsetCommitResponse) {
        if self.commits.front().and_then(|j| j.in_flight) != Some(id) {
            return;
        }
        if let Some(job) = self.commits.front_mut() {
            job.in_flight = None;
        }
        let mut unauthorized = false;
        for (_, error) in &r.partitions {
            match *error {
                ErrorCode::None => {}
                ErrorCode::TopicAuthorizationFailed => unauthorized = true,
                ErrorCode::CoordinatorLoadInProgress | ErrorCode::UnknownTopicOrPartition => {
                    return self.retry_commit();
                }
                ErrorCode::CoordinatorNotAvailable
                | ErrorCode::NotCoordinator
                | ErrorCode::RequestTimedOut => {
                    self.mark_coordinator_unknown(false);
                    return self.retry_commit();
                }
                ErrorCode::FencedInstanceId => {
                    if self.generation == *sent {
                        self.finish_commit(ErrorCode::FencedInstanceId);
                        return self.fatal(ErrorCode::FencedInstanceId);
                    }
                    // Another generation already: Kafka raises CommitFailedException.
                    let error = if self.state == MemberState::PreparingRebalance {
                        ErrorCode::RebalanceInProgress
                    } else {
                        ErrorCode::UnknownMemberId
                    };
                    return self.finish_commit(error);
                }
                ErrorCode::RebalanceInProgress => {
                    self.request_rejoin("offset commit failed since group is already rebalancing");
                    return self.finish_commit(ErrorCode::RebalanceInProgress);
                }
                e @ (ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration) => {
                    if self.generation != *sent && self.state == MemberState::PreparingRebalance {
                        // Already rejoining in a newer generation: not this member's fault.
                        return self.finish_commit(ErrorCode::RebalanceInProgress);
                    }
                    let reason = format!("encountered {} from OFFSET_COMMIT response", e.name());
                    self.reset_state_and_rejoin(&reason, e != ErrorCode::IllegalGeneration);
                    // Kafka raises CommitFailedException for both.
                    return self.finish_commit(ErrorCode::UnknownMemberId);
                }
                // GROUP_AUTHORIZATION_FAILED, OFFSET_METADATA_TOO_LARGE,
                // INVALID_COMMIT_OFFSET_SIZE and anything unexpected.
                other => return self.finish_commit(other),
            }
        }
        self.finish_commit(if unauthorized {
            ErrorCode::TopicAuthorizationFailed
        } else {
            ErrorCode::None
        });
    }

    // ---- requests and failures -----------------------------------------------------------

    fn send(&mut self, kind: Kind, request: Request, timeout_ms: u64) -> RequestId {
        self.next_id += 1;
        let id = self.next_id;
        self.in_flight.insert(
            id,
            InFlight {
                kind,
                sent: self.generation.clone(),
                deadline: self.now.saturating_add(timeout_ms),
            },
        );
        self.outputs.push_back(Output::Send { id, request });
        id
    }

    /// `markCoordinatorUnknown`: every request in flight fails as disconnected. When the
    /// consumer itself decides (an error response, a timeout), it also asks the driver to close
    /// the connection, as Kafka's `disconnectAsync` does.
    fn mark_coordinator_unknown(&mut self, disconnected: bool) {
        if self.coordinator_ready_at.is_none() {
            self.coordinator_ready_at = Some(self.now.saturating_add(self.config.retry_backoff_ms));
            if !disconnected {
                self.outputs.push_back(Output::Disconnect);
            }
        }
        for (id, f) in mem::take(&mut self.in_flight) {
            self.request_failed(id, f.kind);
        }
    }

    /// A request failed with a `DisconnectException`.
    fn request_failed(&mut self, id: RequestId, kind: Kind) {
        match kind {
            Kind::Join | Kind::Sync => {
                if matches!(self.phase, JoinPhase::Joining(x) | JoinPhase::Syncing(x) if x == id) {
                    self.phase = JoinPhase::Failed(JoinFailure::Backoff("DisconnectException"));
                }
            }
            Kind::Heartbeat => self.fail_heartbeat(),
            Kind::Commit => {
                if self.commits.front().and_then(|j| j.in_flight) == Some(id) {
                    self.retry_commit();
                }
            }
            Kind::Leave => {}
        }
    }

    /// The machine stops: Kafka throws `error` from `poll`, and the application closes the
    /// consumer, which drops what it owned as lost.
    fn fatal(&mut self, error: ErrorCode) {
        if self.life != Life::Running {
            return;
        }
        self.outputs.push_back(Output::Fatal(error));
        if error == ErrorCode::FencedInstanceId {
            // Another process holds the instance: what this one owned is lost, and a static
            // member never sends LeaveGroup.
            if !self.owned.is_empty() {
                let lost = mem::take(&mut self.owned);
                self.outputs
                    .push_back(Output::PartitionsLost(lost.into_iter().collect()));
            }
        } else {
            // The application closes the consumer on the exception: close()'s revoke (or lost)
            // and, for a dynamic member in the group, LeaveGroup.
            self.on_leave_prepare();
            self.maybe_leave_group("the consumer is being closed");
        }
        self.life = Life::Failed(error);
        self.state = MemberState::Unjoined;
        for job in mem::take(&mut self.commits) {
            self.outputs.push_back(Output::CommitCompleted {
                offsets: job.offsets,
                error,
            });
        }
        self.in_flight.clear();
        self.phase = JoinPhase::Idle;
    }
}
