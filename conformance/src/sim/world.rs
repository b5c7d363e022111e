//! The simulated world: one group coordinator, N consumer processes with their applications,
//! per-connection FIFO networks, a clock in milliseconds, the faults, and the checks.
//!
//! # Steps
//!
//! Every source of events offers the time of its next event: the coordinator's timer
//! (`poll_timeout`), each consumer's timer, the head of each connection in each direction, each
//! application's next poll, restarts, the end of a freeze or a stall, and the next fault. A step
//! takes the earliest (ties in that fixed order), moves the clock there and handles it; then the
//! state invariants are checked. Nothing else moves time, and every random choice comes from the
//! seed's stream in step order, so a run is a function of its seed and options.
//!
//! # The coordinator's clock and the trace
//!
//! Before any input at time `t` the coordinator's due timers fire (`handle_timeout(t)`), exactly
//! as a conformance trace's `advance` step fires them before the requests that follow it; so the
//! recorded trace replays to the same answers.
//!
//! # The timing assumption
//!
//! "No partition is processed by two live consumers at once" needs one, as in the model
//! (docs/invariants/no-double-processing.md): a consumer stops processing before the coordinator
//! can remove it. The simulator states it as: an application processes records only while the
//! coordinator holds its consumer's member id. The moment a session expires, or a rebalance
//! timeout removes a member that did not rejoin, or a static member's instance is taken over,
//! that process stops and forgets its positions (as in `onPartitionsLost`); once its member id is
//! held again (a new one after it rejoins, or the old one if a coordinator failover brings it
//! back from the log) it starts over from the committed offsets. A static member the coordinator
//! carries into a generation it did not rejoin (Kafka 3.9 keeps such members) stops the same way
//! until its consumer has joined that generation or a newer one. The simulator learns which
//! member ids the coordinator holds by describing the group (DescribeGroups, in process, not part
//! of any trace) after every coordinator input.

use super::record::Recorder;
use super::rng::Rng;
use super::scenario::{FaultKind, Scenario, GROUP};
use super::{Invariant, Report, Sabotage, SimOptions, Stats, Violation};
use crate::replay::ContinuingIds;
use kgroup_assign::codec::{self, AssignmentMessage};
use kgroup_core::consumer::{Consumer, ConsumerConfig, Output as ConsumerOutput};
use kgroup_core::coordinator::{
    self, Context, GroupCoordinator, Output as CoordinatorOutput, Request, RequestId, Response,
};
use kgroup_core::records::{LogEntry, Record, RecordKey};
use kgroup_core::store::Store;
use kgroup_protocol::api::*;
use kgroup_protocol::trace::TraceConfig;
use kgroup_protocol::{ErrorCode, GroupId, GroupState, TopicPartition};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

type Tp = TopicPartition;

/// The request id of the simulator's own DescribeGroups; never routed, never recorded.
const OBSERVER: u64 = u64::MAX;

/// A consumer's timer firing again and again at one instant means it makes no progress.
const MAX_TIMER_SPINS: u32 = 1_000;

/// Steps at one instant after which time counts as standing still.
const MAX_STEPS_AT_ONE_INSTANT: u64 = 200_000;

/// Generations the ownership checks remember.
const GENERATIONS_KEPT: i32 = 64;

/// A message on a connection: when it arrives, and whether it is lost (the connection breaks
/// when it would have arrived).
#[derive(Debug)]
struct Msg<T> {
    /// When it was sent, and when it arrives.
    sent: u64,
    at: u64,
    lost: bool,
    body: T,
}

/// Who a response goes to: the consumer state machine (its request id), or the application's
/// OffsetFetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Consumer(RequestId),
    Fetch(u64),
}

#[derive(Debug)]
struct Outgoing {
    from: Target,
    request: Request,
}

#[derive(Debug)]
struct Incoming {
    to: Target,
    response: Response,
}

/// What the SyncGroup request said, for judging its answer.
#[derive(Debug, Clone)]
struct SyncInfo {
    member: String,
    /// The member's identity across member ids: its instance id if static.
    owner: String,
    generation: i32,
}

/// Where the coordinator's answer to a request goes.
#[derive(Debug, Clone)]
struct Route {
    slot: usize,
    incarnation: u32,
    conn: u32,
    to: Target,
    sync: Option<SyncInfo>,
}

/// The application around a consumer: what its callbacks gave it, where it is in each
/// partition, and its commitSync in progress.
#[derive(Debug, Default)]
struct App {
    /// Assigned by a callback and not revoked or lost since.
    owned: BTreeSet<Tp>,
    /// How often each partition was assigned: an OffsetFetch answer for an older assignment
    /// is stale (Kafka discards a committed-offset fetch of another generation too).
    assigned: BTreeMap<Tp, u64>,
    /// The next record to process, for partitions whose committed offset is known.
    positions: BTreeMap<Tp, i64>,
    /// The committed offset each position started from.
    fetched: BTreeMap<Tp, i64>,
    /// OffsetFetch requests in flight: their partitions with the assignment they were for.
    fetches: BTreeMap<u64, Vec<(Tp, u64)>>,
    in_fetch: BTreeSet<Tp>,
    next_fetch: u64,
    /// A commitSync is in progress: the poll loop is blocked.
    committing: bool,
    /// What this application last committed per partition.
    committed: BTreeMap<Tp, i64>,
    /// The consumer's generation at the last PartitionsAssigned callback (a completed join).
    joined_generation: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Life {
    Running,
    /// The process is gone; a new one starts at `restart_at`, if ever.
    Down {
        restart_at: Option<u64>,
    },
}

/// One consumer slot: the process that runs in it, and its connection to the coordinator.
#[derive(Debug)]
struct Proc {
    client_id: String,
    instance: Option<String>,
    subscription: Vec<String>,
    /// Bumped at every restart: answers to an earlier process are dropped.
    incarnation: u32,
    life: Life,
    consumer: Option<Consumer>,
    /// Bumped whenever the connection closes: what was on it is gone.
    conn: u32,
    to_coord: VecDeque<Msg<Outgoing>>,
    to_client: VecDeque<Msg<Incoming>>,
    frozen_until: Option<u64>,
    stalled_until: Option<u64>,
    /// The connection broke while the process was frozen: it notices when it thaws.
    disconnect_on_thaw: bool,
    app_at: u64,
    app: App,
    timer_at: u64,
    timer_spins: u32,
    /// The coordinator carried this process's (static) member into generation `g` without its
    /// rejoining: it may not process until its consumer completes a join of generation `g` or
    /// later (the timing assumption).
    carried_into: Option<i32>,
    /// Coordinator failovers before this process started.
    failovers_at_start: u64,
    /// The application exits once its outputs are taken (FencedInstanceIdException).
    exiting: bool,
}

impl Proc {
    /// The process exists and its consumer has neither failed nor been closed.
    fn running(&self) -> bool {
        self.consumer
            .as_ref()
            .is_some_and(|c| c.fatal_error().is_none() && !c.is_closed())
    }

    fn member(&self) -> &str {
        self.consumer.as_ref().map_or("", |c| c.member_id())
    }

    fn clear_connection(&mut self) {
        self.conn += 1;
        self.to_coord.clear();
        self.to_client.clear();
        self.app.fetches.clear();
        self.app.in_fetch.clear();
    }
}

/// The next thing to happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum What {
    CoordinatorTimer,
    Restart(usize),
    Thaw(usize),
    Unstall(usize),
    ConsumerTimer(usize),
    Response(usize),
    Request(usize),
    App(usize),
    FaultTick,
}

/// Per partition: the committed offset last seen, and which records have been processed.
#[derive(Debug, Default)]
struct PartitionLedger {
    committed: Option<i64>,
    /// When the committed offset last changed.
    changed_at: u64,
    /// Every record below this has been processed.
    prefix: i64,
    /// Processed records above the prefix.
    beyond: BTreeSet<i64>,
}

impl PartitionLedger {
    fn processed(&mut self, offset: i64) {
        if offset < self.prefix {
            return;
        }
        self.beyond.insert(offset);
        while self.beyond.remove(&self.prefix) {
            self.prefix += 1;
        }
    }
}

