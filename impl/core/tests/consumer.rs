//! The consumer state machine against the real group coordinator, in process: every message is
//! passed by the test, per-connection FIFO, and time only moves when the test advances it.
//! After every step the test checks what the rebalance callbacks say each consumer owns.

use kgroup_assign::codec;
use kgroup_assign::Strategy;
use kgroup_core::consumer::{Consumer, ConsumerConfig, MemberState, Output};
use kgroup_core::coordinator::{
    self, Context, GroupCoordinator, Request, RequestId, Response, SequentialIds,
};
use kgroup_protocol::api::OffsetCommitPartition;
use kgroup_protocol::{ErrorCode, GroupState, RebalanceProtocol, TopicPartition};
use proptest::prelude::*;
use proptest::strategy::Strategy as _;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

const GROUP: &str = "g";
const SESSION_MS: i32 = 10_000;
const REBALANCE_MS: i32 = 30_000;
const HEARTBEAT_MS: u64 = 1_000;

type Parts = BTreeSet<TopicPartition>;

/// What a consumer did, in order, as the test saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    /// A request it sent: the API and, for JoinGroup, the member id it carried.
    Sent(&'static str, String),
    /// A response it was given: the API and its error.
    Got(&'static str, ErrorCode),
    Revoked(Parts),
    Assigned(Parts),
    Lost(Parts),
    Committed(ErrorCode),
    Fatal(ErrorCode),
    Disconnect,
}

/// How strictly ownership is checked after each step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// No partition is owned by two consumers at all (fault-free runs where everyone polls).
    Strict,
    /// No partition is owned by two consumers that got their assignment in the same generation.
    SameGeneration,
}

struct Node {
    c: Consumer,
    /// Bumped when the connection is closed: responses routed to an older one are dropped.
    epoch: u32,
    to_coord: VecDeque<(RequestId, Request)>,
    to_client: VecDeque<(RequestId, Response)>,
    /// What the callbacks say the consumer owns, and the generation it was assigned in.
    owned: Parts,
    owned_gen: i32,
    events: Vec<Ev>,
    requests: Vec<Request>,
    /// A paused process: no polls, no timers, no responses read.
    frozen: bool,
    /// A process another one has replaced (a static member's old instance): until it hears it
    /// is fenced it still believes it owns its partitions, which nothing can prevent, so its
    /// overlap with its replacement is not a violation.
    zombie: bool,
}

impl Node {
    fn running(&self) -> bool {
        self.c.fatal_error().is_none() && !self.c.is_closed()
    }
}

struct World {
    coord: GroupCoordinator,
    now: u64,
    nodes: Vec<Node>,
    /// Coordinator request id → (consumer, connection epoch, consumer's request id).
    routes: HashMap<u64, (usize, u32, RequestId)>,
    next_ctx: u64,
    topics: BTreeMap<String, i32>,
    check: Check,
    /// The coordinator's group state after every step.
    group_states: Vec<GroupState>,
}

fn api(r: &Request) -> &'static str {
    match r {
        Request::JoinGroup(_) => "JoinGroup",
        Request::SyncGroup(_) => "SyncGroup",
        Request::Heartbeat(_) => "Heartbeat",
        Request::LeaveGroup(_) => "LeaveGroup",
        Request::OffsetCommit(_) => "OffsetCommit",
        _ => "other",
    }
}

fn answer(r: &Response) -> (&'static str, ErrorCode) {
    match r {
        Response::JoinGroup(r) => ("JoinGroup", r.error_code),
        Response::SyncGroup(r) => ("SyncGroup", r.error_code),
        Response::Heartbeat(r) => ("Heartbeat", r.error_code),
        Response::LeaveGroup(r) => ("LeaveGroup", r.error_code),
        Response::OffsetCommit(r) => (
            "OffsetCommit",
            r.partitions
                .iter()
                .map(|(_, e)| *e)
                .find(|e| !e.is_none())
                .unwrap_or(ErrorCode::None),
        ),
        _ => ("other", ErrorCode::None),
    }
}

fn config(client: &str, strategies: &[Strategy], topics: &BTreeMap<String, i32>) -> ConsumerConfig {
    let mut c = ConsumerConfig::new(GROUP, client, topics.keys().cloned());
    c.session_timeout_ms = SESSION_MS;
    c.rebalance_timeout_ms = REBALANCE_MS;
    c.heartbeat_interval_ms = HEARTBEAT_MS;
    c.strategies = strategies.to_vec();
    c
}

fn topics(list: &[(&str, i32)]) -> BTreeMap<String, i32> {
    list.iter().map(|(t, n)| (t.to_string(), *n)).collect()
}

fn all_partitions(topics: &BTreeMap<String, i32>) -> Parts {
    topics
        .iter()
        .flat_map(|(t, n)| (0..*n).map(move |p| TopicPartition::new(t.clone(), p)))
        .collect()
}

impl World {
    fn new(topics: BTreeMap<String, i32>, check: Check) -> World {
        World {
            coord: GroupCoordinator::new(
                coordinator::Config::default(),
                Box::new(SequentialIds::default()),
            ),
            now: 1_000,
            nodes: vec![],
            routes: HashMap::new(),
            next_ctx: 0,
            topics,
            check,
            group_states: vec![],
        }
    }

    fn add(&mut self, config: ConsumerConfig) -> usize {
        let mut c = Consumer::new(config, self.now).expect("valid config");
        c.set_metadata(self.topics.clone());
        self.nodes.push(Node {
            c,
            epoch: 0,
            to_coord: VecDeque::new(),
            to_client: VecDeque::new(),
            owned: Parts::new(),
            owned_gen: -1,
            events: vec![],
            requests: vec![],
            frozen: false,
            zombie: false,
        });
        self.nodes.len() - 1
    }

    /// Takes consumer `i`'s outputs: requests onto its connection, callbacks into its ownership.
    fn drain(&mut self, i: usize) {
        while let Some(out) = self.nodes[i].c.poll_output() {
            let n = &mut self.nodes[i];
            match out {
                Output::Send { id, request } => {
                    let member = match &request {
                        Request::JoinGroup(r) => r.message.member_id.0.clone(),
                        _ => String::new(),
                    };
                    n.events.push(Ev::Sent(api(&request), member));
                    n.requests.push(request.clone());
                    n.to_coord.push_back((id, request));
                }
                Output::Disconnect => {
                    n.events.push(Ev::Disconnect);
                    n.epoch += 1;
                    n.to_coord.clear();
                    n.to_client.clear();
                }
                Output::PartitionsRevoked(p) | Output::PartitionsLost(p)
                    if p.iter().any(|tp| !n.owned.contains(tp)) =>
                {
                    panic!("consumer {i} gives up {p:?} but owns {:?}", n.owned);
                }
                Output::PartitionsRevoked(p) => {
                    let p: Parts = p.into_iter().collect();
                    n.owned.retain(|tp| !p.contains(tp));
                    n.events.push(Ev::Revoked(p));
                }
                Output::PartitionsLost(p) => {
                    let p: Parts = p.into_iter().collect();
                    n.owned.retain(|tp| !p.contains(tp));
                    n.events.push(Ev::Lost(p));
                }
                Output::PartitionsAssigned(p) => {
                    let p: Parts = p.into_iter().collect();
                    assert!(
                        n.owned.is_disjoint(&p),
                        "consumer {i} is assigned {p:?} it already owns"
                    );
                    n.owned.extend(p.iter().cloned());
                    n.owned_gen = n.c.generation();
                    n.events.push(Ev::Assigned(p));
                }
                Output::CommitCompleted { error, .. } => n.events.push(Ev::Committed(error)),
                Output::Fatal(e) => n.events.push(Ev::Fatal(e)),
            }
        }
        let n = &self.nodes[i];
        assert_eq!(
            &n.owned,
            n.c.assignment(),
            "consumer {i}: callbacks and assignment() disagree"
        );
        self.verify();
    }

