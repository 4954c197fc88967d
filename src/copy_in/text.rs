//! `COPY … FROM STDIN` in Postgres's text and CSV formats.

use std::io::Read;

use datafusion::arrow::record_batch::RecordBatch;

use super::batch::BatchBuilder;
use super::format::CopyFormat;
use crate::error::{Error, Result};

pub(super) fn parse_csv(
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
pub(super) fn parse_text(
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
}
