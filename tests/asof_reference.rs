//! Property test: the AS OF join operator against a naive reference (for
//! each left row, scan the whole right side), on random data cut into many
//! batches and partitions, for every comparison, both join types, with and
//! without a bound. NULL keys and times, duplicate keys and duplicate times
//! are generated on purpose.
//!
//! Right rows that tie (same key, same time) come from a plain in-memory
//! table, whose write order is unspecified, so the check for the matched
//! row is: its time is the reference's, and its value is one of the tied
//! rows' values. (Feature groups order ties by their write sequence; that is
//! checked in `asof_join.slt` and the end-to-end test.)

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, Int64Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
use datafusion::datasource::MemTable;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use proptest::prelude::*;

#[derive(Debug, Clone, Copy)]
struct LeftRow {
    key: Option<i64>,
    time: Option<i64>,
}

#[derive(Debug, Clone, Copy)]
struct RightRow {
    key: Option<i64>,
    time: Option<i64>,
}

#[derive(Debug, Clone)]
struct Case {
    left: Vec<LeftRow>,
    right: Vec<RightRow>,
    op: &'static str,
    keep_left: bool,
    bound: Option<i64>,
    target_partitions: usize,
    batch_size: usize,
    left_partitions: usize,
    right_partitions: usize,
}

fn maybe(range: std::ops::Range<i64>) -> impl Strategy<Value = Option<i64>> {
    prop_oneof![1 => Just(None), 12 => range.prop_map(Some)]
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec((maybe(0..6), maybe(0..40)), 0..60),
        prop::collection::vec((maybe(0..6), maybe(0..40)), 0..80),
        prop::sample::select(vec![">=", ">", "<=", "<"]),
        any::<bool>(),
        prop::option::of(0i64..8),
        1usize..5,
        1usize..9,
        1usize..4,
        1usize..4,
    )
        .prop_map(
            |(left, right, op, keep_left, bound, target_partitions, batch_size, lp, rp)| Case {
                left: left
                    .into_iter()
                    .map(|(key, time)| LeftRow { key, time })
                    .collect(),
                right: right
                    .into_iter()
                    .map(|(key, time)| RightRow { key, time })
                    .collect(),
                op,
                keep_left,
                bound,
                target_partitions,
                batch_size,
                left_partitions: lp,
                right_partitions: rp,
            },
        )
}

/// What the reference expects for one left row: the matched right time, and
/// the ids of the right rows at that time (any of them is a correct match).
type Expected = Option<(i64, Vec<i64>)>;

fn reference(case: &Case, left: &LeftRow) -> Expected {
    let (Some(key), Some(time)) = (left.key, left.time) else {
        return None;
    };
    let qualifying = case
        .right
        .iter()
        .enumerate()
        .filter(|(_, r)| r.key == Some(key) && r.time.is_some())
        .map(|(id, r)| (id as i64, r.time.unwrap()))
        .filter(|(_, t)| match case.op {
            ">=" => time >= *t,
            ">" => time > *t,
            "<=" => time <= *t,
            _ => time < *t,
        });
    let candidates: Vec<(i64, i64)> = qualifying.collect();
    let best = if case.op.starts_with('>') {
        candidates.iter().map(|(_, t)| *t).max()?
    } else {
        candidates.iter().map(|(_, t)| *t).min()?
    };
    if let Some(bound) = case.bound
        && (time - best).abs() > bound
    {
        return None;
    }
    let ids = candidates
        .iter()
        .filter(|(_, t)| *t == best)
        .map(|(id, _)| *id)
        .collect();
    Some((best, ids))
}

/// Rows cut into `partitions` partitions of `batch_size`-row batches.
fn table(columns: Vec<(&str, Vec<Option<i64>>)>, partitions: usize, batch_size: usize) -> MemTable {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, _)| Field::new(*name, DataType::Int64, true))
            .collect::<Vec<_>>(),
    ));
    let rows = columns.first().map_or(0, |(_, v)| v.len());
    let mut parts: Vec<Vec<RecordBatch>> = vec![Vec::new(); partitions];
    let mut start = 0;
    let mut part = 0;
    while start < rows {
        let end = (start + batch_size).min(rows);
        let arrays = columns
            .iter()
            .map(|(_, values)| {
                Arc::new(Int64Array::from(values[start..end].to_vec())) as Arc<dyn Array>
            })
            .collect();
        parts[part % partitions].push(RecordBatch::try_new(schema.clone(), arrays).unwrap());
        part += 1;
        start = end;
    }
    MemTable::try_new(schema, parts).unwrap()
}