    fn drain_coord(&mut self) {
        while let Some(out) = self.coord.poll_output() {
            match out {
                coordinator::Output::Append(_) => {}
                coordinator::Output::Abandoned { id } => {
                    self.routes.remove(&id);
                }
                coordinator::Output::Response { id, response } => {
                    if let Some((i, epoch, rid)) = self.routes.remove(&id) {
                        if self.nodes[i].epoch == epoch {
                            self.nodes[i].to_client.push_back((rid, response));
                        }
                    }
                }
            }
        }
    }

    /// The coordinator takes the oldest request on consumer `i`'s connection.
    fn deliver_request(&mut self, i: usize) -> bool {
        let Some((rid, request)) = self.nodes[i].to_coord.pop_front() else {
            return false;
        };
        self.next_ctx += 1;
        let ctx = Context {
            id: self.next_ctx,
            client_id: self.nodes[i].c.config().client_id.clone(),
            client_host: "/127.0.0.1".into(),
        };
        self.routes
            .insert(self.next_ctx, (i, self.nodes[i].epoch, rid));
        self.coord.handle_request(self.now, ctx, request);
        self.drain_coord();
        self.verify();
        true
    }

    /// Consumer `i` reads the oldest response on its connection.
    fn deliver_response(&mut self, i: usize) -> bool {
        if self.nodes[i].frozen {
            return false;
        }
        let Some((rid, response)) = self.nodes[i].to_client.pop_front() else {
            return false;
        };
        let (name, error) = answer(&response);
        self.nodes[i].events.push(Ev::Got(name, error));
        self.nodes[i].c.handle_response(self.now, rid, response);
        self.drain(i);
        true
    }

    /// Delivers every message in flight, both ways, until the network is quiet.
    fn deliver_all(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            for i in 0..self.nodes.len() {
                moved |= self.deliver_request(i);
                moved |= self.deliver_response(i);
            }
            if !moved {
                return;
            }
        }
        panic!("the network never went quiet");
    }

    fn poll(&mut self, i: usize) {
        if self.nodes[i].frozen {
            return;
        }
        self.nodes[i].c.poll(self.now);
        self.drain(i);
    }

    /// Time moves on: the coordinator's timers and every consumer's whose deadline passed.
    fn advance(&mut self, ms: u64) {
        self.now += ms;
        self.coord.handle_timeout(self.now);
        self.drain_coord();
        self.verify();
        for i in 0..self.nodes.len() {
            if self.nodes[i].frozen {
                continue;
            }
            if self.nodes[i]
                .c
                .poll_timeout()
                .is_some_and(|t| t <= self.now)
            {
                self.nodes[i].c.handle_timeout(self.now);
                self.drain(i);
            }
        }
    }

    /// The connection of consumer `i` breaks: whatever was on it is lost.
    fn disconnect(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        n.epoch += 1;
        n.to_coord.clear();
        n.to_client.clear();
        n.c.disconnect(self.now);
        self.drain(i);
    }

    /// One round of a well-behaved world: deliver, every consumer polls, deliver, time moves.
    fn round(&mut self, ms: u64) {
        self.deliver_all();
        for i in 0..self.nodes.len() {
            self.poll(i);
        }
        self.deliver_all();
        self.advance(ms);
    }

    /// Rounds of `ms` until `done`, for at most `limit_ms` of simulated time.
    fn run_until(&mut self, limit_ms: u64, ms: u64, done: impl Fn(&World) -> bool) {
        let end = self.now + limit_ms;
        while self.now < end {
            self.round(ms);
            if done(self) {
                return;
            }
        }
        let consumers: Vec<_> = self
            .nodes
            .iter()
            .map(|n| {
                let c = &n.c;
                let pending = c.rebalance_pending();
                (
                    c.state(),
                    c.generation(),
                    pending,
                    c.fatal_error(),
                    &n.owned,
                )
            })
            .collect();
        panic!(
            "not done after {limit_ms} ms: group {:?}, consumers (state, generation, \
             rebalance pending, fatal error, owned) {consumers:?}",
            self.coord.group_state(GROUP),
        );
    }

    fn live(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.running() && !n.frozen)
    }

    /// Every live consumer is stable in one generation, and together they own every partition
    /// exactly once.
    fn settled(&self) -> bool {
        if self.coord.group_state(GROUP) != Some(GroupState::Stable) {
            return false;
        }
        let live: Vec<&Node> = self.live().collect();
        if live.is_empty() || !live.iter().all(|n| n.c.is_stable()) {
            return false;
        }
        let generation = live[0].c.generation();
        if !live.iter().all(|n| n.c.generation() == generation) {
            return false;
        }
        let mut union = Parts::new();
        let mut total = 0;
        for n in &live {
            union.extend(n.owned.iter().cloned());
            total += n.owned.len();
        }
        union == all_partitions(&self.topics) && total == union.len()
    }

    /// Ownership never overlaps (per the check mode), and the group state is recorded.
    fn verify(&mut self) {
        if let Some(s) = self.coord.group_state(GROUP) {
            self.group_states.push(s);
        }
        let owners: Vec<(usize, &Node)> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| !n.owned.is_empty())
            .collect();
        for (a, (i, x)) in owners.iter().enumerate() {
            for (j, y) in &owners[a + 1..] {
                let compare = !x.zombie
                    && !y.zombie
                    && match self.check {
                        Check::Strict => true,
                        Check::SameGeneration => x.owned_gen == y.owned_gen,
                    };
                if compare {
                    let both: Vec<_> = x.owned.intersection(&y.owned).collect();
                    assert!(
                        both.is_empty(),
                        "consumers {i} and {j} (generations {} and {}) both own {both:?}",
                        x.owned_gen,
                        y.owned_gen
                    );
                }
            }
        }
    }

    fn clear_events(&mut self) {
        for n in &mut self.nodes {
            n.events.clear();
            n.requests.clear();
        }
        self.group_states.clear();
    }

    /// The rebalance-relevant events of consumer `i`: callbacks, JoinGroup and SyncGroup.
    fn story(&self, i: usize) -> Vec<Ev> {
        self.nodes[i]
            .events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Ev::Revoked(_)
                        | Ev::Assigned(_)
                        | Ev::Lost(_)
                        | Ev::Fatal(_)
                        | Ev::Sent("JoinGroup" | "SyncGroup" | "LeaveGroup", _)
                )
            })
            .cloned()
            .collect()
    }
}

fn join(member: &str) -> Ev {
    Ev::Sent("JoinGroup", member.to_owned())
}

fn sync() -> Ev {
    Ev::Sent("SyncGroup", String::new())
}

/// A group of `n` consumers with the same strategies, settled.
fn settled_group(
    n: usize,
    strategies: &[Strategy],
    topic_list: &[(&str, i32)],
    check: Check,
) -> World {
    let mut w = World::new(topics(topic_list), check);
    for i in 0..n {
        let cfg = config(&format!("c{i}"), strategies, &w.topics);
        w.add(cfg);
    }
    w.run_until(60_000, 100, World::settled);
    w
}

