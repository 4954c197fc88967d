//! Scalar subqueries in a select list keep their meaning.
//!
//! datafusion-pg-catalog's parser replaces every select-list subquery it
//! thinks is correlated — one that mentions a parameter, or a qualified
//! column of a table it does not alias itself — with `NULL`, because psql's
//! catalog queries use correlated subqueries DataFusion cannot plan. For a
//! query over feature data that is a silently wrong answer:
//! `SELECT (SELECT max(amount) FROM tx WHERE cc_num = $1)` returned NULL.
//!
//! Outside catalog queries (statements that do not mention `pg_…` or
//! `information_schema`), each such subquery is wrapped in parentheses,
//! which the rule does not look through: DataFusion then computes it, or
//! reports why it cannot.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, Query, SelectItem, SetExpr, Statement, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// The statement with its select-list subqueries protected, or `None` when
/// there is nothing to protect.
pub fn protect_projection_subqueries(sql: &str) -> Option<String> {
    if !may_need_protection(sql) {
        return None;
    }
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).ok()?;
    let [statement] = statements.as_mut_slice() else {
        return None;
    };
    protect_in(statement).then(|| statement.to_string())
}

/// A cheap test on the text: a subquery needs a second SELECT, and
/// catalog queries (psql's, drivers') are left to the compatibility
/// parser's own handling.
pub fn may_need_protection(sql: &str) -> bool {
    let lower = sql.to_ascii_lowercase();
    lower.matches("select").count() >= 2 && !mentions_catalog_lowercase(&lower)
}

/// Whether a statement may read the Postgres catalog (`pg_…`,
/// `information_schema`): drivers' and tools' queries, which the
/// compatibility parser knows by their tokens.
pub fn mentions_catalog(sql: &str) -> bool {
    mentions_catalog_lowercase(&sql.to_ascii_lowercase())
}

fn mentions_catalog_lowercase(lower: &str) -> bool {
    lower.contains("pg_") || lower.contains("information_schema")
}

/// Protects the select-list subqueries of a parsed statement; whether any
/// was found.
pub fn protect_in(statement: &mut Statement) -> bool {
    let mut wrapper = Wrapper { changed: false };
    let _ = statement.visit(&mut wrapper);
    wrapper.changed
}

/// A catalog query as written, made plannable without losing its
/// meaning: scalar subqueries that return a plain expression (tools look up
/// one row by OID: `(SELECT typname FROM pg_type WHERE oid = a.atttypid)`)
/// take it through `first_value`, since DataFusion decorrelates only
/// aggregated subqueries, and the select-list ones are protected from the
/// compatibility parser's NULLs. `None` when nothing changes; the caller
/// falls back to the text as written if this does not plan.
pub fn faithful_catalog_text(sql: &str) -> Option<String> {
    let lower = sql.to_ascii_lowercase();
    if !mentions_catalog_lowercase(&lower) {
        return None;
    }
    let has_subqueries = lower.matches("select").count() >= 2;
    let has_idioms = super::catalog_functions::may_apply(&lower);
    if !has_subqueries && !has_idioms {
        return None;
    }
    let mut statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).ok()?;
    let [statement] = statements.as_mut_slice() else {
        return None;
    };
    let idioms = has_idioms && super::catalog_functions::rewrite(statement);
    let mut aggregator = ScalarSubqueries { changed: false };
    let mut protected = false;
    if has_subqueries {
        let _ = statement.visit(&mut aggregator);
        protected = protect_in(statement);
    }
    (idioms || aggregator.changed || protected).then(|| statement.to_string())
}

