//! The session's `TimeZone`, read and shown as PostgreSQL reads and shows
//! it. `SET TIME ZONE`, `SET timezone = …`, `RESET timezone` and the
//! start-up parameter (JDBC sends the JVM's zone) set it for the session
//! only; it becomes DataFusion's `execution.time_zone` in the session's
//! state, so a timestamp cast to timestamptz is read in it, and timestamptz
//! results are printed in it.

use std::str::FromStr;

use pgwire::api::ClientInfo;

use crate::error::Error;

/// The zone of a session that set none (the server's `TimeZone`).
pub(crate) const DEFAULT_TIME_ZONE: &str = "UTC";

/// A zone as `SHOW TimeZone` shows it and as Arrow names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimeZone {
    pub shown: String,
    pub arrow: String,
}

impl TimeZone {
    fn server_default() -> Self {
        TimeZone {
            shown: DEFAULT_TIME_ZONE.into(),
            arrow: DEFAULT_TIME_ZONE.into(),
        }
    }
}

/// What a `SET` names: a zone, or the server's default (`DEFAULT`,
/// `LOCAL`, `RESET`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TimeZoneSetting {
    Zone(String),
    Default,
}

/// The zone `value` names, as PostgreSQL reads it: a number is hours east
/// of UTC (`-5`, `'5.5'`, shown `<-05>+05`); `±hh[:mm]` is a POSIX offset,
/// hours *west* of UTC (`'+02:00'` is UTC−2, shown as written); anything
/// else is a zone name, case-insensitively (`'europe/paris'` is shown
/// `Europe/Paris`). 22023 otherwise, as in PostgreSQL.
pub(crate) fn resolve(value: &str) -> Result<TimeZone, Error> {
    let invalid = || {
        Error::InvalidParameter(format!(
            "invalid value for parameter \"TimeZone\": \"{value}\""
        ))
    };
    let trimmed = value.trim();
    if let Ok(hours) = trimmed.parse::<f64>() {
        let seconds = (hours * 3600.0).round();
        if !seconds.is_finite() || seconds.abs() >= 24.0 * 3600.0 {
            return Err(invalid());
        }
        let seconds = seconds as i64;
        let east = format_offset(seconds);
        let west = format_offset(-seconds);
        // PostgreSQL names a zero offset <+00>-00.
        let west = if seconds == 0 {
            west.replacen('+', "-", 1)
        } else {
            west
        };
        return Ok(TimeZone {
            shown: format!("<{east}>{west}"),
            arrow: arrow_offset(seconds),
        });
    }
    if let Some(seconds_west) = posix_offset(trimmed) {
        if seconds_west.abs() >= 24 * 3600 {
            return Err(invalid());
        }
        return Ok(TimeZone {
            shown: trimmed.to_string(),
            arrow: arrow_offset(-seconds_west),
        });
    }
    let zone = chrono_tz::Tz::from_str(trimmed)
        .ok()
        .or_else(|| {
            chrono_tz::TZ_VARIANTS
                .iter()
                .find(|zone| zone.name().eq_ignore_ascii_case(trimmed))
                .copied()
        })
        .ok_or_else(invalid)?;
    Ok(TimeZone {
        shown: zone.name().to_string(),
        arrow: zone.name().to_string(),
    })
}

/// `±hh[:mm[:ss]]` as seconds, if `text` is one.
fn posix_offset(text: &str) -> Option<i64> {
    let (sign, digits) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => (1, text),
    };
    let mut parts = digits.split(':');
    let mut seconds = 0i64;
    for (index, scale) in [3600i64, 60, 1].into_iter().enumerate() {
        let Some(part) = parts.next() else {
            break;
        };
        let limit = if index == 0 { 2 } else { 59 };
        let well_formed = !part.is_empty()
            && part.len() <= 2
            && part.bytes().all(|b| b.is_ascii_digit())
            && (index == 0 || part.len() == 2);
        let value: i64 = part.parse().ok().filter(|_| well_formed)?;
        if index > 0 && value > limit {
            return None;
        }
        seconds += value * scale;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(sign * seconds)
}

