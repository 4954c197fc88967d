//! Parameter types DataFusion leaves open that PostgreSQL infers: in
//! `x = ANY($1)` (planned as `array_has($1, x)`), `$1` is an array of
//! `x`'s type. Without it the parameter is described as `text`, and
//! asyncpg refuses to send a Python list for it.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::{Placeholder, ScalarFunction};
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan};

/// `plan` with the untyped parameters of `array_has($n, x)` typed as
/// arrays of `x`'s type.
pub fn with_array_parameter_types(plan: LogicalPlan) -> Result<LogicalPlan> {
    plan.transform_up_with_subqueries(|node| {
        let inputs = node.inputs();
        let schema = match inputs.as_slice() {
            [input] => input.schema().as_ref().clone(),
            // A join of a table with itself (DELETE … WHERE id IN (SELECT
            // id FROM the same table)) has no joined schema to type in.
            [left, right] => match left.schema().join(right.schema()) {
                Ok(schema) => schema,
                Err(_) => return Ok(Transformed::no(node)),
            },
            _ => return Ok(Transformed::no(node)),
        };
        node.map_expressions(|expr| expr.transform_up(|e| typed(e, &schema)))
    })
    .map(|t| t.data)
}

fn typed(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::ScalarFunction(ScalarFunction { func, args }) = &expr else {
        return Ok(Transformed::no(expr));
    };
    if func.name() != "array_has" {
        return Ok(Transformed::no(expr));
    }
    let [Expr::Placeholder(Placeholder { id, field: None }), element] = args.as_slice() else {
        return Ok(Transformed::no(expr));
    };
    let Ok(element_type) = element.get_type(schema) else {
        return Ok(Transformed::no(expr));
    };
    if element_type == DataType::Null {
        return Ok(Transformed::no(expr));
    }
    let array = Field::new(id, DataType::new_list(element_type, true), true);
    let args = vec![
        Expr::Placeholder(Placeholder::new_with_field(
            id.clone(),
            Some(Arc::new(array)),
        )),
        element.clone(),
    ];
    Ok(Transformed::yes(Expr::ScalarFunction(ScalarFunction {
        func: func.clone(),
        args,
    })))
}
