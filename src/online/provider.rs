//! `online.<feature group | feature view>`: the online store as a
//! DataFusion table, for every query the wire fast path does not take.
//!
//! Filters that pin every primary key column to literals (`k = 1`,
//! `k IN (1, 2)`, `k1 = 'a' AND k2 = 3`) become LMDB point lookups; anything
//! else scans the rows in key order. Rows older than the TTL are not
//! returned. DataFusion re-applies every filter, so pushdown only saves
//! work and never changes results.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::memory::MemorySourceConfig;
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::scalar::ScalarValue;

use super::codec::{self, RowDecoder};
use super::{OnlineSource, OnlineStore};

/// Point lookups beyond this many keys scan instead.
const MAX_LOOKUP_KEYS: usize = 10_000;

#[derive(Debug, Clone)]
pub struct OnlineTableProvider {
    source: OnlineSource,
    schema: SchemaRef,
}

impl std::fmt::Debug for OnlineStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnlineStore")
    }
}

impl OnlineTableProvider {
    pub fn new(source: OnlineSource) -> Self {
        OnlineTableProvider {
            schema: source.schema(),
            source,
        }
    }

    pub fn source(&self) -> &OnlineSource {
        &self.source
    }

    /// For each key column, the literal values the filters allow, if every
    /// key column is pinned.
    fn pinned_keys(&self, filters: &[Expr]) -> Option<Vec<Vec<u8>>> {
        let key_outputs = self.source.key_outputs();
        let mut candidates: Vec<Option<Vec<ScalarValue>>> = vec![None; key_outputs.len()];
        for filter in filters {
            for conjunct in split_conjunction(filter) {
                if let Some((name, values)) = pinned_column(conjunct) {
                    let Some(position) = key_outputs
                        .iter()
                        .position(|&c| self.schema.field(c).name() == &name)
                    else {
                        continue;
                    };
                    candidates[position] = Some(match candidates[position].take() {
                        // Two conditions on one column: keep values in both.
                        Some(existing) => existing
                            .into_iter()
                            .filter(|v| values.contains(v))
                            .collect(),
                        None => values,
                    });
                }
            }
        }
        let candidates: Vec<Vec<ScalarValue>> = candidates.into_iter().collect::<Option<_>>()?;
        // Past the cap (or past usize) the scan answers instead.
        candidates
            .iter()
            .try_fold(1usize, |product, values| product.checked_mul(values.len()))
            .filter(|&n| n <= MAX_LOOKUP_KEYS)?;
        let types: Vec<DataType> = key_outputs
            .iter()
            .map(|&c| self.schema.field(c).data_type().clone())
            .collect();
        let mut keys: Vec<Vec<ScalarValue>> = vec![Vec::new()];
        for values in &candidates {
            keys = keys
                .into_iter()
                .flat_map(|prefix| {
                    values.iter().map(move |v| {
                        let mut next = prefix.clone();
                        next.push(v.clone());
                        next
                    })
                })
                .collect();
        }
        let mut encoded: Vec<Vec<u8>> = keys
            .iter()
            .filter_map(|k| codec::encode_key_scalars(k, &types))
            .collect();
        encoded.sort();
        encoded.dedup();
        Some(encoded)
    }
}

fn split_conjunction(expr: &Expr) -> Vec<&Expr> {
    match expr {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::And,
            right,
        }) => {
            let mut out = split_conjunction(left);
            out.extend(split_conjunction(right));
            out
        }
        other => vec![other],
    }
}

fn literal(expr: &Expr) -> Option<ScalarValue> {
    match expr {
        Expr::Literal(value, _) => Some(value.clone()),
        Expr::Cast(cast) => literal(&cast.expr),
        Expr::TryCast(cast) => literal(&cast.expr),
        _ => None,
    }
}

fn column_name(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Column(column) => Some(column.name.clone()),
        Expr::Cast(cast) => column_name(&cast.expr),
        _ => None,
    }
}

/// `col = lit`, `lit = col` or `col IN (lits)`.
fn pinned_column(expr: &Expr) -> Option<(String, Vec<ScalarValue>)> {
    match expr {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) => match (column_name(left), literal(right)) {
            (Some(name), Some(value)) => Some((name, vec![value])),
            _ => Some((column_name(right)?, vec![literal(left)?])),
        },
        Expr::InList(in_list) if !in_list.negated => Some((
            column_name(&in_list.expr)?,
            in_list.list.iter().map(literal).collect::<Option<_>>()?,
        )),
        _ => None,
    }
}

#[async_trait]
impl TableProvider for OnlineTableProvider {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut decoder = RowDecoder::new(self.schema.clone()).map_err(DataFusionError::from)?;
        let push = |values: &[Option<&[u8]>]| decoder.push_values(values);
        match self.pinned_keys(filters) {
            Some(keys) => self.source.lookup(&keys, push),
            None => self.source.scan(push),
        }
        .map_err(DataFusionError::from)?;
        let batch = decoder.finish().map_err(DataFusionError::from)?;
        let plan = MemorySourceConfig::try_new_exec(
            &[vec![batch]],
            self.schema.clone(),
            projection.cloned(),
        )?;
        Ok(plan)
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }
}
