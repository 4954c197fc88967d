//! Arrow types as Postgres names them, for messages and catalog views.

use datafusion::arrow::datatypes::DataType;

/// An Arrow type as Postgres spells it in messages (`bigint`, `text`).
pub fn postgres_type_name(data_type: &DataType) -> String {
    match arrow_pg::datatypes::into_pg_type(data_type) {
        Ok(pg) => sql_type_name(&pg),
        Err(_) => data_type.to_string(),
    }
}

/// A Postgres type as SQL and Postgres's messages spell it (`bigint`, not
/// `int8`).
pub fn sql_type_name(pg: &pgwire::api::Type) -> String {
    match pg.name() {
        "int8" => "bigint".into(),
        "int4" => "integer".into(),
        "int2" => "smallint".into(),
        "float8" => "double precision".into(),
        "float4" => "real".into(),
        "bool" => "boolean".into(),
        "timestamp" => "timestamp without time zone".into(),
        "timestamptz" => "timestamp with time zone".into(),
        "varchar" => "text".into(),
        "_int8" => "bigint[]".into(),
        "_int4" => "integer[]".into(),
        "_int2" => "smallint[]".into(),
        "_text" => "text[]".into(),
        other => other.to_string(),
    }
}
