//! From a path of the model to a conformance trace: the one place that knows how the model's
//! abstract steps look on the wire.
//!
//! The model speaks of small ids, bitmasks of partitions and timer actions; a trace speaks of
//! Kafka requests and responses and milliseconds. [`Translator`] walks a path of the model one
//! action at a time and writes the trace alongside:
//!
//! - The coordinator taking a request (`Deliver`) is a `send` step; every response the model's
//!   coordinator produces in that step becomes an `expect` step for the oldest request of the same
//!   API the coordinator still owes on that consumer's connection.
//! - Member ids are names: the model's `m<slot>.<nonce>` is `${m<slot>_<nonce>}`, bound where the
//!   coordinator first hands the id out (MEMBER_ID_REQUIRED, or a static member's JoinGroup).
//! - Time. The model's timers are actions; the trace moves the clock to their deadlines. The join
//!   phase of a rebalance completes in the same request as in Kafka (the translator takes the
//!   model's `CompleteJoin` at once, see [`Translator::take`]), except for a group that was
//!   Empty, where `group.initial.rebalance.delay.ms` (KIP-134, extended once when a member
//!   arrived during the delay) runs its course: there `CompleteJoin` is an advance of the clock
//!   to the delay's end. A session expiry of member X is: heartbeats from every other member that
//!   Kafka would not keep alive on its own (a pending JoinGroup or SyncGroup keeps a member alive),
//!   then `session.timeout.ms - 1` of clock, which passes X's deadline (X was last heard strictly
//!   earlier) and no other member's, then heartbeats again and one more millisecond. Heartbeats
//!   come only from running processes that the trace has already told their id. Paths whose
//!   timing no clock can produce (another member that cannot be kept alive, a pending member, the
//!   initial delay running) are not taken, nor is a second hand-out of a model id (Kafka makes a
//!   new UUID and still holds the first). JoinGroups waiting for the initial delay are asserted
//!   `pending` before each advance.
//! - Kafka's arbitrary choices are not taken either: a leader that leaves a group with two or
//!   more other members is replaced by the first of a hash map's keys, so the translator does not
//!   let the leader leave or expire then (the model's choice, the smallest id, is one of Kafka's).
//! - Connection losses and crashes have no step: the coordinator does not see them. Requests it
//!   still owes on a lost connection are answered by Kafka into the void, so the trace stops
//!   expecting them; a member with a SyncGroup outstanding on a lost connection is still kept
//!   alive by Kafka, so it is not expired.
//! - A failover is a `restart`; a transaction marker the group coordinator applies is a `marker`.
//!
//! Encodings: one topic `t`; subscriptions and assignments are Kafka's ConsumerProtocol messages
//! (version 3) written by kgroup-assign's codec, so the leader's member list holds exactly the
//! bytes each member sent; committed offset 0 in the model means "none" and reads back as -1.

use kgroup_assign::codec::{
    encode_assignment, encode_subscription, AssignmentMessage, Subscription,
};
use kgroup_model::config::Protocol;
use kgroup_model::coordinator::heartbeat_error;
use kgroup_model::state::*;
use kgroup_model::{Action, GroupModel};
use kgroup_protocol::api::*;
use kgroup_protocol::trace::{TraceConfig, TraceStep};
use kgroup_protocol::{
    ErrorCode, GenerationId, GroupId, GroupInstanceId, GroupState, MemberId as WireMemberId,
    TopicPartition,
};
use std::collections::{BTreeMap, BTreeSet};

/// The group every generated trace uses.
pub const GROUP: &str = "g";
/// The one subscribed topic.
pub const TOPIC: &str = "t";
/// `session.timeout.ms` of every consumer.
pub const SESSION_TIMEOUT_MS: i32 = 10_000;
/// `max.poll.interval.ms` (the JoinGroup's rebalance timeout) of every consumer.
pub const REBALANCE_TIMEOUT_MS: i32 = 300_000;
/// `group.initial.rebalance.delay.ms` of the coordinator (Kafka's default).
pub const INITIAL_DELAY_MS: i32 = 3_000;

/// API versions of the generated requests: the newest classic versions Kafka 3.9's consumer
/// sends (JoinGroup v9 has KIP-814's `skip_assignment`; LeaveGroup v5 answers per member).
pub const JOIN_GROUP_VERSION: i16 = 9;
pub const SYNC_GROUP_VERSION: i16 = 5;
pub const HEARTBEAT_VERSION: i16 = 4;
pub const LEAVE_GROUP_VERSION: i16 = 5;
pub const OFFSET_COMMIT_VERSION: i16 = 8;
pub const OFFSET_FETCH_VERSION: i16 = 7;
pub const TXN_OFFSET_COMMIT_VERSION: i16 = 3;

/// The coordinator settings generated traces assume.
pub fn trace_config() -> TraceConfig {
    TraceConfig {
        group_initial_rebalance_delay_ms: INITIAL_DELAY_MS,
        ..TraceConfig::default()
    }
}

