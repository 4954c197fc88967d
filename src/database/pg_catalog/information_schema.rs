//! `information_schema` as PostgreSQL answers it: DataFusion's provider for
//! most tables, with `columns` rebuilt in PostgreSQL's terms (`data_type`
//! `bigint`, `udt_name` `int8`, `ordinal_position` from 1, precision and
//! scale) — dbt's `get_columns_in_relation` and BI tools read these — and
//! every listing without the version aliases (`name_v1`) of fstore's
//! versioned objects, which appear once, under their name.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Int32Builder, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::information_schema::InformationSchemaProvider;
use datafusion::catalog::{CatalogProviderList, SchemaProvider, Session, TableProvider};
use datafusion::common::Result;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::{Expr, TableType};
use datafusion::physical_plan::ExecutionPlan;

use super::columns::{keep_relations, scan_all};
use super::facts::CatalogFacts;

pub const INFORMATION_SCHEMA: &str = "information_schema";

/// The `information_schema` schema, registered in fstore's catalog (with
/// DataFusion's own turned off, which would shadow it).
#[derive(Debug)]
pub struct InformationSchemaOverlay {
    inner: Arc<InformationSchemaProvider>,
    catalog_list: Arc<dyn CatalogProviderList>,
    catalog: String,
    facts: Arc<CatalogFacts>,
}

impl InformationSchemaOverlay {
    pub fn new(
        catalog_list: Arc<dyn CatalogProviderList>,
        catalog: &str,
        facts: Arc<CatalogFacts>,
    ) -> Self {
        InformationSchemaOverlay {
            inner: Arc::new(InformationSchemaProvider::new(catalog_list.clone())),
            catalog_list,
            catalog: catalog.to_string(),
            facts,
        }
    }
}

#[async_trait]
impl SchemaProvider for InformationSchemaOverlay {
    fn table_names(&self) -> Vec<String> {
        self.inner.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let listing = match name.to_ascii_lowercase().as_str() {
            "columns" => Listing::Columns,
            "tables" => Listing::Filtered("table_schema", "table_name"),
            "views" => Listing::Filtered("table_schema", "table_name"),
            _ => return self.inner.table(name).await,
        };
        let Some(inner) = self.inner.table(name).await? else {
            return Ok(None);
        };
        Ok(Some(Arc::new(ListingTable {
            schema: match listing {
                Listing::Columns => columns_schema(),
                Listing::Filtered(..) => inner.schema(),
            },
            inner,
            catalog_list: self.catalog_list.clone(),
            catalog: self.catalog.clone(),
            facts: self.facts.clone(),
            listing,
        })))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.inner.table_exist(name)
    }
}

#[derive(Debug, Clone, Copy)]
enum Listing {
    Columns,
    /// DataFusion's rows without version aliases, named by these columns.
    Filtered(&'static str, &'static str),
}

#[derive(Debug)]
struct ListingTable {
    inner: Arc<dyn TableProvider>,
    schema: SchemaRef,
    catalog_list: Arc<dyn CatalogProviderList>,
    catalog: String,
    facts: Arc<CatalogFacts>,
    listing: Listing,
}

/// PostgreSQL's `information_schema.columns`, the columns clients read
/// (its other columns are about features fstore does not have).
fn columns_schema() -> SchemaRef {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    let number = |name: &str| Field::new(name, DataType::Int32, true);
    Arc::new(Schema::new(vec![
        text("table_catalog", false),
        text("table_schema", false),
        text("table_name", false),
        text("column_name", false),
        Field::new("ordinal_position", DataType::Int32, false),
        text("column_default", true),
        text("is_nullable", false),
        text("data_type", false),
        number("character_maximum_length"),
        number("character_octet_length"),
        number("numeric_precision"),
        number("numeric_precision_radix"),
        number("numeric_scale"),
        number("datetime_precision"),
        text("interval_type", true),
        number("interval_precision"),
        text("collation_name", true),
        text("domain_name", true),
        text("udt_catalog", false),
        text("udt_schema", false),
        text("udt_name", false),
        text("dtd_identifier", false),
        text("is_self_referencing", false),
        text("is_identity", false),
        text("identity_generation", true),
        text("is_generated", false),
        text("generation_expression", true),
        text("is_updatable", false),
    ]))
}

