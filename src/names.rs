//! Names every floor shares: the database and its reserved schemas, and
//! how Postgres folds identifiers.

use datafusion::sql::sqlparser::ast::Ident;

/// The one database a server serves; clients see it as `fstore`.
pub const DATABASE_NAME: &str = "fstore";
/// The schema unqualified names resolve to.
pub const DEFAULT_SCHEMA: &str = "public";
/// The online projection of every online feature group and view.
pub const ONLINE_SCHEMA: &str = "online";
/// fstore's catalog views (`fs.feature_groups`, `fs.metrics`, …).
pub const FS_SCHEMA: &str = "fs";

/// Postgres folds unquoted identifiers to lower case.
pub fn normalize_ident(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}