#[test]
fn eager_range_group_of_three_becomes_stable_with_a_complete_assignment() {
    let w = settled_group(3, &[Strategy::Range], &[("a", 5), ("b", 3)], Check::Strict);
    assert_eq!(w.nodes[0].c.protocol(), RebalanceProtocol::Eager);
    let generation = w.nodes[0].c.generation();
    assert_eq!(
        generation, 1,
        "one rebalance: the initial delay gathers everyone"
    );
    assert_eq!(w.nodes.iter().filter(|n| n.c.is_leader()).count(), 1);
    // Range: per topic, contiguous ranges; members sorted by member id (c0-…1, c1-…2, c2-…3).
    let mut by_member: Vec<(&str, &Parts)> = w
        .nodes
        .iter()
        .map(|n| (n.c.member_id(), &n.owned))
        .collect();
    by_member.sort();
    let ranges: Vec<Vec<(String, Vec<i32>)>> = by_member
        .iter()
        .map(|(_, parts)| {
            let mut per_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
            for tp in parts.iter() {
                per_topic
                    .entry(tp.topic.clone())
                    .or_default()
                    .push(tp.partition);
            }
            per_topic.into_iter().collect()
        })
        .collect();
    let expected = vec![
        vec![("a".into(), vec![0, 1]), ("b".into(), vec![0])],
        vec![("a".into(), vec![2, 3]), ("b".into(), vec![1])],
        vec![("a".into(), vec![4]), ("b".into(), vec![2])],
    ];
    assert_eq!(ranges, expected);
    // Each consumer: MEMBER_ID_REQUIRED, rejoin with the id, sync, assigned. Nothing revoked.
    for i in 0..3 {
        let id = w.nodes[i].c.member_id().to_owned();
        assert_eq!(
            w.story(i),
            vec![
                join(""),
                join(&id),
                sync(),
                Ev::Assigned(w.nodes[i].owned.clone())
            ],
            "consumer {i}"
        );
    }
}

#[test]
fn a_fourth_eager_consumer_makes_everyone_revoke_before_rejoining() {
    let mut w = settled_group(3, &[Strategy::Range], &[("a", 5), ("b", 3)], Check::Strict);
    let before: Vec<Parts> = w.nodes.iter().map(|n| n.owned.clone()).collect();
    w.clear_events();
    let cfg = config("c3", &[Strategy::Range], &w.topics);
    w.add(cfg);
    w.run_until(60_000, 100, World::settled);
    assert!(w.nodes.iter().all(|n| n.c.generation() == 2));
    for (i, had) in before.iter().enumerate() {
        let id = w.nodes[i].c.member_id().to_owned();
        // Kafka's order: onPartitionsRevoked(everything) before JoinGroup, then SyncGroup,
        // then onPartitionsAssigned(the new assignment).
        assert_eq!(
            w.story(i),
            vec![
                Ev::Revoked(had.clone()),
                join(&id),
                sync(),
                Ev::Assigned(w.nodes[i].owned.clone())
            ],
            "consumer {i}"
        );
        // They learnt of the rebalance from a heartbeat.
        assert!(w.nodes[i]
            .events
            .contains(&Ev::Got("Heartbeat", ErrorCode::RebalanceInProgress)));
    }
    let id = w.nodes[3].c.member_id().to_owned();
    assert_eq!(
        w.story(3),
        vec![
            join(""),
            join(&id),
            sync(),
            Ev::Assigned(w.nodes[3].owned.clone())
        ]
    );
    // Range per topic: a (5) splits 2/1/1/1 and b (3) 1/1/1/0 in member-id order.
    let mut sizes: Vec<usize> = w.nodes.iter().map(|n| n.owned.len()).collect();
    sizes.sort();
    assert_eq!(sizes, vec![1, 2, 2, 3]);
}

#[test]
fn a_cooperative_move_takes_two_rebalances_and_never_overlaps() {
    let coop = [Strategy::CooperativeSticky];
    let mut w = settled_group(2, &coop, &[("t", 6)], Check::Strict);
    assert_eq!(w.nodes[0].c.protocol(), RebalanceProtocol::Cooperative);
    let g = w.nodes[0].c.generation();
    let before: Vec<Parts> = w.nodes.iter().map(|n| n.owned.clone()).collect();
    assert_eq!((before[0].len(), before[1].len()), (3, 3));
    w.clear_events();
    let cfg = config("c2", &coop, &w.topics);
    w.add(cfg);
    // Strict checking: after every message and every callback, no partition has two owners.
    w.run_until(60_000, 100, World::settled);
    let moved = w.nodes[2].owned.clone();
    assert_eq!(moved.len(), 2);
    for (i, had) in before.iter().enumerate() {
        assert_eq!(w.nodes[i].owned.len(), 2);
        assert!(w.nodes[i].owned.is_subset(had), "only moves, no shuffles");
        let gave: Parts = had.difference(&w.nodes[i].owned).cloned().collect();
        assert_eq!(gave.len(), 1);
        let id = w.nodes[i].c.member_id().to_owned();
        // Round 1: keep everything while rejoining; the assignment withholds the moving
        // partition, which is revoked, and the member rejoins for round 2.
        assert_eq!(
            w.story(i),
            vec![
                join(&id),
                sync(),
                Ev::Revoked(gave.clone()),
                Ev::Assigned(Parts::new()),
                join(&id),
                sync(),
                Ev::Assigned(Parts::new()),
            ],
            "consumer {i}"
        );
    }
    // The newcomer gets nothing in round 1 (the partitions were still owned) and both moved
    // partitions in round 2.
    let id = w.nodes[2].c.member_id().to_owned();
    assert_eq!(
        w.story(2),
        vec![
            join(""),
            join(&id),
            sync(),
            Ev::Assigned(Parts::new()),
            join(&id),
            sync(),
            Ev::Assigned(moved)
        ]
    );
    assert_eq!(w.nodes[2].owned_gen, g + 2, "two rebalances");
    assert!(w.nodes.iter().all(|n| n.c.generation() == g + 2));
    // Cooperative rejoins carry the owned partitions and generation (KIP-429, KIP-792).
    let Some(Request::JoinGroup(first)) = w.nodes[0]
        .requests
        .iter()
        .find(|r| matches!(r, Request::JoinGroup(_)))
    else {
        panic!("no JoinGroup")
    };
    let (version, sub) = codec::decode_subscription(&first.message.protocols[0].metadata).unwrap();
    assert_eq!(version, 3);
    assert_eq!(sub.topics, vec!["t".to_string()]);
    assert_eq!(
        sub.owned_partitions,
        before[0].iter().cloned().collect::<Vec<_>>()
    );
    assert_eq!(sub.generation_id, g);
    assert_eq!(
        sub.user_data
            .as_deref()
            .map(codec::decode_cooperative_user_data),
        Some(Ok(g))
    );
}

fn static_config(client: &str, instance: &str, topics: &BTreeMap<String, i32>) -> ConsumerConfig {
    let mut c = config(client, &[Strategy::Range], topics);
    c.group_instance_id = Some(instance.to_owned());
    c
}

fn static_group(check: Check) -> World {
    let mut w = World::new(topics(&[("t", 6)]), check);
    for (client, instance) in [("c0", "i0"), ("c1", "i1"), ("c2", "i2")] {
        let cfg = static_config(client, instance, &w.topics);
        w.add(cfg);
    }
    w.run_until(60_000, 100, World::settled);
    w
}

