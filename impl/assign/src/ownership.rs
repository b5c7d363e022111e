//! Previous ownership, as the sticky assignors derive it from what members report.
//!
//! Members report the partitions they own together with the generation they owned them in
//! (subscription v1+/v2+, or the sticky user data). Reports can be stale (a member that missed a
//! rebalance), conflicting (two members claiming one partition) or out of date with the topics
//! (a partition that no longer exists, a topic no longer subscribed). Kafka's rules
//! (`AbstractStickyAssignor.allSubscriptionsEqual`, which both of its paths use), applied here:
//!
//! - only members of the highest generation present keep their claims: a member of an older
//!   generation missed at least one rebalance, so nothing it reports can be trusted, whether or
//!   not another member claims the same partition (an absent generation counts as -1);
//! - a claim counts only if the partition exists and the member still subscribes to its topic;
//! - several claims on one partition within that generation cancel: nobody previously owned it.
//!
//! Partitions are numbered densely (topic by topic) so that the tables here are flat arrays.

use crate::subs::Subscriptions;
use crate::{GroupSpec, Tp};

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
pub(crate) fn previous_owners(spec: &GroupSpec, subs: &Subscriptions, dense: &Dense) -> Vec<u32> {
    let mut owner = vec![NONE; dense.len()];
    let Some(newest) = spec.members.iter().map(|m| m.generation).max() else {
        return owner;
    };
    let mut cancelled = Vec::new();
    for (m, member) in spec.members.iter().enumerate() {
        if member.generation != newest {
            continue;
        }
        let m = m as u32;
        for &tp in &member.owned {
            if !spec.exists(tp) || !subs.subscribes(m, tp.topic) {
                continue;
            }
            let i = dense.index(tp);
            match owner[i] {
                NONE => owner[i] = m,
                MANY => {}
                other if other == m => {} // listed twice by the same member
                _ => {
                    owner[i] = MANY;
                    cancelled.push(i);
                }
            }
        }
    }
    for i in cancelled {
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
