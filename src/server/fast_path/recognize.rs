//! Which statements are online lookups, decided once per statement text.
//!
//! The shape taken is
//! `SELECT <* | col [AS name], …> FROM online.<group | view> [alias]
//!  WHERE <key predicates> [LIMIT n]`, where the key predicates pin every
//! serving-key column, joined with AND, each one of `k = v`, `v = k`,
//! `k IN (v, …)` or `k = ANY(a)`, `v` a parameter or literal (optionally
//! cast) and `a` an array parameter, array literal or `ARRAY[…]`. Anything
//! else returns `None` and goes to DataFusion, which answers it correctly,
//! just not as fast.

use std::sync::{Arc, OnceLock};

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, GroupByExpr, LimitClause, ObjectName, SelectItem, SetExpr, Statement,
    TableFactor, UnaryOperator, Value,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::Tokenizer;
use pgwire::api::Type;
use pgwire::api::results::FieldInfo;

use super::params::{self, KeyKind, KeyValue};
use crate::error::{Error, Limit, Result};
use crate::names::{ONLINE_SCHEMA, normalize_ident};
use crate::online::OnlineSource;
use crate::pg_types::sql_type_name;
use crate::sql::ast::conjuncts;
use crate::sql::split::{MAX_CALL_NESTING, MAX_NESTING, call_nesting, nesting_estimate};

/// Where one value of a key comes from.
#[derive(Debug, Clone)]
pub enum ValueSource {
    /// A bind parameter, 0-based.
    Parameter(usize),
    /// `None` is NULL, which matches no key.
    Literal(Option<KeyValue>),
}

/// The values one serving-key column may take.
#[derive(Debug, Clone)]
pub enum KeyValues {
    One(ValueSource),
    List(Vec<ValueSource>),
    /// `= ANY($n)`: an array parameter.
    ArrayParameter(usize),
}

/// How a statement uses one bind parameter.
#[derive(Debug, Clone)]
pub struct ParameterUse {
    /// Position of the key column in the serving key.
    pub key: usize,
    pub array: bool,
    /// The type reported in ParameterDescription when the client gave none.
    pub inferred: Type,
    /// A type written in the statement (`$1::int8`).
    pub cast: Option<Type>,
}

/// A recognised lookup.
#[derive(Debug)]
pub struct Lookup {
    pub sql: String,
    /// The parsed statement, kept for the prepared-statement slot.
    pub statement: Statement,
    pub target: String,
    pub source: OnlineSource,
    /// Source column of each output column.
    pub projection: Vec<usize>,
    /// Output columns, named as the statement names them.
    pub schema: SchemaRef,
    pub keys: Vec<KeyValues>,
    pub key_types: Vec<DataType>,
    pub key_kinds: Vec<KeyKind>,
    pub parameters: Vec<ParameterUse>,
    pub limit: Option<usize>,
    /// The online catalog generation this was recognised against.
    pub generation: u64,
    pub(super) text_fields: OnceLock<Arc<Vec<FieldInfo>>>,
    pub(super) binary_fields: OnceLock<Arc<Vec<FieldInfo>>>,
    pub(super) columns: OnceLock<Vec<super::encode::Column>>,
}

impl Lookup {
    pub fn is_vector(&self) -> bool {
        matches!(self.source, OnlineSource::Vector(_))
    }

    /// The parameter types to report, the client's declared ones first.
    pub fn parameter_types(&self) -> Vec<Type> {
        self.parameters
            .iter()
            .map(|p| p.cast.clone().unwrap_or_else(|| p.inferred.clone()))
            .collect()
    }
}

/// A cheap test run on every simple-protocol query before anything else.
pub fn may_be_lookup(sql: &str) -> bool {
    let trimmed = sql.trim_start();
    trimmed
        .get(..6)
        .is_some_and(|s| s.eq_ignore_ascii_case("select"))
        && trimmed
            .as_bytes()
            .windows(7)
            .any(|w| w.eq_ignore_ascii_case(b"online."))
}

fn pg_type_of(data_type: &DataType) -> Option<Type> {
    arrow_pg::datatypes::into_pg_type(data_type).ok()
}

fn array_type_of(data_type: &DataType) -> Option<Type> {
    arrow_pg::datatypes::into_pg_type(&DataType::List(Arc::new(Field::new(
        "item",
        data_type.clone(),
        true,
    ))))
    .ok()
}

