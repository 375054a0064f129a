//! The four limiter algorithms, as pure functions of one key's state.
//!
//! Each algorithm exists twice with one semantics: here (the memory store's
//! form, and the reference the tests check) and in
//! `store/scripts/ratelimit.lua` (the Redis form). All arithmetic is on whole
//! microseconds, except the weighted estimate of the sliding-window counter,
//! which both forms compute with the same IEEE-754 double operations.
//!
//! Time intervals are half-open: a unit admitted at `t` counts against every
//! window `[s, s + W)` with `s <= t < s + W`, so it stops counting at `t + W`.

use crate::error::{err, Result};
use crate::store::Value;

/// How a limiter judges "at most `limit` in a window of `W`".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// Exact sliding window (a log of admission times), the default.
    ///
    /// Guarantee: in **every** interval of length `W` (not only aligned ones),
    /// at most `limit` units are admitted. A denied request waits exactly
    /// until enough earlier admissions leave the window. State: one timestamp
    /// per admitted unit still inside the window (8 bytes each in memory), so
    /// at most `limit` of them, plus in memory at most 64 (or as many as the
    /// live ones) expired entries awaiting compaction; limits above 10,000 per window are refused
    /// (use [`Algorithm::SlidingCounter`] for those).
    #[default]
    SlidingWindow,
    /// Sliding-window counter (Cloudflare's estimate), O(1) state.
    ///
    /// Keeps the counts of the current and the previous aligned window and
    /// admits while `ceil(previous × (W − elapsed) / W) + current + cost ≤
    /// limit`. Guarantees: never more than `limit` in one aligned window;
    /// in any interval of length `W`, at most `2 × limit` in the adversarial
    /// worst case (all of the previous window's traffic at its very end),
    /// and the estimate is exact when the previous window's traffic was
    /// spread evenly. The store suite measures the over-admission against
    /// the exact model. State: three integers (24 bytes).
    SlidingCounter,
    /// Fixed window: a counter per aligned window of `W`.
    ///
    /// Guarantee: at most `limit` per aligned window; up to `2 × limit` in an
    /// interval of length `W` straddling a window boundary. State: two
    /// integers.
    FixedWindow,
    /// GCRA (the generic cell rate algorithm, a token bucket without a
    /// refill timer): bursts of up to `limit`, then one unit every `W /
    /// limit`.
    ///
    /// Guarantees: a burst never exceeds `limit`; in any interval of length
    /// `L` at most `limit + L / T` units are admitted (`T = W / limit`, whole
    /// microseconds rounded down, so the long-run rate is at most `1 µs / T`
    /// above the nominal one); the emission interval must be at least 1 µs.
    /// State: one timestamp (8 bytes).
    Gcra,
}

/// The most units per window the exact sliding window keeps a log for.
pub const MAX_EXACT_LIMIT: u64 = 10_000;

impl Algorithm {
    /// Parses `"sliding_window"` (also `"exact"`, `"moving_window"`,
    /// `"sliding_log"`), `"sliding_counter"` (also `"sliding_window_counter"`,
    /// `"approximate"`), `"fixed_window"` (also `"fixed"`), `"gcra"` (also
    /// `"token_bucket"`); dashes and underscores are interchangeable.
    pub fn parse(name: &str) -> Result<Self> {
        match name.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "sliding_window" | "exact" | "moving_window" | "sliding_log" => Ok(Self::SlidingWindow),
            "sliding_counter" | "sliding_window_counter" | "approximate" => {
                Ok(Self::SlidingCounter)
            }
            "fixed_window" | "fixed" => Ok(Self::FixedWindow),
            "gcra" | "token_bucket" => Ok(Self::Gcra),
            _ => Err(err!(
                InvalidArgument,
                "unknown rate-limit algorithm {name:?}: expected \"sliding_window\", \
                 \"sliding_counter\", \"fixed_window\" or \"gcra\""
            )),
        }
    }

    /// The canonical name (`"sliding_window"`, ...).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::SlidingWindow => "sliding_window",
            Self::SlidingCounter => "sliding_counter",
            Self::FixedWindow => "fixed_window",
            Self::Gcra => "gcra",
        }
    }

    /// The short name used in store keys and as the script's selector.
    pub(crate) const fn code(self) -> (&'static str, u8) {
        match self {
            Self::SlidingWindow => ("sw", 1),
            Self::SlidingCounter => ("sc", 2),
            Self::FixedWindow => ("fw", 3),
            Self::Gcra => ("gc", 4),
        }
    }
}

/// One limit in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lim {
    pub limit: i64,
    pub window: i64,
}

/// What one limit says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Whether this limit admits the request's cost now.
    pub ok: bool,
    /// Units left: after the charge when admitted, else as things stand.
    pub remaining: i64,
    /// Microseconds until this limit is back to its full capacity (after the
    /// charge when admitted).
    pub reset_after: i64,
    /// Microseconds until the request's cost could be admitted (0 when it is).
    pub retry_after: i64,
}

