//! Feature-view vectors from the online store: which rows of which groups
//! make up `online.<view>`, derived once from the view's stored query.
//!
//! A view is served online when its query is a selection of columns (`*`,
//! `alias.*`, `col`, `alias.col [AS name]`) from its root feature group AS
//! OF joined to other feature groups, every join on the joined group's whole
//! primary key (plus an optional event-time comparison), with no WHERE,
//! GROUP BY or other clause, and every group online. Its vector for a
//! serving key is then the root's latest row with each joined group's
//! latest row for the key taken from the rows before it: the view's AS OF
//! result at +infinity. Missing joined rows give NULL features (left-join
//! semantics whatever the join was written as), labels are left out, and a
//! serving key the root does not have gives no row. Anything else is
//! reported as the reason the view is not served online.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, GroupByExpr, JoinConstraint, JoinOperator, ObjectName, Query, SelectItem,
    SelectItemQualifiedWildcardKind, SetExpr, TableFactor,
};

use super::source::{OnlineGroup, VectorJoin, VectorPlan};
use crate::names::normalize_ident;
use crate::sql::asof::{INNER_MARKER, LEFT_MARKER};
use crate::sql::ast::conjuncts;

/// A feature group as a view's query names it.
#[derive(Debug, Clone)]
pub struct VectorInput {
    /// `None` when the group is offline only.
    pub online: Option<OnlineGroup>,
    pub event_time: Option<String>,
    pub display_name: String,
}

struct Relation {
    alias: String,
    input: VectorInput,
    group: OnlineGroup,
}

fn object_parts(name: &ObjectName) -> Vec<String> {
    name.0
        .iter()
        .filter_map(|part| part.as_ident().map(normalize_ident))
        .collect()
}