pub(crate) struct World<'o> {
    seed: u64,
    opts: &'o SimOptions,
    rng: Rng,
    sc: Scenario,
    coord_config: coordinator::Config,
    now: u64,
    /// The time of the coordinator's last input (its clock).
    coord_now: u64,
    faults_on: bool,
    coord: GroupCoordinator,
    /// Before this, requests are answered NOT_COORDINATOR (a failover is under way).
    reachable_at: u64,
    /// The offsets log as a coordinator taking over loads it: every appended entry, encoded,
    /// decoded and replayed in order (replay is a left fold, so folding as entries arrive is
    /// loading the whole log at once), and how many entries it holds.
    loaded: Store,
    log_entries: u64,
    ids: ContinuingIds,
    next_ctx: u64,
    routes: BTreeMap<u64, Route>,
    procs: Vec<Proc>,
    next_fault_at: Option<u64>,
    /// The member ids the coordinator holds, and the group's state, after its last input.
    held: BTreeSet<String>,
    group_state: Option<GroupState>,
    /// Every partition, and its index in `ledger`.
    parts: Vec<Tp>,
    index: BTreeMap<Tp, usize>,
    ledger: Vec<PartitionLedger>,
    /// Per generation: partition → owner in the SyncGroup answers.
    handed: BTreeMap<i32, BTreeMap<Tp, String>>,
    /// Per generation: the members of the leader's JoinGroup answer (member id, owner, the
    /// partitions it reported owned).
    reported: BTreeMap<i32, Vec<(String, String, BTreeSet<Tp>)>>,
    /// Join phases completed in the current coordinator input: the JoinGroup answers (generation,
    /// member id) and the leaders' member lists (generation, member ids).
    joined_now: Vec<(i32, String)>,
    lists_now: Vec<(i32, Vec<String>)>,
    /// (coordinator incarnation, generation) of every join phase seen to complete.
    completed: BTreeSet<(u64, i32)>,
    failovers: u64,
    recorder: Option<Recorder>,
    events: VecDeque<String>,
    stats: Stats,
    violation: Option<Violation>,
    tail_deadline: u64,
    hold_ms: u64,
    settled_since: Option<u64>,
    instant: (u64, u64),
}

fn owner_of(member: &str, instance: Option<&str>) -> String {
    match instance {
        Some(i) => format!("instance {i}"),
        None => format!("member {}", short(member)),
    }
}

/// A member id as the reports show it: `c1-00000000-0000-0000-0000-00000000000a` is `c1#10`.
pub(crate) fn short(id: &str) -> String {
    if id.is_empty() {
        return "\"\"".into();
    }
    let n = id.len();
    if n > 37 && id.as_bytes()[n - 37] == b'-' {
        if let Ok(k) = u64::from_str_radix(&id[n - 12..], 16) {
            return format!("{}#{k}", &id[..n - 37]);
        }
    }
    id.to_string()
}

fn list<'a>(ps: impl IntoIterator<Item = &'a Tp>) -> String {
    let v: Vec<String> = ps
        .into_iter()
        .map(|tp| format!("{}-{}", tp.topic, tp.partition))
        .collect();
    v.join(",")
}

fn decode_assignment(bytes: &[u8]) -> Vec<Tp> {
    codec::decode_assignment(bytes)
        .map(|(_, a)| a.partitions)
        .unwrap_or_default()
}

fn encode_assignment(partitions: Vec<Tp>) -> Vec<u8> {
    codec::encode_assignment(
        &AssignmentMessage {
            partitions,
            user_data: None,
        },
        codec::HIGHEST_VERSION,
    )
    .unwrap_or_default()
}

fn describe_request(r: &Request) -> String {
    match r {
        Request::JoinGroup(v) => {
            let m = &v.message;
            let owned = m
                .protocols
                .first()
                .and_then(|p| codec::decode_subscription(&p.metadata).ok())
                .map(|(_, s)| list(&s.owned_partitions))
                .unwrap_or_default();
            format!(
                "JoinGroup v{} member={} instance={} owned=[{owned}]",
                v.api_version,
                short(m.member_id.as_str()),
                m.group_instance_id.as_ref().map_or("-", |i| i.as_str()),
            )
        }
        Request::SyncGroup(v) => {
            let m = &v.message;
            let a: Vec<String> = m
                .assignments
                .iter()
                .map(|a| {
                    format!(
                        "{}:[{}]",
                        short(a.member_id.as_str()),
                        list(&decode_assignment(&a.assignment))
                    )
                })
                .collect();
            format!(
                "SyncGroup v{} member={} gen={} assignments=[{}]",
                v.api_version,
                short(m.member_id.as_str()),
                m.generation_id.0,
                a.join(" ")
            )
        }
        Request::Heartbeat(v) => format!(
            "Heartbeat member={} gen={}",
            short(v.message.member_id.as_str()),
            v.message.generation_id.0
        ),
        Request::LeaveGroup(v) => {
            let ms: Vec<String> = v
                .message
                .members
                .iter()
                .map(|m| short(m.member_id.as_str()))
                .collect();
            format!("LeaveGroup members=[{}]", ms.join(","))
        }
        Request::OffsetCommit(v) => {
            let ps: Vec<String> = v
                .message
                .partitions
                .iter()
                .map(|p| {
                    format!(
                        "{}-{}@{}",
                        p.partition.topic, p.partition.partition, p.committed_offset
                    )
                })
                .collect();
            format!(
                "OffsetCommit member={} gen={} [{}]",
                short(v.message.member_id.as_str()),
                v.message.generation_id.0,
                ps.join(",")
            )
        }
        Request::OffsetFetch(v) => format!(
            "OffsetFetch [{}]",
            list(v.message.partitions.iter().flatten())
        ),
        other => format!("{other:?}"),
    }
}

fn describe_response(r: &Response) -> String {
    match r {
        Response::JoinGroup(r) => format!(
            "JoinGroup {} gen={} member={} leader={}{}",
            r.error_code,
            r.generation_id.0,
            short(r.member_id.as_str()),
            short(r.leader.as_str()),
            if r.members.is_empty() {
                String::new()
            } else {
                format!(" members={}", r.members.len())
            }
        ),
        Response::SyncGroup(r) => format!(
            "SyncGroup {} assignment=[{}]",
            r.error_code,
            list(&decode_assignment(&r.assignment))
        ),
        Response::Heartbeat(r) => format!("Heartbeat {}", r.error_code),
        Response::LeaveGroup(r) => format!("LeaveGroup {}", r.error_code),
        Response::OffsetCommit(r) => {
            let e = r
                .partitions
                .iter()
                .map(|(_, e)| *e)
                .find(|e| !e.is_none())
                .unwrap_or(ErrorCode::None);
            format!("OffsetCommit {e}")
        }
        Response::OffsetFetch(r) => {
            let ps: Vec<String> = r
                .partitions
                .iter()
                .map(|p| {
                    format!(
                        "{}-{}@{}",
                        p.partition.topic, p.partition.partition, p.committed_offset
                    )
                })
                .collect();
            format!("OffsetFetch {} [{}]", r.error_code, ps.join(","))
        }
        other => format!("{other:?}"),
    }
}

/// What a broker that does not (or no longer) lead the offsets partition answers.
fn not_coordinator(request: &Request) -> Response {
    let e = ErrorCode::NotCoordinator;
    match request {
        Request::JoinGroup(r) => Response::JoinGroup(JoinGroupResponse {
            error_code: e,
            generation_id: kgroup_protocol::GenerationId::UNKNOWN,
            protocol_type: None,
            protocol_name: None,
            leader: kgroup_protocol::MemberId(String::new()),
            skip_assignment: false,
            member_id: r.message.member_id.clone(),
            members: vec![],
        }),
        Request::SyncGroup(_) => Response::SyncGroup(SyncGroupResponse {
            error_code: e,
            protocol_type: None,
            protocol_name: None,
            assignment: vec![],
        }),
        Request::Heartbeat(_) => Response::Heartbeat(HeartbeatResponse { error_code: e }),
        Request::LeaveGroup(_) => Response::LeaveGroup(LeaveGroupResponse {
            error_code: e,
            members: vec![],
        }),
        Request::OffsetCommit(r) => Response::OffsetCommit(OffsetCommitResponse {
            partitions: r
                .message
                .partitions
                .iter()
                .map(|p| (p.partition.clone(), e))
                .collect(),
        }),
        _ => Response::OffsetFetch(OffsetFetchResponse {
            error_code: e,
            partitions: vec![],
        }),
    }
}