#[test]
fn a_restarted_static_member_rejoins_without_a_rebalance_and_fences_the_old_one() {
    let mut w = static_group(Check::SameGeneration);
    let g = w.nodes[0].c.generation();
    let follower = (0..3).find(|&i| !w.nodes[i].c.is_leader()).unwrap();
    let instance = format!("i{follower}");
    let kept = w.nodes[follower].owned.clone();
    w.clear_events();
    // The new process starts with the same instance id while the old one still runs.
    w.nodes[follower].zombie = true;
    let cfg = static_config("restarted", &instance, &w.topics);
    let new = w.add(cfg);
    w.run_until(60_000, 100, |w| {
        w.nodes[new].c.is_stable() && w.nodes[follower].c.fatal_error().is_some()
    });
    assert!(
        w.group_states.iter().all(|s| *s == GroupState::Stable),
        "no rebalance: {:?}",
        w.group_states
    );
    assert_eq!(w.nodes[new].c.generation(), g);
    assert_eq!(
        w.nodes[new].owned, kept,
        "the stored assignment is handed back"
    );
    let id = w.nodes[new].c.member_id().to_owned();
    assert!(
        id.starts_with(&instance),
        "static member ids start with the instance id"
    );
    assert_eq!(
        w.story(new),
        vec![join(""), sync(), Ev::Assigned(kept.clone())]
    );
    // The old process hears FENCED_INSTANCE_ID on its next heartbeat and stops.
    assert_eq!(
        w.nodes[follower].c.fatal_error(),
        Some(ErrorCode::FencedInstanceId)
    );
    assert_eq!(
        w.story(follower),
        vec![Ev::Fatal(ErrorCode::FencedInstanceId), Ev::Lost(kept)]
    );
    assert!(w.nodes[follower]
        .events
        .contains(&Ev::Got("Heartbeat", ErrorCode::FencedInstanceId)));
    // Nobody else noticed.
    for i in (0..3).filter(|&i| i != follower) {
        assert!(w.story(i).is_empty(), "consumer {i}: {:?}", w.story(i));
    }
}

/// KIP-814: a static leader that restarts into a stable group is told it leads (JoinGroup v9
/// answers with `leader` = its new member id, `skip_assignment` and the member list, as Kafka
/// 3.9's `updateStaticMemberAndRebalance` does), so it keeps watching metadata without running
/// the assignor: its SyncGroup carries no assignment and the coordinator hands back the stored
/// one.
#[test]
fn a_restarted_static_leader_knows_it_leads_and_skips_the_assignment() {
    let mut w = static_group(Check::SameGeneration);
    let leader = (0..3).find(|&i| w.nodes[i].c.is_leader()).unwrap();
    let kept = w.nodes[leader].owned.clone();
    w.clear_events();
    w.nodes[leader].zombie = true;
    let cfg = static_config("restarted", &format!("i{leader}"), &w.topics);
    let new = w.add(cfg);
    w.run_until(60_000, 100, |w| w.nodes[new].c.is_stable());
    assert_eq!(w.nodes[new].owned, kept);
    assert!(
        w.group_states.iter().all(|s| *s == GroupState::Stable),
        "no rebalance"
    );
    assert!(w.nodes[new].c.is_leader());
    let syncs: Vec<usize> = w.nodes[new]
        .requests
        .iter()
        .filter_map(|r| match r {
            Request::SyncGroup(r) => Some(r.message.assignments.len()),
            _ => None,
        })
        .collect();
    assert_eq!(syncs, vec![0], "the assignor did not run");
    assert_eq!(
        w.nodes[new].events[..2],
        [join(""), Ev::Got("JoinGroup", ErrorCode::None)]
    );
}

#[test]
fn a_member_that_stops_past_its_session_loses_its_partitions_on_its_next_heartbeat() {
    let mut w = settled_group(3, &[Strategy::Range], &[("t", 6)], Check::SameGeneration);
    let g = w.nodes[0].c.generation();
    let x = 1;
    let had = w.nodes[x].owned.clone();
    w.clear_events();
    // The process pauses (a long GC, a suspended VM) for longer than its session.
    w.nodes[x].frozen = true;
    w.run_until(30_000, 100, |w| {
        w.settled() && w.live().all(|n| n.c.generation() == g + 1)
    });
    assert!(w.live().all(|n| n.owned.len() == 3), "the others took over");
    w.nodes[x].frozen = false;
    w.run_until(60_000, 100, |w| w.settled() && w.nodes[1].c.is_stable());
    assert_eq!(w.live().count(), 3);
    let events = &w.nodes[x].events;
    let unknown = events
        .iter()
        .position(|e| *e == Ev::Got("Heartbeat", ErrorCode::UnknownMemberId))
        .expect("its heartbeat is refused");
    let lost = events
        .iter()
        .position(|e| *e == Ev::Lost(had.clone()))
        .expect("its partitions are lost");
    assert!(unknown < lost);
    assert!(
        !events.iter().any(|e| matches!(e, Ev::Revoked(_))),
        "lost, not revoked: {events:?}"
    );
    // It had not heard from the coordinator for a session, so it reconnected first.
    assert_eq!(events[0], Ev::Disconnect);
    // Then it joined afresh, with no member id.
    assert_eq!(
        w.story(x)[..2],
        [Ev::Lost(had), join("")],
        "{:?}",
        w.story(x)
    );
}

#[test]
fn a_member_that_heartbeats_but_does_not_poll_leaves_after_the_poll_interval() {
    let mut w = settled_group(
        2,
        &[Strategy::RoundRobin],
        &[("t", 4)],
        Check::SameGeneration,
    );
    let had = w.nodes[0].owned.clone();
    w.clear_events();
    // Consumer 0's application is stuck: its heartbeat thread runs, its poll does not.
    let start = w.now;
    while w.now < start + REBALANCE_MS as u64 + 1_000 {
        w.deliver_all();
        w.poll(1);
        w.deliver_all();
        w.advance(100);
    }
    assert_eq!(
        w.story(0),
        vec![Ev::Sent("LeaveGroup", String::new())],
        "it leaves once max.poll.interval.ms passes"
    );
    assert_eq!(w.nodes[1].owned.len(), 4, "the other took everything");
    // Its next poll finds the generation gone: lost, and a fresh join.
    w.run_until(60_000, 100, World::settled);
    assert_eq!(w.story(0)[1..3], [Ev::Lost(had), join("")]);
}

#[test]
fn commits_carry_the_generation_and_fail_outside_a_stable_one() {
    let mut w = settled_group(2, &[Strategy::Range], &[("t", 2)], Check::Strict);
    let tp = w.nodes[0].owned.iter().next().unwrap().clone();
    let offsets = vec![OffsetCommitPartition {
        partition: tp.clone(),
        committed_offset: 42,
        committed_leader_epoch: -1,
        committed_metadata: None,
    }];
    w.clear_events();
    w.nodes[0].c.commit(w.now, offsets.clone());
    w.drain(0);
    let Some(Request::OffsetCommit(r)) = w.nodes[0].requests.last() else {
        panic!("no OffsetCommit")
    };
    assert_eq!(r.api_version, 8);
    assert_eq!(r.message.generation_id.0, w.nodes[0].c.generation());
    assert_eq!(r.message.member_id.as_str(), w.nodes[0].c.member_id());
    w.deliver_all();
    assert_eq!(
        w.nodes[0].events.last(),
        Some(&Ev::Committed(ErrorCode::None))
    );
    let stored = w
        .coord
        .store()
        .offset(GROUP, &tp.topic, tp.partition)
        .unwrap();
    assert_eq!(stored.value.offset, 42);
    // A newcomer starts a rebalance; once the member is rejoining it cannot commit.
    let cfg = config("c2", &[Strategy::Range], &w.topics);
    w.add(cfg);
    for _ in 0..60 {
        w.deliver_all();
        w.poll(0);
        if w.nodes[0].c.state() == MemberState::PreparingRebalance {
            break;
        }
        w.poll(1);
        w.poll(2);
        w.deliver_all();
        w.advance(100);
    }
    assert_eq!(w.nodes[0].c.state(), MemberState::PreparingRebalance);
    w.nodes[0].c.commit(w.now, offsets);
    w.drain(0);
    assert_eq!(
        w.nodes[0].events.last(),
        Some(&Ev::Committed(ErrorCode::RebalanceInProgress))
    );
}