/// `+05`, `-05:15`, `+05:30:10`: an offset as PostgreSQL abbreviates it.
fn format_offset(seconds: i64) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let magnitude = seconds.abs();
    let (hours, minutes, rest) = (magnitude / 3600, magnitude % 3600 / 60, magnitude % 60);
    match (minutes, rest) {
        (0, 0) => format!("{sign}{hours:02}"),
        (_, 0) => format!("{sign}{hours:02}:{minutes:02}"),
        _ => format!("{sign}{hours:02}:{minutes:02}:{rest:02}"),
    }
}

/// An offset east of UTC as Arrow's time-zone string (`+05:30`).
fn arrow_offset(seconds: i64) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let magnitude = seconds.abs();
    // Arrow's offsets have minutes; PostgreSQL's seconds are dropped.
    format!("{sign}{:02}:{:02}", magnitude / 3600, magnitude % 3600 / 60)
}

/// `client`'s zone: the one its session set, else the one its start-up
/// packet named (if valid), else the server's.
pub(crate) fn of<C: ClientInfo + ?Sized>(client: &C) -> TimeZone {
    chosen(client).unwrap_or_else(TimeZone::server_default)
}

/// The zone `client` chose (by `SET` or at start-up), if not the server's.
pub(crate) fn chosen<C: ClientInfo + ?Sized>(client: &C) -> Option<TimeZone> {
    let zone = match client.session_extensions().get::<TimeZone>() {
        Some(zone) => zone.as_ref().clone(),
        None => client
            .metadata()
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("timezone"))
            .and_then(|(_, value)| resolve(value).ok())?,
    };
    (zone != TimeZone::server_default()).then_some(zone)
}

/// Applies `setting` to `client`'s session; the zone it now has.
pub(crate) fn set<C: ClientInfo + ?Sized>(
    client: &C,
    setting: &TimeZoneSetting,
) -> Result<TimeZone, Error> {
    let zone = match setting {
        TimeZoneSetting::Zone(value) => resolve(value)?,
        TimeZoneSetting::Default => TimeZone::server_default(),
    };
    client.session_extensions().insert(zone.clone());
    Ok(zone)
}

/// `DISCARD ALL`: the session's zone is the server's again.
pub(crate) fn reset<C: ClientInfo + ?Sized>(client: &C) {
    client
        .session_extensions()
        .insert(TimeZone::server_default());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown_and_arrow(value: &str) -> (String, String) {
        let zone = resolve(value).unwrap();
        (zone.shown, zone.arrow)
    }

    #[test]
    fn zones_read_as_postgresql_reads_them() {
        // Each figure is PostgreSQL 15's SHOW TimeZone after the SET.
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            shown_and_arrow("europe/paris"),
            pair("Europe/Paris", "Europe/Paris")
        );
        assert_eq!(shown_and_arrow("utc"), pair("UTC", "UTC"));
        assert_eq!(shown_and_arrow("-5"), pair("<-05>+05", "-05:00"));
        assert_eq!(shown_and_arrow("5.5"), pair("<+05:30>-05:30", "+05:30"));
        assert_eq!(shown_and_arrow("-5.25"), pair("<-05:15>+05:15", "-05:15"));
        assert_eq!(shown_and_arrow("0"), pair("<+00>-00", "+00:00"));
        assert_eq!(shown_and_arrow("+02:00"), pair("+02:00", "-02:00"));
        assert_eq!(shown_and_arrow("-03:30"), pair("-03:30", "+03:30"));
        assert_eq!(shown_and_arrow("Etc/GMT+3"), pair("Etc/GMT+3", "Etc/GMT+3"));
    }

    #[test]
    fn unknown_zones_are_invalid_parameters() {
        for value in ["Mars/Olympus", "", "Z", "25", "+99:00", "1:2:3:4"] {
            let error = resolve(value).unwrap_err();
            // InvalidParameter is 22023 on the wire (server::errors).
            assert!(matches!(error, Error::InvalidParameter(_)), "{value}");
            assert_eq!(
                error.to_string(),
                format!("invalid value for parameter \"TimeZone\": \"{value}\"")
            );
        }
    }
}