/// One key's state, loaded and brought up to `now` (expired log entries
/// dropped, windows rolled).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum State {
    /// Admission times, oldest first, one per unit: `buf[start..]`. The
    /// stored form is `buf` itself, whose first element is `start`: expired
    /// entries are skipped by moving `start` and compacted away only once
    /// they outnumber the live ones, so trimming is O(1) amortized.
    Log { buf: Vec<i64>, start: usize },
    /// Aligned window index, its count and the previous window's count.
    Counter {
        index: i64,
        current: i64,
        previous: i64,
    },
    /// Aligned window index and its count.
    Fixed { index: i64, count: i64 },
    /// The theoretical arrival time (never before `now`).
    Gcra { tat: i64 },
}

/// An empty log, with room for a few entries so the first admissions do
/// not reallocate.
fn fresh_log(lim: Lim) -> Vec<i64> {
    let mut buf = Vec::with_capacity(1 + lim.limit.clamp(1, 7) as usize);
    buf.push(1);
    buf
}

/// The GCRA emission interval in microseconds (at least 1; checked at
/// configuration time).
pub(crate) fn emission(lim: Lim) -> i64 {
    lim.window / lim.limit
}

/// How far ahead of now the GCRA's theoretical arrival time may run: `limit`
/// emission intervals (the window, less what rounding `T` down left over),
/// so a burst is `limit` units and any interval of length `L` holds at most
/// `limit + L / T`, however the window divides.
fn burst_span(lim: Lim) -> i64 {
    lim.limit * emission(lim)
}

/// The weighted share of the previous window still inside the sliding window
/// (the same double arithmetic as the Lua form).
fn weighted(previous: i64, window: i64, elapsed: i64) -> i64 {
    ((previous as f64) * ((window - elapsed) as f64) / (window as f64)).ceil() as i64
}

impl State {
    /// Loads the state of a key (absent: empty) as of `now`. The exact
    /// window's log is taken over, not copied.
    pub fn load(alg: Algorithm, value: Option<Value>, now: i64, lim: Lim) -> State {
        match alg {
            Algorithm::SlidingWindow => {
                let mut buf = match value {
                    Some(Value::Ints(v)) => v,
                    _ => fresh_log(lim),
                };
                let mut start = buf.first().map_or(0, |&s| s as usize);
                if start == 0 || start > buf.len() {
                    // Not a log this version wrote: start afresh.
                    buf = fresh_log(lim);
                    start = 1;
                }
                start += buf[start..].partition_point(|&t| t + lim.window <= now);
                State::Log { buf, start }
            }
            Algorithm::SlidingCounter => {
                let index = now.div_euclid(lim.window);
                let (i, c, p) = match value {
                    Some(Value::Words([i, c, p, _])) => (i, c, p),
                    _ => (index, 0, 0),
                };
                let (current, previous) = if i == index {
                    (c, p)
                } else if i == index - 1 {
                    (0, c)
                } else {
                    (0, 0)
                };
                State::Counter {
                    index,
                    current,
                    previous,
                }
            }
            Algorithm::FixedWindow => {
                let index = now.div_euclid(lim.window);
                let count = match value {
                    Some(Value::Words([i, c, _, _])) if i == index => c,
                    _ => 0,
                };
                State::Fixed { index, count }
            }
            Algorithm::Gcra => {
                let tat = match value {
                    Some(Value::Words([t, _, _, _])) => t.max(now),
                    _ => now,
                };
                State::Gcra { tat }
            }
        }
    }

