//! The assignors' input: the group's topics and members, interned to small integers.
//!
//! A [`GroupSpec`] is what a consumer group leader knows when it assigns: the partition count (and,
//! for KIP-881, the replica racks) of every topic, and every member's subscription, owned
//! partitions, generation, rack and group instance id. Building one validates it; the assignors
//! then work on topic and member indices only, so a million-partition group costs no string
//! hashing inside the assignor call.
//!
//! Topics are kept sorted in Java string order, so that the natural order of [`Tp`] (topic index,
//! then partition) is the order Kafka sorts `TopicPartition`s in.

use crate::AssignError;
use kgroup_protocol::{java_string_cmp, GroupInstanceId, MemberId, TopicPartition};
use std::collections::HashMap;
use std::sync::Arc;

/// A partition as the assignors see it: the index of its topic in [`GroupSpec::topics`] and its
/// partition number. Ordered as Kafka orders topic partitions (topic name, then partition).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tp {
    /// Index into [`GroupSpec::topics`].
    pub topic: u32,
    /// The partition number.
    pub partition: u32,
}

impl Tp {
    /// A partition of the topic with index `topic`.
    pub const fn new(topic: u32, partition: u32) -> Tp {
        Tp { topic, partition }
    }
}

/// A topic the group can be assigned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// The topic's name.
    pub name: String,
    /// How many partitions it has.
    pub partitions: u32,
    /// For each partition, the racks that hold a replica of it (indices into
    /// [`GroupSpec::racks`], sorted, deduplicated); `None` when the topic's racks are unknown.
    pub partition_racks: Option<Vec<Vec<u32>>>,
}

/// A group member as the leader sees it in the JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSpec {
    /// The member id.
    pub id: MemberId,
    /// The static member's instance id (KIP-345).
    pub instance_id: Option<GroupInstanceId>,
    /// The member's rack (`client.rack`), an index into [`GroupSpec::racks`].
    pub rack: Option<u32>,
    /// The subscribed topics that exist, as sorted topic indices. Subscriptions to topics the
    /// group does not know are dropped: Kafka assigns nothing for them. Members that send the
    /// same subscription share one list, which lets the assignors treat them as one class.
    pub topics: Arc<[u32]>,
    /// The partitions the member reports it owns (subscription v1+, or the sticky user data),
    /// as sent: they may be stale, out of range, unsubscribed or claimed by others too. Claims on
    /// topics the group does not know are dropped when the spec is built.
    pub owned: Vec<Tp>,
    /// The generation in which the member owned them; -1 when unknown.
    pub generation: i32,
}

/// The whole input of an assignor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupSpec {
    /// The topics, sorted by name in Java string order.
    pub topics: Vec<TopicSpec>,
    /// The members, in the order they were added.
    pub members: Vec<MemberSpec>,
    /// Interned rack names.
    pub racks: Vec<String>,
}

/// A member as a caller describes it, with names rather than indices.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberInput {
    /// The member id.
    pub id: String,
    /// The static member's instance id.
    pub instance_id: Option<String>,
    /// The member's rack.
    pub rack: Option<String>,
    /// The subscribed topics.
    pub topics: Vec<String>,
    /// The owned partitions, as (topic, partition).
    pub owned: Vec<(String, i32)>,
    /// The generation of the owned partitions; `None` means unknown (-1).
    pub generation: Option<i32>,
}

impl MemberInput {
    /// A member subscribing to `topics`, owning nothing.
    pub fn new<S: Into<String>>(
        id: impl Into<String>,
        topics: impl IntoIterator<Item = S>,
    ) -> Self {
        MemberInput {
            id: id.into(),
            topics: topics.into_iter().map(Into::into).collect(),
            ..MemberInput::default()
        }
    }

    /// The same member, reporting `owned` partitions from `generation`.
    pub fn owning<S: Into<String>>(
        mut self,
        owned: impl IntoIterator<Item = (S, i32)>,
        generation: i32,
    ) -> Self {
        self.owned = owned.into_iter().map(|(t, p)| (t.into(), p)).collect();
        self.generation = Some(generation);
        self
    }

    /// The same member, static with `instance_id`.
    pub fn with_instance_id(mut self, instance_id: impl Into<String>) -> Self {
        self.instance_id = Some(instance_id.into());
        self
    }

    /// The same member, in `rack`.
    pub fn with_rack(mut self, rack: impl Into<String>) -> Self {
        self.rack = Some(rack.into());
        self
    }
}

/// Builds a [`GroupSpec`] from names, validating as it goes.
#[derive(Debug, Default)]
pub struct GroupSpecBuilder {
    topics: Vec<(String, i64)>,
    partition_racks: Vec<(String, Vec<Vec<String>>)>,
    members: Vec<MemberInput>,
}

