//! The embedded consumer protocol: what consumers put in JoinGroup and SyncGroup.
//!
//! - ConsumerProtocolSubscription v0–v3 (topics, user data; owned partitions from v1, KIP-429;
//!   generation from v2; rack from v3, KIP-881) and ConsumerProtocolAssignment v0–v3, each
//!   preceded by an int16 version as Kafka's `ConsumerProtocol` writes it. The message bodies are
//!   the `kafka-protocol` crate's types; the version prefix and the handling of versions are ours.
//!   As Kafka does, a version newer than v3 is read as v3 (newer versions only append fields) and
//!   trailing bytes are ignored.
//! - The `sticky` assignor's user data (v0: the previous assignment; v1: plus the generation),
//!   with no version prefix: Kafka tries v1 and falls back to v0.
//! - The `cooperative-sticky` assignor's user data: the generation as an int32.
//!
//! Truncated or inconsistent bytes are a [`CodecError`], never a panic: lengths are checked
//! against the bytes that remain before anything is allocated.

use crate::{MemberInput, Strategy};
use bytes::Bytes;
use kafka_protocol::messages::consumer_protocol_assignment::{
    ConsumerProtocolAssignment, TopicPartition as AssignedTopic,
};
use kafka_protocol::messages::consumer_protocol_subscription::{
    ConsumerProtocolSubscription, TopicPartition as OwnedTopic,
};
use kafka_protocol::messages::TopicName;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use kgroup_protocol::TopicPartition;

/// The highest consumer protocol version this codec writes and reads.
pub const HIGHEST_VERSION: i16 = 3;

/// Malformed embedded-protocol bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The input ends before the message does.
    #[error("truncated {what}: {detail}")]
    Truncated {
        /// Which message.
        what: &'static str,
        /// Where it ended.
        detail: String,
    },
    /// The version prefix is negative.
    #[error("unsupported {what} version {version}")]
    UnsupportedVersion {
        /// Which message.
        what: &'static str,
        /// The version read.
        version: i16,
    },
    /// The bytes are not a valid message (a negative length, bad UTF-8, ...).
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// Which message.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
}

/// A member's subscription, as carried in JoinGroup's protocol metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscription {
    /// The subscribed topics.
    pub topics: Vec<String>,
    /// The assignor's user data.
    pub user_data: Option<Vec<u8>>,
    /// The partitions the member owns (v1+).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation the member last joined (v2+), -1 if unknown.
    pub generation_id: i32,
    /// The member's rack (v3+).
    pub rack_id: Option<String>,
}

/// A member's assignment, as carried in SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AssignmentMessage {
    /// The assigned partitions.
    pub partitions: Vec<TopicPartition>,
    /// The assignor's user data.
    pub user_data: Option<Vec<u8>>,
}

/// The `sticky` assignor's user data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StickyUserData {
    /// The member's previous assignment.
    pub previous_assignment: Vec<TopicPartition>,
    /// The generation of that assignment (present in v1).
    pub generation: Option<i32>,
}

fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// Groups partitions by topic, topics in order of first appearance, as Kafka's
/// `ConsumerProtocol` does when it serializes.
fn by_topic(partitions: &[TopicPartition]) -> Vec<(&str, Vec<i32>)> {
    let mut groups: Vec<(&str, Vec<i32>)> = Vec::new();
    for tp in partitions {
        match groups.iter_mut().find(|(t, _)| *t == tp.topic) {
            Some((_, ps)) => ps.push(tp.partition),
            None => groups.push((&tp.topic, vec![tp.partition])),
        }
    }
    groups
}

fn check_version(what: &'static str, version: i16) -> Result<i16, CodecError> {
    if version < 0 {
        return Err(CodecError::UnsupportedVersion { what, version });
    }
    Ok(version.min(HIGHEST_VERSION))
}

/// Encodes a subscription at `version` (0..=3), with its version prefix.
pub fn encode_subscription(
    subscription: &Subscription,
    version: i16,
) -> Result<Vec<u8>, CodecError> {
    let mut message = ConsumerProtocolSubscription::default();
    message.topics = subscription.topics.iter().map(|t| str_bytes(t)).collect();
    message.user_data = subscription.user_data.clone().map(Bytes::from);
    message.owned_partitions = by_topic(&subscription.owned_partitions)
        .into_iter()
        .map(|(topic, partitions)| {
            let mut t = OwnedTopic::default();
            t.topic = TopicName(str_bytes(topic));
            t.partitions = partitions;
            t
        })
        .collect();
    message.generation_id = subscription.generation_id;
    message.rack_id = subscription.rack_id.as_deref().map(str_bytes);
    with_version_prefix("subscription", &message, version)
}

