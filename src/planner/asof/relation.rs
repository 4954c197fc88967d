//! Planning AS OF joins: SQL → [`AsofJoinNode`] → [`AsofJoinExec`].
//!
//! [`AsofRelationPlanner`] receives each nested join that `sql::asof` built
//! around an AS OF join, plans both sides through DataFusion, and splits the
//! join condition into equality keys, one inequality between the two times
//! and an optional bound (`<left time> - <right time> <= <constant>`, the
//! operands swapped for the `<=`/`<` directions). Types are coerced here:
//! each key pair and the two times are cast to one common type, so both
//! inputs hash-partition alike.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{Column, DFSchema, Result, ScalarValue};
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::logical_expr::expr::Cast;
use datafusion::logical_expr::planner::{
    PlannedRelation, RelationPlanner, RelationPlannerContext, RelationPlanning,
};
use datafusion::logical_expr::type_coercion::binary::comparison_coercion;
use datafusion::logical_expr::utils::split_conjunction_owned;
use datafusion::logical_expr::{
    BinaryExpr, Expr, ExprSchemable, Extension, LogicalPlan, LogicalPlanBuilder, Operator,
};
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr as SqlExpr, JoinConstraint, JoinOperator, TableFactor, TableWithJoins,
};

use crate::error::Error;
use crate::exec::asof_join::{AsofJoinType, AsofMatch, is_time_type};
use crate::sql::asof::marker_join_type;

use super::node::AsofJoinNode;

/// Plans the nested joins `sql::asof` wraps around AS OF joins.
#[derive(Debug, Default)]
pub struct AsofRelationPlanner;

impl RelationPlanner for AsofRelationPlanner {
    fn plan_relation(
        &self,
        relation: TableFactor,
        context: &mut dyn RelationPlannerContext,
    ) -> Result<RelationPlanning> {
        let TableFactor::NestedJoin {
            table_with_joins,
            alias,
        } = relation
        else {
            return Ok(RelationPlanning::Original(Box::new(relation)));
        };
        let is_asof = table_with_joins
            .joins
            .last()
            .is_some_and(|j| matches!(j.join_operator, JoinOperator::AsOf { .. }));
        if !is_asof {
            return Ok(RelationPlanning::Original(Box::new(
                TableFactor::NestedJoin {
                    table_with_joins,
                    alias,
                },
            )));
        }
        let plan = plan_asof_join(*table_with_joins, context)?;
        Ok(RelationPlanning::Planned(Box::new(PlannedRelation::new(
            plan, alias,
        ))))
    }
}

fn unsupported(message: impl Into<String>) -> datafusion::error::DataFusionError {
    Error::FeatureNotSupported(message.into()).into()
}

fn mismatch(message: impl Into<String>) -> datafusion::error::DataFusionError {
    Error::DatatypeMismatch(message.into()).into()
}

/// SQL conjuncts of `expr`, without the join-type markers; the marker's
/// join type (left-preserving = true) if there was one.
fn sql_conjuncts(expr: SqlExpr, out: &mut Vec<SqlExpr>) -> Option<bool> {
    match expr {
        SqlExpr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            let a = sql_conjuncts(*left, out);
            let b = sql_conjuncts(*right, out);
            a.or(b)
        }
        SqlExpr::Nested(inner)
            if matches!(
                *inner,
                SqlExpr::BinaryOp {
                    op: BinaryOperator::And,
                    ..
                }
            ) =>
        {
            sql_conjuncts(*inner, out)
        }
        other => match marker_join_type(&other) {
            Some(keeps_left) => Some(keeps_left),
            None => {
                out.push(other);
                None
            }
        },
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Left,
    Right,
}

fn side_of(expr: &Expr, left: &DFSchema, right: &DFSchema) -> Option<Side> {
    let columns = expr.column_refs();
    if columns.is_empty() {
        return None;
    }
    if columns.iter().all(|c| left.has_column(c)) {
        Some(Side::Left)
    } else if columns.iter().all(|c| right.has_column(c)) {
        Some(Side::Right)
    } else {
        None
    }
}