impl GroupSpec {
    /// Starts a spec.
    pub fn builder() -> GroupSpecBuilder {
        GroupSpecBuilder::default()
    }

    /// The name of a topic index.
    pub fn topic_name(&self, topic: u32) -> &str {
        &self.topics[topic as usize].name
    }

    /// The named form of a partition.
    pub fn topic_partition(&self, tp: Tp) -> TopicPartition {
        TopicPartition::new(self.topic_name(tp.topic), tp.partition as i32)
    }

    /// The index of a topic by name.
    pub fn topic_index(&self, name: &str) -> Option<u32> {
        self.topics
            .binary_search_by(|t| java_string_cmp(&t.name, name))
            .ok()
            .map(|i| i as u32)
    }

    /// Whether `tp` names a partition that exists.
    pub fn exists(&self, tp: Tp) -> bool {
        self.topics
            .get(tp.topic as usize)
            .is_some_and(|t| tp.partition < t.partitions)
    }

    /// Offsets of each topic's first partition in a dense numbering of all partitions, with the
    /// total as the last element.
    pub(crate) fn partition_offsets(&self) -> Vec<usize> {
        let mut offsets = Vec::with_capacity(self.topics.len() + 1);
        let mut total = 0usize;
        for t in &self.topics {
            offsets.push(total);
            total += t.partitions as usize;
        }
        offsets.push(total);
        offsets
    }

    /// Whether any member and any partition carry rack information.
    pub fn has_racks(&self) -> bool {
        self.members.iter().any(|m| m.rack.is_some())
            && self.topics.iter().any(|t| t.partition_racks.is_some())
    }
}

impl GroupSpecBuilder {
    /// Adds a topic with `partitions` partitions.
    pub fn topic(mut self, name: impl Into<String>, partitions: i64) -> Self {
        self.topics.push((name.into(), partitions));
        self
    }

    /// Gives each partition of `topic` the racks holding its replicas.
    pub fn partition_racks(mut self, topic: impl Into<String>, racks: Vec<Vec<String>>) -> Self {
        self.partition_racks.push((topic.into(), racks));
        self
    }

    /// Adds a member.
    pub fn member(mut self, member: MemberInput) -> Self {
        self.members.push(member);
        self
    }

    /// Validates and interns the input.
    ///
    /// Errors: a topic listed twice or with a negative partition count, duplicate member ids, a
    /// negative owned partition number, and rack lists whose length is not the topic's
    /// partition count. Everything else Kafka accepts is accepted: subscriptions and owned
    /// partitions naming unknown topics are dropped, partition racks of unknown topics ignored.
    pub fn build(mut self) -> Result<GroupSpec, AssignError> {
        let members = std::mem::take(&mut self.members);
        self.build_with(&members)
    }

    /// Like [`GroupSpecBuilder::build`], with the members given here rather than through
    /// [`GroupSpecBuilder::member`]: any [`MemberView`], such as [`MemberRef`], whose names borrow
    /// from a parsed request so that a large group costs no string allocation per partition.
    pub fn build_with<M: MemberView>(self, extra_members: &[M]) -> Result<GroupSpec, AssignError> {
        if !self.members.is_empty() {
            let mut all: Vec<MemberRef<'_>> = self.members.iter().map(MemberRef::from).collect();
            all.extend(extra_members.iter().map(MemberRef::from_view));
            return self.clone_topics().build_with(&all);
        }
        let mut topics: Vec<TopicSpec> = Vec::with_capacity(self.topics.len());
        for (name, count) in self.topics {
            let partitions =
                u32::try_from(count).map_err(|_| AssignError::InvalidPartitionCount {
                    topic: name.clone(),
                    count,
                })?;
            topics.push(TopicSpec {
                name,
                partitions,
                partition_racks: None,
            });
        }
        topics.sort_by(|a, b| java_string_cmp(&a.name, &b.name));
        if let Some(w) = topics.windows(2).find(|w| w[0].name == w[1].name) {
            return Err(AssignError::DuplicateTopic(w[0].name.clone()));
        }
        let index: HashMap<&str, u32> = topics
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.as_str(), i as u32))
            .collect();

        let mut racks = RackInterner::default();
        let partition_racks = self.partition_racks;
        let mut racks_by_topic: Vec<Option<Vec<Vec<u32>>>> = vec![None; topics.len()];
        for (topic, lists) in &partition_racks {
            let Some(&t) = index.get(topic.as_str()) else {
                continue;
            };
            let expected = topics[t as usize].partitions as usize;
            if lists.len() != expected {
                return Err(AssignError::PartitionRacksLength {
                    topic: topic.clone(),
                    expected,
                    actual: lists.len(),
                });
            }
            let interned = lists
                .iter()
                .map(|list| {
                    let mut ids: Vec<u32> = list.iter().map(|r| racks.intern(r)).collect();
                    ids.sort_unstable();
                    ids.dedup();
                    ids
                })
                .collect();
            racks_by_topic[t as usize] = Some(interned);
        }

        let members = intern_members(extra_members, &index, &mut racks)?;
        drop(index);
        for (t, r) in topics.iter_mut().zip(racks_by_topic) {
            t.partition_racks = r;
        }
        Ok(GroupSpec {
            topics,
            members,
            racks: racks.names,
        })
    }
}

