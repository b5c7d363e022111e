//! A stateright model of Kafka's classic consumer-group protocol: one group coordinator with its
//! `__consumer_offsets` log, N consumers, per-connection FIFO networks, and bounded faults.
//! docs/model.md explains what is modelled and what is abstracted; docs/invariants/ has a page
//! per property.
//!
//! - [`state`]: the state, its actors and messages.
//! - [`coordinator`]: Kafka's classic `GroupCoordinator`, one step per request or timer.
//! - [`consumer`]: the client side (`ConsumerCoordinator`) and the application's poll loop.
//! - [`assignment`]: the leader's assignment rule.
//! - [`properties`]: the invariants, the liveness property and the `sometimes` reachability goals.
//! - [`bugs`]: seeded real bugs, one at a time.
//!
//! Architecture Invariant: the model depends on `kgroup-protocol` only; it never calls the
//! production coordinator (`kgroup-core`), and the production code never depends on it.

pub mod assignment;
pub mod bugs;
pub mod check;
pub mod config;
pub mod consumer;
pub mod coordinator;
pub mod properties;
pub mod report;
pub mod state;
pub mod symmetry;

pub use bugs::Bug;
pub use config::{Assignor, Config, ConfigError, Protocol};

use kgroup_protocol::{ErrorCode, GroupState};
use state::*;
use stateright::{Model, Property};

/// One step of the system.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// The coordinator takes request `index` of connection `slot`: 0, the oldest, as TCP
    /// delivers them, or a later one while the `reorders` budget lasts.
    Deliver { slot: u8, index: u8 },
    /// Consumer `slot` takes the oldest response on its connection.
    Receive { slot: u8 },
    /// The coordinator completes the join phase (every member rejoined; also where the initial
    /// rebalance delay ends).
    CompleteJoin,
    /// A member's session timeout (or, mid-rebalance, its rebalance timeout) fires.
    Expire { member: MemberId },
    /// Consumer `slot` sends JoinGroup.
    Join { slot: u8 },
    /// Consumer `slot` sends OffsetFetch for the partitions it was given.
    Fetch { slot: u8 },
    /// Consumer `slot` processes the next record of `partition`.
    Process { slot: u8, partition: u8 },
    /// Consumer `slot` commits its positions.
    Commit { slot: u8 },
    /// Consumer `slot` heartbeats (only when the answer will not be NONE: a heartbeat answered
    /// NONE changes nothing, so leaving it out keeps a Stable group terminal).
    Heartbeat { slot: u8 },
    /// Fault: consumer `slot` crashes; with `restart`, a new process starts in its place.
    Crash { slot: u8, restart: bool },
    /// Fault budget `leaves`: dynamic consumer `slot` shuts down gracefully.
    Leave { slot: u8 },
    /// Fault: connection `slot` drops, losing what was in flight.
    Disconnect { slot: u8 },
    /// Fault budget `duplicates`: a second process of static instance `identity` starts while
    /// the first still runs (under exactly-once, with the same `transactional.id`).
    Duplicate { identity: u8 },
    /// Fault: the coordinator fails over and the new one loads the log.
    Failover,
    /// Exactly-once: the group coordinator takes the oldest transaction marker.
    ApplyMarker,
    /// Exactly-once: the transaction coordinator aborts the open transaction of a producer whose
    /// process is gone (transaction.timeout.ms).
    ExpireTxn { producer: u8 },
}

/// The model of one configuration.
#[derive(Clone, Debug)]
pub struct GroupModel {
    pub cfg: Config,
}

impl GroupModel {
    pub fn new(cfg: Config) -> Result<GroupModel, ConfigError> {
        cfg.validate()?;
        Ok(GroupModel { cfg })
    }

    pub fn initial(&self) -> State {
        let n = self.cfg.consumers as usize;
        // Slots past `n` are for the processes the `duplicates` budget starts.
        let slots = n + self.cfg.faults.duplicates as usize;
        let consumers = (0..slots)
            .map(|i| Consumer {
                phase: if i < n { Phase::Unjoined } else { Phase::Down },
                ..Consumer::new(i as u8)
            })
            .collect();
        let coord = Coord {
            state: GroupState::Empty,
            generation: 0,
            leader: None,
            members: vec![],
            pending: vec![],
            offsets: [0; MAX_PARTITIONS],
            waits_for_removed: false,
            txn_pending: vec![],
        };
        State {
            coord,
            log: Log {
                group: GroupRecord::default(),
                offsets: [0; MAX_PARTITIONS],
                txn_pending: vec![],
                producer_epochs: [0; MAX_CONSUMERS],
            },
            consumers,
            to_coord: vec![vec![]; slots],
            to_consumer: vec![vec![]; slots],
            budget: self.cfg.faults,
            processed: [0; MAX_PARTITIONS],
            seen: 0,
            txn: if self.cfg.eos {
                vec![Txn::default(); n]
            } else {
                vec![]
            },
            output: [0; MAX_PARTITIONS],
            markers: vec![],
        }
    }

