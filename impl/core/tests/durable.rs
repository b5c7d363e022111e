//! The coordinator over its file log, as a server drives it: appends are written before the
//! responses that follow them are released; after a crash (the process gone, the file cut
//! anywhere past the last acknowledged append) a coordinator that loads the log has every
//! acknowledged commit.

use kgroup_core::coordinator::{
    Config, Context, GroupCoordinator, Output, Request, Response, SequentialIds,
};
use kgroup_core::log::FsyncPolicy;
use kgroup_core::store::Durable;
use kgroup_protocol::api::*;
use kgroup_protocol::{ErrorCode, GenerationId, GroupId, MemberId, TopicPartition};

fn commit(partition: i32, offset: i64) -> Request {
    Request::OffsetCommit(Versioned {
        api_version: 8,
        message: OffsetCommitRequest {
            group_id: GroupId("g".into()),
            generation_id: GenerationId(-1),
            member_id: MemberId(String::new()),
            group_instance_id: None,
            partitions: vec![OffsetCommitPartition {
                partition: TopicPartition::new("t", partition),
                committed_offset: offset,
                committed_leader_epoch: -1,
                committed_metadata: None,
            }],
        },
    })
}

/// Runs `commits` through a coordinator whose appends go to `log`; returns the commits
/// acknowledged (each after a `sync` of the appends before it), with the log length then.
fn run(log: &mut Durable, commits: &[(i32, i64)]) -> Vec<((i32, i64), u64)> {
    let mut c = GroupCoordinator::load(
        Config::default(),
        Box::new(SequentialIds::default()),
        log.store().clone(),
        0,
    );
    let mut acked = vec![];
    for (i, &(p, o)) in commits.iter().enumerate() {
        let ctx = Context {
            id: i as u64,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
        };
        c.handle_request(0, ctx, commit(p, o));
        while let Some(out) = c.poll_output() {
            match out {
                Output::Append(e) => log.append(&e).expect("append"),
                Output::Response { response, .. } => {
                    log.sync().expect("fsync before the answer");
                    let Response::OffsetCommit(r) = response else {
                        panic!("not an OffsetCommit response")
                    };
                    assert_eq!(r.partitions[0].1, ErrorCode::None);
                    acked.push(((p, o), log.log().bytes()));
                }
                Output::Abandoned { .. } => panic!("nothing is abandoned here"),
            }
        }
    }
    acked
}

#[test]
fn every_acknowledged_commit_survives_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("offsets.log");
    let commits: Vec<(i32, i64)> = (0..40).map(|i| (i % 3, i64::from(i))).collect();
    let acked = {
        let (mut log, _) = Durable::open(&path, FsyncPolicy::Batch).unwrap();
        run(&mut log, &commits)
    };
    let bytes = std::fs::read(&path).unwrap();
    // A crash can only lose what was not acknowledged: cut after each acknowledgement, and
    // anywhere in the bytes that follow it.
    for (n, &(_, end)) in acked.iter().enumerate() {
        let next = acked.get(n + 1).map_or(bytes.len() as u64, |a| a.1);
        for cut in [end, (end + next) / 2, next.saturating_sub(1).max(end)] {
            let torn = dir.path().join(format!("torn-{n}-{cut}.log"));
            std::fs::write(&torn, &bytes[..cut as usize]).unwrap();
            let (log, _) = Durable::open(&torn, FsyncPolicy::Never).unwrap();
            let c = GroupCoordinator::load(
                Config::default(),
                Box::new(SequentialIds::default()),
                log.store().clone(),
                0,
            );
            // The last acknowledged offset of each partition up to this one is there.
            for p in 0..3 {
                let want = acked[..=n]
                    .iter()
                    .rev()
                    .find(|((q, _), _)| *q == p)
                    .map(|((_, o), _)| *o);
                let got = c.store().offset("g", "t", p).map(|c| c.value.offset);
                assert_eq!(
                    got.is_some(),
                    want.is_some(),
                    "partition {p} after {n} acks, cut {cut}"
                );
                assert!(
                    got >= want,
                    "partition {p}: {got:?} < acknowledged {want:?}"
                );
            }
        }
    }
    // And a coordinator that reopens the whole log carries on from it.
    let (mut log, truncated) = Durable::open(&path, FsyncPolicy::Batch).unwrap();
    assert!(truncated.is_none());
    let more = run(&mut log, &[(0, 100)]);
    assert_eq!(more.len(), 1);
    assert_eq!(
        log.store().offset("g", "t", 0).map(|c| c.value.offset),
        Some(100)
    );
}
