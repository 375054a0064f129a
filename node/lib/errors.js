'use strict';
// The jsonwebtoken error classes, each also carrying the core's stable code
// (`err.code`, e.g. 'TOKEN_EXPIRED') and, when the failure came from the
// core, the native error as `err.inner` (jsonwebtoken's field for a cause).

/** Base class of every verification failure (jsonwebtoken's). */
class JsonWebTokenError extends Error {
  constructor(message, error, code) {
    super(message);
    if (Error.captureStackTrace) Error.captureStackTrace(this, this.constructor);
    this.name = 'JsonWebTokenError';
    if (error) this.inner = error;
    if (code !== undefined) this.code = code;
  }
}

/** The token has expired (`exp`) or is older than `maxAge`. */
class TokenExpiredError extends JsonWebTokenError {
  constructor(message, expiredAt, error, code = 'TOKEN_EXPIRED') {
    super(message, error, code);
    this.name = 'TokenExpiredError';
    this.expiredAt = expiredAt;
  }
}

/** The token is not valid yet (`nbf`, or an `iat` in the future). */
class NotBeforeError extends JsonWebTokenError {
  constructor(message, date, error, code = 'TOKEN_NOT_YET_VALID') {
    super(message, error, code);
    this.name = 'NotBeforeError';
    this.date = date;
  }
}

/** A plain `Error` with a code (jsonwebtoken's `sign` throws plain errors). */
function codedError(message, code, inner) {
  const err = new Error(message);
  err.code = code;
  if (inner) err.inner = inner;
  return err;
}

/** A `TypeError` with code `INVALID_ARGUMENT` (an argument of the wrong type or shape). */
function invalidArgument(message) {
  const err = new TypeError(message);
  err.code = 'INVALID_ARGUMENT';
  return err;
}

module.exports = { JsonWebTokenError, TokenExpiredError, NotBeforeError, codedError, invalidArgument };
