//! The trace digest: a 64-bit fingerprint of everything a run processed.
//!
//! Every processed event folds in through a canonical encoding: its simulated time, its node,
//! its kind, and the payload's derived `Hash` fed into this hasher word by word. The hasher is
//! fixed (no per-process keys, unlike `DefaultHasher`), so the same run gives the same digest in
//! every process, in debug and in release. Two runs with the same seed and scenario that differ
//! in any processed event differ in digest, with overwhelming probability.
//!
//! The mixing is an FxHash-style multiply-rotate per word (fast enough to run on every event)
//! with a SplitMix64 finaliser for avalanche. Not cryptographic: it identifies runs, it does not
//! defend against adversaries. `usize` values hash at their native width, so digests are
//! comparable between machines of the same pointer width.

use std::hash::Hasher;

const MULTIPLIER: u64 = 0x517c_c1b7_2722_0a95;
const INITIAL: u64 = 0xcbf2_9ce4_8422_2325;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceDigest {
    state: u64,
}

impl Default for TraceDigest {
    fn default() -> Self {
        TraceDigest { state: INITIAL }
    }
}

impl TraceDigest {
    pub fn new() -> Self {
        Self::default()
    }

    #[inline]
    pub fn fold(&mut self, word: u64) {
        self.state = (self.state.rotate_left(5) ^ word).wrapping_mul(MULTIPLIER);
    }

