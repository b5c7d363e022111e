//! Criterion benches of the assignors: strategy × shape (A, B, C, K) × round (fresh, rebalance).
//! Only the assignor call is timed, on a group already built, as `kgroup bench assign` does.
//!
//! `cargo bench -p kgroup-benches` runs all; a filter such as `cargo bench -p kgroup-benches --
//! 'sticky/C'` runs some.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use kgroup_assign::{assign, Strategy};
use kgroup_benches::{inputs, Shape};
use std::time::Duration;

fn assignors(c: &mut Criterion) {
    for shape in Shape::STANDARD {
        for strategy in Strategy::ALL {
            let mut group = c.benchmark_group(format!("{}/{}", strategy.name(), shape.name));
            if shape.name == "C" || shape.name == "K" || shape.name == "B" {
                group
                    .sample_size(10)
                    .measurement_time(Duration::from_secs(3))
                    .warm_up_time(Duration::from_secs(1));
            }
            for (round, spec) in inputs(&shape, strategy) {
                // The output is dropped outside the timed region: at C it is a million entries.
                group.bench_function(round.name(), |b| {
                    b.iter_batched_ref(|| (), |()| assign(strategy, &spec), BatchSize::PerIteration)
                });
            }
            group.finish();
        }
    }
}

criterion_group!(benches, assignors);
criterion_main!(benches);
