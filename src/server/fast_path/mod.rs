//! The online fast path: primary-key lookups on `online.*` answered from
//! LMDB without DataFusion.
//!
//! A statement is recognised once (`recognize`): at Parse for the extended
//! protocol, where the result is stored in the prepared statement as a
//! [`LookupNode`] plan, and per query for the simple protocol after a cheap
//! textual test. Executing it decodes the bind parameters into encoded
//! keys (`params`), reads every row in one LMDB read transaction
//! ([`OnlineSource::lookup`]) and writes DataRows straight from the stored
//! bytes (`encode`). Rows come back in the order the keys were asked for,
//! each key once; keys with no row (or an expired one) give no row.
//!
//! A prepared lookup remembers the online catalog generation it was made
//! against; after DDL it is recognised again, and if its result columns
//! changed it fails like Postgres does ("cached plan must not change result
//! type", 0A000) until the client prepares it again.

mod cache;
mod encode;
mod params;
mod recognize;

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::common::{DFSchema, DFSchemaRef};
use datafusion::logical_expr::{Extension, LogicalPlan, UserDefinedLogicalNodeCore};
use pgwire::api::Type;
use pgwire::api::portal::Format;
use pgwire::api::results::FieldInfo;
use pgwire::messages::data::DataRow;
use pgwire::types::format::FormatOptions;

pub use cache::LookupCache;
pub use encode::describe;
pub use recognize::{Lookup, may_be_lookup, recognize};

use crate::error::{Error, Limit, Result};
use crate::online::codec::{self, FORMAT_V1};
use params::KeyValue;
use recognize::{KeyValues, ValueSource};

/// The most keys one online lookup reads (the product of its key lists'
/// lengths): past it the lookup is refused before any key is built.
pub const MAX_KEYS_PER_LOOKUP: usize = 100_000;

/// A recognised lookup stored as a prepared statement's plan.
pub struct LookupNode {
    pub lookup: Arc<Lookup>,
    schema: DFSchemaRef,
}

impl LookupNode {
    pub fn plan(lookup: Lookup) -> Result<LogicalPlan> {
        let schema = Arc::new(DFSchema::try_from(lookup.schema.as_ref().clone())?);
        Ok(LogicalPlan::Extension(Extension {
            node: Arc::new(LookupNode {
                lookup: Arc::new(lookup),
                schema,
            }),
        }))
    }
}

/// The lookup a prepared statement's plan stands for, if it is one.
pub fn as_lookup(plan: &LogicalPlan) -> Option<&Arc<Lookup>> {
    match plan {
        LogicalPlan::Extension(extension) => extension
            .node
            .as_any()
            .downcast_ref::<LookupNode>()
            .map(|node| &node.lookup),
        _ => None,
    }
}

impl fmt::Debug for LookupNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OnlineLookup: {}", self.lookup.sql)
    }
}

impl PartialEq for LookupNode {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.lookup, &other.lookup)
    }
}

impl Eq for LookupNode {}

impl PartialOrd for LookupNode {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Arc::as_ptr(&self.lookup)
            .cast::<()>()
            .partial_cmp(&Arc::as_ptr(&other.lookup).cast::<()>())
    }
}

impl std::hash::Hash for LookupNode {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.lookup.sql.hash(state);
    }
}

impl UserDefinedLogicalNodeCore for LookupNode {
    fn name(&self) -> &str {
        "OnlineLookup"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        Vec::new()
    }

    fn schema(&self) -> &DFSchemaRef {
        &self.schema
    }

    fn expressions(&self) -> Vec<datafusion::logical_expr::Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "OnlineLookup: online.{}", self.lookup.target)
    }

    fn with_exprs_and_inputs(
        &self,
        _exprs: Vec<datafusion::logical_expr::Expr>,
        _inputs: Vec<LogicalPlan>,
    ) -> datafusion::error::Result<Self> {
        Ok(LookupNode {
            lookup: self.lookup.clone(),
            schema: self.schema.clone(),
        })
    }
}

