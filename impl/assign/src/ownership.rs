//! Previous ownership, as the sticky assignors derive it from what members report.
//!
//! Members report the partitions they own together with the generation they owned them in
//! (subscription v1+/v2+, or the sticky user data). Reports can be stale (a member that missed a
//! rebalance), conflicting (two members claiming one partition) or out of date with the topics
//! (a partition that no longer exists, a topic no longer subscribed). Kafka's rules, applied here:
//!
//! - a claim counts only if the partition exists and the member still subscribes to its topic;
//! - of several claims on one partition, the one with the highest generation wins;
//! - several claims at that highest generation cancel: nobody previously owned the partition.
//!
//! Partitions are numbered densely (topic by topic) so that the tables here are flat arrays.

use crate::subs::Subscriptions;
use crate::{GroupSpec, Tp};
use std::collections::HashMap;

/// No member.
pub(crate) const NONE: u32 = u32::MAX;
/// More than one member.
pub(crate) const MANY: u32 = u32::MAX - 1;

/// Dense numbering of every partition of every topic.
#[derive(Debug)]
pub(crate) struct Dense {
    offsets: Vec<usize>,
}

impl Dense {
    pub(crate) fn new(spec: &GroupSpec) -> Dense {
        Dense {
            offsets: spec.partition_offsets(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        *self.offsets.last().expect("offsets end with the total")
    }

    pub(crate) fn index(&self, tp: Tp) -> usize {
        self.offsets[tp.topic as usize] + tp.partition as usize
    }

    /// The dense indices of a topic's partitions.
    pub(crate) fn range(&self, topic: u32) -> std::ops::Range<usize> {
        self.offsets[topic as usize]..self.offsets[topic as usize + 1]
    }
}

/// The valid previous owner of every partition ([`NONE`] where there is none).
///
/// A member's claims all share its generation, so the table keeps only the owner; the few
/// partitions with cancelled claims keep their generation aside, since a later claim with a
/// higher generation still wins them.
pub(crate) fn previous_owners(spec: &GroupSpec, subs: &Subscriptions, dense: &Dense) -> Vec<u32> {
    let mut owner = vec![NONE; dense.len()];
    let mut cancelled: HashMap<usize, i32> = HashMap::new();
    for (m, member) in spec.members.iter().enumerate() {
        let m = m as u32;
        let g = member.generation;
        for &tp in &member.owned {
            if !spec.exists(tp) || !subs.subscribes(m, tp.topic) {
                continue;
            }
            let i = dense.index(tp);
            match owner[i] {
                NONE => owner[i] = m,
                MANY => {
                    if g > cancelled[&i] {
                        owner[i] = m;
                        cancelled.remove(&i);
                    }
                }
                other if other == m => {} // listed twice by the same member
                other => {
                    let other_generation = spec.members[other as usize].generation;
                    if g > other_generation {
                        owner[i] = m;
                    } else if g == other_generation {
                        owner[i] = MANY;
                        cancelled.insert(i, g);
                    }
                }
            }
        }
    }
    for i in cancelled.into_keys() {
        owner[i] = NONE;
    }
    owner
}

/// Who claims each partition at all, whatever the generation: [`NONE`], one member, or [`MANY`].
/// The cooperative protocol must not hand a partition to a member while anyone else may still
/// hold it, and a member holds what it reports, valid claim or not.
pub(crate) fn claimants(spec: &GroupSpec, dense: &Dense) -> Vec<u32> {
    let mut claimed = vec![NONE; dense.len()];
    for (m, member) in spec.members.iter().enumerate() {
        let m = m as u32;
        for &tp in &member.owned {
            if !spec.exists(tp) {
                continue;
            }
            let c = &mut claimed[dense.index(tp)];
            if *c == NONE {
                *c = m;
            } else if *c != m {
                *c = MANY;
            }
        }
    }
    claimed
}
