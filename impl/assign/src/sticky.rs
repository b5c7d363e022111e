//! The sticky assignors (`StickyAssignor`, and `CooperativeStickyAssignor` of KIP-429).
//!
//! Kafka's guarantees, kept here with an algorithm of our own:
//!
//! 1. **Balance.** With equal subscriptions, member counts differ by at most one. Otherwise no
//!    partition can move from its owner to another subscriber of its topic that has at least two
//!    fewer partitions (Kafka's `isBalanced`).
//! 2. **Stickiness.** A partition stays with its valid previous owner (see [`crate::ownership`])
//!    unless balance needs it elsewhere, or, with equal subscriptions and racks (KIP-881), unless
//!    a subscriber in one of its replicas' racks can take it: Kafka 3.5+ puts racks before
//!    stickiness there. With unequal subscriptions racks only guide free partitions and moves,
//!    because releasing for racks there made groups churn (docs/assign.md).
//! 3. **Cooperative hand-over.** For `cooperative-sticky`, a partition that some other member
//!    still reports owning is withheld from its new owner this round; the owner revokes it, and
//!    the follow-up rebalance hands it over.
//!
//! Equal subscriptions (the common case, and every benchmark shape) take a linear path: members
//! keep up to their quota of previous partitions and the rest is dealt round-robin to the members
//! below quota. Unequal subscriptions take a general path: keep previous ownership, give each
//! unowned partition to its least-loaded subscriber (topics with the fewest subscribers first),
//! then move partitions from the most to the least loaded subscriber of each topic until no such
//! move improves balance.

use crate::ownership::{claimants, previous_owners, Dense, NONE};
use crate::subs::Subscriptions;
use crate::{member_id_order, GroupSpec, Tp};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    Eager,
    Cooperative,
}

pub(crate) fn assign(spec: &GroupSpec, flavor: Flavor) -> Vec<Vec<Tp>> {
    if spec.members.is_empty() {
        return Vec::new();
    }
    let dense = Dense::new(spec);
    let subs = Subscriptions::new(spec);
    let previous = previous_owners(spec, &subs, &dense);
    let order = member_id_order(spec);
    let mut out = if subs.all_equal() {
        assign_equal(spec, &dense, previous, &order)
    } else {
        General::new(spec, &dense, &subs, &previous, &order).run()
    };
    // With no claims at all (a new group) nothing can be withheld.
    if flavor == Flavor::Cooperative && spec.members.iter().any(|m| !m.owned.is_empty()) {
        let claimed = claimants(spec, &dense);
        for (m, parts) in out.iter_mut().enumerate() {
            parts.retain(|&tp| {
                let c = claimed[dense.index(tp)];
                c == NONE || c == m as u32
            });
        }
    }
    for parts in &mut out {
        // Kept and newly dealt partitions form two sorted runs: a stable sort merges them.
        parts.sort();
    }
    out
}

/// The valid previous partitions of `m` (those `previous` gives it), sorted, into `buf`.
fn previous_of(spec: &GroupSpec, dense: &Dense, previous: &[u32], m: u32, buf: &mut Vec<Tp>) {
    buf.clear();
    buf.extend(
        spec.members[m as usize]
            .owned
            .iter()
            .copied()
            .filter(|&tp| spec.exists(tp) && previous[dense.index(tp)] == m),
    );
    buf.sort_unstable();
    buf.dedup();
}

