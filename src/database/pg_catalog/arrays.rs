//! Array columns of the emulated catalog as arrays: datafusion-pg-catalog
//! keeps `pg_constraint.conkey` as the text `[1, 2]` and `pg_index.indkey`
//! as `1 2`, so `unnest(conkey)` (SQLAlchemy's key reflection),
//! `generate_subscripts` and JDBC's `_pg_expandarray` fail on them. Here
//! they become `int2[]` / `oid[]` columns, with the static rows parsed.
//!
//! `int2vector`/`oidvector` columns (`indkey`, `indclass`) become ordinary
//! arrays: their elements and `unnest` agree with PostgreSQL, their text
//! output is `{1,2}` where PostgreSQL prints `1 2`, and subscripts start at
//! 1 where PostgreSQL's vectors start at 0.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Int64Builder, ListBuilder, RecordBatch, StringBuilder, new_null_array,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::Result;

/// The catalog columns served as arrays, with their element type.
const ARRAY_COLUMNS: &[(&str, &str, Element)] = &[
    ("pg_constraint", "conkey", Element::Int2),
    ("pg_constraint", "confkey", Element::Int2),
    ("pg_index", "indkey", Element::Int2),
    ("pg_index", "indoption", Element::Int2),
    ("pg_index", "indclass", Element::Oid),
    ("pg_index", "indcollation", Element::Oid),
    ("pg_proc", "proargnames", Element::Text),
    ("pg_proc", "proargmodes", Element::Text),
];

/// Columns PostgreSQL has that the emulated tables lack (SQLAlchemy's
/// index reflection reads `pg_class.reloptions`): served NULL.
const MISSING_TEXT_ARRAYS: &[(&str, &str)] = &[("pg_class", "reloptions"), ("pg_class", "relacl")];

#[derive(Debug, Clone, Copy)]
enum Element {
    Int2,
    Oid,
    Text,
}

impl Element {
    fn data_type(self) -> DataType {
        match self {
            Element::Int2 => DataType::Int16,
            Element::Oid => DataType::Int32,
            Element::Text => DataType::Utf8,
        }
    }
}

fn element_of(table: &str, column: &str) -> Option<Element> {
    ARRAY_COLUMNS
        .iter()
        .find(|(t, c, _)| *t == table && *c == column)
        .map(|(_, _, element)| *element)
}

/// Whether `table` has columns served as arrays.
pub(super) fn has_array_columns(table: &str) -> bool {
    ARRAY_COLUMNS.iter().any(|(t, _, _)| *t == table)
        || MISSING_TEXT_ARRAYS.iter().any(|(t, _)| *t == table)
}

/// `schema` of `table` with its array columns typed as arrays.
pub(super) fn typed_schema(table: &str, schema: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| match element_of(table, field.name()) {
            Some(element) => Field::new(
                field.name(),
                DataType::new_list(element.data_type(), true),
                true,
            ),
            // The exported rows do not all keep the NOT NULLs the
            // exported schema declares.
            None => field.as_ref().clone().with_nullable(true),
        })
        .collect();
    for (_, column) in MISSING_TEXT_ARRAYS.iter().filter(|(t, _)| *t == table) {
        if schema.field_with_name(column).is_err() {
            fields.push(Field::new(
                *column,
                DataType::new_list(DataType::Utf8, true),
                true,
            ));
        }
    }
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// A batch of the emulated table with its array columns parsed from the
/// text datafusion-pg-catalog keeps them in (`[1, 2]`, `1 2`, `{1,2}`).
pub(super) fn typed_batch(
    table: &str,
    typed: &SchemaRef,
    batch: &RecordBatch,
) -> Result<RecordBatch> {
    let columns = typed
        .fields()
        .iter()
        .map(|field| {
            let Some(column) = batch.column_by_name(field.name()) else {
                return Ok(new_null_array(field.data_type(), batch.num_rows()));
            };
            match element_of(table, field.name()) {
                Some(element) if column.data_type() != field.data_type() => {
                    parse_arrays(column, element)
                }
                _ => Ok(column.clone()),
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(typed.clone(), columns)?)
}

fn parse_arrays(column: &ArrayRef, element: Element) -> Result<ArrayRef> {
    let text = datafusion::arrow::compute::cast(column, &DataType::Utf8)?;
    let text = text.as_string::<i32>();
    let elements = |row: usize| -> Option<Vec<i64>> {
        if text.is_null(row) {
            return None;
        }
        let inner = text
            .value(row)
            .trim()
            .trim_start_matches(['[', '{'])
            .trim_end_matches([']', '}']);
        Some(
            inner
                .split([',', ' '])
                .filter(|part| !part.is_empty())
                .filter_map(|part| part.trim().parse().ok())
                .collect(),
        )
    };
    Ok(match element {
        Element::Text => {
            let mut builder = ListBuilder::new(StringBuilder::new());
            for row in 0..text.len() {
                if text.is_null(row) || text.value(row).trim().is_empty() {
                    builder.append(false);
                    continue;
                }
                let inner = text
                    .value(row)
                    .trim()
                    .trim_start_matches(['[', '{'])
                    .trim_end_matches([']', '}']);
                for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    builder
                        .values()
                        .append_value(part.trim_matches(['\'', '"']));
                }
                builder.append(true);
            }
            Arc::new(builder.finish())
        }
        Element::Int2 | Element::Oid => {
            // Built as int8 and cast once to the element type: catalog
            // numbers are small, and one that is not fails the cast.
            let mut builder = ListBuilder::new(Int64Builder::new());
            for row in 0..text.len() {
                match elements(row) {
                    Some(values) => {
                        builder.values().append_slice(&values);
                        builder.append(true);
                    }
                    None => builder.append(false),
                }
            }
            let wide: ArrayRef = Arc::new(builder.finish());
            datafusion::arrow::compute::cast(&wide, &DataType::new_list(element.data_type(), true))?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::StringArray;

    #[test]
    fn catalog_texts_of_arrays_and_vectors_parse_alike() {
        let schema = Arc::new(Schema::new(vec![Field::new(
            "indkey",
            DataType::Utf8,
            true,
        )]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(vec![
                Some("1 2"),
                Some("[3, 4]"),
                Some("{5}"),
                None,
            ]))],
        )
        .unwrap();
        let typed = typed_schema("pg_index", &schema);
        let out = typed_batch("pg_index", &typed, &batch).unwrap();
        let lists = out.column(0).as_list::<i32>();
        let row = |i: usize| -> Vec<i16> {
            lists
                .value(i)
                .as_primitive::<datafusion::arrow::datatypes::Int16Type>()
                .values()
                .to_vec()
        };
        assert_eq!(row(0), vec![1, 2]);
        assert_eq!(row(1), vec![3, 4]);
        assert_eq!(row(2), vec![5]);
        assert!(lists.is_null(3));
    }
}
