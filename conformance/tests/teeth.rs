//! The corpus has teeth: every broken variant of kgroup-core's coordinator (one guard removed)
//! fails at least one committed trace, and a variant matching a seeded bug of the model fails
//! the trace generated to tell that bug apart.

use kgroup_conformance::replay::{coordinator_config, replay_inproc_with};
use kgroup_core::coordinator::Broken;

mod common;

#[test]
fn every_broken_variant_fails_a_trace() {
    let traces = common::committed();
    assert!(Broken::ALL.len() >= 5);
    let mut report = vec![];
    for &broken in Broken::ALL {
        let failing: Vec<&str> = traces
            .iter()
            .filter(|t| {
                let mut config = coordinator_config(&t.config);
                config.broken = Some(broken);
                replay_inproc_with(t, config).is_err()
            })
            .map(|t| t.name.as_str())
            .collect();
        assert!(
            !failing.is_empty(),
            "the broken variant {} passes every trace",
            broken.name()
        );
        let own = format!("bug-{}", broken.name());
        assert!(
            !broken.in_model() || failing.contains(&own.as_str()),
            "the broken variant {} passes its own trace {own} (it fails: {failing:?})",
            broken.name()
        );
        report.push(format!("{}: {} traces fail", broken.name(), failing.len()));
    }
    eprintln!("{}", report.join("\n"));
}
