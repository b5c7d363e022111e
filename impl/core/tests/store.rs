//! The offset store: Kafka's rules for transactional offsets, and loading the log equals the
//! live store after every step and after a crash at any byte.

use kgroup_core::log::FsyncPolicy;
use kgroup_core::records::{
    GroupMetadataValue, LogEntry, OffsetCommitValue, Record, RecordKey, RecordValue,
};
use kgroup_core::store::{Durable, ReplayError, Store};
use proptest::prelude::*;

fn offset(group: &str, partition: i32, offset: i64) -> Record {
    Record {
        key: RecordKey::OffsetCommit {
            group: group.into(),
            topic: "t".into(),
            partition,
        },
        value: Some(RecordValue::OffsetCommit(OffsetCommitValue {
            offset,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp: 1,
            expire_timestamp: -1,
        })),
    }
}

fn txn(producer_id: i64, epoch: i16, record: Record) -> LogEntry {
    LogEntry::Transactional {
        producer_id,
        producer_epoch: epoch,
        record,
    }
}

fn marker(producer_id: i64, epoch: i16, commit: bool) -> LogEntry {
    LogEntry::Marker {
        producer_id,
        producer_epoch: epoch,
        commit,
        coordinator_epoch: 0,
    }
}

fn replayed(entries: &[LogEntry]) -> Store {
    let mut s = Store::new();
    for e in entries {
        s.replay(e).expect("valid entry");
    }
    s
}

fn committed(s: &Store, partition: i32) -> Option<i64> {
    s.offset("g", "t", partition).map(|c| c.value.offset)
}

#[test]
fn a_commit_marker_makes_pending_offsets_committed_and_an_abort_drops_them() {
    let s = replayed(&[txn(7, 0, offset("g", 0, 10))]);
    assert_eq!(committed(&s, 0), None);
    assert!(s.has_pending("g", "t", 0));
    assert!(s.group_has_pending("g"));
    // The producers with pending offsets, each with its offsets by group.
    let pending: Vec<(i64, Vec<&String>)> = s
        .pending()
        .iter()
        .map(|(p, t)| (*p, t.offsets.keys().collect()))
        .collect();
    assert_eq!(pending, vec![(7, vec![&"g".to_owned()])]);
    let s = replayed(&[txn(7, 0, offset("g", 0, 10)), marker(7, 0, true)]);
    assert_eq!(s.entries(), 2, "every entry counts, markers too");
    assert_eq!(committed(&s, 0), Some(10));
    assert!(!s.has_pending("g", "t", 0));
    assert!(s.pending().is_empty(), "{:?}", s.pending());
    let s = replayed(&[txn(7, 0, offset("g", 0, 10)), marker(7, 0, false)]);
    assert_eq!(committed(&s, 0), None);
    assert!(!s.group_has_pending("g"));
}

/// Kafka compares log positions: a plain commit written after the transactional one wins even
/// though the marker comes last; one written before loses.
#[test]
fn the_later_record_in_the_log_wins_over_a_commit_marker() {
    let s = replayed(&[
        txn(7, 0, offset("g", 0, 10)),
        LogEntry::Plain(offset("g", 0, 20)),
        marker(7, 0, true),
    ]);
    assert_eq!(committed(&s, 0), Some(20));
    let s = replayed(&[
        LogEntry::Plain(offset("g", 0, 20)),
        txn(7, 0, offset("g", 0, 10)),
        marker(7, 0, true),
    ]);
    assert_eq!(committed(&s, 0), Some(10));
}

#[test]
fn tombstones_delete_offsets_and_groups() {
    let group = Record {
        key: RecordKey::GroupMetadata { group: "g".into() },
        value: Some(RecordValue::GroupMetadata(GroupMetadataValue {
            protocol_type: "consumer".into(),
            generation: 3,
            protocol: Some("range".into()),
            leader: None,
            current_state_timestamp: 0,
            members: vec![],
        })),
    };
    let mut s = replayed(&[
        LogEntry::Plain(group.clone()),
        LogEntry::Plain(offset("g", 1, 5)),
    ]);
    assert_eq!(s.group("g").map(|g| g.generation), Some(3));
    assert_eq!(committed(&s, 1), Some(5));
    let mut dead_offset = offset("g", 1, 0);
    dead_offset.value = None;
    let mut dead_group = group;
    dead_group.value = None;
    s.replay(&LogEntry::Plain(dead_offset)).unwrap();
    s.replay(&LogEntry::Plain(dead_group)).unwrap();
    assert_eq!(committed(&s, 1), None);
    assert!(s.group("g").is_none());
    assert_eq!(s.groups_with_offsets().count(), 0);
}

