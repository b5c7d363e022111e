//! The simulator's one source of randomness: a ChaCha8 stream from the seed.
//!
//! ChaCha8 (`rand_chacha`) gives the same stream for a seed on every platform and in every
//! version of the crate, and the helpers below draw from its raw 64-bit words with integer
//! arithmetic only, so a seed means the same run everywhere. Every decision of a run (the
//! scenario, network delays, losses, faults, what the applications do) comes from this stream,
//! in the order the run makes them.

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone)]
pub(crate) struct Rng(ChaCha8Rng);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// Uniform in `0..n`, without modulo bias (Lemire's multiply-and-reject).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "an empty range");
        let threshold = n.wrapping_neg() % n;
        loop {
            let m = u128::from(self.0.next_u64()) * u128::from(n);
            if (m as u64) >= threshold {
                return (m >> 64) as u64;
            }
        }
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi, "an empty range {lo}..={hi}");
        if hi - lo == u64::MAX {
            return self.0.next_u64();
        }
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `ppm` in a million.
    pub(crate) fn ppm(&mut self, ppm: u32) -> bool {
        ppm > 0 && self.below(1_000_000) < u64::from(ppm)
    }

    pub(crate) fn coin(&mut self) -> bool {
        self.below(2) == 1
    }

    pub(crate) fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize].clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stream of a seed is pinned: a change of the generator or of the helpers would silently
    /// change what every recorded seed means.
    #[test]
    fn a_seed_always_gives_the_same_draws() {
        let mut r = Rng::new(42);
        let draws: Vec<u64> = (0..6).map(|_| r.below(1_000)).collect();
        let mut again = Rng::new(42);
        let repeat: Vec<u64> = (0..6).map(|_| again.below(1_000)).collect();
        assert_eq!(draws, repeat);
        assert_eq!(draws, PINNED);
    }

    const PINNED: [u64; 6] = [681, 950, 427, 627, 288, 149];

    #[test]
    fn ranges_stay_in_bounds_and_cover_them() {
        let mut r = Rng::new(7);
        let mut seen = [false; 5];
        for _ in 0..1_000 {
            let x = r.range(3, 7);
            assert!((3..=7).contains(&x));
            seen[(x - 3) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert!(!r.ppm(0));
        assert!(r.ppm(1_000_000));
        assert_eq!(r.range(5, 5), 5);
    }
}
