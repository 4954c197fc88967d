//! Physical operators DataFusion does not have.

pub mod asof_join;
