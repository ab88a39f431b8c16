//! A stable 64-bit digest (FNV-1a) of values with a derived `Hash`, for snapshots of the metadata
//! log. Not `DefaultHasher`: its output may change between Rust releases.

use std::hash::{Hash, Hasher};

const FNV_OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a as a `Hasher`.
#[derive(Debug)]
pub struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Self(FNV_OFFSET_BASIS)
    }
}

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }
}

/// The FNV-1a digest of `value`'s `Hash` encoding.
pub fn digest_of<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut hasher = Fnv1a::default();
    value.hash(&mut hasher);
    hasher.finish()
}
