//! Spine retrieval: a feature view's features, point-in-time correct, for
//! the caller's own rows.
//!
//! ```sql
//! SELECT * FROM fraud_model(labels);                          -- a table or view
//! SELECT * FROM fraud_model((SELECT cc_num, observed_at AS trans_ts, label FROM labels));
//! SELECT * FROM fraud_model(labels, time => 'observed_at');   -- the spine's time column
//! ```
//!
//! The spine needs the view's serving-key columns (same names) and a time
//! column (by default named like the view's event time). The result is one
//! row per spine row: the spine's columns, then the view's features as of
//! the spine row's time. The view's root feature group is AS OF joined to
//! the spine like every other group, so a spine row whose key has only later
//! feature rows gets NULL features instead of being dropped. Serving key,
//! event time and labels of the view are not repeated.
//!
//! The call is expanded before planning (DataFusion resolves a statement's
//! tables up front, so the view's feature groups must appear in it): the
//! view's stored query is rewritten so that the spine is the first relation,
//! the root feature group an `ASOF LEFT JOIN` on it, and every reference to
//! the root's key or event time a reference to the spine's.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr as SqlExpr, FunctionArg, FunctionArgExpr, Ident, Join, JoinConstraint,
    JoinOperator, ObjectName, Query, SelectItem, SetExpr, Statement, TableAlias, TableFactor,
    TableWithJoins, Value, VisitMut, VisitorMut,
};

use super::FeatureViewRegistry;
use crate::catalog::FeatureViewDef;
use crate::error::Error;
use crate::sql::asof::{LEFT_MARKER, nest_asof_joins};

const SPINE_ALIAS: &str = "fstore_spine";

/// Replaces every call of a feature view in `statement`'s FROM clauses
/// (`view(spine [, time => 'column'])`) by its spine-retrieval subquery.
/// Returns whether anything was replaced.
pub fn expand_spine_calls(
    statement: &mut Statement,
    views: &FeatureViewRegistry,
) -> crate::error::Result<bool> {
    struct Expander<'a> {
        views: &'a FeatureViewRegistry,
        expanded: bool,
        error: Option<Error>,
    }
    impl VisitorMut for Expander<'_> {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
            let TableFactor::Table {
                name,
                alias,
                args: Some(args),
                ..
            } = factor
            else {
                return ControlFlow::Continue(());
            };
            let Ok(qualified) = crate::sql::QualifiedName::from_object_name(name) else {
                return ControlFlow::Continue(());
            };
            let Some(view) = self.views.resolve(&qualified.schema, &qualified.name) else {
                return ControlFlow::Continue(());
            };
            match spine_call(&view, &args.args) {
                Ok(subquery) => {
                    *factor = TableFactor::Derived {
                        lateral: false,
                        subquery,
                        alias: Some(alias.clone().unwrap_or(TableAlias {
                            explicit: true,
                            name: Ident::new(qualified.name),
                            columns: vec![],
                            at: None,
                        })),
                        sample: None,
                    };
                    self.expanded = true;
                    ControlFlow::Continue(())
                }
                Err(e) => {
                    self.error = Some(e);
                    ControlFlow::Break(())
                }
            }
        }
    }
    let mut expander = Expander {
        views,
        expanded: false,
        error: None,
    };
    let _ = statement.visit(&mut expander);
    match expander.error {
        Some(e) => Err(e),
        None => Ok(expander.expanded),
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::InvalidParameter(message.into())
}

fn spine_call(view: &FeatureViewDef, args: &[FunctionArg]) -> crate::error::Result<Box<Query>> {
    let mut spine = None;
    let mut time_column = view.event_time.clone();
    for arg in args {
        let (name, value) = match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) if spine.is_none() => {
                spine = Some(spine_query(expr)?);
                continue;
            }
            FunctionArg::Named {
                name,
                arg: FunctionArgExpr::Expr(value),
                ..
            } => (name.value.clone(), value),
            FunctionArg::ExprNamed {
                name: SqlExpr::Identifier(name),
                arg: FunctionArgExpr::Expr(value),
                ..
            } => (name.value.clone(), value),
            other => {
                return Err(invalid(format!(
                    "feature view \"{}\" takes a spine (a table name or a parenthesized query) and optionally time => 'column'; cannot use {other}",
                    view.name
                )));
            }
        };
        match (name.to_lowercase().as_str(), value) {
            ("time", SqlExpr::Value(v)) => match &v.value {
                Value::SingleQuotedString(column) => time_column = Some(column.clone()),
                other => {
                    return Err(invalid(format!(
                        "time => takes a column name in quotes, not {other}"
                    )));
                }
            },
            (other, _) => {
                return Err(invalid(format!(
                    "feature view \"{}\" has no argument named {other}; it takes a spine and optionally time => 'column'",
                    view.name
                )));
            }
        }
    }
    let spine = spine.ok_or_else(|| {
        invalid(format!(
            "feature view \"{}\" called without a spine: write {}(my_table) or {}((SELECT …))",
            view.name, view.name, view.name
        ))
    })?;
    let time_column = time_column.ok_or_else(|| {
        invalid(format!(
            "feature view \"{}\" has no event time; pass the spine's time column with time => 'column'",
            view.name
        ))
    })?;
    spine_retrieval_query(view, spine, &time_column)
}

/// The spine argument as a query: a relation name or a subquery.
fn spine_query(expr: &SqlExpr) -> crate::error::Result<Box<Query>> {
    let name = match expr {
        SqlExpr::Subquery(query) => return Ok(query.clone()),
        SqlExpr::Identifier(ident) => ObjectName::from(vec![ident.clone()]),
        SqlExpr::CompoundIdentifier(idents) => ObjectName::from(idents.clone()),
        other => {
            return Err(invalid(format!(
                "a spine is a table name or a parenthesized query, not {other}"
            )));
        }
    };
    super::parse_query(&format!("SELECT * FROM {name}"))
}

