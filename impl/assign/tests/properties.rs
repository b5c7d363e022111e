//! Properties of every assignor, over random groups.
//!
//! Range and round-robin are held against a direct transcription of Kafka's algorithms (sort the
//! members, scan the cycle), so the fast versions must give Kafka's exact output. The sticky
//! assignors are held to Kafka's guarantees: validity, balance, stickiness, stability, and for
//! cooperative-sticky the hand-over rule.

use kgroup_assign::{assign, metrics, Assignment, GroupSpec, MemberInput, Strategy};
use proptest::prelude::{any, prop, prop_assert, prop_assert_eq, proptest, Just, ProptestConfig};
use proptest::strategy::Strategy as _;
use std::collections::{BTreeMap, BTreeSet};

/// A random group: topics, members with subscriptions, and optionally previous ownership.
#[derive(Debug, Clone)]
struct Group {
    topics: Vec<(String, i64)>,
    members: Vec<MemberInput>,
}

impl Group {
    fn spec(&self) -> GroupSpec {
        let mut b = GroupSpec::builder();
        for (t, n) in &self.topics {
            b = b.topic(t.clone(), *n);
        }
        for m in &self.members {
            b = b.member(m.clone());
        }
        b.build().expect("generated groups are valid")
    }
}

fn group(
    max_topics: usize,
    max_partitions: i64,
    max_members: usize,
    equal: bool,
    with_owned: bool,
) -> impl proptest::strategy::Strategy<Value = Group> {
    (1..=max_topics, 1..=max_members).prop_flat_map(move |(nt, nm)| {
        let topics = prop::collection::vec(0..=max_partitions, nt);
        let subs = prop::collection::vec(prop::collection::btree_set(0..nt, 1..=nt), nm);
        // Owned claims: (topic, partition (possibly out of range), generation) per member.
        let owned = prop::collection::vec(
            (
                prop::collection::vec((0..nt + 1, 0..max_partitions + 2), 0..6),
                0..4i32,
                any::<bool>(),
            ),
            nm,
        );
        (
            topics,
            subs,
            owned,
            prop::collection::vec(prop::option::of(0..3u8), nm),
        )
            .prop_map(move |(counts, subs, owned, instances)| {
                let topics: Vec<(String, i64)> = counts
                    .iter()
                    .enumerate()
                    .map(|(i, &n)| (format!("t{i}"), n))
                    .collect();
                let all: BTreeSet<usize> = (0..topics.len()).collect();
                let members = subs
                    .iter()
                    .zip(owned)
                    .zip(instances)
                    .enumerate()
                    .map(
                        |(i, ((sub, (claims, generation, has_generation)), instance))| {
                            let sub = if equal { &all } else { sub };
                            // Member ids in an order unrelated to their position.
                            let mut m = MemberInput::new(
                                format!("m{}", (i * 7) % 11),
                                sub.iter().map(|&t| format!("t{t}")),
                            );
                            // t{nt} does not exist: such claims must be dropped.
                            if with_owned {
                                m = m.owning(
                                    claims.into_iter().map(|(t, p)| (format!("t{t}"), p as i32)),
                                    generation,
                                );
                                if !has_generation {
                                    m.generation = None;
                                }
                            }
                            if let Some(k) = instance {
                                m = m.with_instance_id(format!("i{k}-{i}"));
                            }
                            m
                        },
                    )
                    .collect::<Vec<_>>();
                // Member ids must be unique: (i * 7) % 11 is for i < 11.
                Group { topics, members }
            })
    })
}

/// Kafka's member order (`MemberInfo.compareTo`).
fn kafka_sorted(spec: &GroupSpec) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..spec.members.len()).collect();
    idx.sort_by(|&a, &b| {
        let (a, b) = (&spec.members[a], &spec.members[b]);
        match (&a.instance_id, &b.instance_id) {
            (Some(x), Some(y)) => x.cmp(y).then(a.id.cmp(&b.id)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.id.cmp(&b.id),
        }
    });
    idx
}

fn subscribes(spec: &GroupSpec, m: usize, t: u32) -> bool {
    spec.members[m].topics.contains(&t)
}