/// Every member subscribes to the same topics: quotas are ⌊P/M⌋ and ⌈P/M⌉.
///
/// `table` starts as the previous owners and ends as the new ones: a partition a member keeps
/// keeps its entry, one it gives up is cleared, and the cleared ones are dealt.
fn assign_equal(
    spec: &GroupSpec,
    dense: &Dense,
    mut table: Vec<u32>,
    order: &[u32],
) -> Vec<Vec<Tp>> {
    let topics = spec.members[0].topics.clone();
    let total: usize = topics
        .iter()
        .map(|&t| spec.topics[t as usize].partitions as usize)
        .sum();
    let min_quota = total / order.len();
    let mut extra_slots = total % order.len(); // members that may hold min_quota + 1
    let mut out: Vec<Vec<Tp>> = (0..spec.members.len())
        .map(|_| Vec::with_capacity(min_quota + 1))
        .collect();

    // KIP-881, as Kafka's sticky assignors apply it: balance first, then racks, then stickiness.
    let racks = RackMatch::new(spec, &topics);

    // Keep previous partitions up to quota; the first members (in id order) holding more than
    // the minimum take the extra slots. With racks, a member keeps only partitions with a
    // replica in its rack; the others are released, remembering their owner.
    let mut mine = Vec::new();
    let mut released: Vec<(usize, Tp, u32)> = Vec::new();
    for &m in order {
        previous_of(spec, dense, &table, m, &mut mine);
        if let Some(racks) = &racks {
            mine.retain(|&tp| {
                let keep = !racks.should_release(spec, m, tp);
                if !keep {
                    let i = dense.index(tp);
                    table[i] = NONE;
                    released.push((i, tp, m));
                }
                keep
            });
        }
        let quota = if mine.len() > min_quota && extra_slots > 0 {
            extra_slots -= 1;
            min_quota + 1
        } else {
            min_quota.min(mine.len())
        };
        for &tp in &mine[quota..] {
            table[dense.index(tp)] = NONE;
        }
        out[m as usize].extend_from_slice(&mine[..quota]);
    }

    if let Some(racks) = &racks {
        deal_by_rack(
            spec,
            dense,
            racks,
            &topics,
            order,
            min_quota,
            &mut extra_slots,
            released,
            &mut table,
            &mut out,
        );
    }

    // Deal the free partitions, in order, round-robin to the members below the minimum quota,
    // then one each to members at the minimum while extra slots remain.
    let mut free = topics.iter().flat_map(|&t| {
        let start = dense.range(t).start;
        dense
            .range(t)
            .map(move |i| (i, Tp::new(t, (i - start) as u32)))
    });
    let mut needy: Vec<(u32, usize)> = order
        .iter()
        .map(|&m| (m, min_quota.saturating_sub(out[m as usize].len())))
        .filter(|&(_, need)| need > 0)
        .collect();
    // While every needy member still needs one, a round deals the next n free partitions to
    // the n needy members in order. Done partition by partition that scatters writes over every
    // member's list; gathered first and dealt 64 members at a time, it gives the same result with
    // each block's lists in cache.
    let full_rounds = needy.iter().map(|&(_, need)| need).min().unwrap_or(0);
    if full_rounds > 0 {
        let n = needy.len();
        let mut dealt: Vec<(usize, Tp)> = Vec::with_capacity(full_rounds * n);
        while dealt.len() < full_rounds * n {
            let (i, tp) = free.next().expect("quotas cover every partition");
            if table[i] == NONE {
                dealt.push((i, tp));
            }
        }
        for block in (0..n).step_by(64) {
            let members = &needy[block..(block + 64).min(n)];
            for round in 0..full_rounds {
                let row = &dealt[round * n + block..];
                for (&(m, _), &(i, tp)) in members.iter().zip(row) {
                    table[i] = m;
                    out[m as usize].push(tp);
                }
            }
        }
        for (_, need) in &mut needy {
            *need -= full_rounds;
        }
        needy.retain(|&(_, need)| need > 0);
    }
    let mut next_free = |table: &mut [u32], m: u32| loop {
        let (i, tp) = free.next().expect("quotas cover every partition");
        if table[i] == NONE {
            table[i] = m;
            return tp;
        }
    };
    while !needy.is_empty() {
        needy.retain_mut(|(m, need)| {
            let tp = next_free(&mut table, *m);
            out[*m as usize].push(tp);
            *need -= 1;
            *need > 0
        });
    }
    for &m in order {
        if extra_slots == 0 {
            break;
        }
        if out[m as usize].len() == min_quota {
            let tp = next_free(&mut table, m);
            out[m as usize].push(tp);
            extra_slots -= 1;
        }
    }
    assert!(
        free.all(|(i, _)| table[i] != NONE),
        "every partition is assigned"
    );
    out
}

