//! What `online.<name>` serves: one feature group's latest rows, or a
//! feature view's vectors assembled from several groups' latest rows.
//!
//! Both answer [`OnlineSource::lookup`] (rows for encoded serving keys, in
//! the order asked, inside one LMDB read transaction) and
//! [`OnlineSource::scan`] (every row). Rows are handed to a visitor as
//! column values in the stored encoding, borrowed from LMDB's memory map:
//! the wire fast path encodes them straight into DataRows, the DataFusion
//! table builds Arrow arrays from them.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, SchemaRef};

use super::codec::{self, FORMAT_V1};
use super::row::{RowLayout, RowView};
use super::{OnlineStore, RowsDb};
use crate::error::Result;

/// One online feature-group version, ready for lookups.
#[derive(Debug, Clone)]
pub struct OnlineGroup {
    store: Arc<OnlineStore>,
    db: RowsDb,
    pub storage_id: String,
    pub schema: SchemaRef,
    layout: RowLayout,
    /// Primary-key columns, in key order.
    pub key_columns: Vec<usize>,
    pub ttl_seconds: Option<i64>,
}

impl OnlineGroup {
    pub fn new(
        store: Arc<OnlineStore>,
        storage_id: String,
        schema: SchemaRef,
        key_columns: Vec<usize>,
        ttl_seconds: Option<i64>,
    ) -> Result<Self> {
        let db = store.rows_db(&storage_id)?;
        Ok(OnlineGroup {
            store,
            db,
            storage_id,
            layout: RowLayout::new(&schema),
            schema,
            key_columns,
            ttl_seconds,
        })
    }

    pub fn key_type(&self, position: usize) -> &DataType {
        self.schema.field(self.key_columns[position]).data_type()
    }

    /// Rows with an event time before this are expired (TTL).
    fn ttl_cutoff(&self, now_micros: i64) -> Option<i64> {
        self.ttl_seconds
            .map(|ttl| now_micros.saturating_sub(ttl.saturating_mul(1_000_000)))
    }

    fn same_store(&self, other: &OnlineGroup) -> bool {
        Arc::ptr_eq(&self.store, &other.store)
    }
}

/// A feature group joined into a feature view's vector.
#[derive(Debug, Clone)]
pub struct VectorJoin {
    pub group: OnlineGroup,
    /// For each of the group's key columns: (relation, column) whose value
    /// it equals; relation 0 is the root, relation `i` the `i`-th join.
    pub key_from: Vec<(usize, usize)>,
    /// A forward-looking AS OF condition (`root time <= joined time`) that
    /// no row can meet at +infinity: the features are always NULL.
    pub never_matches: bool,
}

/// How a feature view's vector is assembled from online rows.
#[derive(Debug, Clone)]
pub struct VectorPlan {
    pub root: OnlineGroup,
    pub joins: Vec<VectorJoin>,
    /// Output columns as (relation, column).
    pub outputs: Vec<(usize, usize)>,
    pub schema: SchemaRef,
    /// Output positions of the serving key, in the root's key order.
    pub key_outputs: Vec<usize>,
}

#[derive(Debug, Clone)]
pub enum OnlineSource {
    Group(OnlineGroup),
    Vector(Arc<VectorPlan>),
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

impl OnlineSource {
    pub fn schema(&self) -> SchemaRef {
        match self {
            OnlineSource::Group(group) => group.schema.clone(),
            OnlineSource::Vector(plan) => plan.schema.clone(),
        }
    }

    /// Output positions of the serving key, in key order.
    pub fn key_outputs(&self) -> Vec<usize> {
        match self {
            OnlineSource::Group(group) => group.key_columns.clone(),
            OnlineSource::Vector(plan) => plan.key_outputs.clone(),
        }
    }

    /// Refuses to read a group whose online rows are unavailable.
    fn check_available(&self) -> Result<()> {
        let root = self.root();
        root.store.check_available(&root.storage_id)?;
        if let OnlineSource::Vector(plan) = self {
            for join in &plan.joins {
                join.group.store.check_available(&join.group.storage_id)?;
            }
        }
        Ok(())
    }

    fn root(&self) -> &OnlineGroup {
        match self {
            OnlineSource::Group(group) => group,
            OnlineSource::Vector(plan) => &plan.root,
        }
    }

