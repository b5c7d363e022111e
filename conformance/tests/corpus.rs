//! The committed conformance corpus (conformance/traces) is what the model generates, its
//! coverage report is pinned, every trace passes against kgroup-core, and every seeded bug of
//! the coordinator has a trace that tells it apart.

use kgroup_conformance::generate::{
    corpus_files, coverage_report, differences, generate, in_coordinator, DEFAULT_SEED,
};
use kgroup_conformance::replay::replay_inproc;
use kgroup_model::Bug;

mod common;
use common::{committed, corpus_dir};

/// A change to the model, the mapping or the walks shows up here: as a diff of the coverage
/// snapshot (`cargo insta review`) and of the trace files, which
/// `cargo run -p kgroup-conformance --bin kgroup -- conform generate` rewrites for review.
#[test]
fn the_committed_corpus_is_what_the_model_generates() {
    let generated = generate(DEFAULT_SEED);
    assert!(
        generated.untranslatable.is_empty(),
        "the mapping could not write some walks: {:?}",
        generated.untranslatable
    );
    let report = coverage_report(&generated);
    insta::assert_snapshot!("coverage", report);
    let files = corpus_files(&generated, &report);
    let stale = differences(&corpus_dir(), &files);
    assert!(
        stale.is_empty(),
        "conformance/traces is not what the model generates; run \
         `cargo run -p kgroup-conformance --bin kgroup -- conform generate` and review the diff:\n{}",
        stale.join("\n")
    );
}

#[test]
fn every_committed_trace_passes_against_kgroup_core() {
    let traces = committed();
    assert!(traces.len() > 50, "the corpus has {} traces", traces.len());
    let failures: Vec<String> = traces
        .iter()
        .filter_map(|t| replay_inproc(t).err().map(|f| format!("{}: {f}", t.name)))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_coordinator_bug_has_a_trace_that_tells_it_apart() {
    let names: Vec<String> = committed().into_iter().map(|t| t.name).collect();
    for bug in Bug::ALL.iter().filter(|b| in_coordinator(**b)) {
        let name = format!("bug-{}", bug.name());
        assert!(names.contains(&name), "no trace {name}");
    }
}

#[test]
fn the_corpus_covers_every_family_and_fault() {
    let report = std::fs::read_to_string(corpus_dir().join("coverage.md")).expect("coverage.md");
    for needle in [
        "### eager",
        "### cooperative",
        "### static",
        "### eos",
        "fault: consumer crashes and restarts",
        "fault: connection drops",
        "fault: coordinator fails over in PreparingRebalance",
        "fault: a second process of a static instance",
        "fault: consumer leaves the group",
        "session expires in Stable",
        "coordinator takes OffsetCommit out of order",
        "commit marker applied",
        "abort marker applied",
        "JoinGroup FENCED_INSTANCE_ID: ok",
        "TxnOffsetCommit INVALID_PRODUCER_EPOCH: ok",
        "OffsetFetch UNSTABLE_OFFSET_COMMIT: ok",
    ] {
        assert!(report.contains(needle), "coverage.md lacks `{needle}`");
    }
}

/// The generator is not tuned to its seed: corpora of other seeds pass against kgroup-core too
/// (two here; `KGROUP_SLOW_TESTS=1` runs twenty).
#[test]
fn corpora_of_other_seeds_pass_against_kgroup_core() {
    let seeds: Vec<u64> = if std::env::var_os("KGROUP_SLOW_TESTS").is_some() {
        (2..22).collect()
    } else {
        vec![2, 3]
    };
    for seed in seeds {
        let generated = generate(seed);
        assert!(generated.untranslatable.is_empty(), "seed {seed}");
        assert!(
            generated.bugs.iter().all(|(_, t)| t.is_some()),
            "seed {seed}: a coordinator bug without a distinguishing trace"
        );
        let failures: Vec<String> = generated
            .traces
            .iter()
            .filter_map(|t| replay_inproc(t).err().map(|f| format!("{}: {f}", t.name)))
            .collect();
        assert!(failures.is_empty(), "seed {seed}:\n{}", failures.join("\n"));
    }
}
