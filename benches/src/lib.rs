//! kgroup's benchmarks. The criterion benches are in `benches/`; `peers/` compares the
//! assignors with kafka-python's on the same inputs. The benchmark groups come from
//! `kgroup_conformance::bench`, the same generator `kgroup bench assign` uses, so the criterion
//! figures and the CLI's figures measure the same inputs.

pub use kgroup_conformance::bench::{Round, Shape};

/// The (round, group) pairs to time for a shape and strategy: the fresh group, and the rebalance
/// group built from the strategy's own fresh assignment.
pub fn inputs(
    shape: &Shape,
    strategy: kgroup_assign::Strategy,
) -> [(Round, kgroup_assign::GroupSpec); 2] {
    let fresh = shape.fresh();
    let first = kgroup_assign::assign(strategy, &fresh);
    let rebalance = shape.rebalance(&fresh, &first);
    [(Round::Fresh, fresh), (Round::Rebalance, rebalance)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_the_cli_shapes() {
        let shape = Shape {
            name: "custom",
            topics: 2,
            partitions: 3,
            members: 2,
        };
        let [(fresh_round, fresh), (rebalance_round, rebalance)] =
            inputs(&shape, kgroup_assign::Strategy::Range);
        assert_eq!(
            (fresh_round, rebalance_round),
            (Round::Fresh, Round::Rebalance)
        );
        assert!(fresh.members.iter().all(|m| m.owned.is_empty()));
        assert!(rebalance.members[0].owned.is_empty());
        assert!(!rebalance.members[1].owned.is_empty());
    }
}