    /// Calls `visit` with the row of each encoded key that has one (not
    /// expired), in the order of `keys`, all read from one snapshot.
    pub fn lookup(
        &self,
        keys: &[Vec<u8>],
        mut visit: impl FnMut(&[Option<&[u8]>]) -> Result<()>,
    ) -> Result<()> {
        self.check_available()?;
        let root = self.root();
        let rtxn = root.store.env.read_txn()?;
        let mut assembler = Assembler::new(self, now_micros());
        if keys.len() <= 2 {
            for key in keys {
                if let Some(bytes) = root.db.get(&rtxn, key)? {
                    assembler.emit(&rtxn, bytes, &mut visit)?;
                }
            }
            return Ok(());
        }
        // Many keys: search the B-tree in key order, where consecutive
        // searches share the pages near the root and the leaves, then
        // answer in the order asked.
        let mut order: Vec<usize> = (0..keys.len()).collect();
        order.sort_unstable_by(|&a, &b| keys[a].cmp(&keys[b]));
        let mut found: Vec<Option<&[u8]>> = vec![None; keys.len()];
        for index in order {
            found[index] = root.db.get(&rtxn, &keys[index])?;
        }
        for bytes in found.into_iter().flatten() {
            assembler.emit(&rtxn, bytes, &mut visit)?;
        }
        Ok(())
    }

    /// Calls `visit` with every row (not expired), in serving-key order,
    /// all read from one snapshot.
    pub fn scan(&self, mut visit: impl FnMut(&[Option<&[u8]>]) -> Result<()>) -> Result<()> {
        self.check_available()?;
        let root = self.root();
        let rtxn = root.store.env.read_txn()?;
        let mut assembler = Assembler::new(self, now_micros());
        for item in root.db.iter(&rtxn)? {
            let (_, bytes) = item?;
            assembler.emit(&rtxn, bytes, &mut visit)?;
        }
        Ok(())
    }
}

/// Per-call state of a lookup: TTL cutoffs and reused buffers.
struct Assembler<'s> {
    source: &'s OnlineSource,
    root_cutoff: Option<i64>,
    join_cutoffs: Vec<Option<i64>>,
    key: Vec<u8>,
}

impl<'s> Assembler<'s> {
    fn new(source: &'s OnlineSource, now: i64) -> Self {
        let join_cutoffs = match source {
            OnlineSource::Group(_) => Vec::new(),
            OnlineSource::Vector(plan) => {
                plan.joins.iter().map(|j| j.group.ttl_cutoff(now)).collect()
            }
        };
        Assembler {
            source,
            root_cutoff: source.root().ttl_cutoff(now),
            join_cutoffs,
            key: Vec::with_capacity(64),
        }
    }

    fn emit<'t>(
        &mut self,
        rtxn: &'t heed::RoTxn<'_>,
        root_bytes: &'t [u8],
        visit: &mut impl FnMut(&[Option<&[u8]>]) -> Result<()>,
    ) -> Result<()> {
        let root = self.source.root();
        let mut root_view = RowView::default();
        root.layout.split_into(root_bytes, &mut root_view)?;
        if self.root_cutoff.is_some_and(|c| root_view.event_time < c) {
            return Ok(());
        }
        let plan = match self.source {
            OnlineSource::Group(_) => return visit(root_view.values()),
            OnlineSource::Vector(plan) => plan,
        };
        let mut rows: Vec<Option<RowView<'t>>> = Vec::with_capacity(plan.joins.len() + 1);
        rows.push(Some(root_view));
        for (index, join) in plan.joins.iter().enumerate() {
            let cutoff = self.join_cutoffs[index];
            let row = if join.never_matches {
                None
            } else {
                self.joined_row(rtxn, join, &rows, cutoff)?
            };
            rows.push(row);
        }
        let values: Vec<Option<&[u8]>> = plan
            .outputs
            .iter()
            .map(|&(relation, column)| rows[relation].as_ref().and_then(|r| r.value(column)))
            .collect();
        visit(&values)
    }

    fn joined_row<'t>(
        &mut self,
        rtxn: &'t heed::RoTxn<'_>,
        join: &VectorJoin,
        rows: &[Option<RowView<'t>>],
        cutoff: Option<i64>,
    ) -> Result<Option<RowView<'t>>> {
        debug_assert!(join.group.same_store(self.source.root()));
        self.key.clear();
        self.key.push(FORMAT_V1);
        for (position, &(relation, column)) in join.key_from.iter().enumerate() {
            let Some(value) = rows[relation].as_ref().and_then(|r| r.value(column)) else {
                return Ok(None);
            };
            let source_type = self.relation_type(relation, column);
            let Some(part) = codec::key_part_from_value(source_type, value) else {
                return Ok(None);
            };
            if !codec::encode_key_part(&mut self.key, join.group.key_type(position), &part) {
                return Ok(None);
            }
        }
        let Some(bytes) = join.group.db.get(rtxn, &self.key)? else {
            return Ok(None);
        };
        let view = join.group.layout.split(bytes)?;
        if cutoff.is_some_and(|c| view.event_time < c) {
            return Ok(None);
        }
        Ok(Some(view))
    }

    fn relation_type(&self, relation: usize, column: usize) -> &'s DataType {
        let group = match self.source {
            OnlineSource::Vector(plan) if relation > 0 => &plan.joins[relation - 1].group,
            other => other.root(),
        };
        group.schema.field(column).data_type()
    }
}
