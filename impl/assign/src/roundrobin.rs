//! Kafka's `RoundRobinAssignor`: every subscribed partition, in (topic, partition) order, dealt
//! to the members in turn.
//!
//! Members are ordered as `MemberInfo` orders them (static members by group instance id first,
//! then the rest by member id) and visited cyclically; a member that does not subscribe to a
//! partition's topic is skipped and does not lose its turn for the next partition. The output is
//! Kafka's exactly. Kafka scans the cycle member by member to find the next subscriber; here each
//! topic keeps its subscribers' positions in the cycle and a binary search finds the next one,
//! which gives the same member in O(log members) rather than O(members). Round-robin is not
//! rack-aware in Kafka (KIP-881 covers range and the sticky assignors), so racks are ignored.

use crate::subs::Subscriptions;
use crate::{kafka_member_order, GroupSpec, Tp};

pub(crate) fn assign(spec: &GroupSpec) -> Vec<Vec<Tp>> {
    let order = kafka_member_order(spec);
    let n = order.len();
    let mut out: Vec<Vec<Tp>> = vec![Vec::new(); spec.members.len()];
    if n == 0 {
        return out;
    }
    let subscriptions = Subscriptions::new(spec);
    let subscribed_partitions: usize = (0..spec.topics.len())
        .filter(|&t| subscriptions.anyone(t as u32))
        .map(|t| spec.topics[t].partitions as usize)
        .sum();
    for parts in &mut out {
        parts.reserve(subscribed_partitions / n + 1);
    }

    let mut cursor = 0usize; // position in the cycle of the member whose turn it is
    for (t, topic) in spec.topics.iter().enumerate() {
        if topic.partitions == 0 || !subscriptions.anyone(t as u32) {
            continue;
        }
        let everyone = subscriptions.everyone(t as u32);
        // The cycle positions (indices into `order`) of the topic's subscribers, ascending.
        let subs: Vec<u32> = if everyone {
            Vec::new()
        } else {
            (0..n as u32)
                .filter(|&pos| subscriptions.subscribes(order[pos as usize], t as u32))
                .collect()
        };
        for p in 0..topic.partitions {
            let pos = if everyone {
                cursor
            } else {
                // The first subscriber at or after the cursor, wrapping around the cycle.
                let i = subs.partition_point(|&s| (s as usize) < cursor);
                subs.get(i).copied().unwrap_or(subs[0]) as usize
            };
            out[order[pos] as usize].push(Tp::new(t as u32, p));
            cursor = if pos + 1 == n { 0 } else { pos + 1 };
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::{assign, GroupSpec, MemberInput, Strategy};

    fn named(spec: &GroupSpec) -> Vec<(String, Vec<String>)> {
        assign(Strategy::RoundRobin, spec)
            .named(spec)
            .into_iter()
            .map(|(m, ps)| (m.0, ps.iter().map(|p| p.to_string()).collect()))
            .collect()
    }

    #[test]
    fn deals_partitions_in_turn() {
        let spec = GroupSpec::builder()
            .topic("t1", 3)
            .topic("t2", 2)
            .member(MemberInput::new("c1", ["t1", "t2"]))
            .member(MemberInput::new("c0", ["t1", "t2"]))
            .build()
            .unwrap();
        assert_eq!(
            named(&spec),
            vec![
                ("c1".into(), vec!["t1-1".into(), "t2-0".into()]),
                (
                    "c0".into(),
                    vec!["t1-0".into(), "t1-2".into(), "t2-1".into()]
                ),
            ]
        );
    }

    #[test]
    fn skips_members_that_do_not_subscribe() {
        // Kafka's documented example: C0 subscribes t0; C1 t0,t1; C2 t0,t1,t2, each with as many
        // partitions as its index + 1.
        let spec = GroupSpec::builder()
            .topic("t0", 1)
            .topic("t1", 2)
            .topic("t2", 3)
            .member(MemberInput::new("C0", ["t0"]))
            .member(MemberInput::new("C1", ["t0", "t1"]))
            .member(MemberInput::new("C2", ["t0", "t1", "t2"]))
            .build()
            .unwrap();
        assert_eq!(
            named(&spec),
            vec![
                ("C0".into(), vec!["t0-0".into()]),
                ("C1".into(), vec!["t1-0".into()]),
                (
                    "C2".into(),
                    vec!["t1-1".into(), "t2-0".into(), "t2-1".into(), "t2-2".into()]
                ),
            ]
        );
    }

    #[test]
    fn static_members_come_first_by_instance_id() {
        let spec = GroupSpec::builder()
            .topic("t", 4)
            .member(MemberInput::new("a-dynamic", ["t"]))
            .member(MemberInput::new("z-static", ["t"]).with_instance_id("i1"))
            .member(MemberInput::new("b-static", ["t"]).with_instance_id("i2"))
            .build()
            .unwrap();
        assert_eq!(
            named(&spec),
            vec![
                ("a-dynamic".into(), vec!["t-2".into()]),
                ("z-static".into(), vec!["t-0".into(), "t-3".into()]),
                ("b-static".into(), vec!["t-1".into()]),
            ]
        );
    }
}
