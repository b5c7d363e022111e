//! Tests of the durable offsets log: round trips under each fsync policy, recovery from a crash
//! at every byte, and the line between a torn tail (cut off) and corruption (refused).

use std::fs;
use std::path::{Path, PathBuf};

use kgroup_core::log::{
    FsyncPolicy, Log, LogError, Recovered, FRAME_HEADER_LEN, HEADER_LEN, MAX_PAYLOAD_LEN,
};
use proptest::prelude::*;
use tempfile::TempDir;

const POLICIES: [FsyncPolicy; 3] = [FsyncPolicy::Always, FsyncPolicy::Batch, FsyncPolicy::Never];

/// `count` payloads of varied sizes, empty ones included, with contents that differ per entry so
/// that a mis-framed read cannot pass for a correct one.
fn varied_payloads(count: usize) -> Vec<Vec<u8>> {
    const SIZES: [usize; 12] = [0, 1, 7, 8, 9, 0, 33, 2, 64, 15, 0, 100];
    (0..count)
        .map(|i| {
            let size = SIZES[i % SIZES.len()] + i / SIZES.len();
            (0..size)
                .map(|j| (i * 31 + j * 7 + 1) as u8)
                .collect::<Vec<u8>>()
        })
        .collect()
}

/// Writes `payloads` to a new log at `path` under `policy`, syncs, and returns the file's bytes.
fn write_log(path: &Path, payloads: &[Vec<u8>], policy: FsyncPolicy) -> Vec<u8> {
    let (mut log, recovered) = Log::open(path, policy).expect("create log");
    assert_eq!(recovered.entries, Vec::<Vec<u8>>::new());
    assert_eq!(recovered.truncated, None);
    for (i, payload) in payloads.iter().enumerate() {
        assert_eq!(log.append(payload).expect("append"), i as u64);
    }
    log.sync().expect("sync");
    drop(log);
    fs::read(path).expect("read log file")
}

/// Byte offsets where frames end, starting with the end of the file header.
fn frame_boundaries(payloads: &[Vec<u8>]) -> Vec<u64> {
    let mut boundaries = vec![HEADER_LEN];
    for payload in payloads {
        let last = boundaries[boundaries.len() - 1];
        boundaries.push(last + FRAME_HEADER_LEN + payload.len() as u64);
    }
    boundaries
}

fn open(path: &Path, policy: FsyncPolicy) -> (Log, Recovered) {
    Log::open(path, policy).unwrap_or_else(|err| panic!("open {}: {err}", path.display()))
}

/// Simulates a crash that left only the first `cut` bytes of `full` (a log of `payloads`) on
/// disk, opens the result, and checks recovery: exactly the whole frames within the cut come
/// back, a cut off a frame boundary is reported and truncated, and the log accepts appends.
fn check_crash_at(dir: &Path, full: &[u8], payloads: &[Vec<u8>], cut: usize, policy: FsyncPolicy) {
    let path = dir.join("crashed.log");
    fs::write(&path, &full[..cut]).expect("write prefix");
    let cut = cut as u64;
    let boundaries = frame_boundaries(payloads);
    assert_eq!(boundaries[boundaries.len() - 1], full.len() as u64);

    let (mut log, recovered) = open(&path, policy);

    let kept = boundaries[1..].iter().filter(|&&end| end <= cut).count();
    let good_end = if cut < HEADER_LEN {
        HEADER_LEN
    } else {
        boundaries[kept]
    };
    assert_eq!(recovered.entries, payloads[..kept], "cut at {cut}");
    let on_boundary = boundaries.contains(&cut);
    assert_eq!(
        recovered.truncated.is_some(),
        cut >= HEADER_LEN && !on_boundary,
        "cut at {cut}: {:?}",
        recovered.truncated
    );
    if let Some(truncation) = &recovered.truncated {
        assert_eq!(truncation.at, good_end, "cut at {cut}");
        assert_eq!(truncation.dropped_bytes, cut - good_end, "cut at {cut}");
        assert!(!truncation.reason.is_empty());
    }
    assert_eq!(
        fs::metadata(&path).expect("stat").len(),
        good_end,
        "cut at {cut}"
    );
    assert_eq!(log.len(), kept as u64);
    assert_eq!(log.is_empty(), kept == 0);
    assert_eq!(log.bytes(), good_end);

    let extra = b"appended after recovery".to_vec();
    assert_eq!(log.append(&extra).expect("append"), kept as u64);
    log.sync().expect("sync");
    drop(log);

    let (log, reopened) = open(&path, policy);
    let mut expected = payloads[..kept].to_vec();
    expected.push(extra);
    assert_eq!(reopened.entries, expected, "cut at {cut}, after append");
    assert_eq!(reopened.truncated, None, "cut at {cut}, after append");
    assert_eq!(log.len(), kept as u64 + 1);
}

