//! Identifiers of the consumer-group protocol: group ids, member ids, group instance ids
//! (KIP-345 static membership), generations, and topic partitions.
//!
//! Ids are opaque strings chosen by clients (group id, group instance id) or by the coordinator
//! (member id). Ordering is that of Java's `String.compareTo` (UTF-16 code units), because Kafka's
//! range and round-robin assignors sort members with it and their output depends on that order.

use std::cmp::Ordering;
use std::fmt;

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

/// Compares two strings as Java's `String.compareTo` does: by UTF-16 code units.
///
/// This differs from Rust's byte-wise `str` order only when one string has a character above
/// U+FFFF where the other has one in U+E000..=U+FFFF at the same place.
pub fn java_string_cmp(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        return a.cmp(b);
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Java's `String.hashCode` over UTF-16 code units, with wrapping 32-bit arithmetic.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        #[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(transparent))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema), schemars(transparent))]
        pub struct $name(pub String);

        impl $name {
            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }

        impl Ord for $name {
            fn cmp(&self, other: &Self) -> Ordering {
                java_string_cmp(&self.0, &other.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name(s)
            }
        }
    };
}

string_id!(
    /// A consumer group's id (`group.id`).
    GroupId
);
string_id!(
    /// A member id, chosen by the coordinator (KIP-394: handed out with MEMBER_ID_REQUIRED).
    MemberId
);
string_id!(
    /// A static member's `group.instance.id` (KIP-345).
    GroupInstanceId
);

/// A group generation. Kafka starts a group at 0 and adds one per completed rebalance; clients
/// that know no generation send -1 ([`GenerationId::UNKNOWN`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize), serde(transparent))]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(transparent)
)]
pub struct GenerationId(pub i32);

impl GenerationId {
    /// The generation of a client that has none (Kafka's `DEFAULT_GENERATION` / `NO_GENERATION`).
    pub const UNKNOWN: GenerationId = GenerationId(-1);
}

impl Default for GenerationId {
    fn default() -> Self {
        GenerationId::UNKNOWN
    }
}

impl fmt::Display for GenerationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A partition of a topic. Ordered by topic (Java string order), then partition.
#[derive(Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TopicPartition {
    /// The topic's name.
    pub topic: String,
    /// The partition's index within the topic.
    pub partition: i32,
}

impl TopicPartition {
    /// A topic partition.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl PartialOrd for TopicPartition {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TopicPartition {
    fn cmp(&self, other: &Self) -> Ordering {
        java_string_cmp(&self.topic, &other.topic).then(self.partition.cmp(&other.partition))
    }
}

impl fmt::Debug for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_hash_matches_known_values() {
        // Values of Java's "...".hashCode().
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("hello"), 99_162_322);
        assert_eq!(java_string_hash("my-group"), -1_906_497_762);
        // Wraps around like Java's int arithmetic.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
    }

    #[test]
    fn java_order_differs_from_byte_order_only_above_the_bmp() {
        let bmp_high = "\u{FF21}"; // FULLWIDTH LATIN CAPITAL LETTER A: one UTF-16 unit 0xFF21
        let astral = "\u{1F600}"; // surrogate pair starting 0xD83D
        assert_eq!(bmp_high.cmp(astral), Ordering::Less); // code point order
        assert_eq!(java_string_cmp(bmp_high, astral), Ordering::Greater); // UTF-16 order
        assert_eq!(java_string_cmp("abc", "abd"), Ordering::Less);
        assert_eq!(java_string_cmp("ab", "abc"), Ordering::Less);
    }

    #[test]
    fn topic_partitions_sort_by_topic_then_partition() {
        let mut v = vec![
            TopicPartition::new("b", 0),
            TopicPartition::new("a", 10),
            TopicPartition::new("a", 2),
        ];
        v.sort();
        assert_eq!(
            v,
            vec![
                TopicPartition::new("a", 2),
                TopicPartition::new("a", 10),
                TopicPartition::new("b", 0)
            ]
        );
    }
}

#[cfg(all(test, feature = "serde"))]
mod serde_tests {
    use super::*;

    #[test]
    fn ids_serialize_as_plain_values() {
        assert_eq!(
            serde_json::to_string(&MemberId::from("m-1")).unwrap(),
            "\"m-1\""
        );
        assert_eq!(serde_json::to_string(&GenerationId(7)).unwrap(), "7");
        let tp: TopicPartition = serde_json::from_str(r#"{"topic": "t", "partition": 3}"#).unwrap();
        assert_eq!(tp, TopicPartition::new("t", 3));
    }
}
