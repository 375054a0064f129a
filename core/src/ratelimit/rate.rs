//! Rate strings: `"<count>/<window>"` or `"<count> per <window>"`, several
//! separated by `;` or `,`.
//!
//! Grammar (case-insensitive, spaces around every part allowed):
//!
//! ```text
//! rates  := rate ((";" | ",") rate)*
//! rate   := count ("/" | "per") window
//! count  := a positive integer (at most 1,000,000,000)
//! window := [amount] unit          e.g. "minute", "15m", "2 hours", "1.5h"
//! unit   := the units of `timespan` (s, sec, second(s), m, min, minute(s),
//!           h, hour(s), d, day(s), w, week(s), ms, y, year(s)) plus
//!           month(s) / mo (30 days)
//! ```
//!
//! So `10/minute`, `10/min`, `10 per minute`, `10 per 2 hours`, `5/15m`,
//! `100/day` (Django REST framework) and `100/minute;200/hour` all parse.
//! Guarantees: a window is a whole number of milliseconds from 1 ms to 10
//! years; an unknown unit, a zero or fractional count, an empty part and any
//! trailing text are errors naming the offending part. Parsing is bounded
//! (at most 1 KiB of text, at most 16 limits). DRF reads only the first
//! letter of the unit (so it takes `"100/dzz"` as a day); this parser refuses
//! such strings instead of guessing.

use crate::error::{err, Error, Result};
use crate::timespan;
use std::fmt;

/// The most limits one rate string may hold.
pub const MAX_LIMITS: usize = 16;
/// The largest count of one limit.
pub const MAX_COUNT: u64 = 1_000_000_000;
/// The longest window: ten years, in milliseconds.
pub const MAX_WINDOW_MS: u64 = 10 * 365 * 86_400_000;
const MAX_TEXT: usize = 1024;

/// One limit: at most `limit` units of cost in any window of `window_ms`
/// milliseconds (how "any window" is judged is the algorithm's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    /// The most admitted in one window.
    pub limit: u64,
    /// The window, in milliseconds.
    pub window_ms: u64,
}

impl Rate {
    /// A rate of `limit` per `window_ms` milliseconds, both positive and bounded.
    pub fn new(limit: u64, window_ms: u64) -> Result<Self> {
        if limit == 0 || limit > MAX_COUNT {
            return Err(err!(
                InvalidArgument,
                "a rate's count must be from 1 to {MAX_COUNT}, not {limit}"
            ));
        }
        if window_ms == 0 || window_ms > MAX_WINDOW_MS {
            return Err(err!(
                InvalidArgument,
                "a rate's window must be from 1 ms to 10 years"
            ));
        }
        Ok(Self { limit, window_ms })
    }

    /// Parses one rate such as `"10/minute"` (see the module docs).
    pub fn parse(text: &str) -> Result<Self> {
        let rates = parse_rates(text)?;
        match rates.as_slice() {
            [one] => Ok(*one),
            _ => Err(err!(
                InvalidArgument,
                "expected one rate, got {} in {text:?}",
                rates.len()
            )),
        }
    }

    /// The window in whole seconds, rounded up (for headers).
    #[must_use]
    pub fn window_secs(&self) -> u64 {
        self.window_ms.div_ceil(1000)
    }
}

impl fmt::Display for Rate {
    /// The canonical form: `"10/minute"`, `"5/15m"`, `"3/250ms"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMED: [(u64, &str, &str); 5] = [
            (86_400_000, "day", "d"),
            (3_600_000, "hour", "h"),
            (60_000, "minute", "m"),
            (1_000, "second", "s"),
            (1, "millisecond", "ms"),
        ];
        for (ms, name, short) in NAMED {
            if self.window_ms == ms {
                return write!(f, "{}/{name}", self.limit);
            }
            if self.window_ms.is_multiple_of(ms) {
                return write!(f, "{}/{}{short}", self.limit, self.window_ms / ms);
            }
        }
        write!(f, "{}/{}ms", self.limit, self.window_ms)
    }
}

fn bad(part: &str, why: &str) -> Error {
    err!(InvalidArgument, "invalid rate {part:?}: {why}")
}

/// Seconds in `unit`: the time-span units plus months (30 days).
fn unit_secs(unit: &str) -> Option<f64> {
    match unit.to_ascii_lowercase().as_str() {
        "month" | "months" | "mo" => Some(30.0 * 86_400.0),
        u => timespan::unit_seconds(u),
    }
}

fn parse_window(part: &str, window: &str) -> Result<u64> {
    let w = window.trim();
    let split = w
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(w.len());
    let (amount, unit) = w.split_at(split);
    let unit = unit.trim();
    if unit.is_empty() {
        return Err(bad(
            part,
            "the window needs a unit, e.g. \"minute\" or \"15m\"",
        ));
    }
    let amount: f64 = if amount.is_empty() {
        1.0
    } else {
        if amount.starts_with('.') || amount.ends_with('.') || amount.matches('.').count() > 1 {
            return Err(bad(part, "the window's amount is not a number"));
        }
        amount
            .parse()
            .map_err(|_| bad(part, "the window's amount is not a number"))?
    };
    let secs = unit_secs(unit).ok_or_else(|| {
        bad(
            part,
            &format!("unknown unit {unit:?} (use second, minute, hour, day, week, month or year, or s, m, h, d)"),
        )
    })?;
    // The unit in milliseconds is a whole number (1 for "ms"), so whole
    // amounts give exact products; a decimal amount's binary rounding error
    // (far below 1e-12 of the result) does not make a whole number of
    // milliseconds fractional ("518892480ms", the canonical form of
    // "6.0057d", must parse back).
    let ms = amount * (secs * 1000.0);
    let whole = ms.round();
    if !(whole.is_finite() && whole >= 1.0 && whole <= MAX_WINDOW_MS as f64)
        || (ms - whole).abs() > whole * 1e-12
    {
        return Err(bad(
            part,
            "the window must be a whole number of milliseconds from 1 ms to 10 years",
        ));
    }
    Ok(whole as u64)
}