/// The KIP-881 phases of [`assign_equal`], kept out of its hot path: members below quota, then
/// extra slots, take free partitions in their rack; released partitions nobody in their racks
/// could take go back to their previous owner when it has room.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn deal_by_rack(
    spec: &GroupSpec,
    dense: &Dense,
    racks: &RackMatch,
    topics: &[u32],
    order: &[u32],
    min_quota: usize,
    extra_slots: &mut usize,
    released: Vec<(usize, Tp, u32)>,
    table: &mut [u32],
    out: &mut [Vec<Tp>],
) {
    let mut by_rack = racks.free_by_rack(spec, dense, topics, table);
    // Members below the minimum take, round-robin, the next free partition with a replica in
    // their rack while there is one; then members at the minimum take extra slots the same way.
    let mut needy: Vec<(u32, usize)> = order
        .iter()
        .filter(|&&m| spec.members[m as usize].rack.is_some())
        .map(|&m| (m, min_quota.saturating_sub(out[m as usize].len())))
        .filter(|&(_, need)| need > 0)
        .collect();
    while !needy.is_empty() {
        needy.retain_mut(|(m, need)| match by_rack.take(spec, *m, table) {
            Some(tp) => {
                out[*m as usize].push(tp);
                *need -= 1;
                *need > 0
            }
            None => false,
        });
    }
    for &m in order {
        if *extra_slots == 0 {
            break;
        }
        if out[m as usize].len() == min_quota {
            if let Some(tp) = by_rack.take(spec, m, table) {
                out[m as usize].push(tp);
                *extra_slots -= 1;
            }
        }
    }
    // A released partition that no member of its racks had room for goes back to its
    // previous owner if that owner has room: Kafka would deal it anywhere, but returning it
    // keeps a settled group from moving partitions between rounds.
    for (i, tp, m) in released {
        let held = out[m as usize].len();
        if table[i] != NONE {
            continue;
        }
        if held < min_quota || (held == min_quota && *extra_slots > 0) {
            if held == min_quota {
                *extra_slots -= 1;
            }
            table[i] = m;
            out[m as usize].push(tp);
        }
    }
}

/// Rack information for KIP-881 placement, when Kafka would use it: some member has a rack,
/// the members' racks meet the replicas' racks, and not every partition has a replica on every
/// rack (Kafka's `useRackAwareAssignment`, over the whole group).
struct RackMatch {
    /// Per topic, the racks of its subscribers (sorted).
    subscriber_racks: Vec<Vec<u32>>,
}

impl RackMatch {
    fn new(spec: &GroupSpec, topics: &[u32]) -> Option<RackMatch> {
        let member_racks: Vec<u32> = spec.members.iter().filter_map(|m| m.rack).collect();
        if member_racks.is_empty() {
            return None;
        }
        let lists: Vec<&Vec<u32>> = topics
            .iter()
            .flat_map(|&t| spec.topics[t as usize].partition_racks.iter().flatten())
            .collect();
        let mut all: Vec<u32> = lists.iter().copied().flatten().copied().collect();
        all.sort_unstable();
        all.dedup();
        if member_racks.iter().all(|r| all.binary_search(r).is_err()) {
            return None;
        }
        // Partitions without rack information have an empty set of racks, unlike `all`.
        let known = topics
            .iter()
            .map(|&t| spec.topics[t as usize].partition_racks.is_some());
        if known.clone().all(|k| k) && lists.iter().all(|l| **l == all) {
            return None;
        }
        let mut subscriber_racks = vec![Vec::new(); spec.topics.len()];
        for m in &spec.members {
            if let Some(r) = m.rack {
                for &t in m.topics.iter() {
                    subscriber_racks[t as usize].push(r);
                }
            }
        }
        for racks in &mut subscriber_racks {
            racks.sort_unstable();
            racks.dedup();
        }
        Some(RackMatch { subscriber_racks })
    }

    /// Whether `m` should give up its previous partition `tp` for the sake of racks: `tp` has
    /// no replica in `m`'s rack but does in the rack of some subscriber of its topic. Kafka
    /// releases every mismatched partition; releasing one that no subscriber's rack can hold
    /// would only move it around from round to round, so kgroup keeps it where it is.
    fn should_release(&self, spec: &GroupSpec, m: u32, tp: Tp) -> bool {
        self.mismatch(spec, m, tp)
            && spec.topics[tp.topic as usize]
                .partition_racks
                .as_ref()
                .is_some_and(|racks| {
                    racks[tp.partition as usize].iter().any(|r| {
                        self.subscriber_racks[tp.topic as usize]
                            .binary_search(r)
                            .is_ok()
                    })
                })
    }

    /// Whether `tp` has no replica in `m`'s rack (Kafka's `racksMismatch`; a member without a
    /// rack mismatches nothing).
    fn mismatch(&self, spec: &GroupSpec, m: u32, tp: Tp) -> bool {
        let Some(rack) = spec.members[m as usize].rack else {
            return false;
        };
        spec.topics[tp.topic as usize]
            .partition_racks
            .as_ref()
            .is_none_or(|r| r[tp.partition as usize].binary_search(&rack).is_err())
    }