/// Writes the int16 version Kafka's `ConsumerProtocol` puts before the message, then the message.
fn with_version_prefix(
    what: &'static str,
    message: &impl Encodable,
    version: i16,
) -> Result<Vec<u8>, CodecError> {
    if !(0..=HIGHEST_VERSION).contains(&version) {
        return Err(CodecError::UnsupportedVersion { what, version });
    }
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&version.to_be_bytes());
    message
        .encode(&mut out, version)
        .map_err(|e| CodecError::Malformed {
            what,
            detail: e.to_string(),
        })?;
    Ok(out)
}

/// Decodes a subscription with its version prefix; returns the version it was written at.
pub fn decode_subscription(bytes: &[u8]) -> Result<(i16, Subscription), CodecError> {
    const WHAT: &str = "subscription";
    let mut walk = Walk::new(WHAT, bytes);
    let written = walk.i16()?;
    let version = check_version(WHAT, written)?;
    // Check every length against what remains before the decoder allocates for it.
    walk.array(|w| w.string())?;
    walk.bytes()?;
    if version >= 1 {
        walk.array(|w| {
            w.string()?;
            w.array(|w| w.i32())
        })?;
    }
    if version >= 2 {
        walk.i32()?;
    }
    if version >= 3 {
        walk.string()?;
    }
    let mut body = &bytes[2..];
    let message = ConsumerProtocolSubscription::decode(&mut body, version).map_err(|e| {
        CodecError::Malformed {
            what: WHAT,
            detail: e.to_string(),
        }
    })?;
    let subscription = Subscription {
        topics: message.topics.iter().map(|t| t.to_string()).collect(),
        user_data: message.user_data.map(|b| b.to_vec()),
        owned_partitions: message
            .owned_partitions
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(|&p| TopicPartition::new(t.topic.0.to_string(), p))
            })
            .collect(),
        generation_id: message.generation_id,
        rack_id: message.rack_id.map(|r| r.to_string()),
    };
    Ok((written, subscription))
}

/// Encodes an assignment at `version` (0..=3), with its version prefix.
pub fn encode_assignment(
    assignment: &AssignmentMessage,
    version: i16,
) -> Result<Vec<u8>, CodecError> {
    let mut message = ConsumerProtocolAssignment::default();
    message.assigned_partitions = by_topic(&assignment.partitions)
        .into_iter()
        .map(|(topic, partitions)| {
            let mut t = AssignedTopic::default();
            t.topic = TopicName(str_bytes(topic));
            t.partitions = partitions;
            t
        })
        .collect();
    message.user_data = assignment.user_data.clone().map(Bytes::from);
    with_version_prefix("assignment", &message, version)
}

/// Decodes an assignment with its version prefix; returns the version it was written at.
pub fn decode_assignment(bytes: &[u8]) -> Result<(i16, AssignmentMessage), CodecError> {
    const WHAT: &str = "assignment";
    let mut walk = Walk::new(WHAT, bytes);
    let written = walk.i16()?;
    let version = check_version(WHAT, written)?;
    walk.array(|w| {
        w.string()?;
        w.array(|w| w.i32())
    })?;
    walk.bytes()?;
    let mut body = &bytes[2..];
    let message = ConsumerProtocolAssignment::decode(&mut body, version).map_err(|e| {
        CodecError::Malformed {
            what: WHAT,
            detail: e.to_string(),
        }
    })?;
    Ok((
        written,
        AssignmentMessage {
            partitions: message
                .assigned_partitions
                .iter()
                .flat_map(|t| {
                    t.partitions
                        .iter()
                        .map(|&p| TopicPartition::new(t.topic.0.to_string(), p))
                })
                .collect(),
            user_data: message.user_data.map(|b| b.to_vec()),
        },
    ))
}

/// Encodes the `sticky` assignor's user data: v1 when a generation is given, else v0.
pub fn encode_sticky_user_data(data: &StickyUserData) -> Vec<u8> {
    let groups = by_topic(&data.previous_assignment);
    let mut out = Vec::new();
    out.extend_from_slice(&(groups.len() as i32).to_be_bytes());
    for (topic, partitions) in groups {
        out.extend_from_slice(&(topic.len() as i16).to_be_bytes());
        out.extend_from_slice(topic.as_bytes());
        out.extend_from_slice(&(partitions.len() as i32).to_be_bytes());
        for p in partitions {
            out.extend_from_slice(&p.to_be_bytes());
        }
    }
    if let Some(g) = data.generation {
        out.extend_from_slice(&g.to_be_bytes());
    }
    out
}

