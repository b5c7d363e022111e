//! The seeded simulator (`kgroup sim`, docs/simulator.md): a seed means one run, byte for byte;
//! a swarm of seeds keeps every invariant; each invariant checker fires on deliberately wrong
//! behaviour (and "no double processing" without its timing assumption); a recorded run replays
//! as a conformance trace against kgroup-core; the command line's exit codes.
//!
//! `KGROUP_SLOW_TESTS=1` runs a larger swarm.

use kgroup_conformance::replay::replay_inproc;
use kgroup_conformance::sim::cli::{render, reproduction, swarm};
use kgroup_conformance::sim::{
    run, FaultKind, Invariant, Membership, Overrides, Sabotage, SimOptions,
};
use kgroup_protocol::trace::{Trace, TraceStep};
use kgroup_protocol::RebalanceProtocol;
use std::collections::BTreeSet;
use std::process::Command;

fn opts() -> SimOptions {
    SimOptions::default()
}

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn kgroup(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kgroup"))
        .args(args)
        .output()
        .expect("kgroup runs")
}

#[test]
fn t10_a_seed_is_one_run_byte_for_byte() {
    let o = opts();
    for seed in [0, 7, 12_345] {
        let a = run(seed, &o);
        let b = run(seed, &o);
        assert_eq!(render(&a, &o), render(&b, &o), "seed {seed}");
        assert_eq!(a.events, b.events, "seed {seed}");
        assert_eq!(a.stats, b.stats, "seed {seed}");
        assert!(a.stats.steps() > o.steps, "seed {seed} ran its tail");
    }
    // Different seeds are different runs.
    assert_ne!(run(1, &o).stats, run(2, &o).stats);
}

#[test]
fn t11_pinning_one_choice_keeps_the_rest_of_the_seed() {
    let free = run(3, &opts()).scenario;
    let pinned = SimOptions {
        overrides: Overrides {
            protocol: Some(RebalanceProtocol::Eager),
            ..Overrides::default()
        },
        ..opts()
    };
    let s = run(3, &pinned).scenario;
    assert_eq!(s.protocol, RebalanceProtocol::Eager);
    assert_eq!(s.topics, free.topics);
    assert_eq!(s.session_timeout_ms, free.session_timeout_ms);
    assert_eq!(s.consumers, free.consumers);
}