/// The APIs a model request or response belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Api {
    JoinGroup,
    SyncGroup,
    Heartbeat,
    OffsetCommit,
    OffsetFetch,
    TxnOffsetCommit,
    LeaveGroup,
}

impl Api {
    pub fn of_req(r: &Req) -> Api {
        match r {
            Req::Join { .. } => Api::JoinGroup,
            Req::Sync { .. } => Api::SyncGroup,
            Req::Heartbeat { .. } => Api::Heartbeat,
            Req::Commit { .. } => Api::OffsetCommit,
            Req::Fetch { .. } => Api::OffsetFetch,
            Req::TxnCommit { .. } => Api::TxnOffsetCommit,
            Req::Leave { .. } => Api::LeaveGroup,
        }
    }
    pub fn of_resp(r: &Resp) -> Api {
        match r {
            Resp::Join { .. } => Api::JoinGroup,
            Resp::Sync { .. } => Api::SyncGroup,
            Resp::Heartbeat { .. } => Api::Heartbeat,
            Resp::Commit { .. } => Api::OffsetCommit,
            Resp::Fetch { .. } => Api::OffsetFetch,
            Resp::TxnCommit { .. } => Api::TxnOffsetCommit,
            Resp::Leave { .. } => Api::LeaveGroup,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Api::JoinGroup => "JoinGroup",
            Api::SyncGroup => "SyncGroup",
            Api::Heartbeat => "Heartbeat",
            Api::OffsetCommit => "OffsetCommit",
            Api::OffsetFetch => "OffsetFetch",
            Api::TxnOffsetCommit => "TxnOffsetCommit",
            Api::LeaveGroup => "LeaveGroup",
        }
    }
}

/// The model's path cannot be written as a trace (a mapping gap, reported, never hidden).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untranslatable(pub String);

impl std::fmt::Display for Untranslatable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// KIP-134's initial rebalance delay of an Empty group, as the clock sees it.
#[derive(Clone, Debug)]
struct InitialDelay {
    deadline: u64,
    remaining_ms: u64,
    new_member_added: bool,
}

/// A model path being written as a trace.
#[derive(Clone, Debug)]
pub struct Translator {
    model: GroupModel,
    state: State,
    steps: Vec<TraceStep>,
    now: u64,
    next_id: u64,
    /// Per connection, the requests the coordinator has taken and the model still owes an
    /// answer, oldest first.
    owed: Vec<Vec<(u64, Api)>>,
    /// Members whose SyncGroup waits on a connection that dropped: Kafka still holds the
    /// request, which keeps the member alive until the group leaves CompletingRebalance.
    sync_on_lost_connection: BTreeSet<MemberId>,
    initial: Option<InitialDelay>,
    /// When the group entered its current PreparingRebalance or CompletingRebalance state.
    rebalancing_since: u64,
    /// Something happened at the current instant (a request, a timer): a session deadline
    /// computed from it would tie with one computed now.
    touched: bool,
    /// What the path has shown so far (see [`Translator::features`]).
    features: BTreeSet<String>,
    names: Names,
    /// Members added since the last join phase completed (Kafka's `isNew`).
    fresh: BTreeSet<MemberId>,
    /// Static members that replaced a fresh member during the join phase: Kafka restarts their
    /// session (`updateStaticMemberAndRebalance`) and, as they are new, a session expiry removes
    /// them although their JoinGroup waits; only heartbeats keep them.
    fragile: BTreeSet<MemberId>,
    /// Member ids some expected response has named (so the trace can name them in requests).
    bound: BTreeSet<MemberId>,
}