fn flip_bit(path: &Path, byte: u64, bit: u8) {
    let mut bytes = fs::read(path).expect("read");
    bytes[byte as usize] ^= 1 << bit;
    fs::write(path, bytes).expect("write");
}

fn log_path(dir: &TempDir) -> PathBuf {
    dir.path().join("offsets.log")
}

#[test]
fn round_trip_under_each_policy() {
    let payloads = varied_payloads(200);
    let expected_len = frame_boundaries(&payloads)[payloads.len()];
    for policy in POLICIES {
        let dir = TempDir::new().expect("tempdir");
        let path = log_path(&dir);
        let (mut log, recovered) = open(&path, policy);
        assert_eq!(recovered.entries.len(), 0);
        assert!(log.is_empty());
        assert_eq!(log.bytes(), HEADER_LEN);
        assert_eq!(log.path(), path.as_path());
        for (i, payload) in payloads.iter().enumerate() {
            assert_eq!(log.append(payload).expect("append"), i as u64);
        }
        assert_eq!(log.len(), payloads.len() as u64);
        assert_eq!(log.bytes(), expected_len, "{policy:?}");
        log.sync().expect("sync");
        assert_eq!(fs::metadata(&path).expect("stat").len(), expected_len);
        drop(log);

        let (mut log, recovered) = open(&path, policy);
        assert_eq!(recovered.entries, payloads, "{policy:?}");
        assert_eq!(recovered.truncated, None);
        assert_eq!(log.len(), payloads.len() as u64);
        assert_eq!(log.bytes(), expected_len);

        // Appends continue the numbering after a reopen.
        assert_eq!(log.append(b"next").expect("append"), payloads.len() as u64);
        log.sync().expect("sync");
        drop(log);
        let (_, recovered) = open(&path, policy);
        assert_eq!(recovered.entries.len(), payloads.len() + 1);
        assert_eq!(recovered.entries[payloads.len()], b"next");
    }
}

#[test]
fn large_payloads_round_trip() {
    // Larger than the internal write buffer, so `Batch` hands data to the OS before `sync`.
    let payloads: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i + 1; 1_500_000]).collect();
    for policy in POLICIES {
        let dir = TempDir::new().expect("tempdir");
        let path = log_path(&dir);
        let full = write_log(&path, &payloads, policy);
        assert_eq!(full.len() as u64, frame_boundaries(&payloads)[3]);
        let (_, recovered) = open(&path, policy);
        assert_eq!(recovered.entries, payloads, "{policy:?}");
    }
}

#[test]
fn always_writes_through_and_batch_waits_for_sync() {
    let dir = TempDir::new().expect("tempdir");

    let path = dir.path().join("always.log");
    let (mut log, _) = open(&path, FsyncPolicy::Always);
    log.append(b"durable").expect("append");
    assert_eq!(
        fs::metadata(&path).expect("stat").len(),
        log.bytes(),
        "Always writes each append before returning"
    );

    let path = dir.path().join("batch.log");
    let (mut log, _) = open(&path, FsyncPolicy::Batch);
    log.append(b"buffered").expect("append");
    assert_eq!(fs::metadata(&path).expect("stat").len(), HEADER_LEN);
    assert_eq!(log.bytes(), HEADER_LEN + FRAME_HEADER_LEN + 8);
    log.sync().expect("sync");
    assert_eq!(fs::metadata(&path).expect("stat").len(), log.bytes());
    // A second sync with nothing new is fine.
    log.sync().expect("sync again");

    // Under Batch, appends never synced are gone after the log is dropped, like after a crash.
    log.append(b"never synced").expect("append");
    drop(log);
    let (_, recovered) = open(&path, FsyncPolicy::Batch);
    assert_eq!(recovered.entries, vec![b"buffered".to_vec()]);
    assert_eq!(recovered.truncated, None);
}

#[test]
fn crash_at_every_byte() {
    let payloads = varied_payloads(20);
    let dir = TempDir::new().expect("tempdir");
    let full = write_log(&log_path(&dir), &payloads, FsyncPolicy::Always);
    for cut in 0..=full.len() {
        let policy = POLICIES[cut % POLICIES.len()];
        check_crash_at(dir.path(), &full, &payloads, cut, policy);
    }
}