impl GroupSpecBuilder {
    fn clone_topics(&self) -> GroupSpecBuilder {
        GroupSpecBuilder {
            topics: self.topics.clone(),
            partition_racks: self.partition_racks.clone(),
            members: Vec::new(),
        }
    }
}

/// A member as the spec builder reads it.
pub trait MemberView {
    /// The member id.
    fn id(&self) -> &str;
    /// The group instance id, if static.
    fn instance_id(&self) -> Option<&str>;
    /// The rack, if known.
    fn rack(&self) -> Option<&str>;
    /// The subscribed topic names.
    fn topic_names(&self) -> &[impl AsRef<str>];
    /// The owned partitions as (topic name, partition).
    fn owned_partitions(&self) -> impl Iterator<Item = (&str, i32)>;
    /// The generation of the owned partitions.
    fn generation(&self) -> Option<i32>;
}

impl MemberView for MemberInput {
    fn id(&self) -> &str {
        &self.id
    }
    fn instance_id(&self) -> Option<&str> {
        self.instance_id.as_deref()
    }
    fn rack(&self) -> Option<&str> {
        self.rack.as_deref()
    }
    fn topic_names(&self) -> &[impl AsRef<str>] {
        &self.topics
    }
    fn owned_partitions(&self) -> impl Iterator<Item = (&str, i32)> {
        self.owned.iter().map(|(t, p)| (t.as_str(), *p))
    }
    fn generation(&self) -> Option<i32> {
        self.generation
    }
}

/// A member whose names borrow from elsewhere (a parsed request).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberRef<'a> {
    /// The member id.
    pub id: &'a str,
    /// The static member's instance id.
    pub instance_id: Option<&'a str>,
    /// The member's rack.
    pub rack: Option<&'a str>,
    /// The subscribed topics.
    pub topics: Vec<&'a str>,
    /// The owned partitions, as (topic, partition).
    pub owned: Vec<(&'a str, i32)>,
    /// The generation of the owned partitions; `None` means unknown (-1).
    pub generation: Option<i32>,
}

impl<'a> MemberRef<'a> {
    fn from_view<M: MemberView>(m: &'a M) -> Self {
        MemberRef {
            id: m.id(),
            instance_id: m.instance_id(),
            rack: m.rack(),
            topics: m.topic_names().iter().map(AsRef::as_ref).collect(),
            owned: m.owned_partitions().collect(),
            generation: m.generation(),
        }
    }
}

impl<'a> From<&'a MemberInput> for MemberRef<'a> {
    fn from(m: &'a MemberInput) -> Self {
        MemberRef::from_view(m)
    }
}

impl MemberView for MemberRef<'_> {
    fn id(&self) -> &str {
        self.id
    }
    fn instance_id(&self) -> Option<&str> {
        self.instance_id
    }
    fn rack(&self) -> Option<&str> {
        self.rack
    }
    fn topic_names(&self) -> &[impl AsRef<str>] {
        &self.topics
    }
    fn owned_partitions(&self) -> impl Iterator<Item = (&str, i32)> {
        self.owned.iter().copied()
    }
    fn generation(&self) -> Option<i32> {
        self.generation
    }
}