fn parse_one(part: &str) -> Result<Rate> {
    let p = part.trim();
    let lower = p.to_ascii_lowercase();
    let (count, window) = if let Some((c, w)) = p.split_once('/') {
        (c, w)
    } else if let Some(i) = lower.find(" per ") {
        (&p[..i], &p[i + 5..])
    } else {
        return Err(bad(
            part,
            "expected \"<count>/<window>\" or \"<count> per <window>\", e.g. \"10/minute\"",
        ));
    };
    let count = count.trim();
    if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) || count.len() > 10 {
        return Err(bad(part, "the count must be a positive whole number"));
    }
    let limit: u64 = count
        .parse()
        .map_err(|_| bad(part, "the count must be a positive whole number"))?;
    let window_ms = parse_window(part, window)?;
    Rate::new(limit, window_ms).map_err(|e| bad(part, e.message()))
}

/// Parses a rate string holding one or more limits (see the module docs).
pub fn parse_rates(text: &str) -> Result<Vec<Rate>> {
    if text.len() > MAX_TEXT {
        return Err(err!(
            InvalidArgument,
            "a rate string is at most {MAX_TEXT} bytes"
        ));
    }
    if text.trim().is_empty() {
        return Err(err!(InvalidArgument, "the rate string is empty"));
    }
    let parts: Vec<&str> = text.split([';', ',']).collect();
    if parts.len() > MAX_LIMITS {
        return Err(err!(
            InvalidArgument,
            "a rate string holds at most {MAX_LIMITS} limits"
        ));
    }
    parts
        .into_iter()
        .map(|p| {
            if p.trim().is_empty() {
                Err(err!(
                    InvalidArgument,
                    "invalid rate string {text:?}: an empty limit between separators"
                ))
            } else {
                parse_one(p)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(limit: u64, window_ms: u64) -> Rate {
        Rate { limit, window_ms }
    }

    #[test]
    fn the_grammar_users_write() {
        let cases: &[(&str, Rate)] = &[
            ("10/minute", r(10, 60_000)),
            ("10/min", r(10, 60_000)),
            ("10/m", r(10, 60_000)),
            ("10 per minute", r(10, 60_000)),
            ("10 PER 2 Hours", r(10, 7_200_000)),
            ("10 per 2 hours", r(10, 7_200_000)),
            ("5/15m", r(5, 900_000)),
            ("5 / 15 minutes", r(5, 900_000)),
            ("100/day", r(100, 86_400_000)),
            ("3/hour", r(3, 3_600_000)),
            ("1000/hour", r(1000, 3_600_000)),
            ("1/second", r(1, 1000)),
            ("20/s", r(20, 1000)),
            ("2/1.5h", r(2, 5_400_000)),
            ("50/500ms", r(50, 500)),
            ("7/week", r(7, 604_800_000)),
            ("30/month", r(30, 2_592_000_000)),
            ("10000032/6.0057d", r(10_000_032, 518_892_480)),
            ("10000032/518892480ms", r(10_000_032, 518_892_480)),
        ];
        for (text, want) in cases {
            assert_eq!(Rate::parse(text).unwrap(), *want, "{text}");
        }
    }

    #[test]
    fn several_limits() {
        assert_eq!(
            parse_rates("100/minute;200/hour").unwrap(),
            vec![r(100, 60_000), r(200, 3_600_000)]
        );
        assert_eq!(
            parse_rates(" 100/minute , 200 per hour ").unwrap(),
            vec![r(100, 60_000), r(200, 3_600_000)]
        );
        assert!(Rate::parse("1/s;2/m").is_err());
    }

    #[test]
    fn malformed_strings_name_what_is_wrong() {
        for (text, needle) in [
            ("", "empty"),
            ("   ", "empty"),
            ("10", "expected"),
            ("10/", "unit"),
            ("/minute", "count"),
            ("0/minute", "from 1"),
            ("-1/minute", "count"),
            ("1.5/minute", "count"),
            ("10/fortnight", "unknown unit"),
            ("100/dzz", "unknown unit"),
            ("10/0m", "window"),
            ("10/0.0001ms", "window"),
            ("10/100y", "window"),
            ("10/minute;", "empty limit"),
            ("10/minute;;5/s", "empty limit"),
            ("10/.5m", "amount"),
            ("10/1..5m", "amount"),
            ("99999999999/minute", "count"),
            ("10 minutes", "expected"),
        ] {
            let e = parse_rates(text).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidArgument, "{text}");
            assert!(e.message().contains(needle), "{text}: {}", e.message());
        }
        assert!(parse_rates(&"1/s;".repeat(20)).is_err());
        assert!(parse_rates(&"9".repeat(2000)).is_err());
    }

    #[test]
    fn canonical_display_round_trips() {
        for text in [
            "10/minute",
            "5/15m",
            "100/day",
            "3/250ms",
            "2/90m",
            "1/second",
            "4/2h",
        ] {
            let rate = Rate::parse(text).unwrap();
            assert_eq!(rate.to_string(), text);
            assert_eq!(Rate::parse(&rate.to_string()).unwrap(), rate);
        }
        assert_eq!(Rate::parse("10 per 2 hours").unwrap().to_string(), "10/2h");
        assert_eq!(Rate::parse("1/1500ms").unwrap().window_secs(), 2);
    }
}