fn plan_asof_join(
    mut table_with_joins: TableWithJoins,
    context: &mut dyn RelationPlannerContext,
) -> Result<LogicalPlan> {
    let join = table_with_joins
        .joins
        .pop()
        .ok_or_else(|| unsupported("an AS OF join needs a right side"))?;
    let left_factor = if table_with_joins.joins.is_empty() {
        table_with_joins.relation
    } else {
        TableFactor::NestedJoin {
            table_with_joins: Box::new(table_with_joins),
            alias: None,
        }
    };
    let left = context.plan(left_factor)?;
    let right = with_write_sequence(context.plan(join.relation)?)?;
    let JoinOperator::AsOf {
        match_condition,
        constraint,
    } = join.join_operator
    else {
        return Err(unsupported("not an AS OF join"));
    };
    let mut sql = Vec::new();
    let keeps_left = sql_conjuncts(match_condition, &mut sql).unwrap_or(true);
    let join_type = if keeps_left {
        AsofJoinType::Left
    } else {
        AsofJoinType::Inner
    };
    // DuckDB's form carries no inequality in MATCH_CONDITION: it is in ON,
    // or, with USING, the last column compared with >=.
    let duckdb_form = sql.is_empty();
    let (left_schema, right_schema) = (left.schema().clone(), right.schema().clone());
    let both = left_schema.join(&right_schema)?;
    let mut conjuncts = Vec::new();
    for expr in sql {
        conjuncts.push(context.sql_to_expr(expr, &both)?);
    }
    let mut using_right_columns = Vec::new();
    match constraint {
        JoinConstraint::On(expr) => {
            let expr = context.sql_to_expr(expr, &both)?;
            conjuncts.extend(split_conjunction_owned(expr));
        }
        JoinConstraint::Using(names) => {
            let count = names.len();
            for (i, name) in names.into_iter().enumerate() {
                let ident = name
                    .0
                    .last()
                    .and_then(|part| part.as_ident())
                    .cloned()
                    .ok_or_else(|| {
                        unsupported(format!("USING column {name} is not a column name"))
                    })?;
                let name = context.normalize_ident(ident);
                let l = using_column(&left_schema, &name, "left")?;
                let r = using_column(&right_schema, &name, "right")?;
                using_right_columns.push(r.clone());
                let op = if duckdb_form && i + 1 == count {
                    Operator::GtEq
                } else {
                    Operator::Eq
                };
                conjuncts.push(Expr::BinaryExpr(BinaryExpr::new(
                    Box::new(Expr::Column(l)),
                    op,
                    Box::new(Expr::Column(r)),
                )));
            }
        }
        JoinConstraint::None => {}
        JoinConstraint::Natural => {
            return Err(unsupported("NATURAL is not allowed in an AS OF join"));
        }
    }
    let parts = split_condition(conjuncts, &left_schema, &right_schema)?;
    let node = build_node(left, right, parts, join_type)?;
    // USING shows each column once (the left one); the write sequence is
    // only for the operator.
    let mut hidden = using_right_columns;
    if let Some(Expr::Column(sequence)) = &node.right_sequence {
        hidden.push(sequence.clone());
    }
    let plan = LogicalPlan::Extension(Extension {
        node: Arc::new(node),
    });
    if hidden.is_empty() {
        return Ok(plan);
    }
    let kept: Vec<Expr> = plan
        .schema()
        .columns()
        .into_iter()
        .filter(|c| !hidden.contains(c))
        .map(Expr::Column)
        .collect();
    LogicalPlanBuilder::from(plan).project(kept)?.build()
}

/// A right side that reads a feature group directly (latest or time
/// travel, aliased or not) re-planned to also read its write sequence.
fn with_write_sequence(plan: LogicalPlan) -> Result<LogicalPlan> {
    match plan {
        LogicalPlan::SubqueryAlias(alias) => {
            let input = Arc::unwrap_or_clone(alias.input);
            let sequenced = with_write_sequence(input)?;
            LogicalPlanBuilder::from(sequenced)
                .alias(alias.alias)?
                .build()
        }
        LogicalPlan::TableScan(scan) if scan.filters.is_empty() && scan.fetch.is_none() => {
            let sequenced = source_as_provider(&scan.source)
                .ok()
                .and_then(|provider| crate::offline::sequenced_provider(provider.as_ref()));
            match sequenced {
                Some(provider) => LogicalPlanBuilder::scan(
                    scan.table_name.clone(),
                    provider_as_source(provider),
                    None,
                )?
                .build(),
                None => Ok(LogicalPlan::TableScan(scan)),
            }
        }
        other => Ok(other),
    }
}

