'use strict';
// SharedCache: a value computed once across the callers of every process
// (Python or Node) sharing a Store. The native core coalesces the callers of
// this process, takes the key's lease (with a fencing token), looks up again,
// lets one caller compute, writes the value only while its fence is current,
// and wakes the waiters of every process by broadcast. On Redis, a value read
// from the store is answered from this process for `localTtl` (1 s by
// default, never past its freshness) without a round trip; a new value or an
// invalidation anywhere drops those copies as its broadcast arrives. This
// file only serializes values (JSON by default) and runs the computation.

const native = require('../index.js');

function invalid(message) {
  const err = new TypeError(message);
  err.code = 'INVALID_ARGUMENT';
  return err;
}

const JSON_SERIALIZER = {
  dumps: (value) => Buffer.from(JSON.stringify(value), 'utf8'),
  loads: (buf) => JSON.parse(buf.toString('utf8')),
};

function serializerOf(s) {
  if (s === undefined || s === null || s === 'json') return JSON_SERIALIZER;
  if (typeof s === 'object' && typeof s.dumps === 'function' && typeof s.loads === 'function') return s;
  throw invalid("serializer must be 'json' or an object with dumps(value) and loads(buffer)");
}

class SharedCache {
  #native;
  #ser;

  /**
   * `store`: a `Store` (default: this process's memory); `options`: ttl,
   * staleWhileRevalidate, staleIfError, negativeTtl, xfetchBeta, maxEntries,
   * leaseTtl, waitTimeout, maxValueBytes, localTtl, namespace, serializer,
   * onEvent.
   */
  constructor(store = null, options = {}) {
    const { serializer, onEvent, ...rest } = options ?? {};
    this.#ser = serializerOf(serializer);
    this.#native = new native.NativeSharedCache(store, rest, onEvent ?? null);
  }

  #load(step) {
    return step.value == null ? null : this.#ser.loads(step.value);
  }

  /**
   * Resolves to the value of `key`: from the store, or `await fn()` computed
   * once for every caller of every process. `null`/`undefined` from `fn`
   * means "nothing found" (kept for `negativeTtl` when set).
   */
  async get(key, fn) {
    if (typeof key !== 'string') throw invalid('key must be a string');
    if (typeof fn !== 'function') throw invalid('fn must be a function');
    const step = await this.#native.begin(key);
    if (step.kind === 'value') return this.#load(step);
    let value;
    try {
      value = await fn();
    } catch (err) {
      const coded = err !== null && typeof err === 'object' && typeof err.code === 'string';
      const stale = await this.#native.fail(
        step.fill,
        String((err && err.name) || 'Error'),
        coded ? err.code : null,
        coded && typeof err.retryAfter === 'number' ? err.retryAfter : null,
      );
      if (stale === null) throw err;
      return this.#load(stale);
    }
    const data = value == null ? null : this.#ser.dumps(value);
    await this.#native.finish(step.fill, data);
    return value ?? null;
  }

  /** Removes `key`'s value: the next caller computes it. */
  invalidate(key) {
    if (typeof key !== 'string') throw invalid('key must be a string');
    return this.#native.invalidate(key);
  }

  /** Resolves to true once this process receives the store's broadcasts. */
  ready(timeoutMs = 5000) {
    return this.#native.ready(timeoutMs);
  }

  /** How many callers of this process wait for `key`'s computation now. */
  waiting(key) {
    return this.#native.waiting(key);
  }

  /** How many values the local tier holds now (Redis stores only). */
  localEntries() {
    return this.#native.localEntries();
  }

  /** Counts since the cache was made (`localHits`: answers of the local tier). */
  stats() {
    return this.#native.stats();
  }
}

module.exports = { SharedCache };
