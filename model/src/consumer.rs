//! The consumer: Kafka's `ConsumerCoordinator` (join, sync, heartbeat, commit, revoke) and the
//! application's poll loop (process a record, commit the position), one atomic step at a time.
//! The model's consumer has at most one group request in flight, plus, with `--async-commits`,
//! up to [`MAX_ASYNC_COMMITS`] OffsetCommits sent with `commitAsync`.

use crate::assignment::assign;
use crate::bugs::Bug;
use crate::config::{Assignor, Config, Protocol};
use crate::state::*;
use kgroup_protocol::ErrorCode;

/// With `--async-commits`: how many OffsetCommits a consumer may have in flight at once.
pub const MAX_ASYNC_COMMITS: usize = 2;

fn send(s: &mut State, slot: usize, req: Req) {
    s.to_coord[slot].push(req);
    s.consumers[slot].waiting = true;
}

/// The consumer's `group.instance.id`, if members are static (the model names an instance by
/// the slot of its first process).
pub fn instance(cfg: &Config, c: &Consumer) -> Option<u8> {
    cfg.static_members.then_some(c.identity)
}

/// Exactly-once: a newer process of the same `transactional.id` has called InitProducerId, so
/// every transactional request of this one is refused with PRODUCER_FENCED.
pub fn producer_fenced(cfg: &Config, s: &State, slot: usize) -> bool {
    let c = &s.consumers[slot];
    cfg.eos
        && !cfg.has_bug(Bug::ZombieProducerNotFenced)
        && c.epoch != s.txn[c.identity as usize].epoch
}

/// Sends JoinGroup. Under EAGER the consumer first revokes everything it holds; under
/// exactly-once it first aborts its open transaction.
pub fn join(cfg: &Config, s: &mut State, slot: usize) {
    let t = s.consumers[slot].identity as usize;
    if cfg.eos && s.txn[t].is_open() && !end_txn(cfg, s, slot, false) {
        return;
    }
    let c = &mut s.consumers[slot];
    if cfg.protocol == Protocol::Eager && !cfg.has_bug(Bug::EagerRejoinWithoutRevoke) {
        c.owned = 0;
        c.assigned = 0;
    }
    let owned = match cfg.protocol {
        Protocol::Eager => 0,
        Protocol::Cooperative => c.assigned,
    };
    let generation = match cfg.assignor {
        Assignor::Model => 0,
        Assignor::Kafka(_) => c.generation,
    };
    let req = Req::Join {
        member: c.member,
        nonce: c.nonce,
        instance: instance(cfg, c),
        owned,
        generation,
    };
    c.phase = Phase::Joining;
    c.rejoin = false;
    send(s, slot, req);
}

/// Processes the next record of an owned partition (under exactly-once, its output goes into
/// the open transaction; a fenced producer's Produce is refused and the process stops).
pub fn process(cfg: &Config, s: &mut State, slot: usize, p: usize) {
    if producer_fenced(cfg, s, slot) {
        return stop(s, slot, Phase::Fenced);
    }
    let c = &mut s.consumers[slot];
    let o = c.position[p];
    c.position[p] += 1;
    s.processed[p] |= 1 << o;
    if cfg.eos {
        s.txn[c.identity as usize].open[p] |= 1 << o;
    }
}

/// The transaction coordinator ends transactional id `t`'s open transaction and writes the
/// markers: into the output partition at once, and on their way to the group coordinator.
pub fn finish_txn(s: &mut State, t: usize, commit: bool) {
    let open = std::mem::take(&mut s.txn[t].open);
    if commit {
        for (p, &records) in open.iter().enumerate() {
            if s.output[p] & records != 0 {
                s.seen |= Seen::DUPLICATE;
            }
            s.output[p] |= records;
        }
    }
    s.markers.push((t as u8, commit, s.txn[t].epoch));
}