#[test]
fn flipped_bit_in_last_frame_is_a_torn_tail() {
    let payloads = varied_payloads(5);
    let boundaries = frame_boundaries(&payloads);
    let last_start = boundaries[4];
    let dir = TempDir::new().expect("tempdir");
    let path = log_path(&dir);
    let full = write_log(&path, &payloads, FsyncPolicy::Always);
    assert!(payloads[4].len() > 3);
    flip_bit(&path, last_start + FRAME_HEADER_LEN + 3, 5);

    let (log, recovered) = open(&path, FsyncPolicy::Always);
    assert_eq!(recovered.entries, payloads[..4]);
    let truncation = recovered.truncated.expect("torn tail reported");
    assert_eq!(truncation.at, last_start);
    assert_eq!(truncation.dropped_bytes, full.len() as u64 - last_start);
    assert!(
        truncation.reason.contains("crc mismatch"),
        "{}",
        truncation.reason
    );
    assert_eq!(fs::metadata(&path).expect("stat").len(), last_start);
    assert_eq!(log.len(), 4);
}

#[test]
fn flipped_bit_in_middle_frame_is_corruption() {
    let payloads = varied_payloads(6);
    let boundaries = frame_boundaries(&payloads);
    let dir = TempDir::new().expect("tempdir");
    let path = log_path(&dir);
    write_log(&path, &payloads, FsyncPolicy::Always);
    let frame_start = boundaries[2];
    assert!(!payloads[2].is_empty());
    flip_bit(&path, frame_start + FRAME_HEADER_LEN, 0);
    let damaged = fs::read(&path).expect("read");

    let err = Log::open(&path, FsyncPolicy::Always).expect_err("corruption must be refused");
    let message = err.to_string();
    match err {
        LogError::Corrupt {
            offset,
            path: ref at,
            ..
        } => {
            assert_eq!(offset, frame_start);
            assert_eq!(at, &path);
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(
        message.contains(&format!("byte {frame_start}")),
        "{message}"
    );
    assert!(message.contains("crc mismatch"), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("refusing to truncate"), "{message}");
    assert_eq!(
        fs::read(&path).expect("read"),
        damaged,
        "the file must be left as it was"
    );
}

#[test]
fn flipped_bit_in_middle_frame_length_is_corruption() {
    // The CRC covers the length field, so a length that is off by one is caught even though the
    // misread frame still fits in the file.
    let payloads = varied_payloads(6);
    let boundaries = frame_boundaries(&payloads);
    let dir = TempDir::new().expect("tempdir");
    let path = log_path(&dir);
    write_log(&path, &payloads, FsyncPolicy::Always);
    flip_bit(&path, boundaries[1], 0);

    match Log::open(&path, FsyncPolicy::Always) {
        Err(LogError::Corrupt { offset, .. }) => assert_eq!(offset, boundaries[1]),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn absurd_length_is_corruption_unless_nothing_follows() {
    let payloads = varied_payloads(4);
    let boundaries = frame_boundaries(&payloads);
    let dir = TempDir::new().expect("tempdir");
    let path = log_path(&dir);
    let full = write_log(&path, &payloads, FsyncPolicy::Always);
    let absurd = (MAX_PAYLOAD_LEN + 1).to_le_bytes();

    let mut middle = full.clone();
    let at = boundaries[1] as usize;
    middle[at..at + 4].copy_from_slice(&absurd);
    fs::write(&path, &middle).expect("write");
    let err = Log::open(&path, FsyncPolicy::Always).expect_err("absurd length mid-log");
    assert!(matches!(err, LogError::Corrupt { offset, .. } if offset == boundaries[1]));
    assert!(err.to_string().contains("exceeds the maximum"), "{err}");

    // The same header as the file's last bytes is a torn frame header.
    let mut tail = full.clone();
    tail.extend_from_slice(&absurd);
    tail.extend_from_slice(&[0xab; 4]);
    fs::write(&path, &tail).expect("write");
    let (_, recovered) = open(&path, FsyncPolicy::Always);
    assert_eq!(recovered.entries, payloads);
    let truncation = recovered.truncated.expect("torn tail");
    assert_eq!(truncation.at, full.len() as u64);
    assert_eq!(truncation.dropped_bytes, FRAME_HEADER_LEN);
}

#[test]
fn zero_filled_tail_is_a_torn_tail() {
    // Some filesystems extend a file's length before its data reaches disk, leaving zeros.
    let payloads = varied_payloads(5);
    let dir = TempDir::new().expect("tempdir");
    let path = log_path(&dir);
    let full = write_log(&path, &payloads, FsyncPolicy::Always);
    for zeros in [8usize, 9, 16, 4096, 20_000] {
        let mut bytes = full.clone();
        bytes.resize(full.len() + zeros, 0);
        fs::write(&path, &bytes).expect("write");
        let (_, recovered) = open(&path, FsyncPolicy::Always);
        assert_eq!(recovered.entries, payloads, "{zeros} zeros");
        let truncation = recovered.truncated.expect("torn tail");
        assert_eq!(truncation.at, full.len() as u64);
        assert_eq!(truncation.dropped_bytes, zeros as u64);
        assert_eq!(fs::metadata(&path).expect("stat").len(), full.len() as u64);
    }

    // Zeros followed by anything else are not a crash artefact.
    let mut bytes = full.clone();
    bytes.resize(full.len() + 64, 0);
    bytes.push(1);
    fs::write(&path, &bytes).expect("write");
    assert!(matches!(
        Log::open(&path, FsyncPolicy::Always),
        Err(LogError::Corrupt { offset, .. }) if offset == full.len() as u64
    ));
}

#[test]
fn wrong_magic_or_version_is_a_bad_header() {
    let payloads = varied_payloads(3);
    let dir = TempDir::new().expect("tempdir");
    let path = log_path(&dir);
    let full = write_log(&path, &payloads, FsyncPolicy::Always);

    flip_bit(&path, 0, 1);
    let err = Log::open(&path, FsyncPolicy::Always).expect_err("wrong magic");
    assert!(matches!(err, LogError::BadHeader { .. }), "{err:?}");
    assert!(err.to_string().contains("wrong magic"), "{err}");

    let mut bytes = full.clone();
    bytes[6] = 2;
    fs::write(&path, &bytes).expect("write");
    let err = Log::open(&path, FsyncPolicy::Always).expect_err("wrong version");
    assert!(matches!(err, LogError::BadHeader { .. }), "{err:?}");
    assert!(err.to_string().contains("version 2"), "{err}");

    // A file shorter than the header that is not a prefix of it is not ours to overwrite.
    fs::write(&path, b"hello").expect("write");
    let err = Log::open(&path, FsyncPolicy::Always).expect_err("foreign short file");
    assert!(matches!(err, LogError::BadHeader { .. }), "{err:?}");
    assert_eq!(fs::read(&path).expect("read"), b"hello");
}

#[test]
fn oversized_payload_is_rejected_without_touching_the_log() {
    let dir = TempDir::new().expect("tempdir");
    let path = log_path(&dir);
    let (mut log, _) = open(&path, FsyncPolicy::Always);
    log.append(b"first").expect("append");
    let huge = vec![0u8; MAX_PAYLOAD_LEN as usize + 1];
    let err = log.append(&huge).expect_err("too large");
    assert!(matches!(err, LogError::PayloadTooLarge { len, .. } if len == huge.len()));
    assert_eq!(log.append(b"second").expect("append"), 1);
    drop(log);
    let (_, recovered) = open(&path, FsyncPolicy::Always);
    assert_eq!(
        recovered.entries,
        vec![b"first".to_vec(), b"second".to_vec()]
    );
}

#[test]
fn creation_is_atomic_and_leaves_no_staging_file() {
    let dir = TempDir::new().expect("tempdir");
    let path = log_path(&dir);
    let (log, recovered) = open(&path, FsyncPolicy::Always);
    assert_eq!(recovered.entries.len(), 0);
    assert_eq!(log.bytes(), HEADER_LEN);
    assert_eq!(fs::read(&path).expect("read"), b"KGLOG\0\x01\x00");
    let names: Vec<_> = fs::read_dir(dir.path())
        .expect("read dir")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert_eq!(names, vec![path.file_name().expect("name").to_os_string()]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any log, cut anywhere, recovers exactly the whole frames before the cut.
    #[test]
    fn crash_at_random_cuts(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..25),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 1..6),
        policy in prop::sample::select(POLICIES.to_vec()),
    ) {
        let dir = TempDir::new().expect("tempdir");
        let full = write_log(&log_path(&dir), &payloads, policy);
        for cut in cuts {
            check_crash_at(dir.path(), &full, &payloads, cut.index(full.len() + 1), policy);
        }
    }
}
