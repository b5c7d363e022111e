//! Holds kgroup's error list against the `kafka-protocol` crate's, code by code and name by name.

use kafka_protocol::error::ResponseError;
use kgroup_protocol::ErrorCode;

/// `ResponseError`'s variant name as Kafka's UPPER_SNAKE name.
fn snake(variant: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = variant.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase()
            && i > 0
            && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit())
        {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

#[test]
fn every_kafka_protocol_error_is_named_alike() {
    let mut seen = 0;
    for code in -1..=i16::MAX {
        match ResponseError::try_from_code(code) {
            None => assert_eq!(code, 0),
            Some(ResponseError::Unknown(_)) => {
                assert_eq!(
                    ErrorCode::from_code(code),
                    None,
                    "kgroup names code {code}, kafka-protocol does not"
                );
            }
            Some(known) => {
                let ours = ErrorCode::from_code(code)
                    .unwrap_or_else(|| panic!("kgroup lacks error code {code} ({known:?})"));
                assert_eq!(
                    ours.name(),
                    snake(&format!("{known:?}")),
                    "name of code {code}"
                );
                seen += 1;
            }
        }
    }
    // Every code kgroup names, apart from NONE, is one kafka-protocol knows.
    assert_eq!(seen, ErrorCode::ALL.len() - 1);
}