impl Translator {
    pub fn new(model: GroupModel) -> Translator {
        let state = model.initial();
        let slots = state.consumers.len();
        Translator {
            model,
            state,
            steps: vec![],
            now: 0,
            next_id: 1,
            owed: vec![vec![]; slots],
            sync_on_lost_connection: BTreeSet::new(),
            initial: None,
            rebalancing_since: 0,
            touched: false,
            features: BTreeSet::new(),
            names: Names::default(),
            fresh: BTreeSet::new(),
            fragile: BTreeSet::new(),
            bound: BTreeSet::new(),
        }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn model(&self) -> &GroupModel {
        &self.model
    }

    pub fn steps(&self) -> &[TraceStep] {
        &self.steps
    }

    /// What the path has shown: each kind of model action taken, each (API, error) answered,
    /// each API taken in each group state.
    pub fn features(&self) -> &BTreeSet<String> {
        &self.features
    }

    /// The actions the translator can take next. (A join phase that completes at once in Kafka
    /// is taken by [`Translator::take`] with the step that made it possible.)
    pub fn enabled(&self) -> Vec<Action> {
        let mut all = vec![];
        stateright::Model::actions(&self.model, &self.state, &mut all);
        all.retain(|a| self.realizable(a));
        all
    }

    /// Whether a clock can produce this step of the model, and Kafka's answers to it are
    /// determined.
    fn realizable(&self, a: &Action) -> bool {
        let s = &self.state;
        let c = &s.coord;
        // The model may hand an id out again where Kafka makes a new UUID; Kafka still holds the
        // first one (pending, or as the member it was), which the model has forgotten.
        if let Action::Deliver { slot, index } = a {
            if let Req::Join {
                member: None,
                nonce,
                ..
            } = &s.to_coord[*slot as usize][*index as usize]
            {
                let id = MemberId {
                    slot: *slot,
                    nonce: *nonce,
                };
                if self.names.handed_out(id) {
                    return false;
                }
            }
        }
        // A leader that leaves a group of two or more others is replaced by whichever member
        // Kafka's hash map yields first (`members.keys.headOption`), which no trace can name.
        let leaves = match a {
            Action::Expire { member } => Some(*member),
            Action::Deliver { slot, index } => match &s.to_coord[*slot as usize][*index as usize] {
                Req::Leave { member } => Some(*member),
                _ => None,
            },
            _ => None,
        };
        if let Some(m) = leaves {
            if c.leader == Some(m) && c.has(m) && c.members.len() > 2 {
                return false;
            }
        }
        let Action::Expire { member } = *a else {
            return true;
        };
        if self.initial.is_some() || self.sync_on_lost_connection.contains(&member) {
            return false;
        }
        // The rebalance timeout must not run out while the clock moves.
        let rebalancing = matches!(
            c.state,
            GroupState::PreparingRebalance | GroupState::CompletingRebalance
        );
        if rebalancing
            && self.now + 2 * SESSION_TIMEOUT_MS as u64
                >= self.rebalancing_since + REBALANCE_TIMEOUT_MS as u64
        {
            return false;
        }
        // Pending members (KIP-394) cannot be kept alive: only the one expiring may exist.
        if c.pending.iter().any(|p| *p != member) {
            return false;
        }
        c.members
            .iter()
            .filter(|m| m.id != member)
            .all(|m| self.alive_without_heartbeat(m) || self.can_heartbeat(m.id))
    }

    /// A running process holds `id` and the trace has named it in a response.
    fn can_heartbeat(&self, id: MemberId) -> bool {
        GroupModel::holder(&self.state, id).is_some() && self.bound.contains(&id)
    }

    /// Kafka does not expire a member while it holds the member's JoinGroup (unless it is a
    /// fragile replacement) or SyncGroup.
    fn alive_without_heartbeat(&self, m: &Member) -> bool {
        (m.joined && !self.fragile.contains(&m.id))
            || m.owed & Owed::SYNC != 0
            || self.sync_on_lost_connection.contains(&m.id)
    }

    /// Takes one action of the model, writing its trace steps; then, if that made the join phase
    /// complete at once in Kafka, the completion too.
    pub fn take(&mut self, action: Action) -> Result<(), Untranslatable> {
        let expiry = matches!(action, Action::Expire { .. });
        self.apply(action)?;
        if self.initial.is_none() {
            let mut all = vec![];
            stateright::Model::actions(&self.model, &self.state, &mut all);
            if all.contains(&Action::CompleteJoin) {
                self.apply(Action::CompleteJoin)?;
            }
        }
        if expiry {
            // Heartbeats again, now that the expiry has changed the group, then one more
            // millisecond so that nothing else is due at the instant the member expired.
            self.keep_alive(None);
            self.advance(1);
        }
        Ok(())
    }

    fn apply(&mut self, action: Action) -> Result<(), Untranslatable> {
        let pre = self.state.clone();
        self.features.insert(action_feature(&pre, &action));
        // The request the coordinator takes in this step, if it takes one.
        let mut taken = None;
        match action {
            Action::Deliver { slot, index } => {
                let req = pre.to_coord[slot as usize][index as usize].clone();
                taken = Some(req.clone());
                let api = Api::of_req(&req);
                self.features
                    .insert(format!("{} in {}", api.name(), pre.coord.state));
                if let Req::Join {
                    member: None,
                    nonce,
                    ..
                } = req
                {
                    self.names.hand_out(MemberId { slot, nonce });
                }
                if let Some(id) = named_ids(&req).find(|id| !self.names.handed_out(*id)) {
                    return Err(Untranslatable(format!(
                        "a {} names member id {id:?}, which the coordinator never handed out",
                        api.name()
                    )));
                }
                let id = self.send(slot, map_request(&self.model, &self.names, &req));
                self.owed[slot as usize].push((id, api));
            }
            Action::Expire { member } => {
                if self.touched {
                    self.advance(1);
                }
                self.keep_alive(Some(member));
                self.advance(SESSION_TIMEOUT_MS as u64 - 1);
            }
            Action::CompleteJoin => {
                if let Some(wait) = self.initial.take() {
                    // The JoinGroups wait for the delay (and for its extension, KIP-134).
                    self.expect_pending(Api::JoinGroup);
                    self.advance(wait.deadline - self.now);
                    if wait.new_member_added && wait.remaining_ms > 0 {
                        self.expect_pending(Api::JoinGroup);
                        self.advance((INITIAL_DELAY_MS as u64).min(wait.remaining_ms));
                    }
                    self.touched = true;
                }
            }
            Action::Failover => {
                self.steps.push(TraceStep::Restart);
                self.owed.iter_mut().for_each(Vec::clear);
                self.sync_on_lost_connection.clear();
                self.initial = None;
                self.fresh.clear();
                self.fragile.clear();
                self.touched = true;
            }
            Action::ApplyMarker => {
                let (producer, commit, epoch) = pre.markers[0];
                self.steps.push(TraceStep::Marker {
                    producer_id: producer_id(producer),
                    producer_epoch: i16::from(epoch),
                    commit,
                });
                self.touched = true;
            }
            Action::Disconnect { slot } | Action::Crash { slot, .. } => {
                self.owed[slot as usize].clear();
                for m in &pre.coord.members {
                    if m.id.slot == slot && m.owed & Owed::SYNC != 0 {
                        self.sync_on_lost_connection.insert(m.id);
                    }
                }
            }
            _ => {}
        }
        let post = stateright::Model::next_state(&self.model, &pre, action.clone())
            .ok_or_else(|| Untranslatable(format!("{action:?} is not a step of the model")))?;
        if matches!(
            action,
            Action::Deliver { .. } | Action::CompleteJoin | Action::Expire { .. }
        ) {
            self.expect_answers(&pre, &post, taken.as_ref())?;
        }
        self.follow_group(&pre, &post);
        self.state = post;
        Ok(())
    }

    /// The responses the model's coordinator produced in one step, as `expect` steps. Members
    /// learn their ids from their own responses, so responses without a member list come first.
    /// `taken` is the request the coordinator took in the step, if any.
    fn expect_answers(
        &mut self,
        pre: &State,
        post: &State,
        taken: Option<&Req>,
    ) -> Result<(), Untranslatable> {
        let mut answers = vec![];
        for (slot, queue) in post.to_consumer.iter().enumerate() {
            let before = pre.to_consumer[slot].len();
            for resp in queue.iter().skip(before) {
                let api = Api::of_resp(resp);
                let owed = &mut self.owed[slot];
                let at = owed.iter().position(|(_, a)| *a == api).ok_or_else(|| {
                    Untranslatable(format!(
                        "a {} response on connection {slot} answers no request",
                        api.name()
                    ))
                })?;
                let (id, _) = owed.remove(at);
                let leader_list = matches!(resp, Resp::Join { members, .. } if !members.is_empty());
                answers.push((leader_list, id, slot, resp.clone()));
            }
        }
        answers.sort_by_key(|(leader_list, ..)| *leader_list);
        for (_, id, _, resp) in answers {
            self.features.insert(format!(
                "{} {}",
                Api::of_resp(&resp).name(),
                error_of(&resp)
            ));
            if let Resp::Join {
                member, members, ..
            } = &resp
            {
                self.bound.extend(*member);
                self.bound.extend(members.iter().map(|(id, ..)| *id));
            }
            let response = map_response(&self.model, &self.names, &resp, taken, pre, post);
            self.steps.push(TraceStep::Expect { id, response });
        }
        Ok(())
    }

    /// Keeps the clock's view of the group: the initial delay, when a rebalance started, and
    /// which lost SyncGroups Kafka would still hold.
    fn follow_group(&mut self, pre: &State, post: &State) {
        let (a, b) = (&pre.coord, &post.coord);
        if b.state != a.state
            && matches!(
                b.state,
                GroupState::PreparingRebalance | GroupState::CompletingRebalance
            )
        {
            self.rebalancing_since = self.now;
        }
        if a.state == GroupState::Empty && b.state == GroupState::PreparingRebalance {
            let delay = INITIAL_DELAY_MS as u64;
            self.initial = Some(InitialDelay {
                deadline: self.now + delay,
                remaining_ms: (REBALANCE_TIMEOUT_MS as u64).saturating_sub(delay),
                new_member_added: false,
            });
        } else if let Some(wait) = &mut self.initial {
            // Kafka's addMemberAndRebalance notes a member added to a group of generation 0
            // that is already preparing; a static member replacing its old id is not added.
            let added = b
                .members
                .iter()
                .any(|m| !a.has(m.id) && m.instance.is_none_or(|i| a.by_instance(i).is_none()));
            if a.state == GroupState::PreparingRebalance && a.generation == 0 && added {
                wait.new_member_added = true;
            }
        }
        for m in &b.members {
            if a.has(m.id) {
                continue;
            }
            let replaced = m.instance.and_then(|i| a.by_instance(i)).map(|old| old.id);
            match replaced {
                Some(old) if self.fresh.contains(&old) => {
                    self.fresh.insert(m.id);
                    if b.state == GroupState::PreparingRebalance {
                        self.fragile.insert(m.id);
                    }
                }
                Some(_) => {}
                None => {
                    self.fresh.insert(m.id);
                }
            }
        }
        if b.state != GroupState::PreparingRebalance {
            self.initial = None;
            self.fresh.clear();
            self.fragile.clear();
        }
        if b.state != GroupState::CompletingRebalance {
            self.sync_on_lost_connection.clear();
        }
        self.sync_on_lost_connection.retain(|id| b.has(*id));
    }

    /// A `pending` step for every request of `api` the coordinator holds and the model will
    /// answer.
    fn expect_pending(&mut self, api: Api) {
        let ids: Vec<u64> = self
            .owed
            .iter()
            .flatten()
            .filter(|(_, a)| *a == api)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.steps.push(TraceStep::Pending { id });
        }
    }