    /// The free partitions of `topics`, per rack holding a replica, in order.
    fn free_by_rack(
        &self,
        spec: &GroupSpec,
        dense: &Dense,
        topics: &[u32],
        table: &[u32],
    ) -> FreeByRack {
        let mut lists: Vec<(Vec<(usize, Tp)>, usize)> = vec![(Vec::new(), 0); spec.racks.len()];
        for &t in topics {
            let Some(racks) = &spec.topics[t as usize].partition_racks else {
                continue;
            };
            for (p, rs) in racks.iter().enumerate() {
                let tp = Tp::new(t, p as u32);
                let i = dense.index(tp);
                if table[i] == NONE {
                    for &r in rs {
                        lists[r as usize].0.push((i, tp));
                    }
                }
            }
        }
        FreeByRack { lists }
    }
}

/// Free partitions per rack, each list with a cursor below which every entry is taken.
struct FreeByRack {
    lists: Vec<(Vec<(usize, Tp)>, usize)>,
}

impl FreeByRack {
    /// Gives `m` the next free partition with a replica in its rack, if any.
    fn take(&mut self, spec: &GroupSpec, m: u32, table: &mut [u32]) -> Option<Tp> {
        let rack = spec.members[m as usize].rack?;
        let (list, cursor) = &mut self.lists[rack as usize];
        while *cursor < list.len() {
            let (i, tp) = list[*cursor];
            *cursor += 1;
            if table[i] == NONE {
                table[i] = m;
                return Some(tp);
            }
        }
        None
    }
}

/// Subscriptions differ: keep, fill least-loaded first, then rebalance by single moves.
struct General<'a> {
    spec: &'a GroupSpec,
    dense: &'a Dense,
    previous: &'a [u32],
    /// Per topic, its subscribers in visiting order.
    subscribers: Vec<Vec<u32>>,
    /// Per member, its position in the visiting order (the tie-break).
    rank: Vec<u32>,
    /// The new owner of every partition.
    owner: Vec<u32>,
    out: Vec<Vec<Tp>>,
    /// KIP-881 placement, when Kafka would use it.
    racks: Option<RackMatch>,
}

impl<'a> General<'a> {
    fn new(
        spec: &'a GroupSpec,
        dense: &'a Dense,
        subs: &Subscriptions,
        previous: &'a [u32],
        order: &[u32],
    ) -> Self {
        let mut rank = vec![0u32; spec.members.len()];
        for (r, &m) in order.iter().enumerate() {
            rank[m as usize] = r as u32;
        }
        General {
            spec,
            dense,
            previous,
            subscribers: (0..spec.topics.len() as u32)
                .map(|t| subs.subscribers(t, order).into_owned())
                .collect(),
            rank,
            owner: vec![NONE; dense.len()],
            out: vec![Vec::new(); spec.members.len()],
            racks: {
                let subscribed: Vec<u32> = (0..spec.topics.len() as u32)
                    .filter(|&t| subs.anyone(t))
                    .collect();
                RackMatch::new(spec, &subscribed)
            },
        }
    }

    fn give(&mut self, m: u32, tp: Tp) {
        let i = self.dense.index(tp);
        debug_assert_eq!(self.owner[i], NONE);
        self.owner[i] = m;
        self.out[m as usize].push(tp);
    }

    fn run(mut self) -> Vec<Vec<Tp>> {
        let spec = self.spec;
        let mut mine = Vec::new();
        for m in 0..spec.members.len() as u32 {
            previous_of(spec, self.dense, self.previous, m, &mut mine);
            // Unlike the equal-subscription path, previous partitions are kept whatever their
            // racks: the greedy fill below is balance-first, so a partition released for its
            // rack could come back to rest elsewhere in the next round, and the group would
            // not settle. Racks guide where free partitions go and which partitions move.
            for &tp in &mine {
                self.give(m, tp);
            }
        }

        // Topics with fewer subscribers have fewer places to go: fill them first.
        let mut topic_order: Vec<u32> = (0..spec.topics.len() as u32)
            .filter(|&t| {
                !self.subscribers[t as usize].is_empty() && spec.topics[t as usize].partitions > 0
            })
            .collect();
        topic_order.sort_by_key(|&t| (self.subscribers[t as usize].len(), t));

        for &t in &topic_order {
            let range = self.dense.range(t);
            if range.clone().all(|i| self.owner[i] != NONE) {
                continue;
            }
            if self.racks.is_some() {
                self.fill_by_rack(t);
                continue;
            }
            let mut heap: BinaryHeap<Reverse<(usize, u32, u32)>> = self.subscribers[t as usize]
                .iter()
                .map(|&m| Reverse((self.out[m as usize].len(), self.rank[m as usize], m)))
                .collect();
            for i in range.clone() {
                if self.owner[i] != NONE {
                    continue;
                }
                let Reverse((count, r, m)) = heap.pop().expect("the topic has subscribers");
                self.give(m, Tp::new(t, (i - range.start) as u32));
                heap.push(Reverse((count + 1, r, m)));
            }
        }

        // Single moves from the most to the least loaded subscriber of a topic, until none
        // improves balance. Each move lowers the sum of squared counts, so this ends.
        loop {
            let mut moved = false;
            for &t in &topic_order {
                while let Some((from, to, i)) = self.improving_move(t) {
                    let tp = Tp::new(t, (i - self.dense.range(t).start) as u32);
                    let list = &mut self.out[from as usize];
                    let at = list
                        .iter()
                        .position(|&x| x == tp)
                        .expect("owner lists its partition");
                    list.swap_remove(at);
                    self.owner[i] = NONE;
                    self.give(to, tp);
                    moved = true;
                }
            }
            if !moved {
                break;
            }
        }
        self.out
    }

