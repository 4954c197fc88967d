//! Function signatures and definitions as psql's `\df` and `\sf` show them
//! (`pg_get_function_arguments`, `pg_get_function_result`,
//! `pg_get_functiondef`), from the static `pg_proc`, read once: fstore's
//! functions are built into the server, so every definition is an internal
//! one, as PostgreSQL shows its own built-ins.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int32Type};
use datafusion::common::Result;
use datafusion::logical_expr::{ScalarUDF, TypeSignature};
use datafusion::prelude::SessionContext;

use super::columns::{text_by_oid, utf8_column};
use crate::pg_types::sql_type_name;

/// What `pg_proc` says of one function.
#[derive(Debug, Clone)]
pub(super) struct Routine {
    name: String,
    arguments: String,
    result: String,
    language: &'static str,
    source: String,
    /// `IMMUTABLE PARALLEL SAFE STRICT`, as `pg_get_functiondef` prints them.
    attributes: String,
}

impl Routine {
    fn definition(&self) -> String {
        let mut text = format!(
            "CREATE OR REPLACE FUNCTION pg_catalog.{}({})\n RETURNS {}\n LANGUAGE {}\n",
            self.name, self.arguments, self.result, self.language
        );
        if !self.attributes.is_empty() {
            text.push_str(&format!(" {}\n", self.attributes));
        }
        text.push_str(&format!("AS $function${}$function$\n", self.source));
        text
    }
}

/// Function OID → what `pg_proc` says of it, filled once at start-up.
pub(super) type Routines = Arc<OnceLock<HashMap<i32, Routine>>>;

/// Reads `pg_proc` (the static table never changes).
pub(super) async fn load(ctx: &SessionContext) -> Result<HashMap<i32, Routine>> {
    let batches = ctx
        .sql(
            "SELECT oid, proname, proargtypes, prorettype, proretset, prolang, prosrc, \
             provolatile, proparallel, proisstrict FROM pg_catalog.pg_proc",
        )
        .await?
        .collect()
        .await?;
    let mut routines = HashMap::new();
    for batch in &batches {
        let int32 = |index: usize| cast(batch.column(index), &DataType::Int32);
        let oids = int32(0)?;
        let oids = oids.as_primitive::<Int32Type>();
        let names = utf8_column(batch, "proname")?;
        let arguments = utf8_column(batch, "proargtypes")?;
        let results = int32(3)?;
        let results = results.as_primitive::<Int32Type>();
        let sets = cast(batch.column(4), &DataType::Boolean)?;
        let sets = sets.as_boolean();
        let languages = int32(5)?;
        let languages = languages.as_primitive::<Int32Type>();
        let sources = utf8_column(batch, "prosrc")?;
        let volatility = utf8_column(batch, "provolatile")?;
        let parallel = utf8_column(batch, "proparallel")?;
        let strict = cast(batch.column(9), &DataType::Boolean)?;
        let strict = strict.as_boolean();
        for row in 0..batch.num_rows() {
            let type_name = |oid: u32| {
                pgwire::api::Type::from_oid(oid)
                    .map_or_else(|| oid.to_string(), |t| sql_type_name(&t))
            };
            let arguments = arguments[row]
                .trim_matches(['[', ']', '{', '}'])
                .split([' ', ','])
                .filter_map(|oid| oid.trim().parse::<u32>().ok())
                .map(type_name)
                .collect::<Vec<_>>()
                .join(", ");
            let result = type_name(results.value(row) as u32);
            let result = if sets.is_valid(row) && sets.value(row) {
                format!("SETOF {result}")
            } else {
                result
            };
            let mut attributes = Vec::new();
            match volatility[row].as_str() {
                "i" => attributes.push("IMMUTABLE"),
                "s" => attributes.push("STABLE"),
                _ => {}
            }
            match parallel[row].as_str() {
                "s" => attributes.push("PARALLEL SAFE"),
                "r" => attributes.push("PARALLEL RESTRICTED"),
                _ => {}
            }
            if strict.is_valid(row) && strict.value(row) {
                attributes.push("STRICT");
            }
            routines.insert(
                oids.value(row),
                Routine {
                    name: names[row].clone(),
                    arguments,
                    result,
                    language: match languages.value(row) {
                        13 => "c",
                        14 => "sql",
                        _ => "internal",
                    },
                    source: sources[row].clone(),
                    attributes: attributes.join(" "),
                },
            );
        }
    }
    Ok(routines)
}

pub(super) fn functions(routines: &Routines) -> Vec<ScalarUDF> {
    let one = || vec![TypeSignature::Any(1)];
    let routine =
        |routines: &Routines, oid: i32| -> Option<Routine> { routines.get()?.get(&oid).cloned() };
    let f = routines.clone();
    let arguments = text_by_oid("pg_get_function_arguments", one(), move |oid, _| {
        routine(&f, oid).map(|r| r.arguments)
    });
    let f = routines.clone();
    let identity = text_by_oid(
        "pg_get_function_identity_arguments",
        one(),
        move |oid, _| routine(&f, oid).map(|r| r.arguments),
    );
    let f = routines.clone();
    let result = text_by_oid("pg_get_function_result", one(), move |oid, _| {
        routine(&f, oid).map(|r| r.result)
    });
    let f = routines.clone();
    let definition = text_by_oid("pg_get_functiondef", one(), move |oid, _| {
        routine(&f, oid).map(|r| r.definition())
    });
    vec![arguments, identity, result, definition]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_definition_reads_as_postgresql_prints_its_built_ins() {
        let now = Routine {
            name: "now".into(),
            arguments: String::new(),
            result: "timestamp with time zone".into(),
            language: "internal",
            source: "now".into(),
            attributes: "STABLE PARALLEL SAFE STRICT".into(),
        };
        assert_eq!(
            now.definition(),
            "CREATE OR REPLACE FUNCTION pg_catalog.now()\n RETURNS timestamp with time zone\n LANGUAGE internal\n STABLE PARALLEL SAFE STRICT\nAS $function$now$function$\n"
        );
    }
}