    /// What this limit says about `cost` units at `now`.
    pub fn eval(&self, now: i64, lim: Lim, cost: i64) -> Verdict {
        match self {
            State::Log { buf, start } => {
                let log = &buf[*start..];
                let used = log.len() as i64;
                let ok = used + cost <= lim.limit;
                let after = if ok { used + cost } else { used };
                let newest = if ok && cost > 0 {
                    Some(now)
                } else {
                    log.last().copied()
                };
                let retry_after = if ok {
                    0
                } else {
                    // The oldest `used + cost - limit` entries must leave.
                    let k = (used + cost - lim.limit - 1).max(0) as usize;
                    log.get(k).map_or(lim.window, |t| t + lim.window - now)
                };
                Verdict {
                    ok,
                    remaining: lim.limit - after,
                    reset_after: newest.map_or(0, |t| t + lim.window - now),
                    retry_after,
                }
            }
            State::Counter {
                index,
                current,
                previous,
            } => {
                let w = lim.window;
                let elapsed = now - index * w;
                let used = weighted(*previous, w, elapsed) + current;
                let ok = used + cost <= lim.limit;
                let after = if ok { used + cost } else { used };
                let cur_after = if ok { current + cost } else { *current };
                let retry_after = if ok {
                    0
                } else {
                    counter_retry(*previous, *current, w, elapsed, lim.limit, cost)
                };
                let reset_after = if cur_after > 0 {
                    2 * w - elapsed
                } else if *previous > 0 {
                    w - elapsed
                } else {
                    0
                };
                Verdict {
                    ok,
                    remaining: (lim.limit - after).max(0),
                    reset_after,
                    retry_after,
                }
            }
            State::Fixed { index, count } => {
                let ok = count + cost <= lim.limit;
                let after = if ok { count + cost } else { *count };
                let end = (index + 1) * lim.window - now;
                Verdict {
                    ok,
                    remaining: lim.limit - after,
                    reset_after: if after > 0 { end } else { 0 },
                    retry_after: if ok { 0 } else { end },
                }
            }
            State::Gcra { tat } => {
                let t = emission(lim);
                let span = burst_span(lim);
                let new_tat = tat + cost * t;
                let ok = new_tat - now <= span;
                let at = if ok { new_tat } else { *tat };
                Verdict {
                    ok,
                    remaining: ((span - (at - now)) / t).clamp(0, lim.limit),
                    reset_after: at - now,
                    retry_after: if ok { 0 } else { new_tat - span - now },
                }
            }
        }
    }

    /// Charges `cost` units at `now` (after an admitting [`State::eval`]).
    pub fn charge(&mut self, now: i64, lim: Lim, cost: i64) {
        match self {
            State::Log { buf, .. } => buf.extend(std::iter::repeat_n(now, cost as usize)),
            State::Counter { current, .. } => *current += cost,
            State::Fixed { count, .. } => *count += cost,
            State::Gcra { tat } => *tat += cost * emission(lim),
        }
    }

    /// Gives back up to `cost` units (the most recent admissions first).
    pub fn refund(&mut self, now: i64, lim: Lim, cost: i64) {
        match self {
            State::Log { buf, start } => {
                let keep = buf.len().saturating_sub(cost as usize).max(*start);
                buf.truncate(keep);
            }
            State::Counter { current, .. } => *current = (*current - cost).max(0),
            State::Fixed { count, .. } => *count = (*count - cost).max(0),
            State::Gcra { tat } => *tat = (*tat - cost * emission(lim)).max(now),
        }
    }

    /// The value to keep and when it expires; `None` when nothing needs
    /// keeping (the key can go).
    pub fn save(self, now: i64, lim: Lim) -> Option<(Value, i64)> {
        match self {
            State::Log { mut buf, mut start } => {
                if start >= buf.len() {
                    return None;
                }
                let newest = buf[buf.len() - 1];
                let live = buf.len() - start;
                if start > 64 && start - 1 > live {
                    buf.drain(1..start);
                    start = 1;
                }
                buf[0] = start as i64;
                Some((Value::Ints(buf), newest + lim.window))
            }
            State::Counter {
                index,
                current,
                previous,
            } => {
                if current == 0 && previous == 0 {
                    return None;
                }
                Some((
                    Value::Words([index, current, previous, 0]),
                    (index + 2) * lim.window,
                ))
            }
            State::Fixed { index, count } => {
                if count == 0 {
                    return None;
                }
                Some((Value::Words([index, count, 0, 0]), (index + 1) * lim.window))
            }
            State::Gcra { tat } => {
                if tat <= now {
                    return None;
                }
                Some((Value::Words([tat, 0, 0, 0]), tat))
            }
        }
    }
}

/// Microseconds until the sliding-window counter admits `cost`, with the
/// window `elapsed` µs old holding `current` and the previous `previous`.
fn counter_retry(previous: i64, current: i64, w: i64, elapsed: i64, limit: i64, cost: i64) -> i64 {
    // Within this window: ceil(previous × (W − e) / W) ≤ limit − current − cost.
    let room = limit - current - cost;
    if room >= 0 && previous > 0 {
        let at = first_fit(previous, w, room);
        if at < w {
            return (at - elapsed).max(0);
        }
    }
    // In the next window the current count becomes the previous one.
    let room = limit - cost;
    let at = if current > 0 {
        first_fit(current, w, room)
    } else {
        0
    };
    (w - elapsed) + at
}

/// The first elapsed time `e` in a window with `previous` units behind it at
/// which `ceil(previous × (W − e) / W) ≤ room` holds.
fn first_fit(previous: i64, w: i64, room: i64) -> i64 {
    // Start from the real-valued bound, then correct for the double rounding
    // so the answer agrees with `weighted` exactly.
    let mut e = (w as f64 - (room as f64) * (w as f64) / (previous as f64))
        .ceil()
        .max(0.0) as i64;
    while e > 0 && weighted(previous, w, e - 1) <= room {
        e -= 1;
    }
    while e < w && weighted(previous, w, e) > room {
        e += 1;
    }
    e
}
