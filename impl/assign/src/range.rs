//! Kafka's `RangeAssignor`: each topic's partitions, in order, split into contiguous ranges over
//! the topic's subscribers.
//!
//! Subscribers are ordered as `MemberInfo` orders them (static members by group instance id
//! first, then the rest by member id). With P partitions and S subscribers the first P mod S
//! subscribers get ⌈P/S⌉ partitions and the others ⌊P/S⌋.
//!
//! Rack-aware assignment (KIP-881, Kafka 3.5+) applies to a topic when some subscriber has a
//! rack, the subscribers' racks meet the racks of the topic's replicas, and not every partition
//! has a replica on every rack. Then, before the ranges are cut, partitions are first given to
//! subscribers in their own rack, under the same per-subscriber quotas, and topics that share
//! their subscribers and partition count (co-partitioned topics) are matched together, so that
//! partition p of each goes to one consumer. The ranges are then cut from what is left. The
//! result is Kafka's exactly; without racks it is the classic range assignment.

use crate::subs::Subscriptions;
use crate::{kafka_member_order, GroupSpec, Tp};
use std::collections::BTreeMap;

pub(crate) fn assign(spec: &GroupSpec) -> Vec<Vec<Tp>> {
    let order = kafka_member_order(spec);
    let subscriptions = Subscriptions::new(spec);
    if spec.has_racks() {
        return rack::assign(spec, &order, &subscriptions);
    }
    let mut out: Vec<Vec<Tp>> = vec![Vec::new(); spec.members.len()];
    for (t, topic) in spec.topics.iter().enumerate() {
        if topic.partitions == 0 || !subscriptions.anyone(t as u32) {
            continue;
        }
        let subs = subscriptions.subscribers(t as u32, &order);
        let s = subs.len() as u32;
        let (per, extra) = (topic.partitions / s, topic.partitions % s);
        let mut next = 0u32;
        // With more subscribers than partitions only the first ones get any: stop there.
        for (i, &m) in subs
            .iter()
            .enumerate()
            .take(topic.partitions.min(s) as usize)
        {
            let len = per + u32::from((i as u32) < extra);
            out[m as usize].extend((next..next + len).map(|p| Tp::new(t as u32, p)));
            next += len;
        }
    }
    out
}

pub(crate) mod rack {
    //! KIP-881's rack-aware range assignment.

    use super::*;

    /// One topic's assignment in progress (Kafka's `TopicAssignmentState`).
    struct TopicState {
        topic: u32,
        /// Subscribers in member order.
        consumers: Vec<u32>,
        rack_aware: bool,
        /// Partitions not yet assigned, ascending.
        unassigned: Vec<bool>,
        remaining: u32,
        /// Every partition below this one is assigned.
        first_unassigned: u32,
        /// Per rack, the partitions with a replica there, ascending, and a cursor below which
        /// all are assigned.
        by_rack: BTreeMap<u32, (Vec<u32>, usize)>,
        assigned: BTreeMap<u32, u32>,
        per_consumer: u32,
        /// Subscribers that may still take one partition over `per_consumer`.
        with_extra: u32,
    }

    impl TopicState {
        fn max_assignable(&self, m: u32) -> u32 {
            let cap = self.per_consumer + u32::from(self.with_extra > 0);
            cap.saturating_sub(*self.assigned.get(&m).unwrap_or(&0))
        }

        /// Whether `m` may take partition `p` in the rack-matching phase: a member without a
        /// rack matches anything; one with a rack matches partitions with a replica there.
        fn racks_match(&self, spec: &GroupSpec, m: u32, p: u32) -> bool {
            match spec.members[m as usize].rack {
                None => true,
                Some(rack) => spec.topics[self.topic as usize]
                    .partition_racks
                    .as_ref()
                    .is_some_and(|racks| racks[p as usize].binary_search(&rack).is_ok()),
            }
        }

        fn give(&mut self, m: u32, parts: &[u32], out: &mut [Vec<Tp>]) {
            let n = self.assigned.entry(m).or_insert(0);
            *n += parts.len() as u32;
            if *n > self.per_consumer {
                self.with_extra = self
                    .with_extra
                    .checked_sub(1)
                    .expect("quotas allow this many extra partitions");
            }
            for &p in parts {
                debug_assert!(self.unassigned[p as usize]);
                self.unassigned[p as usize] = false;
                self.remaining -= 1;
                out[m as usize].push(Tp::new(self.topic, p));
            }
        }

