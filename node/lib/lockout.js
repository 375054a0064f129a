'use strict';
// Lockout: account lockout after failed logins (django-axes' settings), with
// its counts in a Store (memory, Redis or Redis Cluster). Every rule runs in
// the native core; this subclass only takes `store`, `clock` and `onEvent`
// from the options object and hands them to the native constructor.

const native = require('../index.js');

class Lockout extends native.Lockout {
  /**
   * @param {object} [options] `failureLimit`, `cooloff` (seconds or `"30m"`),
   *   `parameters`, `resetOnSuccess`, `progressive`, `maxFailures`,
   *   `extendOnFailure`, `outagePolicy`, `name`, plus `store`, `clock` and
   *   `onEvent`.
   */
  constructor(options) {
    if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) {
      const err = new TypeError('options must be an object of lockout options');
      err.code = 'INVALID_ARGUMENT';
      throw err;
    }
    const { store = null, clock = null, onEvent = null, ...rest } = options ?? {};
    super(rest, store, clock, onEvent);
  }
}

module.exports = { Lockout };
