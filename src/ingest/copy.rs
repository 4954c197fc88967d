//! `COPY name [(columns)] FROM STDIN` in text and CSV formats.
//!
//! The client's CopyData chunks flow through a bounded channel into a parser
//! on a blocking thread, which turns rows into record batches of the target's
//! schema (8192 rows at a time) and hands them, through another bounded
//! channel, to the target's [`Ingest::ingest`]. Memory stays bounded whatever
//! the input size; a malformed line fails the whole COPY (with its line
//! number) and nothing is committed.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use datafusion::arrow::array::{Array, ArrayRef, StringBuilder, new_null_array};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::sqlparser::ast::{CopyLegacyCsvOption, CopyLegacyOption, CopyOption};
use tokio::sync::mpsc;

use super::IngestTarget;
use crate::error::{Error, Result};

const BATCH_ROWS: usize = 8192;

/// How COPY's input is laid out.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyFormat {
    pub csv: bool,
    pub binary: bool,
    pub delimiter: u8,
    pub null: String,
    pub header: bool,
    pub quote: u8,
    pub escape: Option<u8>,
}

impl CopyFormat {
    pub fn from_options(options: &[CopyOption], legacy: &[CopyLegacyOption]) -> Result<Self> {
        let mut csv = false;
        let mut binary = false;
        let mut delimiter = None;
        let mut null = None;
        let mut header = false;
        let mut quote = b'"';
        let mut escape = None;
        let single_byte = |c: char, what: &str| -> Result<u8> {
            u8::try_from(c as u32)
                .ok()
                .filter(|b| b.is_ascii())
                .ok_or_else(|| {
                    Error::FeatureNotSupported(format!(
                        "COPY {what} must be a single ASCII character"
                    ))
                })
        };
        for option in options {
            match option {
                CopyOption::Format(name) => match name.value.to_lowercase().as_str() {
                    "csv" => csv = true,
                    "text" => csv = false,
                    "binary" => binary = true,
                    other => {
                        return Err(Error::InvalidParameter(format!(
                            "COPY format \"{other}\" not recognized"
                        )));
                    }
                },
                CopyOption::Delimiter(c) => delimiter = Some(single_byte(*c, "delimiter")?),
                CopyOption::Null(s) => null = Some(s.clone()),
                CopyOption::Header(h) => header = *h,
                CopyOption::Quote(c) => quote = single_byte(*c, "quote")?,
                CopyOption::Escape(c) => escape = Some(single_byte(*c, "escape")?),
                CopyOption::Encoding(e)
                    if e.eq_ignore_ascii_case("utf8") || e.eq_ignore_ascii_case("utf-8") => {}
                other => {
                    return Err(Error::FeatureNotSupported(format!(
                        "COPY option {other} is not supported"
                    )));
                }
            }
        }
        for option in legacy {
            match option {
                CopyLegacyOption::Csv(csv_options) => {
                    csv = true;
                    for o in csv_options {
                        match o {
                            CopyLegacyCsvOption::Header => header = true,
                            CopyLegacyCsvOption::Quote(c) => quote = single_byte(*c, "quote")?,
                            CopyLegacyCsvOption::Escape(c) => {
                                escape = Some(single_byte(*c, "escape")?)
                            }
                            other => {
                                return Err(Error::FeatureNotSupported(format!(
                                    "COPY option {other} is not supported"
                                )));
                            }
                        }
                    }
                }
                CopyLegacyOption::Delimiter(c) => delimiter = Some(single_byte(*c, "delimiter")?),
                CopyLegacyOption::Null(s) => null = Some(s.clone()),
                CopyLegacyOption::Binary => binary = true,
                other => {
                    return Err(Error::FeatureNotSupported(format!(
                        "COPY option {other} is not supported"
                    )));
                }
            }
        }
        if header && !csv {
            return Err(Error::FeatureNotSupported(
                "COPY HEADER is available only in CSV mode".into(),
            ));
        }
        Ok(CopyFormat {
            csv,
            binary,
            delimiter: delimiter.unwrap_or(if csv { b',' } else { b'\t' }),
            null: null.unwrap_or_else(|| if csv { String::new() } else { "\\N".into() }),
            header,
            quote,
            escape,
        })
    }
}

/// A COPY in progress on one connection.
pub struct CopyIn {
    data: Option<mpsc::Sender<Bytes>>,
    aborted: Arc<AtomicBool>,
    result: tokio::task::JoinHandle<Result<u64>>,
}

