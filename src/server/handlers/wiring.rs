//! The handler set pgwire calls for each connection: the service for both
//! query protocols, start-up, cancellation, COPY and errors.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion_postgres::DfSessionService;
use pgwire::api::auth::StartupHandler;
use pgwire::api::auth::noop::NoopStartupHandler;
use pgwire::api::cancel::{CancelHandler, DefaultCancelHandler};
use pgwire::api::copy::CopyHandler;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::{ConnectionManager, PgWireServerHandlers};

use super::copy::FstoreCopyHandler;
use super::parse::FstoreParser;
use super::planned::TreePlanner;

use crate::database::Database;
use crate::server::errors::FstoreErrorHandler;
use crate::server::shutdown::InFlight;

use super::service::FstoreService;

pub struct FstoreHandlers {
    service: Arc<FstoreService>,
    startup: Arc<FstoreStartup>,
    cancel: Arc<DefaultCancelHandler>,
}

impl FstoreHandlers {
    pub fn new(database: Arc<Database>, in_flight: InFlight) -> Self {
        let inner = Arc::new(DfSessionService::new(database.session_context()));
        let planner = Arc::new(TreePlanner::new(database.session_context()));
        let parser = Arc::new(FstoreParser {
            database: database.clone(),
            inner: ExtendedQueryHandler::query_parser(inner.as_ref()),
            planner: planner.clone(),
        });
        let connections = Arc::new(ConnectionManager::new());
        FstoreHandlers {
            service: Arc::new(FstoreService {
                database,
                inner,
                parser,
                planner,
                in_flight,
                simple_lookups: Default::default(),
            }),
            startup: Arc::new(FstoreStartup {
                connections: connections.clone(),
            }),
            cancel: Arc::new(DefaultCancelHandler::new(connections)),
        }
    }
}

impl PgWireServerHandlers for FstoreHandlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.service.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.service.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.startup.clone()
    }

    fn error_handler(&self) -> Arc<impl pgwire::api::ErrorHandler> {
        Arc::new(FstoreErrorHandler)
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.cancel.clone()
    }

    fn copy_handler(&self) -> Arc<impl CopyHandler> {
        Arc::new(FstoreCopyHandler)
    }
}

/// Any user name is accepted until authentication is configured (SPEC §7).
pub struct FstoreStartup {
    connections: Arc<ConnectionManager>,
}

#[async_trait]
impl NoopStartupHandler for FstoreStartup {
    fn connection_manager(&self) -> Option<Arc<ConnectionManager>> {
        Some(self.connections.clone())
    }
}
