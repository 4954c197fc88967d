//! The error type every fstore module returns.
//!
//! Variants name what went wrong in the user's terms; `server::errors` is the
//! one place that turns them (and errors coming back from DataFusion) into
//! Postgres SQLSTATEs.

use datafusion::error::DataFusionError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Which kind of limit a statement ran into (each has its SQLSTATE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// 54000: a value too large for where it must be stored.
    ProgramLimit,
    /// 54001: a statement too complex (expression depth).
    StatementTooComplex,
    /// 53200: more memory than the statement may use.
    OutOfMemory,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `position` is a 1-based character offset into the client's query text.
    #[error("{message}")]
    Syntax {
        message: String,
        position: Option<usize>,
    },
    #[error("relation \"{0}\" does not exist")]
    UndefinedTable(String),
    #[error("relation \"{0}\" already exists")]
    DuplicateTable(String),
    #[error("schema \"{0}\" does not exist")]
    UndefinedSchema(String),
    #[error("schema \"{0}\" already exists")]
    DuplicateSchema(String),
    #[error("\"{name}\" is not a {expected}")]
    WrongObjectType {
        name: String,
        expected: &'static str,
        hint: Option<String>,
    },
    #[error("cannot drop {object} because other objects depend on it")]
    DependentObjects {
        object: String,
        detail: String,
        /// What to do instead, as PostgreSQL's HINT.
        hint: String,
    },
    #[error(
        "null value in column \"{column}\" of relation \"{table}\" violates not-null constraint"
    )]
    NotNullViolation { table: String, column: String },
    #[error("{kind} \"{name}\" does not exist")]
    UndefinedObject { kind: &'static str, name: String },
    #[error("{kind} \"{name}\" already exists")]
    DuplicateObject { kind: &'static str, name: String },
    #[error("column \"{0}\" specified more than once")]
    DuplicateColumn(String),
    #[error("column \"{0}\" does not exist")]
    UndefinedColumn(String),
    #[error("{0}")]
    InvalidDefinition(String),
    #[error("{0}")]
    DatatypeMismatch(String),
    /// A bind parameter whose declared type cannot compare with its column.
    #[error("{message}")]
    ParameterType { message: String, hint: String },
    /// A value in text form that does not parse as its type (22P02).
    #[error("{0}")]
    InvalidTextRepresentation(String),
    /// 22003: a value outside its type's range (`100000::int2`).
    #[error("{0}")]
    NumericOutOfRange(String),
    /// A binary-format bind parameter of the wrong shape (22P03).
    #[error("{0}")]
    InvalidBinaryFormat(String),
    /// A malformed input row (COPY); `line` counts from 1.
    #[error("{message}")]
    BadCopyData {
        message: String,
        line: u64,
        column: Option<String>,
    },
    /// 22P04: a COPY stream not in the format it claims (binary COPY's
    /// signature, field counts and sizes).
    #[error("{message}")]
    BadCopyFileFormat {
        message: String,
        line: u64,
        column: Option<String>,
    },
    #[error("{0}")]
    FeatureNotSupported(String),
    /// 55000: a feature group's online store cannot serve or take writes
    /// (its catch-up from the offline log failed); the reason says why.
    #[error("the online store of feature group \"{group}\" is unavailable: {reason}")]
    OnlineUnavailable { group: String, reason: String },
    /// 53100: not enough free disk for a write, found before its commit.
    #[error("{0}")]
    DiskFull(String),
    /// Past one of fstore's limits; the message names the limit.
    #[error("{message}")]
    LimitExceeded { limit: Limit, message: String },
    #[error("{message}")]
    InsufficientPrivilege { message: String, hint: String },
    #[error("{0}")]
    InvalidParameter(String),
    /// 25P01: a savepoint command outside a transaction block.
    #[error("{0}")]
    NoActiveTransaction(String),
    /// 57014: a statement stopped by its session's cancel or its
    /// `statement_timeout`, before it committed anything.
    #[error("canceling statement due to {}", if *.timed_out { "statement timeout" } else { "user request" })]
    QueryCanceled { timed_out: bool },
    /// 26000: `DEALLOCATE` of a prepared statement the session does not
    /// have.
    #[error("prepared statement \"{0}\" does not exist")]
    UndefinedPreparedStatement(String),
    /// 25001: a statement that cannot run inside a transaction block.
    #[error("{0} cannot run inside a transaction block")]
    ActiveTransaction(&'static str),
    /// 25P02: a statement in a transaction block that already failed.
    #[error("current transaction is aborted, commands ignored until end of transaction block")]
    InFailedTransaction,
    /// 42704
    #[error("unrecognized configuration parameter \"{0}\"")]
    UnrecognizedParameter(String),
    /// 3B001
    #[error("savepoint \"{0}\" does not exist")]
    UndefinedSavepoint(String),
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    #[error("offline store: {0}")]
    Delta(#[from] deltalake::DeltaTableError),
    #[error("catalog store: {0}")]
    Catalog(#[from] heed::Error),
    #[error("catalog entry is corrupt: {0}")]
    CatalogFormat(#[from] serde_json::Error),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A bug: an invariant of fstore's own code does not hold.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub fn syntax(message: impl Into<String>, position: Option<usize>) -> Self {
        Error::Syntax {
            message: message.into(),
            position,
        }
    }
}

/// Errors raised inside DataFusion callbacks (table scans, sinks) travel
/// through DataFusion and are unwrapped again in `server::errors`.
impl From<Error> for DataFusionError {
    fn from(error: Error) -> Self {
        match error {
            Error::DataFusion(inner) => inner,
            other => DataFusionError::External(Box::new(other)),
        }
    }
}