/// A cast of an integer literal fails as in PostgreSQL when the value is
/// outside the type (`100000::int2` is 22003, not a key that matches
/// nothing).
fn check_int_range(n: i128, cast: &Type) -> Result<(), Error> {
    let (range, name) = match *cast {
        Type::INT2 => (i16::MIN as i128..=i16::MAX as i128, "smallint"),
        Type::INT4 => (i32::MIN as i128..=i32::MAX as i128, "integer"),
        Type::INT8 => (i64::MIN as i128..=i64::MAX as i128, "bigint"),
        _ => return Ok(()),
    };
    if range.contains(&n) {
        Ok(())
    } else {
        Err(Error::NumericOutOfRange(format!("{name} out of range")))
    }
}

/// The Postgres type a cast in the statement names, for the types keys
/// can have.
fn cast_type(data_type: &datafusion::sql::sqlparser::ast::DataType) -> Option<Type> {
    let written = data_type.to_string().to_ascii_lowercase();
    let (element, array) = match written.strip_suffix("[]") {
        Some(element) => (element.trim().to_string(), true),
        None => (written, false),
    };
    let scalar = match element.as_str() {
        "bigint" | "int8" => Type::INT8,
        "integer" | "int" | "int4" => Type::INT4,
        "smallint" | "int2" => Type::INT2,
        "text" | "varchar" | "character varying" | "string" => Type::TEXT,
        "boolean" | "bool" => Type::BOOL,
        "date" => Type::DATE,
        "timestamp" | "timestamp without time zone" => Type::TIMESTAMP,
        "timestamptz" | "timestamp with time zone" => Type::TIMESTAMPTZ,
        "bytea" => Type::BYTEA,
        _ => return None,
    };
    if !array {
        return Some(scalar);
    }
    Some(match scalar {
        Type::INT8 => Type::INT8_ARRAY,
        Type::INT4 => Type::INT4_ARRAY,
        Type::INT2 => Type::INT2_ARRAY,
        Type::TEXT => Type::TEXT_ARRAY,
        Type::BOOL => Type::BOOL_ARRAY,
        Type::DATE => Type::DATE_ARRAY,
        Type::TIMESTAMP => Type::TIMESTAMP_ARRAY,
        Type::TIMESTAMPTZ => Type::TIMESTAMPTZ_ARRAY,
        _ => Type::BYTEA_ARRAY,
    })
}

/// The wire protocol counts a statement's parameters in 16 bits.
pub const MAX_PARAMETERS: usize = u16::MAX as usize;

fn parameter_index(value: &Value) -> Option<usize> {
    let Value::Placeholder(p) = value else {
        return None;
    };
    p.strip_prefix('$')?.parse::<usize>().ok()?.checked_sub(1)
}

struct Recognizer<'a> {
    target: String,
    alias: Option<String>,
    schema: SchemaRef,
    key_outputs: Vec<usize>,
    key_types: Vec<DataType>,
    key_kinds: Vec<KeyKind>,
    declared: &'a [Option<Type>],
    parameters: Vec<Option<ParameterUse>>,
}

/// `None` means "not a lookup"; errors are the client's (22P02, 42804).
type Recognized<T> = Result<Option<T>>;