    /// The running consumer that holds member id `id`, or that the coordinator has given it to
    /// in a response it has not read yet (its next id has that nonce), if any.
    pub fn holder(s: &State, id: MemberId) -> Option<usize> {
        let c = &s.consumers[id.slot as usize];
        let holds = c.member == Some(id) || (c.member.is_none() && c.nonce == id.nonce);
        (c.alive() && holds).then_some(id.slot as usize)
    }

    fn expirable(&self, s: &State, id: MemberId) -> bool {
        Self::holder(s, id).is_none() || s.budget.expiries > 0
    }

    /// Consumer `slot` may commit now: it is in a group and has positions to commit.
    ///
    /// Commits whose answer would change nothing are not sent, since each would close a cycle
    /// and keep the liveness check from seeing the path's end: an OffsetCommit answered
    /// REBALANCE_IN_PROGRESS to a consumer that is not Stable (it is rejoining already), and,
    /// with `--async-commits`, any commit the coordinator would refuse now with an error the
    /// callback ignores (it leaves those to the heartbeat; FENCED_INSTANCE_ID, which stops the
    /// process, is still sent). A commit refused because the group moved on while it was in
    /// flight is still explored.
    fn can_commit(&self, s: &State, slot: usize, busy: bool) -> bool {
        let cfg = &self.cfg;
        let c = &s.consumers[slot];
        let Some(member) = c.member else { return false };
        if busy || consumer::uncommitted(cfg, s, slot) == 0 {
            return false;
        }
        let error = || {
            let instance = consumer::instance(cfg, c);
            coordinator::commit_error(cfg, &s.coord, member, instance, c.generation)
        };
        if cfg.async_commits {
            consumer::async_commits_in_flight(s, slot) < consumer::MAX_ASYNC_COMMITS
                && matches!(error(), ErrorCode::None | ErrorCode::FencedInstanceId)
        } else {
            !c.waiting
                && (cfg.eos
                    || c.phase == Phase::Stable
                    || error() != ErrorCode::RebalanceInProgress)
        }
    }

    /// No step is possible: the system has stopped.
    pub fn at_rest(&self, s: &State) -> bool {
        let mut a = vec![];
        self.actions(s, &mut a);
        a.into_iter().all(|a| self.next_state(s, a).is_none())
    }