    /// A request from a client outside the group (an observer), answered at once.
    pub fn send_and_expect(&mut self, client: &str, request: Request, response: Response) {
        let id = self.next_id;
        self.next_id += 1;
        self.steps.push(TraceStep::Send {
            id,
            client: client.into(),
            request,
        });
        self.steps.push(TraceStep::Expect { id, response });
        self.touched = true;
    }

    fn send(&mut self, slot: u8, request: Request) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.steps.push(TraceStep::Send {
            id,
            client: client(slot),
            request,
        });
        self.touched = true;
        id
    }

    fn advance(&mut self, ms: u64) {
        self.now += ms;
        self.steps.push(TraceStep::Advance { ms });
        self.touched = false;
    }

    /// A heartbeat of the group's current generation from every member except `except` that
    /// Kafka would otherwise time out, each answered at once (NONE, or REBALANCE_IN_PROGRESS
    /// while the group prepares a rebalance; both restart the member's session). These stand for
    /// the consumers' background heartbeats, which the model leaves out because they change
    /// nothing in it.
    fn keep_alive(&mut self, except: Option<MemberId>) {
        let s = self.state.clone();
        for m in &s.coord.members {
            // A member whose process is gone, or does not know its id yet, sends nothing (the
            // expiry's step allows none that Kafka would time out).
            if Some(m.id) == except || self.alive_without_heartbeat(m) || !self.can_heartbeat(m.id)
            {
                continue;
            }
            let req = Request::Heartbeat(Versioned {
                api_version: HEARTBEAT_VERSION,
                message: HeartbeatRequest {
                    group_id: group(),
                    generation_id: GenerationId(i32::from(s.coord.generation)),
                    member_id: self.names.of(m.id),
                    group_instance_id: m.instance.map(instance_name),
                },
            });
            let id = self.send(m.id.slot, req);
            let error_code = heartbeat_error(&s.coord, m.id, m.instance, s.coord.generation);
            self.features.insert(format!("Heartbeat {error_code}"));
            self.steps.push(TraceStep::Expect {
                id,
                response: Response::Heartbeat(HeartbeatResponse { error_code }),
            });
        }
    }
}

