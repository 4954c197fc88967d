//! What an AS OF join compares: the match direction, the join kind, and
//! the time types and their common integer form.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::physical_expr::PhysicalExpr;

/// Which side of the left time a match may lie on, as written in SQL with
/// the left time first (`l.t >= r.t` is [`AsofMatch::GreaterEq`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub enum AsofMatch {
    GreaterEq,
    Greater,
    LessEq,
    Less,
}

impl AsofMatch {
    /// The same condition with the operands swapped (`r.t <= l.t` ⇔ `l.t >= r.t`).
    pub fn flipped(self) -> Self {
        match self {
            AsofMatch::GreaterEq => AsofMatch::LessEq,
            AsofMatch::Greater => AsofMatch::Less,
            AsofMatch::LessEq => AsofMatch::GreaterEq,
            AsofMatch::Less => AsofMatch::Greater,
        }
    }

    /// True when matches lie at or before the left time.
    pub fn looks_back(self) -> bool {
        matches!(self, AsofMatch::GreaterEq | AsofMatch::Greater)
    }
}

impl fmt::Display for AsofMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AsofMatch::GreaterEq => ">=",
            AsofMatch::Greater => ">",
            AsofMatch::LessEq => "<=",
            AsofMatch::Less => "<",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd)]
pub enum AsofJoinType {
    Inner,
    Left,
}

impl fmt::Display for AsofJoinType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AsofJoinType::Inner => "Inner",
            AsofJoinType::Left => "Left",
        })
    }
}

pub type JoinKeyPair = (Arc<dyn PhysicalExpr>, Arc<dyn PhysicalExpr>);

/// The time types an AS OF join compares: TIMESTAMP, DATE, integers.
pub fn is_time_type(data_type: &DataType) -> bool {
    data_type.is_integer()
        || matches!(
            data_type,
            DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
        )
}

/// A time column as i64 in its own unit: the timestamp's unit, days for
/// DATE, milliseconds for Date64, the value for integers.
pub(super) fn time_values(array: &ArrayRef) -> Result<ArrayRef> {
    let array = match array.data_type() {
        DataType::Date32 => cast(array, &DataType::Int32)?,
        _ => array.clone(),
    };
    Ok(cast(&array, &DataType::Int64)?)
}