/// Kafka's RangeAssignor, transcribed naively.
fn range_oracle(spec: &GroupSpec) -> BTreeMap<usize, Vec<(u32, u32)>> {
    let order = kafka_sorted(spec);
    let mut out: BTreeMap<usize, Vec<(u32, u32)>> =
        (0..spec.members.len()).map(|m| (m, vec![])).collect();
    for (t, topic) in spec.topics.iter().enumerate() {
        let subs: Vec<usize> = order
            .iter()
            .copied()
            .filter(|&m| subscribes(spec, m, t as u32))
            .collect();
        if subs.is_empty() {
            continue;
        }
        let per = topic.partitions as usize / subs.len();
        let extra = topic.partitions as usize % subs.len();
        for (i, &m) in subs.iter().enumerate() {
            let start = per * i + i.min(extra);
            let len = per + usize::from(i < extra);
            out.get_mut(&m)
                .unwrap()
                .extend((start..start + len).map(|p| (t as u32, p as u32)));
        }
    }
    out
}

/// Kafka's RoundRobinAssignor, transcribed naively (scan the cycle for the next subscriber).
fn roundrobin_oracle(spec: &GroupSpec) -> BTreeMap<usize, Vec<(u32, u32)>> {
    let order = kafka_sorted(spec);
    let mut out: BTreeMap<usize, Vec<(u32, u32)>> =
        (0..spec.members.len()).map(|m| (m, vec![])).collect();
    let mut cursor = 0;
    for (t, topic) in spec.topics.iter().enumerate() {
        if !order.iter().any(|&m| subscribes(spec, m, t as u32)) {
            continue;
        }
        for p in 0..topic.partitions {
            while !subscribes(spec, order[cursor % order.len()], t as u32) {
                cursor += 1;
            }
            out.get_mut(&order[cursor % order.len()])
                .unwrap()
                .push((t as u32, p));
            cursor += 1;
        }
    }
    out
}

fn as_map(a: &Assignment) -> BTreeMap<usize, Vec<(u32, u32)>> {
    a.members
        .iter()
        .enumerate()
        .map(|(m, ps)| (m, ps.iter().map(|tp| (tp.topic, tp.partition)).collect()))
        .collect()
}

/// The group of the next round: every member reports what `a` gave it, in generation `g`.
fn next_round(spec: &GroupSpec, a: &Assignment, g: i32) -> GroupSpec {
    let mut b = GroupSpec::builder();
    for t in &spec.topics {
        b = b.topic(t.name.clone(), i64::from(t.partitions));
    }
    for (m, parts) in spec.members.iter().zip(&a.members) {
        let mut input = MemberInput::new(
            m.id.as_str(),
            m.topics.iter().map(|&t| spec.topic_name(t).to_owned()),
        )
        .owning(
            parts
                .iter()
                .map(|tp| (spec.topic_name(tp.topic).to_owned(), tp.partition as i32)),
            g,
        );
        input.instance_id = m.instance_id.as_ref().map(|i| i.as_str().to_owned());
        b = b.member(input);
    }
    b.build().unwrap()
}

/// Named output: member id -> partitions.
fn by_id(spec: &GroupSpec, a: &Assignment) -> BTreeMap<String, Vec<String>> {
    a.named(spec)
        .into_iter()
        .map(|(m, ps)| (m.0, ps.iter().map(|p| p.to_string()).collect()))
        .collect()
}

