//! The producer's partitioner: deterministic, documented, independent of the platform.
//!
//! A keyed record goes to `fnv1a_64(key as 8 little-endian bytes) % partitions` (FNV-1a, 64-bit:
//! offset basis 0xcbf29ce484222325, prime 0x100000001b3). Unkeyed records go round-robin.

/// FNV-1a (64-bit) over `bytes`.
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The partition of a keyed record.
pub fn partition_for_key(key: u64, partitions: u32) -> u32 {
    assert!(partitions > 0, "a topic has at least one partition");
    (fnv1a_64(&key.to_le_bytes()) % u64::from(partitions)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn keys_spread_and_stay_put() {
        let partitions: Vec<u32> = (0..64).map(|key| partition_for_key(key, 6)).collect();
        assert!((0..6).all(|partition| partitions.contains(&partition)));
        assert_eq!(partition_for_key(17, 6), partition_for_key(17, 6));
    }
}
