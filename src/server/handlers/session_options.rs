//! `SET datafusion.…` / `SHOW datafusion.…`: DataFusion's options as
//! session settings. datafusion-postgres applies such a `SET` to the
//! server's one session context, so one client's
//! `SET datafusion.execution.batch_size = 1` slowed every other session;
//! here it is kept in the session that set it and applied to the state
//! that session's queries are planned and run with.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use datafusion::config::ConfigOptions;
use datafusion::execution::SessionState;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{Expr, Set, Statement as SqlStatement, Value};
use pgwire::api::ClientInfo;

use crate::error::Error;

const PREFIX: &str = "datafusion.";

/// A statement on one of DataFusion's options.
#[derive(Debug, Clone)]
pub(crate) enum OptionStatement {
    Set { name: String, value: String },
    Reset { name: String },
    Show { name: String },
}

/// `statement` as an [`OptionStatement`], if it sets, resets or shows a
/// `datafusion.` option.
pub(crate) fn recognize(statement: &SqlStatement) -> Option<OptionStatement> {
    let is_option = |name: &str| name.to_ascii_lowercase().starts_with(PREFIX);
    match statement {
        SqlStatement::Set(Set::SingleAssignment {
            variable, values, ..
        }) => {
            let name = variable.to_string();
            if !is_option(&name) {
                return None;
            }
            let value = match values.as_slice() {
                [Expr::Value(v)] => match &v.value {
                    Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                    Value::Number(n, _) => n.clone(),
                    Value::Boolean(b) => b.to_string(),
                    other => other.to_string(),
                },
                [Expr::Identifier(ident)] => ident.value.clone(),
                values => values
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            };
            if value.eq_ignore_ascii_case("default") {
                return Some(OptionStatement::Reset { name });
            }
            Some(OptionStatement::Set { name, value })
        }
        SqlStatement::ShowVariable { variable } => {
            let name = variable
                .iter()
                .map(|i| i.value.as_str())
                .collect::<Vec<_>>()
                .join(".");
            is_option(&name).then_some(OptionStatement::Show { name })
        }
        _ => None,
    }
}

/// The options a session set, by name.
#[derive(Debug, Default)]
pub(crate) struct SessionOptions(Mutex<BTreeMap<String, String>>);

impl SessionOptions {
    fn of<C: ClientInfo + ?Sized>(client: &C) -> Option<Arc<SessionOptions>> {
        client.session_extensions().get::<SessionOptions>()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Forgets every option `client`'s session set (`DISCARD ALL`).
pub(crate) fn reset_all<C: ClientInfo + ?Sized>(client: &C) {
    if let Some(options) = SessionOptions::of(client) {
        options.lock().clear();
    }
}

/// The state `client`'s queries are planned and run with: the server's,
/// with the options the session set.
pub(crate) fn session_state<C: ClientInfo + ?Sized>(
    client: &C,
    context: &SessionContext,
) -> SessionState {
    let mut state = context.state();
    if let Some(options) = SessionOptions::of(client) {
        let options = options.lock();
        if !options.is_empty() {
            let config = state.config_mut().options_mut();
            for (name, value) in options.iter() {
                // Checked when set.
                let _ = config.set(name, value);
            }
        }
    }
    state
}

/// Runs `statement` for `client`'s session: `Some(value)` for a SHOW.
pub(crate) fn apply<C: ClientInfo + ?Sized>(
    client: &C,
    context: &SessionContext,
    statement: &OptionStatement,
) -> Result<Option<(String, String)>, Error> {
    let state = session_state(client, context);
    match statement {
        OptionStatement::Set { name, value } => {
            let name = canonical(name, state.config_options())?;
            let mut checked = state.config_options().as_ref().clone();
            checked.set(&name, value).map_err(|e| {
                Error::InvalidParameter(format!(
                    "invalid value for parameter \"{name}\": \"{value}\" ({})",
                    e.strip_backtrace()
                ))
            })?;
            let options = client
                .session_extensions()
                .get_or_insert_with(SessionOptions::default);
            options.lock().insert(name, value.clone());
            Ok(None)
        }
        OptionStatement::Reset { name } => {
            let name = canonical(name, state.config_options())?;
            if let Some(options) = SessionOptions::of(client) {
                options.lock().remove(&name);
            }
            Ok(None)
        }
        OptionStatement::Show { name } => {
            let name = canonical(name, state.config_options())?;
            let value = state
                .config_options()
                .entries()
                .into_iter()
                .find(|entry| entry.key == name)
                .and_then(|entry| entry.value)
                .unwrap_or_default();
            Ok(Some((name, value)))
        }
    }
}

/// `name` as DataFusion spells it, if it is one of its options.
fn canonical(name: &str, options: &ConfigOptions) -> Result<String, Error> {
    let lowered = name.to_ascii_lowercase();
    options
        .entries()
        .into_iter()
        .find(|entry| entry.key == lowered)
        .map(|entry| entry.key)
        .ok_or_else(|| Error::UnrecognizedParameter(name.to_string()))
}
