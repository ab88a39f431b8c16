//! The checker's verdict: every anomaly seen, with counts and witnesses, and which of them are
//! violations of the configuration under test. Everything is ordered (BTreeMaps, sorted lists),
//! so the same history always gives the same report, byte for byte.

use std::collections::BTreeMap;

use serde::Serialize;

use super::anomaly::{AnomalyKind, Findings, Witness};
use super::config::CheckConfig;
use super::model::HistoryStats;

/// The result of checking one history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// No violation (anomalies the configuration expects may still be listed).
    pub valid: bool,
    /// Every anomaly seen: its first witnesses (see `witnesses_per_anomaly_max`).
    pub anomalies: BTreeMap<AnomalyKind, Vec<Witness>>,
    /// How many times each anomaly was seen.
    pub anomaly_counts: BTreeMap<AnomalyKind, u64>,
    /// The anomalies seen that the configuration rules out, in name order.
    pub violations: Vec<AnomalyKind>,
    pub stats: HistoryStats,
}

impl Report {
    pub fn new(findings: Findings, config: &CheckConfig, stats: HistoryStats) -> Self {
        let mut anomalies = BTreeMap::new();
        let mut anomaly_counts = BTreeMap::new();
        for (kind, found) in findings.by_kind {
            debug_assert!(found.count > 0);
            anomaly_counts.insert(kind, found.count);
            anomalies.insert(kind, found.witnesses);
        }
        let violations: Vec<AnomalyKind> = anomaly_counts
            .keys()
            .copied()
            .filter(|&kind| config.is_violation(kind))
            .collect();
        Self {
            valid: violations.is_empty(),
            anomalies,
            anomaly_counts,
            violations,
            stats,
        }
    }

    /// How many times `kind` was seen.
    pub fn count(&self, kind: AnomalyKind) -> u64 {
        self.anomaly_counts.get(&kind).copied().unwrap_or(0)
    }

    /// The first violation (in name order) and its first witness, for a run's summary.
    pub fn first_violation(&self) -> Option<(AnomalyKind, Option<&Witness>)> {
        let kind = *self.violations.first()?;
        Some((
            kind,
            self.anomalies
                .get(&kind)
                .and_then(|witnesses| witnesses.first()),
        ))
    }
}