/// Starts parsing and ingesting; feed it with [`CopyIn::data`].
/// `columns` are the target's column indices in input order.
pub fn start(target: IngestTarget, columns: Vec<usize>, format: CopyFormat) -> CopyIn {
    let (data_tx, data_rx) = mpsc::channel::<Bytes>(16);
    let (batch_tx, batch_rx) =
        mpsc::channel::<std::result::Result<RecordBatch, DataFusionError>>(2);
    let aborted = Arc::new(AtomicBool::new(false));
    let schema = target.schema();
    let reader = ChannelReader {
        rx: data_rx,
        current: Bytes::new(),
        aborted: aborted.clone(),
    };
    let parse_schema = schema.clone();
    let schema_for_binary = schema.clone();
    let columns_for_binary = columns.clone();
    tokio::task::spawn_blocking(move || {
        let sink = |batch: Result<RecordBatch>| -> bool {
            let batch = batch.map_err(|e| DataFusionError::External(Box::new(e)));
            batch_tx.blocking_send(batch).is_ok()
        };
        let mut builder = BatchBuilder::new(parse_schema, columns);
        let outcome = if format.binary {
            super::copy_binary::parse_binary(
                reader,
                &schema_for_binary,
                &columns_for_binary,
                &mut builder,
                &sink,
            )
        } else if format.csv {
            parse_csv(reader, &format, &mut builder, &sink)
        } else {
            parse_text(reader, &format, &mut builder, &sink)
        };
        match outcome.and_then(|()| builder.flush()) {
            Ok(Some(batch)) => {
                sink(Ok(batch));
            }
            Ok(None) => {}
            Err(e) => {
                sink(Err(e));
            }
        }
    });
    let stream = futures::stream::unfold(batch_rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let stream = Box::pin(RecordBatchStreamAdapter::new(schema, stream));
    let result = tokio::spawn(async move { target.ingest(stream).await });
    CopyIn {
        data: Some(data_tx),
        aborted,
        result,
    }
}

impl CopyIn {
    pub async fn data(&self, chunk: Bytes) {
        if let Some(tx) = &self.data {
            // A closed channel means the parser already stopped on an
            // error; the error is reported at the end.
            let _ = tx.send(chunk).await;
        }
    }

    /// The client sent CopyDone: finish and return the rows written.
    pub async fn finish(mut self) -> Result<u64> {
        self.data.take();
        self.result
            .await
            .map_err(|e| Error::Internal(format!("COPY task failed: {e}")))?
    }

    /// The client sent CopyFail (or went away): nothing is committed.
    pub async fn abort(mut self) {
        self.aborted.store(true, Ordering::SeqCst);
        self.data.take();
        let _ = self.result.await;
    }
}

struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
    aborted: Arc<AtomicBool>,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                None if self.aborted.load(Ordering::SeqCst) => {
                    return Err(std::io::Error::other("COPY was aborted by the client"));
                }
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// Collects text fields and turns them into typed batches.
pub(super) struct BatchBuilder {
    schema: SchemaRef,
    columns: Vec<usize>,
    fields: Vec<StringBuilder>,
    lines: Vec<u64>,
}

impl BatchBuilder {
    fn new(schema: SchemaRef, columns: Vec<usize>) -> Self {
        let fields = columns.iter().map(|_| StringBuilder::new()).collect();
        BatchBuilder {
            schema,
            columns,
            fields,
            lines: Vec::new(),
        }
    }

    pub(super) fn push_row<S: AsRef<str>>(
        &mut self,
        line: u64,
        values: &[Option<S>],
    ) -> Result<Option<RecordBatch>> {
        if values.len() > self.columns.len() {
            return Err(Error::BadCopyData {
                message: "extra data after last expected column".into(),
                line,
                column: None,
            });
        }
        if values.len() < self.columns.len() {
            let missing = self.schema.field(self.columns[values.len()]).name().clone();
            return Err(Error::BadCopyData {
                message: format!("missing data for column \"{missing}\""),
                line,
                column: Some(missing),
            });
        }
        for (builder, value) in self.fields.iter_mut().zip(values) {
            match value {
                Some(value) => builder.append_value(value.as_ref()),
                None => builder.append_null(),
            }
        }
        self.lines.push(line);
        if self.lines.len() >= BATCH_ROWS {
            self.flush()
        } else {
            Ok(None)
        }
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>> {
        if self.lines.is_empty() {
            return Ok(None);
        }
        let rows = self.lines.len();
        let mut arrays: Vec<Option<ArrayRef>> = vec![None; self.schema.fields().len()];
        for (builder, &target) in self.fields.iter_mut().zip(&self.columns) {
            let text = builder.finish();
            let field = self.schema.field(target);
            let options = CastOptions {
                safe: true,
                ..Default::default()
            };
            let typed = cast_with_options(&text, field.data_type(), &options)
                .map_err(DataFusionError::from)?;
            if typed.null_count() > text.null_count() {
                let row = (0..rows)
                    .find(|&r| typed.is_null(r) && !text.is_null(r))
                    .unwrap_or(0);
                return Err(Error::BadCopyData {
                    message: format!(
                        "invalid input syntax for type {}: \"{}\"",
                        crate::database::feature_groups::postgres_type_name(field.data_type()),
                        if text.is_valid(row) {
                            text.value(row).to_string()
                        } else {
                            String::new()
                        }
                    ),
                    line: self.lines[row],
                    column: Some(field.name().clone()),
                });
            }
            arrays[target] = Some(typed);
        }
        let columns = arrays
            .into_iter()
            .zip(self.schema.fields())
            .map(|(array, field)| array.unwrap_or_else(|| new_null_array(field.data_type(), rows)))
            .collect();
        self.lines.clear();
        Ok(Some(
            RecordBatch::try_new(self.schema.clone(), columns).map_err(DataFusionError::from)?,
        ))
    }
}

fn parse_csv(
    reader: impl Read,
    format: &CopyFormat,
    builder: &mut BatchBuilder,
    sink: &dyn Fn(Result<RecordBatch>) -> bool,
) -> Result<()> {
    let mut csv_reader = csv::ReaderBuilder::new()
        .has_headers(format.header)
        .delimiter(format.delimiter)
        .quote(format.quote)
        .escape(format.escape.filter(|&e| e != format.quote))
        .double_quote(true)
        .flexible(true)
        .from_reader(reader);
    let mut record = csv::ByteRecord::new();
    loop {
        let more = csv_reader.read_byte_record(&mut record).map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            match e.into_kind() {
                csv::ErrorKind::Io(io) => Error::Io(io),
                other => Error::BadCopyData {
                    message: format!("malformed CSV: {other:?}"),
                    line,
                    column: None,
                },
            }
        })?;
        if !more {
            return Ok(());
        }
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        if record.len() == 1 && &record[0] == b"\\." {
            return Ok(());
        }
        let values = record
            .iter()
            .map(|field| {
                if field == format.null.as_bytes() {
                    Ok(None)
                } else {
                    std::str::from_utf8(field)
                        .map(Some)
                        .map_err(|_| Error::BadCopyData {
                            message: "invalid byte sequence for encoding \"UTF8\"".into(),
                            line,
                            column: None,
                        })
                }
            })
            .collect::<Result<Vec<_>>>()?;
        if let Some(batch) = builder.push_row(line, &values)?
            && !sink(Ok(batch))
        {
            return Ok(());
        }
    }
}

