//! A quoted literal compared with a boolean is a boolean, as in
//! PostgreSQL, where `'f'` is of type `unknown` until the other side gives
//! it one: SQLAlchemy's index reflection writes `ix.indisprimary = 'f'`.
//! DataFusion finds no common type for `Boolean = Utf8`; this analyzer
//! rule, run before its type coercion, reads the literal as PostgreSQL
//! reads boolean input (`t`, `true`, `yes`, `on`, `1`, their prefixes, any
//! case) and refuses other text as PostgreSQL does.

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, DataFusionError, Result, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::{BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, Default)]
pub struct BooleanLiterals;

impl AnalyzerRule for BooleanLiterals {
    fn name(&self) -> &str {
        "boolean_literals"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
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
            // An output column keeps the name it was planned with (the
            // nodes above refer to `count(*) FILTER (WHERE b = Utf8("f"))`).
            let keeps_names = matches!(
                node,
                LogicalPlan::Projection(_) | LogicalPlan::Aggregate(_) | LogicalPlan::Window(_)
            );
            node.map_expressions(|expr| {
                let name = expr.schema_name().to_string();
                let rewritten = expr.transform_up(|e| as_boolean(e, &schema))?;
                if keeps_names && rewritten.transformed {
                    return rewritten.map_data(|e| e.alias_if_changed(name));
                }
                Ok(rewritten)
            })
        })
        .map(|t| t.data)
    }
}

fn as_boolean(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &expr else {
        return Ok(Transformed::no(expr));
    };
    if !matches!(
        op,
        Operator::Eq
            | Operator::NotEq
            | Operator::IsDistinctFrom
            | Operator::IsNotDistinctFrom
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
    ) {
        return Ok(Transformed::no(expr));
    }
    let is_boolean = |e: &Expr| {
        e.get_type(schema)
            .is_ok_and(|t| t == datafusion::arrow::datatypes::DataType::Boolean)
    };
    let (left, right) = match (text_literal(left), text_literal(right)) {
        (None, Some(text)) if is_boolean(left) => ((**left).clone(), boolean_literal(text)?),
        (Some(text), None) if is_boolean(right) => (boolean_literal(text)?, (**right).clone()),
        _ => return Ok(Transformed::no(expr)),
    };
    Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
        Box::new(left),
        *op,
        Box::new(right),
    ))))
}

fn text_literal(expr: &Expr) -> Option<Option<&str>> {
    match expr {
        Expr::Literal(
            ScalarValue::Utf8(text) | ScalarValue::Utf8View(text) | ScalarValue::LargeUtf8(text),
            _,
        ) => Some(text.as_deref()),
        _ => None,
    }
}

fn boolean_literal(text: Option<&str>) -> Result<Expr> {
    let Some(text) = text else {
        return Ok(Expr::Literal(ScalarValue::Boolean(None), None));
    };
    parse_boolean(text)
        .map(|value| Expr::Literal(ScalarValue::Boolean(Some(value)), None))
        .ok_or_else(|| {
            DataFusionError::Execution(format!("invalid input syntax for type boolean: \"{text}\""))
        })
}

/// PostgreSQL's boolean input (`boolin`): a unique prefix of `true`,
/// `false`, `yes`, `no`, `on` (two letters at least), `off` (three), or
/// `1`/`0`, ignoring case and surrounding spaces.
pub fn parse_boolean(text: &str) -> Option<bool> {
    let word = text.trim().to_ascii_lowercase();
    let prefix_of =
        |full: &str, shortest: usize| word.len() >= shortest && full.starts_with(word.as_str());
    if prefix_of("true", 1) || prefix_of("yes", 1) || prefix_of("on", 2) || word == "1" {
        Some(true)
    } else if prefix_of("false", 1) || prefix_of("no", 1) || prefix_of("off", 2) || word == "0" {
        // `o` alone is ambiguous (on/off): refused, as in PostgreSQL.
        Some(false)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boolean_input_is_read_as_postgresql_reads_it() {
        for yes in ["t", "TRUE", " yes ", "on", "1", "tr", "y"] {
            assert_eq!(parse_boolean(yes), Some(true), "{yes}");
        }
        for no in ["f", "false", "No", "off", "0", "of"] {
            assert_eq!(parse_boolean(no), Some(false), "{no}");
        }
        for neither in ["o", "", "2", "truth", "nope"] {
            assert_eq!(parse_boolean(neither), None, "{neither}");
        }
    }
}
