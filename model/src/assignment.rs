//! The leader's assignment. By default the model's own small sticky rule: members (sorted by id)
//! get `P / n` partitions, the first `P % n` one more; each keeps what it reported as owned up to
//! its share, and the rest is dealt in member order. Under COOPERATIVE a partition that another
//! member still reports as owned is withheld, so it is revoked first and handed over in the
//! follow-up rebalance (KIP-429).
//!
//! With `--assignor NAME` the leader runs one of `kgroup-assign`'s production assignors instead,
//! so that they are checked inside the protocol: members named `m<slot>.<n>`, static members'
//! instance ids `i<slot>`, one topic `t` of P partitions, owned partitions with the generation
//! the member reported.

use crate::bugs::Bug;
use crate::config::{Assignor, Config, Protocol};
use crate::state::{parts, Claim, MemberId, Parts};
use kgroup_assign::{GroupSpec, MemberInput};

/// The leader's assignment for the members of the JoinGroup response.
pub fn assign(cfg: &Config, members: &[Claim]) -> Vec<(MemberId, Parts)> {
    match cfg.assignor {
        Assignor::Model => {
            let claims: Vec<(MemberId, Parts)> = members.iter().map(|&(m, p, _)| (m, p)).collect();
            model_rule(cfg, &claims)
        }
        Assignor::Kafka(strategy) => production(cfg, strategy, members),
    }
}

fn production(
    cfg: &Config,
    strategy: kgroup_assign::Strategy,
    members: &[Claim],
) -> Vec<(MemberId, Parts)> {
    let name = |m: MemberId| format!("m{}.{}", m.slot, m.nonce);
    let mut b = GroupSpec::builder().topic("t", i64::from(cfg.partitions));
    for &(id, owned, generation) in members {
        let mut input = MemberInput::new(name(id), ["t"]);
        if owned != 0 || generation != 0 {
            input = input.owning(parts(owned).map(|p| ("t", p as i32)), i32::from(generation));
        }
        if cfg.static_members {
            input = input.with_instance_id(format!("i{}", id.slot));
        }
        b = b.member(input);
    }
    let spec = b.build().expect("the model's members are a valid group");
    let named = kgroup_assign::assign(strategy, &spec).named(&spec);
    members
        .iter()
        .map(|&(id, _, _)| {
            let key = name(id);
            let got = named
                .iter()
                .find(|(m, _)| m.as_str() == key)
                .map_or(0, |(_, tps)| {
                    tps.iter().fold(0, |acc, tp| acc | 1 << tp.partition)
                });
            (id, got)
        })
        .collect()
}

fn model_rule(cfg: &Config, members: &[(MemberId, Parts)]) -> Vec<(MemberId, Parts)> {
    let all = cfg.all_partitions();
    let n = members.len();
    let quota =
        |i: usize| cfg.partitions as usize / n + usize::from(i < cfg.partitions as usize % n);
    let mut claimed: Parts = 0;
    let mut out: Vec<(MemberId, Parts)> = Vec::with_capacity(n);
    for (i, &(id, owned)) in members.iter().enumerate() {
        let mut keep: Parts = 0;
        for p in parts(owned & all & !claimed) {
            if (keep.count_ones() as usize) < quota(i) {
                keep |= 1 << p;
            }
        }
        claimed |= keep;
        out.push((id, keep));
    }
    for (i, (_, a)) in out.iter_mut().enumerate() {
        for p in parts(all & !claimed) {
            if (a.count_ones() as usize) < quota(i) {
                *a |= 1 << p;
                claimed |= 1 << p;
            }
        }
    }
    if cfg.protocol == Protocol::Cooperative && !cfg.has_bug(Bug::CooperativeHandoverWithoutRevoke)
    {
        let claims: Vec<Parts> = members.iter().map(|m| m.1).collect();
        for (i, (_, a)) in out.iter_mut().enumerate() {
            let others = claims
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .fold(0, |acc, (_, c)| acc | c);
            *a &= !others;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(slot: u8) -> MemberId {
        MemberId { slot, nonce: 0 }
    }

    #[test]
    fn eager_deals_in_member_order() {
        let mut cfg = Config::small();
        cfg.partitions = 3;
        let a = assign(&cfg, &[(id(0), 0, 0), (id(1), 0, 0)]);
        assert_eq!(a, vec![(id(0), 0b011), (id(1), 0b100)]);
    }

    #[test]
    fn cooperative_withholds_what_another_member_owns() {
        let mut cfg = Config::small();
        cfg.protocol = Protocol::Cooperative;
        // Member 1 owns both; member 0 is new. Balance moves one to member 0, but it is withheld.
        let a = assign(&cfg, &[(id(0), 0, 0), (id(1), 0b11, 1)]);
        assert_eq!(a, vec![(id(0), 0), (id(1), 0b01)]);
        // After member 1 revoked partition 1, the follow-up round hands it over.
        let a = assign(&cfg, &[(id(0), 0, 0), (id(1), 0b01, 2)]);
        assert_eq!(a, vec![(id(0), 0b10), (id(1), 0b01)]);
    }

    #[test]
    fn the_bug_hands_over_at_once() {
        let mut cfg = Config::small();
        cfg.protocol = Protocol::Cooperative;
        cfg.bug = Some(Bug::CooperativeHandoverWithoutRevoke);
        let a = assign(&cfg, &[(id(0), 0, 0), (id(1), 0b11, 1)]);
        assert_eq!(a, vec![(id(0), 0b10), (id(1), 0b01)]);
    }

    #[test]
    fn production_cooperative_sticky_withholds_too() {
        let mut cfg = Config::small();
        cfg.protocol = Protocol::Cooperative;
        cfg.assignor = Assignor::Kafka(kgroup_assign::Strategy::CooperativeSticky);
        let a = assign(&cfg, &[(id(0), 0, 0), (id(1), 0b11, 1)]);
        // One partition stays with member 1; the one that moves is withheld this round.
        assert_eq!(a.iter().map(|x| x.1.count_ones()).sum::<u32>(), 1);
        assert_eq!(a[0].1, 0);
        let a = assign(&cfg, &[(id(0), 0, 0), (id(1), 0b01, 2)]);
        assert_eq!(a, vec![(id(0), 0b10), (id(1), 0b01)]);
    }

    #[test]
    fn production_range_splits_by_member_order() {
        let mut cfg = Config::small();
        cfg.partitions = 3;
        cfg.assignor = Assignor::Kafka(kgroup_assign::Strategy::Range);
        let a = assign(&cfg, &[(id(0), 0, 0), (id(1), 0, 0)]);
        assert_eq!(a, vec![(id(0), 0b011), (id(1), 0b100)]);
    }
}
