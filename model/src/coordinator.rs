//! The group coordinator: Kafka 3.9's classic `GroupCoordinator` for one group, reduced to what
//! the properties depend on. Each function is one atomic step of the coordinator: take a
//! request, change the group, queue responses, append records. The order of the checks follows
//! Kafka's handlers (`handleJoinGroup`, `handleSyncGroup`, `handleHeartbeat`,
//! `handleCommitOffsets`, `handleLeaveGroup`), so the first failing check names the error.

use crate::bugs::Bug;
use crate::config::Config;
use crate::state::*;
use kgroup_protocol::{ErrorCode, GroupState};

fn reply(s: &mut State, slot: u8, resp: Resp) {
    s.to_consumer[slot as usize].push(resp);
}

/// A JoinGroup response without a generation: an error, or MEMBER_ID_REQUIRED with the id.
fn join_error(error: ErrorCode, member: Option<MemberId>) -> Resp {
    Resp::Join {
        error,
        member,
        generation: 0,
        leader: None,
        members: vec![],
    }
}

/// Takes one request from connection `slot`.
pub fn handle(cfg: &Config, s: &mut State, slot: u8, req: Req) {
    match req {
        Req::Join {
            member,
            nonce,
            instance,
            owned,
            generation,
        } => join(cfg, s, slot, member, nonce, instance, (owned, generation)),
        Req::Sync {
            member,
            instance,
            generation,
            assignment,
        } => sync(s, member, instance, generation, assignment),
        Req::Heartbeat {
            member,
            instance,
            generation,
        } => {
            let error = heartbeat_error(&s.coord, member, instance, generation);
            reply(s, slot, Resp::Heartbeat { error });
        }
        Req::Commit {
            member,
            instance,
            generation,
            offsets,
        } => commit(cfg, s, slot, member, instance, generation, offsets),
        Req::Fetch { partitions } => {
            let mut offsets = [ABSENT; MAX_PARTITIONS];
            let error = if fetch_unstable(cfg, &s.coord, partitions) {
                ErrorCode::UnstableOffsetCommit
            } else {
                for p in parts(partitions) {
                    offsets[p] = s.coord.offsets[p];
                }
                ErrorCode::None
            };
            reply(s, slot, Resp::Fetch { error, offsets });
        }
        Req::TxnCommit {
            member,
            instance,
            generation,
            producer,
            epoch,
            offsets,
        } => txn_commit(
            cfg,
            s,
            slot,
            member,
            instance,
            generation,
            (producer, epoch),
            offsets,
        ),
        Req::Leave { member } => {
            let error = if let Some(at) = s.coord.pending.iter().position(|p| *p == member) {
                // A pending member (KIP-394) leaves without ever having joined.
                s.coord.pending.remove(at);
                ErrorCode::None
            } else if s.coord.has(member) {
                remove_member(s, member);
                ErrorCode::None
            } else {
                ErrorCode::UnknownMemberId
            };
            reply(s, slot, Resp::Leave { error });
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn join(
    cfg: &Config,
    s: &mut State,
    slot: u8,
    member: Option<MemberId>,
    nonce: u8,
    instance: Option<u8>,
    owned: (Parts, u8),
) {
    let Some(id) = member else {
        let id = MemberId { slot, nonce };
        match instance {
            // KIP-345: a static member joins without MEMBER_ID_REQUIRED.
            Some(i) => match s.coord.by_instance(i).map(|m| m.id) {
                Some(old) => static_rejoin(cfg, s, old, id, owned),
                None => add_member(s, id, Some(i), owned),
            },
            // KIP-394: a new dynamic member is told its id and must join again with it.
            None => {
                if !s.coord.pending.contains(&id) {
                    s.coord.pending.push(id);
                    s.coord.pending.sort();
                }
                reply(s, slot, join_error(ErrorCode::MemberIdRequired, Some(id)));
            }
        }
        return;
    };
    if let Some(at) = s.coord.pending.iter().position(|p| *p == id) {
        s.coord.pending.remove(at);
        add_member(s, id, instance, owned);
        return;
    }
    if s.coord.fenced(id, instance) {
        return reply(s, slot, join_error(ErrorCode::FencedInstanceId, member));
    }
    if !s.coord.has(id) {
        return reply(s, slot, join_error(ErrorCode::UnknownMemberId, member));
    }
    match s.coord.state {
        GroupState::PreparingRebalance => {
            let m = s.coord.member_mut(id).expect("checked above");
            m.joined = true;
            m.owed |= Owed::JOIN;
            (m.owned, m.owned_generation) = owned;
        }
        GroupState::CompletingRebalance | GroupState::Stable => {
            let m = s.coord.member(id).expect("checked above");
            // Kafka compares the whole subscription, owned partitions and generation included.
            let same = (m.owned, m.owned_generation) == owned;
            let is_leader = s.coord.leader == Some(id);
            let stable = s.coord.state == GroupState::Stable;
            if same && !(stable && is_leader) {
                // Nothing changed: answer with the current generation, as Kafka does; the
                // leader in CompletingRebalance gets the member list again.
                let resp = current_join_response(&s.coord, id, !stable && is_leader);
                reply(s, slot, resp);
            } else {
                let m = s.coord.member_mut(id).expect("checked above");
                (m.owned, m.owned_generation) = owned;
                prepare_rebalance(s);
                let m = s.coord.member_mut(id).expect("checked above");
                m.joined = true;
                m.owed |= Owed::JOIN;
            }
        }
        GroupState::Empty | GroupState::Dead => {
            reply(s, slot, join_error(ErrorCode::UnknownMemberId, member))
        }
    }
}

fn current_join_response(c: &Coord, id: MemberId, with_members: bool) -> Resp {
    Resp::Join {
        error: ErrorCode::None,
        member: Some(id),
        generation: c.generation,
        leader: c.leader,
        members: if with_members { c.claims() } else { vec![] },
    }
}

/// A new member joins (a pending dynamic member, or a static instance the group does not know).
fn add_member(s: &mut State, id: MemberId, instance: Option<u8>, owned: (Parts, u8)) {
    // As Kafka's `add`: a group without a leader takes the first member added.
    if s.coord.leader.is_none() {
        s.coord.leader = Some(id);
    }
    s.coord.insert(Member {
        id,
        instance,
        joined: true,
        owed: Owed::JOIN,
        owned: owned.0,
        owned_generation: owned.1,
        assignment: 0,
    });
    if s.coord.state != GroupState::PreparingRebalance {
        prepare_rebalance(s);
    }
}

/// KIP-345: a known `group.instance.id` joins with an empty member id (a restarted static member).
/// The new id replaces the old one, which is fenced; a Stable group does not rebalance.
fn static_rejoin(cfg: &Config, s: &mut State, old: MemberId, new: MemberId, owned: (Parts, u8)) {
    let c = &mut s.coord;
    let prev = c.member(old).expect("found by instance").clone();
    c.members.retain(|m| m.id != old);
    if cfg.has_bug(Bug::StaticRejoinWithoutFencing) {
        // The old id stays a member beside the new one, both with the instance's assignment.
        let mut twin = prev.clone();
        twin.instance = None;
        twin.owed = 0;
        twin.joined = false;
        c.insert(twin);
    } else {
        // A process still running under the old id (a duplicate instance) is taken over.
        let c = &mut s.consumers[old.slot as usize];
        if c.alive() && c.member == Some(old) {
            c.superseded = true;
        }
        // Requests the old instance was waiting on are answered FENCED_INSTANCE_ID.
        if prev.owed & Owed::JOIN != 0 {
            reply(
                s,
                old.slot,
                join_error(ErrorCode::FencedInstanceId, Some(old)),
            );
        }
        if prev.owed & Owed::SYNC != 0 {
            reply(
                s,
                old.slot,
                Resp::Sync {
                    error: ErrorCode::FencedInstanceId,
                    assignment: 0,
                },
            );
        }
    }
    let c = &mut s.coord;
    // Kafka answers with the leader as it was before the replacement, so a replaced leader
    // does not compute an assignment; the group's leader becomes the new id.
    let leader_before = c.leader;
    if c.leader == Some(old) {
        c.leader = Some(new);
    }
    c.insert(Member {
        id: new,
        instance: prev.instance,
        joined: false,
        owed: 0,
        owned: owned.0,
        owned_generation: owned.1,
        assignment: prev.assignment,
    });
    match c.state {
        GroupState::Stable => {
            if !cfg.has_bug(Bug::StaticReplacementNotStored) {
                store_group(s);
            }
            s.seen |= Seen::STATIC_REJOIN;
            // Answer with the current generation; the member then syncs for its assignment.
            let mut resp = current_join_response(&s.coord, new, false);
            if let Resp::Join { leader, .. } = &mut resp {
                *leader = leader_before;
            }
            reply(s, new.slot, resp);
        }
        GroupState::CompletingRebalance => {
            prepare_rebalance(s);
            mark_joined(s, new);
        }
        GroupState::PreparingRebalance => mark_joined(s, new),
        GroupState::Empty | GroupState::Dead => unreachable!("a group with members"),
    }
}

fn mark_joined(s: &mut State, id: MemberId) {
    let m = s.coord.member_mut(id).expect("member");
    m.joined = true;
    m.owed |= Owed::JOIN;
}

/// Kafka's `prepareRebalance`: members waiting for SyncGroup get REBALANCE_IN_PROGRESS and the
/// assignments are dropped when a CompletingRebalance group starts over.
pub fn prepare_rebalance(s: &mut State) {
    if s.coord.state == GroupState::CompletingRebalance {
        let mut waiting = vec![];
        for m in &mut s.coord.members {
            m.assignment = 0;
            if m.owed & Owed::SYNC != 0 {
                m.owed &= !Owed::SYNC;
                waiting.push(m.id.slot);
            }
        }
        for slot in waiting {
            reply(
                s,
                slot,
                Resp::Sync {
                    error: ErrorCode::RebalanceInProgress,
                    assignment: 0,
                },
            );
        }
    }
    s.coord.state = GroupState::PreparingRebalance;
}

/// The join phase can complete: every member has rejoined and no pending member is outstanding.
pub fn can_complete_join(c: &Coord) -> bool {
    c.state == GroupState::PreparingRebalance
        && c.pending.is_empty()
        && !c.waits_for_removed
        && c.members.iter().all(|m| m.joined)
}

/// Kafka's `onCompleteJoin`: a new generation; the leader gets the member list.
pub fn complete_join(s: &mut State) {
    let c = &mut s.coord;
    c.generation += 1;
    if c.members.is_empty() {
        c.state = GroupState::Empty;
        c.leader = None;
        store_group(s);
        return;
    }
    c.state = GroupState::CompletingRebalance;
    if c.leader.is_none_or(|l| !c.has(l)) {
        c.leader = Some(c.members[0].id);
    }
    let list = c.claims();
    let mut out = vec![];
    for m in &mut c.members {
        m.joined = false;
        if m.owed & Owed::JOIN != 0 {
            m.owed &= !Owed::JOIN;
            let lead = c.leader == Some(m.id);
            out.push((
                m.id.slot,
                Resp::Join {
                    error: ErrorCode::None,
                    member: Some(m.id),
                    generation: c.generation,
                    leader: c.leader,
                    members: if lead { list.clone() } else { vec![] },
                },
            ));
        }
    }
    for (slot, r) in out {
        reply(s, slot, r);
    }
}

fn sync(
    s: &mut State,
    id: MemberId,
    instance: Option<u8>,
    generation: u8,
    assignment: Option<Vec<(MemberId, Parts)>>,
) {
    let c = &s.coord;
    let fail = |error| Resp::Sync {
        error,
        assignment: 0,
    };
    let error = match member_error(c, id, instance, generation) {
        ErrorCode::None => match c.state {
            GroupState::Empty | GroupState::Dead => ErrorCode::UnknownMemberId,
            GroupState::PreparingRebalance => ErrorCode::RebalanceInProgress,
            GroupState::Stable => {
                let a = c.member(id).expect("checked").assignment;
                return reply(
                    s,
                    id.slot,
                    Resp::Sync {
                        error: ErrorCode::None,
                        assignment: a,
                    },
                );
            }
            GroupState::CompletingRebalance => {
                let is_leader = c.leader == Some(id);
                s.coord.member_mut(id).expect("checked").owed |= Owed::SYNC;
                if is_leader {
                    if let Some(a) = assignment {
                        set_assignment(s, &a);
                    }
                }
                return;
            }
        },
        e => e,
    };
    reply(s, id.slot, fail(error));
}

/// The leader's SyncGroup: store the group with the assignment, then hand it out (Stable).
fn set_assignment(s: &mut State, a: &[(MemberId, Parts)]) {
    let c = &mut s.coord;
    for m in &mut c.members {
        if let Some((_, p)) = a.iter().find(|(id, _)| *id == m.id) {
            m.assignment = *p;
        } else {
            // Kafka gives members the leader left out an empty assignment.
            m.assignment = 0;
        }
    }
    c.state = GroupState::Stable;
    store_group(s);
    let mut out = vec![];
    for m in &mut s.coord.members {
        if m.owed & Owed::SYNC != 0 {
            m.owed &= !Owed::SYNC;
            out.push((m.id.slot, m.assignment));
        }
    }
    for (slot, assignment) in out {
        reply(
            s,
            slot,
            Resp::Sync {
                error: ErrorCode::None,
                assignment,
            },
        );
    }
}

/// Kafka's heartbeat checks, in its order.
pub fn heartbeat_error(c: &Coord, id: MemberId, instance: Option<u8>, generation: u8) -> ErrorCode {
    match member_error(c, id, instance, generation) {
        ErrorCode::None => match c.state {
            GroupState::Empty | GroupState::Dead => ErrorCode::UnknownMemberId,
            GroupState::PreparingRebalance => ErrorCode::RebalanceInProgress,
            GroupState::CompletingRebalance | GroupState::Stable => ErrorCode::None,
        },
        e => e,
    }
}

#[allow(clippy::too_many_arguments)]
fn commit(
    cfg: &Config,
    s: &mut State,
    slot: u8,
    id: MemberId,
    instance: Option<u8>,
    generation: u8,
    offsets: Offsets,
) {
    let c = &s.coord;
    if !c.has(id) && !c.pending.contains(&id) {
        s.seen |= Seen::ZOMBIE_COMMIT;
    }
    let error = commit_error(cfg, c, id, instance, generation);
    if error == ErrorCode::None {
        write_offsets(s, &offsets);
    }
    reply(s, slot, Resp::Commit { error, offsets });
}

/// Kafka's OffsetCommit checks, in its order.
pub fn commit_error(
    cfg: &Config,
    c: &Coord,
    id: MemberId,
    instance: Option<u8>,
    generation: u8,
) -> ErrorCode {
    if cfg.has_bug(Bug::CommitWithoutGenerationCheck) {
        return ErrorCode::None;
    }
    match member_error(c, id, instance, generation) {
        ErrorCode::None if c.state == GroupState::CompletingRebalance => {
            ErrorCode::RebalanceInProgress
        }
        e => e,
    }
}

/// The member checks every member request starts with, in Kafka's order: fenced instance,
/// unknown member, generation.
fn member_error(c: &Coord, id: MemberId, instance: Option<u8>, generation: u8) -> ErrorCode {
    if c.fenced(id, instance) {
        ErrorCode::FencedInstanceId
    } else if !c.has(id) {
        ErrorCode::UnknownMemberId
    } else if generation != c.generation {
        ErrorCode::IllegalGeneration
    } else {
        ErrorCode::None
    }
}

/// Appends offset commit records and applies them; notes any committed offset that goes down.
fn write_offsets(s: &mut State, offsets: &Offsets) {
    for (p, &o) in offsets.iter().enumerate() {
        if o != ABSENT {
            if o < s.coord.offsets[p] {
                s.seen |= Seen::REGRESSED;
            }
            s.log.offsets[p] = o;
            s.coord.offsets[p] = o;
        }
    }
}

/// OffsetFetch with `require_stable` (KIP-447, what exactly-once consumers send): while a
/// transactional commit for a requested partition waits for its marker, the answer is
/// UNSTABLE_OFFSET_COMMIT and the consumer retries.
pub fn fetch_unstable(cfg: &Config, c: &Coord, partitions: Parts) -> bool {
    cfg.eos
        && !cfg.has_bug(Bug::OffsetFetchIgnoresPending)
        && c.txn_pending
            .iter()
            .any(|(_, o)| parts(partitions).any(|p| o[p] != ABSENT))
}

/// TxnOffsetCommit: Kafka's `handleTxnCommitOffsets` with KIP-447's group checks, then the
/// append, which the partition refuses with INVALID_PRODUCER_EPOCH when the producer's epoch is
/// older than one it has appended (a late request of a fenced producer, after the abort marker
/// its successor's InitProducerId wrote). Accepted offsets are held as pending until the
/// transaction's marker arrives.
#[allow(clippy::too_many_arguments)]
fn txn_commit(
    cfg: &Config,
    s: &mut State,
    slot: u8,
    id: MemberId,
    instance: Option<u8>,
    generation: u8,
    (producer, epoch): (u8, u8),
    offsets: Offsets,
) {
    let c = &s.coord;
    if !c.has(id) {
        s.seen |= Seen::ZOMBIE_COMMIT;
    }
    let mut error = if cfg.has_bug(Bug::TxnCommitWithoutMemberCheck) {
        ErrorCode::None
    } else {
        member_error(c, id, instance, generation)
    };
    if error == ErrorCode::None && stale_epoch(cfg, &s.log, producer, epoch) {
        error = ErrorCode::InvalidProducerEpoch;
    }
    if error != ErrorCode::None && !s.coord.has(id) {
        s.seen |= Seen::ZOMBIE_TXN_ABORTED;
    }
    if error == ErrorCode::None {
        // Append the transactional offset commit records, then apply them.
        for list in [&mut s.coord.txn_pending, &mut s.log.txn_pending] {
            merge_pending(list, producer, &offsets);
        }
        note_epoch(&mut s.log, producer, epoch);
    }
    reply(s, slot, Resp::TxnCommit { error, offsets });
}

/// The partition's producer state refuses an append of an epoch older than one it holds.
fn stale_epoch(cfg: &Config, log: &Log, producer: u8, epoch: u8) -> bool {
    !cfg.has_bug(Bug::ZombieProducerNotFenced) && epoch < log.producer_epochs[producer as usize]
}

fn note_epoch(log: &mut Log, producer: u8, epoch: u8) {
    let e = &mut log.producer_epochs[producer as usize];
    *e = (*e).max(epoch);
}

fn merge_pending(list: &mut Vec<(u8, Offsets)>, producer: u8, offsets: &Offsets) {
    let at = match list.iter().position(|(p, _)| *p == producer) {
        Some(at) => at,
        None => {
            list.push((producer, [ABSENT; MAX_PARTITIONS]));
            list.sort_by_key(|(p, _)| *p);
            list.iter()
                .position(|(p, _)| *p == producer)
                .expect("just added")
        }
    };
    for (p, &o) in offsets.iter().enumerate() {
        if o != ABSENT {
            list[at].1[p] = o;
        }
    }
}

/// A transaction marker for `producer` reaches the group coordinator: a commit makes its
/// pending offsets the committed ones, an abort drops them. The marker is a log record too.
pub fn apply_marker(s: &mut State, producer: u8, commit: bool, epoch: u8) {
    note_epoch(&mut s.log, producer, epoch);
    let staged = s
        .coord
        .txn_pending
        .iter()
        .find(|(p, _)| *p == producer)
        .map(|(_, o)| *o);
    s.coord.txn_pending.retain(|(p, _)| *p != producer);
    s.log.txn_pending.retain(|(p, _)| *p != producer);
    if let (true, Some(offsets)) = (commit, staged) {
        write_offsets(s, &offsets);
    }
}

/// A member leaves the group (LeaveGroup, session timeout, rebalance timeout).
pub fn remove_member(s: &mut State, id: MemberId) {
    let c = &mut s.coord;
    c.members.retain(|m| m.id != id);
    if c.leader == Some(id) {
        // Kafka takes any remaining member (`members.keys.headOption`, a hash map's first);
        // the model takes the smallest id, one of Kafka's possible choices.
        c.leader = c.members.first().map(|m| m.id);
    }
    match c.state {
        GroupState::Stable | GroupState::CompletingRebalance => prepare_rebalance(s),
        GroupState::PreparingRebalance | GroupState::Empty | GroupState::Dead => {}
    }
}

/// A member's session (or, during a rebalance, its rebalance timeout) expires.
pub fn expire(cfg: &Config, s: &mut State, id: MemberId) {
    if let Some(at) = s.coord.pending.iter().position(|p| *p == id) {
        s.coord.pending.remove(at);
        if cfg.has_bug(Bug::ExpiredMemberBlocksRebalance) {
            s.coord.waits_for_removed = true;
        }
        return;
    }
    if cfg.has_bug(Bug::ExpiryWithoutRebalance) && s.coord.state == GroupState::Stable {
        // The member is dropped but the group stays Stable: its partitions have no owner.
        s.coord.members.retain(|m| m.id != id);
        if s.coord.leader == Some(id) {
            s.coord.leader = s.coord.members.first().map(|m| m.id);
        }
        return;
    }
    remove_member(s, id);
}

/// Writes the group metadata record for the group as it is now.
pub fn store_group(s: &mut State) {
    s.log.group = GroupRecord {
        generation: s.coord.generation,
        leader: s.coord.leader,
        members: s
            .coord
            .members
            .iter()
            .map(|m| {
                (
                    m.id,
                    m.instance,
                    m.assignment,
                    (m.owned, m.owned_generation),
                )
            })
            .collect(),
    };
}

/// Loading the partition: what a coordinator that replays the log holds. Members come back with
/// their assignments and subscriptions, and the group is Stable (Empty without members); nothing
/// is in flight.
/// Transactional offsets without a marker come back as pending.
pub fn load(log: &Log) -> Coord {
    let g = &log.group;
    Coord {
        state: if g.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        },
        generation: g.generation,
        leader: g.leader,
        members: g
            .members
            .iter()
            .map(
                |&(id, instance, assignment, (owned, owned_generation))| Member {
                    id,
                    instance,
                    joined: false,
                    owed: 0,
                    owned,
                    owned_generation,
                    assignment,
                },
            )
            .collect(),
        pending: vec![],
        offsets: log.offsets,
        waits_for_removed: false,
        txn_pending: log.txn_pending.clone(),
    }
}