/// 400 cases per property; 20,000 with `KGROUP_SLOW_TESTS=1`.
fn config() -> ProptestConfig {
    let cases = if std::env::var_os("KGROUP_SLOW_TESTS").is_some() {
        20_000
    } else {
        400
    };
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn range_is_kafkas_range(g in group(5, 12, 9, false, false)) {
        let spec = g.spec();
        prop_assert_eq!(as_map(&assign(Strategy::Range, &spec)), range_oracle(&spec));
    }

    #[test]
    fn roundrobin_is_kafkas_roundrobin(g in group(5, 12, 9, false, false)) {
        let spec = g.spec();
        prop_assert_eq!(as_map(&assign(Strategy::RoundRobin, &spec)), roundrobin_oracle(&spec));
    }

    #[test]
    fn every_subscribed_partition_is_assigned_once_to_a_subscriber(g in group(5, 15, 9, false, true)) {
        let spec = g.spec();
        for s in [Strategy::Range, Strategy::RoundRobin, Strategy::Sticky] {
            let a = assign(s, &spec);
            prop_assert_eq!(metrics::validate(&spec, &a), Ok(()), "{}", s);
        }
    }

    #[test]
    fn equal_subscriptions_balance_within_one(g in group(4, 20, 9, true, true)) {
        let spec = g.spec();
        for s in [Strategy::RoundRobin, Strategy::Sticky] {
            let (lo, hi) = metrics::spread(&assign(s, &spec));
            prop_assert!(hi - lo <= 1, "{}: spread {}..{}", s, lo, hi);
        }
    }

    #[test]
    fn sticky_is_balanced_as_kafka_defines_it(g in group(5, 15, 9, false, true)) {
        let spec = g.spec();
        let a = assign(Strategy::Sticky, &spec);
        prop_assert!(metrics::is_balanced(&spec, &a));
    }

    #[test]
    fn a_second_round_with_unchanged_members_moves_nothing(g in group(5, 15, 9, false, false)) {
        let spec = g.spec();
        for s in Strategy::ALL {
            let first = assign(s, &spec);
            let again = next_round(&spec, &first, 1);
            let second = assign(s, &again);
            prop_assert_eq!(&second, &first, "{}", s);
            prop_assert_eq!(metrics::moves(&again, &second), 0);
        }
    }

    #[test]
    fn sticky_keeps_what_balance_allows(g in group(4, 20, 9, true, true)) {
        // With equal subscriptions every member keeps at least min(valid previous, ⌊P/M⌋).
        let spec = g.spec();
        let a = assign(Strategy::Sticky, &spec);
        let total: usize = a.total();
        let min_quota = total / spec.members.len();
        let first = assign(Strategy::Sticky, &spec);
        let previous = next_round(&spec, &first, 5);
        // Take the assignment as previous ownership, perturb nothing: all kept.
        prop_assert_eq!(assign(Strategy::Sticky, &previous), first);
        for (m, parts) in a.members.iter().enumerate() {
            let member = &spec.members[m];
            let valid_previous: BTreeSet<_> = member.owned.iter().filter(|tp| spec.exists(**tp)).collect();
            let kept = parts.iter().filter(|tp| valid_previous.contains(tp)).count();
            // Only the newest generation's claims count, and claims tied within it cancel.
            let newest = spec.members.iter().map(|m| m.generation).max().unwrap();
            let contested = if member.generation < newest {
                valid_previous.len()
            } else {
                valid_previous.iter().filter(|tp| {
                    spec.members.iter().enumerate().any(|(o, other)| o != m && other.owned.contains(tp) && other.generation == newest)
                }).count()
            };
            prop_assert!(kept + contested >= valid_previous.len().min(min_quota), "member {} kept {} of {:?}", m, kept, valid_previous);
        }
    }

    #[test]
    fn cooperative_never_gives_a_partition_another_member_still_owns(g in group(5, 15, 9, false, true)) {
        let spec = g.spec();
        let coop = assign(Strategy::CooperativeSticky, &spec);
        let eager = assign(Strategy::Sticky, &spec);
        for (m, parts) in coop.members.iter().enumerate() {
            for tp in parts {
                for (o, other) in spec.members.iter().enumerate() {
                    prop_assert!(o == m || !other.owned.contains(tp), "{:?} given to {} while {} owns it", tp, m, o);
                }
            }
        }
        // Cooperative is sticky less the withheld partitions.
        for (m, (c, e)) in coop.members.iter().zip(&eager.members).enumerate() {
            let withheld: Vec<_> = e.iter().filter(|tp| !c.contains(tp)).collect();
            prop_assert!(c.iter().all(|tp| e.contains(tp)));
            for tp in withheld {
                prop_assert!(spec.members.iter().enumerate().any(|(o, other)| o != m && other.owned.contains(tp)));
            }
        }
    }

    #[test]
    fn cooperative_hands_over_in_the_follow_up_round(g in group(4, 12, 8, true, true)) {
        // Equal subscriptions: members revoke what they were not given and report the rest; the
        // follow-up round assigns every subscribed partition.
        let spec = g.spec();
        let first = assign(Strategy::CooperativeSticky, &spec);
        let second_spec = next_round(&spec, &first, 7);
        let second = assign(Strategy::CooperativeSticky, &second_spec);
        prop_assert_eq!(metrics::validate(&second_spec, &second), Ok(()));
    }

    #[test]
    fn cooperative_rounds_converge(g in group(4, 12, 8, false, true)) {
        // Any subscriptions: repeated rounds reach a complete assignment, then stay there.
        let mut spec = g.spec();
        let mut rounds = 0;
        loop {
            let a = assign(Strategy::CooperativeSticky, &spec);
            if metrics::validate(&spec, &a).is_ok() {
                let again = next_round(&spec, &a, 100 + rounds);
                prop_assert_eq!(assign(Strategy::CooperativeSticky, &again), a);
                break;
            }
            rounds += 1;
            prop_assert!(rounds <= 4, "no complete assignment after {} rounds", rounds);
            spec = next_round(&spec, &a, 10 + rounds);
        }
    }

    #[test]
    fn same_input_same_output_whatever_the_member_order(g in group(5, 15, 9, false, true), seed in any::<u64>()) {
        let spec = g.spec();
        let mut shuffled = g.clone();
        let n = shuffled.members.len();
        for i in (1..n).rev() {
            shuffled.members.swap(i, (seed as usize).wrapping_mul(i + 31) % (i + 1));
        }
        let other = shuffled.spec();
        for s in Strategy::ALL {
            prop_assert_eq!(assign(s, &spec), assign(s, &spec));
            prop_assert_eq!(by_id(&spec, &assign(s, &spec)), by_id(&other, &assign(s, &other)), "{}", s);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: config().cases / 20, ..config() })]

    #[test]
    fn larger_groups_with_unequal_subscriptions_stay_valid_and_balanced(g in group(30, 200, 11, false, true)) {
        let spec = g.spec();
        for s in Strategy::ALL {
            let a = assign(s, &spec);
            if s != Strategy::CooperativeSticky {
                prop_assert_eq!(metrics::validate(&spec, &a), Ok(()), "{}", s);
            }
            if matches!(s, Strategy::Sticky | Strategy::CooperativeSticky) {
                prop_assert!(metrics::is_balanced(&spec, &assign(Strategy::Sticky, &spec)));
            }
        }
    }
}