    /// Fills topic `t`'s free partitions with racks: each goes to a least-loaded subscriber,
    /// preferring one in a replica's rack, then its previous owner (so that a settled group stays
    /// put), then the usual order. Heaps per rack, with stale entries skipped, keep each choice
    /// logarithmic.
    fn fill_by_rack(&mut self, t: u32) {
        type Heap = BinaryHeap<Reverse<(usize, u32, u32)>>;
        let spec = self.spec;
        let subs = self.subscribers[t as usize].clone();
        let entry =
            |this: &Self, m: u32| Reverse((this.out[m as usize].len(), this.rank[m as usize], m));
        let mut all: Heap = subs.iter().map(|&m| entry(self, m)).collect();
        let mut by_rack: std::collections::HashMap<u32, Heap> = std::collections::HashMap::new();
        for &m in &subs {
            if let Some(r) = spec.members[m as usize].rack {
                by_rack.entry(r).or_default().push(entry(self, m));
            }
        }
        let fresh = |this: &Self, heap: &mut Heap| -> Option<(usize, u32, u32)> {
            while let Some(&Reverse((count, r, m))) = heap.peek() {
                if count == this.out[m as usize].len() {
                    return Some((count, r, m));
                }
                heap.pop();
            }
            None
        };
        let range = self.dense.range(t);
        for i in range.clone() {
            if self.owner[i] != NONE {
                continue;
            }
            let tp = Tp::new(t, (i - range.start) as u32);
            let (least, ..) = fresh(self, &mut all).expect("the topic has subscribers");
            let in_rack = spec.topics[t as usize]
                .partition_racks
                .iter()
                .flat_map(|racks| racks[tp.partition as usize].iter())
                .filter_map(|r| by_rack.get_mut(r).and_then(|h| fresh(self, h)))
                .filter(|&(count, ..)| count == least)
                .min();
            let previous = self.previous[i];
            let m = match in_rack {
                Some((.., m)) => m,
                None if previous != NONE && self.out[previous as usize].len() == least => previous,
                None => fresh(self, &mut all).expect("the topic has subscribers").2,
            };
            self.give(m, tp);
            all.push(entry(self, m));
            if let Some(r) = spec.members[m as usize].rack {
                by_rack.entry(r).or_default().push(entry(self, m));
            }
        }
    }

    /// A move of one partition of `t` from its most loaded holder to its least loaded subscriber
    /// that leaves them closer in count, if there is one: (from, to, dense index).
    fn improving_move(&self, t: u32) -> Option<(u32, u32, usize)> {
        let count = |m: u32| self.out[m as usize].len();
        let to = *self.subscribers[t as usize]
            .iter()
            .min_by_key(|&&m| (count(m), self.rank[m as usize]))?;
        let range = self.dense.range(t);
        let from = range
            .clone()
            .map(|i| self.owner[i])
            .max_by_key(|&m| (count(m), Reverse(self.rank[m as usize])))?;
        if count(from) < count(to) + 2 {
            return None;
        }
        // Prefer a partition that leaves a rack it has no replica in for one it has, then one
        // `from` did not own before, and one `to` did.
        let rack_gain = |i: usize| {
            self.racks.as_ref().is_some_and(|r| {
                let tp = Tp::new(t, (i - self.dense.range(t).start) as u32);
                r.mismatch(self.spec, from, tp) && !r.mismatch(self.spec, to, tp)
            })
        };
        let i = range
            .filter(|&i| self.owner[i] == from)
            .max_by_key(|&i| {
                (
                    rack_gain(i),
                    self.previous[i] == to,
                    self.previous[i] != from,
                )
            })
            .expect("the donor holds a partition of the topic");
        Some((from, to, i))
    }
}

