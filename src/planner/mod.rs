//! fstore's additions to DataFusion's planning: AS OF joins from SQL down
//! to their physical operator.

pub mod asof;
pub mod boolean_literals;
pub mod json;
pub mod like_escape;
pub mod placeholder_types;

use std::sync::Arc;

use datafusion::execution::session_state::SessionStateBuilder;

/// Adds fstore's relation planners and physical planner to a session being
/// built (the AS OF filter push-down rule is added to the context).
pub fn with_fstore_planning(builder: SessionStateBuilder) -> SessionStateBuilder {
    builder
        .with_query_planner(Arc::new(asof::FstoreQueryPlanner))
        .with_relation_planners(vec![Arc::new(asof::AsofRelationPlanner)])
}
