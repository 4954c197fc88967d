//! A feature group's dual write: one version's offline table and online
//! store kept consistent on every write and caught up at start-up.

mod feature_group;
mod forget;

pub use feature_group::FeatureGroup;