#[test]
fn the_producer_state_refuses_older_epochs() {
    let s = replayed(&[txn(7, 2, offset("g", 0, 1)), marker(7, 3, false)]);
    assert_eq!(s.producer_epoch(7), Some(3));
    assert!(s.stale_epoch(7, 2));
    assert!(!s.stale_epoch(7, 3));
    assert!(!s.stale_epoch(8, 0), "an unknown producer is not stale");
}

#[test]
fn entries_that_cannot_apply_are_refused_before_they_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("offsets.log");
    let (mut d, _) = Durable::open(&path, FsyncPolicy::Always).unwrap();
    let bad = txn(
        1,
        0,
        Record {
            key: RecordKey::GroupMetadata { group: "g".into() },
            value: None,
        },
    );
    let e = d.append(&bad).unwrap_err();
    assert!(e.to_string().contains("must be an offset commit"), "{e}");
    let mut mismatched = offset("g", 0, 1);
    mismatched.key = RecordKey::GroupMetadata { group: "g".into() };
    let e = d.append(&LogEntry::Plain(mismatched)).unwrap_err();
    assert!(e.to_string().contains("value of the other kind"), "{e}");
    assert_eq!(d.log().len(), 0);
    assert!(matches!(
        Store::new().replay(&bad),
        Err(ReplayError::TransactionalNonOffset { .. })
    ));
}

fn entry() -> impl Strategy<Value = LogEntry> {
    let group = prop::sample::select(vec!["g", "h"]);
    prop_oneof![
        (group.clone(), 0..3i32, 0..100i64).prop_map(|(g, p, o)| LogEntry::Plain(offset(g, p, o))),
        (group.clone(), 0..3i32).prop_map(|(g, p)| {
            let mut r = offset(g, p, 0);
            r.value = None;
            LogEntry::Plain(r)
        }),
        (1..3i64, 0..3i16, group, 0..3i32, 0..100i64).prop_map(|(pid, e, g, p, o)| txn(
            pid,
            e,
            offset(g, p, o)
        )),
        (1..3i64, 0..3i16, any::<bool>()).prop_map(|(pid, e, c)| marker(pid, e, c)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Loading the log gives the live store after every append, and a crash at any byte gives
    /// the store of the entries that were wholly written.
    #[test]
    fn loading_the_log_equals_the_live_store(
        entries in prop::collection::vec(entry(), 1..30),
        cut in any::<prop::sample::Index>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("offsets.log");
        let (mut live, _) = Durable::open(&path, FsyncPolicy::Always).unwrap();
        let mut ends = vec![std::fs::metadata(&path).unwrap().len()];
        for (i, e) in entries.iter().enumerate() {
            live.append(e).unwrap();
            ends.push(std::fs::metadata(&path).unwrap().len());
            let copy = dir.path().join(format!("copy-{i}.log"));
            std::fs::copy(&path, &copy).unwrap();
            let (loaded, truncated) = Durable::open(&copy, FsyncPolicy::Never).unwrap();
            prop_assert!(truncated.is_none());
            prop_assert_eq!(loaded.store(), live.store());
        }
        let bytes = std::fs::read(&path).unwrap();
        let at = cut.index(bytes.len() + 1);
        let torn = dir.path().join("torn.log");
        std::fs::write(&torn, &bytes[..at]).unwrap();
        let (loaded, _) = Durable::open(&torn, FsyncPolicy::Never).unwrap();
        let whole = ends.iter().filter(|&&end| end as usize <= at).count().saturating_sub(1);
        prop_assert_eq!(loaded.store(), &replayed(&entries[..whole]));
    }
}
