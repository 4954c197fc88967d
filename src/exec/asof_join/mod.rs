//! `AsofJoinExec`: the AS OF join operator.
//!
//! # Semantics (SPEC §3)
//! For each left row, the right row with equal keys whose time is the
//! closest one satisfying the match condition: for `l.t >= r.t` the greatest
//! right time not after the left time, for `l.t > r.t` the greatest strictly
//! before it, for `l.t <= r.t` / `l.t < r.t` the smallest right time not
//! before / strictly after it (DuckDB's meaning). Among right rows with equal
//! keys and equal times the later write wins: the greatest `sequence`, or,
//! without a sequence expression, the row that arrived last. A row whose key
//! or time is NULL never matches. With a `tolerance`, a match further than
//! that from the left time is no match.
//!
//! [`AsofJoinType::Left`] keeps every left row (right columns NULL when
//! nothing matches), [`AsofJoinType::Inner`] drops unmatched left rows.
//!
//! # Execution and input distribution
//! Both inputs must be hash-partitioned on the equality keys (the planner's
//! distribution rules insert the repartitioning; with one target partition no
//! shuffle happens). Per partition the right side is collected, interned by
//! key and sorted by (time, sequence) within each key; the left side then
//! streams through, each left row found by a hash lookup and a binary search.
//! Output rows follow the left rows of their partition, but no ordering is
//! declared to the optimizer yet; output partitioning is the left input's.
//!
//! # Memory
//! The collected right side and its index are accounted in the session's
//! memory pool; going over the limit fails the query with
//! `ResourcesExhausted` (SQLSTATE 53200) rather than growing the process.
//! The left side is never held beyond one batch. Spilling the right side is
//! left for later.
//!
//! # Contract
//! Shaped like DataFusion's joins (`on` pairs of key expressions over the
//! left and right inputs; output = left columns then right columns), so the
//! upstream AS OF operator can replace it once a DataFusion release ships
//! one: the times are physical expressions, the comparison an [`AsofMatch`].

mod build;
mod condition;
mod exec;
mod probe;

pub use condition::{AsofJoinType, AsofMatch, JoinKeyPair, is_time_type};
pub use exec::{AsofJoinExec, AsofJoinSpec};