/// Decodes the `sticky` assignor's user data, v1 (with generation) or v0.
pub fn decode_sticky_user_data(bytes: &[u8]) -> Result<StickyUserData, CodecError> {
    let mut walk = Walk::new("sticky user data", bytes);
    let mut previous_assignment = Vec::new();
    let topics = walk.length()?;
    for _ in 0..topics {
        let topic = walk
            .string()?
            .ok_or_else(|| walk.malformed("null topic name"))?;
        let count = walk.length()?;
        for _ in 0..count {
            previous_assignment.push(TopicPartition::new(topic.clone(), walk.i32()?));
        }
    }
    // v1 appends the generation; v0 ends here.
    let generation = if walk.remaining() >= 4 {
        Some(walk.i32()?)
    } else {
        None
    };
    Ok(StickyUserData {
        previous_assignment,
        generation,
    })
}

/// Encodes the `cooperative-sticky` assignor's user data: the generation.
pub fn encode_cooperative_user_data(generation: i32) -> Vec<u8> {
    generation.to_be_bytes().to_vec()
}

/// Decodes the `cooperative-sticky` assignor's user data.
pub fn decode_cooperative_user_data(bytes: &[u8]) -> Result<i32, CodecError> {
    Walk::new("cooperative-sticky user data", bytes).i32()
}

/// What an assignor of `strategy` learns about a member from its subscription, as Kafka's
/// assignors read it: `sticky` takes previous ownership and generation from its user data (an
/// eager member has revoked everything before it joins, so its owned partitions are empty);
/// `cooperative-sticky` takes owned partitions from the subscription and the generation from the
/// subscription (v2+) or else its user data; range and round-robin ignore ownership.
pub fn member_input(
    member_id: &str,
    instance_id: Option<&str>,
    strategy: Strategy,
    subscription: &Subscription,
) -> MemberInput {
    let (owned, generation) = match strategy {
        Strategy::Range | Strategy::RoundRobin => (Vec::new(), None),
        Strategy::Sticky => match subscription
            .user_data
            .as_deref()
            .map(decode_sticky_user_data)
        {
            Some(Ok(data)) => (data.previous_assignment, data.generation),
            // Kafka treats missing or unreadable sticky user data as no previous assignment.
            Some(Err(_)) | None => (Vec::new(), None),
        },
        Strategy::CooperativeSticky => {
            let generation = if subscription.generation_id >= 0 {
                Some(subscription.generation_id)
            } else {
                subscription
                    .user_data
                    .as_deref()
                    .and_then(|d| decode_cooperative_user_data(d).ok())
            };
            (subscription.owned_partitions.clone(), generation)
        }
    };
    MemberInput {
        id: member_id.to_owned(),
        instance_id: instance_id.map(str::to_owned),
        rack: subscription.rack_id.clone(),
        topics: subscription.topics.clone(),
        owned: owned
            .into_iter()
            .map(|tp| (tp.topic, tp.partition))
            .collect(),
        generation,
    }
}

