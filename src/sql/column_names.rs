//! Result column names as PostgreSQL derives them (`FigureColname` in its
//! parse_target.c): a column keeps its name, a function call is named after
//! the function, a cast of something nameless after the type (`int4`,
//! `timestamp`), and anything else is `?column?`. DataFusion names columns
//! after their whole expression (`count(*)`, `Int64(1)`); clients, dbt and
//! BI tools see PostgreSQL's names instead.

use datafusion::sql::sqlparser::ast::{
    DataType, Expr, Ident, ObjectNamePart, Query, SelectItem, SetExpr, Statement, TrimWhereField,
};

/// What a result column of the top-level query is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnName {
    /// The name PostgreSQL gives it.
    Named(String),
    /// Columns a `*` expands to: they keep their (table column) names.
    Expanded,
}

/// PostgreSQL's names for the columns of a query's result, one entry per
/// select item (a `*` is one [`ColumnName::Expanded`] entry, however many
/// columns it stands for); `None` for a statement that is not a query or
/// whose result is named by `VALUES` (DataFusion's `column1`… already are
/// Postgres's).
pub fn postgres_column_names(statement: &Statement) -> Option<Vec<ColumnName>> {
    match statement {
        Statement::Query(query) => query_column_names(query),
        _ => None,
    }
}

/// The names of the `fields` a query returned, as PostgreSQL would give
/// them: `names` (from [`postgres_column_names`]) applied where they line
/// up with the fields — all of them without a `*`, otherwise the items
/// before the first and after the last `*`.
pub fn apply_column_names(names: &[ColumnName], fields: &[String]) -> Vec<String> {
    let mut renamed = fields.to_vec();
    let first_expanded = names.iter().position(|n| *n == ColumnName::Expanded);
    let Some(first_expanded) = first_expanded else {
        if names.len() == fields.len() {
            for (slot, name) in renamed.iter_mut().zip(names) {
                if let ColumnName::Named(name) = name {
                    slot.clone_from(name);
                }
            }
        }
        return renamed;
    };
    let last_expanded = names
        .iter()
        .rposition(|n| *n == ColumnName::Expanded)
        .unwrap_or(first_expanded);
    let before = &names[..first_expanded];
    let after = &names[last_expanded + 1..];
    if before.len() + after.len() > fields.len() {
        return renamed;
    }
    for (slot, name) in renamed.iter_mut().zip(before) {
        if let ColumnName::Named(name) = name {
            slot.clone_from(name);
        }
    }
    let tail = fields.len() - after.len();
    for (slot, name) in renamed[tail..].iter_mut().zip(after) {
        if let ColumnName::Named(name) = name {
            slot.clone_from(name);
        }
    }
    renamed
}

fn query_column_names(query: &Query) -> Option<Vec<ColumnName>> {
    set_expr_column_names(&query.body)
}

/// A set operation's columns are named by its leftmost branch.
fn set_expr_column_names(body: &SetExpr) -> Option<Vec<ColumnName>> {
    match body {
        SetExpr::Select(select) => Some(select.projection.iter().map(item_name).collect()),
        SetExpr::Query(query) => query_column_names(query),
        SetExpr::SetOperation { left, .. } => set_expr_column_names(left),
        _ => None,
    }
}

fn item_name(item: &SelectItem) -> ColumnName {
    match item {
        SelectItem::UnnamedExpr(expr) => ColumnName::Named(figure(expr).name()),
        // The compatibility parser aliases some columns `__alias_<name>`;
        // the client asked for `<name>`.
        SelectItem::ExprWithAlias { alias, .. } => {
            let name = alias.value.as_str();
            ColumnName::Named(name.strip_prefix("__alias_").unwrap_or(name).to_string())
        }
        SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => ColumnName::Expanded,
        // Several aliases name several columns: leave the names to DataFusion.
        SelectItem::ExprWithAliases { .. } => ColumnName::Expanded,
    }
}

/// A name and how sure PostgreSQL is of it: 2 for a column or function
/// name, 1 for a type or `case`, 0 for nothing (`?column?`).
struct Figured(Option<String>, u8);

impl Figured {
    const NOTHING: Figured = Figured(None, 0);

    fn strong(name: impl Into<String>) -> Figured {
        Figured(Some(name.into()), 2)
    }

    fn name(self) -> String {
        self.0.unwrap_or_else(|| "?column?".to_string())
    }
}

