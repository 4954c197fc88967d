//! Catalog idioms DataFusion has no function or type for, rewritten into
//! ones it has, in tools' catalog queries only:
//!
//! - `generate_subscripts(a, 1)` (SQLAlchemy's key reflection, next to
//!   `unnest(a)`) is `unnest(generate_series(1, cardinality(a)))`: two
//!   unnests in one select list advance together, as PostgreSQL's
//!   set-returning functions do;
//! - a `regproc` column compared with `0` (ADBC's type query:
//!   `typreceive != 0`) compares with `'-'`, the name of no function, which
//!   is how the emulated catalog stores it; compared with
//!   `'pg_catalog.array_in'::regproc` (JDBC's type cache), with the name;
//! - a bound parameter cast to `regclass` (SQLAlchemy with psycopg 3:
//!   `classoid = CAST($1 AS REGCLASS)`) is `to_regclass($1)`, looked up
//!   when the value is known; a literal's cast is the compatibility
//!   parser's, which resolves it while planning;
//! - JDBC's `information_schema._pg_expandarray(a)` (a set of `(x, n)`
//!   records) is `unnest(fstore_expand_array(a))`, and a record's field
//!   `(r).x` is `get_field(r, 'x')`;
//! - an OID list cast to `regtype[]` (pgcli's function list:
//!   `proargtypes::regtype[]`) is `fstore_regtype_names(list)`, the types'
//!   names; a column cast to `regtype` and then to `text`
//!   (`prorettype::regtype::text`) is the type's name.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    AccessExpr, BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Statement,
    Value, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// `regproc` columns of the catalog tables clients read.
const REGPROC_COLUMNS: &[&str] = &[
    "typinput",
    "typoutput",
    "typreceive",
    "typsend",
    "typmodin",
    "typmodout",
    "typanalyze",
    "typsubscript",
    "aggfnoid",
    "aggtransfn",
    "aggfinalfn",
    "aggcombinefn",
    "aggserialfn",
    "aggdeserialfn",
    "oprcode",
    "oprrest",
    "oprjoin",
];

/// Whether a catalog query's lowercase text may hold one of the idioms.
pub fn may_apply(lower: &str) -> bool {
    lower.contains("generate_subscripts")
        || lower.contains("regclass")
        || lower.contains("_pg_expandarray")
        || lower.contains("regtype[]")
        || lower.contains("::regtype")
        || REGPROC_COLUMNS.iter().any(|c| lower.contains(c))
}

/// Rewrites the idioms in `statement`; whether any was found.
pub fn rewrite(statement: &mut Statement) -> bool {
    let mut visitor = Idioms { changed: false };
    let _ = statement.visit(&mut visitor);
    visitor.changed
}

struct Idioms {
    changed: bool,
}

impl VisitorMut for Idioms {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Some(replacement) = subscripts_series(expr)
            .or_else(|| regproc_comparison(expr))
            .or_else(|| regclass_parameter(expr))
            .or_else(|| expand_array(expr))
            .or_else(|| record_field(expr))
            .or_else(|| regtype_names(expr))
        {
            *expr = replacement;
            self.changed = true;
        }
        ControlFlow::Continue(())
    }
}

/// The arguments of a call of `name` (any schema), when all are plain.
fn call_arguments<'a>(expr: &'a Expr, name: &str) -> Option<Vec<&'a Expr>> {
    let Expr::Function(function) = expr else {
        return None;
    };
    let called = function.name.0.last()?.as_ident()?;
    if !called.value.eq_ignore_ascii_case(name) {
        return None;
    }
    let FunctionArguments::List(list) = &function.args else {
        return None;
    };
    list.args
        .iter()
        .map(|arg| match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
            _ => None,
        })
        .collect()
}

fn subscripts_series(expr: &Expr) -> Option<Expr> {
    let [array, dimension] = call_arguments(expr, "generate_subscripts")?[..] else {
        return None;
    };
    // Catalog arrays have one dimension: any other has no subscripts. The
    // dimension stays in the text since it may be a bound parameter.
    parse_expr(&format!(
        "unnest(generate_series(1, CASE WHEN {dimension} = 1 THEN CAST(cardinality({array}) AS BIGINT) ELSE 0 END))"
    ))
}

fn expand_array(expr: &Expr) -> Option<Expr> {
    let [array] = call_arguments(expr, "_pg_expandarray")?[..] else {
        return None;
    };
    parse_expr(&format!("unnest(fstore_expand_array({array}))"))
}

fn record_field(expr: &Expr) -> Option<Expr> {
    let Expr::CompoundFieldAccess { root, access_chain } = expr else {
        return None;
    };
    let Expr::Nested(record) = root.as_ref() else {
        return None;
    };
    let [AccessExpr::Dot(Expr::Identifier(field))] = access_chain.as_slice() else {
        return None;
    };
    let field = field.value.to_ascii_lowercase().replace('\'', "''");
    parse_expr(&format!("get_field({record}, '{field}')"))
}

/// The expression `expr` casts to the type named `type_name`.
fn cast_to<'a>(expr: &'a Expr, type_name: &str) -> Option<&'a Expr> {
    match expr {
        Expr::Cast {
            expr: inner,
            data_type,
            ..
        } if data_type.to_string().eq_ignore_ascii_case(type_name) => Some(inner),
        _ => None,
    }
}

