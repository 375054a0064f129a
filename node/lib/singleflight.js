'use strict';
// SingleFlight: concurrent callers of one key share one computation. The
// native core decides who leads each flight and wakes the followers; the
// values never leave JavaScript: the leader files its outcome under a slot
// number, which is all that travels through the core, and each follower
// reads it from there.

const native = require('../index.js');

function invalid(message) {
  const err = new TypeError(message);
  err.code = 'INVALID_ARGUMENT';
  return err;
}

class SingleFlight {
  #native = new native.NativeSingleFlight();
  // slot -> { ok, value, left }: an outcome and how many followers still have to read it.
  #outcomes = new Map();
  #nextSlot = 1;

  /**
   * Runs `fn()` once for all concurrent callers of `key`; resolves to `[value, shared]`
   * (`shared`: the value went to more than one caller), or rejects with the leader's error.
   * Nothing is kept once the flight ends: the next caller computes again.
   */
  async do(key, fn) {
    if (typeof key !== 'string') throw invalid('key must be a string');
    if (typeof fn !== 'function') throw invalid('fn must be a function');
    let token = this.#native.begin(key);
    while (token < 0) {
      const [kind, x] = await this.#native.wait(-token);
      if (kind === 'lead') {
        token = x;
        break;
      }
      const outcome = this.#outcomes.get(x);
      if (--outcome.left === 0) this.#outcomes.delete(x);
      if (!outcome.ok) throw outcome.value;
      return [outcome.value, true];
    }
    let value;
    try {
      value = await fn();
    } catch (err) {
      this.#finish(token, false, err);
      throw err;
    }
    return [value, this.#finish(token, true, value) > 0];
  }

  // Files the leader's outcome and wakes the followers waiting now; returns how many there were.
  #finish(token, ok, value) {
    const slot = this.#nextSlot++;
    const outcome = { ok, value, left: 0 };
    this.#outcomes.set(slot, outcome);
    outcome.left = this.#native.complete(token, slot);
    if (outcome.left === 0) this.#outcomes.delete(slot);
    return outcome.left;
  }

  /** Removes `key`'s flight: its followers still get its outcome; the next caller starts anew. */
  forget(key) {
    if (typeof key !== 'string') throw invalid('key must be a string');
    this.#native.forget(key);
  }

  /** How many callers are waiting for `key`'s flight now. */
  waiting(key) {
    if (typeof key !== 'string') throw invalid('key must be a string');
    return this.#native.waiting(key);
  }

  /** How many flights are running. */
  get inFlight() {
    return this.#native.inFlight;
  }
}

module.exports = { SingleFlight };