        /// Kafka's `assignRanges`: each consumer in order takes the first unassigned partitions
        /// it may take, up to its quota.
        fn assign_ranges(&mut self, spec: &GroupSpec, rack_matching: bool, out: &mut [Vec<Tp>]) {
            let mut parts = Vec::new();
            for i in 0..self.consumers.len() {
                if self.remaining == 0 {
                    break;
                }
                let m = self.consumers[i];
                let limit = self.max_assignable(m) as usize;
                if limit == 0 {
                    continue;
                }
                parts.clear();
                let rack = if rack_matching {
                    spec.members[m as usize].rack
                } else {
                    None
                };
                match rack {
                    // A member with a rack matches the partitions with a replica there.
                    Some(r) => {
                        if let Some((list, cursor)) = self.by_rack.get_mut(&r) {
                            while *cursor < list.len() && !self.unassigned[list[*cursor] as usize] {
                                *cursor += 1;
                            }
                            parts.extend(
                                list[*cursor..]
                                    .iter()
                                    .copied()
                                    .filter(|&p| self.unassigned[p as usize])
                                    .take(limit),
                            );
                        }
                    }
                    // Without rack matching, or without a rack, any partition matches.
                    None => {
                        while self.first_unassigned < self.unassigned.len() as u32
                            && !self.unassigned[self.first_unassigned as usize]
                        {
                            self.first_unassigned += 1;
                        }
                        parts.extend(
                            (self.first_unassigned..self.unassigned.len() as u32)
                                .filter(|&p| self.unassigned[p as usize])
                                .take(limit),
                        );
                    }
                }
                if !parts.is_empty() {
                    let taken = std::mem::take(&mut parts);
                    self.give(m, &taken, out);
                    parts = taken;
                }
            }
        }
    }

    /// Whether a topic gets rack-aware assignment (Kafka's `useRackAwareAssignment`).
    fn needs_rack_aware(spec: &GroupSpec, topic: u32, consumers: &[u32]) -> bool {
        let Some(racks) = &spec.topics[topic as usize].partition_racks else {
            return false;
        };
        let mut all: Vec<u32> = racks.iter().flatten().copied().collect();
        all.sort_unstable();
        all.dedup();
        let consumer_racks: Vec<u32> = consumers
            .iter()
            .filter_map(|&m| spec.members[m as usize].rack)
            .collect();
        if consumer_racks.is_empty() || consumer_racks.iter().all(|r| all.binary_search(r).is_err())
        {
            return false;
        }
        !racks.iter().all(|r| *r == all)
    }

    pub(crate) fn assign(
        spec: &GroupSpec,
        order: &[u32],
        subscriptions: &Subscriptions,
    ) -> Vec<Vec<Tp>> {
        let mut out: Vec<Vec<Tp>> = vec![Vec::new(); spec.members.len()];
        let mut states: Vec<TopicState> = Vec::new();
        for (t, topic) in spec.topics.iter().enumerate() {
            if topic.partitions == 0 || !subscriptions.anyone(t as u32) {
                continue;
            }
            let consumers = subscriptions.subscribers(t as u32, order).into_owned();
            let s = consumers.len() as u32;
            let rack_aware = needs_rack_aware(spec, t as u32, &consumers);
            let mut by_rack: BTreeMap<u32, (Vec<u32>, usize)> = BTreeMap::new();
            if rack_aware {
                for (p, racks) in topic.partition_racks.iter().flatten().enumerate() {
                    for &r in racks {
                        by_rack.entry(r).or_default().0.push(p as u32);
                    }
                }
            }
            states.push(TopicState {
                topic: t as u32,
                rack_aware,
                first_unassigned: 0,
                by_rack,
                unassigned: vec![true; topic.partitions as usize],
                remaining: topic.partitions,
                assigned: BTreeMap::new(),
                per_consumer: topic.partitions / s,
                with_extra: topic.partitions % s,
                consumers,
            });
        }

        if states.iter().any(|s| s.rack_aware) {
            // Topics with the same subscribers and the same partition count are co-partitioned
            // and matched together, whether or not each needs rack matching on its own. Kafka
            // keys the count on its per-partition rack map, which exists only when some
            // subscriber has a rack; other topics fall under a count of 0, where matching has
            // nothing to do.
            let mut groups: BTreeMap<(Vec<u32>, u32), Vec<usize>> = BTreeMap::new();
            for (i, s) in states.iter().enumerate() {
                let any_rack = s
                    .consumers
                    .iter()
                    .any(|&m| spec.members[m as usize].rack.is_some());
                let count = if any_rack {
                    s.unassigned.len() as u32
                } else {
                    0
                };
                groups
                    .entry((s.consumers.clone(), count))
                    .or_default()
                    .push(i);
            }
            for ((consumers, count), members) in groups {
                if members.len() > 1 {
                    co_partitioned(spec, &consumers, count, &members, &mut states, &mut out);
                } else if states[members[0]].rack_aware {
                    states[members[0]].assign_ranges(spec, true, &mut out);
                }
            }
        }
        for s in &mut states {
            s.assign_ranges(spec, false, &mut out);
        }
        // Rack matching gives partitions out of order; Kafka sorts the result too.
        for parts in &mut out {
            parts.sort_unstable();
        }
        out
    }