/// The forms of a catalog query to try, in order: the faithful one
/// ([`faithful_catalog_text`]); then with one select-list subquery, then
/// all of them, answered NULL — what the compatibility parser would do,
/// but keeping the parameters they mention, so that the bound values still
/// line up with `$n`, first in the top-level select list, then in every
/// one. Empty when the text as written is the only form.
pub fn catalog_text_variants(sql: &str) -> Vec<String> {
    // Without a faithful form, the text as written comes first: the
    // variants that answer NULL are only for when it does not plan.
    let faithful = match faithful_catalog_text(sql) {
        Some(faithful) => faithful,
        None if sql.to_ascii_lowercase().matches("select").count() >= 2
            && mentions_catalog(sql) =>
        {
            sql.to_string()
        }
        None => return Vec::new(),
    };
    let Ok(mut parsed) = Parser::parse_sql(&PostgreSqlDialect {}, &faithful) else {
        return vec![faithful];
    };
    let [statement] = parsed.as_mut_slice() else {
        return vec![faithful];
    };
    let subqueries = select_list_subqueries(statement);
    let mut variants = vec![faithful];
    let nulled = |which: &[usize]| {
        let mut variant = statement.clone();
        if let Statement::Query(query) = &mut variant
            && let SetExpr::Select(select) = query.body.as_mut()
        {
            for &index in which {
                if let Some(
                    SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. },
                ) = select.projection.get_mut(index)
                {
                    *expr = null_keeping_parameters(expr);
                }
            }
        }
        variant.to_string()
    };
    for &index in &subqueries {
        variants.push(nulled(&[index]));
    }
    if subqueries.len() > 1 {
        variants.push(nulled(&subqueries));
    }
    // Last, the subqueries of every select list, nested ones too (asyncpg's
    // type introspection computes domain bases and composite attributes in
    // a derived table inside a recursive CTE): NULLs of no type first, which
    // the query compares with oids and arrays of them, then `text` ones.
    for typed in [false, true] {
        let mut everywhere = statement.clone();
        let mut nested = NestedSelectLists {
            changed: false,
            typed,
        };
        let _ = everywhere.visit(&mut nested);
        if nested.changed {
            let text = everywhere.to_string();
            if !variants.contains(&text) {
                variants.push(text);
            }
        }
    }
    if variants.len() == 1 && variants[0] == sql {
        return Vec::new();
    }
    variants
}

struct NestedSelectLists {
    changed: bool,
    typed: bool,
}