#[cfg(test)]
mod tests {
    use crate::{assign, metrics, GroupSpec, MemberInput, Strategy};

    #[test]
    fn rack_aware_sticky_places_partitions_in_their_rack_without_losing_balance() {
        // Partition p has its only replica in rack r(p % 3); two members per rack.
        let racks: Vec<Vec<String>> = (0..12).map(|p| vec![format!("r{}", p % 3)]).collect();
        let mut b = GroupSpec::builder()
            .topic("t", 12)
            .partition_racks("t", racks);
        for m in 0..6 {
            b = b.member(MemberInput::new(format!("m{m}"), ["t"]).with_rack(format!("r{}", m % 3)));
        }
        let spec = b.build().unwrap();
        for s in [Strategy::Sticky, Strategy::CooperativeSticky] {
            let a = assign(s, &spec);
            metrics::validate(&spec, &a).unwrap();
            assert_eq!(metrics::spread(&a), (2, 2));
            for (m, parts) in a.members.iter().enumerate() {
                for tp in parts {
                    assert_eq!(
                        tp.partition % 3,
                        m as u32 % 3,
                        "{s}: m{m} got t-{} outside its rack",
                        tp.partition
                    );
                }
            }
        }
    }

    #[test]
    fn rack_matching_comes_before_stickiness() {
        // m0 (rack r1) owns t-0, whose replica is in r0; m1 is in r0 with room: t-0 moves to m1,
        // as in Kafka, and m0 takes t-1 in its own rack.
        let spec = GroupSpec::builder()
            .topic("t", 2)
            .partition_racks("t", vec![vec!["r0".into()], vec!["r1".into()]])
            .member(
                MemberInput::new("m0", ["t"])
                    .with_rack("r1")
                    .owning([("t", 0)], 3),
            )
            .member(MemberInput::new("m1", ["t"]).with_rack("r0"))
            .build()
            .unwrap();
        let a = assign(Strategy::Sticky, &spec);
        assert_eq!(a.named(&spec)[0].1[0].to_string(), "t-1");
        assert_eq!(a.named(&spec)[1].1[0].to_string(), "t-0");
    }

    #[test]
    fn unequal_subscriptions_also_place_partitions_in_their_rack() {
        // `a` has one replica per partition, in r(p % 2); `b` is only wanted by m2, so the
        // subscriptions differ and the general path runs.
        let racks: Vec<Vec<String>> = (0..4).map(|p| vec![format!("r{}", p % 2)]).collect();
        let spec = GroupSpec::builder()
            .topic("a", 4)
            .topic("b", 1)
            .partition_racks("a", racks)
            .member(MemberInput::new("m0", ["a"]).with_rack("r1"))
            .member(MemberInput::new("m1", ["a"]).with_rack("r0"))
            .member(MemberInput::new("m2", ["a", "b"]).with_rack("r9"))
            .build()
            .unwrap();
        let a = assign(Strategy::Sticky, &spec);
        metrics::validate(&spec, &a).unwrap();
        assert!(metrics::is_balanced(&spec, &a));
        for tp in &a.members[0] {
            assert_eq!(tp.partition % 2, 1, "m0 (r1) got a-{}", tp.partition);
        }
        for tp in &a.members[1] {
            assert_eq!(tp.partition % 2, 0, "m1 (r0) got a-{}", tp.partition);
        }
    }

    #[test]
    fn a_released_partition_no_rack_can_take_returns_to_its_owner() {
        // Both replicas are in r0 but both members are in r1: nobody matches, and each keeps
        // what it owns rather than swapping.
        let spec = GroupSpec::builder()
            .topic("t", 2)
            .partition_racks("t", vec![vec!["r0".into()], vec!["r0".into(), "r1".into()]])
            .member(
                MemberInput::new("m0", ["t"])
                    .with_rack("r1")
                    .owning([("t", 1)], 3),
            )
            .member(
                MemberInput::new("m1", ["t"])
                    .with_rack("r1")
                    .owning([("t", 0)], 3),
            )
            .build()
            .unwrap();
        let a = assign(Strategy::Sticky, &spec);
        assert_eq!(metrics::moves(&spec, &a), 0);
    }
}