/// InitProducerId of a new process of transactional id `t`: the epoch goes up, fencing every
/// older process, and the open transaction is aborted with markers of the new epoch. Returns
/// the new epoch.
pub fn init_producer(s: &mut State, t: usize) -> u8 {
    s.txn[t].epoch += 1;
    if s.txn[t].is_open() {
        finish_txn(s, t, false);
    }
    s.txn[t].epoch
}

/// EndTxn from consumer `slot`. On abort the consumer rewinds to its committed offsets, as an
/// exactly-once application must. A fenced producer is refused (PRODUCER_FENCED) and its process
/// stops; the result says whether the consumer is still running.
pub fn end_txn(cfg: &Config, s: &mut State, slot: usize, commit: bool) -> bool {
    if producer_fenced(cfg, s, slot) {
        stop(s, slot, Phase::Fenced);
        return false;
    }
    finish_txn(s, s.consumers[slot].identity as usize, commit);
    if !commit {
        let c = &mut s.consumers[slot];
        for p in parts(c.owned) {
            c.position[p] = c.committed[p];
        }
    }
    true
}

/// The consumer is inside commitTransaction: its TxnOffsetCommit or the answer is in flight.
/// The application thread is blocked there, so it processes nothing (a record processed now
/// would join the transaction without its offset).
pub fn txn_committing(s: &State, slot: usize) -> bool {
    s.to_coord[slot]
        .iter()
        .any(|r| matches!(r, Req::TxnCommit { .. }))
        || s.to_consumer[slot]
            .iter()
            .any(|r| matches!(r, Resp::TxnCommit { .. }))
}

/// A marker of this consumer's transactional id is still on its way: its next transaction
/// would get CONCURRENT_TRANSACTIONS, so it waits.
pub fn txn_busy(s: &State, slot: usize) -> bool {
    let t = s.consumers[slot].identity;
    s.markers.iter().any(|&(m, _, _)| m == t)
}

/// The offset the consumer would commit for `p`: its position (the next record to process).
/// With the seeded bug `commit-fetched-position`, the record after it, fetched but not processed.
pub fn commit_point(cfg: &Config, c: &Consumer, p: usize) -> u8 {
    if cfg.has_bug(Bug::CommitFetchedPosition) {
        (c.position[p] + 1).min(cfg.records)
    } else {
        c.position[p]
    }
}

/// The partitions whose commit point is ahead of what the consumer knows to be committed and,
/// with `--async-commits`, of every commit it has in flight.
pub fn uncommitted(cfg: &Config, s: &State, slot: usize) -> Parts {
    let c = &s.consumers[slot];
    let in_flight = |p: usize| -> u8 {
        if !cfg.async_commits {
            return 0;
        }
        let sent = s.to_coord[slot].iter().filter_map(|r| match r {
            Req::Commit { offsets, .. } => Some(offsets[p]),
            _ => None,
        });
        let answered = s.to_consumer[slot].iter().filter_map(|r| match r {
            Resp::Commit { offsets, .. } => Some(offsets[p]),
            _ => None,
        });
        sent.chain(answered)
            .filter(|&o| o != ABSENT)
            .max()
            .unwrap_or(0)
    };
    (0..cfg.partitions as usize)
        .filter(|&p| {
            let point = commit_point(cfg, c, p);
            c.owned & (1 << p) != 0 && point > c.committed[p] && point > in_flight(p)
        })
        .fold(0, |acc, p| acc | 1 << p)
}

/// With `--async-commits`: the OffsetCommits consumer `slot` has sent and not yet had answered.
pub fn async_commits_in_flight(s: &State, slot: usize) -> usize {
    s.to_coord[slot]
        .iter()
        .filter(|r| matches!(r, Req::Commit { .. }))
        .count()
}

