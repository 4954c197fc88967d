//! The handler set pgwire calls for each connection: the service for both
//! query protocols, start-up, cancellation, COPY and errors.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion_postgres::DfSessionService;
use futures::Sink;
use pgwire::api::auth::StartupHandler;
use pgwire::api::auth::{
    DefaultServerParameterProvider, finish_authentication, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::cancel::CancelHandler;
use pgwire::api::copy::CopyHandler;
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::{ClientInfo, PgWireServerHandlers};
use pgwire::api::{PidSecretKeyGenerator, RandomPidSecretKeyGenerator};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};

use super::copy::FstoreCopyHandler;
use super::parse::FstoreParser;
use super::planned::TreePlanner;

use crate::database::Database;
use crate::server::errors::FstoreErrorHandler;
use crate::server::sessions::{FstoreCancel, SessionControl, Sessions};
use crate::server::shutdown::InFlight;

use super::service::FstoreService;

pub struct FstoreHandlers {
    service: Arc<FstoreService>,
    sessions: Arc<Sessions>,
    cancel: Arc<FstoreCancel>,
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
        let sessions = Arc::new(Sessions::default());
        FstoreHandlers {
            service: Arc::new(FstoreService {
                database,
                inner,
                parser,
                planner,
                in_flight,
                simple_lookups: Default::default(),
            }),
            cancel: Arc::new(FstoreCancel {
                sessions: sessions.clone(),
            }),
            sessions,
        }
    }

    /// The handlers of one connection, whose session `control` is.
    pub fn for_connection(&self, control: Arc<SessionControl>) -> ConnectionHandlers {
        ConnectionHandlers {
            service: self.service.clone(),
            startup: Arc::new(FstoreStartup {
                sessions: self.sessions.clone(),
                control,
            }),
            cancel: self.cancel.clone(),
        }
    }

    /// Forgets a connection that ended.
    pub fn connection_ended(&self, control: &SessionControl) {
        self.sessions.ended(control);
    }
}

/// The handler set pgwire serves one connection with.
pub struct ConnectionHandlers {
    service: Arc<FstoreService>,
    startup: Arc<FstoreStartup>,
    cancel: Arc<FstoreCancel>,
}

impl PgWireServerHandlers for ConnectionHandlers {
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
/// pgwire's connection manager is not used: its cancel drops the answer
/// being computed wherever it is (see `sessions`).
pub struct FstoreStartup {
    sessions: Arc<Sessions>,
    control: Arc<SessionControl>,
}

/// pgwire's no-authentication start-up, with fstore's parameters: its
/// default says `server_version` 16.6-pgwire-…, which disagrees with
/// `version()` and makes psql warn of a major-version mismatch.
#[async_trait]
impl StartupHandler for FstoreStartup {
    async fn on_startup<C>(
        &self,
        client: &mut C,
        message: PgWireFrontendMessage,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let PgWireFrontendMessage::Startup(startup) = &message else {
            return Ok(());
        };
        protocol_negotiation(client, startup).await?;
        save_startup_parameters_to_metadata(client, startup);
        // One counter for the server: each connection its own process id.
        static PIDS: std::sync::LazyLock<RandomPidSecretKeyGenerator> =
            std::sync::LazyLock::new(RandomPidSecretKeyGenerator::default);
        let (pid, secret_key) = PIDS.generate(client);
        client.set_pid_and_secret_key(pid, secret_key);
        self.sessions.started(client, &self.control);
        let mut parameters = DefaultServerParameterProvider::default();
        parameters.server_version = crate::database::POSTGRES_VERSION.to_string();
        finish_authentication(client, &parameters).await
    }
}