impl Recognizer<'_> {
    fn column(&self, expr: &Expr) -> Option<usize> {
        let name = match expr {
            Expr::Identifier(ident) => normalize_ident(ident),
            Expr::CompoundIdentifier(parts) => {
                let (column, qualifiers) = parts.split_last()?;
                let qualifiers: Vec<String> = qualifiers.iter().map(normalize_ident).collect();
                let qualified = match qualifiers.as_slice() {
                    [q] => {
                        self.alias.as_deref() == Some(q)
                            || (self.alias.is_none() && *q == self.target)
                    }
                    [s, t] => self.alias.is_none() && s == ONLINE_SCHEMA && *t == self.target,
                    _ => false,
                };
                if !qualified {
                    return None;
                }
                normalize_ident(column)
            }
            Expr::Nested(inner) => return self.column(inner),
            _ => return None,
        };
        self.schema.index_of(&name).ok()
    }

    fn use_parameter(
        &mut self,
        index: usize,
        key: usize,
        array: bool,
        cast: Option<Type>,
    ) -> Recognized<ValueSource> {
        if index >= MAX_PARAMETERS {
            return Err(Error::LimitExceeded {
                limit: Limit::ProgramLimit,
                message: format!(
                    "parameter ${} exceeds the maximum of {MAX_PARAMETERS} parameters",
                    index + 1
                ),
            });
        }
        if self.parameters.len() <= index {
            self.parameters.resize(index + 1, None);
        }
        if self.parameters[index].is_some() {
            return Ok(None);
        }
        let key_type = &self.key_types[key];
        let kind = self.key_kinds[key];
        let Some(inferred) = (if array {
            array_type_of(key_type)
        } else {
            pg_type_of(key_type)
        }) else {
            return Ok(None);
        };
        let declared = cast.clone().or_else(|| {
            self.declared
                .get(index)
                .cloned()
                .flatten()
                .filter(|t| !params::is_unspecified(Some(t)))
        });
        if let Some(declared) = &declared {
            let scalar = if array {
                params::element_type(declared)
            } else {
                Some(declared.clone())
            };
            if scalar.as_ref().and_then(params::pg_kind) != Some(kind) {
                let column = self.schema.field(self.key_outputs[key]).name();
                return Err(Error::ParameterType {
                    message: format!(
                        "parameter ${} has type {} but key column \"{column}\" of {ONLINE_SCHEMA}.{} is {}",
                        index + 1,
                        declared.name(),
                        self.target,
                        inferred.name()
                    ),
                    hint: format!(
                        "Pass the key as {}, or cast it: ${}::{}",
                        inferred.name(),
                        index + 1,
                        inferred.name()
                    ),
                });
            }
        }
        self.parameters[index] = Some(ParameterUse {
            key,
            array,
            inferred,
            cast,
        });
        Ok(Some(ValueSource::Parameter(index)))
    }

    /// A scalar value for key column `key`.
    fn value(&mut self, expr: &Expr, key: usize, cast: Option<Type>) -> Recognized<ValueSource> {
        let kind = self.key_kinds[key];
        let type_name =
            pg_type_of(&self.key_types[key]).map_or("key".to_string(), |t| sql_type_name(&t));
        match expr {
            Expr::Nested(inner) => self.value(inner, key, cast),
            Expr::Cast {
                expr, data_type, ..
            } => {
                let Some(cast) = cast_type(data_type) else {
                    return Ok(None);
                };
                self.value(expr, key, Some(cast))
            }
            Expr::Value(v) => {
                if let Some(index) = parameter_index(&v.value) {
                    return self.use_parameter(index, key, false, cast);
                }
                if cast
                    .as_ref()
                    .is_some_and(|c| params::pg_kind(c) != Some(kind))
                {
                    return Ok(None);
                }
                let literal = match &v.value {
                    Value::Null => None,
                    Value::Number(n, _) if kind == KeyKind::Int => match n.parse::<i128>() {
                        Ok(n) => Some(KeyValue::Int(n)),
                        Err(_) => return Ok(None),
                    },
                    Value::Boolean(b) if kind == KeyKind::Bool => Some(KeyValue::Bool(*b)),
                    Value::SingleQuotedString(s) => Some(params::parse_text(s, kind, &type_name)?),
                    _ => return Ok(None),
                };
                if let (Some(KeyValue::Int(n)), Some(cast)) = (&literal, &cast) {
                    check_int_range(*n, cast)?;
                }
                Ok(Some(ValueSource::Literal(literal)))
            }
            Expr::UnaryOp {
                op: UnaryOperator::Minus,
                expr,
            } if kind == KeyKind::Int => match self.value(expr, key, cast)? {
                Some(ValueSource::Literal(Some(KeyValue::Int(n)))) => {
                    Ok(Some(ValueSource::Literal(Some(KeyValue::Int(-n)))))
                }
                _ => Ok(None),
            },
            Expr::TypedString(typed) => {
                let Some(cast) = cast_type(&typed.data_type) else {
                    return Ok(None);
                };
                if params::pg_kind(&cast) != Some(kind) {
                    return Ok(None);
                }
                let Value::SingleQuotedString(s) = &typed.value.value else {
                    return Ok(None);
                };
                Ok(Some(ValueSource::Literal(Some(params::parse_text(
                    s,
                    kind,
                    cast.name(),
                )?))))
            }
            _ => Ok(None),
        }
    }

    /// The array of `k = ANY(array)`.
    fn array(&mut self, expr: &Expr, key: usize, cast: Option<Type>) -> Recognized<KeyValues> {
        let kind = self.key_kinds[key];
        match expr {
            Expr::Nested(inner) => self.array(inner, key, cast),
            Expr::Cast {
                expr, data_type, ..
            } => {
                let Some(cast) = cast_type(data_type) else {
                    return Ok(None);
                };
                self.array(expr, key, Some(cast))
            }
            Expr::Value(v) => {
                if let Some(index) = parameter_index(&v.value) {
                    return Ok(self
                        .use_parameter(index, key, true, cast)?
                        .map(|_| KeyValues::ArrayParameter(index)));
                }
                let Value::SingleQuotedString(s) = &v.value else {
                    return Ok(None);
                };
                let type_name = pg_type_of(&self.key_types[key])
                    .map_or("key".to_string(), |t| sql_type_name(&t));
                let values = params::parse_text_array(s)?
                    .into_iter()
                    .map(|e| {
                        let value = e
                            .map(|t| params::parse_text(&t, kind, &type_name))
                            .transpose()?;
                        Ok(ValueSource::Literal(value))
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(Some(KeyValues::List(values)))
            }
            Expr::Array(array) => {
                let mut values = Vec::with_capacity(array.elem.len());
                for element in &array.elem {
                    let Some(value) = self.value(element, key, None)? else {
                        return Ok(None);
                    };
                    values.push(value);
                }
                Ok(Some(KeyValues::List(values)))
            }
            _ => Ok(None),
        }
    }

    /// One conjunct of WHERE: (key position, its values).
    fn predicate(&mut self, expr: &Expr) -> Recognized<(usize, KeyValues)> {
        let key_of = |this: &Self, column: &Expr| {
            let column = this.column(column)?;
            this.key_outputs.iter().position(|&k| k == column)
        };
        match expr {
            Expr::Nested(inner) => self.predicate(inner),
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq,
                right,
            } => {
                let (key, value) = match (key_of(self, left), key_of(self, right)) {
                    (Some(key), None) => (key, right),
                    (None, Some(key)) => (key, left),
                    _ => return Ok(None),
                };
                Ok(self
                    .value(value, key, None)?
                    .map(|v| (key, KeyValues::One(v))))
            }
            Expr::InList {
                expr,
                list,
                negated: false,
            } => {
                let Some(key) = key_of(self, expr) else {
                    return Ok(None);
                };
                let mut values = Vec::with_capacity(list.len());
                for item in list {
                    let Some(value) = self.value(item, key, None)? else {
                        return Ok(None);
                    };
                    values.push(value);
                }
                Ok(Some((key, KeyValues::List(values))))
            }
            Expr::AnyOp {
                left,
                compare_op: BinaryOperator::Eq,
                right,
                ..
            } => {
                let Some(key) = key_of(self, left) else {
                    return Ok(None);
                };
                Ok(self.array(right, key, None)?.map(|values| (key, values)))
            }
            _ => Ok(None),
        }
    }
}