#[test]
fn only_the_newest_generation_keeps_its_claims_and_ties_cancel() {
    let spec = GroupSpec::builder()
        .topic("t", 6)
        .member(MemberInput::new("a", ["t"]).owning([("t", 0), ("t", 1)], 3))
        .member(MemberInput::new("b", ["t"]).owning([("t", 0), ("t", 2)], 5))
        .member(MemberInput::new("c", ["t"]).owning([("t", 2), ("t", 3)], 5))
        .build()
        .unwrap();
    let a = assign(Strategy::Sticky, &spec);
    metrics::validate(&spec, &a).unwrap();
    let named = by_id(&spec, &a);
    // Generation 5 is the newest: b keeps t-0, c keeps t-3; their tie on t-2 cancels; a (generation
    // 3) missed a rebalance, so even its uncontested t-1 carries no weight.
    assert!(named["b"].contains(&"t-0".to_owned()));
    assert!(named["c"].contains(&"t-3".to_owned()));
    // Two partitions had a valid previous owner, and both stayed.
    assert_eq!(metrics::moves(&spec, &a), 0);
    let stale_only = GroupSpec::builder()
        .topic("t", 2)
        .member(MemberInput::new("a", ["t"]).owning([("t", 1)], 3))
        .member(MemberInput::new("b", ["t"]).owning(Vec::<(String, i32)>::new(), 4))
        .build()
        .unwrap();
    // b's newer generation invalidates a's claim, though b claims nothing.
    assert_eq!(
        metrics::moves(&stale_only, &assign(Strategy::Sticky, &stale_only)),
        0
    );
    assert_eq!(
        by_id(&stale_only, &assign(Strategy::Sticky, &stale_only))["a"],
        vec!["t-0".to_owned()]
    );
    // Cooperative: t-2 is claimed by two members, so whoever gets it must wait a round; t-1 is
    // still claimed by a, so only a may be given it now.
    let coop = by_id(&spec, &assign(Strategy::CooperativeSticky, &spec));
    assert!(coop.values().all(|ps| !ps.contains(&"t-2".to_owned())));
    assert!(coop
        .iter()
        .all(|(m, ps)| m == "a" || !ps.contains(&"t-1".to_owned())));
}

#[test]
fn claims_on_partitions_that_no_longer_exist_or_are_unsubscribed_are_dropped() {
    let spec = GroupSpec::builder()
        .topic("t", 2)
        .topic("u", 2)
        .member(MemberInput::new("a", ["t"]).owning([("t", 5), ("u", 0), ("gone", 0)], 1))
        .member(MemberInput::new("b", ["t", "u"]))
        .build()
        .unwrap();
    for s in [Strategy::Sticky, Strategy::CooperativeSticky] {
        let a = assign(s, &spec);
        let named = by_id(&spec, &a);
        assert!(!named["a"].iter().any(|p| p.starts_with("u-")), "{s}");
        // u-0 is claimed by a, who no longer subscribes: cooperative withholds it from b.
        if s == Strategy::Sticky {
            metrics::validate(&spec, &a).unwrap();
        }
    }
}