    /// The `sometimes` goals this configuration can reach.
    pub fn goals(&self) -> Vec<&'static str> {
        let c = &self.cfg;
        let f = &c.faults;
        let mut g = vec![];
        if c.protocol == Protocol::Cooperative && c.consumers >= 2 && c.partitions >= 2 {
            g.push(properties::SOMETIMES_COOPERATIVE_HANDOVER);
        }
        if f.expiries > 0 && c.records > 0 && c.bug.is_none() {
            g.push(properties::SOMETIMES_ZOMBIE_COMMIT);
        }
        if c.static_members && f.crashes > 0 {
            g.push(properties::SOMETIMES_STATIC_REJOIN);
        }
        if f.failovers > 0 {
            g.push(properties::SOMETIMES_FAILOVER_MID_REBALANCE);
        }
        if f.duplicates > 0 && c.bug.is_none() {
            g.push(properties::SOMETIMES_DUPLICATE_FENCED);
        }
        if c.eos && f.expiries > 0 && c.records > 0 && c.bug.is_none() {
            g.push(properties::SOMETIMES_ZOMBIE_TXN_ABORTED);
        }
        g
    }

    fn apply(&self, s: &mut State, action: Action) {
        let cfg = &self.cfg;
        match action {
            Action::Deliver { slot, index } => {
                if index > 0 {
                    s.budget.reorders -= 1;
                }
                let req = s.to_coord[slot as usize].remove(index as usize);
                coordinator::handle(cfg, s, slot, req);
            }
            Action::Receive { slot } => {
                let resp = s.to_consumer[slot as usize].remove(0);
                consumer::receive(cfg, s, slot as usize, resp);
            }
            Action::CompleteJoin => coordinator::complete_join(s),
            Action::Expire { member } => {
                if let Some(h) = Self::holder(s, member) {
                    s.budget.expiries -= 1;
                    // The timing assumption: a consumer notices it is too slow and stops
                    // processing before its session can expire (its max.poll.interval.ms fires
                    // first): its partitions are lost and it will rejoin afresh. A request it had
                    // already sent is still on its way.
                    if !cfg.has_bug(Bug::ZombieKeepsProcessing) {
                        let c = &mut s.consumers[h];
                        c.owned = 0;
                        c.assigned = 0;
                        c.generation = 0;
                        c.member = None;
                        c.phase = Phase::Unjoined;
                    }
                }
                coordinator::expire(cfg, s, member);
            }
            Action::Join { slot } => consumer::join(cfg, s, slot as usize),
            Action::Fetch { slot } => {
                let c = &s.consumers[slot as usize];
                let partitions = c.assigned & !c.owned;
                s.to_coord[slot as usize].push(Req::Fetch { partitions });
                s.consumers[slot as usize].waiting = true;
            }
            Action::Process { slot, partition } => {
                consumer::process(cfg, s, slot as usize, partition as usize)
            }
            Action::Commit { slot } => consumer::commit(cfg, s, slot as usize),
            Action::Heartbeat { slot } => consumer::heartbeat(cfg, s, slot as usize),
            Action::Crash { slot, restart } => {
                s.budget.crashes -= 1;
                self.drop_connection(s, slot);
                consumer::stop(s, slot as usize, Phase::Down);
                if restart {
                    // A new process: any id the coordinator made for the old one is not its.
                    let old = &s.consumers[slot as usize];
                    let (identity, nonce) = (old.identity, old.nonce + 1);
                    s.consumers[slot as usize] = Consumer {
                        nonce,
                        ..Consumer::new(identity)
                    };
                    self.start_producer(s, slot as usize);
                }
            }
            Action::Leave { slot } => {
                s.budget.leaves -= 1;
                consumer::leave(s, slot as usize);
            }
            Action::Disconnect { slot } => {
                s.budget.losses -= 1;
                self.drop_connection(s, slot);
            }
            Action::Duplicate { identity } => {
                let slot = self.cfg.consumers + (cfg.faults.duplicates - s.budget.duplicates);
                s.budget.duplicates -= 1;
                s.consumers[slot as usize] = Consumer::new(identity);
                self.start_producer(s, slot as usize);
            }
            Action::Failover => {
                s.budget.failovers -= 1;
                if matches!(
                    s.coord.state,
                    GroupState::PreparingRebalance | GroupState::CompletingRebalance
                ) {
                    s.seen |= Seen::FAILOVER_MID_REBALANCE;
                }
                s.coord = coordinator::load(&s.log);
                if cfg.has_bug(Bug::LoadSkipsPendingTxnOffsets) {
                    s.coord.txn_pending.clear();
                }
                for slot in 0..s.consumers.len() {
                    self.drop_connection(s, slot as u8);
                }
            }
            Action::ApplyMarker => {
                let (producer, commit, epoch) = s.markers.remove(0);
                coordinator::apply_marker(s, producer, commit, epoch);
            }
            Action::ExpireTxn { producer } => consumer::finish_txn(s, producer as usize, false),
        }
    }

    /// Exactly-once: a new process calls InitProducerId for its `transactional.id`, aborting the
    /// open transaction of any earlier process and fencing it.
    fn start_producer(&self, s: &mut State, slot: usize) {
        if self.cfg.eos {
            let t = s.consumers[slot].identity as usize;
            s.consumers[slot].epoch = consumer::init_producer(s, t);
        }
    }

    /// A connection closes: what was in flight on it is lost, the consumer stops waiting, and
    /// the coordinator can no longer answer on it.
    fn drop_connection(&self, s: &mut State, slot: u8) {
        s.to_coord[slot as usize].clear();
        s.to_consumer[slot as usize].clear();
        s.consumers[slot as usize].waiting = false;
        for m in &mut s.coord.members {
            if m.id.slot == slot {
                m.owed = 0;
            }
        }
    }
}