/// A column's type in `information_schema` terms: `data_type`, `udt_name`,
/// numeric precision, radix and scale, datetime precision.
struct ColumnType {
    data_type: String,
    udt_name: String,
    numeric: Option<(i32, i32, Option<i32>)>,
    datetime_precision: Option<i32>,
}

fn column_type(data_type: &DataType) -> ColumnType {
    let (data_type_name, udt_name) = match arrow_pg::datatypes::into_pg_type(data_type) {
        Ok(pg) => {
            let udt = match pg.name() {
                "varchar" => "text".to_string(),
                "_varchar" => "_text".to_string(),
                other => other.to_string(),
            };
            let sql = crate::pg_types::sql_type_name(&pg);
            let sql = if udt.starts_with('_') {
                "ARRAY".to_string()
            } else {
                sql
            };
            (sql, udt)
        }
        Err(_) => ("USER-DEFINED".to_string(), data_type.to_string()),
    };
    let numeric = match data_type {
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => Some((16, 2, Some(0))),
        DataType::Int32 | DataType::UInt16 => Some((32, 2, Some(0))),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => Some((64, 2, Some(0))),
        DataType::Float16 | DataType::Float32 => Some((24, 2, None)),
        DataType::Float64 => Some((53, 2, None)),
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => Some((i32::from(*p), 10, Some(i32::from(*s)))),
        _ => None,
    };
    let datetime_precision = match data_type {
        DataType::Date32 | DataType::Date64 => Some(0),
        DataType::Timestamp(..) | DataType::Time32(_) | DataType::Time64(_) => Some(6),
        DataType::Interval(_) | DataType::Duration(_) => Some(6),
        _ => None,
    };
    ColumnType {
        data_type: data_type_name,
        udt_name,
        numeric,
        datetime_precision,
    }
}