    /// The digest so far, finalised. Folding more afterwards is allowed.
    pub fn value(&self) -> u64 {
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl Hasher for TraceDigest {
    fn finish(&self) -> u64 {
        self.value()
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.fold(u64::from_le_bytes(chunk.try_into().expect("chunk of 8")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.fold(u64::from_le_bytes(last) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, value: u8) {
        self.fold(u64::from(value));
    }

    fn write_u16(&mut self, value: u16) {
        self.fold(u64::from(value));
    }

    fn write_u32(&mut self, value: u32) {
        self.fold(u64::from(value));
    }

    fn write_u64(&mut self, value: u64) {
        self.fold(value);
    }

    fn write_usize(&mut self, value: usize) {
        self.fold(value as u64);
    }
}

const SECOND_NS: u64 = 1_000_000_000;
/// The most seconds a trail holds (about 28 hours; a scenario's run is at most two one-hour
/// phases and a drain): a run that goes on past it keeps the trail of its first seconds.
pub const TRAIL_SECONDS_MAX: u64 = 100_000;

/// The digest's value at the end of every simulated second: where two runs of one seed first
/// differ, to the second, when only their final digests would say that they differ.
///
/// Entry `k` is the digest of everything folded before simulated time `k + 1` s. Entries are
/// taken when the next fold comes (so a run's trail ends at its last fold's second); runs that
/// fold the same things at the same times have the same trail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestTrail {
    seconds: Vec<u64>,
    /// When the next entry is due: the end of the second after the last entry (one comparison
    /// per fold, in the common case).
    next_entry_ns: u64,
}

impl Default for DigestTrail {
    fn default() -> Self {
        DigestTrail {
            seconds: Vec::new(),
            next_entry_ns: SECOND_NS,
        }
    }
}

impl DigestTrail {
    /// Takes the entries of every second that ended at or before `now_ns`: called before each
    /// fold, with the digest as it stands.
    #[inline]
    pub fn note(&mut self, now_ns: u64, digest: &TraceDigest) {
        if now_ns >= self.next_entry_ns {
            self.take_entries(now_ns, digest);
        }
    }

    #[cold]
    fn take_entries(&mut self, now_ns: u64, digest: &TraceDigest) {
        let ended_seconds = (now_ns / SECOND_NS).min(TRAIL_SECONDS_MAX);
        while (self.seconds.len() as u64) < ended_seconds {
            self.seconds.push(digest.value());
        }
        let entries = self.seconds.len() as u64;
        self.next_entry_ns = if entries == TRAIL_SECONDS_MAX {
            u64::MAX
        } else {
            (entries + 1) * SECOND_NS
        };
    }

    /// One digest per simulated second, as every report prints digests.
    pub fn formatted(&self) -> Vec<String> {
        self.seconds
            .iter()
            .map(|&digest| format_digest(digest))
            .collect()
    }
}

/// The first simulated second two digest trails differ in: every second before it agrees. When
/// one trail is a prefix of the other, the first second past the shorter one; when they are
/// equal, the second after both (the runs differ after their last whole second).
pub fn first_different_second<T: PartialEq>(first: &[T], second: &[T]) -> u64 {
    first
        .iter()
        .zip(second)
        .position(|(one, other)| one != other)
        .unwrap_or(first.len().min(second.len())) as u64
}

/// Formats a digest the way every report prints it: 16 lowercase hex digits.
pub fn format_digest(digest: u64) -> String {
    format!("{digest:016x}")
}

/// Whether `text` is a digest as [`format_digest`] writes it.
pub fn is_formatted_digest(text: &str) -> bool {
    text.len() == 16
        && text
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
}

#[cfg(test)]
mod tests {
    use std::hash::Hash;

    use super::*;

    fn digest_of(value: impl Hash) -> u64 {
        let mut digest = TraceDigest::new();
        value.hash(&mut digest);
        digest.value()
    }

    #[test]
    fn equal_values_digest_equally_and_different_values_differently() {
        assert_eq!(digest_of(("ping", 7u64)), digest_of(("ping", 7u64)));
        assert_ne!(digest_of(("ping", 7u64)), digest_of(("ping", 8u64)));
        assert_ne!(digest_of((1u64, 2u64)), digest_of((2u64, 1u64)));
        assert_ne!(digest_of("abc"), digest_of("abd"));
        assert_ne!(digest_of(vec![0u8; 7]), digest_of(vec![0u8; 8]));
    }

    #[test]
    fn a_trail_holds_the_digest_at_the_end_of_each_second() {
        let mut digest = TraceDigest::new();
        let mut trail = DigestTrail::default();
        let fold_at = |trail: &mut DigestTrail, digest: &mut TraceDigest, time_ns, word| {
            trail.note(time_ns, digest);
            digest.fold(word);
        };
        fold_at(&mut trail, &mut digest, 10, 1);
        let after_first = digest.value();
        fold_at(&mut trail, &mut digest, SECOND_NS - 1, 2);
        let end_of_second_0 = digest.value();
        fold_at(&mut trail, &mut digest, 3 * SECOND_NS, 3);
        assert_ne!(after_first, end_of_second_0);
        assert_eq!(
            trail.seconds,
            vec![end_of_second_0, end_of_second_0, end_of_second_0],
            "seconds 0, 1 and 2 ended before the fold at 3 s; 1 and 2 folded nothing"
        );
    }

    #[test]
    fn a_trail_is_bounded_however_far_time_goes() {
        let mut trail = DigestTrail::default();
        trail.note(u64::MAX, &TraceDigest::new());
        assert_eq!(trail.seconds.len() as u64, TRAIL_SECONDS_MAX);
    }

    #[test]
    fn the_first_different_second_is_where_trails_part() {
        assert_eq!(first_different_second(&[1, 2, 3], &[1, 2, 4]), 2);
        assert_eq!(first_different_second(&[1, 2, 3], &[9, 2, 3]), 0);
        assert_eq!(first_different_second(&[1, 2], &[1, 2, 3]), 2);
        assert_eq!(first_different_second::<u64>(&[], &[]), 0);
        assert_eq!(first_different_second(&[1, 2], &[1, 2]), 2);
    }

    #[test]
    fn the_digest_is_a_fixed_function() {
        // Pinned: if this changes, every recorded digest in the world changes with it.
        assert_eq!(format_digest(digest_of(42u64)), "84ffeb30c5261a1b");
        assert_eq!(format_digest(TraceDigest::new().value()).len(), 16);
        assert!(is_formatted_digest(&format_digest(u64::MAX)));
        for bad in [
            "",
            "84ffeb30c5261a1",
            "84FFEB30C5261A1B",
            "84ffeb30c5261a1g",
            "+4ffeb30c5261a1b",
        ] {
            assert!(!is_formatted_digest(bad), "{bad:?}");
        }
    }
}