fn action_feature(s: &State, a: &Action) -> String {
    match a {
        Action::Deliver { slot, index } => {
            let api = Api::of_req(&s.to_coord[*slot as usize][*index as usize]).name();
            if *index > 0 {
                format!("coordinator takes {api} out of order")
            } else {
                format!("coordinator takes {api}")
            }
        }
        Action::Receive { .. } => "consumer takes a response".into(),
        Action::CompleteJoin => "join phase completes".into(),
        Action::Expire { member } if s.coord.pending.contains(member) => {
            "pending member's session expires".into()
        }
        Action::Expire { .. } => format!("session expires in {}", s.coord.state),
        Action::Join { .. } => "consumer sends JoinGroup".into(),
        Action::Fetch { .. } => "consumer sends OffsetFetch".into(),
        Action::Process { .. } => "consumer processes a record".into(),
        Action::Commit { .. } => "consumer commits".into(),
        Action::Heartbeat { .. } => "consumer sends a Heartbeat it must act on".into(),
        Action::Crash { restart: true, .. } => "fault: consumer crashes and restarts".into(),
        Action::Crash { restart: false, .. } => "fault: consumer crashes for good".into(),
        Action::Leave { .. } => "fault: consumer leaves the group".into(),
        Action::Disconnect { .. } => "fault: connection drops".into(),
        Action::Duplicate { .. } => "fault: a second process of a static instance".into(),
        Action::Failover => format!("fault: coordinator fails over in {}", s.coord.state),
        Action::ApplyMarker => {
            let commit = s.markers.first().is_some_and(|m| m.1);
            format!("{} marker applied", if commit { "commit" } else { "abort" })
        }
        Action::ExpireTxn { .. } => "transaction times out".into(),
    }
}

fn error_of(r: &Resp) -> ErrorCode {
    match r {
        Resp::Join { error, .. }
        | Resp::Sync { error, .. }
        | Resp::Heartbeat { error }
        | Resp::Commit { error, .. }
        | Resp::Fetch { error, .. }
        | Resp::TxnCommit { error, .. }
        | Resp::Leave { error } => *error,
    }
}

pub fn client(slot: u8) -> String {
    format!("c{slot}")
}