impl<'o> World<'o> {
    pub(crate) fn new(seed: u64, opts: &'o SimOptions) -> World<'o> {
        let mut rng = Rng::new(seed);
        let sc = Scenario::draw(&mut rng, &opts.overrides);
        let mut coord_config = coordinator::Config {
            group_initial_rebalance_delay_ms: sc.initial_rebalance_delay_ms,
            ..coordinator::Config::default()
        };
        if let Some(tweak) = opts.tweak_coordinator {
            tweak(&mut coord_config);
        }
        let ids = ContinuingIds::default();
        let coord =
            GroupCoordinator::load(coord_config.clone(), Box::new(ids.clone()), Store::new(), 0);
        let procs = (0..sc.consumers)
            .map(|slot| Proc {
                client_id: format!("c{slot}"),
                instance: sc.statics[slot].then(|| format!("i{slot}")),
                subscription: sc.subscriptions[slot].clone(),
                incarnation: 0,
                life: Life::Down {
                    restart_at: Some(0),
                },
                consumer: None,
                conn: 0,
                to_coord: VecDeque::new(),
                to_client: VecDeque::new(),
                frozen_until: None,
                stalled_until: None,
                disconnect_on_thaw: false,
                app_at: 0,
                app: App::default(),
                timer_at: 0,
                timer_spins: 0,
                carried_into: None,
                failovers_at_start: 0,
                exiting: false,
            })
            .collect();
        let parts: Vec<Tp> = sc
            .topics
            .iter()
            .flat_map(|(t, n)| (0..*n).map(move |p| Tp::new(t.clone(), p)))
            .collect();
        let index = parts
            .iter()
            .enumerate()
            .map(|(i, tp)| (tp.clone(), i))
            .collect();
        let ledger = parts.iter().map(|_| PartitionLedger::default()).collect();
        World {
            seed,
            opts,
            rng,
            sc,
            coord_config,
            now: 0,
            coord_now: 0,
            faults_on: true,
            coord,
            reachable_at: 0,
            loaded: Store::new(),
            log_entries: 0,
            ids,
            next_ctx: 0,
            routes: BTreeMap::new(),
            procs,
            next_fault_at: None,
            held: BTreeSet::new(),
            group_state: None,
            parts,
            index,
            ledger,
            handed: BTreeMap::new(),
            reported: BTreeMap::new(),
            joined_now: vec![],
            lists_now: vec![],
            completed: BTreeSet::new(),
            failovers: 0,
            recorder: opts.record_trace.then(Recorder::default),
            events: VecDeque::new(),
            stats: Stats::default(),
            violation: None,
            tail_deadline: u64::MAX,
            hold_ms: 0,
            settled_since: None,
            instant: (0, 0),
        }
    }

    // ---- the run ---------------------------------------------------------------------------

    pub(crate) fn run(mut self) -> Report {
        for slot in 0..self.procs.len() {
            self.restart(slot);
        }
        self.observe();
        self.schedule_fault_tick();
        loop {
            if self.violation.is_some() {
                break;
            }
            if self.faults_on && self.stats.fault_steps >= self.opts.steps {
                self.end_faults();
            }
            if !self.faults_on && self.tail_done() {
                break;
            }
            let Some((at, what)) = self.next_event() else {
                self.liveness_failure("nothing is left to happen");
                break;
            };
            self.advance_to(at);
            if self.faults_on {
                self.stats.fault_steps += 1;
            } else {
                self.stats.tail_steps += 1;
            }
            self.dispatch(what);
            if self.violation.is_none() {
                self.check_state();
            }
        }
        self.stats.sim_ms = self.now;
        let trace = self.recorder.take().map(|r| {
            let c = &self.coord_config;
            r.finish(
                format!("sim-seed-{}", self.seed),
                format!(
                    "Recorded by `{}`: the requests kgroup-core's group coordinator received in \
                     that run, the passing of time and the failovers, with the responses \
                     kgroup-core gave as the expectations. The expectations come from \
                     kgroup-core, not from the model: review them before this trace joins a \
                     corpus.",
                    super::cli::reproduction(self.seed, self.opts)
                ),
                TraceConfig {
                    group_min_session_timeout_ms: c.group_min_session_timeout_ms,
                    group_max_session_timeout_ms: c.group_max_session_timeout_ms,
                    group_initial_rebalance_delay_ms: c.group_initial_rebalance_delay_ms,
                    group_max_size: u32::try_from(c.group_max_size).unwrap_or(u32::MAX),
                },
            )
        });
        Report {
            seed: self.seed,
            scenario: self.sc,
            stats: self.stats,
            violation: self.violation,
            events: self.events.into_iter().collect(),
            trace,
        }
    }

    fn advance_to(&mut self, at: u64) {
        let at = at.max(self.now);
        if at == self.instant.0 {
            self.instant.1 += 1;
            if self.instant.1 > MAX_STEPS_AT_ONE_INSTANT {
                self.fail(
                    Invariant::RebalancesFinish,
                    format!("time stands still: {MAX_STEPS_AT_ONE_INSTANT} steps at t={at} ms"),
                );
            }
        } else {
            self.instant = (at, 0);
        }
        self.now = at;
    }

    fn next_event(&mut self) -> Option<(u64, What)> {
        let mut best: Option<(u64, What)> = None;
        let mut offer = |at: u64, what: What| {
            if best.is_none_or(|(b, _)| at < b) {
                best = Some((at, what));
            }
        };
        if let Some(t) = self.coord.poll_timeout() {
            offer(t, What::CoordinatorTimer);
        }
        for (i, p) in self.procs.iter().enumerate() {
            if let Life::Down {
                restart_at: Some(t),
            } = p.life
            {
                offer(t, What::Restart(i));
            }
            if let Some(t) = p.frozen_until {
                offer(t, What::Thaw(i));
            }
            if let Some(t) = p.stalled_until {
                offer(t, What::Unstall(i));
            }
            let awake = p.consumer.is_some() && p.frozen_until.is_none();
            if awake {
                if let Some(t) = p.consumer.as_ref().and_then(|c| c.poll_timeout()) {
                    offer(t, What::ConsumerTimer(i));
                }
                if let Some(m) = p.to_client.front() {
                    offer(m.at, What::Response(i));
                }
            }
            if let Some(m) = p.to_coord.front() {
                offer(m.at, What::Request(i));
            }
            if awake && p.stalled_until.is_none() && p.running() {
                offer(p.app_at, What::App(i));
            }
        }
        if self.faults_on {
            if let Some(t) = self.next_fault_at {
                offer(t, What::FaultTick);
            }
        }
        best
    }

    fn dispatch(&mut self, what: What) {
        match what {
            What::CoordinatorTimer => {
                self.tick_coordinator();
                self.observe();
            }
            What::Restart(i) => self.restart(i),
            What::Thaw(i) => self.thaw(i),
            What::Unstall(i) => {
                let p = &mut self.procs[i];
                p.stalled_until = None;
                p.app_at = self.now;
                self.note(|| format!("c{i}: the application polls again"));
            }
            What::ConsumerTimer(i) => self.consumer_timer(i),
            What::Response(i) => self.deliver_response(i),
            What::Request(i) => self.deliver_request(i),
            What::App(i) => self.app_step(i),
            What::FaultTick => self.fault_tick(),
        }
    }

    fn note(&mut self, what: impl FnOnce() -> String) {
        if self.opts.keep_events == 0 {
            return;
        }
        if self.events.len() == self.opts.keep_events {
            self.events.pop_front();
        }
        let step = self.stats.steps();
        self.events
            .push_back(format!("{step:>7} {:>9} ms  {}", self.now, what()));
    }

    fn fail(&mut self, invariant: Invariant, message: String) {
        if self.violation.is_some() {
            return;
        }
        self.note(|| format!("VIOLATION: {invariant}"));
        self.violation = Some(Violation {
            invariant,
            step: self.stats.steps(),
            time_ms: self.now,
            message,
        });
    }

    // ---- the coordinator -------------------------------------------------------------------

    /// The coordinator's timers due by now fire (and its clock moves), as a trace's `advance`.
    fn tick_coordinator(&mut self) {
        let due = self.coord.poll_timeout().is_some_and(|t| t <= self.now);
        if self.now > self.coord_now || due {
            let ms = self.now - self.coord_now;
            self.coord.handle_timeout(self.now);
            if let Some(r) = &mut self.recorder {
                r.advance(ms);
            }
            self.coord_now = self.now;
            self.drain_coordinator();
        }
    }

    fn drain_coordinator(&mut self) {
        while let Some(out) = self.coord.poll_output() {
            match out {
                CoordinatorOutput::Append(entry) => {
                    self.check_tombstone(&entry);
                    let n = self.log_entries;
                    self.log_entries += 1;
                    let loaded = entry
                        .encode()
                        .and_then(|bytes| LogEntry::decode(&bytes))
                        .map_err(|e| e.to_string())
                        .and_then(|e| self.loaded.replay(&e).map_err(|e| e.to_string()));
                    if let Err(e) = loaded {
                        self.fail(
                            Invariant::ReplayEqualsLive,
                            format!("log entry {n} does not encode, decode and load: {e}"),
                        );
                    }
                }
                CoordinatorOutput::Response { id, response } => {
                    if let Some(r) = &mut self.recorder {
                        r.expect(id, &response);
                    }
                    if let Response::JoinGroup(r) = &response {
                        if r.error_code.is_none() {
                            let generation = r.generation_id.0;
                            self.joined_now.push((generation, r.member_id.0.clone()));
                            if !r.members.is_empty() && !r.skip_assignment {
                                let ids = r.members.iter().map(|m| m.member_id.0.clone()).collect();
                                self.lists_now.push((generation, ids));
                            }
                        }
                    }
                    let Some(route) = self.routes.remove(&id) else {
                        continue;
                    };
                    self.note(|| {
                        format!(
                            "coordinator -> c{}: {}",
                            route.slot,
                            describe_response(&response)
                        )
                    });
                    self.check_answer(&route, &response);
                    self.enqueue_response(&route, response);
                }
                CoordinatorOutput::Abandoned { id } => {
                    if let Some(route) = self.routes.remove(&id) {
                        self.note(|| format!("coordinator abandons a request of c{}", route.slot));
                    }
                }
            }
        }
        self.note_carried_members();
    }

    /// A join phase completes with a JoinGroup answer to every member that rejoined and the
    /// member list to the leader. Kafka 3.9 keeps a static member that did not rejoin in the new
    /// generation (`onCompleteJoin` removes only dynamic ones), with the subscription it sent
    /// last, so the leader may give its partitions to others while it goes on processing them.
    /// The timing assumption covers it as it covers removal: such a process stops processing
    /// until its consumer has joined a generation at least as new.
    fn note_carried_members(&mut self) {
        let joined = std::mem::take(&mut self.joined_now);
        for (generation, members) in std::mem::take(&mut self.lists_now) {
            if !self.completed.insert((self.failovers, generation)) {
                // A retried JoinGroup answered with the current generation, not a completion.
                continue;
            }
            for m in members {
                if joined.iter().any(|(g, id)| *g == generation && *id == m) {
                    continue;
                }
                if let Some(i) = self.procs.iter().position(|p| p.member() == m) {
                    self.note(|| {
                        format!(
                            "c{i}: carried into generation {generation} without rejoining \
                             (stops processing until it joins again)"
                        )
                    });
                    self.procs[i].carried_into = Some(generation);
                }
            }
        }
    }

    /// The coordinator deletes a committed offset only when it expires: `offsets.retention.ms`
    /// after its commit at the earliest (KIP-211 counts from when the group became Empty,
    /// KIP-496 from the commit). An expired offset is no regression; the ledger forgets it.
    fn check_tombstone(&mut self, entry: &LogEntry) {
        let LogEntry::Plain(Record {
            key:
                RecordKey::OffsetCommit {
                    group,
                    topic,
                    partition,
                },
            value: None,
        }) = entry
        else {
            return;
        };
        if group != GROUP {
            return;
        }
        let Some(&k) = self.index.get(&Tp::new(topic.clone(), *partition)) else {
            return;
        };
        let since = self.now - self.ledger[k].changed_at;
        let retention = u64::try_from(self.coord_config.offsets_retention_ms).unwrap_or(0);
        if self.ledger[k].committed.is_some() && since < retention {
            let msg = format!(
                "the committed offset of {topic}-{partition} is deleted {since} ms after it was \
                 committed, before offsets.retention.ms ({retention} ms)"
            );
            return self.fail(Invariant::NoOffsetRegression, msg);
        }
        self.note(|| format!("the committed offset of {topic}-{partition} expires"));
        self.ledger[k].committed = None;
    }

    /// Reads the group's state and members from the coordinator (DescribeGroups, in process).
    fn observe(&mut self) {
        let request = Request::DescribeGroups(Versioned {
            api_version: 5,
            message: DescribeGroupsRequest {
                groups: vec![GroupId(GROUP.into())],
            },
        });
        let ctx = Context {
            id: OBSERVER,
            client_id: "kgroup-sim".into(),
            client_host: "/kgroup-sim".into(),
        };
        self.coord.handle_request(self.coord_now, ctx, request);
        let mut described = None;
        while let Some(out) = self.coord.poll_output() {
            match out {
                CoordinatorOutput::Response {
                    id: OBSERVER,
                    response: Response::DescribeGroups(r),
                } => described = r.groups.into_iter().next(),
                other => self.fail(
                    Invariant::ConsumersHealthy,
                    format!("DescribeGroups had an effect besides its answer: {other:?}"),
                ),
            }
        }
        let before = self.group_state;
        match described {
            Some(g) if g.error_code.is_none() => {
                self.group_state = GroupState::from_name(&g.group_state);
                self.held = g.members.into_iter().map(|m| m.member_id.0).collect();
            }
            _ => {
                self.group_state = None;
                self.held.clear();
            }
        }
        if self.group_state == Some(GroupState::Dead)
            && before.is_some_and(|s| s != GroupState::Dead)
        {
            // The coordinator removed the group (an Empty group without offsets, at the
            // retention check, as Kafka's cleanupGroupMetadata): a group of the same name starts
            // again at generation 0, so the generations seen so far belong to another group.
            self.note(|| "the coordinator removes the empty group".into());
            self.handed.clear();
            self.reported.clear();
            self.completed.clear();
        }
        if self.group_state == Some(GroupState::CompletingRebalance)
            && before != Some(GroupState::CompletingRebalance)
        {
            self.stats.rebalances += 1;
        }
    }

    /// The ownership checks on the coordinator's answers.
    fn check_answer(&mut self, route: &Route, response: &Response) {
        match response {
            Response::JoinGroup(r) if r.error_code.is_none() && !r.members.is_empty() => {
                // The leader's answer: what every member reported owning when it joined.
                let members = r
                    .members
                    .iter()
                    .map(|m| {
                        let owned = codec::decode_subscription(&m.metadata)
                            .map(|(_, s)| s.owned_partitions.into_iter().collect())
                            .unwrap_or_default();
                        let owner = owner_of(
                            m.member_id.as_str(),
                            m.group_instance_id.as_ref().map(|i| i.as_str()),
                        );
                        (m.member_id.0.clone(), owner, owned)
                    })
                    .collect();
                self.reported.insert(r.generation_id.0, members);
            }
            Response::SyncGroup(r) if r.error_code.is_none() => {
                let Some(info) = &route.sync else {
                    return;
                };
                self.stats.sync_answers += 1;
                let generation = info.generation;
                self.stats.max_generation = self.stats.max_generation.max(generation);
                let given = decode_assignment(&r.assignment);
                let handed = self.handed.entry(generation).or_default();
                let mut conflicts = vec![];
                for tp in &given {
                    match handed.get(tp) {
                        Some(other) if *other != info.owner => {
                            conflicts.push((tp.clone(), other.clone()));
                        }
                        Some(_) => {}
                        None => {
                            handed.insert(tp.clone(), info.owner.clone());
                        }
                    }
                }
                if let Some((tp, other)) = conflicts.first() {
                    let msg = format!(
                        "generation {generation} gives {}-{} to {} ({}) and to {other}",
                        tp.topic,
                        tp.partition,
                        info.owner,
                        short(&info.member)
                    );
                    return self.fail(Invariant::NoDoubleOwnership, msg);
                }
                if let Some(members) = self.reported.get(&generation) {
                    for tp in &given {
                        let holder = members
                            .iter()
                            .find(|(_, owner, owned)| *owner != info.owner && owned.contains(tp));
                        if let Some((id, owner, _)) = holder {
                            let msg = format!(
                                "generation {generation} gives {}-{} to {} although {owner} ({}) \
                                 reported it owned when it joined the generation",
                                tp.topic,
                                tp.partition,
                                info.owner,
                                short(id)
                            );
                            return self.fail(Invariant::RevokeBeforeHandover, msg);
                        }
                    }
                }
                let oldest = generation - GENERATIONS_KEPT;
                self.handed.retain(|g, _| *g >= oldest);
                self.reported.retain(|g, _| *g >= oldest);
            }
            _ => {}
        }
    }

    // ---- the network -----------------------------------------------------------------------

    /// When a message sent now arrives behind `behind` (FIFO), and whether a fault delays it.
    fn transit(&mut self, behind: Option<u64>) -> (u64, bool) {
        let (lo, hi) = self.sc.latency_ms;
        let mut at = self.now + self.rng.range(lo, hi);
        if self.faults_on
            && self.sc.faults.on(FaultKind::Delay)
            && self.rng.ppm(self.sc.faults.delay_ppm)
        {
            at += self.rng.range(50, 2 * self.sc.request_timeout_ms);
            *self.stats.faults.entry(FaultKind::Delay).or_default() += 1;
        }
        let lost = self.faults_on
            && self.sc.faults.on(FaultKind::Loss)
            && self.rng.ppm(self.sc.faults.loss_ppm);
        if lost {
            *self.stats.faults.entry(FaultKind::Loss).or_default() += 1;
        }
        (at.max(behind.unwrap_or(0)), lost)
    }

    fn enqueue_request(&mut self, i: usize, from: Target, request: Request) {
        let behind = self.procs[i].to_coord.back().map(|m| m.at);
        let (at, lost) = self.transit(behind);
        let sent = self.now;
        self.procs[i].to_coord.push_back(Msg {
            sent,
            at,
            lost,
            body: Outgoing { from, request },
        });
    }

    fn enqueue_response(&mut self, route: &Route, response: Response) {
        let p = &self.procs[route.slot];
        if p.incarnation != route.incarnation || p.conn != route.conn || p.consumer.is_none() {
            return;
        }
        let behind = p.to_client.back().map(|m| m.at);
        let (at, lost) = self.transit(behind);
        let sent = self.now;
        self.procs[route.slot].to_client.push_back(Msg {
            sent,
            at,
            lost,
            body: Incoming {
                to: route.to,
                response,
            },
        });
    }

    /// The connection of slot `i` breaks: everything on it is lost and the consumer is told.
    fn break_connection(&mut self, i: usize) {
        let p = &mut self.procs[i];
        p.clear_connection();
        if p.consumer.is_none() {
            return;
        }
        if p.frozen_until.is_some() {
            p.disconnect_on_thaw = true;
            return;
        }
        if let Some(c) = &mut p.consumer {
            c.disconnect(self.now);
        }
        self.drain_proc(i);
    }

    fn deliver_request(&mut self, i: usize) {
        let Some(msg) = self.procs[i].to_coord.pop_front() else {
            return;
        };
        if msg.lost {
            self.note(|| {
                format!(
                    "c{i} -> coordinator: {} LOST, the connection breaks",
                    describe_request(&msg.body.request)
                )
            });
            return self.break_connection(i);
        }
        let late = self.now - msg.sent;
        if late > self.sc.latency_ms.1 {
            self.note(|| format!("a request of c{i} arrives late ({late} ms in transit)"));
        }
        let Outgoing { from, request } = msg.body;
        let p = &self.procs[i];
        let (incarnation, conn, client) = (p.incarnation, p.conn, p.client_id.clone());
        if self.now < self.reachable_at {
            self.note(|| {
                format!(
                    "c{i} -> coordinator: {} (failover under way: NOT_COORDINATOR)",
                    describe_request(&request)
                )
            });
            let route = Route {
                slot: i,
                incarnation,
                conn,
                to: from,
                sync: None,
            };
            return self.enqueue_response(&route, not_coordinator(&request));
        }
        self.tick_coordinator();
        self.next_ctx += 1;
        let id = self.next_ctx;
        let sync = match &request {
            Request::SyncGroup(v) => Some(SyncInfo {
                member: v.message.member_id.0.clone(),
                owner: owner_of(
                    v.message.member_id.as_str(),
                    v.message.group_instance_id.as_ref().map(|g| g.as_str()),
                ),
                generation: v.message.generation_id.0,
            }),
            _ => None,
        };
        self.routes.insert(
            id,
            Route {
                slot: i,
                incarnation,
                conn,
                to: from,
                sync,
            },
        );
        if let Some(r) = &mut self.recorder {
            r.send(id, &client, &request);
        }
        self.note(|| format!("c{i} -> coordinator: {}", describe_request(&request)));
        self.stats.requests += 1;
        let ctx = Context {
            id,
            client_host: format!("/{client}"),
            client_id: client,
        };
        self.coord.handle_request(self.now, ctx, request);
        self.drain_coordinator();
        self.observe();
    }

    fn deliver_response(&mut self, i: usize) {
        let Some(msg) = self.procs[i].to_client.pop_front() else {
            return;
        };
        if msg.lost {
            self.note(|| {
                format!(
                    "coordinator -> c{i}: {} LOST, the connection breaks",
                    describe_response(&msg.body.response)
                )
            });
            return self.break_connection(i);
        }
        let late = self.now - msg.sent;
        if late > self.sc.latency_ms.1 {
            self.note(|| {
                format!(
                    "c{i} receives {} late ({late} ms in transit)",
                    describe_response(&msg.body.response)
                )
            });
        }
        match msg.body.to {
            Target::Consumer(id) => {
                if let Some(c) = &mut self.procs[i].consumer {
                    c.handle_response(self.now, id, msg.body.response);
                }
                self.drain_proc(i);
            }
            Target::Fetch(f) => self.fetch_answer(i, f, msg.body.response),
        }
    }

    // ---- consumers ---------------------------------------------------------------------------

    fn consumer_config(&self, slot: usize) -> ConsumerConfig {
        let sc = &self.sc;
        let p = &self.procs[slot];
        let mut c = ConsumerConfig::new(GROUP, p.client_id.clone(), p.subscription.clone());
        c.group_instance_id = p.instance.clone();
        c.session_timeout_ms = sc.session_timeout_ms;
        c.rebalance_timeout_ms = sc.rebalance_timeout_ms;
        c.heartbeat_interval_ms = sc.heartbeat_interval_ms;
        c.retry_backoff_ms = sc.retry_backoff_ms;
        c.request_timeout_ms = sc.request_timeout_ms;
        c.default_api_timeout_ms = sc.default_api_timeout_ms;
        c.strategies = sc.strategies.clone();
        c.versions = sc.versions;
        c
    }

    /// A new process starts in slot `i` (at the start, or after a crash or a close).
    fn restart(&mut self, i: usize) {
        let config = self.consumer_config(i);
        let mut consumer = match Consumer::new(config, self.now) {
            Ok(c) => c,
            Err(e) => {
                return self.fail(
                    Invariant::ConsumersHealthy,
                    format!("the scenario gave consumer {i} a configuration it refuses: {e}"),
                )
            }
        };
        consumer.set_metadata(self.sc.topics.iter().map(|(t, n)| (t.clone(), *n)));
        let now = self.now;
        let p = &mut self.procs[i];
        let first = p.incarnation == 0 && p.conn == 0;
        if !first {
            p.incarnation += 1;
        }
        p.clear_connection();
        p.life = Life::Running;
        p.consumer = Some(consumer);
        p.app = App::default();
        p.app_at = now;
        p.frozen_until = None;
        p.stalled_until = None;
        p.disconnect_on_thaw = false;
        p.timer_spins = 0;
        p.carried_into = None;
        p.failovers_at_start = self.failovers;
        p.exiting = false;
        if !first {
            self.note(|| format!("c{i}: a new process starts"));
        }
    }

    fn thaw(&mut self, i: usize) {
        let now = self.now;
        let p = &mut self.procs[i];
        p.frozen_until = None;
        p.app_at = p.app_at.max(now);
        self.note(|| format!("c{i}: the process resumes"));
        if std::mem::take(&mut self.procs[i].disconnect_on_thaw) {
            if let Some(c) = &mut self.procs[i].consumer {
                c.disconnect(now);
            }
            self.drain_proc(i);
        }
    }

    /// The process in slot `i` is gone (its connection with it); a new one starts at
    /// `restart_at`, if ever.
    fn stop_process(&mut self, i: usize, restart_at: Option<u64>) {
        let p = &mut self.procs[i];
        p.life = Life::Down { restart_at };
        p.consumer = None;
        p.clear_connection();
        p.app = App::default();
        p.frozen_until = None;
        p.stalled_until = None;
        p.disconnect_on_thaw = false;
        p.carried_into = None;
    }

    fn consumer_timer(&mut self, i: usize) {
        let now = self.now;
        let p = &mut self.procs[i];
        if p.timer_at == now {
            p.timer_spins += 1;
            if p.timer_spins > MAX_TIMER_SPINS {
                return self.fail(
                    Invariant::ConsumersHealthy,
                    format!(
                        "consumer {i}'s timer fires {MAX_TIMER_SPINS} times at t={now} ms \
                         without moving on"
                    ),
                );
            }
        } else {
            p.timer_at = now;
            p.timer_spins = 0;
        }
        if let Some(c) = &mut p.consumer {
            c.handle_timeout(now);
        }
        self.drain_proc(i);
    }

    /// Takes consumer `i`'s outputs: requests onto its connection, callbacks into its
    /// application.
    fn drain_proc(&mut self, i: usize) {
        while let Some(out) = self.procs[i]
            .consumer
            .as_mut()
            .and_then(|c| c.poll_output())
        {
            match out {
                ConsumerOutput::Send { id, request } => {
                    let Some(request) = self.sabotage_request(request) else {
                        continue;
                    };
                    self.enqueue_request(i, Target::Consumer(id), request);
                }
                ConsumerOutput::Disconnect => {
                    self.note(|| format!("c{i}: closes its connection"));
                    self.procs[i].clear_connection();
                }
                ConsumerOutput::PartitionsRevoked(ps) => self.give_up(i, ps, "revoked"),
                ConsumerOutput::PartitionsLost(ps) => self.give_up(i, ps, "lost"),
                ConsumerOutput::PartitionsAssigned(ps) => self.assigned(i, ps),
                ConsumerOutput::CommitCompleted { offsets, error } => {
                    let app = &mut self.procs[i].app;
                    app.committing = false;
                    if error.is_none() {
                        self.stats.commits_ok += 1;
                        for o in &offsets {
                            app.committed
                                .insert(o.partition.clone(), o.committed_offset);
                        }
                    }
                    self.note(|| format!("c{i}: commitSync returns {error}"));
                }
                ConsumerOutput::Fatal(e) => {
                    let p = &self.procs[i];
                    let fenced_after_failover = e == ErrorCode::FencedInstanceId
                        && p.instance.is_some()
                        && self.failovers > p.failovers_at_start;
                    if fenced_after_failover {
                        // Kafka 3.9 stores a static member's new id only when it rejoins a
                        // Stable group; a failover before the next stored generation brings back
                        // the old id and fences the only process of the instance
                        // (docs/simulator.md). The application exits on the exception and its
                        // orchestrator starts it again.
                        self.note(|| {
                            format!("c{i}: fenced after a failover: the application exits")
                        });
                        self.stats.fenced_restarts += 1;
                        self.procs[i].exiting = true;
                    } else {
                        let member = short(p.member());
                        self.fail(
                            Invariant::ConsumersHealthy,
                            format!("consumer {i} (member {member}) fails: {e}"),
                        );
                    }
                }
            }
        }
        if std::mem::take(&mut self.procs[i].exiting) {
            let restart_at = Some(self.now + self.rng.range(0, self.sc.session_timeout_ms as u64));
            self.stop_process(i, restart_at);
            return;
        }
        let p = &self.procs[i];
        if let Some(c) = &p.consumer {
            if *c.assignment() != p.app.owned {
                let msg = format!(
                    "consumer {i}: the callbacks gave [{}] but assignment() is [{}]",
                    list(&p.app.owned),
                    list(c.assignment())
                );
                self.fail(Invariant::ConsumersHealthy, msg);
            }
        }
    }

    fn give_up(&mut self, i: usize, ps: Vec<Tp>, how: &str) {
        self.note(|| format!("c{i}: partitions {how}: [{}]", list(&ps)));
        let keep_processing = self.opts.sabotage == Some(Sabotage::ProcessAfterLoss);
        let app = &mut self.procs[i].app;
        let foreign: Vec<&Tp> = ps.iter().filter(|tp| !app.owned.contains(*tp)).collect();
        if !foreign.is_empty() {
            let msg = format!(
                "consumer {i}: partitions {how} that it does not own: [{}]",
                list(foreign)
            );
            return self.fail(Invariant::ConsumersHealthy, msg);
        }
        for tp in &ps {
            app.owned.remove(tp);
            if !keep_processing {
                app.positions.remove(tp);
            }
        }
    }

    /// Whether the coordinator holds consumer `i`'s member id.
    fn holds(&self, i: usize) -> bool {
        let m = self.procs[i].member();
        !m.is_empty() && self.held.contains(m)
    }

    /// Whether the coordinator carried consumer `i` into a generation it has not joined yet.
    fn carried(&self, i: usize) -> bool {
        let p = &self.procs[i];
        p.carried_into.is_some_and(|g| p.app.joined_generation < g)
    }

    /// Whether the application of consumer `i` may process (the timing assumption).
    fn may_process(&self, i: usize) -> bool {
        self.procs[i].running()
            && (!self.opts.timing_assumption || (self.holds(i) && !self.carried(i)))
    }

    fn assigned(&mut self, i: usize, ps: Vec<Tp>) {
        self.note(|| format!("c{i}: partitions assigned: [{}]", list(&ps)));
        // A consumer in the group is given a partition only once every other consumer in the
        // group has revoked it (under the timing assumption, only those consumers count).
        if self.may_process(i) {
            for j in 0..self.procs.len() {
                if j == i || !self.may_process(j) {
                    continue;
                }
                if let Some(tp) = ps.iter().find(|tp| self.procs[j].app.owned.contains(*tp)) {
                    let c = |k: usize| {
                        let p = &self.procs[k];
                        let g = p.consumer.as_ref().map_or(-1, |c| c.generation());
                        format!(
                            "consumer {k} (member {}, generation {g})",
                            short(p.member())
                        )
                    };
                    let msg = format!(
                        "{} is assigned {}-{} while {} still owns it",
                        c(i),
                        tp.topic,
                        tp.partition,
                        c(j)
                    );
                    return self.fail(Invariant::RevokeBeforeHandover, msg);
                }
            }
        }
        let generation = self.procs[i]
            .consumer
            .as_ref()
            .map_or(-1, |c| c.generation());
        let app = &mut self.procs[i].app;
        app.joined_generation = generation;
        for tp in ps {
            if !app.owned.insert(tp.clone()) {
                let msg = format!(
                    "consumer {i} is assigned {}-{}, which it already owns",
                    tp.topic, tp.partition
                );
                return self.fail(Invariant::ConsumersHealthy, msg);
            }
            *app.assigned.entry(tp).or_default() += 1;
        }
    }

    /// The application (in poll) fetches the committed offsets of owned partitions it has no
    /// position for.
    fn fetch_missing(&mut self, i: usize) {
        if !self.may_process(i) {
            // A process the timing assumption stopped starts over from the committed offsets
            // once it may process again, not from what it fetched before.
            return;
        }
        let p = &mut self.procs[i];
        if p.frozen_until.is_some() {
            return;
        }
        let app = &mut p.app;
        let want: Vec<Tp> = app
            .owned
            .iter()
            .filter(|tp| !app.positions.contains_key(*tp) && !app.in_fetch.contains(*tp))
            .cloned()
            .collect();
        if want.is_empty() {
            return;
        }
        app.next_fetch += 1;
        let f = app.next_fetch;
        let tagged = want
            .iter()
            .map(|tp| (tp.clone(), app.assigned.get(tp).copied().unwrap_or(0)))
            .collect();
        app.fetches.insert(f, tagged);
        app.in_fetch.extend(want.iter().cloned());
        let request = Request::OffsetFetch(Versioned {
            api_version: 7,
            message: OffsetFetchRequest {
                group_id: GroupId(GROUP.into()),
                partitions: Some(want),
                require_stable: false,
            },
        });
        self.enqueue_request(i, Target::Fetch(f), request);
    }

    fn fetch_answer(&mut self, i: usize, f: u64, response: Response) {
        self.note(|| {
            format!(
                "c{i}: the application gets {}",
                describe_response(&response)
            )
        });
        let app = &mut self.procs[i].app;
        let Some(asked) = app.fetches.remove(&f) else {
            return;
        };
        for (tp, _) in &asked {
            app.in_fetch.remove(tp);
        }
        let Response::OffsetFetch(r) = response else {
            return;
        };
        if !r.error_code.is_none() {
            return;
        }
        for entry in r.partitions {
            let tp = entry.partition;
            let current = asked.iter().any(|(t, assignment)| {
                *t == tp && app.assigned.get(&tp).copied().unwrap_or(0) == *assignment
            });
            if entry.error_code.is_none()
                && current
                && app.owned.contains(&tp)
                && !app.positions.contains_key(&tp)
            {
                let start = entry.committed_offset.max(0);
                app.positions.insert(tp.clone(), start);
                app.fetched.insert(tp.clone(), start);
                app.committed.insert(tp, start);
            }
        }
    }

    /// The application polls, processes records of the partitions it has positions for, and
    /// now and then commits.
    fn app_step(&mut self, i: usize) {
        let (lo, hi) = self.sc.app_interval_ms;
        let next = self.now + self.rng.range(lo, hi);
        self.procs[i].app_at = next;
        if self.procs[i].app.committing {
            // Blocked in commitSync; the heartbeat thread goes on.
            return;
        }
        let now = self.now;
        if let Some(c) = &mut self.procs[i].consumer {
            c.poll(now);
        }
        self.drain_proc(i);
        if !self.procs[i].running() || self.violation.is_some() {
            return;
        }
        // Kafka's consumer fetches the committed offsets of newly assigned partitions inside
        // poll, on the application thread: never while a commitSync blocks it.
        self.fetch_missing(i);
        if self.may_process(i) {
            let per_poll = self.sc.records_per_poll;
            let tps: Vec<Tp> = self.procs[i].app.positions.keys().cloned().collect();
            for tp in tps {
                let n = self.rng.range(0, per_poll);
                let Some(&k) = self.index.get(&tp) else {
                    continue;
                };
                for _ in 0..n {
                    let pos = self.procs[i].app.positions.get_mut(&tp).expect("listed");
                    self.ledger[k].processed(*pos);
                    *pos += 1;
                    self.stats.records_processed += 1;
                }
            }
        }
        if self.rng.ppm(self.sc.commit_ppm) {
            let sabotage = self.opts.sabotage;
            let app = &self.procs[i].app;
            let offsets: Vec<OffsetCommitPartition> = app
                .positions
                .iter()
                .filter_map(|(tp, &pos)| {
                    let fetched = app.fetched.get(tp).copied().unwrap_or(0);
                    let offset = match sabotage {
                        Some(Sabotage::CommitBeyondProcessed) => pos + 1,
                        Some(Sabotage::RewindCommit) if fetched > 0 => 0,
                        _ if app.committed.get(tp) == Some(&pos) => return None,
                        _ => pos,
                    };
                    Some(OffsetCommitPartition {
                        partition: tp.clone(),
                        committed_offset: offset,
                        committed_leader_epoch: -1,
                        committed_metadata: None,
                    })
                })
                .collect();
            if !offsets.is_empty() {
                self.note(|| {
                    let ps: Vec<String> = offsets
                        .iter()
                        .map(|o| {
                            format!(
                                "{}-{}@{}",
                                o.partition.topic, o.partition.partition, o.committed_offset
                            )
                        })
                        .collect();
                    format!("c{i}: commitSync [{}]", ps.join(","))
                });
                self.stats.commits += 1;
                self.procs[i].app.committing = true;
                if let Some(c) = &mut self.procs[i].consumer {
                    c.commit(now, offsets);
                }
                self.drain_proc(i);
            }
        }
    }

    /// The sabotages that act on a request as it leaves the leader: `None` swallows it.
    fn sabotage_request(&mut self, request: Request) -> Option<Request> {
        let Some(sabotage) = self.opts.sabotage else {
            return Some(request);
        };
        let Request::SyncGroup(mut v) = request else {
            return Some(request);
        };
        if v.message.assignments.is_empty() {
            return Some(Request::SyncGroup(v));
        }
        let mut plan: Vec<(String, Vec<Tp>)> = v
            .message
            .assignments
            .iter()
            .map(|a| (a.member_id.0.clone(), decode_assignment(&a.assignment)))
            .collect();
        match sabotage {
            Sabotage::StuckRebalance => {
                self.note(|| "the network swallows the leader's SyncGroup".into());
                return None;
            }
            Sabotage::DoubleOwnership if plan.len() > 1 => {
                if let Some(tp) = plan.iter().find_map(|(_, ps)| ps.first().cloned()) {
                    if let Some((_, ps)) = plan.iter_mut().find(|(_, ps)| !ps.contains(&tp)) {
                        ps.push(tp);
                    }
                }
            }
            Sabotage::HandoverWithoutRevoke if plan.len() > 1 => {
                // A partition some member reported owned and the assignor withheld from everyone
                // (the first round of a cooperative move) goes to another member at once.
                let given: BTreeSet<Tp> = plan.iter().flat_map(|(_, ps)| ps.clone()).collect();
                let generation = v.message.generation_id.0;
                let withheld = self.reported.get(&generation).and_then(|members| {
                    members.iter().find_map(|(id, _, owned)| {
                        owned
                            .iter()
                            .find(|tp| !given.contains(*tp))
                            .map(|tp| (id.clone(), tp.clone()))
                    })
                });
                if let Some((from, tp)) = withheld {
                    if let Some((_, ps)) = plan.iter_mut().find(|(id, _)| *id != from) {
                        ps.push(tp);
                    }
                }
            }
            _ => return Some(Request::SyncGroup(v)),
        }
        for (a, (_, ps)) in v.message.assignments.iter_mut().zip(plan) {
            a.assignment = encode_assignment(ps);
        }
        Some(Request::SyncGroup(v))
    }

    // ---- faults ----------------------------------------------------------------------------

    fn schedule_fault_tick(&mut self) {
        let any = self.sc.faults.enabled.iter().any(|k| k.is_event());
        self.next_fault_at = if any && self.faults_on {
            let (lo, hi) = self.sc.faults.tick_ms;
            Some(self.now + self.rng.range(lo.max(1), hi.max(1)))
        } else {
            None
        };
    }

    /// When a new process starts in slot `victim`: usually within a session timeout; one time in
    /// eight never, unless that would leave no consumer at all (a run whose group has died out
    /// has nothing left to test).
    fn restart_at(&mut self, victim: usize) -> Option<u64> {
        let never = self.rng.below(8) == 0;
        let delay = self.rng.range(0, self.sc.session_timeout_ms as u64);
        let others_left = self
            .procs
            .iter()
            .enumerate()
            .any(|(j, p)| j != victim && !matches!(p.life, Life::Down { restart_at: None }));
        if never && others_left {
            None
        } else {
            Some(self.now + delay)
        }
    }

    fn fault_tick(&mut self) {
        self.schedule_fault_tick();
        let kinds: Vec<FaultKind> = self
            .sc
            .faults
            .enabled
            .iter()
            .copied()
            .filter(|k| k.is_event())
            .collect();
        if kinds.is_empty() {
            return;
        }
        let kind = self.rng.pick(&kinds);
        if kind == FaultKind::Failover {
            return self.failover();
        }
        let candidates: Vec<usize> = (0..self.procs.len())
            .filter(|&i| {
                let p = &self.procs[i];
                p.running()
                    && match kind {
                        FaultKind::Freeze => p.frozen_until.is_none(),
                        FaultKind::Stall => p.stalled_until.is_none(),
                        _ => true,
                    }
            })
            .collect();
        if candidates.is_empty() {
            return;
        }
        let i = self.rng.pick(&candidates);
        *self.stats.faults.entry(kind).or_default() += 1;
        let st = self.sc.session_timeout_ms as u64;
        let rt = self.sc.rebalance_timeout_ms as u64;
        match kind {
            FaultKind::Crash => {
                let restart_at = self.restart_at(i);
                self.note(|| {
                    format!("FAULT c{i}: the process crashes (restart at {restart_at:?})")
                });
                self.stop_process(i, restart_at);
            }
            FaultKind::Leave => {
                let restart_at = self.restart_at(i);
                self.note(|| {
                    format!("FAULT c{i}: the application closes its consumer (restart at {restart_at:?})")
                });
                let now = self.now;
                if let Some(c) = &mut self.procs[i].consumer {
                    c.leave(now);
                }
                self.drain_proc(i);
                let p = &mut self.procs[i];
                // The LeaveGroup already sent still reaches the coordinator.
                p.life = Life::Down { restart_at };
                p.consumer = None;
                p.to_client.clear();
                p.app = App::default();
                p.frozen_until = None;
                p.stalled_until = None;
            }
            FaultKind::Freeze => {
                let until = self.now + self.rng.range(st / 2, 2 * st);
                self.note(|| format!("FAULT c{i}: the process freezes until {until} ms"));
                self.procs[i].frozen_until = Some(until);
            }
            FaultKind::Stall => {
                let until = self.now + self.rng.range(rt / 2, 2 * rt);
                self.note(|| format!("FAULT c{i}: the application stops polling until {until} ms"));
                self.procs[i].stalled_until = Some(until);
            }
            FaultKind::Loss | FaultKind::Delay | FaultKind::Failover => {}
        }
    }

    /// The coordinator fails over: a new one loads the log (the store folded from the decoded
    /// entries, checked against the live one), requests
    /// in flight are lost, every connection breaks, and for a while requests are answered
    /// NOT_COORDINATOR.
    fn failover(&mut self) {
        // The old coordinator's due timers fire first, as a trace's `advance` before `restart`.
        self.tick_coordinator();
        *self.stats.faults.entry(FaultKind::Failover).or_default() += 1;
        let store = self.loaded.clone();
        if store != *self.coord.store() {
            let entries = self.log_entries;
            return self.fail(
                Invariant::ReplayEqualsLive,
                format!(
                    "the store loaded from the log ({entries} entries) differs from the live \
                     coordinator's"
                ),
            );
        }
        let stored = store.group(GROUP).map_or(0, |g| g.generation);
        self.coord = GroupCoordinator::load(
            self.coord_config.clone(),
            Box::new(self.ids.clone()),
            store,
            self.now,
        );
        self.failovers += 1;
        for p in &mut self.procs {
            // A generation the log does not hold is gone with the old coordinator.
            if p.carried_into.is_some_and(|g| g > stored) {
                p.carried_into = None;
            }
        }
        if let Some(r) = &mut self.recorder {
            r.restart();
        }
        self.routes.clear();
        self.reachable_at = self.now + self.rng.range(0, 3_000);
        let until = self.reachable_at;
        self.note(|| format!("FAULT coordinator fails over (unreachable until {until} ms)"));
        for i in 0..self.procs.len() {
            self.break_connection(i);
        }
        self.observe();
    }

    // ---- checks ----------------------------------------------------------------------------

    /// The timing assumption, applied: a process that may not process forgets its positions
    /// and the fetches it has in flight, as an application that has lost its partitions does
    /// (Kafka's `onPartitionsLost`); when it may process again it fetches the committed offsets
    /// anew. (It still owns the partitions by its callbacks: its consumer does not know yet.)
    fn stop_stopped_processes(&mut self) {
        if !self.opts.timing_assumption {
            return;
        }
        for i in 0..self.procs.len() {
            if self.may_process(i) {
                continue;
            }
            let app = &mut self.procs[i].app;
            if app.positions.is_empty() && app.fetches.is_empty() {
                continue;
            }
            app.positions.clear();
            app.fetched.clear();
            app.fetches.clear();
            app.in_fetch.clear();
            self.note(|| format!("c{i}: stops processing and forgets its positions"));
        }
    }

    /// The state invariants, after every step.
    fn check_state(&mut self) {
        self.stats.checks += 1;
        self.stop_stopped_processes();
        // No partition is processed by two consumers at once.
        let mut by: BTreeMap<&Tp, usize> = BTreeMap::new();
        let mut clash = None;
        for i in 0..self.procs.len() {
            if !self.may_process(i) {
                continue;
            }
            for tp in self.procs[i].app.positions.keys() {
                if let Some(j) = by.insert(tp, i) {
                    clash = Some((j, i, tp.clone()));
                    break;
                }
            }
            if clash.is_some() {
                break;
            }
        }
        if let Some((j, i, tp)) = clash {
            let c = |k: usize| {
                let p = &self.procs[k];
                let g = p.consumer.as_ref().map_or(-1, |c| c.generation());
                format!(
                    "consumer {k} (member {}, generation {g})",
                    short(p.member())
                )
            };
            let msg = format!(
                "{} and {} both process {}-{}",
                c(j),
                c(i),
                tp.topic,
                tp.partition
            );
            return self.fail(Invariant::NoDoubleProcessing, msg);
        }
        // Committed offsets never go down and never pass an unprocessed record.
        for k in 0..self.parts.len() {
            let tp = &self.parts[k];
            let committed = self
                .coord
                .store()
                .offset(GROUP, &tp.topic, tp.partition)
                .map(|c| c.value.offset);
            let ledger = &mut self.ledger[k];
            let msg = match (ledger.committed, committed) {
                (Some(before), Some(now)) if now < before => Some(format!(
                    "the committed offset of {}-{} goes from {before} to {now}",
                    tp.topic, tp.partition
                )),
                (Some(before), None) => Some(format!(
                    "the committed offset of {}-{} ({before}) is gone",
                    tp.topic, tp.partition
                )),
                _ => None,
            };
            if let Some(msg) = msg {
                return self.fail(Invariant::NoOffsetRegression, msg);
            }
            if let Some(c) = committed {
                if ledger.committed != Some(c) {
                    ledger.changed_at = self.now;
                }
                ledger.committed = Some(c);
                if c > ledger.prefix {
                    let msg = format!(
                        "the committed offset of {}-{} is {c}, but record {} was never processed",
                        tp.topic, tp.partition, ledger.prefix
                    );
                    return self.fail(Invariant::NoLoss, msg);
                }
            }
        }
    }

    // ---- the quiet tail and liveness ---------------------------------------------------------

    fn end_faults(&mut self) {
        self.faults_on = false;
        self.next_fault_at = None;
        self.stats.faults_end_ms = self.now;
        let sc = &self.sc;
        let st = sc.session_timeout_ms as u64;
        let rt = sc.effective_rebalance_timeout_ms();
        let join_timeout = sc
            .request_timeout_ms
            .max(sc.rebalance_timeout_ms as u64 + 5_000);
        // Faults already under way end first: pending restarts, freezes, stalls, a failover.
        let mut pending = self.now.max(self.reachable_at);
        for p in &self.procs {
            for t in [
                p.frozen_until,
                p.stalled_until,
                match p.life {
                    Life::Down { restart_at } => restart_at,
                    Life::Running => None,
                },
            ]
            .into_iter()
            .flatten()
            {
                pending = pending.max(t);
            }
        }
        // Then a generous number of rounds, each a session, a rebalance timeout and a request
        // timeout long; a group that needs longer is stuck.
        let bound = 10 * (st + rt + join_timeout)
            + sc.default_api_timeout_ms
            + 2 * sc.initial_rebalance_delay_ms as u64;
        self.tail_deadline = pending + bound;
        self.stats.liveness_bound_ms = self.tail_deadline - self.now;
        self.hold_ms = 2 * st;
        self.note(|| "the faults stop: the quiet tail begins".into());
    }

    /// In the quiet tail: true when the group has stayed settled long enough, or the bound
    /// passed (a liveness violation).
    fn tail_done(&mut self) -> bool {
        if self.settled() {
            let since = *self.settled_since.get_or_insert(self.now);
            if self.stats.settled_after_ms.is_none() {
                self.stats.settled_after_ms = Some(since - self.stats.faults_end_ms);
            }
            if self.now - since >= self.hold_ms {
                return true;
            }
        } else if self.settled_since.take().is_some() {
            self.stats.settled_after_ms = None;
        }
        if self.now >= self.tail_deadline {
            self.liveness_failure("the group did not settle within the bound");
            return true;
        }
        false
    }

    /// Every running consumer is stable in the coordinator's current generation with a member id
    /// the coordinator holds, and together they process every partition they subscribe to.
    fn settled(&self) -> bool {
        let mut running = vec![];
        for (i, p) in self.procs.iter().enumerate() {
            match p.life {
                Life::Down {
                    restart_at: Some(_),
                } => return false,
                Life::Down { restart_at: None } => continue,
                Life::Running => {}
            }
            if !p.running() || p.frozen_until.is_some() || p.stalled_until.is_some() {
                return false;
            }
            running.push(i);
        }
        if running.is_empty() {
            return matches!(
                self.group_state,
                None | Some(GroupState::Empty) | Some(GroupState::Dead)
            );
        }
        if self.group_state != Some(GroupState::Stable) || self.now < self.reachable_at {
            return false;
        }
        let Some(generation) = self.coord.store().group(GROUP).map(|g| g.generation) else {
            return false;
        };
        let mut processed: BTreeSet<(String, i32)> = BTreeSet::new();
        for &i in &running {
            let p = &self.procs[i];
            let Some(c) = &p.consumer else {
                return false;
            };
            let positioned: BTreeSet<&Tp> = p.app.positions.keys().collect();
            let owned: BTreeSet<&Tp> = p.app.owned.iter().collect();
            if !c.is_stable()
                || c.generation() != generation
                || !self.holds(i)
                || self.carried(i)
                || positioned != owned
            {
                return false;
            }
            processed.extend(
                p.app
                    .positions
                    .keys()
                    .map(|tp| (tp.topic.clone(), tp.partition)),
            );
        }
        processed == self.sc.subscribed_by(running.iter().copied())
    }

    fn liveness_failure(&mut self, why: &str) {
        let mut lines = vec![format!(
            "{why} ({} ms after the faults stopped; bound {} ms): group {}, stored generation {}",
            self.now - self.stats.faults_end_ms,
            self.stats.liveness_bound_ms,
            self.group_state.map_or("absent", |s| s.name()),
            self.coord
                .store()
                .group(GROUP)
                .map_or("none".into(), |g| g.generation.to_string()),
        )];
        let mut running = vec![];
        for (i, p) in self.procs.iter().enumerate() {
            let line = match (&p.life, &p.consumer) {
                (Life::Down { restart_at }, _) => {
                    format!("consumer {i}: down (restart at {restart_at:?})")
                }
                (Life::Running, None) => format!("consumer {i}: starting"),
                (Life::Running, Some(c)) => {
                    running.push(i);
                    format!(
                        "consumer {i}: member {} ({}held), {:?}, generation {}, stable {}, owns [{}], processes [{}]{}{}",
                        short(c.member_id()),
                        if self.holds(i) { "" } else { "not " },
                        c.state(),
                        c.generation(),
                        c.is_stable(),
                        list(&p.app.owned),
                        list(p.app.positions.keys()),
                        if p.frozen_until.is_some() { ", frozen" } else { "" },
                        if p.stalled_until.is_some() { ", stalled" } else { "" },
                    )
                }
            };
            lines.push(line);
        }
        let processed: BTreeSet<(String, i32)> = running
            .iter()
            .flat_map(|&i| self.procs[i].app.positions.keys())
            .map(|tp| (tp.topic.clone(), tp.partition))
            .collect();
        let missing: Vec<String> = self
            .sc
            .subscribed_by(running.iter().copied())
            .difference(&processed)
            .map(|(t, p)| format!("{t}-{p}"))
            .collect();
        if !missing.is_empty() {
            lines.push(format!("nobody processes [{}]", missing.join(",")));
        }
        self.fail(Invariant::RebalancesFinish, lines.join("\n  "));
    }
}
