//! The dice of the background rate: a [`RandomSource`] rolls `0..=99`; [`FixedRoll`] always
//! rolls the same number and [`SplitMix64`] is the fast generator the server uses.

/// The dice of the background rate: a number in `0..=99`, fresh for every roll.
pub trait RandomSource {
    /// A number in `0..=99`; a client rolling below the background rate gets the main mapping.
    fn roll(&mut self) -> u8;
}

/// Always the same roll: for tests and for reproducible command-line evaluations.
#[derive(Debug, Clone, Copy)]
pub struct FixedRoll(pub u8);

impl RandomSource for FixedRoll {
    #[inline]
    fn roll(&mut self) -> u8 {
        self.0 % 100
    }
}

/// A small, fast, non-cryptographic generator (SplitMix64). A dice roll for a gradual rollout
/// needs an even spread, not secrecy.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl RandomSource for SplitMix64 {
    #[inline]
    fn roll(&mut self) -> u8 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // The top bits, reduced with a multiply: no modulo bias worth the name for 100 buckets.
        ((u128::from(z >> 32) * 100) >> 32) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_or_split_mix_source_rolls_below_a_hundred() {
        let mut rng = SplitMix64(42);
        let mut seen = [false; 100];
        for _ in 0..10_000 {
            let roll = rng.roll();
            assert!(roll < 100);
            seen[usize::from(roll)] = true;
        }
        assert!(seen.iter().all(|s| *s), "every value comes up");
        assert_eq!(FixedRoll(250).roll(), 50);
    }
}
