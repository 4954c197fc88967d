//! EXPLAIN without the server's storage paths: DataFusion names every
//! Parquet file it scans by its full path under the data directory, which
//! tells a client where and how the server keeps its files. The plans keep
//! each file's name; the directories before it are cut.

use std::path::Path;

use bytes::{BufMut, BytesMut};
use futures::StreamExt;
use pgwire::api::results::{QueryResponse, Response};
use pgwire::messages::data::DataRow;

/// Whether `sql` is an EXPLAIN (of any statement).
pub(crate) fn is_explain(sql: &str) -> bool {
    let sql = sql.trim_start();
    sql.len() >= 7 && sql[..7].eq_ignore_ascii_case("explain")
}

/// The prefix data files' paths start with in plans: the data directory,
/// absolute, as object_store writes it (without the leading `/`).
pub(crate) fn storage_prefix(data_dir: &Path) -> String {
    let absolute = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_path_buf());
    let mut prefix = absolute
        .to_string_lossy()
        .trim_start_matches('/')
        .to_string();
    if !prefix.ends_with('/') {
        prefix.push('/');
    }
    prefix
}

/// `response` with storage paths cut from its text fields.
pub(crate) fn hide_storage_paths(response: Response, prefix: String) -> Response {
    let Response::Query(query) = response else {
        return response;
    };
    let command_tag = query.command_tag.clone();
    let rows = query.data_rows.map(move |row| {
        row.map(|mut row: DataRow| {
            row.data = rewrite_fields(&row.data, row.field_count, &prefix);
            row
        })
    });
    let mut hidden = QueryResponse::new(query.row_schema, rows);
    hidden.set_command_tag(&command_tag);
    Response::Query(hidden)
}

fn rewrite_fields(data: &[u8], fields: i16, prefix: &str) -> BytesMut {
    let mut out = BytesMut::with_capacity(data.len());
    let mut at = 0usize;
    for _ in 0..fields {
        let Some(length) = data.get(at..at + 4) else {
            break;
        };
        let length = i32::from_be_bytes([length[0], length[1], length[2], length[3]]);
        at += 4;
        if length < 0 {
            out.put_i32(length);
            continue;
        }
        let end = (at + length as usize).min(data.len());
        let value = &data[at..end];
        at = end;
        match std::str::from_utf8(value) {
            Ok(text) if text.contains(prefix) => {
                let cut = cut_paths(text, prefix);
                out.put_i32(cut.len() as i32);
                out.put_slice(cut.as_bytes());
            }
            _ => {
                out.put_i32(value.len() as i32);
                out.put_slice(value);
            }
        }
    }
    out
}

/// `text` with every path that starts with `prefix` (and any `file://` or
/// `/` before it) reduced to its file name.
fn cut_paths(text: &str, prefix: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(found) = rest.find(prefix) {
        let mut start = found;
        let before = &rest[..found];
        if before.ends_with("file:///") {
            start -= "file:///".len();
        } else if before.ends_with('/') {
            start -= 1;
        }
        out.push_str(&rest[..start]);
        let path = &rest[found..];
        let end = path
            .find(|c: char| c.is_whitespace() || matches!(c, ',' | ']' | '}' | ')' | '"' | '\''))
            .unwrap_or(path.len());
        let file = &path[..end];
        out.push_str(file.rsplit('/').next().unwrap_or(file));
        rest = &path[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_keep_file_names_and_lose_directories() {
        let text = "DataSourceExec: file_groups={1 group: [[tmp/d/tables/ab-12/part-1.parquet, \
                    tmp/d/tables/ab-12/part-2.parquet]]}, location=file:///tmp/d/tables/x/";
        assert_eq!(
            cut_paths(text, "tmp/d/"),
            "DataSourceExec: file_groups={1 group: [[part-1.parquet, part-2.parquet]]}, location="
        );
        assert_eq!(cut_paths("no paths here", "tmp/d/"), "no paths here");
    }
}
