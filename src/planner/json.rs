//! `json` and `jsonb` as PostgreSQL's text types: a column or a cast of
//! either holds the JSON text (as `json` keeps it; `jsonb`'s normalised
//! spelling is not reproduced), and PostgreSQL's operators read it:
//! `j -> 'key'` / `j -> 0` the member as JSON text, `j ->> 'key'` as text,
//! `j ? 'key'` whether the key is there. The accessors are
//! datafusion-functions-json's; its own planner, which answers `->` with a
//! union type no Postgres client can read, is not installed.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr, TypePlanner};
use datafusion::logical_expr::{Expr, ScalarUDF};
use datafusion::sql::sqlparser::ast::{BinaryOperator, DataType as SqlType};
use datafusion_functions_json::udfs;
use datafusion_pg_catalog::pg_catalog::oid_type_planner::PgOidTypePlanner;

/// The accessors PostgreSQL's JSON operators are planned as, to register
/// with the session.
pub fn json_functions() -> Vec<Arc<ScalarUDF>> {
    vec![
        udfs::json_get_json_udf(),
        udfs::json_as_text_udf(),
        udfs::json_contains_udf(),
    ]
}

/// Types: `json`/`jsonb` are text; everything else as the pg_catalog
/// layer plans it (oid aliases, `pg_catalog.`-qualified names).
#[derive(Debug, Default)]
pub struct PostgresTypes {
    catalog: PgOidTypePlanner,
}

impl TypePlanner for PostgresTypes {
    fn plan_type_field(&self, sql_type: &SqlType) -> Result<Option<FieldRef>> {
        if matches!(sql_type, SqlType::JSON | SqlType::JSONB) {
            return Ok(Some(Arc::new(Field::new("", DataType::Utf8, true))));
        }
        self.catalog.plan_type_field(sql_type)
    }
}

/// `->`, `->>` and `?` on JSON text.
#[derive(Debug, Default)]
pub struct JsonOperators;

impl ExprPlanner for JsonOperators {
    fn plan_binary_op(
        &self,
        expr: RawBinaryExpr,
        _schema: &DFSchema,
    ) -> Result<PlannerResult<RawBinaryExpr>> {
        let func = match expr.op {
            BinaryOperator::Arrow => udfs::json_get_json_udf(),
            BinaryOperator::LongArrow => udfs::json_as_text_udf(),
            BinaryOperator::Question => udfs::json_contains_udf(),
            _ => return Ok(PlannerResult::Original(expr)),
        };
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction {
                func,
                args: vec![expr.left, expr.right],
            },
        )))
    }
}