/// How to read one execution's bind parameters.
pub struct Bound<'a> {
    pub values: &'a [Option<Bytes>],
    pub format: &'a Format,
    /// The types the client declared at Parse.
    pub declared: &'a [Option<Type>],
}

impl<'a> Bound<'a> {
    pub const NONE: Bound<'static> = Bound {
        values: &[],
        format: &Format::UnifiedText,
        declared: &[],
    };

    pub fn of<S>(portal: &'a pgwire::api::portal::Portal<S>) -> Self {
        Bound {
            values: &portal.parameters,
            format: &portal.parameter_format,
            declared: &portal.statement.parameter_types,
        }
    }
}

impl Lookup {
    fn parameter(&self, bound: &Bound<'_>, index: usize) -> Result<Option<KeyValue>> {
        let usage = &self.parameters[index];
        let Some(bytes) = bound.values.get(index).ok_or_else(|| {
            Error::InvalidParameter(format!(
                "bind message supplies {} parameters, but the statement needs {}",
                bound.values.len(),
                self.parameters.len()
            ))
        })?
        else {
            return Ok(None);
        };
        let pg_type = self.wire_type(bound, index);
        params::decode_value(
            bytes,
            bound.format.format_for(index),
            &pg_type,
            self.key_kinds[usage.key],
            index + 1,
        )
        .map(Some)
    }

    /// The type a parameter's bytes are in: the client's, else the cast in
    /// the statement, else the key column's.
    fn wire_type(&self, bound: &Bound<'_>, index: usize) -> Type {
        let usage = &self.parameters[index];
        bound
            .declared
            .get(index)
            .cloned()
            .flatten()
            .filter(|t| !params::is_unspecified(Some(t)))
            .or_else(|| usage.cast.clone())
            .unwrap_or_else(|| usage.inferred.clone())
    }

    fn values_of(&self, bound: &Bound<'_>, source: &ValueSource) -> Result<Option<KeyValue>> {
        match source {
            ValueSource::Parameter(index) => self.parameter(bound, *index),
            ValueSource::Literal(value) => Ok(value.clone()),
        }
    }

    /// The encoded keys to read, in the order asked, each once.
    pub fn encoded_keys(&self, bound: &Bound<'_>) -> Result<Vec<Vec<u8>>> {
        let mut candidates: Vec<Vec<KeyValue>> = Vec::with_capacity(self.keys.len());
        for (position, values) in self.keys.iter().enumerate() {
            let decoded: Vec<KeyValue> = match values {
                KeyValues::One(source) => self.values_of(bound, source)?.into_iter().collect(),
                KeyValues::List(sources) => {
                    let mut out = Vec::with_capacity(sources.len());
                    for source in sources {
                        out.extend(self.values_of(bound, source)?);
                    }
                    out
                }
                KeyValues::ArrayParameter(index) => match bound.values.get(*index) {
                    Some(Some(bytes)) => {
                        let wire = self.wire_type(bound, *index);
                        let element = params::element_type(&wire).unwrap_or(wire);
                        params::decode_array(
                            bytes,
                            bound.format.format_for(*index),
                            &element,
                            self.key_kinds[position],
                            index + 1,
                        )?
                        .into_iter()
                        .flatten()
                        .collect()
                    }
                    Some(None) => Vec::new(),
                    None => {
                        return Err(Error::InvalidParameter(format!(
                            "bind message supplies {} parameters, but the statement needs {}",
                            bound.values.len(),
                            self.parameters.len()
                        )));
                    }
                },
            };
            candidates.push(decoded);
        }
        let combinations = candidates
            .iter()
            .try_fold(1usize, |product, values| product.checked_mul(values.len()))
            .filter(|&n| n <= MAX_KEYS_PER_LOOKUP);
        if combinations.is_none() {
            let lengths: Vec<String> = candidates.iter().map(|v| v.len().to_string()).collect();
            return Err(Error::LimitExceeded {
                limit: Limit::ProgramLimit,
                message: format!(
                    "online lookup of {} key combinations exceeds the limit of {MAX_KEYS_PER_LOOKUP} keys per lookup",
                    lengths.join(" × ")
                ),
            });
        }
        let mut keys: Vec<Vec<u8>> = vec![vec![FORMAT_V1]];
        for (position, values) in candidates.iter().enumerate() {
            let data_type = &self.key_types[position];
            let mut next = Vec::with_capacity(keys.len() * values.len());
            for prefix in &keys {
                for value in values {
                    let mut key = prefix.clone();
                    if codec::encode_key_part(&mut key, data_type, &value.as_part()) {
                        next.push(key);
                    }
                }
            }
            keys = next;
        }
        if keys.len() > 1 {
            let mut seen = HashSet::with_capacity(keys.len());
            keys.retain(|k| seen.insert(k.clone()));
        }
        Ok(keys)
    }

