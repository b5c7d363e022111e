//! Subscription classes: members grouped by identical subscriptions.
//!
//! Large groups are usually made of few distinct subscriptions (often one: every member
//! subscribes to every topic). Grouping members into classes lets the assignors answer "does
//! this member subscribe to that topic" with one bit test and "who subscribes to this topic" with
//! the whole member order when every class does, instead of building a list per topic, which at
//! 10,000 members × 1,000 topics would be ten million entries.

use crate::GroupSpec;
use std::borrow::Cow;
use std::collections::HashMap;

#[derive(Debug)]
pub(crate) struct Subscriptions {
    class_of: Vec<u32>,
    /// Per class, a bitmap over topic indices.
    bits: Vec<Vec<u64>>,
    /// Per topic, how many classes subscribe to it.
    classes_per_topic: Vec<u32>,
}

impl Subscriptions {
    pub(crate) fn new(spec: &GroupSpec) -> Subscriptions {
        let words = spec.topics.len().div_ceil(64);
        let mut by_ptr: HashMap<*const u32, u32> = HashMap::new();
        let mut by_content: HashMap<&[u32], u32> = HashMap::new();
        let mut class_of = Vec::with_capacity(spec.members.len());
        let mut bits: Vec<Vec<u64>> = Vec::new();
        let mut classes_per_topic = vec![0u32; spec.topics.len()];
        for m in &spec.members {
            let class = *by_ptr.entry(m.topics.as_ptr()).or_insert_with(|| {
                *by_content.entry(&m.topics).or_insert_with(|| {
                    let mut b = vec![0u64; words];
                    for &t in m.topics.iter() {
                        b[t as usize / 64] |= 1 << (t % 64);
                        classes_per_topic[t as usize] += 1;
                    }
                    bits.push(b);
                    (bits.len() - 1) as u32
                })
            });
            class_of.push(class);
        }
        Subscriptions {
            class_of,
            bits,
            classes_per_topic,
        }
    }

    /// Whether member `m` subscribes to topic `t`.
    #[inline]
    pub(crate) fn subscribes(&self, m: u32, t: u32) -> bool {
        self.bits[self.class_of[m as usize] as usize][t as usize / 64] & (1 << (t % 64)) != 0
    }

    /// Whether every member has the same subscription.
    pub(crate) fn all_equal(&self) -> bool {
        self.bits.len() <= 1
    }

    /// Whether every member subscribes to topic `t`.
    pub(crate) fn everyone(&self, t: u32) -> bool {
        !self.bits.is_empty() && self.classes_per_topic[t as usize] as usize == self.bits.len()
    }

    /// Whether anyone subscribes to topic `t`.
    pub(crate) fn anyone(&self, t: u32) -> bool {
        self.classes_per_topic[t as usize] > 0
    }

    /// The subscribers of topic `t`, in the order of `order`.
    pub(crate) fn subscribers<'a>(&self, t: u32, order: &'a [u32]) -> Cow<'a, [u32]> {
        if self.everyone(t) {
            Cow::Borrowed(order)
        } else if !self.anyone(t) {
            Cow::Borrowed(&[])
        } else {
            Cow::Owned(
                order
                    .iter()
                    .copied()
                    .filter(|&m| self.subscribes(m, t))
                    .collect(),
            )
        }
    }
}
