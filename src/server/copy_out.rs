//! `COPY table | (query) TO STDOUT` in text, CSV and binary format: the
//! query runs on DataFusion and each row is encoded straight from its Arrow
//! batch (arrow-pg's encoders) into one CopyData message, so clients (psql
//! `\copy`, psycopg `copy`, pandas, polars) pull results at wire speed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow_pg::datatypes::arrow_schema_to_pg_fields;
use arrow_pg::encoder::encode_value;
use datafusion::arrow::array::Array;
use datafusion::arrow::datatypes::Schema;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::sql::sqlparser::ast::{CopySource, Statement};
use futures::StreamExt;
use pgwire::api::portal::Format;
use pgwire::api::results::{
    CopyCsvOptions, CopyEncoder, CopyResponse, CopyTextOptions, FieldFormat, FieldInfo, Response,
};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::copy::CopyData;

use crate::copy_in::CopyFormat;
use crate::database::Database;
use crate::error::{Error, Result};
use crate::server::handlers::{postgres_text_of, text_differs_from_postgres};

pub async fn copy_to_stdout(database: &Database, statement: &Statement) -> Result<Response> {
    let Statement::Copy {
        source,
        options,
        legacy_options,
        ..
    } = statement
    else {
        return Err(Error::Internal("not a COPY statement".into()));
    };
    let format = CopyFormat::from_options(options, legacy_options)?;
    let sql = match source {
        CopySource::Query(query) => query.to_string(),
        CopySource::Table {
            table_name,
            columns,
        } if columns.is_empty() => format!("SELECT * FROM {table_name}"),
        CopySource::Table {
            table_name,
            columns,
        } => {
            let columns: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
            format!("SELECT {} FROM {table_name}", columns.join(", "))
        }
    };
    let frame = database.session_context().sql(&sql).await?;
    let schema = Arc::new(frame.schema().as_arrow().clone());
    let wire_format = if format.binary {
        Format::UnifiedBinary
    } else {
        Format::UnifiedText
    };
    let fields = Arc::new(
        arrow_schema_to_pg_fields(&schema, &wire_format, None)
            .map_err(|e| Error::Internal(format!("no Postgres type for a COPY column: {e}")))?,
    );
    let mut encoder = new_encoder(&format, fields.clone());
    let mut header = (format.csv && format.header).then(|| csv_header(&schema, &format));
    let batches = frame.execute_stream().await?;
    let columns = schema.fields().len();
    let wrote_rows = Arc::new(AtomicBool::new(false));
    let wrote = wrote_rows.clone();
    let rows = batches.flat_map(move |batch| {
        let encoded = match batch {
            Ok(batch) if batch.num_rows() > 0 => {
                wrote.store(true, Ordering::Relaxed);
                encode_batch(&mut encoder, &batch, &schema, &fields, header.take())
            }
            Ok(_) => Vec::new(),
            Err(e) => vec![Err(PgWireError::ApiError(Box::new(e)))],
        };
        futures::stream::iter(encoded)
    });
    // A binary COPY of no rows still starts with the file header (the
    // encoder writes it with the first row).
    let binary = format.binary;
    let header_if_empty = futures::stream::once(async move {
        (binary && !wrote_rows.load(Ordering::Relaxed)).then(|| Ok(CopyData::new(binary_header())))
    })
    .filter_map(futures::future::ready);
    let rows = rows.chain(header_if_empty);
    Ok(Response::CopyOut(CopyResponse::new(
        if format.binary { 1 } else { 0 },
        columns,
        rows,
    )))
}

fn binary_header() -> bytes::Bytes {
    let mut header = b"PGCOPY\n\xff\r\n\0".to_vec();
    header.extend_from_slice(&0i32.to_be_bytes());
    header.extend_from_slice(&0i32.to_be_bytes());
    header.into()
}

fn new_encoder(format: &CopyFormat, fields: Arc<Vec<FieldInfo>>) -> CopyEncoder {
    let delimiter = (format.delimiter as char).to_string();
    if format.binary {
        CopyEncoder::new_binary(fields)
    } else if format.csv {
        let quote = (format.quote as char).to_string();
        let escape = format
            .escape
            .map_or(quote.clone(), |e| (e as char).to_string());
        CopyEncoder::new_csv(
            fields,
            CopyCsvOptions {
                delimiter: delimiter.into(),
                quote: quote.into(),
                escape: escape.into(),
                null_string: format.null.as_str().into(),
                force_quote: Vec::new(),
            },
        )
    } else {
        CopyEncoder::new_text(
            fields,
            CopyTextOptions {
                delimiter: delimiter.into(),
                null_string: format.null.as_str().into(),
            },
        )
    }
}

/// The CSV header line; it rides in the first row's message so that the
/// row count the client sees stays the number of rows.
fn csv_header(schema: &Schema, format: &CopyFormat) -> Vec<u8> {
    let quote = format.quote as char;
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| {
            let name = f.name();
            if name.contains(format.delimiter as char)
                || name.contains(quote)
                || name.contains('\n')
            {
                format!(
                    "{quote}{}{quote}",
                    name.replace(quote, &format!("{quote}{quote}"))
                )
            } else {
                name.clone()
            }
        })
        .collect();
    let mut line = names
        .join(&(format.delimiter as char).to_string())
        .into_bytes();
    line.push(b'\n');
    line
}

fn encode_batch(
    encoder: &mut CopyEncoder,
    batch: &RecordBatch,
    schema: &Schema,
    fields: &[FieldInfo],
    mut header: Option<Vec<u8>>,
) -> Vec<PgWireResult<CopyData>> {
    let mut out = Vec::with_capacity(batch.num_rows());
    // pgwire's text of floats and times is not PostgreSQL's: those values
    // are printed alone first, then rewritten as the query results are.
    let mut alone: Vec<Option<CopyEncoder>> = fields
        .iter()
        .map(|field| {
            (field.format() == FieldFormat::Text && text_differs_from_postgres(field)).then(|| {
                CopyEncoder::new_text(Arc::new(vec![field.clone()]), CopyTextOptions::default())
            })
        })
        .collect();
    for row in 0..batch.num_rows() {
        for (index, column) in batch.columns().iter().enumerate() {
            let encoded = match alone[index].as_mut() {
                Some(_) if column.is_null(row) => encoder.encode_field(&None::<String>),
                Some(single) => {
                    encode_value(single, column, row, schema.field(index), &fields[index]).and_then(
                        |()| {
                            let line = single.take_copy().data;
                            let text =
                                String::from_utf8_lossy(line.strip_suffix(b"\n").unwrap_or(&line));
                            let text = postgres_text_of(&fields[index], &text)
                                .unwrap_or_else(|| text.into_owned());
                            encoder.encode_field(&Some(text))
                        },
                    )
                }
                None => encode_value(encoder, column, row, schema.field(index), &fields[index]),
            };
            if let Err(e) = encoded {
                out.push(Err(e));
                return out;
            }
        }
        let mut data = encoder.take_copy();
        if let Some(header) = header.take() {
            let mut bytes = header;
            bytes.extend_from_slice(&data.data);
            data = CopyData::new(bytes.into());
        }
        out.push(Ok(data));
    }
    out
}