fn regtype_names(expr: &Expr) -> Option<Expr> {
    if let Some(list) = cast_to(expr, "regtype[]") {
        return parse_expr(&format!("fstore_regtype_names({list})"));
    }
    let oid = cast_to(cast_to(expr, "text")?, "regtype")?;
    if !matches!(oid, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
        return None;
    }
    parse_expr(&format!("array_element(fstore_regtype_names({oid}), 1)"))
}

/// One expression from its text; `None` when it does not parse.
pub(super) fn parse_expr(text: &str) -> Option<Expr> {
    Parser::new(&PostgreSqlDialect {})
        .try_with_sql(text)
        .ok()?
        .parse_expr()
        .ok()
}

fn regclass_parameter(expr: &Expr) -> Option<Expr> {
    let inner = cast_to(expr, "regclass")?;
    if !matches!(inner, Expr::Value(v) if matches!(v.value, Value::Placeholder(_))) {
        return None;
    }
    parse_expr(&format!("to_regclass(CAST({inner} AS TEXT))"))
}

/// A `regproc` column compared with `0` or with `'name'::regproc`: with
/// the function's name as the emulated catalog stores it (`'-'` for none).
fn regproc_comparison(expr: &Expr) -> Option<Expr> {
    let Expr::BinaryOp { left, op, right } = expr else {
        return None;
    };
    if !matches!(op, BinaryOperator::Eq | BinaryOperator::NotEq) {
        return None;
    }
    let is_regproc = |e: &Expr| {
        let name = match e {
            Expr::Identifier(ident) => ident,
            Expr::CompoundIdentifier(parts) => parts.last()?,
            _ => return None,
        };
        REGPROC_COLUMNS
            .contains(&name.value.to_ascii_lowercase().as_str())
            .then_some(())
    };
    let stored_name = |e: &Expr| -> Option<Expr> {
        let name = match (e, cast_to(e, "regproc")) {
            (Expr::Value(v), _) if v.value == Value::Number("0".into(), false) => "-".to_string(),
            (_, Some(Expr::Value(v))) => match &v.value {
                Value::SingleQuotedString(name) => {
                    name.strip_prefix("pg_catalog.").unwrap_or(name).to_string()
                }
                _ => return None,
            },
            _ => return None,
        };
        Some(Expr::value(Value::SingleQuotedString(name)))
    };
    if is_regproc(left).is_some()
        && let Some(name) = stored_name(right)
    {
        return Some(Expr::BinaryOp {
            left: left.clone(),
            op: op.clone(),
            right: Box::new(name),
        });
    }
    if is_regproc(right).is_some()
        && let Some(name) = stored_name(left)
    {
        return Some(Expr::BinaryOp {
            left: Box::new(name),
            op: op.clone(),
            right: right.clone(),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> String {
        let mut statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        assert!(rewrite(&mut statement));
        statement.to_string()
    }

    #[test]
    fn subscripts_and_regproc_zero_become_what_datafusion_plans() {
        assert_eq!(
            rewritten(
                "SELECT unnest(conkey), generate_subscripts(conkey, 1) AS ord FROM pg_constraint"
            ),
            "SELECT unnest(conkey), unnest(generate_series(1, CASE WHEN 1 = 1 THEN CAST(cardinality(conkey) AS BIGINT) ELSE 0 END)) AS ord FROM pg_constraint"
        );
        assert_eq!(
            rewritten("SELECT oid FROM pg_type WHERE (typreceive != 0 OR 0 <> t.typsend)"),
            "SELECT oid FROM pg_type WHERE (typreceive <> '-' OR '-' <> t.typsend)"
        );
        assert_eq!(
            rewritten("SELECT typinput='pg_catalog.array_in'::regproc AS is_array FROM pg_type"),
            "SELECT typinput = 'array_in' AS is_array FROM pg_type"
        );
        assert_eq!(
            rewritten(
                "SELECT 1 FROM pg_description d WHERE d.classoid = CAST($1 AS REGCLASS) AND d.objoid = 'x'::regclass"
            ),
            "SELECT 1 FROM pg_description d WHERE d.classoid = to_regclass(CAST($1 AS TEXT)) AND d.objoid = 'x'::REGCLASS"
        );
        assert_eq!(
            rewritten(
                "SELECT (information_schema._pg_expandarray(i.indkey)).n AS k FROM r WHERE r.a = (r.KEYS).x"
            ),
            "SELECT get_field(unnest(fstore_expand_array(i.indkey)), 'n') AS k FROM r WHERE r.a = get_field(r.KEYS, 'x')"
        );
        assert_eq!(
            rewritten(
                "SELECT COALESCE(proallargtypes::regtype[], proargtypes::regtype[])::text[] FROM pg_proc"
            ),
            "SELECT COALESCE(fstore_regtype_names(proallargtypes), fstore_regtype_names(proargtypes))::TEXT[] FROM pg_proc"
        );
        assert_eq!(
            rewritten(
                "SELECT prorettype::regtype::text AS r FROM pg_proc WHERE p.prorettype::regtype != 'trigger'::regtype"
            ),
            "SELECT array_element(fstore_regtype_names(prorettype), 1) AS r FROM pg_proc WHERE p.prorettype::regtype <> 'trigger'::regtype"
        );
    }
}
