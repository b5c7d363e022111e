//! What a seed chooses before the run starts (swarm testing): the group, the consumers'
//! configuration, the network and the applications, and which kinds of fault are on at what
//! rate. Turning whole kinds of fault off per seed, as TigerBeetle's VOPR does, reaches states
//! that a run with every fault on at once would drown out.

use super::rng::Rng;
use kgroup_assign::Strategy;
use kgroup_core::consumer::ApiVersions;
use kgroup_protocol::RebalanceProtocol;
use std::collections::BTreeSet;
use std::fmt;

/// The group every simulated consumer joins.
pub const GROUP: &str = "sim";

/// A kind of fault the simulator injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// A request or response is lost: the connection breaks and the consumer sees a
    /// disconnection (everything else in flight on it is lost too).
    Loss,
    /// A message is held up for up to twice the request timeout (later ones on the connection
    /// wait behind it: TCP is FIFO).
    Delay,
    /// A consumer process dies (its connection with it) and usually restarts later with the same
    /// `client.id` and, for a static member, the same `group.instance.id`.
    Crash,
    /// A consumer process is paused (GC, VM migration): no heartbeats, no polls, no reads; its
    /// session may expire meanwhile.
    Freeze,
    /// The application stops polling (a slow record) while the heartbeat thread goes on:
    /// `max.poll.interval.ms` may expire.
    Stall,
    /// The application closes its consumer (`close()`: LeaveGroup for a dynamic member) and a
    /// new process usually starts later.
    Leave,
    /// The group coordinator fails over: a new one loads the offsets log; requests in flight are
    /// lost, every consumer is disconnected, and for a while requests are answered
    /// NOT_COORDINATOR.
    Failover,
}

