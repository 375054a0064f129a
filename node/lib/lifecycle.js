'use strict';
// TokenService: access/refresh pairs, rotation with reuse detection and
// revocation, with state in a Store (memory, Redis or Redis Cluster). Every
// rule runs in the native core; this wrapper only turns claims objects into
// JSON text and back.

const native = require('../index.js');
const { invalidArgument } = require('./errors.js');

class TokenService {
  #inner;

  /**
   * @param {import('../index').Key} key signing key (a secret or a private key)
   * @param {object} [options] lifetimes in seconds, issuer, audience, claim
   *   names, `rotationGrace`, `revocationPolicy`, plus `store`, `clock` and
   *   `onEvent`.
   */
  constructor(key, options = {}) {
    if (options === null || typeof options !== 'object') {
      throw invalidArgument('options must be an object');
    }
    const { store = null, clock = null, onEvent = null, ...rest } = options;
    this.#inner = new native.NativeTokenService(key, store, rest, clock, onEvent);
  }

  /** Issues a new pair for `subject` with extra `claims`, starting a family. */
  issuePair(subject, claims) {
    let text = null;
    if (claims !== undefined && claims !== null) {
      if (typeof claims !== 'object' || Array.isArray(claims)) {
        return Promise.reject(invalidArgument('claims must be an object'));
      }
      try {
        text = JSON.stringify(claims);
      } catch (e) {
        // A BigInt, a cycle, nesting deeper than the stack: the claims' shape, not a crash.
        return Promise.reject(invalidArgument(`the claims cannot be serialised as JSON: ${e.message}`));
      }
    }
    return callNative(() => this.#inner.issuePair(subject, text));
  }

  /** Rotates a refresh token into a new pair of the same family. */
  rotate(refresh) {
    return callNative(() => this.#inner.rotate(refresh));
  }

  /** Verifies a token (`kind`: 'access' or 'refresh') and checks revocation; resolves to its claims. */
  async verify(token, kind) {
    return JSON.parse(await callNative(() => this.#inner.verify(token, kind ?? null)));
  }

  /** Revokes one token; `by` is the subject asking (it must own the token unless `admin`). */
  revoke(token, options) {
    if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) {
      return Promise.reject(invalidArgument('options must be an object: { by, admin }'));
    }
    const { by = null, admin = false } = options ?? {};
    return callNative(() => this.#inner.revoke(token, by, admin));
  }

  /** Revokes everything `subject` holds (logout everywhere, password change). */
  revokeAll(subject) {
    return callNative(() => this.#inner.revokeAll(subject));
  }

  /** Revokes one family of `subject`; resolves to whether it existed. */
  revokeFamily(subject, family) {
    return callNative(() => this.#inner.revokeFamily(subject, family));
  }
}

// Argument errors are thrown synchronously by the native method; a Promise
// API reports them as rejections.
function callNative(fn) {
  try {
    return fn();
  } catch (err) {
    return Promise.reject(err);
  }
}

/**
 * The API key registry: `options.store` is a `Store` (default: this process's
 * memory, driven by `clock` in tests). Every rule is native; this subclass only
 * hands the store to the native constructor.
 */
class ApiKeys extends native.ApiKeys {
  constructor(hasher, options, clock) {
    if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) {
      throw invalidArgument('options must be an object of API key options');
    }
    const { store = null, ...rest } = options ?? {};
    super(hasher, rest, clock ?? null, store);
  }
}

module.exports = { TokenService, ApiKeys, Store: native.Store };