/// Commits the position of every owned partition that moved: OffsetCommit (with
/// `--async-commits`, `commitAsync`: the consumer does not wait for the answer), or under
/// exactly-once AddOffsetsToTxn and TxnOffsetCommit in the open transaction (EndTxn follows its
/// response). A fenced producer's AddOffsetsToTxn is refused and the process stops.
pub fn commit(cfg: &Config, s: &mut State, slot: usize) {
    if producer_fenced(cfg, s, slot) {
        return stop(s, slot, Phase::Fenced);
    }
    let c = &s.consumers[slot];
    let mut offsets = [ABSENT; MAX_PARTITIONS];
    for p in parts(uncommitted(cfg, s, slot)) {
        offsets[p] = commit_point(cfg, c, p);
    }
    let member = c.member.expect("committing needs a member id");
    let req = if cfg.eos {
        Req::TxnCommit {
            member,
            instance: instance(cfg, c),
            generation: c.generation,
            producer: c.identity,
            epoch: c.epoch,
            offsets,
        }
    } else {
        Req::Commit {
            member,
            instance: instance(cfg, c),
            generation: c.generation,
            offsets,
        }
    };
    if cfg.async_commits {
        s.to_coord[slot].push(req);
    } else {
        send(s, slot, req);
    }
}

pub fn heartbeat(cfg: &Config, s: &mut State, slot: usize) {
    let c = &s.consumers[slot];
    let req = Req::Heartbeat {
        member: c.member.expect("heartbeating needs a member id"),
        instance: instance(cfg, c),
        generation: c.generation,
    };
    send(s, slot, req);
}

/// LeaveGroup on a graceful shutdown; the process then stops for good.
pub fn leave(s: &mut State, slot: usize) {
    let member = s.consumers[slot].member.expect("leaving needs a member id");
    s.to_coord[slot].push(Req::Leave { member });
    stop(s, slot, Phase::Down);
}

/// The process stops: nothing it held is processed any more.
pub fn stop(s: &mut State, slot: usize, phase: Phase) {
    let c = &s.consumers[slot];
    let older = c.superseded
        || s.txn
            .get(c.identity as usize)
            .is_some_and(|t| t.epoch != c.epoch);
    if phase == Phase::Fenced && older {
        s.seen |= Seen::FENCED;
    }
    let c = &mut s.consumers[slot];
    c.phase = phase;
    c.waiting = false;
    c.owned = 0;
    c.assigned = 0;
}

/// Partitions lost (`onPartitionsLost`): the member is out of the group or its generation.
fn lose(c: &mut Consumer, forget_member: bool) {
    c.owned = 0;
    c.assigned = 0;
    c.generation = 0;
    if forget_member {
        c.member = None;
    }
    c.phase = Phase::Unjoined;
}

