//! The determinism audit: run the same seed twice and compare digests.
//!
//! Determinism is the product's first promise, so it is tested, not assumed. A process that
//! iterates a `HashMap`, reads the wall clock or draws OS randomness produces different digests
//! for the same seed, and this check catches it.

use crate::digest::first_different_second;

/// Where two runs of one seed part, told from their digest trails (one digest per simulated
/// second, [`crate::digest::DigestTrail`]); `None` when either run has no trail (a report
/// written before trails were).
pub fn divergence(first_trail: &[String], second_trail: &[String]) -> Option<String> {
    if first_trail.is_empty() || second_trail.is_empty() {
        return None;
    }
    let second = first_different_second(first_trail, second_trail);
    Some(if second == 0 {
        "they differ within the first simulated second".to_string()
    } else {
        format!(
            "they agree through {second} s of simulated time and first differ between {second} s and {} s",
            second + 1
        )
    })
}

/// The first line two logs of one seed differ at: its number (from 1), and the line in each
/// (empty where one log ended). `None` if the logs are identical.
pub fn first_different_line<'a>(
    first: &'a str,
    second: &'a str,
) -> Option<(usize, &'a str, &'a str)> {
    let mut first_lines = first.lines();
    let mut second_lines = second.lines();
    for number in 1.. {
        match (first_lines.next(), second_lines.next()) {
            (None, None) => return None,
            (one, other) if one != other => {
                return Some((number, one.unwrap_or_default(), other.unwrap_or_default()));
            }
            _ => {}
        }
    }
    unreachable!("a log has fewer than usize::MAX lines")
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn trail(digests: &[&str]) -> Vec<String> {
        digests.iter().map(|digest| digest.to_string()).collect()
    }

    #[test]
    fn divergence_names_the_first_second_the_trails_differ_in() {
        let recorded = trail(&["a", "b", "c", "d"]);
        assert_eq!(
            divergence(&recorded, &trail(&["a", "b", "x", "d"])).unwrap(),
            "they agree through 2 s of simulated time and first differ between 2 s and 3 s"
        );
        assert_eq!(
            divergence(&recorded, &trail(&["x"])).unwrap(),
            "they differ within the first simulated second"
        );
        assert_eq!(
            divergence(&recorded, &[]),
            None,
            "an old report has no trail"
        );
    }

    #[test]
    fn the_first_different_line_is_found_even_when_one_log_is_longer() {
        assert_eq!(first_different_line("a\nb\nc", "a\nb\nc"), None);
        assert_eq!(
            first_different_line("a\nb\nc", "a\nB\nc"),
            Some((2, "b", "B"))
        );
        assert_eq!(first_different_line("a\nb", "a\nb\nc"), Some((3, "", "c")));
    }
}
