//! Kafka's `RangeAssignor`: each topic's partitions, in order, split into contiguous ranges over
//! the topic's subscribers.
//!
//! Subscribers are ordered as `MemberInfo` orders them (static members by group instance id
//! first, then the rest by member id). With P partitions and S subscribers the first P mod S
//! subscribers get ⌈P/S⌉ partitions and the others ⌊P/S⌋. The output is Kafka's exactly.
//! Rack-aware assignment (KIP-881) is in [`crate::range::rack`].

use crate::subs::Subscriptions;
use crate::{kafka_member_order, GroupSpec, Tp};

pub(crate) fn assign(spec: &GroupSpec) -> Vec<Vec<Tp>> {
    let order = kafka_member_order(spec);
    let subscriptions = Subscriptions::new(spec);
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
}