/// A bounds-checked reader over Kafka's classic (non-flexible) encoding.
struct Walk<'a> {
    what: &'static str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Walk<'a> {
    fn new(what: &'static str, bytes: &'a [u8]) -> Self {
        Walk { what, bytes, at: 0 }
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn malformed(&self, detail: &str) -> CodecError {
        CodecError::Malformed {
            what: self.what,
            detail: format!("{detail} at byte {}", self.at),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if self.remaining() < n {
            return Err(CodecError::Truncated {
                what: self.what,
                detail: format!(
                    "needed {n} bytes at byte {} but only {} remain",
                    self.at,
                    self.remaining()
                ),
            });
        }
        let out = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }

    fn i16(&mut self) -> Result<i16, CodecError> {
        Ok(i16::from_be_bytes(
            self.take(2)?.try_into().expect("two bytes"),
        ))
    }

    fn i32(&mut self) -> Result<i32, CodecError> {
        Ok(i32::from_be_bytes(
            self.take(4)?.try_into().expect("four bytes"),
        ))
    }

    /// A non-negative int32 length that cannot exceed the bytes left (every element takes at
    /// least one byte).
    fn length(&mut self) -> Result<usize, CodecError> {
        let n = self.i32()?;
        let n = usize::try_from(n).map_err(|_| self.malformed(&format!("negative length {n}")))?;
        if n > self.remaining() {
            return Err(CodecError::Truncated {
                what: self.what,
                detail: format!(
                    "length {n} at byte {} exceeds the {} bytes left",
                    self.at - 4,
                    self.remaining()
                ),
            });
        }
        Ok(n)
    }

    /// A nullable string (int16 length, -1 for null).
    fn string(&mut self) -> Result<Option<String>, CodecError> {
        let n = self.i16()?;
        if n == -1 {
            return Ok(None);
        }
        let n = usize::try_from(n)
            .map_err(|_| self.malformed(&format!("negative string length {n}")))?;
        let raw = self.take(n)?;
        String::from_utf8(raw.to_vec())
            .map(Some)
            .map_err(|_| self.malformed("string is not UTF-8"))
    }

    /// Nullable bytes (int32 length, -1 for null).
    fn bytes(&mut self) -> Result<(), CodecError> {
        let n = self.i32()?;
        if n == -1 {
            return Ok(());
        }
        let n = usize::try_from(n)
            .map_err(|_| self.malformed(&format!("negative bytes length {n}")))?;
        self.take(n).map(|_| ())
    }

    /// An array (int32 length, -1 for null) whose elements `each` walks.
    fn array<T>(
        &mut self,
        mut each: impl FnMut(&mut Self) -> Result<T, CodecError>,
    ) -> Result<(), CodecError> {
        if self.remaining() >= 4 && self.bytes[self.at..self.at + 4] == [0xff; 4] {
            self.at += 4;
            return Ok(());
        }
        let n = self.length()?;
        for _ in 0..n {
            each(self)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(t: &str, p: i32) -> TopicPartition {
        TopicPartition::new(t, p)
    }

    #[test]
    fn subscription_v0_has_fixed_bytes() {
        let s = Subscription {
            topics: vec!["ab".into()],
            user_data: None,
            ..Default::default()
        };
        let bytes = encode_subscription(&s, 0).unwrap();
        #[rustfmt::skip]
        let expected = [
            0, 0,             // version 0
            0, 0, 0, 1,       // one topic
            0, 2, b'a', b'b', // "ab"
            0xff, 0xff, 0xff, 0xff, // null user data
        ];
        assert_eq!(bytes, expected);
    }

    #[test]
    fn subscription_v3_has_fixed_bytes() {
        let s = Subscription {
            topics: vec!["t".into()],
            user_data: Some(vec![7]),
            owned_partitions: vec![tp("t", 1), tp("t", 0)],
            generation_id: 5,
            rack_id: Some("r".into()),
        };
        let bytes = encode_subscription(&s, 3).unwrap();
        #[rustfmt::skip]
        let expected = [
            0, 3,
            0, 0, 0, 1, 0, 1, b't',       // topics ["t"]
            0, 0, 0, 1, 7,                // user data [7]
            0, 0, 0, 1,                   // one owned topic
            0, 1, b't', 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0, // "t": [1, 0]
            0, 0, 0, 5,                   // generation 5
            0, 1, b'r',                   // rack "r"
        ];
        assert_eq!(bytes, expected);
        assert_eq!(decode_subscription(&bytes).unwrap(), (3, s));
    }

    #[test]
    fn versions_drop_the_fields_they_lack() {
        let s = Subscription {
            topics: vec!["a".into(), "b".into()],
            user_data: Some(vec![1, 2, 3]),
            owned_partitions: vec![tp("a", 0), tp("b", 2), tp("a", 1)],
            generation_id: 9,
            rack_id: Some("rack-1".into()),
        };
        for version in 0..=3 {
            let (v, back) =
                decode_subscription(&encode_subscription(&s, version).unwrap()).unwrap();
            assert_eq!(v, version);
            assert_eq!(back.topics, s.topics);
            assert_eq!(back.user_data, s.user_data);
            // Owned partitions come back grouped by topic.
            let owned = if version >= 1 {
                vec![tp("a", 0), tp("a", 1), tp("b", 2)]
            } else {
                vec![]
            };
            assert_eq!(back.owned_partitions, owned);
            assert_eq!(back.generation_id, if version >= 2 { 9 } else { -1 });
            assert_eq!(
                back.rack_id,
                if version >= 3 {
                    Some("rack-1".into())
                } else {
                    None
                }
            );
        }
    }

    #[test]
    fn encoding_refuses_versions_it_does_not_know() {
        for version in [-1, 4] {
            assert_eq!(
                encode_subscription(&Subscription::default(), version),
                Err(CodecError::UnsupportedVersion {
                    what: "subscription",
                    version
                })
            );
            assert_eq!(
                encode_assignment(&AssignmentMessage::default(), version),
                Err(CodecError::UnsupportedVersion {
                    what: "assignment",
                    version
                })
            );
        }
    }

    #[test]
    fn newer_versions_read_as_the_highest_known() {
        let s = Subscription {
            topics: vec!["t".into()],
            generation_id: 4,
            ..Default::default()
        };
        let mut bytes = encode_subscription(&s, 3).unwrap();
        bytes[1] = 7; // claim version 7
        bytes.extend_from_slice(&[1, 2, 3]); // with fields we do not know
        let (v, back) = decode_subscription(&bytes).unwrap();
        assert_eq!(v, 7);
        assert_eq!(back.generation_id, 4);
    }

    #[test]
    fn assignment_round_trips_with_fixed_bytes() {
        let a = AssignmentMessage {
            partitions: vec![tp("t", 0)],
            user_data: None,
        };
        let bytes = encode_assignment(&a, 1).unwrap();
        assert_eq!(
            bytes,
            [0, 1, 0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(decode_assignment(&bytes).unwrap(), (1, a));
    }

    #[test]
    fn truncated_and_hostile_input_is_an_error() {
        let bytes = encode_subscription(
            &Subscription {
                topics: vec!["topic".into()],
                owned_partitions: vec![tp("topic", 3)],
                ..Default::default()
            },
            1,
        )
        .unwrap();
        for cut in 0..bytes.len() {
            assert!(decode_subscription(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        // An array claiming two billion topics must not allocate for them.
        assert!(matches!(
            decode_subscription(&[0, 0, 0x7f, 0xff, 0xff, 0xff]),
            Err(CodecError::Truncated { .. })
        ));
        assert!(matches!(
            decode_subscription(&[0xff, 0xff]),
            Err(CodecError::UnsupportedVersion { version: -1, .. })
        ));
        assert!(decode_assignment(&[0, 0, 0, 0, 0, 1, 0xff]).is_err());
        assert!(decode_sticky_user_data(&[0, 0, 0, 1, 0]).is_err());
        assert!(decode_cooperative_user_data(&[0, 1]).is_err());
    }

    #[test]
    fn sticky_user_data_v0_and_v1() {
        let v1 = StickyUserData {
            previous_assignment: vec![tp("t", 0), tp("t", 2)],
            generation: Some(3),
        };
        let bytes = encode_sticky_user_data(&v1);
        assert_eq!(
            bytes,
            [0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3]
        );
        assert_eq!(decode_sticky_user_data(&bytes).unwrap(), v1);
        let v0 = StickyUserData {
            generation: None,
            ..v1
        };
        assert_eq!(
            decode_sticky_user_data(&encode_sticky_user_data(&v0)).unwrap(),
            v0
        );
        assert_eq!(
            decode_cooperative_user_data(&encode_cooperative_user_data(-1)).unwrap(),
            -1
        );
    }

    #[test]
    fn member_input_reads_ownership_as_each_assignor_does() {
        let sticky = Subscription {
            topics: vec!["t".into()],
            user_data: Some(encode_sticky_user_data(&StickyUserData {
                previous_assignment: vec![tp("t", 1)],
                generation: Some(4),
            })),
            ..Default::default()
        };
        let m = member_input("c1", None, Strategy::Sticky, &sticky);
        assert_eq!(
            (m.owned, m.generation),
            (vec![("t".to_owned(), 1)], Some(4))
        );
        let coop = Subscription {
            topics: vec!["t".into()],
            user_data: Some(encode_cooperative_user_data(6)),
            owned_partitions: vec![tp("t", 2)],
            generation_id: -1,
            rack_id: Some("r1".into()),
        };
        let m = member_input("c2", Some("i2"), Strategy::CooperativeSticky, &coop);
        assert_eq!(
            (m.owned.clone(), m.generation),
            (vec![("t".to_owned(), 2)], Some(6))
        );
        assert_eq!(
            (m.rack.as_deref(), m.instance_id.as_deref()),
            (Some("r1"), Some("i2"))
        );
        let m = member_input("c3", None, Strategy::Range, &coop);
        assert!(m.owned.is_empty());
    }
}