/// The names of member ids in a trace. The model may hand an id out again (a process that
/// lost its MEMBER_ID_REQUIRED answer asks anew with the same nonce) where Kafka makes a fresh
/// UUID, so each hand-out of an id gets its own name: `${m<slot>_<nonce>}`, then
/// `${m<slot>_<nonce>_2}`, ...
#[derive(Clone, Debug, Default)]
pub struct Names {
    current: BTreeMap<MemberId, (u32, WireMemberId)>,
}

impl Names {
    /// The coordinator hands `id` out (again).
    pub fn hand_out(&mut self, id: MemberId) {
        let n = self.current.get(&id).map_or(1, |(n, _)| n + 1);
        let name = if n == 1 {
            format!("${{m{}_{}}}", id.slot, id.nonce)
        } else {
            format!("${{m{}_{}_{n}}}", id.slot, id.nonce)
        };
        self.current.insert(id, (n, WireMemberId(name)));
    }

    /// Whether the coordinator has handed `id` out before.
    pub fn handed_out(&self, id: MemberId) -> bool {
        self.current.contains_key(&id)
    }

    /// The name of the latest hand-out of `id`. Callers map only ids that were handed out (a
    /// request naming another is refused as untranslatable); any other id gets the name its
    /// first hand-out would have.
    pub fn of(&self, id: MemberId) -> WireMemberId {
        match self.current.get(&id) {
            Some((_, name)) => name.clone(),
            None => WireMemberId(format!("${{m{}_{}}}", id.slot, id.nonce)),
        }
    }
}

pub fn instance_name(instance: u8) -> GroupInstanceId {
    GroupInstanceId(format!("i{instance}"))
}

pub fn producer_id(producer: u8) -> i64 {
    1000 + i64::from(producer)
}

fn group() -> GroupId {
    GroupId(GROUP.into())
}

fn protocol_name(model: &GroupModel) -> String {
    match model.cfg.protocol {
        Protocol::Eager => "range".into(),
        Protocol::Cooperative => "cooperative-sticky".into(),
    }
}

fn partitions(set: Parts) -> Vec<TopicPartition> {
    parts(set)
        .map(|p| TopicPartition {
            topic: TOPIC.into(),
            partition: p as i32,
        })
        .collect()
}

/// The embedded ConsumerProtocolSubscription of a JoinGroup: the topic, the owned partitions
/// and their generation (-1 for none).
fn subscription(owned: Parts, generation: u8) -> Vec<u8> {
    let s = Subscription {
        topics: vec![TOPIC.into()],
        user_data: None,
        owned_partitions: partitions(owned),
        generation_id: if generation == 0 {
            -1
        } else {
            i32::from(generation)
        },
        rack_id: None,
    };
    encode_subscription(&s, 3).expect("a version-3 subscription encodes")
}

fn assignment(set: Parts) -> Vec<u8> {
    let a = AssignmentMessage {
        partitions: partitions(set),
        user_data: None,
    };
    encode_assignment(&a, 3).expect("a version-3 assignment encodes")
}

fn offset_list(offsets: &Offsets) -> Vec<OffsetCommitPartition> {
    offsets
        .iter()
        .enumerate()
        .filter(|(_, o)| **o != ABSENT)
        .map(|(p, o)| OffsetCommitPartition {
            partition: TopicPartition {
                topic: TOPIC.into(),
                partition: p as i32,
            },
            committed_offset: i64::from(*o),
            committed_leader_epoch: -1,
            committed_metadata: Some(String::new()),
        })
        .collect()
}

fn offset_errors(offsets: &Offsets, error: ErrorCode) -> Vec<(TopicPartition, ErrorCode)> {
    offset_list(offsets)
        .into_iter()
        .map(|p| (p.partition, error))
        .collect()
}

/// The member ids a request names: its own, and those of a leader's assignment.
fn named_ids(req: &Req) -> impl Iterator<Item = MemberId> + '_ {
    let (own, assigned): (Option<MemberId>, &[(MemberId, _)]) = match req {
        Req::Join { member, .. } => (*member, &[]),
        Req::Sync {
            member, assignment, ..
        } => (Some(*member), assignment.as_deref().unwrap_or_default()),
        Req::Heartbeat { member, .. }
        | Req::Commit { member, .. }
        | Req::TxnCommit { member, .. }
        | Req::Leave { member } => (Some(*member), &[]),
        Req::Fetch { .. } => (None, &[]),
    };
    own.into_iter().chain(assigned.iter().map(|(id, _)| *id))
}

