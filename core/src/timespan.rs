//! Durations written the way users already write them.
//!
//! [`parse`] accepts the grammar of the `ms` package that `jsonwebtoken`'s
//! `expiresIn` / `notBefore` / `maxAge` use: a number, optional spaces and an
//! optional unit (`"2h"`, `"7 days"`, `"1.5h"`, `"-10m"`, `"90s"`). As in `ms`,
//! a bare number inside a string means milliseconds. [`unit_seconds`] is the
//! shared unit table (also used by rate strings).

use crate::error::{err, Result};

/// Seconds in one of the named units (case-insensitive), or `None`.
#[must_use]
pub fn unit_seconds(unit: &str) -> Option<f64> {
    let u = unit.to_ascii_lowercase();
    Some(match u.as_str() {
        "years" | "year" | "yrs" | "yr" | "y" => 365.25 * 86_400.0,
        "weeks" | "week" | "w" => 7.0 * 86_400.0,
        "days" | "day" | "d" => 86_400.0,
        "hours" | "hour" | "hrs" | "hr" | "h" => 3_600.0,
        "minutes" | "minute" | "mins" | "min" | "m" => 60.0,
        "seconds" | "second" | "secs" | "sec" | "s" => 1.0,
        "milliseconds" | "millisecond" | "msecs" | "msec" | "ms" => 0.001,
        _ => return None,
    })
}

/// Parses a duration string into seconds (see the module docs for the grammar).
pub fn parse(text: &str) -> Result<f64> {
    let bad = || {
        err!(
            InvalidArgument,
            "invalid time span {text:?}: expected a number and a unit such as \"2h\" or \"7 days\""
        )
    };
    if text.is_empty() || text.len() > 100 {
        return Err(bad());
    }
    let t = text;
    let num_end = t
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || c == '.' || (c == '-' && i == 0)))
        .map_or(t.len(), |(i, _)| i);
    let (num, rest) = t.split_at(num_end);
    if num.is_empty() || num == "-" || num.ends_with('.') || num.matches('.').count() > 1 {
        return Err(bad());
    }
    let value: f64 = num.parse().map_err(|_| bad())?;
    let unit = rest.trim_start_matches(' ');
    let scale = if unit.is_empty() {
        0.001
    } else {
        unit_seconds(unit).ok_or_else(bad)?
    };
    let secs = value * scale;
    if !secs.is_finite() {
        return Err(bad());
    }
    Ok(secs)
}

/// `d` in whole microseconds, saturating (the unit the time rules compute in).
#[must_use]
pub fn micros(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// The longest duration a setting takes, in seconds (about 317 years).
pub const MAX_SETTING_SECS: f64 = 1e10;

/// A duration setting (a cool-off, a lifetime) given as seconds: finite,
/// from 0 to [`MAX_SETTING_SECS`]. `what` names the setting in the error.
pub fn seconds_setting(secs: f64, what: &str) -> Result<std::time::Duration> {
    if !(secs.is_finite() && (0.0..=MAX_SETTING_SECS).contains(&secs)) {
        return Err(err!(
            InvalidArgument,
            "{what} must be a non-negative number of seconds or a time span, at most {MAX_SETTING_SECS} s"
        ));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// A duration setting given as text: a span *with* a unit (`"30m"`, `"1h"`,
/// `"7 days"`). A bare number is refused here, since [`parse`] would read it
/// as milliseconds where a setting's number means seconds.
pub fn text_setting(text: &str, what: &str) -> Result<std::time::Duration> {
    if !text.bytes().any(|b| b.is_ascii_alphabetic()) {
        return Err(err!(
            InvalidArgument,
            "{what}: a time span string needs a unit, such as \"30m\" or \"1h\""
        ));
    }
    seconds_setting(parse(text)?, what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_need_a_unit_in_text_and_a_bounded_value() {
        assert_eq!(text_setting("30m", "cooloff").unwrap().as_secs(), 1800);
        assert_eq!(seconds_setting(3600.0, "cooloff").unwrap().as_secs(), 3600);
        for bad in ["1800", "", "-5m"] {
            assert!(text_setting(bad, "cooloff").is_err(), "{bad:?}");
        }
        for bad in [-1.0, f64::NAN, f64::INFINITY, 2e10] {
            assert!(seconds_setting(bad, "cooloff").is_err(), "{bad}");
        }
        assert!(text_setting("1800", "cooloff")
            .unwrap_err()
            .message()
            .contains("needs a unit"));
    }

    #[test]
    fn parses_ms_grammar() {
        assert_eq!(parse("2h").unwrap(), 7_200.0);
        assert_eq!(parse("7 days").unwrap(), 604_800.0);
        assert_eq!(parse("1.5h").unwrap(), 5_400.0);
        assert_eq!(parse(".5m").unwrap(), 30.0);
        assert_eq!(parse("-10m").unwrap(), -600.0);
        assert_eq!(parse("90S").unwrap(), 90.0);
        assert_eq!(parse("1y").unwrap(), 31_557_600.0);
        assert_eq!(parse("100").unwrap(), 0.1);
        assert_eq!(parse("1w").unwrap(), 604_800.0);
        for bad in [
            "",
            "h",
            "1.",
            "1..5h",
            "2 fortnights",
            "1h2m",
            "--1h",
            "1e9h",
            " 1h",
            "1h ",
            "NaNh",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
