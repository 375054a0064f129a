'use strict';
// RateLimiter and Decision over the native limiter (bindings/node/src/ratelimit.rs).
// Every rule (rate strings, algorithms, all-or-nothing multi-limit decisions,
// outage policies, headers) is native. This file only moves numbers: a
// decision arrives as a snapshot of numbers (its layout is documented in
// ratelimit.rs) from which a Decision copies its fields, and `headers()` /
// `retryAfterHeader()` hand the snapshot back to the core. On the memory
// store the whole decision runs on the calling thread, the Promise methods
// included; on Redis the Promise methods run on the core's I/O runtime.

const { inspect } = require('node:util');
const native = require('../index.js');
const { invalidArgument } = require('./errors.js');

const CHECK = 0;
const HIT = 1;
const PEEK = 2;
const REFUND = 3;
const RESET = 4;

/** Snapshot fields before the limits, and per limit. */
const HEAD = 10;
const PER_LIMIT = 5;

/** What a Decision needs of its limiter. */
class Context {
  constructor(handle, info) {
    this.handle = handle;
    this.rateTable = info.rateTable;
    this.fallbacks = info.fallbacks;
    this.name = info.name;
  }
}

/**
 * The answer to a check. Plain data fields (`allowed`, `limit`, `remaining`,
 * `resetAfter`, `retryAfter`, `deniedBy`, `rate`, `fallback`, `policy`,
 * `decidedAt`); `limits`, `headers()` and `retryAfterHeader()` are built on
 * demand.
 */
class Decision {
  #snapshot;
  #context;

  constructor(snapshot, context) {
    if (!(context instanceof Context)) {
      throw invalidArgument('a Decision is made by a RateLimiter');
    }
    const s = snapshot;
    this.allowed = s[0] === 1;
    this.limit = s[1];
    this.remaining = s[2];
    this.resetAfter = s[3];
    this.retryAfter = s[4];
    this.deniedBy = s[5] < 0 ? null : s[5];
    this.rate = context.rateTable[s[6]];
    this.fallback = s[7] < 0 ? null : context.fallbacks[s[7]];
    this.policy = context.name;
    this.decidedAt = s[8];
    const len = HEAD + PER_LIMIT * s[9];
    const copy = new Array(len);
    for (let i = 0; i < len; i++) copy[i] = s[i];
    this.#snapshot = copy;
    this.#context = context;
  }

  /** Every limit's own answer, in the limiter's order. */
  get limits() {
    const s = this.#snapshot;
    const out = [];
    for (let i = HEAD; i < s.length; i += PER_LIMIT) {
      out.push({
        rate: this.#context.rateTable[s[i]],
        allowed: s[i + 1] === 1,
        remaining: s[i + 2],
        resetAfter: s[i + 3],
        retryAfter: s[i + 4],
      });
    }
    return out;
  }

  /** The response headers, in a fixed order (see index.d.ts). */
  headers() {
    return native.rateLimitHeaders(this.#context.handle, this.#snapshot);
  }

  /**
   * The 429 answer to this denied decision (`{ status, headers, body, code, detail }`): the
   * rate-limit headers, `Retry-After` and a problem+json body naming the violated policy, the
   * same bytes as Python's `Decision.problem()`. Throws `INVALID_ARGUMENT` when admitted.
   */
  problem() {
    return native.rateLimitProblem(this.#context.handle, this.#snapshot);
  }

  /** `Retry-After` in whole seconds (rounded up, at least 1) when denied, else null. */
  retryAfterHeader() {
    return native.rateLimitRetryAfterHeader(this.#context.handle, this.#snapshot);
  }

  /** Every field, `limits` included, as a plain object. */
  toJSON() {
    return { ...this, limits: this.limits };
  }

  [inspect.custom](depth, options) {
    return `Decision ${inspect(this.toJSON(), options)}`;
  }
}

class RateLimiter {
  #handle;
  #context;
  #info;
  #out;

  /**
   * @param {string} rates one or more limits, e.g. `'5/15m'` or `'100/minute;2000/day'`
   * @param {object} [options] `name`, `algorithm`, `outagePolicy`,
   *   `localRates`, plus `store` (default: a new memory store) and `onEvent`.
   */
  constructor(rates, options) {
    if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) {
      throw invalidArgument('options must be an object of limiter options');
    }
    const { store = null, onEvent = null, ...rest } = options ?? {};
    this.#handle = native.rateLimiterNew(rates, rest, store, onEvent);
    this.#info = native.rateLimiterInfo(this.#handle);
    this.#context = new Context(this.#handle, this.#info);
    this.#out = new Float64Array(this.#info.snapshotLength);
  }

  /** The limits, in canonical form (`['5/15m']`). */
  get rates() {
    return [...this.#info.rates];
  }

  /** The limiter's name. */
  get name() {
    return this.#info.name;
  }

  /** The algorithm's name. */
  get algorithm() {
    return this.#info.algorithm;
  }

  /** The outage policy's name. */
  get outagePolicy() {
    return this.#info.outagePolicy;
  }

  #now(verb, key, cost) {
    const n = native.rateLimiterRunSync(this.#handle, verb, key, cost, this.#out);
    return n === 0 ? undefined : new Decision(this.#out, this.#context);
  }

  #later(verb, key, cost) {
    try {
      if (this.#info.memory) return Promise.resolve(this.#now(verb, key, cost));
      return native
        .rateLimiterRun(this.#handle, verb, key, cost)
        .then((s) => (s.length === 0 ? undefined : new Decision(s, this.#context)));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  checkSync(key, cost) {
    if (cost === undefined && typeof key === 'string') {
      // The hot path: cost 1, fewer argument conversions.
      native.rateLimiterCheckSync(this.#handle, key, this.#out);
      return new Decision(this.#out, this.#context);
    }
    return this.#now(CHECK, key, cost);
  }

  check(key, cost) {
    return this.#later(CHECK, key, cost);
  }

  hitSync(key, cost) {
    return this.#now(HIT, key, cost);
  }

  hit(key, cost) {
    return this.#later(HIT, key, cost);
  }

  peekSync(key, cost) {
    return this.#now(PEEK, key, cost);
  }

  peek(key, cost) {
    return this.#later(PEEK, key, cost);
  }

  refundSync(key, cost) {
    this.#now(REFUND, key, cost);
  }

  refund(key, cost) {
    return this.#later(REFUND, key, cost);
  }

  resetSync(key) {
    this.#now(RESET, key, undefined);
  }

  reset(key) {
    return this.#later(RESET, key, undefined);
  }

  [inspect.custom]() {
    return `RateLimiter { name: ${inspect(this.name)}, rates: ${inspect(this.rates)}, algorithm: ${inspect(this.algorithm)} }`;
  }
}

module.exports = { RateLimiter, Decision };
