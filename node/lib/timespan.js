'use strict';
// Time spans as `jsonwebtoken` reads them (vercel/ms grammar): a number is
// seconds; a string is a number with an optional unit ("2h", "7d", "30m",
// "1.5 hours", "90s"; no unit = milliseconds, as in `ms`).
//
// PROVISIONAL: pure argument conversion kept here until the core offers
// `bastion_core::timespan::parse`; then this file becomes a call into it.

const UNITS = {
  ms: 1, msec: 1, msecs: 1, millisecond: 1, milliseconds: 1,
  s: 1e3, sec: 1e3, secs: 1e3, second: 1e3, seconds: 1e3,
  m: 6e4, min: 6e4, mins: 6e4, minute: 6e4, minutes: 6e4,
  h: 36e5, hr: 36e5, hrs: 36e5, hour: 36e5, hours: 36e5,
  d: 864e5, day: 864e5, days: 864e5,
  w: 6048e5, week: 6048e5, weeks: 6048e5,
  y: 315576e5, yr: 315576e5, yrs: 315576e5, year: 315576e5, years: 315576e5,
};

const SPAN = /^(-?(?:\d+)?\.?\d+) *([a-z]+)?$/i;

/** Milliseconds in `text`, or undefined when it is not a span (as `ms(text)`). */
function parseMs(text) {
  if (text.length > 100) return undefined;
  const m = SPAN.exec(text);
  if (m === null) return undefined;
  const unit = m[2] === undefined ? 1 : UNITS[m[2].toLowerCase()];
  return unit === undefined ? undefined : parseFloat(m[1]) * unit;
}

/**
 * The instant `span` after `from` (seconds since the epoch), as jsonwebtoken
 * computes `exp`/`nbf`: numbers are added, strings floored to whole seconds.
 * Undefined when `span` is neither.
 */
function after(span, from) {
  if (typeof span === 'number') return from + span;
  if (typeof span === 'string') {
    const ms = parseMs(span);
    return ms === undefined ? undefined : Math.floor(from + ms / 1000);
  }
  return undefined;
}

/** `span` in seconds (number as is, string parsed), or undefined. */
function seconds(span) {
  if (typeof span === 'number') return span;
  if (typeof span === 'string') {
    const ms = parseMs(span);
    return ms === undefined ? undefined : ms / 1000;
  }
  return undefined;
}

module.exports = { after, seconds, parseMs };
