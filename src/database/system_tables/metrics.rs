//! `fs.metrics` (calls, errors, rows and latency per query kind) and
//! `fs.metric_buckets` (the cumulative latency histogram, Prometheus-style).

use super::SystemTable;
use crate::database::Database;
use crate::error::Result;
use crate::metrics::{BUCKET_BOUNDS_US, KindSnapshot};

pub(super) fn metrics() -> SystemTable<KindSnapshot> {
    SystemTable::default()
        .text("query_kind", |k: &KindSnapshot| k.kind.name().to_string())
        .int64("calls", |k| k.calls as i64)
        .int64("errors", |k| k.errors as i64)
        .int64("rows", |k| k.rows as i64)
        .float64("total_ms", |k| k.total_micros as f64 / 1_000.0)
        .nullable_float64("mean_us", |k| {
            (k.calls > 0).then(|| k.total_micros as f64 / k.calls as f64)
        })
        .nullable_float64("p50_us", |k| k.quantile_micros(0.5).map(|v| v as f64))
        .nullable_float64("p95_us", |k| k.quantile_micros(0.95).map(|v| v as f64))
        .nullable_float64("p99_us", |k| k.quantile_micros(0.99).map(|v| v as f64))
        .nullable_float64("max_us", |k| (k.calls > 0).then_some(k.max_micros as f64))
}

pub(super) fn metric_rows(database: &Database) -> Result<Vec<KindSnapshot>> {
    Ok(database.metrics.snapshot())
}

pub(super) struct BucketRow {
    kind: &'static str,
    /// NULL is the unbounded last bucket (+Inf).
    le_us: Option<f64>,
    calls: u64,
}

pub(super) fn metric_buckets() -> SystemTable<BucketRow> {
    SystemTable::default()
        .text("query_kind", |b: &BucketRow| b.kind.to_string())
        .nullable_float64("le_us", |b| b.le_us)
        .int64("calls", |b| b.calls as i64)
}

pub(super) fn metric_bucket_rows(database: &Database) -> Result<Vec<BucketRow>> {
    let mut rows = Vec::new();
    for kind in database.metrics.snapshot() {
        let mut cumulative = 0u64;
        for (index, count) in kind.buckets.iter().enumerate() {
            cumulative += count;
            rows.push(BucketRow {
                kind: kind.kind.name(),
                le_us: BUCKET_BOUNDS_US.get(index).map(|&b| b as f64),
                calls: cumulative,
            });
        }
    }
    Ok(rows)
}
