//! The dice of the background rate: a [`RandomSource`] rolls `0..=99`; [`FixedRoll`] always
//! rolls the same number and [`SplitMix64`] is the fast generator the server uses.
//! [`sticky_roll`] is the roll of a sticky rule (a shiplog extension): the same number for the
//! same rule and client identifier, on every instance and every version of shiplog.

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
        percent(mix(self.0))
    }
}

/// SplitMix64's finaliser: spreads every input bit over the whole word.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The top 32 bits of `z` reduced to `0..=99` with a multiply (no modulo bias worth the name).
#[inline]
fn percent(z: u64) -> u8 {
    ((u128::from(z >> 32) * 100) >> 32) as u8
}

const FNV_OFFSET: u64 = 0xCBF2_9CE4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01B3;

#[inline]
fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        hash = (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME);
    }
    hash
}

/// The background-rate roll (`0..=99`) of a client on a sticky rule: 64-bit FNV-1a of the
/// UTF-8 text `"{rule_id}:{client_id}"` (the id in decimal), then SplitMix64's finaliser, then
/// the top 32 bits times 100 shifted right by 32.
///
/// Nothing in it is random or per-process, so every instance and every later version answers
/// the same client the same way (the test pins known values). The rule id is part of the input
/// so that one client is not on the same side of every rollout; raising a rule's rate only
/// adds clients (a roll below 10 is below 50 too), lowering it only removes them.
pub fn sticky_roll(rule_id: i64, client_id: &str) -> u8 {
    // The id's decimal digits without allocating: at most 20 of them and a sign.
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = rule_id.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    let mut hash = FNV_OFFSET;
    if rule_id < 0 {
        hash = fnv1a(hash, b"-");
    }
    hash = fnv1a(hash, &digits[at..]);
    hash = fnv1a(hash, b":");
    hash = fnv1a(hash, client_id.as_bytes());
    percent(mix(hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED: [u8; 5] = [69, 71, 28, 55, 3];

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

    /// The hash as docs/evaluation.md defines it, written out long-hand.
    fn reference(rule_id: i64, client_id: &str) -> u8 {
        let text = format!("{rule_id}:{client_id}");
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in text.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x100_0000_01b3);
        }
        let mut z = hash;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        ((u128::from(z >> 32) * 100) >> 32) as u8
    }

    #[test]
    fn sticky_rolls_are_the_documented_hash_and_never_change() {
        for (rule_id, client) in [
            (1, "a"),
            (42, "client-7"),
            (0, ""),
            (-3, "x"),
            (i64::MAX, "é"),
        ] {
            assert_eq!(sticky_roll(rule_id, client), reference(rule_id, client));
        }
        // Pinned: a change here moves clients across every sticky rollout in production.
        let pinned: Vec<u8> = ["a", "b", "c", "client-1", "client-2"]
            .iter()
            .map(|c| sticky_roll(7, c))
            .collect();
        assert_eq!(pinned, PINNED);
        assert_ne!(
            sticky_roll(1, "a"),
            sticky_roll(2, "a"),
            "the rule id takes part"
        );
    }

    #[test]
    fn sticky_rolls_spread_evenly() {
        let mut buckets = [0u32; 100];
        for n in 0..100_000 {
            buckets[usize::from(sticky_roll(5, &format!("client-{n}")))] += 1;
        }
        // 1,000 expected per bucket; a fair spread stays well within 15 %.
        assert!(
            buckets.iter().all(|&b| (850..=1150).contains(&b)),
            "{buckets:?}"
        );
    }
}