#[test]
fn leaving_revokes_and_only_a_dynamic_member_says_so() {
    let mut w = settled_group(2, &[Strategy::Range], &[("t", 4)], Check::Strict);
    let had = w.nodes[0].owned.clone();
    w.clear_events();
    w.nodes[0].c.leave(w.now);
    w.drain(0);
    assert_eq!(
        w.story(0),
        vec![Ev::Revoked(had), Ev::Sent("LeaveGroup", String::new())]
    );
    w.run_until(60_000, 100, World::settled);
    assert_eq!(w.nodes[1].owned.len(), 4);

    let mut w = static_group(Check::Strict);
    let had = w.nodes[0].owned.clone();
    w.clear_events();
    w.nodes[0].c.leave(w.now);
    w.drain(0);
    assert_eq!(
        w.story(0),
        vec![Ev::Revoked(had)],
        "static members never send LeaveGroup"
    );
    assert!(w.nodes[0].c.is_closed());
}

#[test]
fn a_lost_sync_group_is_retried_after_the_backoff() {
    let mut w = World::new(topics(&[("t", 3)]), Check::Strict);
    let cfg = config("c0", &[Strategy::Sticky], &w.topics);
    w.add(cfg);
    // Run until the SyncGroup is on the wire, then cut the connection under it.
    for _ in 0..100 {
        w.poll(0);
        w.deliver_request(0);
        w.deliver_response(0);
        if matches!(
            w.nodes[0].to_coord.front(),
            Some((_, Request::SyncGroup(_)))
        ) {
            break;
        }
        w.advance(100);
    }
    assert!(matches!(
        w.nodes[0].to_coord.front(),
        Some((_, Request::SyncGroup(_)))
    ));
    w.disconnect(0);
    assert_eq!(w.nodes[0].c.state(), MemberState::CompletingRebalance);
    w.run_until(10_000, 50, World::settled);
    let id = w.nodes[0].c.member_id().to_owned();
    assert_eq!(
        w.story(0),
        vec![
            join(""),
            join(&id),
            sync(),
            join(&id),
            sync(),
            Ev::Assigned(all_partitions(&w.topics))
        ]
    );
}

/// A pending member (KIP-394: given a member id, not yet rejoined) must be let in when every
/// member expired while the group was rebalancing. Kafka's `supportsProtocols` compares each
/// protocol's supporter count (0 by default) with the member count (0): a match. Refusing it with
/// INCONSISTENT_GROUP_PROTOCOL is fatal to the consumer (Kafka throws it from `poll`).
#[test]
fn a_pending_member_rejoining_a_group_emptied_mid_rebalance_is_accepted() {
    let mut w = World::new(topics(&[("t", 2)]), Check::SameGeneration);
    for i in 0..2 {
        let cfg = config(&format!("c{i}"), &[Strategy::Range], &w.topics);
        w.add(cfg);
    }
    // c0 and c1 complete the join phase; their SyncGroups stay on the wire.
    let syncing = |w: &World, i: usize| {
        matches!(
            w.nodes[i].to_coord.front(),
            Some((_, Request::SyncGroup(_)))
        )
    };
    for _ in 0..200 {
        for i in 0..2 {
            w.poll(i);
            while !syncing(&w, i) && w.deliver_request(i) {}
            while w.deliver_response(i) {}
        }
        if syncing(&w, 0) && syncing(&w, 1) {
            break;
        }
        w.advance(100);
    }
    assert!(syncing(&w, 0) && syncing(&w, 1));
    let joined = w.now;
    w.nodes[0].frozen = true;
    w.nodes[1].frozen = true;
    // Halfway through their sessions c2 arrives and is told its member id.
    w.advance(5_000);
    let cfg = config("c2", &[Strategy::Range], &w.topics);
    let c2 = w.add(cfg);
    w.poll(c2);
    w.deliver_request(c2);
    w.deliver_response(c2);
    w.poll(c2);
    assert!(matches!(
        w.nodes[c2].to_coord.front(),
        Some((_, Request::JoinGroup(_)))
    ));
    // c0 and c1 expire; c2's rejoin arrives within its own pending timeout.
    w.advance(joined + 11_000 - w.now);
    assert_eq!(
        w.coord.group_state(GROUP),
        Some(GroupState::PreparingRebalance)
    );
    w.deliver_request(c2);
    w.deliver_response(c2);
    w.poll(c2);
    assert_eq!(
        w.nodes[c2].c.fatal_error(),
        None,
        "{:?}",
        w.nodes[c2].events
    );
    w.nodes[0].frozen = false;
    w.nodes[1].frozen = false;
    w.run_until(120_000, 100, World::settled);
}

#[test]
fn the_leader_rejoins_when_the_partition_counts_it_assigned_with_change() {
    let mut w = settled_group(2, &[Strategy::Range], &[("t", 2)], Check::Strict);
    let g = w.nodes[0].c.generation();
    w.clear_events();
    // Partitions are added: every consumer's metadata shows it, only the leader acts on it.
    w.topics.insert("t".into(), 4);
    for n in &mut w.nodes {
        n.c.set_metadata(w.topics.clone());
    }
    w.run_until(60_000, 100, World::settled);
    assert_eq!(w.nodes[0].c.generation(), g + 1);
    let leader = (0..2).find(|&i| w.nodes[i].c.is_leader()).unwrap();
    // The leader's rejoin comes first: its own poll, not a heartbeat, started the rebalance.
    let first_join = |i: usize| {
        w.nodes[i]
            .events
            .iter()
            .position(|e| matches!(e, Ev::Sent("JoinGroup", _)))
    };
    let follower = 1 - leader;
    assert!(first_join(leader) < first_join(follower));
    assert!(w.nodes[follower]
        .events
        .contains(&Ev::Got("Heartbeat", ErrorCode::RebalanceInProgress)));
    assert!(w.nodes.iter().all(|n| n.owned.len() == 2));
}

#[test]
fn configurations_kafka_would_refuse_are_refused() {
    use kgroup_core::consumer::ConfigError;
    let list = topics(&[("t", 1)]);
    let base = config("c", &[Strategy::Range], &list);
    let refuse = |change: &dyn Fn(&mut ConsumerConfig)| {
        let mut c = base.clone();
        change(&mut c);
        Consumer::new(c, 0).err()
    };
    assert_eq!(refuse(&|_| {}), None);
    assert_eq!(
        refuse(&|c| c.strategies.clear()),
        Some(ConfigError::NoStrategies)
    );
    assert_eq!(
        refuse(&|c| c.strategies = vec![Strategy::Sticky, Strategy::Sticky]),
        Some(ConfigError::DuplicateStrategy(Strategy::Sticky))
    );
    assert_eq!(refuse(&|c| c.topics.clear()), Some(ConfigError::NoTopics));
    assert!(matches!(
        refuse(&|c| c.heartbeat_interval_ms = c.session_timeout_ms as u64),
        Some(ConfigError::Timeouts(_))
    ));
    assert!(matches!(
        refuse(&|c| c.versions.join_group = 10),
        Some(ConfigError::UnsupportedVersion {
            api: "JoinGroup",
            ..
        })
    ));
    assert_eq!(
        refuse(&|c| {
            c.group_instance_id = Some("i".into());
            c.versions.join_group = 4;
        }),
        Some(ConfigError::StaticNeedsVersion {
            api: "JoinGroup",
            needed: 5,
            version: 4
        })
    );
    // Kafka picks COOPERATIVE only when every assignor supports it.
    let mut c = base.clone();
    c.strategies = vec![Strategy::CooperativeSticky, Strategy::Range];
    assert_eq!(c.protocol(), RebalanceProtocol::Eager);
    c.strategies = vec![Strategy::CooperativeSticky];
    assert_eq!(c.protocol(), RebalanceProtocol::Cooperative);
    assert_eq!(
        ConsumerConfig::new("g", "c", ["t"]).protocol(),
        RebalanceProtocol::Eager,
        "Kafka's default [range, cooperative-sticky] is EAGER"
    );
}