/// The Kafka request a model request stands for. Every member id it names has been handed out
/// (`Translator::apply` refuses a path where one has not).
pub fn map_request(model: &GroupModel, names: &Names, req: &Req) -> Request {
    let member_name = |id: MemberId| names.of(id);
    let cfg = &model.cfg;
    let generation = |g: &u8| GenerationId(i32::from(*g));
    match req {
        Req::Join {
            member,
            instance,
            owned,
            generation: owned_generation,
            ..
        } => Request::JoinGroup(Versioned {
            api_version: JOIN_GROUP_VERSION,
            message: JoinGroupRequest {
                group_id: group(),
                session_timeout_ms: SESSION_TIMEOUT_MS,
                rebalance_timeout_ms: REBALANCE_TIMEOUT_MS,
                member_id: member.map_or(WireMemberId(String::new()), member_name),
                group_instance_id: instance.map(instance_name),
                protocol_type: "consumer".into(),
                protocols: vec![JoinGroupProtocol {
                    name: protocol_name(model),
                    metadata: subscription(*owned, *owned_generation),
                }],
                reason: None,
            },
        }),
        Req::Sync {
            member,
            instance,
            generation: g,
            assignment: list,
        } => Request::SyncGroup(Versioned {
            api_version: SYNC_GROUP_VERSION,
            message: SyncGroupRequest {
                group_id: group(),
                generation_id: generation(g),
                member_id: member_name(*member),
                group_instance_id: instance.map(instance_name),
                protocol_type: Some("consumer".into()),
                protocol_name: Some(protocol_name(model)),
                assignments: list
                    .iter()
                    .flatten()
                    .map(|(m, p)| SyncGroupAssignment {
                        member_id: member_name(*m),
                        assignment: assignment(*p),
                    })
                    .collect(),
            },
        }),
        Req::Heartbeat {
            member,
            instance,
            generation: g,
        } => Request::Heartbeat(Versioned {
            api_version: HEARTBEAT_VERSION,
            message: HeartbeatRequest {
                group_id: group(),
                generation_id: generation(g),
                member_id: member_name(*member),
                group_instance_id: instance.map(instance_name),
            },
        }),
        Req::Commit {
            member,
            instance,
            generation: g,
            offsets,
        } => Request::OffsetCommit(Versioned {
            api_version: OFFSET_COMMIT_VERSION,
            message: OffsetCommitRequest {
                group_id: group(),
                generation_id: generation(g),
                member_id: member_name(*member),
                group_instance_id: instance.map(instance_name),
                partitions: offset_list(offsets),
            },
        }),
        Req::Fetch { partitions: set } => Request::OffsetFetch(Versioned {
            api_version: OFFSET_FETCH_VERSION,
            message: OffsetFetchRequest {
                group_id: group(),
                partitions: Some(partitions(*set)),
                require_stable: cfg.eos,
            },
        }),
        Req::TxnCommit {
            member,
            instance,
            generation: g,
            producer,
            epoch,
            offsets,
        } => Request::TxnOffsetCommit(Versioned {
            api_version: TXN_OFFSET_COMMIT_VERSION,
            message: TxnOffsetCommitRequest {
                transactional_id: format!("tx{producer}"),
                group_id: group(),
                producer_id: producer_id(*producer),
                producer_epoch: i16::from(*epoch),
                generation_id: generation(g),
                member_id: member_name(*member),
                group_instance_id: instance.map(instance_name),
                partitions: offset_list(offsets),
            },
        }),
        Req::Leave { member } => Request::LeaveGroup(Versioned {
            api_version: LEAVE_GROUP_VERSION,
            message: LeaveGroupRequest {
                group_id: group(),
                members: vec![LeaveGroupMember {
                    member_id: member_name(*member),
                    group_instance_id: None,
                    reason: None,
                }],
            },
        }),
    }
}