fn online_target(name: &ObjectName) -> Option<String> {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|p| p.as_ident().map(normalize_ident))
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [schema, table] if schema == ONLINE_SCHEMA => Some(table.clone()),
        [database, schema, table]
            if database == crate::names::DATABASE_NAME && schema == ONLINE_SCHEMA =>
        {
            Some(table.clone())
        }
        _ => None,
    }
}

/// Recognises `sql` as a lookup. `resolve` finds `online.<name>`;
/// `declared` are the parameter types the client gave at Parse.
pub fn recognize(
    sql: &str,
    declared: &[Option<Type>],
    generation: u64,
    resolve: &dyn Fn(&str) -> Option<OnlineSource>,
) -> Recognized<Lookup> {
    if !may_be_lookup(sql) {
        return Ok(None);
    }
    let Ok(tokens) = Tokenizer::new(&PostgreSqlDialect {}, sql).tokenize_with_location() else {
        return Ok(None);
    };
    // Too deep to parse safely: the split refuses it with its SQLSTATE.
    if nesting_estimate(tokens.iter().map(|t| &t.token)) > MAX_NESTING
        || call_nesting(tokens.iter().map(|t| &t.token)) > MAX_CALL_NESTING
    {
        return Ok(None);
    }
    let Ok(mut statements) = Parser::new(&PostgreSqlDialect {})
        .with_tokens_with_locations(tokens)
        .parse_statements()
    else {
        return Ok(None);
    };
    let (Some(Statement::Query(query)), None) = (statements.pop(), statements.pop()) else {
        return Ok(None);
    };
    if query.with.is_some()
        || query.order_by.is_some()
        || query.fetch.is_some()
        || !query.locks.is_empty()
    {
        return Ok(None);
    }
    let limit = match &query.limit_clause {
        None => None,
        Some(LimitClause::LimitOffset {
            limit: Some(Expr::Value(v)),
            offset: None,
            limit_by,
        }) if limit_by.is_empty() => match &v.value {
            Value::Number(n, _) => match n.parse::<usize>() {
                Ok(n) => Some(n),
                Err(_) => return Ok(None),
            },
            _ => return Ok(None),
        },
        Some(_) => return Ok(None),
    };
    let SetExpr::Select(select) = query.body.as_ref() else {
        return Ok(None);
    };
    let plain_select = select.distinct.is_none()
        && select.top.is_none()
        && select.into.is_none()
        && select.lateral_views.is_empty()
        && select.prewhere.is_none()
        && select.connect_by.is_empty()
        && matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty())
        && select.cluster_by.is_empty()
        && select.distribute_by.is_empty()
        && select.sort_by.is_empty()
        && select.having.is_none()
        && select.named_window.is_empty()
        && select.qualify.is_none()
        && select.exclude.is_none();
    let ([from], Some(selection)) = (select.from.as_slice(), &select.selection) else {
        return Ok(None);
    };
    if !plain_select || !from.joins.is_empty() {
        return Ok(None);
    }
    let TableFactor::Table {
        name,
        alias,
        args: None,
        with_hints,
        version: None,
        partitions,
        ..
    } = &from.relation
    else {
        return Ok(None);
    };
    if !with_hints.is_empty()
        || !partitions.is_empty()
        || alias.as_ref().is_some_and(|a| !a.columns.is_empty())
    {
        return Ok(None);
    }
    let Some(target) = online_target(name) else {
        return Ok(None);
    };
    let Some(source) = resolve(&target) else {
        return Ok(None);
    };
    let schema = source.schema();
    let key_outputs = source.key_outputs();
    let key_types: Vec<DataType> = key_outputs
        .iter()
        .map(|&k| schema.field(k).data_type().clone())
        .collect();
    let Some(key_kinds) = key_types
        .iter()
        .map(params::key_kind)
        .collect::<Option<Vec<_>>>()
    else {
        return Ok(None);
    };
    let mut recognizer = Recognizer {
        target: target.clone(),
        alias: alias.as_ref().map(|a| normalize_ident(&a.name)),
        schema: schema.clone(),
        key_outputs,
        key_types: key_types.clone(),
        key_kinds: key_kinds.clone(),
        declared,
        parameters: Vec::new(),
    };
    let mut projection = Vec::new();
    let mut fields = Vec::new();
    for item in &select.projection {
        match item {
            SelectItem::Wildcard(options)
                if options.opt_exclude.is_none()
                    && options.opt_except.is_none()
                    && options.opt_replace.is_none()
                    && options.opt_rename.is_none() =>
            {
                projection.extend(0..schema.fields().len());
                fields.extend(schema.fields().iter().map(|f| f.as_ref().clone()));
            }
            SelectItem::UnnamedExpr(expr) => {
                let Some(column) = recognizer.column(expr) else {
                    return Ok(None);
                };
                projection.push(column);
                fields.push(schema.field(column).clone());
            }
            SelectItem::ExprWithAlias { expr, alias } => {
                let Some(column) = recognizer.column(expr) else {
                    return Ok(None);
                };
                projection.push(column);
                fields.push(
                    schema
                        .field(column)
                        .clone()
                        .with_name(normalize_ident(alias)),
                );
            }
            _ => return Ok(None),
        }
    }
    let mut keys: Vec<Option<KeyValues>> = vec![None; key_types.len()];
    for conjunct in conjuncts(selection) {
        let Some((key, values)) = recognizer.predicate(conjunct)? else {
            return Ok(None);
        };
        if keys[key].replace(values).is_some() {
            return Ok(None);
        }
    }
    let Some(keys) = keys.into_iter().collect::<Option<Vec<_>>>() else {
        return Ok(None);
    };
    let Some(parameters) = recognizer
        .parameters
        .into_iter()
        .collect::<Option<Vec<_>>>()
    else {
        // A parameter that is never used has no type to infer.
        return Ok(None);
    };
    Ok(Some(Lookup {
        sql: sql.to_string(),
        statement: Statement::Query(query.clone()),
        target,
        source,
        projection,
        schema: Arc::new(Schema::new(fields)),
        keys,
        key_types,
        key_kinds,
        parameters,
        limit,
        generation,
        text_fields: OnceLock::new(),
        binary_fields: OnceLock::new(),
        columns: OnceLock::new(),
    }))
}