// ---- random interleavings ----------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Poll(usize),
    Advance(u64),
    Request(usize),
    Response(usize),
    Disconnect(usize),
    Commit(usize),
}

fn op(n: usize) -> impl proptest::strategy::Strategy<Value = Op> {
    prop_oneof![
        3 => (0..n).prop_map(Op::Poll),
        2 => (0u64..4_000).prop_map(Op::Advance),
        4 => (0..n).prop_map(Op::Request),
        4 => (0..n).prop_map(Op::Response),
        1 => (0..n).prop_map(Op::Disconnect),
        1 => (0..n).prop_map(Op::Commit),
    ]
}

/// A random group: 2-4 consumers, one strategy for all, static or dynamic members, one or two
/// topics, and the faults and steps before the world calms down.
#[derive(Debug, Clone)]
struct Scenario {
    consumers: usize,
    strategy: Strategy,
    statics: bool,
    topics: BTreeMap<String, i32>,
    ops: Vec<Op>,
}

fn scenario() -> impl proptest::strategy::Strategy<Value = Scenario> {
    (2usize..=4, 0usize..4, any::<bool>()).prop_flat_map(|(n, s, statics)| {
        (
            proptest::collection::btree_map("t[0-2]", 1i32..6, 1..=2),
            proptest::collection::vec(op(n), 0..250),
        )
            .prop_map(move |(topics, ops)| Scenario {
                consumers: n,
                strategy: Strategy::ALL[s],
                statics,
                topics,
                ops,
            })
    })
}

fn apply(w: &mut World, op: &Op) {
    match *op {
        Op::Poll(i) => w.poll(i),
        Op::Advance(ms) => w.advance(ms),
        Op::Request(i) => {
            w.deliver_request(i);
        }
        Op::Response(i) => {
            w.deliver_response(i);
        }
        Op::Disconnect(i) => w.disconnect(i),
        Op::Commit(i) => {
            let offsets = w.nodes[i]
                .owned
                .iter()
                .map(|tp| OffsetCommitPartition {
                    partition: tp.clone(),
                    committed_offset: w.now as i64,
                    committed_leader_epoch: -1,
                    committed_metadata: None,
                })
                .collect();
            w.nodes[i].c.commit(w.now, offsets);
            w.drain(i);
        }
    }
}

/// The scenario's consumers, having gone through its steps.
fn world_after(sc: &Scenario) -> World {
    let mut w = World::new(sc.topics.clone(), Check::SameGeneration);
    for i in 0..sc.consumers {
        let mut cfg = config(&format!("c{i}"), &[sc.strategy], &w.topics);
        if sc.statics {
            cfg.group_instance_id = Some(format!("i{i}"));
        }
        w.add(cfg);
    }
    for op in &sc.ops {
        apply(&mut w, op);
    }
    w
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Random polls, deliveries, commits, disconnections and clock jumps for 2-4 consumers,
    /// static or dynamic: nothing panics, no partition has two owners assigned in the same
    /// generation, no member is ever fatally refused, and once the faults stop every consumer
    /// becomes stable with every partition assigned exactly once — and, once the deadlines set
    /// during the faults have passed, stays so.
    #[test]
    fn random_interleavings_keep_ownership_safe_and_settle(sc in scenario()) {
        let mut w = world_after(&sc);
        w.run_until(600_000, 100, World::settled);
        // Deadlines set before the group settled may still rebalance it once: Kafka 3.9 keeps a
        // replaced static member's old id among the members that owe a SyncGroup, so when the
        // generation's sync deadline (the rebalance timeout) passes, a group that had settled
        // rebalances. Let such deadlines pass; then the group settles for good.
        for _ in 0..REBALANCE_MS / 100 {
            w.round(100);
        }
        w.run_until(600_000, 100, World::settled);
        for _ in 0..100 {
            w.round(100);
            prop_assert!(w.settled(), "the group did not stay settled");
        }
        for (i, node) in w.nodes.iter().enumerate() {
            prop_assert!(node.c.fatal_error().is_none(), "consumer {} failed: {:?}", i, node.events);
        }
    }
}

// ---- hostile responses ------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Poke {
    Poll,
    Advance(u64),
    Disconnect,
    Commit,
    /// Answer the oldest request in flight.
    Answer(Answer),
}

/// A response, drawn so that most of them are plausible and some are not.
#[derive(Debug, Clone)]
struct Answer {
    /// Answer an id the consumer never used instead.
    made_up_id: bool,
    /// Below 4: the kind of response the request expects; 4 and 5: LeaveGroup, ListGroups.
    kind: u8,
    /// See [`pick_error`].
    error: usize,
    /// JoinGroup: the consumer leads; SyncGroup: it is given the leader's share.
    leader: bool,
    /// JoinGroup's KIP-814 flag; also picks the odd variants below.
    skip: bool,
    /// Which protocol the coordinator names (mostly the consumer's own).
    protocol: u8,
    /// Garbage for metadata, assignments and user data.
    bytes: Vec<u8>,
    /// Subscriptions and assignments are well formed (else `bytes`).
    valid: bool,
}

fn poke() -> impl proptest::strategy::Strategy<Value = Poke> {
    let answer = (
        (0u8..8).prop_map(|n| n == 0),
        0u8..6,
        0usize..10_000,
        any::<bool>(),
        any::<bool>(),
        0u8..6,
        proptest::collection::vec(any::<u8>(), 0..24),
        (0u8..8).prop_map(|n| n != 0),
    )
        .prop_map(
            |(made_up_id, kind, error, leader, skip, protocol, bytes, valid)| Answer {
                made_up_id,
                kind,
                error,
                leader,
                skip,
                protocol,
                bytes,
                valid,
            },
        );
    prop_oneof![
        2 => Just(Poke::Poll),
        2 => (0u64..20_000).prop_map(Poke::Advance),
        1 => Just(Poke::Disconnect),
        1 => Just(Poke::Commit),
        8 => answer.prop_map(Poke::Answer),
    ]
}

/// Four picks in ten are NONE, four an error the group protocol reacts to, two any error.
fn pick_error(i: usize) -> ErrorCode {
    const USUAL: [ErrorCode; 10] = [
        ErrorCode::RebalanceInProgress,
        ErrorCode::UnknownMemberId,
        ErrorCode::IllegalGeneration,
        ErrorCode::MemberIdRequired,
        ErrorCode::FencedInstanceId,
        ErrorCode::CoordinatorNotAvailable,
        ErrorCode::NotCoordinator,
        ErrorCode::CoordinatorLoadInProgress,
        ErrorCode::UnknownTopicOrPartition,
        ErrorCode::OffsetMetadataTooLarge,
    ];
    match i % 10 {
        0..=3 => ErrorCode::None,
        4..=7 => USUAL[i / 10 % USUAL.len()],
        _ => ErrorCode::ALL[i / 10 % ErrorCode::ALL.len()],
    }
}

