//! Functions the tools' reflection queries call besides the catalog
//! tables: SQLAlchemy's `json_build_object` and `pg_get_serial_sequence`,
//! `pg_get_viewdef` for view definitions, `pg_get_indexdef` for the
//! indexes behind primary keys, dbt's `pg_is_other_temp_schema`.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, AsArray, Int32Builder, ListBuilder, StringBuilder, StructBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarUDF, Signature, SimpleScalarUDF, TypeSignature, Volatility,
};
use datafusion::scalar::ScalarValue;

use super::columns::{row_count, shaped_like, text_by_oid};
use super::facts::CatalogFacts;

pub(super) fn functions(facts: &Arc<CatalogFacts>) -> Vec<ScalarUDF> {
    let mut udfs = Vec::new();
    udfs.push(ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        "json_build_object",
        Signature::variadic_any(Volatility::Immutable),
        DataType::Utf8,
        Arc::new(|args: &[ColumnarValue]| json_build_object(args)),
    )));
    let no_text = ScalarValue::Utf8(None);
    // fstore has no sequences: no column is serial.
    udfs.push(constant("pg_get_serial_sequence", 2, no_text.clone()));
    // Temporary schemas are per session in PostgreSQL; fstore has none.
    udfs.push(constant(
        "pg_is_other_temp_schema",
        1,
        ScalarValue::Boolean(Some(false)),
    ));
    // Shared objects (databases, roles) carry no descriptions in fstore.
    udfs.push(constant("shobj_description", 2, no_text));
    // psql's `\l+`: the data directory holds the one database.
    let f = facts.clone();
    udfs.push(ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        "pg_database_size",
        Signature::any(1, Volatility::Volatile),
        DataType::Int64,
        Arc::new(move |_: &[ColumnarValue]| {
            let bytes = f
                .data_dir()
                .map_or(0, |dir| super::functions::disk_bytes(&dir));
            Ok(ColumnarValue::Scalar(ScalarValue::Int64(Some(
                bytes as i64,
            ))))
        }),
    )));
    let f = facts.clone();
    udfs.push(text_by_oid(
        "pg_get_viewdef",
        vec![TypeSignature::Any(1), TypeSignature::Any(2)],
        move |oid, _| {
            let relation = f.relation(oid)?;
            f.view_definition(&relation.schema, &relation.name)
        },
    ));
    udfs.push(ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        "fstore_expand_array",
        Signature::any(1, Volatility::Immutable),
        expanded_array_type(),
        Arc::new(|args: &[ColumnarValue]| expand_array(args)),
    )));
    udfs.push(ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        "fstore_regtype_names",
        Signature::any(1, Volatility::Immutable),
        DataType::new_list(DataType::Utf8, true),
        Arc::new(|args: &[ColumnarValue]| regtype_names(args)),
    )));
    // The indexes behind primary keys (`pg_index`): the whole definition
    // for column 0, else the name of that key column, as PostgreSQL.
    let f = facts.clone();
    udfs.push(text_by_oid(
        "pg_get_indexdef",
        vec![TypeSignature::Any(1), TypeSignature::Any(3)],
        move |oid, column| {
            let (relation, key) = f.primary_key_index(oid)?;
            match column.unwrap_or(0) {
                0 => Some(format!(
                    "CREATE UNIQUE INDEX {} ON {}.{} USING btree ({})",
                    quote_ident(&format!("{}_pkey", relation.name)),
                    quote_ident(&relation.schema),
                    quote_ident(&relation.name),
                    key.iter()
                        .map(|c| quote_ident(c))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                n => key
                    .get(usize::try_from(n).ok()?.checked_sub(1)?)
                    .map(|c| quote_ident(c)),
            }
        },
    ));
    udfs
}

/// What `fstore_expand_array` returns: each element `x` with its 1-based
/// position `n`, the records of PostgreSQL's
/// `information_schema._pg_expandarray` (which the catalog-query rewrite
/// unnests).
fn expanded_array_type() -> DataType {
    DataType::new_list(DataType::Struct(expanded_fields()), true)
}

fn expanded_fields() -> Fields {
    Fields::from(vec![
        Field::new("x", DataType::Int32, true),
        Field::new("n", DataType::Int32, false),
    ])
}

fn expand_array(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    let lists = cast(
        &args[0].to_array(1)?,
        &DataType::new_list(DataType::Int32, true),
    )?;
    let lists = lists.as_list::<i32>();
    let mut out = ListBuilder::new(StructBuilder::from_fields(expanded_fields(), 0)).with_field(
        Field::new_list_field(DataType::Struct(expanded_fields()), true),
    );
    for row in 0..lists.len() {
        if lists.is_null(row) {
            out.append(false);
            continue;
        }
        let elements = lists.value(row);
        let elements = elements.as_primitive::<datafusion::arrow::datatypes::Int32Type>();
        let records = out.values();
        for (position, element) in elements.iter().enumerate() {
            records
                .field_builder::<Int32Builder>(0)
                .expect("x")
                .append_option(element);
            records
                .field_builder::<Int32Builder>(1)
                .expect("n")
                .append_value(position as i32 + 1);
            records.append(true);
        }
        out.append(true);
    }
    shaped_like(args, Arc::new(out.finish()))
}

/// Type OIDs, in any form the catalog keeps a list of them (`25 25`,
/// `[25, 26]`, an array), as the names `regtype[]` prints.
fn regtype_names(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    let input = args[0].to_array(1)?;
    let texts = match input.data_type() {
        DataType::List(_) | DataType::LargeList(_) => {
            let lists = cast(&input, &DataType::new_list(DataType::Utf8, true))?;
            let lists = lists.as_list::<i32>();
            (0..lists.len())
                .map(|row| {
                    (!lists.is_null(row)).then(|| {
                        let values = lists.value(row);
                        let values = values.as_string::<i32>();
                        values.iter().flatten().collect::<Vec<_>>().join(" ")
                    })
                })
                .collect::<Vec<_>>()
        }
        _ => {
            let strings = cast(&input, &DataType::Utf8)?;
            let strings = strings.as_string::<i32>();
            strings.iter().map(|s| s.map(str::to_string)).collect()
        }
    };
    let mut out = ListBuilder::new(StringBuilder::new());
    for text in texts {
        match text {
            None => out.append(false),
            Some(text) => {
                for oid in text
                    .split([' ', ',', '[', ']', '{', '}'])
                    .filter_map(|part| part.trim().parse::<u32>().ok())
                {
                    // OID 0 (no type: a scalar's `typelem`) prints as `-`.
                    let name = match oid {
                        0 => "-".to_string(),
                        oid => pgwire::api::Type::from_oid(oid).map_or_else(
                            || oid.to_string(),
                            |t| crate::pg_types::sql_type_name(&t),
                        ),
                    };
                    out.values().append_value(name);
                }
                out.append(true);
            }
        }
    }
    shaped_like(args, Arc::new(out.finish()))
}

/// An identifier as PostgreSQL prints it: quoted unless it is lowercase
/// letters, digits and underscores not starting with a digit.
fn quote_ident(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// A function of `arity` arguments of any type whose answer is `value`.
fn constant(name: &str, arity: usize, value: ScalarValue) -> ScalarUDF {
    let data_type = value.data_type();
    ScalarUDF::from(SimpleScalarUDF::new_with_signature(
        name,
        Signature::any(arity, Volatility::Stable),
        data_type,
        Arc::new(move |_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(value.clone()))),
    ))
}

/// `json_build_object(k1, v1, k2, v2, …)` as JSON text, one object per row.
fn json_build_object(args: &[ColumnarValue]) -> Result<ColumnarValue> {
    if !args.len().is_multiple_of(2) {
        return Err(datafusion::error::DataFusionError::Execution(
            "argument list must have even number of elements".into(),
        ));
    }
    let rows = row_count(args);
    let arrays = args
        .iter()
        .map(|a| a.to_array(rows))
        .collect::<Result<Vec<_>>>()?;
    let mut out = StringBuilder::new();
    for row in 0..rows {
        // In argument order, as PostgreSQL writes it.
        let mut members = Vec::with_capacity(arrays.len() / 2);
        for pair in arrays.chunks(2) {
            let key = match ScalarValue::try_from_array(&pair[0], row)? {
                ScalarValue::Utf8(Some(k))
                | ScalarValue::Utf8View(Some(k))
                | ScalarValue::LargeUtf8(Some(k)) => k,
                other => other.to_string(),
            };
            let value = json_value(ScalarValue::try_from_array(&pair[1], row)?);
            members.push(format!("{} : {value}", serde_json::Value::String(key)));
        }
        out.append_value(format!("{{{}}}", members.join(", ")));
    }
    shaped_like(args, Arc::new(out.finish()))
}

fn json_value(value: ScalarValue) -> serde_json::Value {
    use serde_json::Value;
    if value.is_null() {
        return Value::Null;
    }
    match value {
        ScalarValue::Boolean(Some(b)) => Value::Bool(b),
        ScalarValue::Int8(Some(v)) => Value::from(v),
        ScalarValue::Int16(Some(v)) => Value::from(v),
        ScalarValue::Int32(Some(v)) => Value::from(v),
        ScalarValue::Int64(Some(v)) => Value::from(v),
        ScalarValue::UInt32(Some(v)) => Value::from(v),
        ScalarValue::UInt64(Some(v)) => Value::from(v),
        ScalarValue::Float64(Some(v)) => Value::from(v),
        ScalarValue::Float32(Some(v)) => Value::from(f64::from(v)),
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s)) => Value::String(s),
        other => Value::String(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_build_object_builds_one_object_per_row() {
        let built = json_build_object(&[
            ColumnarValue::Scalar(ScalarValue::from("always")),
            ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))),
            ColumnarValue::Scalar(ScalarValue::from("start")),
            ColumnarValue::Scalar(ScalarValue::Int64(Some(1))),
            ColumnarValue::Scalar(ScalarValue::from("name")),
            ColumnarValue::Scalar(ScalarValue::from("a\"b")),
            ColumnarValue::Scalar(ScalarValue::from("none")),
            ColumnarValue::Scalar(ScalarValue::Int64(None)),
        ])
        .unwrap();
        let ColumnarValue::Scalar(ScalarValue::Utf8(Some(text))) = built else {
            panic!("not a text scalar");
        };
        assert_eq!(
            text,
            r#"{"always" : true, "start" : 1, "name" : "a\"b", "none" : null}"#
        );
    }
}
