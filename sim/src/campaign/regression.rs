//! The regression seed list: scenario and seed pairs that once failed, replayed by `cargo test`.
//!
//! One pair per line, `SCENARIO_PATH SEED  # the failure it once showed`; blank lines and lines
//! starting with `#` are comments. Paths are relative to the repository root. Every entry must
//! carry its comment: a regression seed that does not say what it traps is noise.

/// One entry of the list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegressionSeed {
    pub scenario_path: String,
    pub seed: u64,
    /// The failure it once showed.
    pub failure: String,
    /// 1-based line in the list.
    pub line: usize,
}

/// Parses the list; an error names the line.
pub fn parse(text: &str) -> Result<Vec<RegressionSeed>, String> {
    let mut seeds = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (entry, comment) = trimmed.split_once('#').ok_or_else(|| {
            format!("line {number}: say which failure the seed once showed, after a '#'")
        })?;
        let fields: Vec<&str> = entry.split_whitespace().collect();
        let [scenario_path, seed] = fields[..] else {
            return Err(format!(
                "line {number}: expected `SCENARIO_PATH SEED  # failure`, found {entry:?}"
            ));
        };
        let seed =
            crate::seed::parse_seed(seed).map_err(|error| format!("line {number}: {error}"))?;
        seeds.push(RegressionSeed {
            scenario_path: scenario_path.to_string(),
            seed,
            failure: comment.trim().to_string(),
            line: number,
        });
    }
    Ok(seeds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_parse_with_their_failure_and_bad_lines_name_themselves() {
        let text = "# header\n\nscenarios/a.toml 42  # lost-write under bug 1\nx.toml 0x10 # y\n";
        let seeds = parse(text).unwrap();
        assert_eq!(seeds.len(), 2);
        assert_eq!(seeds[0].seed, 42);
        assert_eq!(seeds[0].failure, "lost-write under bug 1");
        assert_eq!((seeds[1].seed, seeds[1].line), (16, 4));
        assert!(parse("a.toml 1\n").unwrap_err().contains("line 1"));
        assert!(parse("a.toml # x\n").unwrap_err().contains("line 1"));
        assert!(
            parse("# c\na.toml zz # x\n")
                .unwrap_err()
                .contains("line 2")
        );
    }
}