/// The response `a` describes, of kind `kind`, for a consumer that offered `configured`.
fn hostile_response(a: &Answer, kind: u8, configured: &str) -> Response {
    let Answer {
        error,
        leader,
        skip,
        protocol,
        valid,
        ..
    } = *a;
    let error = pick_error(error);
    let bytes = a.bytes.clone();
    use kgroup_protocol::api::*;
    use kgroup_protocol::{GenerationId, MemberId};
    // Mostly the protocol the consumer offered; sometimes another, unknown or empty.
    let protocol_name = match protocol {
        0..=3 => configured,
        4 => "range",
        _ => ["lifo", ""][usize::from(skip)],
    }
    .to_owned();
    let subscription = codec::encode_subscription(
        &codec::Subscription {
            topics: vec!["t".into(), "u".into()],
            owned_partitions: vec![TopicPartition::new("t", -3), TopicPartition::new("t", 9)],
            generation_id: 7,
            user_data: Some(bytes.clone()),
            ..Default::default()
        },
        3,
    )
    .unwrap();
    let assignment = codec::encode_assignment(
        &codec::AssignmentMessage {
            // An unsubscribed topic makes the consumer rejoin rather than take it.
            partitions: if skip && leader {
                vec![TopicPartition::new("t", 0), TopicPartition::new("zz", 1)]
            } else if leader {
                vec![TopicPartition::new("t", 0), TopicPartition::new("u", 1)]
            } else {
                vec![TopicPartition::new("t", 2)]
            },
            user_data: None,
        },
        (protocol % 4) as i16,
    )
    .unwrap();
    match kind {
        0 => Response::JoinGroup(JoinGroupResponse {
            error_code: error,
            generation_id: GenerationId(i32::from(protocol) - 1),
            protocol_type: Some(
                if protocol == 5 && skip {
                    "connect"
                } else {
                    "consumer"
                }
                .into(),
            ),
            protocol_name: Some(protocol_name),
            leader: MemberId(if leader { "m".into() } else { "other".into() }),
            skip_assignment: skip,
            member_id: MemberId("m".into()),
            members: vec![
                JoinGroupResponseMember {
                    member_id: MemberId("m".into()),
                    group_instance_id: None,
                    metadata: if valid {
                        subscription.clone()
                    } else {
                        bytes.clone()
                    },
                },
                JoinGroupResponseMember {
                    member_id: MemberId(if skip { "m".into() } else { "n".into() }),
                    group_instance_id: None,
                    metadata: subscription,
                },
            ],
        }),
        1 => Response::SyncGroup(SyncGroupResponse {
            error_code: error,
            protocol_type: None,
            protocol_name: if protocol < 5 {
                None
            } else {
                Some(protocol_name)
            },
            assignment: if valid { assignment } else { bytes },
        }),
        2 => Response::Heartbeat(HeartbeatResponse { error_code: error }),
        3 => Response::OffsetCommit(OffsetCommitResponse {
            partitions: vec![
                (TopicPartition::new("t", 0), ErrorCode::None),
                (TopicPartition::new("t", 1), error),
            ],
        }),
        4 => Response::LeaveGroup(LeaveGroupResponse {
            error_code: error,
            members: vec![],
        }),
        _ => Response::ListGroups(ListGroupsResponse {
            error_code: error,
            groups: vec![],
        }),
    }
}

