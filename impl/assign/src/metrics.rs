//! Checks and measures of an assignment: whether it is valid, whether it is balanced as Kafka
//! defines balance, how many partitions changed owner, and the spread of member counts.
//!
//! The property tests state the assignors' guarantees with these functions, and `kgroup bench`
//! reports them next to the timings.

use crate::ownership::{previous_owners, Dense, NONE};
use crate::subs::Subscriptions;
use crate::{Assignment, GroupSpec, Tp};

/// Checks that every partition of every topic some member subscribes to is assigned exactly once,
/// and only to a subscriber of its topic. Returns the first violation found.
pub fn validate(spec: &GroupSpec, assignment: &Assignment) -> Result<(), String> {
    if assignment.members.len() != spec.members.len() {
        return Err(format!(
            "assignment has {} members, the group {}",
            assignment.members.len(),
            spec.members.len()
        ));
    }
    let dense = Dense::new(spec);
    let subs = Subscriptions::new(spec);
    let mut owner = vec![NONE; dense.len()];
    for (m, parts) in assignment.members.iter().enumerate() {
        for &tp in parts {
            let name = || spec.topic_partition(tp);
            if !spec.exists(tp) {
                return Err(format!(
                    "member {} is given {:?}, which does not exist",
                    spec.members[m].id, tp
                ));
            }
            if !subs.subscribes(m as u32, tp.topic) {
                return Err(format!(
                    "member {} is given {} but does not subscribe to its topic",
                    spec.members[m].id,
                    name()
                ));
            }
            let o = &mut owner[dense.index(tp)];
            if *o != NONE {
                return Err(format!(
                    "{} is given to both {} and {}",
                    name(),
                    spec.members[*o as usize].id,
                    spec.members[m].id
                ));
            }
            *o = m as u32;
        }
    }
    let mut subscribed = vec![false; spec.topics.len()];
    for m in &spec.members {
        for &t in m.topics.iter() {
            subscribed[t as usize] = true;
        }
    }
    for (t, topic) in spec.topics.iter().enumerate() {
        if !subscribed[t] {
            continue;
        }
        for p in 0..topic.partitions {
            if owner[dense.index(Tp::new(t as u32, p))] == NONE {
                return Err(format!(
                    "{}-{} is subscribed but assigned to nobody",
                    topic.name, p
                ));
            }
        }
    }
    Ok(())
}

/// Kafka's balance criterion (`AbstractStickyAssignor.isBalanced`): no partition could move from
/// its owner to another subscriber of its topic that holds at least two fewer partitions.
pub fn is_balanced(spec: &GroupSpec, assignment: &Assignment) -> bool {
    let count: Vec<usize> = assignment.members.iter().map(Vec::len).collect();
    let mut min_subscriber = vec![usize::MAX; spec.topics.len()];
    for (m, member) in spec.members.iter().enumerate() {
        for &t in member.topics.iter() {
            min_subscriber[t as usize] = min_subscriber[t as usize].min(count[m]);
        }
    }
    assignment.members.iter().enumerate().all(|(m, parts)| {
        parts
            .iter()
            .all(|tp| count[m] < min_subscriber[tp.topic as usize].saturating_add(2))
    })
}

/// The smallest and largest number of partitions a member holds (0, 0 for an empty group).
pub fn spread(assignment: &Assignment) -> (usize, usize) {
    let counts = assignment.members.iter().map(Vec::len);
    (counts.clone().min().unwrap_or(0), counts.max().unwrap_or(0))
}

/// How many partitions that had a valid previous owner (see the sticky assignors' ownership
/// rules) are assigned to a different member, or withheld.
pub fn moves(spec: &GroupSpec, assignment: &Assignment) -> usize {
    let dense = Dense::new(spec);
    let previous = previous_owners(spec, &Subscriptions::new(spec), &dense);
    let mut kept = 0usize;
    for (m, parts) in assignment.members.iter().enumerate() {
        kept += parts
            .iter()
            .filter(|&&tp| spec.exists(tp) && previous[dense.index(tp)] == m as u32)
            .count();
    }
    previous.iter().filter(|&&o| o != NONE).count() - kept
}
