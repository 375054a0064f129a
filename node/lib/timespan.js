'use strict';
// Time spans as `jsonwebtoken` reads them: a number is seconds; a string is
// parsed by the core (`bastion_core::timespan`, the grammar of the `ms`
// package: "2h", "7 days", "1.5h"; a bare number in a string is milliseconds).

const native = require('../index.js');
const { invalidArgument } = require('./errors.js');

/** Seconds in `text`, or undefined when it is not a span. */
function parseSeconds(text) {
  try {
    return native.parseTimespan(text);
  } catch (e) {
    if (e && e.code === 'INVALID_ARGUMENT') return undefined;
    throw e;
  }
}

/**
 * The instant `span` after `from` (seconds since the epoch), as jsonwebtoken
 * computes `exp`/`nbf`: numbers are added, strings floored to whole seconds.
 * Undefined when `span` is neither.
 */
function after(span, from) {
  if (typeof from !== 'number') throw invalidArgument('from must be a number of seconds since the epoch');
  if (typeof span === 'number') return from + span;
  if (typeof span === 'string') {
    const secs = parseSeconds(span);
    return secs === undefined ? undefined : Math.floor(from + secs);
  }
  return undefined;
}

/** `span` in seconds (number as is, string parsed), or undefined. */
function seconds(span) {
  if (typeof span === 'number') return span;
  if (typeof span === 'string') return parseSeconds(span);
  return undefined;
}

module.exports = { after, seconds };
