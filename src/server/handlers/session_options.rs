//! `SET datafusion.…` / `SHOW datafusion.…`: DataFusion's options as
//! session settings. datafusion-postgres applies such a `SET` to the
//! server's one session context, so one client's
//! `SET datafusion.execution.batch_size = 1` slowed every other session;
//! here it is kept in the session that set it and applied to the state
//! that session's queries are planned and run with. The session's
//! `TimeZone` (`time_zone`) is kept the same way.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use datafusion::config::ConfigOptions;
use datafusion::execution::SessionState;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    Expr, Reset, ResetStatement, Set, Statement as SqlStatement, UnaryOperator, Value,
};
use pgwire::api::ClientInfo;

use super::time_zone::{self, TimeZoneSetting};
use crate::error::Error;

const PREFIX: &str = "datafusion.";
const TIME_ZONE_OPTION: &str = "datafusion.execution.time_zone";

/// What running an option statement answers.
#[derive(Debug)]
pub(crate) enum Applied {
    /// The statement's tag (`SET`, `RESET`).
    Done { tag: &'static str },
    /// The tag, and a ParameterStatus telling the client the new value.
    ParameterChanged {
        tag: &'static str,
        name: String,
        value: String,
    },
    /// A `SHOW`'s one row.
    Shown { name: String, value: String },
}

/// A statement on one of DataFusion's options.
#[derive(Debug, Clone)]
pub(crate) enum OptionStatement {
    Set {
        name: String,
        value: String,
    },
    Reset {
        name: String,
    },
    Show {
        name: String,
    },
    /// `SET TIME ZONE …`, `SET timezone = …`.
    SetTimeZone(TimeZoneSetting),
    /// `RESET timezone`.
    ResetTimeZone,
    /// `SHOW TIME ZONE`, `SHOW timezone`.
    ShowTimeZone,
}

/// `statement` as an [`OptionStatement`], if it sets, resets or shows a
/// `datafusion.` option.
pub(crate) fn recognize(statement: &SqlStatement) -> Option<OptionStatement> {
    let is_option = |name: &str| name.to_ascii_lowercase().starts_with(PREFIX);
    let is_time_zone = |name: &str| name.eq_ignore_ascii_case("timezone");
    match statement {
        SqlStatement::Set(Set::SetTimeZone { value, .. }) => {
            Some(OptionStatement::SetTimeZone(time_zone_setting(value)))
        }
        SqlStatement::Set(Set::SingleAssignment {
            variable, values, ..
        }) if is_time_zone(&variable.to_string()) => {
            Some(OptionStatement::SetTimeZone(match values.as_slice() {
                [value] => time_zone_setting(value),
                // A list is no zone; resolving its text refuses it.
                values => TimeZoneSetting::Zone(
                    values
                        .iter()
                        .map(|v| v.to_string())
                        .collect::<Vec<_>>()
                        .join(","),
                ),
            }))
        }
        SqlStatement::Reset(ResetStatement {
            reset: Reset::ConfigurationParameter(name),
        }) => recognize_reset(&name.to_string()),
        SqlStatement::ShowVariable { variable }
            if matches!(
                variable
                    .iter()
                    .map(|i| i.value.to_ascii_lowercase())
                    .collect::<Vec<_>>()
                    .as_slice(),
                [one] if one == "timezone"
            ) || matches!(variable.as_slice(), [time, zone]
                if time.value.eq_ignore_ascii_case("time") && zone.value.eq_ignore_ascii_case("zone")) =>
        {
            Some(OptionStatement::ShowTimeZone)
        }
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

/// `RESET name` (DataFusion's parser has its own statement for it), if it
/// resets the session's zone or a `datafusion.` option.
pub(crate) fn recognize_reset(name: &str) -> Option<OptionStatement> {
    if name.eq_ignore_ascii_case("timezone") {
        return Some(OptionStatement::ResetTimeZone);
    }
    name.to_ascii_lowercase()
        .starts_with(PREFIX)
        .then(|| OptionStatement::Reset { name: name.into() })
}

/// The zone a `SET` names: a string or a number (`SET TIME ZONE -5`), or
/// the server's (`DEFAULT`, `LOCAL`).
fn time_zone_setting(value: &Expr) -> TimeZoneSetting {
    match value {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => {
                TimeZoneSetting::Zone(s.clone())
            }
            Value::Number(n, _) => TimeZoneSetting::Zone(n.clone()),
            other => TimeZoneSetting::Zone(other.to_string()),
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match time_zone_setting(expr) {
            TimeZoneSetting::Zone(zone) => TimeZoneSetting::Zone(format!("-{zone}")),
            TimeZoneSetting::Default => TimeZoneSetting::Zone(value.to_string()),
        },
        Expr::Identifier(ident)
            if ident.value.eq_ignore_ascii_case("default")
                || ident.value.eq_ignore_ascii_case("local") =>
        {
            TimeZoneSetting::Default
        }
        Expr::Identifier(ident) => TimeZoneSetting::Zone(ident.value.clone()),
        other => TimeZoneSetting::Zone(other.to_string()),
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
    time_zone::reset(client);
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
    // A session's zone wins over the server's; `SET datafusion.execution.
    // time_zone` (applied above) over both.
    if let Some(zone) = time_zone::chosen(client)
        && !SessionOptions::of(client)
            .is_some_and(|options| options.lock().contains_key(TIME_ZONE_OPTION))
    {
        state.config_mut().options_mut().execution.time_zone = Some(zone.arrow);
    }
    state
}

/// Runs `statement` for `client`'s session: `Some(value)` for a SHOW.
pub(crate) fn apply<C: ClientInfo + ?Sized>(
    client: &C,
    context: &SessionContext,
    statement: &OptionStatement,
) -> Result<Applied, Error> {
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
            Ok(Applied::Done { tag: "SET" })
        }
        OptionStatement::Reset { name } => {
            let name = canonical(name, state.config_options())?;
            if let Some(options) = SessionOptions::of(client) {
                options.lock().remove(&name);
            }
            Ok(Applied::Done { tag: "RESET" })
        }
        OptionStatement::SetTimeZone(setting) => {
            let zone = time_zone::set(client, setting)?;
            Ok(Applied::ParameterChanged {
                tag: "SET",
                name: "TimeZone".into(),
                value: zone.shown,
            })
        }
        OptionStatement::ResetTimeZone => {
            let zone = time_zone::set(client, &TimeZoneSetting::Default)?;
            Ok(Applied::ParameterChanged {
                tag: "RESET",
                name: "TimeZone".into(),
                value: zone.shown,
            })
        }
        OptionStatement::ShowTimeZone => Ok(Applied::Shown {
            name: "TimeZone".into(),
            value: time_zone::of(client).shown,
        }),
        OptionStatement::Show { name } => {
            let name = canonical(name, state.config_options())?;
            let value = state
                .config_options()
                .entries()
                .into_iter()
                .find(|entry| entry.key == name)
                .and_then(|entry| entry.value)
                .unwrap_or_default();
            Ok(Applied::Shown { name, value })
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