    /// Kafka's `assignCoPartitionedWithRackMatching`: partition p of every topic in the group
    /// goes to the first remaining consumer whose rack matches all of them and who has room in
    /// all of them.
    fn co_partitioned(
        spec: &GroupSpec,
        consumers: &[u32],
        partitions: u32,
        group: &[usize],
        states: &mut [TopicState],
        out: &mut [Vec<Tp>],
    ) {
        let mut remaining: Vec<u32> = consumers.to_vec();
        for p in 0..partitions {
            let matching = remaining.iter().copied().find(|&m| {
                group
                    .iter()
                    .all(|&i| states[i].racks_match(spec, m, p) && states[i].max_assignable(m) > 0)
            });
            let Some(m) = matching else { continue };
            for &i in group {
                states[i].give(m, &[p], out);
            }
            if group.iter().all(|&i| states[i].max_assignable(m) == 0) {
                remaining.retain(|&c| c != m);
                if remaining.is_empty() {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{assign, GroupSpec, MemberInput, Strategy};

    fn named(spec: &GroupSpec) -> Vec<(String, Vec<String>)> {
        assign(Strategy::Range, spec)
            .named(spec)
            .into_iter()
            .map(|(m, ps)| (m.0, ps.iter().map(|p| p.to_string()).collect()))
            .collect()
    }

    #[test]
    fn splits_each_topic_into_ranges() {
        // Kafka's documented example: two consumers, two topics of three partitions.
        let spec = GroupSpec::builder()
            .topic("t0", 3)
            .topic("t1", 3)
            .member(MemberInput::new("C0", ["t0", "t1"]))
            .member(MemberInput::new("C1", ["t0", "t1"]))
            .build()
            .unwrap();
        assert_eq!(
            named(&spec),
            vec![
                (
                    "C0".into(),
                    vec!["t0-0".into(), "t0-1".into(), "t1-0".into(), "t1-1".into()]
                ),
                ("C1".into(), vec!["t0-2".into(), "t1-2".into()]),
            ]
        );
    }

    #[test]
    fn ignores_missing_topics_and_topics_nobody_wants() {
        let spec = GroupSpec::builder()
            .topic("wanted", 2)
            .topic("unwanted", 5)
            .member(MemberInput::new("c1", ["wanted", "missing"]))
            .member(MemberInput::new("c2", ["missing"]))
            .build()
            .unwrap();
        assert_eq!(
            named(&spec),
            vec![
                ("c1".into(), vec!["wanted-0".into(), "wanted-1".into()]),
                ("c2".into(), vec![])
            ]
        );
    }

    #[test]
    fn static_members_sort_before_dynamic_ones() {
        let spec = GroupSpec::builder()
            .topic("t", 5)
            .member(MemberInput::new("a", ["t"]))
            .member(MemberInput::new("b", ["t"]).with_instance_id("z"))
            .member(MemberInput::new("c", ["t"]).with_instance_id("y"))
            .build()
            .unwrap();
        // Order: c (instance y), b (instance z), a (dynamic).
        assert_eq!(
            named(&spec),
            vec![
                ("a".into(), vec!["t-4".into()]),
                ("b".into(), vec!["t-2".into(), "t-3".into()]),
                ("c".into(), vec!["t-0".into(), "t-1".into()]),
            ]
        );
    }

    fn racks(lists: &[&[&str]]) -> Vec<Vec<String>> {
        lists
            .iter()
            .map(|l| l.iter().map(|r| r.to_string()).collect())
            .collect()
    }

    #[test]
    fn rack_aware_prefers_consumers_in_a_replica_rack() {
        let spec = GroupSpec::builder()
            .topic("t", 3)
            .partition_racks("t", racks(&[&["r1"], &["r2"], &["r3"]]))
            .member(MemberInput::new("c0", ["t"]).with_rack("r3"))
            .member(MemberInput::new("c1", ["t"]).with_rack("r2"))
            .member(MemberInput::new("c2", ["t"]).with_rack("r1"))
            .build()
            .unwrap();
        assert_eq!(
            named(&spec),
            vec![
                ("c0".into(), vec!["t-2".into()]),
                ("c1".into(), vec!["t-1".into()]),
                ("c2".into(), vec!["t-0".into()]),
            ]
        );
    }

    #[test]
    fn rack_aware_keeps_co_partitioned_topics_together() {
        let spec = GroupSpec::builder()
            .topic("a", 2)
            .topic("b", 2)
            .partition_racks("a", racks(&[&["r1"], &["r2"]]))
            .partition_racks("b", racks(&[&["r1"], &["r2"]]))
            .member(MemberInput::new("c0", ["a", "b"]).with_rack("r2"))
            .member(MemberInput::new("c1", ["a", "b"]).with_rack("r1"))
            .build()
            .unwrap();
        assert_eq!(
            named(&spec),
            vec![
                ("c0".into(), vec!["a-1".into(), "b-1".into()]),
                ("c1".into(), vec!["a-0".into(), "b-0".into()]),
            ]
        );
    }

    #[test]
    fn rack_aware_gives_up_matching_rather_than_balance() {
        // Every replica is in r1 but only one consumer is: it takes its quota, no more.
        let spec = GroupSpec::builder()
            .topic("t", 4)
            .partition_racks("t", racks(&[&["r1"], &["r1"], &["r1"], &["r1", "r2"]]))
            .member(MemberInput::new("c0", ["t"]).with_rack("r2"))
            .member(MemberInput::new("c1", ["t"]).with_rack("r1"))
            .build()
            .unwrap();
        // Rack phase: c0 (r2) takes t-3; c1 (r1) takes t-0, t-1. Ranges: c0 takes t-2.
        assert_eq!(
            named(&spec),
            vec![
                ("c0".into(), vec!["t-2".into(), "t-3".into()]),
                ("c1".into(), vec!["t-0".into(), "t-1".into()]),
            ]
        );
    }

    #[test]
    fn replicas_on_every_rack_give_the_classic_ranges() {
        let spec = GroupSpec::builder()
            .topic("t", 3)
            .partition_racks("t", racks(&[&["r1", "r2"], &["r2", "r1"], &["r1", "r2"]]))
            .member(MemberInput::new("c0", ["t"]).with_rack("r2"))
            .member(MemberInput::new("c1", ["t"]).with_rack("r1"))
            .build()
            .unwrap();
        assert_eq!(
            named(&spec),
            vec![
                ("c0".into(), vec!["t-0".into(), "t-1".into()]),
                ("c1".into(), vec!["t-2".into()])
            ]
        );
    }

    #[test]
    fn co_partitioned_topics_are_matched_together_even_if_one_needs_no_racks() {
        // `b` has replicas on every rack and would not be rack-aware alone; it shares its
        // consumers and partition count with `a`, so Kafka matches them together.
        let spec = GroupSpec::builder()
            .topic("a", 2)
            .topic("b", 2)
            .partition_racks("a", racks(&[&["r1"], &["r2"]]))
            .partition_racks("b", racks(&[&["r1", "r2"], &["r1", "r2"]]))
            .member(MemberInput::new("c0", ["a", "b"]).with_rack("r2"))
            .member(MemberInput::new("c1", ["a", "b"]).with_rack("r1"))
            .build()
            .unwrap();
        assert_eq!(
            named(&spec),
            vec![
                ("c0".into(), vec!["a-1".into(), "b-1".into()]),
                ("c1".into(), vec!["a-0".into(), "b-0".into()]),
            ]
        );
    }

    #[test]
    fn an_empty_rack_is_no_rack() {
        let spec = GroupSpec::builder()
            .topic("t", 2)
            .partition_racks("t", racks(&[&["r1"], &[""]]))
            .member(MemberInput::new("c0", ["t"]).with_rack(""))
            .member(MemberInput::new("c1", ["t"]).with_rack("r1"))
            .build()
            .unwrap();
        assert_eq!(spec.members[0].rack, None);
        // c0 (no rack) matches anything in the rack phase and takes t-0 first.
        assert_eq!(
            named(&spec),
            vec![
                ("c0".into(), vec!["t-0".into()]),
                ("c1".into(), vec!["t-1".into()])
            ]
        );
    }
}
