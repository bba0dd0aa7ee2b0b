//! The hash map the rule set indexes by: FNV-1a, cheap for the short keys evaluation looks up.

use std::collections::HashMap;

/// FNV-1a: a fast hash for the rule set's maps, whose keys (products, release names, build
/// targets, locales) come from stored data, never from clients, so flooding is no concern.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}

/// A map with [`Fnv`] hashing.
pub(crate) type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;
