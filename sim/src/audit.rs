//! The determinism audit: run the same seed twice and compare digests.
//!
//! Determinism is the product's first promise, so it is tested, not assumed. A process that
//! iterates a `HashMap`, reads the wall clock or draws OS randomness produces different digests
//! for the same seed, and this check catches it.

/// Two runs of one seed disagreed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("nondeterminism: seed {seed} gave digest {first_digest:016x} then {second_digest:016x}")]
pub struct DeterminismMismatch {
    pub seed: u64,
    pub first_digest: u64,
    pub second_digest: u64,
}

/// Runs `run(seed)` twice; returns the digest if both runs agree.
pub fn run_twice(seed: u64, run: impl Fn(u64) -> u64) -> Result<u64, DeterminismMismatch> {
    let first_digest = run(seed);
    let second_digest = run(seed);
    if first_digest == second_digest {
        Ok(first_digest)
    } else {
        Err(DeterminismMismatch {
            seed,
            first_digest,
            second_digest,
        })
    }
}