/// A group whose members and partitions carry racks (KIP-881).
fn racked_group(
    equal: bool,
) -> impl proptest::strategy::Strategy<Value = (Group, Vec<Vec<Vec<String>>>)> {
    group(4, 12, 9, equal, true).prop_flat_map(|g| {
        let counts: Vec<usize> = g.topics.iter().map(|(_, n)| *n as usize).collect();
        let racks = counts
            .into_iter()
            .map(|n| prop::collection::vec(prop::collection::btree_set(0..3u8, 0..3), n))
            .collect::<Vec<_>>();
        let member_racks = prop::collection::vec(prop::option::of(0..4u8), g.members.len());
        (Just(g), racks, member_racks).prop_map(|(mut g, racks, member_racks)| {
            for (m, r) in g.members.iter_mut().zip(member_racks) {
                m.rack = r.map(|r| format!("r{r}"));
            }
            let racks = racks
                .into_iter()
                .map(|per_topic| {
                    per_topic
                        .into_iter()
                        .map(|set| set.into_iter().map(|r| format!("r{r}")).collect())
                        .collect()
                })
                .collect();
            (g, racks)
        })
    })
}

fn racked_spec(g: &Group, racks: &[Vec<Vec<String>>]) -> GroupSpec {
    let mut b = GroupSpec::builder();
    for ((t, n), r) in g.topics.iter().zip(racks) {
        b = b.topic(t.clone(), *n).partition_racks(t.clone(), r.clone());
    }
    for m in &g.members {
        b = b.member(m.clone());
    }
    b.build().unwrap()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn racks_never_cost_validity_or_balance((g, racks) in racked_group(false)) {
        let spec = racked_spec(&g, &racks);
        let range = assign(Strategy::Range, &spec);
        prop_assert_eq!(metrics::validate(&spec, &range), Ok(()));
        // Range keeps Kafka's per-topic quotas: a topic's subscribers differ by at most one.
        for t in 0..spec.topics.len() as u32 {
            let counts: Vec<usize> = spec.members.iter().enumerate()
                .filter(|(_, m)| m.topics.contains(&t))
                .map(|(i, _)| range.members[i].iter().filter(|tp| tp.topic == t).count())
                .collect();
            if let (Some(lo), Some(hi)) = (counts.iter().min(), counts.iter().max()) {
                prop_assert!(hi - lo <= 1, "topic {}: {:?}", t, counts);
            }
        }
        let sticky = assign(Strategy::Sticky, &spec);
        prop_assert_eq!(metrics::validate(&spec, &sticky), Ok(()));
        prop_assert!(metrics::is_balanced(&spec, &sticky));
    }

    #[test]
    fn racks_keep_every_strategy_stable((mut g, racks) in racked_group(true)) {
        // A settled group: the first round starts from no ownership.
        for m in &mut g.members {
            m.owned.clear();
        }
        let spec = racked_spec(&g, &racks);
        for s in Strategy::ALL {
            let first = assign(s, &spec);
            if s != Strategy::Range {
                let (lo, hi) = metrics::spread(&first);
                prop_assert!(hi - lo <= 1, "{}", s);
            }
            let mut round_two = g.clone();
            for (m, parts) in round_two.members.iter_mut().zip(&first.members) {
                m.owned = parts.iter().map(|tp| (spec.topic_name(tp.topic).to_owned(), tp.partition as i32)).collect();
                m.generation = Some(9);
            }
            prop_assert_eq!(assign(s, &racked_spec(&round_two, &racks)), first, "{}", s);
        }
    }

    #[test]
    fn racks_keep_sticky_stable_with_unequal_subscriptions((mut g, racks) in racked_group(false)) {
        for m in &mut g.members {
            m.owned.clear();
        }
        let spec = racked_spec(&g, &racks);
        let first = assign(Strategy::Sticky, &spec);
        prop_assert!(metrics::is_balanced(&spec, &first));
        let mut round_two = g.clone();
        for (m, parts) in round_two.members.iter_mut().zip(&first.members) {
            m.owned = parts.iter().map(|tp| (spec.topic_name(tp.topic).to_owned(), tp.partition as i32)).collect();
            m.generation = Some(9);
        }
        prop_assert_eq!(assign(Strategy::Sticky, &racked_spec(&round_two, &racks)), first);
    }
}