impl VisitorMut for NestedSelectLists {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let SetExpr::Select(select) = query.body.as_mut() {
            for item in &mut select.projection {
                if let SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } = item
                    && contains_subquery(expr)
                {
                    *expr = if self.typed {
                        null_keeping_parameters(expr)
                    } else {
                        untyped_null_keeping_parameters(expr)
                    };
                    self.changed = true;
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// Positions of the top-level select list's items that hold subqueries.
fn select_list_subqueries(statement: &Statement) -> Vec<usize> {
    let Statement::Query(query) = statement else {
        return Vec::new();
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return Vec::new();
    };
    select
        .projection
        .iter()
        .enumerate()
        .filter(|(_, item)| {
            matches!(
                item,
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }
                    if contains_subquery(e)
            )
        })
        .map(|(index, _)| index)
        .collect()
}

/// Whether a subquery is anywhere in `expr` (psql's `\d+` reads
/// `array_to_string(c.reloptions || ARRAY(SELECT … FROM unnest(…)), …)`).
fn contains_subquery(expr: &Expr) -> bool {
    datafusion::sql::sqlparser::ast::visit_expressions(expr, |e| {
        if matches!(e, Expr::Subquery(_)) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .is_break()
}

/// [`null_keeping_parameters`] with a NULL of no type, for the query to
/// compare with what it likes; the server types the columns left so
/// (`text`, as PostgreSQL resolves an untyped NULL column).
fn untyped_null_keeping_parameters(expr: &Expr) -> Expr {
    use datafusion::sql::sqlparser::ast::Value;
    let typed = null_keeping_parameters(expr);
    let null = Expr::value(Value::Null);
    match typed {
        Expr::Case {
            case_token,
            end_token,
            operand,
            conditions,
            else_result,
        } => Expr::Case {
            case_token,
            end_token,
            operand,
            conditions: conditions
                .into_iter()
                .map(|when| datafusion::sql::sqlparser::ast::CaseWhen {
                    condition: when.condition,
                    result: null.clone(),
                })
                .collect(),
            else_result,
        },
        _ => null,
    }
}

/// `NULL`, mentioning every parameter of `expr` (with its cast, which types
/// it): `CASE WHEN $1::text IS NULL OR … THEN NULL END`.
fn null_keeping_parameters(expr: &Expr) -> Expr {
    use datafusion::sql::sqlparser::ast::Value;
    let mut parameters: Vec<Expr> = Vec::new();
    let _ = datafusion::sql::sqlparser::ast::visit_expressions(expr, |e| {
        match e {
            Expr::Cast { expr: inner, .. } if matches!(inner.as_ref(), Expr::Value(v) if matches!(v.value, Value::Placeholder(_))) =>
            {
                parameters.push(e.clone());
            }
            Expr::Value(v)
                if matches!(v.value, Value::Placeholder(_))
                    && !parameters
                        .iter()
                        .any(|p| matches!(p, Expr::Cast { expr, .. } if expr.as_ref() == e)) =>
            {
                parameters.push(e.clone());
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    // Typed, as PostgreSQL resolves an untyped NULL column: an `unknown`
    // column sends asyncpg to introspect its type with the very query that
    // answered it.
    let null = super::catalog_functions::parse_expr("CAST(NULL AS TEXT)")
        .unwrap_or_else(|| Expr::value(Value::Null));
    let Some(condition) = parameters
        .into_iter()
        .map(|p| Expr::IsNull(Box::new(p)))
        .reduce(|a, b| Expr::BinaryOp {
            left: Box::new(a),
            op: datafusion::sql::sqlparser::ast::BinaryOperator::Or,
            right: Box::new(b),
        })
    else {
        return null;
    };
    Expr::Case {
        case_token: datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken::empty(
        ),
        end_token: datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken::empty(),
        operand: None,
        conditions: vec![datafusion::sql::sqlparser::ast::CaseWhen {
            condition,
            result: null.clone(),
        }],
        else_result: None,
    }
}

struct ScalarSubqueries {
    changed: bool,
}

impl VisitorMut for ScalarSubqueries {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        // `ARRAY(SELECT x …)` (psql's `\d+`, `\du`) is the subquery's
        // values aggregated: `(SELECT array_agg(x) …)`.
        if let Some(query) = array_of_subquery(expr) {
            *expr = Expr::Subquery(Box::new(query));
            self.changed = true;
            return ControlFlow::Continue(());
        }
        let Expr::Subquery(query) = expr else {
            return ControlFlow::Continue(());
        };
        let SetExpr::Select(select) = query.body.as_mut() else {
            return ControlFlow::Continue(());
        };
        let no_grouping = matches!(
            &select.group_by,
            datafusion::sql::sqlparser::ast::GroupByExpr::Expressions(e, _) if e.is_empty()
        );
        if !no_grouping || query.limit_clause.is_some() || select.selection.is_none() {
            return ControlFlow::Continue(());
        }
        let [item] = select.projection.as_mut_slice() else {
            return ControlFlow::Continue(());
        };
        let (SelectItem::UnnamedExpr(value) | SelectItem::ExprWithAlias { expr: value, .. }) = item
        else {
            return ControlFlow::Continue(());
        };
        if is_aggregate_call(value) {
            return ControlFlow::Continue(());
        }
        let inner = std::mem::replace(
            value,
            Expr::value(datafusion::sql::sqlparser::ast::Value::Null),
        );
        *value = first_value(inner);
        self.changed = true;
        ControlFlow::Continue(())
    }
}

/// The subquery of `ARRAY(SELECT x …)`, with `x` aggregated by
/// `array_agg`; `None` for any other expression.
fn array_of_subquery(expr: &Expr) -> Option<Query> {
    use datafusion::sql::sqlparser::ast::FunctionArguments;
    let Expr::Function(function) = expr else {
        return None;
    };
    let is_array = function
        .name
        .0
        .last()
        .and_then(|part| part.as_ident())
        .is_some_and(|name| name.value.eq_ignore_ascii_case("array"));
    let FunctionArguments::Subquery(query) = &function.args else {
        return None;
    };
    if !is_array {
        return None;
    }
    let mut query = query.as_ref().clone();
    let SetExpr::Select(select) = query.body.as_mut() else {
        return None;
    };
    let [item] = select.projection.as_mut_slice() else {
        return None;
    };
    let (SelectItem::UnnamedExpr(value) | SelectItem::ExprWithAlias { expr: value, .. }) = item
    else {
        return None;
    };
    let inner = std::mem::replace(
        value,
        Expr::value(datafusion::sql::sqlparser::ast::Value::Null),
    );
    let ordered = query.order_by.take();
    *value = aggregate_call("array_agg", inner);
    if let (Some(order_by), Expr::Function(aggregate)) = (ordered, value)
        && let datafusion::sql::sqlparser::ast::OrderByKind::Expressions(order) = order_by.kind
        && let FunctionArguments::List(list) = &mut aggregate.args
    {
        list.clauses
            .push(datafusion::sql::sqlparser::ast::FunctionArgumentClause::OrderBy(order));
    }
    Some(query)
}

fn first_value(expr: Expr) -> Expr {
    aggregate_call("first_value", expr)
}

fn aggregate_call(name: &str, expr: Expr) -> Expr {
    use datafusion::sql::sqlparser::ast::{
        Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident,
        ObjectName,
    };
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(expr))],
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

fn is_aggregate_call(expr: &Expr) -> bool {
    const AGGREGATES: [&str; 12] = [
        "count",
        "max",
        "min",
        "sum",
        "avg",
        "array_agg",
        "string_agg",
        "bool_and",
        "bool_or",
        "json_agg",
        "first_value",
        "last_value",
    ];
    match expr {
        Expr::Function(f) => f
            .name
            .0
            .last()
            .and_then(|part| part.as_ident())
            .is_some_and(|name| AGGREGATES.contains(&name.value.to_ascii_lowercase().as_str())),
        Expr::Nested(inner) | Expr::Cast { expr: inner, .. } => is_aggregate_call(inner),
        _ => false,
    }
}

struct Wrapper {
    changed: bool,
}

impl VisitorMut for Wrapper {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let SetExpr::Select(select) = query.body.as_mut() {
            for item in &mut select.projection {
                let (SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. }) = item
                else {
                    continue;
                };
                if matches!(expr, Expr::Subquery(_)) {
                    let subquery = std::mem::replace(
                        expr,
                        Expr::value(datafusion::sql::sqlparser::ast::Value::Null),
                    );
                    *expr = Expr::Nested(Box::new(subquery));
                    self.changed = true;
                }
            }
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_select_list_subqueries_of_data_queries_only() {
        assert_eq!(
            protect_projection_subqueries("SELECT (SELECT max(a) FROM t WHERE k = $1) AS m")
                .as_deref(),
            Some("SELECT ((SELECT max(a) FROM t WHERE k = $1)) AS m")
        );
        assert_eq!(protect_projection_subqueries("SELECT a FROM t"), None);
        assert_eq!(
            faithful_catalog_text(
                "SELECT a.attname, (SELECT t.typname FROM pg_catalog.pg_type t WHERE t.oid = a.atttypid) AS ty, \
                 (SELECT count(*) FROM pg_catalog.pg_class c WHERE c.oid = a.attrelid) AS n FROM pg_catalog.pg_attribute a"
            )
            .as_deref(),
            Some(
                "SELECT a.attname, ((SELECT first_value(t.typname) FROM pg_catalog.pg_type t WHERE t.oid = a.atttypid)) AS ty, \
                 ((SELECT count(*) FROM pg_catalog.pg_class c WHERE c.oid = a.attrelid)) AS n FROM pg_catalog.pg_attribute a"
            )
        );
        assert_eq!(faithful_catalog_text("SELECT (SELECT 1) FROM t"), None);
        assert_eq!(
            catalog_text_variants(
                "SELECT a.attname, (SELECT s.x FROM pg_catalog.pg_sequence s WHERE a.attidentity != $1::VARCHAR AND s.y = $2) AS i \
                 FROM pg_catalog.pg_attribute a WHERE a.attnum > $3::SMALLINT"
            )[1],
            "SELECT a.attname, CASE WHEN $1::VARCHAR IS NULL OR $2 IS NULL THEN CAST(NULL AS TEXT) END AS i \
             FROM pg_catalog.pg_attribute a WHERE a.attnum > $3::SMALLINT"
        );
        // Nested select lists last (a derived table inside a CTE).
        assert_eq!(
            catalog_text_variants(
                "WITH RECURSIVE r(o) AS (SELECT ti.o FROM (SELECT t.oid AS o, (WITH RECURSIVE b(x) AS (SELECT 1) SELECT x FROM b WHERE x = t.oid) AS base FROM pg_catalog.pg_type t) AS ti) SELECT * FROM r"
            )
            .last()
            .map(String::as_str),
            Some(
                "WITH RECURSIVE r (o) AS (SELECT ti.o FROM (SELECT t.oid AS o, CAST(NULL AS TEXT) AS base FROM pg_catalog.pg_type t) AS ti) SELECT * FROM r"
            )
        );
        assert_eq!(
            faithful_catalog_text(
                "SELECT ARRAY(SELECT r.rolname FROM pg_catalog.pg_roles r WHERE r.oid = m.roleid ORDER BY 1) \
                 FROM pg_catalog.pg_auth_members m"
            )
            .as_deref(),
            Some(
                "SELECT ((SELECT array_agg(r.rolname ORDER BY 1) FROM pg_catalog.pg_roles r WHERE r.oid = m.roleid)) \
                 FROM pg_catalog.pg_auth_members m"
            )
        );
        assert_eq!(
            protect_projection_subqueries(
                "SELECT (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = a.attrelid) FROM pg_attribute a"
            ),
            None
        );
    }
}