impl Model for GroupModel {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![self.initial()]
    }

    fn actions(&self, s: &State, out: &mut Vec<Action>) {
        let cfg = &self.cfg;
        // The coordinator.
        let reachable = if s.budget.reorders > 0 { usize::MAX } else { 1 };
        for (slot, q) in s.to_coord.iter().enumerate() {
            for index in 0..q.len().min(reachable) {
                out.push(Action::Deliver {
                    slot: slot as u8,
                    index: index as u8,
                });
            }
        }
        if coordinator::can_complete_join(&s.coord) {
            out.push(Action::CompleteJoin);
        }
        for m in &s.coord.members {
            if !m.joined && m.owed & Owed::SYNC == 0 && self.expirable(s, m.id) {
                out.push(Action::Expire { member: m.id });
            }
        }
        for &id in &s.coord.pending {
            if self.expirable(s, id) {
                out.push(Action::Expire { member: id });
            }
        }
        if s.budget.failovers > 0 {
            out.push(Action::Failover);
        }
        if !s.markers.is_empty() {
            out.push(Action::ApplyMarker);
        }
        for (t, txn) in s.txn.iter().enumerate() {
            // transaction.timeout.ms: the producer that holds the epoch is gone.
            let holder = s
                .consumers
                .iter()
                .any(|c| c.alive() && c.identity as usize == t && c.epoch == txn.epoch);
            if txn.is_open() && !holder {
                out.push(Action::ExpireTxn { producer: t as u8 });
            }
        }
        if s.budget.duplicates > 0 {
            for identity in 0..cfg.consumers {
                if s.consumers
                    .iter()
                    .any(|c| c.alive() && c.identity == identity)
                {
                    out.push(Action::Duplicate { identity });
                }
            }
        }
        // The consumers.
        for (slot, c) in s.consumers.iter().enumerate() {
            let slot8 = slot as u8;
            if !s.to_consumer[slot].is_empty() {
                out.push(Action::Receive { slot: slot8 });
            }
            if !c.alive() {
                continue;
            }
            let busy =
                cfg.eos && (consumer::txn_busy(s, slot) || consumer::txn_committing(s, slot));
            for p in parts(c.owned) {
                if c.position[p] < cfg.records && !busy {
                    out.push(Action::Process {
                        slot: slot8,
                        partition: p as u8,
                    });
                }
            }
            if !c.waiting {
                match c.phase {
                    Phase::Unjoined | Phase::Joining | Phase::Syncing => {
                        out.push(Action::Join { slot: slot8 })
                    }
                    Phase::Fetching => {
                        // A retry that would be answered UNSTABLE_OFFSET_COMMIT again changes
                        // nothing, so it waits for the marker.
                        let want = c.assigned & !c.owned;
                        if !coordinator::fetch_unstable(cfg, &s.coord, want) {
                            out.push(Action::Fetch { slot: slot8 })
                        }
                    }
                    Phase::Stable => {
                        let member = c.member.expect("a Stable consumer has a member id");
                        let instance = consumer::instance(cfg, c);
                        let e =
                            coordinator::heartbeat_error(&s.coord, member, instance, c.generation);
                        if e != ErrorCode::None {
                            out.push(Action::Heartbeat { slot: slot8 });
                        }
                    }
                    Phase::Down | Phase::Fenced => {}
                }
            }
            if self.can_commit(s, slot, busy) {
                out.push(Action::Commit { slot: slot8 });
            }
            if !c.waiting && s.budget.leaves > 0 && !cfg.static_members && c.member.is_some() {
                out.push(Action::Leave { slot: slot8 });
            }
            if s.budget.crashes > 0 {
                out.push(Action::Crash {
                    slot: slot8,
                    restart: true,
                });
                out.push(Action::Crash {
                    slot: slot8,
                    restart: false,
                });
            }
            let in_flight = c.waiting
                || !s.to_consumer[slot].is_empty()
                || (cfg.async_commits && !s.to_coord[slot].is_empty());
            if s.budget.losses > 0 && in_flight {
                out.push(Action::Disconnect { slot: slot8 });
            }
        }
    }

    fn next_state(&self, s: &State, action: Action) -> Option<State> {
        let mut next = s.clone();
        self.apply(&mut next, action);
        Some(next)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        let goals = self.goals();
        properties::all()
            .into_iter()
            .filter(|p| {
                let eos_only = [properties::NO_DUPLICATE_OUTPUT, properties::EXACTLY_ONCE];
                (p.expectation != stateright::Expectation::Sometimes || goals.contains(&p.name))
                    && (self.cfg.eos || !eos_only.contains(&p.name))
            })
            .collect()
    }

    fn format_action(&self, action: &Action) -> String {
        report::describe_action(action)
    }
}