/// Validates members and resolves their names to indices.
fn intern_members<M: MemberView>(
    input: &[M],
    index: &HashMap<&str, u32>,
    racks: &mut RackInterner,
) -> Result<Vec<MemberSpec>, AssignError> {
    let mut seen_ids: HashMap<&str, usize> = HashMap::with_capacity(input.len());
    for (i, m) in input.iter().enumerate() {
        if seen_ids.insert(m.id(), i).is_some() {
            return Err(AssignError::DuplicateMember(m.id().to_owned()));
        }
    }
    drop(seen_ids);

    // Members often share one subscription: each distinct list of names is resolved once, and
    // a member whose list matches the previous member's reuses it without hashing.
    let mut subscriptions: HashMap<Vec<&str>, Arc<[u32]>> = HashMap::new();
    let mut members: Vec<MemberSpec> = Vec::with_capacity(input.len());
    for (i, m) in input.iter().enumerate() {
        let names = m.topic_names();
        let same_as_previous = i > 0 && {
            let prev = input[i - 1].topic_names();
            prev.len() == names.len()
                && prev
                    .iter()
                    .zip(names)
                    .all(|(a, b)| a.as_ref() == b.as_ref())
        };
        let topics_of_member = if same_as_previous {
            members[i - 1].topics.clone()
        } else {
            let key: Vec<&str> = names.iter().map(AsRef::as_ref).collect();
            subscriptions
                .entry(key)
                .or_insert_with_key(|key| {
                    let mut ids: Vec<u32> =
                        key.iter().filter_map(|t| index.get(t).copied()).collect();
                    ids.sort_unstable();
                    ids.dedup();
                    Arc::from(ids)
                })
                .clone()
        };
        let mut owned = Vec::new();
        for (j, (topic, partition)) in m.owned_partitions().enumerate() {
            let partition =
                u32::try_from(partition).map_err(|_| AssignError::InvalidOwnedPartition {
                    member: i,
                    index: j,
                    partition,
                })?;
            if let Some(&t) = index.get(topic) {
                owned.push(Tp::new(t, partition));
            }
        }
        members.push(MemberSpec {
            id: MemberId::from(m.id()),
            instance_id: m.instance_id().map(GroupInstanceId::from),
            // Kafka's assignors treat an empty `client.rack` as none.
            rack: m.rack().filter(|r| !r.is_empty()).map(|r| racks.intern(r)),
            topics: topics_of_member,
            owned,
            generation: m.generation().unwrap_or(-1),
        });
    }
    Ok(members)
}

#[derive(Default)]
struct RackInterner {
    names: Vec<String>,
    ids: HashMap<String, u32>,
}

impl RackInterner {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.ids.insert(name.to_owned(), id);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_sorted_and_interned() {
        let spec = GroupSpec::builder()
            .topic("b", 2)
            .topic("a", 1)
            .member(
                MemberInput::new("c1", ["b", "missing", "a", "b"])
                    .owning([("a", 0), ("gone", 3)], 4),
            )
            .build()
            .unwrap();
        assert_eq!(spec.topic_name(0), "a");
        assert_eq!(spec.topic_name(1), "b");
        assert_eq!(&*spec.members[0].topics, &[0, 1]);
        assert_eq!(spec.members[0].owned, vec![Tp::new(0, 0)]);
        assert_eq!(spec.members[0].generation, 4);
        assert_eq!(spec.topic_index("b"), Some(1));
        assert_eq!(spec.topic_index("c"), None);
    }

    #[test]
    fn members_added_both_ways_are_all_kept() {
        let borrowed = [MemberRef {
            id: "b",
            topics: vec!["t"],
            owned: vec![("t", 0)],
            generation: Some(2),
            ..MemberRef::default()
        }];
        let spec = GroupSpec::builder()
            .topic("t", 1)
            .member(MemberInput::new("a", ["t"]))
            .build_with(&borrowed)
            .unwrap();
        let ids: Vec<&str> = spec.members.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(spec.members[1].owned, vec![Tp::new(0, 0)]);
        assert_eq!(spec.members[1].generation, 2);
    }

    #[test]
    fn malformed_input_is_a_typed_error() {
        let dup = GroupSpec::builder()
            .member(MemberInput::new("c1", ["t"]))
            .member(MemberInput::new("c1", ["t"]))
            .build();
        assert_eq!(dup, Err(AssignError::DuplicateMember("c1".into())));
        let neg = GroupSpec::builder().topic("t", -1).build();
        assert_eq!(
            neg,
            Err(AssignError::InvalidPartitionCount {
                topic: "t".into(),
                count: -1
            })
        );
        let twice = GroupSpec::builder().topic("t", 1).topic("t", 2).build();
        assert_eq!(twice, Err(AssignError::DuplicateTopic("t".into())));
        let racks = GroupSpec::builder()
            .topic("t", 2)
            .partition_racks("t", vec![vec!["r".into()]])
            .build();
        assert_eq!(
            racks,
            Err(AssignError::PartitionRacksLength {
                topic: "t".into(),
                expected: 2,
                actual: 1
            })
        );
        let owned = GroupSpec::builder()
            .topic("t", 2)
            .member(MemberInput::new("c1", ["t"]).owning([("t", -3)], 1))
            .build();
        assert_eq!(
            owned,
            Err(AssignError::InvalidOwnedPartition {
                member: 0,
                index: 0,
                partition: -3
            })
        );
    }
}