/// The Kafka response a model response stands for. `taken` is the request the coordinator took
/// in the step (an OffsetFetch or LeaveGroup answer names its partitions or member); `pre` and
/// `post` are the system before and after it (the leader's member list, and the offsets of the
/// partitions an UNSTABLE_OFFSET_COMMIT answer still reports, read them).
pub fn map_response(
    model: &GroupModel,
    names: &Names,
    resp: &Resp,
    taken: Option<&Req>,
    pre: &State,
    post: &State,
) -> Response {
    let member_name = |id: MemberId| names.of(id);
    match resp {
        Resp::Join {
            error: ErrorCode::None,
            member: Some(member),
            generation,
            leader,
            members,
        } => {
            let instance_of = |id: MemberId| {
                post.coord
                    .member(id)
                    .or_else(|| pre.coord.member(id))
                    .and_then(|m| m.instance)
                    .map(instance_name)
            };
            let list = |claims: &[Claim]| {
                claims
                    .iter()
                    .map(|&(id, owned, g)| JoinGroupResponseMember {
                        member_id: member_name(id),
                        group_instance_id: instance_of(id),
                        metadata: subscription(owned, g),
                    })
                    .collect()
            };
            // KIP-814 (JoinGroup v9+): a static leader that rejoins a Stable group under a new
            // id is named leader and gets the member list with skip_assignment set. (The model
            // answers as before v9, with the old leader's id and no list, so that its consumer
            // does not assign.)
            let skip = post.coord.leader == Some(*member) && *leader != Some(*member);
            let leader = if skip { Some(*member) } else { *leader };
            Response::JoinGroup(JoinGroupResponse {
                error_code: ErrorCode::None,
                generation_id: GenerationId(i32::from(*generation)),
                protocol_type: Some("consumer".into()),
                protocol_name: Some(protocol_name(model)),
                leader: leader.map_or(WireMemberId(String::new()), member_name),
                skip_assignment: skip,
                member_id: member_name(*member),
                members: if skip {
                    list(&post.coord.claims())
                } else {
                    list(members)
                },
            })
        }
        Resp::Join { error, member, .. } => Response::JoinGroup(JoinGroupResponse {
            error_code: *error,
            generation_id: GenerationId(-1),
            protocol_type: None,
            protocol_name: None,
            leader: WireMemberId(String::new()),
            skip_assignment: false,
            member_id: member.map_or(WireMemberId(String::new()), member_name),
            members: vec![],
        }),
        Resp::Sync {
            error: ErrorCode::None,
            assignment: set,
        } => Response::SyncGroup(SyncGroupResponse {
            error_code: ErrorCode::None,
            protocol_type: Some("consumer".into()),
            protocol_name: Some(protocol_name(model)),
            assignment: assignment(*set),
        }),
        Resp::Sync { error, .. } => Response::SyncGroup(SyncGroupResponse {
            error_code: *error,
            protocol_type: None,
            protocol_name: None,
            assignment: vec![],
        }),
        Resp::Heartbeat { error } => Response::Heartbeat(HeartbeatResponse { error_code: *error }),
        Resp::Commit { error, offsets } => Response::OffsetCommit(OffsetCommitResponse {
            partitions: offset_errors(offsets, *error),
        }),
        Resp::TxnCommit { error, offsets } => Response::TxnOffsetCommit(TxnOffsetCommitResponse {
            partitions: offset_errors(offsets, *error),
        }),
        Resp::Fetch { error, offsets } => {
            // The model answers a whole request UNSTABLE_OFFSET_COMMIT; Kafka marks just the
            // partitions with a transactional commit pending and answers the others.
            let pending = |p: usize| pre.coord.txn_pending.iter().any(|(_, o)| o[p] != ABSENT);
            let requested = match taken {
                Some(Req::Fetch { partitions }) => *partitions,
                _ => 0,
            };
            let partitions = parts(requested)
                .map(|p| {
                    let unstable = *error == ErrorCode::UnstableOffsetCommit && pending(p);
                    // The model's answer carries the offsets only when it is NONE.
                    let committed = match *error {
                        ErrorCode::None => offsets[p],
                        _ => pre.coord.offsets[p],
                    };
                    OffsetFetchPartition {
                        partition: TopicPartition {
                            topic: TOPIC.into(),
                            partition: p as i32,
                        },
                        committed_offset: if unstable || committed == 0 {
                            -1
                        } else {
                            i64::from(committed)
                        },
                        committed_leader_epoch: -1,
                        metadata: Some(String::new()),
                        error_code: if unstable {
                            ErrorCode::UnstableOffsetCommit
                        } else {
                            ErrorCode::None
                        },
                    }
                })
                .collect();
            Response::OffsetFetch(OffsetFetchResponse {
                error_code: ErrorCode::None,
                partitions,
            })
        }
        Resp::Leave { error } => Response::LeaveGroup(LeaveGroupResponse {
            error_code: ErrorCode::None,
            members: vec![LeaveGroupMemberResponse {
                member_id: match taken {
                    Some(Req::Leave { member }) => names.of(*member),
                    _ => WireMemberId(String::new()),
                },
                group_instance_id: None,
                error_code: *error,
            }],
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_encodings_are_stable() {
        let id = MemberId { slot: 1, nonce: 2 };
        let mut names = Names::default();
        assert_eq!(names.of(id).0, "${m1_2}");
        names.hand_out(id);
        assert_eq!(names.of(id).0, "${m1_2}");
        names.hand_out(id);
        assert_eq!(names.of(id).0, "${m1_2_2}");
        assert_eq!(instance_name(0).0, "i0");
        // Version 3 subscription: version, topics, user data, owned partitions, generation, rack.
        let s = subscription(0b10, 4);
        assert_eq!(&s[..2], &[0, 3]);
        assert_ne!(subscription(0b10, 4), subscription(0b01, 4));
        assert_ne!(assignment(0), assignment(1));
    }

    #[test]
    fn a_first_join_is_answered_member_id_required() {
        let model = GroupModel::new(kgroup_model::Config::small()).unwrap();
        let mut t = Translator::new(model);
        t.take(Action::Join { slot: 0 }).unwrap();
        t.take(Action::Deliver { slot: 0, index: 0 }).unwrap();
        let json = serde_json::to_string(t.steps()).unwrap();
        assert!(json.contains("MEMBER_ID_REQUIRED"), "{json}");
        assert!(json.contains("${m0_0}"), "{json}");
        assert!(t.features().contains("JoinGroup MEMBER_ID_REQUIRED"));
    }
}
