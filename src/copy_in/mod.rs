//! `COPY … FROM STDIN` into batches: the client's CopyData in text, CSV or
//! binary becomes record batches of the target's schema, handed to the one
//! ingestion path ([`crate::offline::Ingest`]).

mod batch;
mod binary;
mod format;
mod session;
mod text;

pub use format::CopyFormat;
pub use session::{CopyIn, start};
