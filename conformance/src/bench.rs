//! `kgroup bench assign`: times the assignors on generated groups.
//!
//! A group has `topics` topics (`t0000`, `t0001`, …) of `partitions` partitions each and
//! `members` members (`c00000`, `c00001`, …), every member subscribing to every topic. The
//! "fresh" round assigns with no previous ownership. The "rebalance" round is the round after
//! it: members 1..n-1 report their fresh-round partitions with generation 1 and member 0 reports
//! none, as when one member restarts. Only the assignor call is timed, on a spec already built,
//! after warm-up runs.

use kgroup_assign::{assign, metrics, Assignment, GroupSpec, MemberInput, Strategy};
use serde::Serialize;
use std::time::Instant;

/// A group size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// The name reported (`A`, `B`, `C`, `K` or `custom`).
    pub name: &'static str,
    /// Number of topics.
    pub topics: u32,
    /// Partitions per topic.
    pub partitions: u32,
    /// Number of members.
    pub members: u32,
}

impl Shape {
    /// The standard shapes: A (1 × 1,000, 100 members), B (50 × 800 = 40k, 800 members),
    /// C (500 × 2,000 = 1M, 2,000 members), K (1,000 × 100 = 100k, 10,000 members: KIP-848's scale).
    pub const STANDARD: [Shape; 4] = [
        Shape {
            name: "A",
            topics: 1,
            partitions: 1_000,
            members: 100,
        },
        Shape {
            name: "B",
            topics: 50,
            partitions: 800,
            members: 800,
        },
        Shape {
            name: "C",
            topics: 500,
            partitions: 2_000,
            members: 2_000,
        },
        Shape {
            name: "K",
            topics: 1_000,
            partitions: 100,
            members: 10_000,
        },
    ];

    /// A standard shape by letter.
    pub fn standard(name: &str) -> Option<Shape> {
        Shape::STANDARD.into_iter().find(|s| s.name == name)
    }

    /// The names of the topics.
    pub fn topic_names(&self) -> Vec<String> {
        (0..self.topics).map(|t| format!("t{t:04}")).collect()
    }

    /// The id of member `i`.
    pub fn member_id(i: u32) -> String {
        format!("c{i:05}")
    }

    /// The fresh-round group.
    pub fn fresh(&self) -> GroupSpec {
        let topics = self.topic_names();
        let mut b = GroupSpec::builder();
        for t in &topics {
            b = b.topic(t.clone(), i64::from(self.partitions));
        }
        for i in 0..self.members {
            b = b.member(MemberInput::new(
                Shape::member_id(i),
                topics.iter().cloned(),
            ));
        }
        b.build().expect("generated groups are valid")
    }

    /// The rebalance-round group after `first`: members 1..n-1 own what `first` gave them, in
    /// generation 1; member 0 owns nothing.
    pub fn rebalance(&self, fresh: &GroupSpec, first: &Assignment) -> GroupSpec {
        let topics = self.topic_names();
        let mut b = GroupSpec::builder();
        for t in &topics {
            b = b.topic(t.clone(), i64::from(self.partitions));
        }
        for (i, (member, parts)) in fresh.members.iter().zip(&first.members).enumerate() {
            let mut input = MemberInput::new(member.id.as_str(), topics.iter().cloned());
            if i > 0 {
                input = input.owning(
                    parts
                        .iter()
                        .map(|tp| (fresh.topic_name(tp.topic).to_owned(), tp.partition as i32)),
                    1,
                );
            }
            b = b.member(input);
        }
        b.build().expect("generated groups are valid")
    }
}

/// Which rounds to time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// The first assignment of a new group.
    Fresh,
    /// The round after it, with member 0 restarted.
    Rebalance,
}

impl Round {
    /// The round's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Round::Fresh => "fresh",
            Round::Rebalance => "rebalance",
        }
    }
}

/// One timed (strategy, shape, round).
#[derive(Debug, Clone, Serialize)]
pub struct Measurement {
    /// The strategy's protocol name.
    pub strategy: &'static str,
    /// The shape's name.
    pub shape: &'static str,
    /// `fresh` or `rebalance`.
    pub round: &'static str,
    /// Median of the timed runs, in milliseconds.
    pub median_ms: f64,
    /// Fastest run.
    pub min_ms: f64,
    /// Slowest run.
    pub max_ms: f64,
    /// Number of timed runs.
    pub runs: usize,
    /// Partitions whose valid previous owner lost them (or that were withheld).
    #[serde(skip)]
    pub moves: usize,
    /// Largest minus smallest member count.
    #[serde(skip)]
    pub spread: usize,
}

/// Times `strategy` on `spec` over `runs` runs after warm-up, returning the measurement and the
/// assignment of the last run.
pub fn time(
    strategy: Strategy,
    shape: &Shape,
    round: Round,
    spec: &GroupSpec,
    runs: usize,
) -> (Measurement, Assignment) {
    let warmups = if spec.topics.iter().map(|t| t.partitions as u64).sum::<u64>() > 200_000 {
        1
    } else {
        3
    };
    let mut last = None;
    for _ in 0..warmups {
        last = Some(std::hint::black_box(assign(
            strategy,
            std::hint::black_box(spec),
        )));
    }
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        drop(last.take());
        let start = Instant::now();
        let out = assign(strategy, std::hint::black_box(spec));
        times.push(start.elapsed().as_secs_f64() * 1e3);
        last = Some(std::hint::black_box(out));
    }
    let out = last.expect("at least one run");
    times.sort_by(f64::total_cmp);
    let median = if times.len() % 2 == 1 {
        times[times.len() / 2]
    } else {
        (times[times.len() / 2 - 1] + times[times.len() / 2]) / 2.0
    };
    let (lo, hi) = metrics::spread(&out);
    let m = Measurement {
        strategy: strategy.name(),
        shape: shape.name,
        round: round.name(),
        median_ms: round3(median),
        min_ms: round3(times[0]),
        max_ms: round3(*times.last().expect("runs > 0")),
        runs,
        moves: metrics::moves(spec, &out),
        spread: hi - lo,
    };
    (m, out)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// The table header for the readable output.
pub fn table_header() -> String {
    format!(
        "{:<19} {:<6} {:<9} {:>10} {:>10} {:>10} {:>5} {:>8} {:>6}",
        "strategy", "shape", "round", "median_ms", "min_ms", "max_ms", "runs", "moves", "spread"
    )
}

/// One row of the readable output.
pub fn table_row(m: &Measurement) -> String {
    format!(
        "{:<19} {:<6} {:<9} {:>10.3} {:>10.3} {:>10.3} {:>5} {:>8} {:>6}",
        m.strategy, m.shape, m.round, m.median_ms, m.min_ms, m.max_ms, m.runs, m.moves, m.spread
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebalance_round_restarts_member_zero() {
        let shape = Shape {
            name: "custom",
            topics: 2,
            partitions: 5,
            members: 3,
        };
        let fresh = shape.fresh();
        assert_eq!(fresh.topics.len(), 2);
        assert_eq!(fresh.members[2].id.as_str(), "c00002");
        let first = assign(Strategy::Sticky, &fresh);
        let second = shape.rebalance(&fresh, &first);
        assert!(second.members[0].owned.is_empty());
        assert_eq!(second.members[1].owned, first.members[1]);
        assert_eq!(second.members[1].generation, 1);
        let (m, out) = time(Strategy::Sticky, &shape, Round::Rebalance, &second, 3);
        assert_eq!(m.runs, 3);
        assert!(m.min_ms <= m.median_ms && m.median_ms <= m.max_ms);
        metrics::validate(&second, &out).unwrap();
    }
}
