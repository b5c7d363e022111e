//! Symmetry reduction over consumers: two states that differ only in which slot holds which
//! consumer are checked once. The representative sorts the slots by what each holds (its
//! consumer and its two connections, with member ids read without their slot) and renames every
//! slot reference to match.
//!
//! Consumers are interchangeable except through the order of member ids, which decides the
//! leader and the assignor's dealing order. In Kafka that order is the order of random UUIDs, so
//! any order is a real one; the representative picks one. `tests/model.rs` checks that the
//! reduced and the full search reach the same verdicts.
//!
//! With the `duplicates` fault a slot is no longer interchangeable with the others (a duplicate
//! runs as another slot's instance), so the checker searches those configurations unreduced.

use crate::state::*;

fn id_key(id: MemberId) -> u8 {
    id.nonce
}

fn consumer_key(s: &State, slot: usize) -> Vec<u8> {
    let c = &s.consumers[slot];
    let mut k = vec![
        c.phase as u8,
        c.waiting as u8,
        c.member.map_or(255, id_key),
        c.generation,
        c.nonce,
        c.assigned,
        c.owned,
        c.rejoin as u8,
    ];
    k.extend_from_slice(&c.position);
    k.extend_from_slice(&c.committed);
    if let Some(t) = s.txn.get(c.identity as usize) {
        k.extend_from_slice(&t.open);
        k.push(t.epoch);
    }
    k.push(c.epoch);
    k.push(s.to_coord[slot].len() as u8);
    k.push(s.to_consumer[slot].len() as u8);
    k.extend(
        s.coord
            .members
            .iter()
            .filter(|m| m.id.slot as usize == slot)
            .flat_map(|m| {
                [
                    m.id.nonce,
                    m.joined as u8,
                    m.owed,
                    m.owned,
                    m.owned_generation,
                    m.assignment,
                ]
            }),
    );
    k
}

fn remap_id(id: &mut MemberId, pi: &[u8]) {
    id.slot = pi[id.slot as usize];
}

fn remap_opt(id: &mut Option<MemberId>, pi: &[u8]) {
    if let Some(id) = id {
        remap_id(id, pi);
    }
}

fn remap_instance(i: &mut Option<u8>, pi: &[u8]) {
    if let Some(i) = i {
        *i = pi[*i as usize];
    }
}

fn remap_list(list: &mut [(MemberId, Parts)], pi: &[u8]) {
    for (id, _) in list.iter_mut() {
        remap_id(id, pi);
    }
    list.sort();
}

fn remap_claims(list: &mut [Claim], pi: &[u8]) {
    for (id, _, _) in list.iter_mut() {
        remap_id(id, pi);
    }
    list.sort();
}

fn remap_req(r: &mut Req, pi: &[u8]) {
    match r {
        Req::Join {
            member, instance, ..
        } => {
            remap_opt(member, pi);
            remap_instance(instance, pi);
        }
        Req::Sync {
            member,
            instance,
            assignment,
            ..
        } => {
            remap_id(member, pi);
            remap_instance(instance, pi);
            if let Some(a) = assignment {
                remap_list(a, pi);
            }
        }
        Req::Heartbeat {
            member, instance, ..
        }
        | Req::Commit {
            member, instance, ..
        } => {
            remap_id(member, pi);
            remap_instance(instance, pi);
        }
        Req::Fetch { .. } => {}
        Req::TxnCommit {
            member,
            instance,
            producer,
            ..
        } => {
            remap_id(member, pi);
            remap_instance(instance, pi);
            *producer = pi[*producer as usize];
        }
        Req::Leave { member } => remap_id(member, pi),
    }
}

fn remap_resp(r: &mut Resp, pi: &[u8]) {
    if let Resp::Join {
        member,
        leader,
        members,
        ..
    } = r
    {
        remap_opt(member, pi);
        remap_opt(leader, pi);
        remap_claims(members, pi);
    }
}

/// The representative of `s`'s class under permutations of consumer slots.
pub fn representative(s: &State) -> State {
    let n = s.consumers.len();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_cached_key(|&i| consumer_key(s, i));
    if order.iter().enumerate().all(|(new, &old)| new == old) {
        return s.clone();
    }
    // pi[old slot] = new slot
    let mut pi = vec![0u8; n];
    for (new, &old) in order.iter().enumerate() {
        pi[old] = new as u8;
    }
    let mut r = s.clone();
    r.consumers = order.iter().map(|&i| s.consumers[i].clone()).collect();
    r.to_coord = order.iter().map(|&i| s.to_coord[i].clone()).collect();
    r.to_consumer = order.iter().map(|&i| s.to_consumer[i].clone()).collect();
    for c in &mut r.consumers {
        remap_opt(&mut c.member, &pi);
        c.identity = pi[c.identity as usize];
    }
    for q in &mut r.to_coord {
        q.iter_mut().for_each(|m| remap_req(m, &pi));
    }
    for q in &mut r.to_consumer {
        q.iter_mut().for_each(|m| remap_resp(m, &pi));
    }
    let c = &mut r.coord;
    remap_opt(&mut c.leader, &pi);
    for m in &mut c.members {
        remap_id(&mut m.id, &pi);
        remap_instance(&mut m.instance, &pi);
    }
    c.members.sort_by_key(|m| m.id);
    c.pending.iter_mut().for_each(|id| remap_id(id, &pi));
    c.pending.sort();
    let g = &mut r.log.group;
    remap_opt(&mut g.leader, &pi);
    for (id, instance, _, _) in &mut g.members {
        remap_id(id, &pi);
        remap_instance(instance, &pi);
    }
    g.members.sort_by_key(|m| m.0);
    if !r.txn.is_empty() {
        r.txn = order.iter().map(|&i| s.txn[i].clone()).collect();
    }
    for (old, &new) in pi.iter().enumerate() {
        r.log.producer_epochs[new as usize] = s.log.producer_epochs[old];
    }
    for (p, _, _) in &mut r.markers {
        *p = pi[*p as usize];
    }
    for list in [&mut r.coord.txn_pending, &mut r.log.txn_pending] {
        for (p, _) in list.iter_mut() {
            *p = pi[*p as usize];
        }
        list.sort_by_key(|(p, _)| *p);
    }
    r
}