    /// The RowDescription fields in `format` (cached for the unified
    /// formats every driver uses).
    pub fn fields(&self, format: &Format) -> pgwire::error::PgWireResult<Arc<Vec<FieldInfo>>> {
        let cached = match format {
            Format::UnifiedText => &self.text_fields,
            Format::UnifiedBinary => &self.binary_fields,
            Format::Individual(_) => return Ok(Arc::new(describe(&self.schema, format)?)),
        };
        if let Some(fields) = cached.get() {
            return Ok(fields.clone());
        }
        let fields = Arc::new(describe(&self.schema, format)?);
        Ok(cached.get_or_init(|| fields).clone())
    }

    fn encoders(&self) -> pgwire::error::PgWireResult<&[encode::Column]> {
        if let Some(columns) = self.columns.get() {
            return Ok(columns);
        }
        let columns = encode::columns(&self.schema, &self.projection)?;
        Ok(self.columns.get_or_init(|| columns))
    }

    /// Runs the lookup: the RowDescription fields and the DataRows.
    pub fn execute(
        &self,
        bound: &Bound<'_>,
        result_format: &Format,
        options: &FormatOptions,
    ) -> Result<(Arc<Vec<FieldInfo>>, Vec<DataRow>)> {
        let keys = self.encoded_keys(bound)?;
        let pg =
            |e: pgwire::error::PgWireError| Error::Internal(format!("encoding an online row: {e}"));
        let fields = self.fields(result_format).map_err(pg)?;
        let columns = self.encoders().map_err(pg)?;
        let mut buffer = encode::RowBuffer::default();
        let limit = self.limit.unwrap_or(usize::MAX);
        let mut rows = Vec::with_capacity(keys.len().min(limit));
        let mut failure = None;
        self.source.lookup(&keys, |values| {
            if rows.len() < limit {
                match encode::write_row(&mut buffer, columns, &fields, options, values) {
                    Ok(row) => rows.push(row),
                    Err(e) => failure = Some(e),
                }
            }
            Ok(())
        })?;
        if let Some(e) = failure {
            return Err(pg(e));
        }
        Ok((fields, rows))
    }
}

/// Recognises `sql` against `database`'s current online catalog.
pub fn recognize_on(
    database: &crate::database::Database,
    sql: &str,
    declared: &[Option<Type>],
) -> Result<Option<Lookup>> {
    recognize(sql, declared, database.online_generation(), &|name| {
        database.online_source(name)
    })
}

/// `lookup`, recognised again if the online catalog changed since.
pub fn current(
    database: &crate::database::Database,
    lookup: &Arc<Lookup>,
    declared: &[Option<Type>],
) -> Result<Arc<Lookup>> {
    if lookup.generation == database.online_generation() {
        return Ok(lookup.clone());
    }
    let fresh = recognize_on(database, &lookup.sql, declared)?
        .ok_or_else(|| Error::UndefinedTable(format!("online.{}", lookup.target)))?;
    if fresh.schema != lookup.schema {
        return Err(Error::FeatureNotSupported(
            "cached plan must not change result type".into(),
        ));
    }
    Ok(Arc::new(fresh))
}