impl FaultKind {
    pub const ALL: [FaultKind; 7] = [
        FaultKind::Loss,
        FaultKind::Delay,
        FaultKind::Crash,
        FaultKind::Freeze,
        FaultKind::Stall,
        FaultKind::Leave,
        FaultKind::Failover,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            FaultKind::Loss => "loss",
            FaultKind::Delay => "delay",
            FaultKind::Crash => "crash",
            FaultKind::Freeze => "freeze",
            FaultKind::Stall => "stall",
            FaultKind::Leave => "leave",
            FaultKind::Failover => "failover",
        }
    }

    pub fn from_name(name: &str) -> Option<FaultKind> {
        FaultKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Injected at fault ticks rather than per message.
    pub(crate) fn is_event(self) -> bool {
        !matches!(self, FaultKind::Loss | FaultKind::Delay)
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which members have a `group.instance.id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    Dynamic,
    Static,
    /// Each consumer chooses.
    Mixed,
}

impl Membership {
    pub const fn name(self) -> &'static str {
        match self {
            Membership::Dynamic => "dynamic",
            Membership::Static => "static",
            Membership::Mixed => "mixed",
        }
    }
}

/// Choices a run can pin instead of letting the seed draw them (the CLI's `--protocol`,
/// `--consumers`, `--membership`, `--faults`). A reproduction line repeats them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub consumers: Option<usize>,
    pub protocol: Option<RebalanceProtocol>,
    pub membership: Option<Membership>,
    /// The fault kinds that are on (the others off).
    pub faults: Option<BTreeSet<FaultKind>>,
}

/// The faults of a run: which kinds are on and how often they strike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Faults {
    pub enabled: BTreeSet<FaultKind>,
    /// Per message, in a million.
    pub loss_ppm: u32,
    /// Per message, in a million.
    pub delay_ppm: u32,
    /// Simulated time between two event faults (crash, freeze, stall, leave, failover).
    pub tick_ms: (u64, u64),
}

impl Faults {
    pub fn on(&self, kind: FaultKind) -> bool {
        self.enabled.contains(&kind)
    }
}

/// Everything a seed chooses before the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    pub consumers: usize,
    /// Topics and their partition counts.
    pub topics: Vec<(String, i32)>,
    /// Per consumer, the topics it subscribes to.
    pub subscriptions: Vec<Vec<String>>,
    /// `partition.assignment.strategy`, the same for every consumer; the rebalance protocol
    /// follows from it as Kafka chooses it (COOPERATIVE only if all are cooperative-sticky).
    pub strategies: Vec<Strategy>,
    pub protocol: RebalanceProtocol,
    pub membership: Membership,
    /// Per consumer, whether it has a `group.instance.id`.
    pub statics: Vec<bool>,
    pub session_timeout_ms: i32,
    pub heartbeat_interval_ms: u64,
    /// `max.poll.interval.ms`, which Kafka's consumer sends as the rebalance timeout.
    pub rebalance_timeout_ms: i32,
    pub request_timeout_ms: u64,
    pub retry_backoff_ms: u64,
    pub default_api_timeout_ms: u64,
    pub versions: ApiVersions,
    /// The coordinator's `group.initial.rebalance.delay.ms`.
    pub initial_rebalance_delay_ms: i32,
    /// Network latency per message, uniform in this range.
    pub latency_ms: (u64, u64),
    /// Time between two polls of an application.
    pub app_interval_ms: (u64, u64),
    /// At most this many records per partition between two polls.
    pub records_per_poll: u64,
    /// Chance per poll, in a million, that the application commits what it processed.
    pub commit_ppm: u32,
    pub faults: Faults,
}

impl Scenario {
    /// Draws a scenario from the start of a seed's stream, honouring `pin`.
    pub(crate) fn draw(rng: &mut Rng, pin: &Overrides) -> Scenario {
        // Every choice is drawn, pinned or not, in one fixed order: pinning one choice leaves the
        // others of the seed as they were.
        const MAX_CONSUMERS: usize = 5;
        let drawn_consumers = rng.range(1, MAX_CONSUMERS as u64) as usize;
        let consumers = pin
            .consumers
            .unwrap_or(drawn_consumers)
            .clamp(1, MAX_CONSUMERS);
        let topic_count = rng.range(1, 3);
        let mut topics = Vec::new();
        for t in 0..topic_count {
            topics.push((format!("t{t}"), rng.range(1, 6) as i32));
        }
        let all: Vec<String> = topics.iter().map(|(t, _)| t.clone()).collect();
        let unequal = topics.len() > 1 && rng.below(4) == 0;
        let mut subscriptions: Vec<Vec<String>> = (0..MAX_CONSUMERS)
            .map(|_| {
                let some: Vec<String> = all.iter().filter(|_| rng.coin()).cloned().collect();
                let fallback = rng.pick(&all);
                match (unequal, some.is_empty()) {
                    (false, _) => all.clone(),
                    (true, true) => vec![fallback],
                    (true, false) => some,
                }
            })
            .collect();
        subscriptions.truncate(consumers);
        let drawn_protocol = if rng.coin() {
            RebalanceProtocol::Cooperative
        } else {
            RebalanceProtocol::Eager
        };
        let protocol = pin.protocol.unwrap_or(drawn_protocol);
        let eager_strategies = rng.pick(&[
            vec![Strategy::Range],
            vec![Strategy::RoundRobin],
            vec![Strategy::Sticky],
            // Kafka's default list: range first, so the protocol is EAGER.
            vec![Strategy::Range, Strategy::CooperativeSticky],
        ]);
        let strategies = match protocol {
            RebalanceProtocol::Cooperative => vec![Strategy::CooperativeSticky],
            RebalanceProtocol::Eager => eager_strategies,
        };
        let drawn_membership =
            rng.pick(&[Membership::Dynamic, Membership::Static, Membership::Mixed]);
        let membership = pin.membership.unwrap_or(drawn_membership);
        let coins: Vec<bool> = (0..MAX_CONSUMERS).map(|_| rng.coin()).collect();
        let statics: Vec<bool> = coins[..consumers]
            .iter()
            .map(|&coin| match membership {
                Membership::Dynamic => false,
                Membership::Static => true,
                Membership::Mixed => coin,
            })
            .collect();
        let session = rng.pick(&[6_000u64, 10_000, 20_000, 45_000]);
        let heartbeat = session / rng.pick(&[3u64, 5, 10]);
        let rebalance = (session * rng.pick(&[1u64, 2, 4, 6]) / 2).min(180_000);
        let request_timeout = rng.pick(&[5_000u64, 15_000, 30_000]);
        let retry_backoff = rng.pick(&[50u64, 100, 250]);
        let default_api_timeout = (rebalance / 2).clamp(2_000, 60_000);
        let any_static = statics.iter().any(|s| *s);
        let newest = rng.coin();
        // Static membership needs JoinGroup v5, SyncGroup and Heartbeat v3, OffsetCommit v7.
        let floor = |dynamic: i16, fixed: i16| if any_static { fixed } else { dynamic };
        let older = ApiVersions {
            join_group: rng.range(floor(0, 5) as u64, 9) as i16,
            sync_group: rng.range(floor(0, 3) as u64, 5) as i16,
            heartbeat: rng.range(floor(0, 3) as u64, 4) as i16,
            leave_group: rng.range(0, 5) as i16,
            offset_commit: rng.range(floor(2, 7) as u64, 8) as i16,
        };
        let versions = if newest { ApiVersions::NEWEST } else { older };
        let initial_delay = rng.pick(&[0i32, 500, 3_000]);
        let latency = (rng.range(0, 1), rng.pick(&[2u64, 10, 50]));
        let app_interval = ((session / 300).max(5), (session / 30).max(50));
        let records_per_poll = rng.range(1, 5);
        let commit_ppm = rng.pick(&[20_000u32, 100_000, 300_000, 1_000_000]);
        let mut enabled: BTreeSet<FaultKind> =
            FaultKind::ALL.into_iter().filter(|_| rng.coin()).collect();
        if protocol == RebalanceProtocol::Cooperative && any_static {
            // Kafka 3.9's known gap (docs/simulator.md, docs/model.md): a static member that
            // comes back with a new member id between the two rounds of a cooperative hand-over
            // gets its stored assignment without a rebalance and never asks for the second
            // round, so the partitions withheld in the first round stay unassigned. Crashes,
            // closes, and stalls or freezes past max.poll.interval.ms (the client then forgets
            // its member id) lead there, so a drawn scenario leaves them out; `--faults` pins
            // them back on.
            for k in [
                FaultKind::Crash,
                FaultKind::Leave,
                FaultKind::Stall,
                FaultKind::Freeze,
            ] {
                enabled.remove(&k);
            }
        }
        if let Some(set) = &pin.faults {
            enabled = set.clone();
        }
        let mean_tick = session * rng.pick(&[1u64, 4, 16]) / 4;
        let faults = Faults {
            enabled,
            loss_ppm: rng.pick(&[1_000u32, 10_000, 50_000]),
            delay_ppm: rng.pick(&[1_000u32, 10_000, 50_000]),
            tick_ms: (mean_tick / 2, mean_tick * 3 / 2),
        };
        Scenario {
            consumers,
            topics,
            subscriptions,
            strategies,
            protocol,
            membership,
            statics,
            session_timeout_ms: session as i32,
            heartbeat_interval_ms: heartbeat,
            rebalance_timeout_ms: rebalance as i32,
            request_timeout_ms: request_timeout,
            retry_backoff_ms: retry_backoff,
            default_api_timeout_ms: default_api_timeout,
            versions,
            initial_rebalance_delay_ms: initial_delay,
            latency_ms: latency,
            app_interval_ms: app_interval,
            records_per_poll,
            commit_ppm,
            faults,
        }
    }

    /// The rebalance timeout the coordinator uses: JoinGroup v0 has none, and Kafka takes the
    /// session timeout.
    pub fn effective_rebalance_timeout_ms(&self) -> u64 {
        if self.versions.join_group == 0 {
            self.session_timeout_ms as u64
        } else {
            self.rebalance_timeout_ms as u64
        }
    }

    /// Every partition of a topic some consumer in `slots` subscribes to.
    pub(crate) fn subscribed_by(
        &self,
        slots: impl IntoIterator<Item = usize>,
    ) -> BTreeSet<(String, i32)> {
        let topics: BTreeSet<&String> = slots
            .into_iter()
            .flat_map(|s| self.subscriptions[s].iter())
            .collect();
        self.topics
            .iter()
            .filter(|(t, _)| topics.contains(t))
            .flat_map(|(t, n)| (0..*n).map(move |p| (t.clone(), p)))
            .collect()
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let strategies: Vec<&str> = self.strategies.iter().map(|s| s.name()).collect();
        let topics: Vec<String> = self
            .topics
            .iter()
            .map(|(t, n)| format!("{t}:{n}"))
            .collect();
        let protocol = match self.protocol {
            RebalanceProtocol::Eager => "eager",
            RebalanceProtocol::Cooperative => "cooperative",
        };
        let statics = self.statics.iter().filter(|s| **s).count();
        write!(
            f,
            "{} consumer(s) ({}, {} static), {protocol} [{}], topics {}",
            self.consumers,
            self.membership.name(),
            statics,
            strategies.join(","),
            topics.join(" ")
        )?;
        if self
            .subscriptions
            .iter()
            .any(|s| s.len() != self.topics.len())
        {
            let subs: Vec<String> = self.subscriptions.iter().map(|s| s.join("+")).collect();
            write!(f, " (subscriptions {})", subs.join(" "))?;
        }
        let v = self.versions;
        write!(
            f,
            "; session {} ms, heartbeat {} ms, rebalance {} ms, request {} ms, backoff {} ms, \
             initial delay {} ms; JoinGroup v{} SyncGroup v{} Heartbeat v{} LeaveGroup v{} \
             OffsetCommit v{}; latency {}-{} ms, polls every {}-{} ms, commit chance {}%",
            self.session_timeout_ms,
            self.heartbeat_interval_ms,
            self.rebalance_timeout_ms,
            self.request_timeout_ms,
            self.retry_backoff_ms,
            self.initial_rebalance_delay_ms,
            v.join_group,
            v.sync_group,
            v.heartbeat,
            v.leave_group,
            v.offset_commit,
            self.latency_ms.0,
            self.latency_ms.1,
            self.app_interval_ms.0,
            self.app_interval_ms.1,
            self.commit_ppm / 10_000,
        )?;
        let faults: Vec<String> = self
            .faults
            .enabled
            .iter()
            .map(|k| match k {
                FaultKind::Loss => format!("loss {:.1}%", self.faults.loss_ppm as f64 / 1e4),
                FaultKind::Delay => format!("delay {:.1}%", self.faults.delay_ppm as f64 / 1e4),
                k => k.name().to_string(),
            })
            .collect();
        if faults.is_empty() {
            write!(f, "; faults: none")
        } else {
            write!(
                f,
                "; faults: {} (events every {}-{} ms)",
                faults.join(", "),
                self.faults.tick_ms.0,
                self.faults.tick_ms.1
            )
        }
    }
}
