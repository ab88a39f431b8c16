//! Durations in scenario files: `"30s"`, `"1500ms"`, `"2m"`, `"250us"`, `"100ns"`, and signed
//! ones (`"-2s"`) for clock offsets and jumps.
//!
//! Stored in integer nanoseconds. Written back in the largest unit that divides the value
//! exactly, so a file read and written back reads back identical.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const UNITS: [(&str, u64); 5] = [
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
];

/// A non-negative span of simulated time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    pub ns: u64,
}

impl Duration {
    pub const ZERO: Duration = Duration { ns: 0 };

    pub const fn from_ns(ns: u64) -> Duration {
        Duration { ns }
    }

    pub const fn from_ms(ms: u64) -> Duration {
        Duration { ns: ms * 1_000_000 }
    }

    pub const fn from_secs(seconds: u64) -> Duration {
        Duration {
            ns: seconds * 1_000_000_000,
        }
    }
}

/// A span of time that may be negative: a clock offset or jump.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SignedDuration {
    pub ns: i64,
}

fn parse_magnitude(text: &str) -> Result<u64, String> {
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(digits_end);
    if digits.is_empty() {
        return Err(format!(
            "{text:?} is not a duration: expected digits then a unit (ns, us, ms, s, m)"
        ));
    }
    let Some(&(_, unit_ns)) = UNITS.iter().find(|(name, _)| *name == unit) else {
        return Err(format!(
            "{text:?} has unknown unit {unit:?}: expected ns, us, ms, s or m"
        ));
    };
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is too large"))?;
    value
        .checked_mul(unit_ns)
        .ok_or_else(|| format!("{text:?} is too large"))
}

fn format_magnitude(ns: u64, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
    let (unit, unit_ns) = UNITS
        .iter()
        .find(|(_, unit_ns)| ns % unit_ns == 0 && ns != 0)
        .copied()
        .unwrap_or(("s", 1_000_000_000));
    write!(formatter, "{}{unit}", ns / unit_ns)
}

impl std::str::FromStr for Duration {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        if text.starts_with('-') {
            return Err(format!("{text:?}: a negative duration is not allowed here"));
        }
        parse_magnitude(text).map(Duration::from_ns)
    }
}

impl std::str::FromStr for SignedDuration {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let (negative, magnitude) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let ns = i64::try_from(parse_magnitude(magnitude)?)
            .map_err(|_| format!("{text:?} is too large"))?;
        Ok(SignedDuration {
            ns: if negative { -ns } else { ns },
        })
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        format_magnitude(self.ns, formatter)
    }
}

impl fmt::Display for SignedDuration {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ns < 0 {
            formatter.write_str("-")?;
        }
        format_magnitude(self.ns.unsigned_abs(), formatter)
    }
}

macro_rules! serde_as_string {
    ($type:ty) => {
        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

serde_as_string!(Duration);
serde_as_string!(SignedDuration);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_every_unit() {
        assert_eq!("30s".parse::<Duration>(), Ok(Duration::from_secs(30)));
        assert_eq!("1500ms".parse::<Duration>(), Ok(Duration::from_ms(1500)));
        assert_eq!("2m".parse::<Duration>(), Ok(Duration::from_secs(120)));
        assert_eq!("250us".parse::<Duration>(), Ok(Duration::from_ns(250_000)));
        assert_eq!("7ns".parse::<Duration>(), Ok(Duration::from_ns(7)));
        assert_eq!(
            "-2s".parse::<SignedDuration>(),
            Ok(SignedDuration { ns: -2_000_000_000 })
        );
        for bad in [
            "",
            "s",
            "10",
            "10h",
            "1.5s",
            "-2s",
            "99999999999999999999s",
            " 1s",
        ] {
            assert!(bad.parse::<Duration>().is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn durations_write_back_in_the_largest_exact_unit() {
        assert_eq!(Duration::from_ms(1500).to_string(), "1500ms");
        assert_eq!(Duration::from_secs(120).to_string(), "2m");
        assert_eq!(Duration::from_secs(90).to_string(), "90s");
        assert_eq!(Duration::ZERO.to_string(), "0s");
        assert_eq!(SignedDuration { ns: -3_000_000 }.to_string(), "-3ms");
        for ns in [0, 1, 999, 1_000, 1_500_000, 60_000_000_000, 61_000_000_001] {
            let duration = Duration::from_ns(ns);
            assert_eq!(duration.to_string().parse::<Duration>(), Ok(duration));
        }
    }
}