/// Postgres text format: one row per line, fields split by the delimiter,
/// `\N` for NULL, backslash escapes.
fn parse_text(
    reader: impl Read,
    format: &CopyFormat,
    builder: &mut BatchBuilder,
    sink: &dyn Fn(Result<RecordBatch>) -> bool,
) -> Result<()> {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::with_capacity(1 << 16, reader);
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        number += 1;
        while matches!(line.last(), Some(b'\n' | b'\r')) {
            line.pop();
        }
        if line == b"\\." {
            return Ok(());
        }
        let values = line
            .split(|&b| b == format.delimiter)
            .map(|raw| {
                if raw == format.null.as_bytes() {
                    return Ok(None);
                }
                if !raw.contains(&b'\\') {
                    return std::str::from_utf8(raw)
                        .map(|s| Some(std::borrow::Cow::Borrowed(s)))
                        .map_err(|_| Error::BadCopyData {
                            message: "invalid byte sequence for encoding \"UTF8\"".into(),
                            line: number,
                            column: None,
                        });
                }
                let unescaped = unescape_text(raw);
                String::from_utf8(unescaped.into_owned())
                    .map(|s| Some(std::borrow::Cow::Owned(s)))
                    .map_err(|_| Error::BadCopyData {
                        message: "invalid byte sequence for encoding \"UTF8\"".into(),
                        line: number,
                        column: None,
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        if let Some(batch) = builder.push_row(number, &values)?
            && !sink(Ok(batch))
        {
            return Ok(());
        }
    }
}

fn unescape_text(raw: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if !raw.contains(&b'\\') {
        return std::borrow::Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter().copied();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'r') => out.push(b'\r'),
            Some(b'b') => out.push(8),
            Some(b'f') => out.push(12),
            Some(b'v') => out.push(11),
            Some(other) => out.push(other),
            None => out.push(b'\\'),
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_escapes_are_decoded() {
        assert_eq!(unescape_text(b"a\\tb\\\\c\\n").as_ref(), b"a\tb\\c\n");
        assert_eq!(unescape_text(b"plain").as_ref(), b"plain");
    }

    #[test]
    fn csv_defaults_follow_postgres() {
        let format = CopyFormat::from_options(
            &[
                CopyOption::Format(datafusion::sql::sqlparser::ast::Ident::new("csv")),
                CopyOption::Header(true),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(format.delimiter, b',');
        assert_eq!(format.null, "");
        assert!(format.header);
        let text = CopyFormat::from_options(&[], &[]).unwrap();
        assert_eq!(text.delimiter, b'\t');
        assert_eq!(text.null, "\\N");
    }
}
