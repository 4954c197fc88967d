//! The catalog functions clients call: `obj_description`, `to_regclass`,
//! `pg_table_is_visible`, `current_setting`, `pg_table_size`, … .

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, new_null_array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int32Type};
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, SimpleScalarUDF,
    TypeSignature, Volatility, create_udf,
};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;

use crate::catalog::DEFAULT_SCHEMA;

use super::columns::utf8_column;
use super::facts::{CatalogFacts, PG_CATALOG};

/// Relation names reachable without a schema: what name resolution does.
fn visible(schema: &str) -> bool {
    schema == DEFAULT_SCHEMA || schema == PG_CATALOG
}

pub(super) fn disk_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => disk_bytes(&entry.path()),
            _ => entry.metadata().map_or(0, |m| m.len()),
        })
        .sum()
}

/// `pg_size_pretty`: bytes below 10 kB, then kB, MB, … rounded half up,
/// each unit used below 20 of the next minus one, as in Postgres.
fn size_pretty(bytes: i64) -> String {
    if bytes.abs() < 10 * 1024 {
        return format!("{bytes} bytes");
    }
    let mut halves = bytes >> 9;
    let units = ["kB", "MB", "GB", "TB", "PB"];
    for (i, unit) in units.iter().enumerate() {
        if halves.abs() < 20 * 1024 || i == units.len() - 1 {
            return format!("{} {unit}", (halves + halves.signum()) / 2);
        }
        halves >>= 10;
    }
    unreachable!("the last unit always returns")
}

/// Postgres's spellings of the types fstore stores, for `to_regtype`.
const TYPE_ALIASES: &[(&str, &str)] = &[
    ("integer", "int4"),
    ("int", "int4"),
    ("bigint", "int8"),
    ("smallint", "int2"),
    ("real", "float4"),
    ("double precision", "float8"),
    ("boolean", "bool"),
    ("character varying", "varchar"),
    ("character", "bpchar"),
    ("char", "bpchar"),
    ("decimal", "numeric"),
    ("timestamp without time zone", "timestamp"),
    ("timestamp with time zone", "timestamptz"),
    ("time without time zone", "time"),
    ("time with time zone", "timetz"),
];

fn type_oid(facts: &CatalogFacts, name: &str) -> Option<i32> {
    let types = facts.types.get()?;
    let mut name = name.trim().to_ascii_lowercase();
    if let Some(unqualified) = name.strip_prefix("pg_catalog.") {
        name = unqualified.to_string();
    }
    let name = name.trim_matches('"').to_string();
    let (base, array) = match name.strip_suffix("[]") {
        Some(base) => (base.trim().to_string(), true),
        None => (name, false),
    };
    let base = TYPE_ALIASES
        .iter()
        .find(|(alias, _)| *alias == base)
        .map_or(base.clone(), |(_, name)| name.to_string());
    let name = if array { format!("_{base}") } else { base };
    types.get(&name).copied()
}

/// Loads `pg_type`'s names and `pg_proc`'s functions once (the static
/// tables never change).
pub async fn load_static_rows(ctx: &SessionContext, facts: &CatalogFacts) -> Result<()> {
    let _ = facts.routines.set(super::routines::load(ctx).await?);
    let batches = ctx
        .sql("SELECT typname, oid FROM pg_catalog.pg_type")
        .await?
        .collect()
        .await?;
    let mut types = HashMap::new();
    for batch in &batches {
        let names = utf8_column(batch, "typname")?;
        let oids = cast(batch.column(1), &DataType::Int32)?;
        let oids = oids.as_primitive::<Int32Type>();
        for (row, name) in names.into_iter().enumerate() {
            types.insert(name, oids.value(row));
        }
    }
    let _ = facts.types.set(types);
    Ok(())
}