fn using_column(schema: &DFSchema, name: &str, side: &str) -> Result<Column> {
    let (qualifier, field) = schema
        .qualified_field_with_unqualified_name(name)
        .map_err(|_| Error::UndefinedColumn(format!("{name} (USING, {side} side)")))?;
    Ok(Column::new(qualifier.cloned(), field.name()))
}

struct ConditionParts {
    on: Vec<(Expr, Expr)>,
    times: (Expr, AsofMatch, Expr),
    bound: Option<(Expr, Expr, bool, ScalarValue)>,
}

fn split_condition(
    conjuncts: Vec<Expr>,
    left: &DFSchema,
    right: &DFSchema,
) -> Result<ConditionParts> {
    let mut on = Vec::new();
    let mut times = None;
    let mut bound = None;
    for conjunct in conjuncts {
        let Expr::BinaryExpr(BinaryExpr {
            left: a,
            op,
            right: b,
        }) = &conjunct
        else {
            return Err(unexpected_condition(&conjunct));
        };
        if let (
            Expr::BinaryExpr(BinaryExpr {
                left: x,
                op: Operator::Minus,
                right: y,
            }),
            Operator::LtEq | Operator::Lt,
            Expr::Literal(value, _),
        ) = (a.as_ref(), op, b.as_ref())
        {
            bound = Some((
                x.as_ref().clone(),
                y.as_ref().clone(),
                *op == Operator::Lt,
                value.clone(),
            ));
            continue;
        }
        let (Some(side_a), Some(side_b)) = (side_of(a, left, right), side_of(b, left, right))
        else {
            return Err(unexpected_condition(&conjunct));
        };
        if side_a == side_b {
            return Err(unexpected_condition(&conjunct));
        }
        let (l, r, flipped) = if side_a == Side::Left {
            (a.as_ref().clone(), b.as_ref().clone(), false)
        } else {
            (b.as_ref().clone(), a.as_ref().clone(), true)
        };
        let condition = match op {
            Operator::Eq => {
                on.push((l, r));
                continue;
            }
            Operator::GtEq => AsofMatch::GreaterEq,
            Operator::Gt => AsofMatch::Greater,
            Operator::LtEq => AsofMatch::LessEq,
            Operator::Lt => AsofMatch::Less,
            _ => return Err(unexpected_condition(&conjunct)),
        };
        let condition = if flipped {
            condition.flipped()
        } else {
            condition
        };
        if times.replace((l, condition, r)).is_some() {
            return Err(unsupported(
                "an AS OF join takes exactly one inequality between the two times",
            ));
        }
    }
    let times = times.ok_or_else(|| {
        unsupported(
            "an AS OF join needs an inequality between a left and a right time, such as l.t >= r.t",
        )
    })?;
    if on.is_empty() {
        return Err(Error::FeatureNotSupported(
            "an AS OF join needs at least one equality key (ON l.k = r.k)".into(),
        )
        .into());
    }
    Ok(ConditionParts { on, times, bound })
}

fn unexpected_condition(expr: &Expr) -> datafusion::error::DataFusionError {
    unsupported(format!(
        "an AS OF join condition is equalities between the two sides, one time inequality and an optional bound `<left time> - <right time> <= <constant>`; cannot use {expr}"
    ))
}

fn type_name(data_type: &DataType) -> String {
    crate::pg_types::postgres_type_name(data_type)
}

fn cast_to(expr: Expr, schema: &DFSchema, to: &DataType) -> Result<Expr> {
    if expr.get_type(schema)? == *to {
        Ok(expr)
    } else {
        Ok(Expr::Cast(Cast::new(Box::new(expr), to.clone())))
    }
}