/// The swarm CI runs: a few hundred seeds of the default length, every invariant holding.
#[test]
fn t20_a_swarm_of_seeds_keeps_every_invariant() {
    let seeds = 300;
    let results = swarm(0, seeds, &opts(), threads(), &|_| {});
    assert_eq!(results.len(), seeds as usize);
    let failures: Vec<String> = results
        .iter()
        .filter_map(|r| {
            r.failure
                .as_ref()
                .map(|f| format!("seed {}: {f}\n  {}", r.seed, reproduction(r.seed, &opts())))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Every fault kind, each protocol and each kind of membership is exercised by the CI swarm's
/// seeds, so the swarm is not quietly narrower than it claims.
#[test]
fn t21_the_swarm_draws_every_kind_of_scenario() {
    let mut faults = BTreeSet::new();
    let mut protocols = BTreeSet::new();
    let mut memberships = BTreeSet::new();
    let mut sizes = BTreeSet::new();
    let mut injected = BTreeSet::new();
    let o = SimOptions {
        steps: 300,
        keep_events: 0,
        ..opts()
    };
    for seed in 0..150 {
        let r = run(seed, &o);
        faults.extend(r.scenario.faults.enabled.iter().copied());
        protocols.insert(format!("{:?}", r.scenario.protocol));
        memberships.insert(r.scenario.membership.name());
        sizes.insert(r.scenario.consumers);
        injected.extend(r.stats.faults.keys().copied());
    }
    assert_eq!(faults, FaultKind::ALL.into_iter().collect());
    assert_eq!(injected, FaultKind::ALL.into_iter().collect());
    assert_eq!(protocols.len(), 2);
    assert_eq!(memberships.len(), 3);
    assert_eq!(sizes, (1..=5).collect());
}

/// Each sabotage is caught by the checker of the invariant it breaks, on most seeds that give
/// it a chance, and always with that invariant first.
#[test]
fn t30_every_checker_fires_on_deliberately_wrong_behaviour() {
    for sabotage in Sabotage::ALL {
        let mut o = SimOptions {
            sabotage: Some(sabotage),
            keep_events: 0,
            ..opts()
        };
        // Give each sabotage the situations it needs: several consumers, and for the handover
        // a cooperative group whose partitions move.
        o.overrides.consumers = Some(3);
        if sabotage == Sabotage::HandoverWithoutRevoke {
            o.overrides.protocol = Some(RebalanceProtocol::Cooperative);
        }
        if matches!(
            sabotage,
            Sabotage::ProcessAfterLoss | Sabotage::HandoverWithoutRevoke
        ) {
            // Members come and go, so partitions move.
            o.overrides.faults = Some([FaultKind::Leave].into());
            o.overrides.membership = Some(Membership::Dynamic);
        }
        let mut caught = 0;
        for seed in 0..20 {
            let r = run(seed, &o);
            if let Some(v) = &r.violation {
                assert_eq!(
                    v.invariant,
                    sabotage.breaks(),
                    "{} on seed {seed}: {v}",
                    sabotage.name()
                );
                caught += 1;
            }
        }
        assert!(
            caught >= 10,
            "{} caught on only {caught} of 20 seeds",
            sabotage.name()
        );
    }
}

/// Without the timing assumption, consumers that the coordinator removed (or carried into a
/// generation they did not join) go on processing until they learn it, as Kafka's do, and the
/// checkers find two consumers on one partition.
#[test]
fn t31_without_the_timing_assumption_partitions_are_processed_twice() {
    let o = SimOptions {
        timing_assumption: false,
        keep_events: 0,
        overrides: Overrides {
            faults: Some([FaultKind::Freeze, FaultKind::Delay].into()),
            ..Overrides::default()
        },
        ..opts()
    };
    let broken: Vec<Invariant> = (0..40)
        .filter_map(|seed| run(seed, &o).violation.map(|v| v.invariant))
        .collect();
    assert!(
        broken.len() >= 5,
        "only {} of 40 seeds failed",
        broken.len()
    );
    assert!(broken.iter().all(|i| matches!(
        i,
        Invariant::NoDoubleProcessing | Invariant::RevokeBeforeHandover
    )));
    // With the assumption the same seeds hold.
    let with = SimOptions {
        timing_assumption: true,
        ..o
    };
    for seed in 0..40 {
        let r = run(seed, &with);
        assert!(r.ok(), "seed {seed}: {:?}", r.violation);
    }
}

/// The coordinator's configuration passes through to kgroup-core (the switch a broken variant
/// of kgroup-core will use): a group.max.size of 1 refuses the second consumer, fatally.
#[test]
fn t32_a_coordinator_setting_reaches_kgroup_core() {
    fn one_member(c: &mut kgroup_core::coordinator::Config) {
        c.group_max_size = 1;
    }
    let o = SimOptions {
        tweak_coordinator: Some(one_member),
        overrides: Overrides {
            consumers: Some(3),
            faults: Some(BTreeSet::new()),
            ..Overrides::default()
        },
        ..opts()
    };
    let r = run(0, &o);
    let v = r.violation.expect("the second consumer is refused");
    assert_eq!(v.invariant, Invariant::ConsumersHealthy, "{v}");
    assert!(v.message.contains("GROUP_MAX_SIZE_REACHED"), "{v}");
    assert!(run(
        0,
        &SimOptions {
            tweak_coordinator: None,
            ..o
        }
    )
    .ok());
}

fn recorded(seed: u64, o: &SimOptions) -> Trace {
    let o = SimOptions {
        record_trace: true,
        ..o.clone()
    };
    let r = run(seed, &o);
    assert!(r.ok(), "seed {seed}: {:?}", r.violation);
    r.trace.expect("recorded")
}

/// A recorded run is a conformance trace that replays cleanly against kgroup-core (through its
/// JSON form), names member ids instead of spelling them, and says where its expectations
/// came from.
#[test]
fn t40_recorded_runs_replay_as_conformance_traces() {
    let mut restarts = 0;
    let short = SimOptions {
        steps: 600,
        ..opts()
    };
    let failovers = SimOptions {
        overrides: Overrides {
            faults: Some([FaultKind::Failover, FaultKind::Crash, FaultKind::Loss].into()),
            ..Overrides::default()
        },
        ..short.clone()
    };
    for (seed, o) in (0..6)
        .map(|s| (s, &short))
        .chain((100..104).map(|s| (s, &failovers)))
    {
        let trace = recorded(seed, o);
        let json = serde_json::to_string(&trace).unwrap();
        let back: Trace = serde_json::from_str(&json).unwrap();
        replay_inproc(&back).unwrap_or_else(|f| panic!("seed {seed}: {f}"));
        assert!(
            !json.contains("-00000000-0000-0000-0000-"),
            "seed {seed}: a member id is spelled out"
        );
        assert!(json.contains("${m1}"), "seed {seed}");
        assert!(
            trace.description.contains("review"),
            "{}",
            trace.description
        );
        assert!(trace.description.contains(&format!("--seed {seed}")));
        restarts += trace
            .steps
            .iter()
            .filter(|s| **s == TraceStep::Restart)
            .count();
    }
    assert!(restarts > 0, "some recorded run fails over");
}

/// A changed expectation in a recorded trace fails the replay: the trace checks something.
#[test]
fn t41_a_recorded_trace_has_teeth() {
    let mut trace = recorded(
        5,
        &SimOptions {
            steps: 300,
            ..opts()
        },
    );
    let k = trace
        .steps
        .iter()
        .position(|s| matches!(s, TraceStep::Expect { .. }))
        .expect("an expectation");
    if let TraceStep::Expect { response, .. } = &mut trace.steps[k] {
        let mut v = serde_json::to_value(&*response).unwrap();
        let inner = v.as_object_mut().unwrap().values_mut().next().unwrap();
        let code = if inner.get("error_code").and_then(|c| c.as_str()) == Some("NONE") {
            "UNKNOWN_MEMBER_ID"
        } else {
            "NONE"
        };
        inner["error_code"] = code.into();
        *response = serde_json::from_value(v).unwrap();
    }
    let f = replay_inproc(&trace).unwrap_err();
    assert_eq!(f.step, k + 1, "{f}");
}

#[test]
fn t50_the_command_line() {
    // One seed: a summary, exit 0, the same output twice.
    let a = kgroup(&["sim", "--seed", "4", "--steps", "300"]);
    assert_eq!(
        a.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&a.stderr)
    );
    let text = String::from_utf8_lossy(&a.stdout);
    assert!(text.starts_with("seed 4: "), "{text}");
    assert!(text.contains("invariants: all hold"), "{text}");
    let b = kgroup(&["sim", "--seed", "4", "--steps", "300"]);
    assert_eq!(a.stdout, b.stdout);
    // A violation: the invariant, the last events, the reproduction line, exit 1.
    let v = kgroup(&[
        "sim",
        "--seed",
        "1",
        "--steps",
        "500",
        "--sabotage",
        "commit-beyond-processed",
        "--events",
        "5",
    ]);
    assert_eq!(v.status.code(), Some(1));
    let text = String::from_utf8_lossy(&v.stdout);
    assert!(text.contains("VIOLATION at step"), "{text}");
    assert!(text.contains(Invariant::NoLoss.sentence()), "{text}");
    assert!(text.contains("the last 5 events:"), "{text}");
    assert!(
        text.contains(
            "reproduce: kgroup sim --seed 1 --steps 500 --sabotage commit-beyond-processed"
        ),
        "{text}"
    );
    // A swarm: one line per failed seed with its reproduction, a final line, no bar off a
    // terminal.
    let s = kgroup(&["sim", "--swarm", "--seeds", "4", "--steps", "200"]);
    assert_eq!(
        s.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&s.stdout)
    );
    let text = String::from_utf8_lossy(&s.stdout);
    assert!(text.contains("4 seeds (0..=3), 0 failed"), "{text}");
    assert!(text.contains("seeds/s"), "{text}");
    assert!(
        s.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&s.stderr)
    );
    let f = kgroup(&[
        "sim",
        "--swarm",
        "--seeds",
        "3",
        "--first-seed",
        "10",
        "--steps",
        "300",
        "--quiet",
        "--sabotage",
        "rewind-commit",
        "--consumers",
        "2",
    ]);
    assert_eq!(f.status.code(), Some(1));
    let text = String::from_utf8_lossy(&f.stdout);
    assert!(text.contains("FAIL seed 10: "), "{text}");
    assert!(
        text.contains(
            "reproduce: kgroup sim --seed 10 --steps 300 --consumers 2 --sabotage rewind-commit"
        ),
        "{text}"
    );
    // A recorded trace is written where asked.
    let dir = std::env::temp_dir().join(format!("kgroup-sim-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("seed-4.json");
    let t = kgroup(&[
        "sim",
        "--seed",
        "4",
        "--steps",
        "300",
        "--save-trace",
        path.to_str().unwrap(),
    ]);
    assert_eq!(t.status.code(), Some(0));
    let trace: Trace = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(trace.name, "sim-seed-4");
    replay_inproc(&trace).unwrap_or_else(|f| panic!("{f}"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn t51_bad_options_exit_2_with_a_message() {
    for (args, says) in [
        (vec!["sim"], "--seed"),
        (
            vec!["sim", "--seed", "1", "--faults", "lightning"],
            "lightning",
        ),
        (vec!["sim", "--seed", "1", "--sabotage", "nope"], "nope"),
        (
            vec!["sim", "--seed", "1", "--swarm", "--seeds", "3"],
            "--swarm",
        ),
        (vec!["sim", "--swarm"], "--seeds"),
        (vec!["sim", "--seeds", "3"], "--swarm"),
        (vec!["sim", "--seed", "x"], "x"),
        (vec!["sim", "--seed", "1", "--consumers", "9"], "9"),
        (
            vec!["sim", "--swarm", "--seeds", "2", "--save-trace", "t.json"],
            "--save-trace",
        ),
    ] {
        let out = kgroup(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

fn pinned(
    protocol: Option<RebalanceProtocol>,
    membership: Membership,
    faults: &[FaultKind],
) -> SimOptions {
    SimOptions {
        overrides: Overrides {
            protocol,
            membership: Some(membership),
            faults: Some(faults.iter().copied().collect()),
            ..Overrides::default()
        },
        keep_events: 100_000,
        ..opts()
    }
}

/// Finding (docs/simulator.md): Kafka 3.9 keeps a static member that did not rejoin within the
/// rebalance timeout in the new generation, with its old subscription. Here three static
/// members are blocked in commitSync on a slow connection while a cooperative rebalance
/// completes without them; the leader gives one of their partitions to the member that
/// rejoined. The timing assumption stops a carried member from processing until it joins again;
/// without it the new owner is assigned a partition the carried member still owns.
#[test]
fn t60_finding_a_static_member_carried_into_a_generation_it_did_not_join() {
    let o = pinned(
        Some(RebalanceProtocol::Cooperative),
        Membership::Static,
        &[FaultKind::Loss, FaultKind::Delay, FaultKind::Failover],
    );
    let r = run(54, &o);
    assert!(r.ok(), "{:?}", r.violation);
    assert!(r
        .events
        .iter()
        .any(|e| e.contains("carried into generation 3")));
    let without = SimOptions {
        timing_assumption: false,
        ..o
    };
    let v = run(54, &without)
        .violation
        .expect("double ownership without the assumption");
    assert_eq!(v.invariant, Invariant::RevokeBeforeHandover, "{v}");
}

/// Finding: Kafka 3.9 stores a static member's new member id only with a generation the leader
/// completes (or when it replaces the old id in a Stable group); a coordinator failover before
/// that brings back the stored id, and the only process of the instance is fenced
/// (FENCED_INSTANCE_ID, fatal). The simulated application exits and is started again.
#[test]
fn t61_finding_a_static_member_fenced_after_a_failover_starts_again() {
    let o = pinned(
        None,
        Membership::Static,
        &[FaultKind::Loss, FaultKind::Delay, FaultKind::Failover],
    );
    let r = run(388, &o);
    assert!(r.ok(), "{:?}", r.violation);
    assert_eq!(r.stats.fenced_restarts, 1);
}

/// Finding (the model's, reached here without a crash): a static member whose poll interval
/// expires between the two rounds of a cooperative hand-over rejoins under a new member id,
/// gets its stored assignment without a rebalance and never asks for the second round; the
/// withheld partitions stay unassigned. Drawn scenarios leave these faults out of static
/// cooperative groups; pinned, the liveness check reports it.
#[test]
fn t62_finding_the_static_cooperative_gap_is_reported() {
    let mut o = pinned(
        Some(RebalanceProtocol::Cooperative),
        Membership::Static,
        &[FaultKind::Stall],
    );
    o.overrides.consumers = Some(3);
    o.keep_events = 0;
    let v = run(1230, &o).violation.expect("the gap");
    assert_eq!(v.invariant, Invariant::RebalancesFinish, "{v}");
    assert!(v.message.contains("nobody processes"), "{v}");
}

/// Regression: an empty group without offsets is removed at the retention check and a group
/// of the same name starts again at generation 1; its generations are not the old group's.
#[test]
fn t63_regression_a_removed_group_starts_its_generations_again() {
    let o = SimOptions {
        keep_events: 100_000,
        ..opts()
    };
    let r = run(1204, &o);
    assert!(r.ok(), "{:?}", r.violation);
    assert!(r
        .events
        .iter()
        .any(|e| e.contains("the coordinator removes the empty group")));
}

/// A larger swarm, by hand or in a slow tier: `KGROUP_SLOW_TESTS=1`.
#[test]
fn t90_slow_a_large_swarm() {
    if std::env::var_os("KGROUP_SLOW_TESTS").is_none() {
        return;
    }
    let o = opts();
    let results = swarm(1_000_000, 3_000, &o, threads(), &|_| {});
    let failures: Vec<String> = results
        .iter()
        .filter_map(|r| r.failure.as_ref().map(|f| format!("seed {}: {f}", r.seed)))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
