//! Planning AS OF joins: SQL → [`AsofJoinNode`] → [`AsofJoinExec`]
//! (relation planner, logical node, extension planner, filter push-down).
//!
//! [`AsofJoinExec`]: crate::exec::asof_join::AsofJoinExec

mod node;
mod physical;
mod pushdown;
mod relation;

pub use node::AsofJoinNode;
pub use physical::{AsofExtensionPlanner, FstoreQueryPlanner};
pub use pushdown::AsofFilterPushdown;
pub use relation::{AsofRelationPlanner, write_sequence_column};
