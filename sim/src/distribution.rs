//! Integer-only random choices: ratios and latency distributions.
//!
//! Probabilities are integer ratios, never floats, so a draw is bit-identical on every platform
//! and in debug and release.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::scenario::Duration;

/// `numerator / denominator`, a probability in [0, 1]. Written `"1/100"` in scenario files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ratio {
    pub numerator: u32,
    pub denominator: u32,
}

impl Ratio {
    pub const NEVER: Ratio = Ratio {
        numerator: 0,
        denominator: 1,
    };
    pub const ALWAYS: Ratio = Ratio {
        numerator: 1,
        denominator: 1,
    };

    pub const fn new(numerator: u32, denominator: u32) -> Ratio {
        Ratio {
            numerator,
            denominator,
        }
    }

    /// Checks the ratio is a probability. `field` names it in the message.
    pub fn validate(&self, field: &str) -> Result<(), String> {
        if self.denominator == 0 {
            return Err(format!("{field}: denominator must be positive"));
        }
        if self.numerator > self.denominator {
            return Err(format!(
                "{field}: {}/{} is above 1",
                self.numerator, self.denominator
            ));
        }
        Ok(())
    }

    pub fn is_never(&self) -> bool {
        self.numerator == 0
    }

    /// Draws true with this probability. Draws nothing when the ratio is zero, so enabling a
    /// fault in one run does not shift the stream in runs where it is off.
    pub fn sample(&self, rng: &mut impl Rng) -> bool {
        debug_assert!(self.validate("ratio").is_ok(), "invalid ratio {self:?}");
        if self.numerator == 0 {
            return false;
        }
        rng.random_ratio(self.numerator, self.denominator)
    }
}

impl std::fmt::Display for Ratio {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}/{}", self.numerator, self.denominator)
    }
}

impl std::str::FromStr for Ratio {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let parsed = text.split_once('/').and_then(|(numerator, denominator)| {
            Some(Ratio::new(
                numerator.parse().ok()?,
                denominator.parse().ok()?,
            ))
        });
        let ratio = parsed.ok_or_else(|| format!("{text:?} is not a ratio like \"1/100\""))?;
        ratio
            .validate("ratio")
            .map_err(|_| format!("{text:?} is not a probability (0/1 to 1/1)"))?;
        Ok(ratio)
    }
}

impl Serialize for Ratio {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ratio {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// The longest latency a distribution may draw: an hour. A message (or a sync) later than that
/// is as good as lost in any run, and the bound keeps every simulated time it lands at far from
/// overflow.
pub const LATENCY_NS_MAX: u64 = 3_600_000_000_000;

/// How long a message takes on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", deny_unknown_fields)]
pub enum Latency {
    Constant {
        ns: u64,
    },
    Uniform {
        min_ns: u64,
        max_ns: u64,
    },
    /// Uniform in [min_ns, max_ns], plus with probability `tail` an extra delay uniform in
    /// [0, tail_max_ns]: the occasional slow packet.
    LongTail {
        min_ns: u64,
        max_ns: u64,
        tail: Ratio,
        tail_max_ns: u64,
    },
}

/// `uniform 5ms..20ms`: the shape and bounds, as a log line names them.
impl std::fmt::Display for Latency {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let time = |ns| Duration::from_ns(ns);
        match *self {
            Latency::Constant { ns } => write!(formatter, "constant {}", time(ns)),
            Latency::Uniform { min_ns, max_ns } => {
                write!(formatter, "uniform {}..{}", time(min_ns), time(max_ns))
            }
            Latency::LongTail {
                min_ns,
                max_ns,
                tail,
                tail_max_ns,
            } => write!(
                formatter,
                "uniform {}..{} plus up to {} for {tail} of messages",
                time(min_ns),
                time(max_ns),
                time(tail_max_ns)
            ),
        }
    }
}

impl Latency {
    pub fn validate(&self, field: &str) -> Result<(), String> {
        let max_ns = self.max_ns();
        if max_ns > LATENCY_NS_MAX {
            return Err(format!(
                "{field}: latencies up to {max_ns} ns, above the limit of {LATENCY_NS_MAX} ns (an hour)"
            ));
        }
        match *self {
            Latency::Constant { .. } => Ok(()),
            Latency::Uniform { min_ns, max_ns } => check_bounds(field, min_ns, max_ns),
            Latency::LongTail {
                min_ns,
                max_ns,
                tail,
                ..
            } => {
                check_bounds(field, min_ns, max_ns)?;
                tail.validate(&format!("{field}.tail"))
            }
        }
    }

