//! fstore's additions to DataFusion's planning: AS OF joins from SQL down
//! to their physical operator.

pub mod asof;

use std::sync::Arc;

use datafusion::execution::session_state::SessionStateBuilder;

/// Adds fstore's relation planner, optimizer rule and physical planner to a
/// session being built.
pub fn with_fstore_planning(builder: SessionStateBuilder) -> SessionStateBuilder {
    builder
        .with_query_planner(Arc::new(asof::FstoreQueryPlanner))
        .with_relation_planners(vec![Arc::new(asof::AsofRelationPlanner)])
}