/// Applies `f` to each row of a one-argument call.
fn map_rows(
    args: &[ColumnarValue],
    output: DataType,
    f: impl Fn(&ScalarValue) -> ScalarValue,
) -> Result<ColumnarValue> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let first = &arrays[0];
    let values = (0..first.len())
        .map(|row| ScalarValue::try_from_array(first, row).map(|v| f(&v)))
        .collect::<Result<Vec<_>>>()?;
    if values.is_empty() {
        return Ok(ColumnarValue::Array(new_null_array(&output, 0)));
    }
    let array = ScalarValue::iter_to_array(values)?;
    Ok(ColumnarValue::Array(cast(&array, &output)?))
}

fn as_oid(value: &ScalarValue) -> Option<i32> {
    match value {
        ScalarValue::Int32(v) => *v,
        ScalarValue::Int64(v) => v.and_then(|v| i32::try_from(v).ok()),
        ScalarValue::UInt32(v) => v.and_then(|v| i32::try_from(v).ok()),
        ScalarValue::Int16(v) => v.map(i32::from),
        _ => None,
    }
}

fn as_text(value: &ScalarValue) -> Option<String> {
    match value {
        ScalarValue::Utf8(v) | ScalarValue::LargeUtf8(v) | ScalarValue::Utf8View(v) => v.clone(),
        _ => None,
    }
}

pub(super) fn functions(facts: &Arc<CatalogFacts>) -> Vec<ScalarUDF> {
    let mut udfs = Vec::new();
    let f = facts.clone();
    let description = Arc::new(move |args: &[ColumnarValue]| {
        map_rows(args, DataType::Utf8, |oid| {
            ScalarValue::Utf8(as_oid(oid).and_then(|oid| f.description(oid)))
        })
    });
    // obj_description(oid) and obj_description(oid, 'pg_class'): only
    // relations have descriptions in fstore.
    udfs.push(ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        "obj_description",
        Signature::one_of(
            vec![
                TypeSignature::Exact(vec![DataType::Int32]),
                TypeSignature::Exact(vec![DataType::Int32, DataType::Utf8]),
            ],
            Volatility::Stable,
        ),
        DataType::Utf8,
        description,
    )));
    let f = facts.clone();
    udfs.push(create_udf(
        "to_regclass",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            map_rows(args, DataType::Int32, |name| {
                let oid = as_text(name).and_then(|name| {
                    let name = name.replace('"', "");
                    match name.split_once('.') {
                        Some((schema, relation)) => f.oid_of(schema, relation),
                        None => f
                            .oid_of(DEFAULT_SCHEMA, &name)
                            .or_else(|| f.oid_of(PG_CATALOG, &name)),
                    }
                });
                ScalarValue::Int32(oid)
            })
        }),
    ));
    let f = facts.clone();
    udfs.push(create_udf(
        "to_regtype",
        vec![DataType::Utf8],
        DataType::Int32,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            map_rows(args, DataType::Int32, |name| {
                ScalarValue::Int32(as_text(name).and_then(|n| type_oid(&f, &n)))
            })
        }),
    ));
    let f = facts.clone();
    udfs.push(create_udf(
        "pg_table_is_visible",
        vec![DataType::Int32],
        DataType::Boolean,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            map_rows(args, DataType::Boolean, |oid| {
                let visible = as_oid(oid)
                    .and_then(|oid| f.relation(oid))
                    .is_none_or(|relation| visible(&relation.schema));
                ScalarValue::Boolean(Some(visible))
            })
        }),
    ));
    // Every function and type lives in pg_catalog, which is always searched.
    for name in ["pg_function_is_visible", "pg_type_is_visible"] {
        udfs.push(create_udf(
            name,
            vec![DataType::Int32],
            DataType::Boolean,
            Volatility::Stable,
            Arc::new(|args: &[ColumnarValue]| {
                map_rows(args, DataType::Boolean, |_| {
                    ScalarValue::Boolean(Some(true))
                })
            }),
        ));
    }
    // set_config(name, value, is_local), which asyncpg calls around its
    // type introspection (to turn `jit` off): answers the value and changes
    // nothing, since a function cannot reach the session's settings; SET
    // changes those.
    udfs.push(ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        "set_config",
        Signature::any(3, Volatility::Volatile),
        DataType::Utf8,
        Arc::new(|args: &[ColumnarValue]| match &args[1] {
            ColumnarValue::Scalar(value) => {
                Ok(ColumnarValue::Scalar(value.cast_to(&DataType::Utf8)?))
            }
            ColumnarValue::Array(values) => {
                Ok(ColumnarValue::Array(cast(values, &DataType::Utf8)?))
            }
        }),
    )));
    udfs.push(ScalarUDF::new_from_impl(
        super::settings::CurrentSetting::new(),
    ));
    // The bytes of a relation's offline files (Parquet and Delta log).
    let f = facts.clone();
    for name in [
        "pg_table_size",
        "pg_relation_size",
        "pg_total_relation_size",
    ] {
        let f = f.clone();
        udfs.push(create_udf(
            name,
            vec![DataType::Int32],
            DataType::Int64,
            Volatility::Volatile,
            Arc::new(move |args: &[ColumnarValue]| {
                map_rows(args, DataType::Int64, |oid| {
                    let bytes = as_oid(oid)
                        .and_then(|oid| f.relation(oid))
                        .and_then(|r| f.facts(&r.schema, &r.name))
                        .and_then(|facts| facts.files)
                        .map_or(0, |dir| disk_bytes(&dir));
                    ScalarValue::Int64(Some(bytes as i64))
                })
            }),
        ));
    }
    udfs.push(create_udf(
        "pg_size_pretty",
        vec![DataType::Int64],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            map_rows(args, DataType::Utf8, |bytes| match bytes {
                ScalarValue::Int64(Some(b)) => ScalarValue::from(size_pretty(*b)),
                _ => ScalarValue::Utf8(None),
            })
        }),
    ));
    // pg_typeof(any): the argument's type as PostgreSQL names it
    // (`integer`, `timestamp with time zone`).
    udfs.push(ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        "pg_typeof",
        Signature::any(1, Volatility::Immutable),
        DataType::Utf8,
        Arc::new(|args: &[ColumnarValue]| {
            let name = crate::pg_types::postgres_type_name(&args[0].data_type());
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(name))))
        }),
    )));
    // Columns carry no comments in fstore.
    udfs.push(create_udf(
        "col_description",
        vec![DataType::Int32, DataType::Int32],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(|args: &[ColumnarValue]| {
            map_rows(args, DataType::Utf8, |_| ScalarValue::Utf8(None))
        }),
    ));
    udfs.push(ScalarUDF::new_from_impl(FormatType {
        inner: datafusion_pg_catalog::pg_catalog::format_type::create_format_type_udf(),
    }));
    udfs
}