/// Derives how `online.<view>` is assembled; `Err` says why the view
/// cannot be served online. `resolve(schema, name)` describes a feature
/// group named in the query (`None` for anything else).
pub fn plan_vector(
    query: &Query,
    view_schema: &Schema,
    labels: &[String],
    resolve: &dyn Fn(&str, &str) -> Option<VectorInput>,
) -> Result<VectorPlan, String> {
    if query.with.is_some()
        || query.order_by.is_some()
        || query.limit_clause.is_some()
        || query.fetch.is_some()
    {
        return Err("its query has WITH, ORDER BY or LIMIT".into());
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return Err("its query is not a single SELECT".into());
    };
    if select.selection.is_some() {
        return Err("it filters rows with WHERE".into());
    }
    if select.distinct.is_some()
        || select.having.is_some()
        || !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty())
    {
        return Err("it aggregates (DISTINCT, GROUP BY or HAVING)".into());
    }
    let [from] = select.from.as_slice() else {
        return Err("it reads more than one FROM item".into());
    };
    let mut relations: Vec<Relation> = Vec::new();
    let mut joins: Vec<VectorJoin> = Vec::new();
    let add_relation =
        |relations: &mut Vec<Relation>, factor: &TableFactor| -> Result<(), String> {
            let TableFactor::Table {
                name,
                alias,
                args: None,
                ..
            } = factor
            else {
                return Err(format!("it reads {factor}, which is not a feature group"));
            };
            let parts = object_parts(name);
            let [schema, table] = parts.as_slice() else {
                return Err(format!("it reads {name}, which is not a feature group"));
            };
            let input = resolve(schema, table)
                .ok_or_else(|| format!("it reads {name}, which is not a feature group"))?;
            let group = input
                .online
                .clone()
                .ok_or_else(|| format!("feature group {} is offline", input.display_name))?;
            relations.push(Relation {
                alias: alias
                    .as_ref()
                    .map(|a| normalize_ident(&a.name))
                    .unwrap_or_else(|| table.clone()),
                input,
                group,
            });
            Ok(())
        };
    add_relation(&mut relations, &from.relation)?;
    for join in &from.joins {
        let JoinOperator::AsOf {
            match_condition,
            constraint,
        } = &join.join_operator
        else {
            return Err(format!(
                "it joins {} with a plain join (only AS OF joins are served online)",
                join.relation
            ));
        };
        add_relation(&mut relations, &join.relation)?;
        let mut conditions = conjuncts(match_condition);
        match constraint {
            JoinConstraint::On(on) => conditions.extend(conjuncts(on)),
            JoinConstraint::None => {}
            _ => return Err("it joins with USING or NATURAL".into()),
        }
        joins.push(plan_join(&relations, &conditions)?);
    }
    let relation_columns = |relation: usize| -> Vec<(usize, usize)> {
        (0..relations[relation].group.schema.fields().len())
            .map(|c| (relation, c))
            .collect()
    };
    let mut outputs: Vec<(usize, usize)> = Vec::new();
    for item in &select.projection {
        match item {
            SelectItem::Wildcard(_) => {
                for relation in 0..relations.len() {
                    outputs.extend(relation_columns(relation));
                }
            }
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(name), _) => {
                let alias = object_parts(name).pop().unwrap_or_default();
                let relation = relations
                    .iter()
                    .position(|r| r.alias == alias)
                    .ok_or_else(|| format!("it selects {name}.*, which names no relation"))?;
                outputs.extend(relation_columns(relation));
            }
            SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } => {
                outputs.push(
                    resolve_column(&relations, relations.len(), expr).ok_or_else(|| {
                        format!("it selects {expr}, which is not a column of a feature group")
                    })?,
                );
            }
            other => return Err(format!("it selects {other}")),
        }
    }
    // Names and types come from the planned view; the derivation must agree.
    let fields: Vec<_> = view_schema
        .fields()
        .iter()
        .filter(|f| !labels.contains(f.name()))
        .cloned()
        .collect();
    let outputs: Vec<(usize, usize)> = outputs
        .into_iter()
        .zip(view_schema.fields())
        .filter(|(_, field)| !labels.contains(field.name()))
        .map(|(output, _)| output)
        .collect();
    if outputs.len() != fields.len() {
        return Err("its columns could not be matched to feature-group columns".into());
    }
    for (&(relation, column), field) in outputs.iter().zip(&fields) {
        let stored = relations[relation].group.schema.field(column);
        if stored.data_type() != field.data_type() {
            return Err(format!(
                "column \"{}\" is {} in the view but {} in feature group {}",
                field.name(),
                field.data_type(),
                stored.data_type(),
                relations[relation].input.display_name
            ));
        }
    }
    let root = &relations[0];
    let key_outputs = root
        .group
        .key_columns
        .iter()
        .map(|&key| {
            outputs.iter().position(|&o| o == (0, key)).ok_or_else(|| {
                format!(
                    "it does not select the serving key \"{}\"",
                    root.group.schema.field(key).name()
                )
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let schema: SchemaRef = Arc::new(Schema::new(
        fields
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ));
    Ok(VectorPlan {
        root: relations[0].group.clone(),
        joins,
        outputs,
        schema,
        key_outputs,
    })
}

/// `(relation, column)` of a column reference among the first `visible`
/// relations; unqualified names must be unambiguous.
fn resolve_column(relations: &[Relation], visible: usize, expr: &Expr) -> Option<(usize, usize)> {
    let find = |relation: usize, column: &str| {
        relations[relation]
            .group
            .schema
            .index_of(column)
            .ok()
            .map(|c| (relation, c))
    };
    match expr {
        Expr::Identifier(ident) => {
            let column = normalize_ident(ident);
            let mut found = (0..visible).filter_map(|r| find(r, &column));
            let first = found.next()?;
            found.next().is_none().then_some(first)
        }
        Expr::CompoundIdentifier(parts) => {
            let [qualifier, column] = parts.as_slice() else {
                return None;
            };
            let alias = normalize_ident(qualifier);
            let relation = relations[..visible].iter().position(|r| r.alias == alias)?;
            find(relation, &normalize_ident(column))
        }
        Expr::Nested(inner) => resolve_column(relations, visible, inner),
        _ => None,
    }
}

/// The last relation's join: key equalities to earlier relations and an
/// optional event-time comparison.
fn plan_join(relations: &[Relation], conditions: &[&Expr]) -> Result<VectorJoin, String> {
    let current = relations.len() - 1;
    let joined = &relations[current];
    let mut pairs: Vec<(usize, (usize, usize))> = Vec::new();
    let mut never_matches = false;
    let unsupported = |expr: &Expr| {
        format!(
            "its join of {} has the condition {expr}, which is neither primary-key equality nor an event-time comparison",
            joined.input.display_name
        )
    };
    for &condition in conditions {
        if let Expr::Identifier(ident) = condition
            && (ident.value == INNER_MARKER || ident.value == LEFT_MARKER)
        {
            continue;
        }
        let Expr::BinaryOp { left, op, right } = condition else {
            return Err(unsupported(condition));
        };
        let (Some(l), Some(r)) = (
            resolve_column(relations, relations.len(), left),
            resolve_column(relations, relations.len(), right),
        ) else {
            return Err(unsupported(condition));
        };
        // Orient as (earlier relation's column, joined relation's column).
        let (earlier, mine, op) = match (l.0 == current, r.0 == current) {
            (false, true) => (l, r, op.clone()),
            (true, false) => (r, l, flip(op)),
            _ => return Err(unsupported(condition)),
        };
        let is_event_time = |relation: &Relation, column: usize| {
            relation.input.event_time.as_deref()
                == Some(relation.group.schema.field(column).name().as_str())
        };
        // Only a comparison with the root's event time is what the serving
        // time (+infinity) replaces.
        let is_event_time = is_event_time(joined, mine.1)
            && earlier.0 == 0
            && is_event_time(&relations[0], earlier.1);
        match op {
            BinaryOperator::Eq => pairs.push((mine.1, earlier)),
            BinaryOperator::GtEq | BinaryOperator::Gt if is_event_time => {}
            BinaryOperator::LtEq | BinaryOperator::Lt if is_event_time => never_matches = true,
            _ => return Err(unsupported(condition)),
        }
    }
    let key_from = joined
        .group
        .key_columns
        .iter()
        .map(|key| {
            pairs
                .iter()
                .find(|(column, _)| column == key)
                .map(|(_, from)| *from)
                .ok_or_else(|| {
                    format!(
                        "its join of {} does not fix the primary key column \"{}\"",
                        joined.input.display_name,
                        joined.group.schema.field(*key).name()
                    )
                })
        })
        .collect::<Result<Vec<_>, String>>()?;
    if pairs
        .iter()
        .any(|(column, _)| !joined.group.key_columns.contains(column))
    {
        return Err(format!(
            "its join of {} compares columns outside the primary key",
            joined.input.display_name
        ));
    }
    Ok(VectorJoin {
        group: joined.group.clone(),
        key_from,
        never_matches,
    })
}

fn flip(op: &BinaryOperator) -> BinaryOperator {
    match op {
        BinaryOperator::Gt => BinaryOperator::Lt,
        BinaryOperator::GtEq => BinaryOperator::LtEq,
        BinaryOperator::Lt => BinaryOperator::Gt,
        BinaryOperator::LtEq => BinaryOperator::GtEq,
        other => other.clone(),
    }
}