async fn run(case: &Case) -> Vec<(i64, Option<i64>, Option<i64>)> {
    let config = SessionConfig::new()
        .with_target_partitions(case.target_partitions)
        .with_batch_size(case.batch_size);
    let state = fstore::planner::with_fstore_planning(
        SessionStateBuilder::new()
            .with_config(config)
            .with_default_features(),
    )
    .build();
    let ctx = SessionContext::new_with_state(state);
    ctx.add_optimizer_rule(Arc::new(fstore::planner::asof::AsofFilterPushdown));
    let left = table(
        vec![
            ("id", (0..case.left.len() as i64).map(Some).collect()),
            ("k", case.left.iter().map(|r| r.key).collect()),
            ("t", case.left.iter().map(|r| r.time).collect()),
        ],
        case.left_partitions,
        case.batch_size,
    );
    let right = table(
        vec![
            ("id", (0..case.right.len() as i64).map(Some).collect()),
            ("k", case.right.iter().map(|r| r.key).collect()),
            ("t", case.right.iter().map(|r| r.time).collect()),
        ],
        case.right_partitions,
        case.batch_size,
    );
    ctx.register_table("l", Arc::new(left)).unwrap();
    ctx.register_table("r", Arc::new(right)).unwrap();
    let bound = match (case.bound, case.op.starts_with('>')) {
        (None, _) => String::new(),
        (Some(b), true) => format!(" AND l.t - r.t <= {b}"),
        (Some(b), false) => format!(" AND r.t - l.t <= {b}"),
    };
    let join = if case.keep_left {
        "ASOF LEFT JOIN"
    } else {
        "ASOF JOIN"
    };
    let sql = format!(
        "SELECT l.id, r.t, r.id FROM l {join} r ON l.k = r.k AND l.t {} r.t{bound}",
        case.op
    );
    let sql = fstore::sql::asof::rewrite_asof_statement(&sql).unwrap();
    let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
    let mut out = Vec::new();
    for batch in batches {
        let ids = batch.column(0).as_primitive::<Int64Type>();
        let times = batch.column(1).as_primitive::<Int64Type>();
        let right_ids = batch.column(2).as_primitive::<Int64Type>();
        for row in 0..batch.num_rows() {
            let opt =
                |a: &datafusion::arrow::array::Int64Array| (!a.is_null(row)).then(|| a.value(row));
            out.push((ids.value(row), opt(times), opt(right_ids)));
        }
    }
    out.sort();
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn asof_join_matches_the_naive_reference(case in case()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let actual = runtime.block_on(run(&case));
        let mut expected_rows = 0;
        let mut actual_rows = actual.iter().peekable();
        for (id, left) in case.left.iter().enumerate() {
            let expected = reference(&case, left);
            if expected.is_none() && !case.keep_left {
                prop_assert!(actual_rows.peek().is_none_or(|(a, _, _)| *a != id as i64),
                    "left row {id} has no match but was returned by the inner join");
                continue;
            }
            expected_rows += 1;
            let (actual_id, time, right_id) = actual_rows.next().copied()
                .ok_or_else(|| TestCaseError::fail(format!("left row {id} is missing")))?;
            prop_assert_eq!(actual_id, id as i64, "left rows out of step");
            match expected {
                None => prop_assert_eq!((time, right_id), (None, None), "left row {} matched", id),
                Some((expected_time, ids)) => {
                    prop_assert_eq!(time, Some(expected_time), "left row {}", id);
                    prop_assert!(right_id.is_some_and(|r| ids.contains(&r)),
                        "left row {id} matched right row {right_id:?}, expected one of {ids:?}");
                }
            }
        }
        prop_assert_eq!(actual.len(), expected_rows, "one output row per kept left row");
    }
}

/// Over the memory limit the join fails with ResourcesExhausted (SQLSTATE
/// 53200 on the wire) instead of growing the process.
#[tokio::test]
async fn a_right_side_over_the_memory_limit_fails_cleanly() {
    let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
        .with_memory_limit(256 * 1024, 1.0)
        .build_arc()
        .unwrap();
    let state = fstore::planner::with_fstore_planning(
        SessionStateBuilder::new()
            .with_config(SessionConfig::new().with_target_partitions(1))
            .with_runtime_env(runtime)
            .with_default_features(),
    )
    .build();
    let ctx = SessionContext::new_with_state(state);
    let rows = 200_000i64;
    let right = table(
        vec![
            ("k", (0..rows).map(|i| Some(i % 1000)).collect()),
            ("t", (0..rows).map(Some).collect()),
        ],
        1,
        8192,
    );
    let left = table(vec![("k", vec![Some(1)]), ("t", vec![Some(5)])], 1, 8192);
    ctx.register_table("l", Arc::new(left)).unwrap();
    ctx.register_table("r", Arc::new(right)).unwrap();
    let sql = fstore::sql::asof::rewrite_asof_statement(
        "SELECT * FROM l ASOF LEFT JOIN r ON l.k = r.k AND l.t >= r.t",
    )
    .unwrap();
    let error = ctx.sql(&sql).await.unwrap().collect().await.unwrap_err();
    assert!(
        matches!(
            error.find_root(),
            datafusion::error::DataFusionError::ResourcesExhausted(_)
        ),
        "expected ResourcesExhausted, got {error}"
    );
}