fn compound(relation: &str, column: &str) -> SqlExpr {
    SqlExpr::CompoundIdentifier(vec![Ident::new(relation), Ident::with_quote('"', column)])
}

fn and(left: SqlExpr, right: SqlExpr) -> SqlExpr {
    SqlExpr::BinaryOp {
        left: Box::new(left),
        op: BinaryOperator::And,
        right: Box::new(right),
    }
}

/// The output name of a select item, if it has a simple one.
fn item_name(item: &SelectItem) -> Option<String> {
    match item {
        SelectItem::UnnamedExpr(SqlExpr::Identifier(ident)) => Some(ident.value.clone()),
        SelectItem::UnnamedExpr(SqlExpr::CompoundIdentifier(idents)) => {
            idents.last().map(|i| i.value.clone())
        }
        SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
        _ => None,
    }
}

fn spine_retrieval_query(
    view: &FeatureViewDef,
    spine: Box<Query>,
    time_column: &str,
) -> crate::error::Result<Box<Query>> {
    let mut query = super::parse_query(&view.query)?;
    let SetExpr::Select(select) = query.body.as_mut() else {
        return Err(invalid("this feature view's query cannot take a spine"));
    };
    if select.from.len() != 1 {
        return Err(invalid("this feature view's query cannot take a spine"));
    }
    let item = select.from.remove(0);
    let TableFactor::Table { alias, .. } = &item.relation else {
        return Err(invalid("this feature view's query cannot take a spine"));
    };
    let root_alias = alias
        .as_ref()
        .map(|a| a.name.value.clone())
        .ok_or_else(|| invalid("this feature view's root has no name to rewrite"))?;
    let event_time = view.event_time.clone();

    // References to the root's key and event time become the spine's.
    struct Redirect<'a> {
        root: &'a str,
        key: &'a [String],
        event_time: Option<&'a str>,
        spine_time: &'a str,
    }
    impl Redirect<'_> {
        fn target(&self, column: &str) -> Option<String> {
            if self.key.iter().any(|k| k == column) {
                Some(column.to_string())
            } else if self.event_time == Some(column) {
                Some(self.spine_time.to_string())
            } else {
                None
            }
        }
    }
    impl VisitorMut for Redirect<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &mut SqlExpr) -> ControlFlow<()> {
            let replacement = match expr {
                SqlExpr::CompoundIdentifier(idents)
                    if idents.len() == 2 && idents[0].value == self.root =>
                {
                    self.target(&idents[1].value)
                }
                SqlExpr::Identifier(ident) => self.target(&ident.value),
                _ => None,
            };
            if let Some(column) = replacement {
                *expr = compound(SPINE_ALIAS, &column);
            }
            ControlFlow::Continue(())
        }
    }
    let mut redirect = Redirect {
        root: &root_alias,
        key: &view.serving_key,
        event_time: event_time.as_deref(),
        spine_time: time_column,
    };
    let mut joins = item.joins;
    for join in &mut joins {
        let _ = join.join_operator.visit(&mut redirect);
    }
    let _ = select.selection.visit(&mut redirect);
    let hidden: Vec<&String> = view
        .serving_key
        .iter()
        .chain(event_time.iter())
        .chain(view.labels.iter())
        .collect();
    let mut projection = vec![SelectItem::QualifiedWildcard(
        datafusion::sql::sqlparser::ast::SelectItemQualifiedWildcardKind::ObjectName(
            ObjectName::from(vec![Ident::new(SPINE_ALIAS)]),
        ),
        Default::default(),
    )];
    for item in select.projection.drain(..) {
        if item_name(&item).is_some_and(|n| hidden.contains(&&n)) {
            continue;
        }
        let mut item = item;
        let _ = item.visit(&mut redirect);
        projection.push(item);
    }
    select.projection = projection;

    let key_match = view
        .serving_key
        .iter()
        .map(|k| SqlExpr::BinaryOp {
            left: Box::new(compound(SPINE_ALIAS, k)),
            op: BinaryOperator::Eq,
            right: Box::new(compound(&root_alias, k)),
        })
        .reduce(and)
        .ok_or_else(|| invalid("this feature view has no serving key"))?;
    // A root without event time has one row per key: a plain left join.
    let join_operator = match &event_time {
        Some(event_time) => JoinOperator::AsOf {
            match_condition: and(
                SqlExpr::Identifier(Ident::new(LEFT_MARKER)),
                SqlExpr::BinaryOp {
                    left: Box::new(compound(SPINE_ALIAS, time_column)),
                    op: BinaryOperator::GtEq,
                    right: Box::new(compound(&root_alias, event_time)),
                },
            ),
            constraint: JoinConstraint::On(key_match),
        },
        None => JoinOperator::LeftOuter(JoinConstraint::On(key_match)),
    };
    let root_join = Join {
        relation: item.relation,
        global: false,
        join_operator,
    };
    let mut all_joins = vec![root_join];
    all_joins.extend(joins);
    select.from = vec![TableWithJoins {
        relation: TableFactor::Derived {
            lateral: false,
            subquery: spine,
            alias: Some(TableAlias {
                explicit: true,
                name: Ident::new(SPINE_ALIAS),
                columns: vec![],
                at: None,
            }),
            sample: None,
        },
        joins: all_joins,
    }];
    nest_asof_joins(&mut query);
    Ok(query)
}
