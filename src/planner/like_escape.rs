//! `LIKE … ESCAPE 'c'` with an escape character other than backslash.
//!
//! DataFusion's LIKE kernels know only backslash as the escape character;
//! clients use others (SQLAlchemy lists schemas with `NOT LIKE 'pg/_%'
//! ESCAPE '/'`). This rule rewrites the pattern into the backslash form —
//! backslashes become literal (`\\`), `c x` becomes `\x` — and drops the
//! ESCAPE clause. The pattern may be any expression (a parameter, a column),
//! so the rewrite is expressed with `replace` and `regexp_replace`.

use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::functions::expr_fn::{regexp_replace, replace};
use datafusion::logical_expr::expr::Like;
use datafusion::logical_expr::{Expr, LogicalPlan, lit};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

#[derive(Debug, Default)]
pub struct LikeEscapeRewrite;

impl OptimizerRule for LikeEscapeRewrite {
    fn name(&self) -> &str {
        "like_escape_rewrite"
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::TopDown)
    }

    fn supports_rewrite(&self) -> bool {
        true
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let keeps_names = matches!(plan, LogicalPlan::Projection(_));
        plan.map_expressions(|expr| {
            let name = expr.schema_name().to_string();
            let rewritten = expr.transform_up(rewrite_like)?;
            if keeps_names && rewritten.transformed {
                // A projection's column keeps the name the user saw.
                return rewritten.map_data(|e| e.alias_if_changed(name));
            }
            Ok(rewritten)
        })
    }
}

fn rewrite_like(expr: Expr) -> Result<Transformed<Expr>> {
    let Expr::Like(like) = &expr else {
        return Ok(Transformed::no(expr));
    };
    let Some(escape) = like.escape_char.filter(|c| *c != '\\') else {
        return Ok(Transformed::no(expr));
    };
    let backslashes_literal = replace((*like.pattern).clone(), lit("\\"), lit("\\\\"));
    let escaped = regexp_replace(
        backslashes_literal,
        lit(format!("{}(.)", regex_escape(escape))),
        lit("\\${1}"),
        Some(lit("g")),
    );
    Ok(Transformed::yes(Expr::Like(Like {
        negated: like.negated,
        expr: like.expr.clone(),
        pattern: Box::new(escaped),
        escape_char: None,
        case_insensitive: like.case_insensitive,
    })))
}

fn regex_escape(c: char) -> String {
    if c.is_ascii_alphanumeric() {
        c.to_string()
    } else {
        format!("\\{c}")
    }
}
