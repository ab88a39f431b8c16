//! The run's seed and the random streams derived from it.
//!
//! One u64 seed drives a whole run. Each concern draws from its own ChaCha8 stream (same key,
//! different stream number), so adding a draw in one concern never shifts the draws of another:
//! a change to the workload cannot change where the network drops packets.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::process::NodeId;

/// A concern that draws randomness. Each has its own stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Network,
    Disk,
    Clock,
    Nemesis,
    Workload,
    /// The scenario generator's scale draws: which seeds get a wide topic.
    Scale,
    /// The scenario generator's draw of whether brokers perturb themselves.
    Perturbations,
    /// The scenario generator's draw of which producers are idempotent.
    Idempotence,
    /// The scenario generator's draw of which seeds write in transactions.
    Transactions,
    /// The scenario generator's faults aimed at a producer of a seed that does not write in
    /// transactions.
    ProducerFaults,
    /// The scenario generator's draw of which transactional producer shapes share one
    /// transactional id.
    SharedTransactionalIds,
    /// The scenario generator's draw of which manually committing groups commit inside
    /// transactions.
    TransactionalCommits,
    /// The scenario generator's draw of which transactionally committing groups abort some
    /// commits on purpose.
    TransactionalCommitAborts,
    /// The scenario generator's draw of which transactionally committing groups write an
    /// output (consume-transform-produce), and of the output's shape.
    TransformOutputs,
    /// The generator a node's process is handed (election jitter and the like).
    Node(NodeId),
}

impl Stream {
    fn number(self) -> u64 {
        match self {
            Stream::Network => 1,
            Stream::Disk => 2,
            Stream::Clock => 3,
            Stream::Nemesis => 4,
            Stream::Workload => 5,
            Stream::Scale => 6,
            Stream::Perturbations => 7,
            Stream::Idempotence => 8,
            Stream::Transactions => 9,
            Stream::ProducerFaults => 10,
            Stream::SharedTransactionalIds => 11,
            Stream::TransactionalCommits => 12,
            Stream::TransactionalCommitAborts => 13,
            Stream::TransformOutputs => 14,
            Stream::Node(node) => (1 << 32) + u64::from(node.0),
        }
    }
}

/// The generator for `stream` under `seed`.
pub fn stream(seed: u64, stream: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream.number());
    rng
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid seed {text:?}: expected a decimal u64 or 0x-prefixed hex")]
pub struct SeedError {
    pub text: String,
}

/// Parses a seed given in decimal (`42`) or hexadecimal (`0x2a`).
pub fn parse_seed(text: &str) -> Result<u64, SeedError> {
    let trimmed = text.trim();
    let parsed = match trimmed
        .strip_prefix("0x")
        .or_else(|| trimmed.strip_prefix("0X"))
    {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => trimmed.parse::<u64>(),
    };
    parsed.map_err(|_| SeedError {
        text: text.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use rand::RngCore;

    use super::*;

    #[test]
    fn seeds_parse_in_decimal_and_hex() {
        assert_eq!(parse_seed("42"), Ok(42));
        assert_eq!(parse_seed("0x2a"), Ok(42));
        assert_eq!(parse_seed("0XFF"), Ok(255));
        assert_eq!(parse_seed("18446744073709551615"), Ok(u64::MAX));
        assert!(parse_seed("").is_err());
        assert!(parse_seed("-1").is_err());
        assert!(parse_seed("0x").is_err());
        assert!(parse_seed("12abc").is_err());
        assert!(parse_seed("18446744073709551616").is_err());
    }

    #[test]
    fn streams_are_independent_and_reproducible() {
        let mut network = stream(7, Stream::Network);
        let mut network_again = stream(7, Stream::Network);
        let mut disk = stream(7, Stream::Disk);
        let first: Vec<u64> = (0..4).map(|_| network.next_u64()).collect();
        let again: Vec<u64> = (0..4).map(|_| network_again.next_u64()).collect();
        let other: Vec<u64> = (0..4).map(|_| disk.next_u64()).collect();
        assert_eq!(first, again);
        assert_ne!(first, other);
        let mut node_zero = stream(7, Stream::Node(NodeId(0)));
        let mut node_one = stream(7, Stream::Node(NodeId(1)));
        assert_ne!(node_zero.next_u64(), node_one.next_u64());
    }
}