/// Handles the response at the head of the consumer's connection.
pub fn receive(cfg: &Config, s: &mut State, slot: usize, resp: Resp) {
    if let (true, Resp::Commit { error, offsets }) = (cfg.async_commits, &resp) {
        // commitAsync's callback: an accepted commit is noted; a fenced instance is fatal; any
        // other error is left to the heartbeat, which reports it too.
        if s.consumers[slot].alive() {
            match error {
                ErrorCode::None => note_committed(&mut s.consumers[slot], offsets),
                ErrorCode::FencedInstanceId => stop(s, slot, Phase::Fenced),
                _ => {}
            }
        }
        return;
    }
    if !s.consumers[slot].alive() || !s.consumers[slot].waiting {
        return;
    }
    s.consumers[slot].waiting = false;
    match resp {
        Resp::Join {
            error,
            member,
            generation,
            leader,
            members,
        } => {
            let c = &mut s.consumers[slot];
            if c.phase != Phase::Joining {
                return;
            }
            match error {
                ErrorCode::None | ErrorCode::MemberIdRequired => {
                    if member != c.member {
                        c.member = member;
                        c.nonce += 1;
                        c.superseded = false;
                    }
                    if error == ErrorCode::MemberIdRequired {
                        c.phase = Phase::Unjoined;
                        return;
                    }
                    c.generation = generation;
                    let assignment =
                        (leader == member && !members.is_empty()).then(|| assign(cfg, &members));
                    let req = Req::Sync {
                        member: member.expect("a join response names the member"),
                        instance: instance(cfg, c),
                        generation,
                        assignment,
                    };
                    c.phase = Phase::Syncing;
                    send(s, slot, req);
                }
                other => error_reset(s, slot, other),
            }
        }
        Resp::Sync { error, assignment } => {
            let c = &mut s.consumers[slot];
            if c.phase != Phase::Syncing {
                return;
            }
            if error != ErrorCode::None {
                return error_reset(s, slot, error);
            }
            let revoked = c.owned & !assignment;
            if revoked != 0 {
                // Only COOPERATIVE consumers still hold partitions here.
                c.rejoin = true;
                s.seen |= Seen::COOP_REVOKE;
                let t = s.consumers[slot].identity as usize;
                if cfg.eos && s.txn[t].is_open() && !end_txn(cfg, s, slot, false) {
                    return;
                }
            }
            let c = &mut s.consumers[slot];
            c.owned &= assignment;
            c.assigned = assignment;
            let new = assignment & !c.owned;
            if new != 0 {
                c.phase = Phase::Fetching;
                send(s, slot, Req::Fetch { partitions: new });
            } else {
                c.phase = if c.rejoin {
                    Phase::Unjoined
                } else {
                    Phase::Stable
                };
            }
        }
        Resp::Fetch { error, offsets } => {
            let c = &mut s.consumers[slot];
            if c.phase != Phase::Fetching || error != ErrorCode::None {
                // UNSTABLE_OFFSET_COMMIT: fetch again once the transaction has completed.
                return;
            }
            for (p, &o) in offsets.iter().enumerate() {
                if o != ABSENT && c.assigned & (1 << p) != 0 {
                    c.position[p] = o;
                    c.committed[p] = o;
                    c.owned |= 1 << p;
                }
            }
            c.phase = if c.rejoin {
                Phase::Unjoined
            } else {
                Phase::Stable
            };
        }
        Resp::Heartbeat { error } => {
            if error != ErrorCode::None {
                error_reset(s, slot, error)
            }
        }
        Resp::Commit { error, offsets } => {
            let c = &mut s.consumers[slot];
            if error == ErrorCode::None {
                note_committed(c, &offsets);
            } else if error == ErrorCode::RebalanceInProgress {
                // CommitFailed/RebalanceInProgress: the next poll rejoins.
                if c.phase == Phase::Stable {
                    c.phase = Phase::Unjoined;
                }
            } else {
                error_reset(s, slot, error)
            }
        }
        Resp::TxnCommit { error, offsets } => {
            let ok = error == ErrorCode::None;
            if !end_txn(cfg, s, slot, ok) {
                return;
            }
            if ok {
                note_committed(&mut s.consumers[slot], &offsets);
            } else {
                error_reset(s, slot, error)
            }
        }
        Resp::Leave { .. } => {}
    }
}

/// An accepted commit: the consumer now knows these offsets of its partitions are committed.
fn note_committed(c: &mut Consumer, offsets: &Offsets) {
    for (p, &o) in offsets.iter().enumerate() {
        if o != ABSENT && c.owned & (1 << p) != 0 {
            c.committed[p] = c.committed[p].max(o);
        }
    }
}

/// What the consumer does on a group error, as Kafka's `AbstractCoordinator` does.
fn error_reset(s: &mut State, slot: usize, error: ErrorCode) {
    let c = &mut s.consumers[slot];
    match error {
        ErrorCode::FencedInstanceId => stop(s, slot, Phase::Fenced),
        ErrorCode::UnknownMemberId => lose(c, true),
        ErrorCode::IllegalGeneration => lose(c, false),
        // REBALANCE_IN_PROGRESS and anything else: rejoin, keeping what it owns.
        _ => c.phase = Phase::Unjoined,
    }
}