/// `format_type(oid, typmod)`: datafusion-pg-catalog's, except that a
/// numeric of scale 0 keeps its scale (`numeric(5,0)`), as psql's `\d`
/// and SQLAlchemy read it from PostgreSQL.
#[derive(Debug, PartialEq, Eq, Hash)]
struct FormatType {
    inner: ScalarUDF,
}

const NUMERIC_OID: i32 = 1700;

impl ScalarUDFImpl for FormatType {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let formatted = self
            .inner
            .invoke_with_args(args)?
            .into_array(arrays[0].len())?;
        let [oids, typmods] = [&arrays[0], &arrays[1]].map(|a| cast(a, &DataType::Int32));
        let (oids, typmods) = (oids?, typmods?);
        let (oids, typmods) = (
            oids.as_primitive::<Int32Type>(),
            typmods.as_primitive::<Int32Type>(),
        );
        let formatted = cast(&formatted, &DataType::Utf8)?;
        let names = formatted
            .as_string::<i32>()
            .iter()
            .enumerate()
            .map(|(row, name)| {
                let numeric = oids.is_valid(row) && oids.value(row) == NUMERIC_OID;
                match (numeric, typmods.is_valid(row).then(|| typmods.value(row))) {
                    (true, Some(typmod)) if typmod >= 4 && (typmod - 4) & 0xffff == 0 => {
                        Some(format!("numeric({},0)", ((typmod - 4) >> 16) & 0xffff))
                    }
                    _ => name.map(str::to_string),
                }
            });
        Ok(ColumnarValue::Array(Arc::new(
            names.collect::<datafusion::arrow::array::StringArray>(),
        )))
    }
}