    /// The largest latency this distribution can draw.
    pub fn max_ns(&self) -> u64 {
        match *self {
            Latency::Constant { ns } => ns,
            Latency::Uniform { max_ns, .. } => max_ns,
            Latency::LongTail {
                max_ns,
                tail_max_ns,
                ..
            } => max_ns.saturating_add(tail_max_ns),
        }
    }

    pub fn sample(&self, rng: &mut impl Rng) -> u64 {
        match *self {
            Latency::Constant { ns } => ns,
            Latency::Uniform { min_ns, max_ns } => rng.random_range(min_ns..=max_ns),
            Latency::LongTail {
                min_ns,
                max_ns,
                tail,
                tail_max_ns,
            } => {
                let base = rng.random_range(min_ns..=max_ns);
                if tail.sample(rng) {
                    base + rng.random_range(0..=tail_max_ns)
                } else {
                    base
                }
            }
        }
    }
}

fn check_bounds(field: &str, min_ns: u64, max_ns: u64) -> Result<(), String> {
    if min_ns > max_ns {
        return Err(format!("{field}: min_ns {min_ns} is above max_ns {max_ns}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::seed::{Stream, stream};

    use super::*;

    #[test]
    fn ratio_validation_names_the_field() {
        assert!(Ratio::new(1, 2).validate("loss").is_ok());
        let error = Ratio::new(3, 2).validate("network.loss").unwrap_err();
        assert!(error.contains("network.loss"), "{error}");
        assert!(Ratio::new(0, 0).validate("loss").is_err());
    }

    #[test]
    fn ratios_parse_and_print_back() {
        assert_eq!("1/100".parse::<Ratio>(), Ok(Ratio::new(1, 100)));
        assert_eq!(Ratio::new(3, 7).to_string(), "3/7");
        for bad in ["", "1", "1/0", "2/1", "a/b", "1/2/3", "-1/2"] {
            assert!(bad.parse::<Ratio>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn latencies_print_their_shape_and_bounds() {
        let uniform = Latency::Uniform {
            min_ns: 5_000_000,
            max_ns: 20_000_000,
        };
        assert_eq!(uniform.to_string(), "uniform 5ms..20ms");
        let tail = Latency::LongTail {
            min_ns: 200_000,
            max_ns: 1_000_000,
            tail: Ratio::new(1, 100),
            tail_max_ns: 2_000_000_000,
        };
        assert_eq!(
            tail.to_string(),
            "uniform 200us..1ms plus up to 2s for 1/100 of messages"
        );
        assert_eq!(Latency::Constant { ns: 0 }.to_string(), "constant 0s");
    }

    #[test]
    fn ratio_sampling_matches_its_probability() {
        let mut rng = stream(1, Stream::Network);
        let hits = (0..100_000)
            .filter(|_| Ratio::new(1, 4).sample(&mut rng))
            .count();
        assert!((24_000..26_000).contains(&hits), "hits {hits}");
        assert!(!(0..1000).any(|_| Ratio::NEVER.sample(&mut rng)));
        assert!((0..1000).all(|_| Ratio::ALWAYS.sample(&mut rng)));
    }

    #[test]
    fn latency_stays_within_its_bounds() {
        let mut rng = stream(2, Stream::Network);
        let latency = Latency::LongTail {
            min_ns: 100,
            max_ns: 200,
            tail: Ratio::new(1, 10),
            tail_max_ns: 1000,
        };
        let samples: Vec<u64> = (0..10_000).map(|_| latency.sample(&mut rng)).collect();
        assert!(samples.iter().all(|&ns| (100..=1200).contains(&ns)));
        let slow = samples.iter().filter(|&&ns| ns > 200).count();
        assert!((800..1200).contains(&slow), "slow {slow}");
        assert!(
            Latency::Uniform {
                min_ns: 5,
                max_ns: 4
            }
            .validate("latency")
            .is_err()
        );
    }

    /// A latency past an hour, or a tail that adds up past it, is refused: simulated times
    /// stay far from overflow.
    #[test]
    fn latency_is_at_most_an_hour() {
        let tail = |tail_max_ns| Latency::LongTail {
            min_ns: 0,
            max_ns: LATENCY_NS_MAX / 2,
            tail: Ratio::new(1, 2),
            tail_max_ns,
        };
        assert!(tail(LATENCY_NS_MAX / 2).validate("latency").is_ok());
        let error = tail(LATENCY_NS_MAX / 2 + 1)
            .validate("network.latency")
            .unwrap_err();
        assert!(error.starts_with("network.latency: "), "{error}");
        assert!(tail(u64::MAX).validate("latency").is_err());
        let constant = Latency::Constant {
            ns: LATENCY_NS_MAX + 1,
        };
        assert!(constant.validate("latency").is_err());
    }
}
