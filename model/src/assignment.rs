//! The leader's assignment rule: the model's own small sticky assignor. Members (sorted by id)
//! get `P / n` partitions, the first `P % n` one more; each keeps what it reported as owned up to
//! its share, and the rest is dealt in member order. Under COOPERATIVE a partition that another
//! member still reports as owned is withheld, so it is revoked first and handed over in the
//! follow-up rebalance (KIP-429).

use crate::bugs::Bug;
use crate::config::{Config, Protocol};
use crate::state::{parts, MemberId, Parts};

pub fn assign(cfg: &Config, members: &[(MemberId, Parts)]) -> Vec<(MemberId, Parts)> {
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
        let a = assign(&cfg, &[(id(0), 0), (id(1), 0)]);
        assert_eq!(a, vec![(id(0), 0b011), (id(1), 0b100)]);
    }

    #[test]
    fn cooperative_withholds_what_another_member_owns() {
        let mut cfg = Config::small();
        cfg.protocol = Protocol::Cooperative;
        // Member 1 owns both; member 0 is new. Balance moves one to member 0, but it is withheld.
        let a = assign(&cfg, &[(id(0), 0), (id(1), 0b11)]);
        assert_eq!(a, vec![(id(0), 0), (id(1), 0b01)]);
        // After member 1 revoked partition 1, the follow-up round hands it over.
        let a = assign(&cfg, &[(id(0), 0), (id(1), 0b01)]);
        assert_eq!(a, vec![(id(0), 0b10), (id(1), 0b01)]);
    }

    #[test]
    fn the_bug_hands_over_at_once() {
        let mut cfg = Config::small();
        cfg.protocol = Protocol::Cooperative;
        cfg.bug = Some(Bug::CooperativeHandoverWithoutRevoke);
        let a = assign(&cfg, &[(id(0), 0), (id(1), 0b11)]);
        assert_eq!(a, vec![(id(0), 0b10), (id(1), 0b01)]);
    }
}