/// An unquoted identifier folds to lower case, as PostgreSQL folds it.
fn folded(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

fn figure(expr: &Expr) -> Figured {
    match expr {
        Expr::Identifier(ident) => Figured::strong(folded(ident)),
        Expr::CompoundIdentifier(parts) => match parts.last() {
            Some(last) => Figured::strong(folded(last)),
            None => Figured::NOTHING,
        },
        Expr::Function(function) => match function.name.0.last() {
            Some(ObjectNamePart::Identifier(ident)) => Figured::strong(folded(ident)),
            _ => Figured::NOTHING,
        },
        Expr::Cast {
            expr, data_type, ..
        } => {
            let inner = figure(expr);
            if inner.1 <= 1 {
                Figured(Some(type_name(data_type)), 1)
            } else {
                inner
            }
        }
        Expr::TypedString(typed) => Figured(Some(type_name(&typed.data_type)), 1),
        Expr::Interval(_) => Figured(Some("interval".into()), 1),
        Expr::Nested(inner) | Expr::Collate { expr: inner, .. } => figure(inner),
        Expr::CompoundFieldAccess { root, .. } => figure(root),
        Expr::Case { else_result, .. } => {
            let inner = else_result
                .as_deref()
                .map(figure)
                .unwrap_or(Figured::NOTHING);
            if inner.1 <= 1 {
                Figured(Some("case".into()), 1)
            } else {
                inner
            }
        }
        Expr::Subquery(query) => match query_column_names(query).as_deref() {
            Some([ColumnName::Named(name), ..]) => Figured::strong(name.clone()),
            _ => Figured::NOTHING,
        },
        Expr::Exists { negated: false, .. } => Figured::strong("exists"),
        Expr::Array(_) => Figured::strong("array"),
        Expr::Tuple(_) => Figured::strong("row"),
        Expr::Extract { .. } => Figured::strong("extract"),
        Expr::Substring { shorthand, .. } => {
            Figured::strong(if *shorthand { "substr" } else { "substring" })
        }
        Expr::Position { .. } => Figured::strong("position"),
        Expr::Overlay { .. } => Figured::strong("overlay"),
        Expr::Ceil { .. } => Figured::strong("ceil"),
        Expr::Floor { .. } => Figured::strong("floor"),
        Expr::Trim { trim_where, .. } => Figured::strong(match trim_where {
            Some(TrimWhereField::Leading) => "ltrim",
            Some(TrimWhereField::Trailing) => "rtrim",
            _ => "btrim",
        }),
        Expr::AtTimeZone { .. } => Figured::strong("timezone"),
        _ => Figured::NOTHING,
    }
}

/// A type as PostgreSQL names it in a column header: its `pg_type` name
/// (`int4`, `float8`, `timestamptz`), without modifiers or array brackets.
fn type_name(data_type: &DataType) -> String {
    if let DataType::Array(element) = data_type {
        use datafusion::sql::sqlparser::ast::ArrayElemTypeDef;
        match element {
            ArrayElemTypeDef::AngleBracket(inner)
            | ArrayElemTypeDef::SquareBracket(inner, _)
            | ArrayElemTypeDef::Parenthesis(inner) => return type_name(inner),
            ArrayElemTypeDef::None => return "anyarray".into(),
        }
    }
    let written = data_type.to_string().to_lowercase();
    let base = written
        .split(['(', '['])
        .next()
        .unwrap_or(&written)
        .trim()
        .to_string();
    let base = base.rsplit('.').next().unwrap_or(&base).to_string();
    let with_time_zone = written.contains("with time zone") && !written.contains("without");
    match base.as_str() {
        "int" | "integer" | "int4" => "int4".into(),
        "bigint" | "int8" => "int8".into(),
        "smallint" | "int2" => "int2".into(),
        "double" | "double precision" | "float8" | "float" => "float8".into(),
        "real" | "float4" => "float4".into(),
        "boolean" | "bool" => "bool".into(),
        "decimal" | "numeric" | "dec" => "numeric".into(),
        "character varying" | "varchar" => "varchar".into(),
        "character" | "char" => "bpchar".into(),
        "timestamptz" => "timestamptz".into(),
        "timetz" => "timetz".into(),
        _ if base.starts_with("timestamp") => if with_time_zone {
            "timestamptz"
        } else {
            "timestamp"
        }
        .into(),
        _ if base.starts_with("time") => if with_time_zone { "timetz" } else { "time" }.into(),
        _ => base
            .split_whitespace()
            .next()
            .unwrap_or("?column?")
            .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn names(sql: &str) -> Vec<ColumnName> {
        let statement = Parser::parse_sql(&PostgreSqlDialect {}, sql)
            .unwrap()
            .remove(0);
        postgres_column_names(&statement).unwrap()
    }

    fn named(sql: &str) -> Vec<String> {
        names(sql)
            .into_iter()
            .map(|n| match n {
                ColumnName::Named(n) => n,
                ColumnName::Expanded => "*".into(),
            })
            .collect()
    }

    #[test]
    fn names_follow_postgres() {
        assert_eq!(
            named("SELECT count(*), 1, x, t.Y, \"Q\", 1::float8, '2024-01-05'::timestamp, x::text"),
            [
                "count",
                "?column?",
                "x",
                "y",
                "Q",
                "float8",
                "timestamp",
                "x"
            ]
        );
        assert_eq!(
            named(
                "SELECT CASE WHEN a THEN 1 ELSE b END, CASE WHEN a THEN 1 END, (SELECT max(v) FROM t)"
            ),
            ["b", "case", "max"]
        );
        assert_eq!(
            named(
                "SELECT 1::int, 2::bigint, 3::double precision, 'x'::varchar(3), '{1}'::int[], DATE '2024-01-01', INTERVAL '1 day'"
            ),
            [
                "int4", "int8", "float8", "varchar", "int4", "date", "interval"
            ]
        );
        assert_eq!(
            named(
                "SELECT EXISTS (SELECT 1), ARRAY[1], trim(x), extract(year from d), current_timestamp, a + 1 AS total"
            ),
            [
                "exists",
                "array",
                "btrim",
                "extract",
                "current_timestamp",
                "total"
            ]
        );
        assert_eq!(named("SELECT 1 AS a UNION SELECT 2"), ["a"]);
    }

    #[test]
    fn names_line_up_around_a_wildcard() {
        let fields: Vec<String> = ["count(*)", "a", "b", "Int64(1)"]
            .map(String::from)
            .to_vec();
        assert_eq!(
            apply_column_names(&names("SELECT count(*), *, 1 FROM t"), &fields),
            ["count", "a", "b", "?column?"]
        );
        // Items that do not line up with the fields leave the names alone.
        assert_eq!(apply_column_names(&names("SELECT 1, 2"), &fields), fields);
    }
}
