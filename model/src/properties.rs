//! The properties, named as the sentences they check. docs/invariants/ has a page for each.

use crate::config::Config;
use crate::coordinator::load;
use crate::state::*;
use crate::GroupModel;
use kgroup_protocol::GroupState;
use stateright::Property;

pub const NO_DOUBLE_OWNERSHIP: &str = "no partition is owned by two members of one generation";
pub const REVOKE_BEFORE_HANDOVER: &str =
    "a partition is given to a new owner only after its previous owner revoked it";
pub const NO_DOUBLE_PROCESSING: &str = "no partition is processed by two live consumers at once";
pub const NO_OFFSET_REGRESSION: &str =
    "a committed offset never moves backwards through a fenced or stale commit";
pub const NO_LOSS: &str = "a committed offset never passes an unprocessed record";
pub const REPLAY_EQUALS_LIVE: &str =
    "a coordinator that replays its log has the state of the live one";
pub const NO_DUPLICATE_OUTPUT: &str = "no input record appears twice in committed output";
pub const EXACTLY_ONCE: &str = "every input record appears exactly once in committed output";
pub const REBALANCES_FINISH: &str =
    "once faults stop, the group becomes Stable with every subscribed partition assigned";

pub const SOMETIMES_COOPERATIVE_HANDOVER: &str = "a cooperative two-round hand-over completes";
pub const SOMETIMES_ZOMBIE_COMMIT: &str = "a zombie's commit reaches the coordinator";
pub const SOMETIMES_STATIC_REJOIN: &str = "a static member rejoins without a rebalance";
pub const SOMETIMES_ZOMBIE_TXN_ABORTED: &str =
    "a zombie's transactional commit is refused and its transaction aborted";
pub const SOMETIMES_DUPLICATE_FENCED: &str =
    "a second process of a static instance gets the first one fenced";
pub const SOMETIMES_FAILOVER_MID_REBALANCE: &str =
    "the coordinator fails over mid-rebalance and the group still becomes Stable";

/// Coordinator side: the assignments the coordinator holds are disjoint.
pub fn no_double_ownership(_: &Config, s: &State) -> bool {
    pairwise_disjoint(s.coord.members.iter().map(|m| m.assignment))
}

/// KIP-429: in a Stable group, no member is assigned a partition another member reported as
/// owned when it joined this generation.
pub fn revoke_before_handover(_: &Config, s: &State) -> bool {
    let c = &s.coord;
    if c.state != GroupState::Stable {
        return true;
    }
    c.members.iter().all(|x| {
        c.members
            .iter()
            .all(|y| x.id == y.id || x.assignment & y.owned == 0)
    })
}

/// Consumer side: the partitions live consumers are processing are disjoint. Holds under the
/// timing assumption that a consumer stops processing before its session can expire.
///
/// A process whose static instance another process has taken over (the `duplicates` fault:
/// two processes started with one `group.instance.id`; the ghost flag `superseded`) is left
/// out while the group does not know its member id (a failover can bring the old id back, and
/// with it the process): it goes on processing until its next request is answered FENCED_INSTANCE_ID, and
/// nothing in the protocol can stop it sooner. KIP-345 detects that mistake, it does not
/// prevent it; exactly-once keeps it out of the output (the producer epoch fences the older
/// process), which the output properties check.
pub fn no_double_processing(_: &Config, s: &State) -> bool {
    pairwise_disjoint(
        s.consumers
            .iter()
            .filter(|c| c.alive() && !(c.superseded && c.member.is_some_and(|m| !s.coord.has(m))))
            .map(|c| c.owned),
    )
}

pub fn no_offset_regression(_: &Config, s: &State) -> bool {
    s.seen & Seen::REGRESSED == 0
}

/// Without transactions "processed" is what a consumer did; with them it is what the output
/// partition holds as committed.
pub fn no_loss(cfg: &Config, s: &State) -> bool {
    (0..cfg.partitions as usize).all(|p| {
        let done = if cfg.eos { s.output[p] } else { s.processed[p] };
        let prefix = done.trailing_ones() as u8;
        s.coord.offsets[p] <= prefix
    })
}

/// Whenever the live group is at rest (Stable or Empty), loading its log gives the same group
/// and offsets. (During a rebalance the live coordinator is ahead of its log by design: Kafka
/// stores the group only when the leader's assignment arrives.)
pub fn replay_equals_live(_: &Config, s: &State) -> bool {
    let live = &s.coord;
    if live.offsets != s.log.offsets || live.txn_pending != s.log.txn_pending {
        return false;
    }
    if !matches!(live.state, GroupState::Stable | GroupState::Empty) {
        return true;
    }
    let loaded = load(&s.log);
    loaded.state == live.state
        && loaded.generation == live.generation
        && loaded.leader == live.leader
        && loaded.offsets == live.offsets
        && loaded.txn_pending == live.txn_pending
        && loaded.members.len() == live.members.len()
        && loaded
            .members
            .iter()
            .zip(&live.members)
            .all(|(a, b)| a.id == b.id && a.instance == b.instance && a.assignment == b.assignment)
}

