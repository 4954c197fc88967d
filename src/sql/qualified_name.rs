//! Relation names as (schema, name), from SQL's dotted names and
//! DataFusion's table references, the schema defaulted as Postgres does.

use datafusion::common::TableReference;
use datafusion::sql::sqlparser::ast::ObjectName;

use crate::error::{Error, Result};
use crate::names::{DATABASE_NAME, DEFAULT_SCHEMA, normalize_ident};

/// A relation name as (schema, name), defaulting the schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualifiedName {
    pub schema: String,
    pub name: String,
}

impl std::fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.schema == DEFAULT_SCHEMA {
            write!(f, "{}", self.name)
        } else {
            write!(f, "{}.{}", self.schema, self.name)
        }
    }
}

impl QualifiedName {
    pub fn from_object_name(name: &ObjectName) -> Result<Self> {
        let parts: Vec<String> = name
            .0
            .iter()
            .map(|part| match part.as_ident() {
                Some(ident) => Ok(normalize_ident(ident)),
                None => Err(Error::syntax(format!("\"{part}\" is not a name"), None)),
            })
            .collect::<Result<_>>()?;
        Self::from_parts(&parts, &name.to_string())
    }

    pub fn from_table_reference(reference: &TableReference) -> Result<Self> {
        let parts: Vec<String> = match reference {
            TableReference::Bare { table } => vec![table.to_string()],
            TableReference::Partial { schema, table } => {
                vec![schema.to_string(), table.to_string()]
            }
            TableReference::Full {
                catalog,
                schema,
                table,
            } => vec![catalog.to_string(), schema.to_string(), table.to_string()],
        };
        Self::from_parts(&parts, &reference.to_string())
    }

    fn from_parts(parts: &[String], display: &str) -> Result<Self> {
        match parts {
            [name] => Ok(QualifiedName {
                schema: DEFAULT_SCHEMA.into(),
                name: name.clone(),
            }),
            [schema, name] => Ok(QualifiedName {
                schema: schema.clone(),
                name: name.clone(),
            }),
            [database, schema, name] if database == DATABASE_NAME => Ok(QualifiedName {
                schema: schema.clone(),
                name: name.clone(),
            }),
            [_, _, _] => Err(Error::FeatureNotSupported(format!(
                "cross-database references are not implemented: {display}"
            ))),
            _ => Err(Error::syntax(
                format!("improper qualified name (too many dotted names): {display}"),
                None,
            )),
        }
    }
}