fn build_node(
    left: LogicalPlan,
    right: LogicalPlan,
    parts: ConditionParts,
    join_type: AsofJoinType,
) -> Result<AsofJoinNode> {
    let (left_schema, right_schema) = (left.schema().clone(), right.schema().clone());
    let mut on = Vec::new();
    for (l, r) in parts.on {
        let (lt, rt) = (l.get_type(&left_schema)?, r.get_type(&right_schema)?);
        let common = comparison_coercion(&lt, &rt)
            .ok_or_else(|| mismatch(format!("AS OF join key {l} = {r} compares {lt} with {rt}")))?;
        if common.is_floating() {
            return Err(mismatch(format!(
                "AS OF join key {l} = {r} is a floating-point type ({common}); equality on floats is unreliable, use an integer, text or decimal key"
            )));
        }
        on.push((
            cast_to(l, &left_schema, &common)?,
            cast_to(r, &right_schema, &common)?,
        ));
    }
    let (left_time, condition, right_time) = parts.times;
    let (lt, rt) = (
        left_time.get_type(&left_schema)?,
        right_time.get_type(&right_schema)?,
    );
    let common = comparison_coercion(&lt, &rt)
        .filter(|common| is_time_type(common) && is_time_type(&lt) && is_time_type(&rt))
        .ok_or_else(|| {
            mismatch(format!(
                "AS OF match condition compares {} with {}; both times must be TIMESTAMP, DATE or integer",
                type_name(&lt),
                type_name(&rt)
            ))
        })?;
    let tolerance = match parts.bound {
        None => None,
        Some((minuend, subtrahend, strict, value)) => {
            let (later, earlier) = if condition.looks_back() {
                (&left_time, &right_time)
            } else {
                (&right_time, &left_time)
            };
            if minuend != *later || subtrahend != *earlier {
                return Err(unsupported(format!(
                    "the AS OF bound must be written `{later} - {earlier} <= <constant>`"
                )));
            }
            let bound = bound_in_time_unit(&value, &common)?;
            Some(if strict { bound - 1 } else { bound })
        }
    };
    let left_time = cast_to(left_time, &left_schema, &common)?;
    let right_time = cast_to(right_time, &right_schema, &common)?;
    let right_sequence = write_sequence_column(&right_schema);
    AsofJoinNode::try_new(
        Arc::new(left),
        Arc::new(right),
        on,
        (left_time, condition, right_time),
        tolerance,
        right_sequence,
        join_type,
    )
}

/// A feature group read carries its write order in this column when asked
/// for it; AS OF joins use it to give ties to the later write.
pub fn write_sequence_column(schema: &DFSchema) -> Option<Expr> {
    schema
        .columns()
        .into_iter()
        .find(|c| c.name == crate::offline::WRITE_SEQUENCE_COLUMN)
        .map(Expr::Column)
}

/// The bound as a count of the time type's unit (see `exec::asof_join`).
fn bound_in_time_unit(value: &ScalarValue, time_type: &DataType) -> Result<i64> {
    const NANOS_PER_DAY: i128 = 86_400_000_000_000;
    let nanos: Option<i128> = match value {
        ScalarValue::IntervalMonthDayNano(Some(v)) if v.months == 0 => {
            Some(i128::from(v.days) * NANOS_PER_DAY + i128::from(v.nanoseconds))
        }
        ScalarValue::IntervalDayTime(Some(v)) => {
            Some(i128::from(v.days) * NANOS_PER_DAY + i128::from(v.milliseconds) * 1_000_000)
        }
        ScalarValue::IntervalYearMonth(_) | ScalarValue::IntervalMonthDayNano(_) => {
            return Err(unsupported(
                "an AS OF bound in months or years has no fixed length; write it in days",
            ));
        }
        _ => None,
    };
    let integer = value.cast_to(&DataType::Int64).ok().and_then(|v| match v {
        ScalarValue::Int64(Some(i)) => Some(i),
        _ => None,
    });
    let per_unit: i128 = match time_type {
        DataType::Timestamp(TimeUnit::Second, _) => 1_000_000_000,
        DataType::Timestamp(TimeUnit::Millisecond, _) | DataType::Date64 => 1_000_000,
        DataType::Timestamp(TimeUnit::Microsecond, _) => 1_000,
        DataType::Timestamp(TimeUnit::Nanosecond, _) => 1,
        DataType::Date32 => NANOS_PER_DAY,
        _ => 0,
    };
    let bound = match (nanos, per_unit, integer) {
        (Some(nanos), per_unit, _) if per_unit > 0 => nanos / per_unit,
        (None, 0, Some(integer)) => i128::from(integer),
        _ => {
            let expected = if per_unit > 0 {
                "an INTERVAL"
            } else {
                "an integer"
            };
            return Err(mismatch(format!(
                "the AS OF bound {value} does not fit times of type {}: expected {expected}",
                type_name(time_type)
            )));
        }
    };
    if bound < 0 {
        return Err(unsupported("the AS OF bound must not be negative"));
    }
    i64::try_from(bound).map_err(|_| unsupported("the AS OF bound is too large"))
}