/// At rest: Stable, every running consumer Stable in the current generation with its
/// assignment in hand, and every partition owned by one of them.
pub fn settled(cfg: &Config, s: &State) -> bool {
    let c = &s.coord;
    let running: Vec<&Consumer> = s.consumers.iter().filter(|c| c.alive()).collect();
    if running.is_empty() {
        // Nobody left to assign to: the group must have emptied.
        return c.state == GroupState::Empty;
    }
    if c.state != GroupState::Stable {
        return false;
    }
    let owned = running.iter().fold(0, |acc, c| acc | c.owned);
    running.iter().all(|k| {
        k.phase == Phase::Stable
            && k.member.is_some_and(|m| c.has(m))
            && k.generation == c.generation
    }) && owned == cfg.all_partitions()
}

pub fn no_duplicate_output(_: &Config, s: &State) -> bool {
    s.seen & Seen::DUPLICATE == 0
}

/// Every record's output is committed and the committed offsets are at the end (or no consumer
/// is left to do the work).
pub fn exactly_once_done(cfg: &Config, s: &State) -> bool {
    if !s.consumers.iter().any(|c| c.alive()) {
        return s.seen & Seen::DUPLICATE == 0;
    }
    let all = ((1u16 << cfg.records) - 1) as u8;
    (0..cfg.partitions as usize).all(|p| s.output[p] == all && s.coord.offsets[p] == cfg.records)
        && s.seen & Seen::DUPLICATE == 0
}

fn pairwise_disjoint(sets: impl Iterator<Item = Parts>) -> bool {
    let mut seen: Parts = 0;
    for set in sets {
        if seen & set != 0 {
            return false;
        }
        seen |= set;
    }
    true
}

/// Every property; [`GroupModel`]'s `properties` keeps those its configuration checks.
pub fn all() -> Vec<Property<GroupModel>> {
    vec![
        Property::always(NO_DUPLICATE_OUTPUT, |m, s| no_duplicate_output(&m.cfg, s)),
        Property::eventually(EXACTLY_ONCE, |m, s| {
            exactly_once_done(&m.cfg, s) && m.at_rest(s)
        }),
        Property::sometimes(SOMETIMES_ZOMBIE_TXN_ABORTED, |_: &GroupModel, s: &State| {
            s.seen & Seen::ZOMBIE_TXN_ABORTED != 0
        }),
        Property::always(NO_DOUBLE_OWNERSHIP, |m, s| no_double_ownership(&m.cfg, s)),
        Property::always(REVOKE_BEFORE_HANDOVER, |m, s| {
            revoke_before_handover(&m.cfg, s)
        }),
        Property::always(NO_DOUBLE_PROCESSING, |m, s| no_double_processing(&m.cfg, s)),
        Property::always(NO_OFFSET_REGRESSION, |m, s| no_offset_regression(&m.cfg, s)),
        Property::always(NO_LOSS, |m, s| no_loss(&m.cfg, s)),
        Property::always(REPLAY_EQUALS_LIVE, |m, s| replay_equals_live(&m.cfg, s)),
        // Faults are bounded, so every path reaches a state from which no fault is possible;
        // the model's terminal states are exactly the states with nothing left to do (see
        // docs/model.md for why a Stable group is terminal).
        // stateright checks `eventually` on paths that end in a state without successors. The
        // condition holds only in such a state, so every terminal state must be settled: a
        // path that settled, then met a fault and got stuck, still fails. Faults are bounded
        // and the state graph has no cycles (tests/model.rs checks it), so every path ends.
        Property::eventually(REBALANCES_FINISH, |m, s| settled(&m.cfg, s) && m.at_rest(s)),
        Property::sometimes(
            SOMETIMES_COOPERATIVE_HANDOVER,
            |m: &GroupModel, s: &State| s.seen & Seen::COOP_REVOKE != 0 && settled(&m.cfg, s),
        ),
        Property::sometimes(SOMETIMES_ZOMBIE_COMMIT, |_: &GroupModel, s: &State| {
            s.seen & Seen::ZOMBIE_COMMIT != 0
        }),
        Property::sometimes(SOMETIMES_STATIC_REJOIN, |_: &GroupModel, s: &State| {
            s.seen & Seen::STATIC_REJOIN != 0
        }),
        Property::sometimes(SOMETIMES_DUPLICATE_FENCED, |_: &GroupModel, s: &State| {
            s.seen & Seen::FENCED != 0
        }),
        Property::sometimes(
            SOMETIMES_FAILOVER_MID_REBALANCE,
            |m: &GroupModel, s: &State| {
                s.seen & Seen::FAILOVER_MID_REBALANCE != 0 && settled(&m.cfg, s)
            },
        ),
    ]
}