/// Takes a lone consumer's outputs, checking that it only gives up what it owns.
fn drain(
    c: &mut Consumer,
    in_flight: &mut VecDeque<(RequestId, u8)>,
    owned: &mut Parts,
) -> Result<(), TestCaseError> {
    while let Some(out) = c.poll_output() {
        match out {
            Output::Send { id, request } => {
                let kind = match request {
                    Request::JoinGroup(_) => 0,
                    Request::SyncGroup(_) => 1,
                    Request::Heartbeat(_) => 2,
                    Request::OffsetCommit(_) => 3,
                    _ => 4,
                };
                in_flight.push_back((id, kind));
            }
            Output::Disconnect => in_flight.clear(),
            Output::PartitionsAssigned(p) => owned.extend(p),
            Output::PartitionsRevoked(p) | Output::PartitionsLost(p) => {
                for tp in p {
                    prop_assert!(owned.remove(&tp), "gave up {:?} it did not own", tp);
                }
            }
            Output::CommitCompleted { .. } | Output::Fatal(_) => {}
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Whatever the coordinator answers (any error, any kind, garbage metadata and
    /// assignments, made-up request ids), the consumer neither panics nor loses track of what
    /// it owns, and its deadlines never go backwards past the present.
    #[test]
    fn hostile_responses_never_panic(s in 0usize..4, pokes in proptest::collection::vec(poke(), 0..120)) {
        let list = topics(&[("t", 3), ("u", 2)]);
        let mut cfg = config("c", &[Strategy::ALL[s]], &list);
        if s == 2 {
            // Two assignors: the coordinator may pick either.
            cfg.strategies = vec![Strategy::Sticky, Strategy::RoundRobin];
        }
        if s == 3 {
            cfg.strategies = vec![Strategy::CooperativeSticky];
            cfg.group_instance_id = Some("i".into());
        }
        let configured = cfg.strategies[0].name();
        let mut c = Consumer::new(cfg, 0).unwrap();
        c.set_metadata(list.clone());
        let mut now = 0u64;
        let mut in_flight: VecDeque<(RequestId, u8)> = VecDeque::new();
        let mut owned = Parts::new();
        for p in pokes {
            match p {
                Poke::Poll => c.poll(now),
                Poke::Advance(ms) => {
                    now += ms;
                    c.handle_timeout(now);
                }
                Poke::Disconnect => {
                    in_flight.clear();
                    c.disconnect(now);
                }
                Poke::Commit => c.commit(now, vec![OffsetCommitPartition {
                    partition: TopicPartition::new("t", 0),
                    committed_offset: 1,
                    committed_leader_epoch: -1,
                    committed_metadata: None,
                }]),
                Poke::Answer(a) => {
                    // Mostly the right kind of answer to the oldest request; sometimes not.
                    let Some((id, expected)) = in_flight.pop_front() else {
                        c.poll(now);
                        drain(&mut c, &mut in_flight, &mut owned)?;
                        continue;
                    };
                    let id = if a.made_up_id { id + 1_000 } else { id };
                    let kind = if a.kind < 4 { expected } else { a.kind };
                    let r = hostile_response(&a, kind, configured);
                    c.handle_response(now, id, r);
                }
            }
            drain(&mut c, &mut in_flight, &mut owned)?;
            prop_assert_eq!(&owned, c.assignment());
            // A deadline that has passed is acted on by the next handle_timeout, which moves
            // it into the future: a driver looping on poll_timeout never spins.
            if c.poll_timeout().is_some_and(|t| t <= now) {
                c.handle_timeout(now);
                drain(&mut c, &mut in_flight, &mut owned)?;
                prop_assert!(c.poll_timeout().is_none_or(|t| t > now), "a deadline did not move");
            }
        }
        c.leave(now);
        drain(&mut c, &mut in_flight, &mut owned)?;
        prop_assert!(owned.is_empty(), "left owning {:?}", owned);
        prop_assert_eq!(c.poll_timeout(), None);
    }
}

/// A consumer of topic `t` (2 partitions) on its own, without a coordinator.
fn lone_consumer() -> Consumer {
    let t = topics(&[("t", 2)]);
    let mut c = Consumer::new(config("c1", &[Strategy::Range], &t), 0).unwrap();
    c.set_metadata(t);
    c
}

/// Polls at time 0; the JoinGroup that goes out: its request id and reason.
fn send_join(c: &mut Consumer) -> (u64, Option<String>) {
    use kgroup_core::coordinator::Request;
    c.poll(0);
    let mut found = None;
    while let Some(o) = c.poll_output() {
        if let Output::Send {
            id,
            request: Request::JoinGroup(r),
        } = o
        {
            found = Some((id, r.message.reason));
        }
    }
    found.expect("a JoinGroup was sent")
}

/// A JoinGroup answer without a generation: `error`, naming `member`.
fn join_answer(error: ErrorCode, member: &str) -> kgroup_core::coordinator::Response {
    use kgroup_protocol::api::JoinGroupResponse;
    use kgroup_protocol::{GenerationId, MemberId};
    kgroup_core::coordinator::Response::JoinGroup(JoinGroupResponse {
        error_code: error,
        generation_id: GenerationId(-1),
        protocol_type: None,
        protocol_name: None,
        leader: MemberId(String::new()),
        skip_assignment: false,
        member_id: MemberId(member.into()),
        members: vec![],
    })
}

/// The JoinGroup reason (KIP-800, v8+) is Kafka's text: after MEMBER_ID_REQUIRED the member
/// rejoins "need to re-join with the given member-id: <id>"; after a failed join, "rebalance
/// failed due to <exception>".
#[test]
fn join_reasons_are_kafkas() {
    let mut c = lone_consumer();
    let (id, _) = send_join(&mut c);
    c.handle_response(0, id, join_answer(ErrorCode::MemberIdRequired, "c1-xyz"));
    let (id, reason) = send_join(&mut c);
    assert_eq!(
        reason.as_deref(),
        Some("need to re-join with the given member-id: c1-xyz")
    );
    c.handle_response(0, id, join_answer(ErrorCode::RebalanceInProgress, "c1-xyz"));
    let (_, reason) = send_join(&mut c);
    assert_eq!(
        reason.as_deref(),
        Some("rebalance failed due to RebalanceInProgressException")
    );
}

/// A fatal error closes the consumer as the application would: a dynamic member that has a
/// member id leaves the group instead of waiting for its session to time out.
#[test]
fn a_fatal_join_error_sends_leave_group() {
    use kgroup_core::coordinator::Request;
    let mut c = lone_consumer();
    let (id, _) = send_join(&mut c);
    c.handle_response(0, id, join_answer(ErrorCode::MemberIdRequired, "c1-abc"));
    let (id, _) = send_join(&mut c);
    c.handle_response(0, id, join_answer(ErrorCode::GroupMaxSizeReached, "c1-abc"));
    c.poll(0);
    let outs: Vec<Output> = std::iter::from_fn(|| c.poll_output()).collect();
    assert!(
        outs.contains(&Output::Fatal(ErrorCode::GroupMaxSizeReached)),
        "{outs:?}"
    );
    let left = outs.iter().any(|o| {
        matches!(o, Output::Send { request: Request::LeaveGroup(r), .. }
            if r.message.members[0].member_id.0 == "c1-abc")
    });
    assert!(left, "LeaveGroup sent: {outs:?}");
    assert_eq!(c.fatal_error(), Some(ErrorCode::GroupMaxSizeReached));
}

/// Found by `random_interleavings_keep_ownership_safe_and_settle` (its 140 steps, kept as drawn):
/// two static members, round robin; after the faults the group settles in generation 2, and
/// 300 ms later the sync deadline finds the replaced member's old id still owing a SyncGroup
/// (Kafka 3.9's `replaceStaticMember` leaves `pendingSyncMembers` alone) and rebalances.
#[test]
fn a_replaced_static_members_old_id_rebalances_a_settled_group_once() {
    let sc = Scenario {
        consumers: 2,
        strategy: Strategy::RoundRobin,
        statics: true,
        topics: [("t1".to_string(), 3), ("t2".to_string(), 3)]
            .into_iter()
            .collect(),
        ops: vec![
            Op::Poll(1),
            Op::Response(1),
            Op::Poll(0),
            Op::Request(1),
            Op::Advance(3627),
            Op::Request(1),
            Op::Request(1),
            Op::Request(1),
            Op::Response(1),
            Op::Response(0),
            Op::Request(0),
            Op::Response(0),
            Op::Disconnect(1),
            Op::Advance(392),
            Op::Poll(1),
            Op::Request(0),
            Op::Advance(1368),
            Op::Poll(1),
            Op::Request(1),
            Op::Commit(1),
            Op::Disconnect(0),
            Op::Advance(455),
            Op::Advance(1042),
            Op::Response(0),
            Op::Response(0),
            Op::Response(0),
            Op::Request(1),
            Op::Request(0),
            Op::Request(0),
            Op::Poll(0),
            Op::Poll(1),
            Op::Response(1),
            Op::Request(1),
            Op::Request(0),
            Op::Advance(1447),
            Op::Request(1),
            Op::Request(1),
            Op::Response(1),
            Op::Advance(3205),
            Op::Request(1),
            Op::Poll(1),
            Op::Response(1),
            Op::Poll(0),
            Op::Response(1),
            Op::Request(0),
            Op::Advance(2494),
            Op::Request(0),
            Op::Request(1),
            Op::Poll(1),
            Op::Advance(716),
            Op::Poll(1),
            Op::Poll(0),
            Op::Poll(0),
            Op::Commit(1),
            Op::Response(0),
            Op::Commit(0),
            Op::Advance(2130),
            Op::Disconnect(1),
            Op::Request(1),
            Op::Request(0),
            Op::Poll(0),
            Op::Advance(604),
            Op::Response(0),
            Op::Advance(447),
            Op::Request(0),
            Op::Response(1),
            Op::Advance(2365),
            Op::Advance(2103),
            Op::Commit(1),
            Op::Commit(1),
            Op::Response(0),
            Op::Response(1),
            Op::Response(1),
            Op::Response(1),
            Op::Poll(0),
            Op::Request(1),
            Op::Advance(2943),
            Op::Request(1),
            Op::Response(0),
            Op::Request(1),
            Op::Response(1),
            Op::Poll(1),
            Op::Request(0),
            Op::Advance(3955),
            Op::Response(0),
            Op::Advance(472),
            Op::Poll(0),
            Op::Commit(0),
            Op::Commit(0),
            Op::Commit(0),
            Op::Request(0),
            Op::Advance(2489),
            Op::Disconnect(0),
            Op::Response(0),
            Op::Request(1),
            Op::Poll(0),
            Op::Request(0),
            Op::Poll(1),
            Op::Advance(3734),
            Op::Response(1),
            Op::Response(0),
            Op::Poll(1),
            Op::Advance(324),
            Op::Request(1),
            Op::Poll(0),
            Op::Poll(1),
            Op::Response(0),
            Op::Disconnect(1),
            Op::Poll(1),
            Op::Disconnect(1),
            Op::Response(0),
            Op::Poll(1),
            Op::Request(0),
            Op::Response(1),
            Op::Request(0),
            Op::Response(0),
            Op::Request(0),
            Op::Response(1),
            Op::Request(1),
            Op::Poll(1),
            Op::Response(1),
            Op::Poll(1),
            Op::Poll(1),
            Op::Advance(116),
            Op::Response(0),
            Op::Poll(1),
            Op::Poll(0),
            Op::Request(1),
            Op::Request(1),
            Op::Advance(71),
            Op::Request(0),
            Op::Poll(0),
            Op::Request(1),
            Op::Disconnect(1),
            Op::Request(0),
            Op::Disconnect(0),
            Op::Response(0),
            Op::Poll(1),
            Op::Request(0),
            Op::Response(0),
        ],
    };
    let mut w = world_after(&sc);
    w.run_until(600_000, 100, World::settled);
    let generation = w.nodes[0].c.generation();
    // Static member i0 was replaced while its old id still owed a SyncGroup: the generation's
    // sync deadline rebalances the settled group once, then it settles for good.
    w.run_until(REBALANCE_MS as u64, 100, |w| !w.settled());
    assert_eq!(
        w.coord.group_state(GROUP),
        Some(GroupState::PreparingRebalance)
    );
    w.run_until(600_000, 100, World::settled);
    assert_eq!(w.nodes[0].c.generation(), generation + 1);
    for _ in 0..REBALANCE_MS / 100 {
        w.round(100);
        assert!(w.settled(), "the group did not stay settled");
    }
}
