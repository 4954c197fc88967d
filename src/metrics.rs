//! Per-query-kind counters and latency histograms, read through the
//! `fs.metrics` and `fs.metric_buckets` views.
//!
//! Recording is a handful of relaxed atomic adds, cheap enough for the
//! online fast path. Latency is measured from the moment a statement
//! reaches fstore until its response is ready to send; for queries that
//! stream their rows (DataFusion) that is the time to the first row batch,
//! not the whole transfer. Percentiles are read off the histogram buckets
//! (upper bounds), as Prometheus does.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What kind of statement a measurement belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    /// `online.<feature group>` lookups on the fast path.
    OnlineLookup,
    /// `online.<feature view>` vectors on the fast path.
    OnlineVector,
    /// Everything DataFusion plans (including `online.*` off the fast path).
    Query,
    /// fstore's own statements and catalog DDL.
    Statement,
}

impl QueryKind {
    pub const ALL: [QueryKind; 4] = [
        QueryKind::OnlineLookup,
        QueryKind::OnlineVector,
        QueryKind::Query,
        QueryKind::Statement,
    ];

    pub fn name(self) -> &'static str {
        match self {
            QueryKind::OnlineLookup => "online_lookup",
            QueryKind::OnlineVector => "online_vector",
            QueryKind::Query => "query",
            QueryKind::Statement => "statement",
        }
    }
}

/// Bucket upper bounds in microseconds; a last, unbounded bucket follows.
pub const BUCKET_BOUNDS_US: [u64; 20] = [
    10, 25, 50, 75, 100, 150, 200, 300, 500, 750, 1_000, 2_000, 5_000, 10_000, 50_000, 100_000,
    500_000, 1_000_000, 5_000_000, 30_000_000,
];

#[derive(Default)]
struct KindMetrics {
    calls: AtomicU64,
    errors: AtomicU64,
    rows: AtomicU64,
    total_micros: AtomicU64,
    max_micros: AtomicU64,
    buckets: [AtomicU64; BUCKET_BOUNDS_US.len() + 1],
}

/// A point-in-time copy of one kind's metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct KindSnapshot {
    pub kind: QueryKind,
    pub calls: u64,
    pub errors: u64,
    pub rows: u64,
    pub total_micros: u64,
    pub max_micros: u64,
    /// Non-cumulative counts per bucket of [`BUCKET_BOUNDS_US`] (+ overflow).
    pub buckets: Vec<u64>,
}

impl KindSnapshot {
    /// The bucket bound at or below which fraction `q` of calls finished;
    /// `None` when there were no calls, the maximum for the last bucket.
    pub fn quantile_micros(&self, q: f64) -> Option<u64> {
        let total: u64 = self.buckets.iter().sum();
        if total == 0 {
            return None;
        }
        let wanted = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (index, count) in self.buckets.iter().enumerate() {
            seen += count;
            if seen >= wanted {
                return Some(
                    BUCKET_BOUNDS_US
                        .get(index)
                        .copied()
                        .unwrap_or(self.max_micros)
                        .min(self.max_micros.max(1)),
                );
            }
        }
        Some(self.max_micros)
    }
}

#[derive(Default)]
pub struct Metrics {
    kinds: [KindMetrics; QueryKind::ALL.len()],
}

impl Metrics {
    fn slot(&self, kind: QueryKind) -> &KindMetrics {
        &self.kinds[QueryKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)]
    }

    pub fn record(&self, kind: QueryKind, elapsed: Duration, rows: u64, failed: bool) {
        let slot = self.slot(kind);
        let micros = elapsed.as_micros().min(u64::MAX as u128) as u64;
        slot.calls.fetch_add(1, Ordering::Relaxed);
        if failed {
            slot.errors.fetch_add(1, Ordering::Relaxed);
        }
        slot.rows.fetch_add(rows, Ordering::Relaxed);
        slot.total_micros.fetch_add(micros, Ordering::Relaxed);
        slot.max_micros.fetch_max(micros, Ordering::Relaxed);
        let bucket = BUCKET_BOUNDS_US
            .iter()
            .position(|&bound| micros <= bound)
            .unwrap_or(BUCKET_BOUNDS_US.len());
        slot.buckets[bucket].fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Vec<KindSnapshot> {
        QueryKind::ALL
            .iter()
            .map(|&kind| {
                let slot = self.slot(kind);
                KindSnapshot {
                    kind,
                    calls: slot.calls.load(Ordering::Relaxed),
                    errors: slot.errors.load(Ordering::Relaxed),
                    rows: slot.rows.load(Ordering::Relaxed),
                    total_micros: slot.total_micros.load(Ordering::Relaxed),
                    max_micros: slot.max_micros.load(Ordering::Relaxed),
                    buckets: slot
                        .buckets
                        .iter()
                        .map(|b| b.load(Ordering::Relaxed))
                        .collect(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_bucket_bounds() {
        let metrics = Metrics::default();
        for _ in 0..98 {
            metrics.record(QueryKind::OnlineLookup, Duration::from_micros(40), 1, false);
        }
        metrics.record(
            QueryKind::OnlineLookup,
            Duration::from_micros(900),
            1,
            false,
        );
        metrics.record(QueryKind::OnlineLookup, Duration::from_millis(3), 0, true);
        let snapshot = &metrics.snapshot()[0];
        assert_eq!(snapshot.calls, 100);
        assert_eq!(snapshot.errors, 1);
        assert_eq!(snapshot.rows, 99);
        assert_eq!(snapshot.quantile_micros(0.5), Some(50));
        assert_eq!(snapshot.quantile_micros(0.99), Some(1_000));
        assert_eq!(snapshot.quantile_micros(1.0), Some(3_000));
        assert_eq!(metrics.snapshot()[1].quantile_micros(0.5), None);
    }
}
