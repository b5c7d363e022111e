//! The sticky assignors (`StickyAssignor`, and `CooperativeStickyAssignor` of KIP-429).
//!
//! Kafka's guarantees, kept here with an algorithm of our own:
//!
//! 1. **Balance.** With equal subscriptions, member counts differ by at most one. Otherwise no
//!    partition can move from its owner to another subscriber of its topic that has at least two
//!    fewer partitions (Kafka's `isBalanced`).
//! 2. **Stickiness.** A partition stays with its valid previous owner (see [`crate::ownership`])
//!    unless balance needs it elsewhere.
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
use crate::{member_id_order, subscribers_by_topic, GroupSpec, Tp};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    Eager,
    Cooperative,
}

pub(crate) fn assign(spec: &GroupSpec, flavor: Flavor) -> Vec<Vec<Tp>> {
    let dense = Dense::new(spec);
    let previous = previous_owners(spec, &dense);
    let order = member_id_order(spec);
    let mut state = State {
        spec,
        dense: &dense,
        owner: vec![NONE; dense.len()],
        out: vec![Vec::new(); spec.members.len()],
    };
    if spec.members.is_empty() {
        return state.out;
    }
    let equal = spec.members.windows(2).all(|w| w[0].topics == w[1].topics);
    if equal {
        state.assign_equal(&previous, &order);
    } else {
        state.assign_general(&previous, &order);
    }
    let mut out = state.out;
    if flavor == Flavor::Cooperative {
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

struct State<'a> {
    spec: &'a GroupSpec,
    dense: &'a Dense,
    /// The new owner of every partition.
    owner: Vec<u32>,
    out: Vec<Vec<Tp>>,
}

impl State<'_> {
    fn give(&mut self, m: u32, tp: Tp) {
        let i = self.dense.index(tp);
        debug_assert_eq!(self.owner[i], NONE);
        self.owner[i] = m;
        self.out[m as usize].push(tp);
    }

    /// The valid previous partitions of `m`, sorted, without repeats.
    fn kept_candidates(&self, previous: &[u32], m: u32) -> Vec<Tp> {
        let mut mine: Vec<Tp> = self.spec.members[m as usize]
            .owned
            .iter()
            .copied()
            .filter(|&tp| self.spec.exists(tp) && previous[self.dense.index(tp)] == m)
            .collect();
        mine.sort_unstable();
        mine.dedup();
        mine
    }

    /// Every member subscribes to the same topics: quotas are ⌊P/M⌋ and ⌈P/M⌉.
    fn assign_equal(&mut self, previous: &[u32], order: &[u32]) {
        let topics = self.spec.members[0].topics.clone();
        let total: usize = topics
            .iter()
            .map(|&t| self.spec.topics[t as usize].partitions as usize)
            .sum();
        let members = order.len();
        let min_quota = total / members;
        let mut extra_slots = total % members; // members that may hold min_quota + 1
        for parts in &mut self.out {
            parts.reserve(min_quota + 1);
        }

        // Keep previous partitions up to quota; the first members (in id order) holding more than
        // the minimum take the extra slots.
        for &m in order {
            let mine = self.kept_candidates(previous, m);
            let quota = if mine.len() > min_quota && extra_slots > 0 {
                extra_slots -= 1;
                min_quota + 1
            } else {
                min_quota
            };
            for &tp in mine.iter().take(quota) {
                self.give(m, tp);
            }
        }

        let mut unassigned =
            Vec::with_capacity(total - self.out.iter().map(Vec::len).sum::<usize>());
        for &t in &topics {
            for i in self.dense.range(t) {
                if self.owner[i] == NONE {
                    unassigned.push(Tp::new(t, (i - self.dense.range(t).start) as u32));
                }
            }
        }
        let mut next = unassigned.into_iter();

        // Deal round-robin to the members below the minimum quota, then one each to members at
        // the minimum while extra slots remain.
        let mut needy: Vec<(u32, usize)> = order
            .iter()
            .map(|&m| (m, min_quota.saturating_sub(self.out[m as usize].len())))
            .filter(|&(_, need)| need > 0)
            .collect();
        while !needy.is_empty() {
            needy.retain_mut(|(m, need)| {
                let tp = next.next().expect("quotas cover every partition");
                self.give(*m, tp);
                *need -= 1;
                *need > 0
            });
        }
        for &m in order {
            if extra_slots == 0 {
                break;
            }
            if self.out[m as usize].len() == min_quota {
                let tp = next
                    .next()
                    .expect("an extra slot is left for every remaining partition");
                self.give(m, tp);
                extra_slots -= 1;
            }
        }
        assert!(next.next().is_none(), "every partition is assigned");
    }

    /// Subscriptions differ: keep, fill least-loaded first, then rebalance by single moves.
    fn assign_general(&mut self, previous: &[u32], order: &[u32]) {
        let spec = self.spec;
        let subscribers = subscribers_by_topic(spec, order);
        let mut rank = vec![0u32; spec.members.len()];
        for (r, &m) in order.iter().enumerate() {
            rank[m as usize] = r as u32;
        }

        for &m in order {
            for tp in self.kept_candidates(previous, m) {
                self.give(m, tp);
            }
        }

        // Topics with fewer subscribers have fewer places to go: fill them first.
        let mut topic_order: Vec<u32> = (0..spec.topics.len() as u32)
            .filter(|&t| {
                !subscribers[t as usize].is_empty() && spec.topics[t as usize].partitions > 0
            })
            .collect();
        topic_order.sort_by_key(|&t| (subscribers[t as usize].len(), t));

        for &t in &topic_order {
            let range = self.dense.range(t);
            if range.clone().all(|i| self.owner[i] != NONE) {
                continue;
            }
            let mut heap: BinaryHeap<Reverse<(usize, u32, u32)>> = subscribers[t as usize]
                .iter()
                .map(|&m| Reverse((self.out[m as usize].len(), rank[m as usize], m)))
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
                while let Some((from, to, i)) =
                    self.improving_move(t, &subscribers[t as usize], &rank, previous)
                {
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
    }

    /// A move of one partition of `t` from its most loaded holder to its least loaded subscriber
    /// that leaves them closer in count, if there is one: (from, to, dense index).
    fn improving_move(
        &self,
        t: u32,
        subs: &[u32],
        rank: &[u32],
        previous: &[u32],
    ) -> Option<(u32, u32, usize)> {
        let count = |m: u32| self.out[m as usize].len();
        let to = *subs.iter().min_by_key(|&&m| (count(m), rank[m as usize]))?;
        let range = self.dense.range(t);
        let from = range
            .clone()
            .map(|i| self.owner[i])
            .max_by_key(|&m| (count(m), Reverse(rank[m as usize])))?;
        if count(from) < count(to) + 2 {
            return None;
        }
        // Prefer giving up a partition `from` did not own before, and one `to` did.
        let held: Vec<usize> = range.filter(|&i| self.owner[i] == from).collect();
        let i = held
            .iter()
            .copied()
            .max_by_key(|&i| (previous[i] == to, previous[i] != from))
            .expect("the donor holds a partition of the topic");
        Some((from, to, i))
    }
}