impl ListingTable {
    async fn columns(&self) -> Result<RecordBatch> {
        let schema = self.schema.clone();
        let mut text: Vec<StringBuilder> = (0..schema.fields().len())
            .map(|_| StringBuilder::new())
            .collect();
        let mut numbers: Vec<Int32Builder> = (0..schema.fields().len())
            .map(|_| Int32Builder::new())
            .collect();
        let index = |name: &str| schema.index_of(name).unwrap_or_default();
        let Some(catalog) = self.catalog_list.catalog(&self.catalog) else {
            return Ok(RecordBatch::new_empty(schema));
        };
        let aliases = self.facts.version_aliases();
        let mut schemas = catalog.schema_names();
        schemas.sort();
        for schema_name in schemas {
            let Some(provider) = catalog.schema(&schema_name) else {
                continue;
            };
            let mut tables = provider.table_names();
            tables.sort();
            for table_name in tables {
                if aliases.contains(&(schema_name.clone(), table_name.clone())) {
                    continue;
                }
                let Ok(Some(table)) = provider.table(&table_name).await else {
                    continue;
                };
                for (position, field) in table.schema().fields().iter().enumerate() {
                    let column = column_type(field.data_type());
                    let texts: [(&str, Option<String>); 19] = [
                        ("table_catalog", Some(self.catalog.clone())),
                        ("table_schema", Some(schema_name.clone())),
                        ("table_name", Some(table_name.clone())),
                        ("column_name", Some(field.name().clone())),
                        ("column_default", None),
                        (
                            "is_nullable",
                            Some(if field.is_nullable() { "YES" } else { "NO" }.into()),
                        ),
                        ("data_type", Some(column.data_type)),
                        ("interval_type", None),
                        ("collation_name", None),
                        ("domain_name", None),
                        ("udt_catalog", Some(self.catalog.clone())),
                        ("udt_schema", Some("pg_catalog".into())),
                        ("udt_name", Some(column.udt_name)),
                        ("dtd_identifier", Some((position + 1).to_string())),
                        ("is_self_referencing", Some("NO".into())),
                        ("is_identity", Some("NO".into())),
                        ("identity_generation", None),
                        ("is_generated", Some("NEVER".into())),
                        ("generation_expression", None),
                    ];
                    for (name, value) in texts {
                        text[index(name)].append_option(value);
                    }
                    text[index("is_updatable")].append_value(
                        if table.table_type() == TableType::Base {
                            "YES"
                        } else {
                            "NO"
                        },
                    );
                    let (precision, radix, scale) = match column.numeric {
                        Some((p, r, s)) => (Some(p), Some(r), s),
                        None => (None, None, None),
                    };
                    let number_values: [(&str, Option<i32>); 8] = [
                        ("ordinal_position", Some(position as i32 + 1)),
                        ("character_maximum_length", None),
                        ("character_octet_length", None),
                        ("numeric_precision", precision),
                        ("numeric_precision_radix", radix),
                        ("numeric_scale", scale),
                        ("datetime_precision", column.datetime_precision),
                        ("interval_precision", None),
                    ];
                    for (name, value) in number_values {
                        numbers[index(name)].append_option(value);
                    }
                }
            }
        }
        let columns = schema
            .fields()
            .iter()
            .enumerate()
            .map(|(i, field)| -> datafusion::arrow::array::ArrayRef {
                match field.data_type() {
                    DataType::Int32 => Arc::new(numbers[i].finish()),
                    _ => Arc::new(text[i].finish()),
                }
            })
            .collect();
        Ok(RecordBatch::try_new(schema, columns)?)
    }

    async fn filtered(
        &self,
        state: &dyn Session,
        schema_column: &str,
        name_column: &str,
    ) -> Result<Vec<RecordBatch>> {
        let aliases = self.facts.version_aliases();
        scan_all(&self.inner, state)
            .await?
            .iter()
            .map(|batch| {
                keep_relations(batch, schema_column, name_column, |relation| {
                    !aliases.contains(relation)
                })
            })
            .collect()
    }
}

#[async_trait]
impl TableProvider for ListingTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let batches = match self.listing {
            Listing::Columns => vec![self.columns().await?],
            Listing::Filtered(schema_column, name_column) => {
                self.filtered(state, schema_column, name_column).await?
            }
        };
        MemTable::try_new(self.schema(), vec![batches])?
            .scan(state, projection, filters, limit)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::TimeUnit;

    #[test]
    fn column_types_are_named_as_postgres_names_them() {
        let named = |t: DataType| {
            let c = column_type(&t);
            (c.data_type, c.udt_name, c.numeric, c.datetime_precision)
        };
        assert_eq!(
            named(DataType::Int64),
            ("bigint".into(), "int8".into(), Some((64, 2, Some(0))), None)
        );
        assert_eq!(named(DataType::Utf8View).0, "text");
        assert_eq!(named(DataType::Utf8View).1, "text");
        assert_eq!(
            named(DataType::Float64),
            (
                "double precision".into(),
                "float8".into(),
                Some((53, 2, None)),
                None
            )
        );
        assert_eq!(
            named(DataType::Timestamp(TimeUnit::Microsecond, None)),
            (
                "timestamp without time zone".into(),
                "timestamp".into(),
                None,
                Some(6)
            )
        );
        assert_eq!(
            named(DataType::Decimal128(10, 2)),
            (
                "numeric".into(),
                "numeric".into(),
                Some((10, 10, Some(2))),
                None
            )
        );
        let list = DataType::List(Arc::new(Field::new("item", DataType::Int64, true)));
        assert_eq!(named(list).0, "ARRAY");
    }
}
