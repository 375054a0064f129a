'use strict';
// CircuitBreaker: stop calling a dependency that keeps failing, probe it after
// a while, close again when it has recovered. The state machine (trip
// policies, open time, bounded half-open probes, generations) is the native
// core's; this class adds the JavaScript ways to use it: `call(fn, ...args)`,
// `fire(...args)` with the action given to the constructor, a fallback, the
// two-step `acquire()` / `tryAcquire()`, and events on an EventEmitter.

const { EventEmitter } = require('node:events');
const native = require('../index.js');

const TRANSITIONS = { circuit_open: 'open', circuit_half_open: 'halfOpen', circuit_closed: 'close' };

const SUCCESS = 0;
const FAILURE = 1;
const IGNORED = 2;

// A permit the caller dropped without reporting is reported as ignored when
// it is garbage-collected, which frees a half-open probe slot.
const unreported = new FinalizationRegistry(({ breaker, id }) => breaker.record(id, IGNORED));

function invalid(message) {
  const err = new TypeError(message);
  err.code = 'INVALID_ARGUMENT';
  return err;
}

/** What a permit reports through: its breaker's `record` and `isProbe` (made by CircuitBreaker only). */
class Port {
  constructor(record, isProbe) {
    this.record = record;
    this.isProbe = isProbe;
  }
}

/** The right to make one call; report it once with success(), failure() or ignore(). */
class BreakerPermit {
  #breaker;
  #id;

  /** Made by `CircuitBreaker.acquire()` / `tryAcquire()`; anything else is `INVALID_ARGUMENT`. */
  constructor(breaker, id) {
    // An unreported permit is reported when collected: a permit of anything but a breaker would
    // throw from the finalizer, where nothing can catch it.
    if (!(breaker instanceof Port) || typeof id !== 'number') {
      throw invalid('a BreakerPermit is made by CircuitBreaker.acquire() or tryAcquire()');
    }
    this.#breaker = breaker;
    this.#id = id;
    unreported.register(this, { breaker, id }, this);
  }

  /** Whether this call is a half-open probe. */
  get isProbe() {
    return this.#id !== 0 && this.#breaker.isProbe(this.#id);
  }

  #report(outcome) {
    const id = this.#id;
    if (id === 0) return null;
    this.#id = 0;
    unreported.unregister(this);
    return this.#breaker.record(id, outcome);
  }

  /** The call succeeded; returns the state this moved the breaker to, or null. */
  success() {
    return this.#report(SUCCESS);
  }

  /** The call failed; returns the state this moved the breaker to, or null. */
  failure() {
    return this.#report(FAILURE);
  }

  /** Neither (a cancelled call): counts nothing, frees the permit. */
  ignore() {
    return this.#report(IGNORED);
  }
}

function timedOut(ms) {
  const err = new Error(`the call took longer than its timeout of ${ms} ms`);
  err.code = 'ETIMEDOUT';
  return err;
}

/** `promise`, or a rejection with `ETIMEDOUT` after `ms` (the timer is cleared either way). */
function withTimeout(promise, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(timedOut(ms)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

class CircuitBreaker extends EventEmitter {
  #native;
  #action;
  #fallback = null;
  #isFailure;
  #resultIsFailure;
  #timeoutMs;
  #openMessage;
  #abortController;
  // The fast path: while the native breaker says a success would change nothing but its counters
  // (`fastGeneration`: read again after any report, -2 meaning "ask"), `call` admits and counts
  // here, with no call into the addon; calls and successes counted so far are handed over at the
  // next one. Only for breakers whose options allow it (`#eligible`): a new breaker is closed with
  // no failure, so it says so at once if it ever will.
  #fast = -1;
  #eligible = false;
  #shared = false;
  #admitted = 0;
  #succeeded = 0;
  // What BreakerPermit reports through, so that its reports refresh the fast path too.
  #port;

  /**
   * @param {Function|object} [action] the function `fire()` calls; or the options.
   * @param {object} [options] the core's options (`name`, `failMax`, `resetTimeout`,
   *   `successThreshold`, `failureRate`, `windowCalls`, `windowTime`, `minimumCalls`,
   *   `slowCallRate`, `slowCallDuration`, `maxResetTimeout`, `backoffMultiplier`,
   *   `halfOpenMaxCalls`, `probeTimeout`, `callTimeout`, `syncInterval`, `flushInterval`), plus
   *   `clock`, `isFailure(err)`, `resultIsFailure(result)` and `store`: a Redis `Store` shares
   *   the breaker's state with every process (Node or Python) whose breaker has the same name
   *   on that Redis (the store's clock is used: give a test `ManualClock` to the `Store`), and
   *   `abortController` (as opossum has it): aborted, with the `ETIMEDOUT` error as its reason,
   *   when a call takes longer than `callTimeout`, so the action can stop its work.
   */
  constructor(action, options) {
    super();
    if (typeof action !== 'function') {
      if (options === undefined) {
        options = action;
        action = null;
      } else if (action !== null && action !== undefined) {
        throw invalid('action must be a function');
      }
    }
    if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) {
      throw invalid('options must be an object of breaker options');
    }
    const {
      clock = null,
      isFailure = null,
      resultIsFailure = null,
      store = null,
      abortController = null,
      ...rest
    } = options ?? {};
    if (abortController !== null && typeof abortController?.abort !== 'function') {
      throw invalid('abortController must be an AbortController');
    }
    for (const [name, f] of [['isFailure', isFailure], ['resultIsFailure', resultIsFailure]]) {
      if (f !== null && typeof f !== 'function') throw invalid(`${name} must be a function`);
    }
    this.#native = new native.NativeCircuitBreaker(rest, clock, (event) => this.#transition(event), store);
    this.#action = action ?? null;
    this.#isFailure = isFailure;
    this.#resultIsFailure = resultIsFailure;
    this.#timeoutMs = this.#native.callTimeoutMs;
    this.#abortController = abortController;
    const nat = this.#native;
    this.#port = new Port(
      (id, outcome) => this.#after(nat.record(id, outcome)),
      (id) => nat.isProbe(id),
    );
    this.#fast = nat.fastGeneration;
    this.#eligible = this.#fast >= 0;
    this.#shared = nat.shared;
    this.#openMessage = this.#native.openMessage;
  }

  // Called synchronously by the native breaker, inside the call that caused the transition. A
  // listener that throws does not undo or break that call: its error is rethrown on the next tick
  // (an uncaught exception, as a throwing listener's would be anywhere else).
  #transition(event) {
    const name = TRANSITIONS[event.event];
    try {
      this.emit('stateChange', event);
      if (name) this.emit(name, event);
    } catch (err) {
      process.nextTick(() => {
        throw err;
      });
    }
  }

  /** Sets the fallback: called with the arguments and the error when a call is rejected or fails. */
  fallback(fn) {
    if (typeof fn !== 'function') throw invalid('the fallback must be a function');
    this.#fallback = fn;
    return this;
  }

  /** Calls the constructor's action with `args` through the breaker. */
  fire(...args) {
    if (this.#action === null) return Promise.reject(invalid('this breaker has no action: use call(fn, ...args)'));
    return this.call(this.#action, ...args);
  }

  /** Calls `fn(...args)` through the breaker; resolves to its result. */
  async call(fn, ...args) {
    if (typeof fn !== 'function') throw invalid('fn must be a function');
    let gen = this.#fast;
    if (gen === -2) gen = this.#fast = this.#native.fastGeneration;
    if (gen >= 0) return this.#callFast(gen, fn, args);
    let id;
    if (this.#shared) {
      // Shared through Redis: the mirror answers at once, except at the half-open edge, where the
      // round trip is awaited (never made on this thread).
      id = this.#native.tryAcquireNow();
      if (id === 0) id = await this.#native.tryAcquireAsync();
    } else {
      id = this.#native.tryAcquire();
    }
    if (id < 0) {
      const err = this.#rejection(-1 - id);
      this.emit('reject', err);
      return this.#fail(args, err);
    }
    let result;
    try {
      const pending = fn(...args);
      result = await (this.#timeoutMs === null ? pending : withTimeout(pending, this.#timeoutMs));
    } catch (err) {
      const failure = this.#counts(err);
      if (this.#shared) await this.#recordShared(id, failure ? FAILURE : SUCCESS);
      else this.#port.record(id, failure ? FAILURE : SUCCESS);
      if (err?.code === 'ETIMEDOUT') {
        // opossum's way: the action reads the controller's signal, which a timeout aborts.
        this.#abortController?.abort(err);
        this.emit('timeout', err);
      }
      this.emit(failure ? 'failure' : 'success', failure ? err : undefined);
      return this.#fail(args, err);
    }
    const failed = this.#resultIsFailure !== null && this.#resultIsFailure(result);
    if (this.#shared) await this.#recordShared(id, failed ? FAILURE : SUCCESS);
    else this.#port.record(id, failed ? FAILURE : SUCCESS);
    this.emit(failed ? 'failure' : 'success', result);
    return result;
  }

  // A shared breaker's report: at once when it needs no round trip (a success in the closed
  // state), else a Promise of Redis's answer (a failure, a probe's outcome).
  #recordShared(id, outcome) {
    return this.#native.recordNow(id, outcome) === 4 ? this.#native.recordAsync(id, outcome) : null;
  }

  // `call` admitted here in generation `gen` (closed, no failure in a row: no call timing either,
  // so the call is never raced against a timer). A success that still changes nothing is only
  // counted; any other outcome goes to the native breaker, which counts it as a permit of `gen`.
  async #callFast(gen, fn, args) {
    this.#admitted++;
    let result;
    try {
      result = await fn(...args);
    } catch (err) {
      const failure = this.#counts(err);
      this.#reportAdmitted(gen, failure ? FAILURE : SUCCESS);
      this.emit(failure ? 'failure' : 'success', failure ? err : undefined);
      return this.#fail(args, err);
    }
    if (this.#resultIsFailure !== null && this.#resultIsFailure(result)) {
      this.#reportAdmitted(gen, FAILURE);
      this.emit('failure', result);
    } else {
      if (this.#fast === gen) this.#succeeded++;
      else this.#reportAdmitted(gen, SUCCESS);
      this.emit('success', result);
    }
    return result;
  }

  #reportAdmitted(gen, outcome) {
    const calls = this.#admitted;
    const successes = this.#succeeded;
    this.#admitted = 0;
    this.#succeeded = 0;
    return this.#after(this.#native.recordAdmitted(gen, outcome, calls, successes));
  }

  // Hands over what the fast path counted (before anything reads the native counters).
  #handOver() {
    if (this.#admitted !== 0 || this.#succeeded !== 0) {
      this.#native.addAdmitted(this.#admitted, this.#succeeded);
      this.#admitted = 0;
      this.#succeeded = 0;
    }
  }

  // After a call into the native breaker that may have changed its state.
  #after(result) {
    if (this.#eligible) this.#fast = -2;
    return result;
  }

  // The core's CIRCUIT_OPEN error, built here (cheaper than a native error on every rejection).
  #rejection(retryAfter) {
    const err = new Error(this.#openMessage);
    err.code = 'CIRCUIT_OPEN';
    err.retryAfter = retryAfter;
    return err;
  }

  #counts(err) {
    return this.#isFailure === null || Boolean(this.#isFailure(err));
  }

  #fail(args, err) {
    if (this.#fallback === null) throw err;
    this.emit('fallback', err);
    return this.#fallback(...args, err);
  }

  /** A permit for one call; throws `CIRCUIT_OPEN` (with `retryAfter`) when rejected. */
  acquire() {
    return new BreakerPermit(this.#port, this.#native.acquire());
  }

  /** A permit for one call, or null when rejected (no error built). */
  tryAcquire() {
    const id = this.#native.tryAcquire();
    return id < 0 ? null : new BreakerPermit(this.#port, id);
  }

  /** `'closed'`, `'open'` or `'half-open'`. */
  get state() {
    return this.#native.state;
  }

  get name() {
    return this.#native.name;
  }

  /** A snapshot for health checks and metrics. */
  stats() {
    this.#handOver();
    return this.#native.stats();
  }

  /**
   * Shared through Redis: resolves once the shared state has been read and this process follows
   * it (also after an outage); rejects with `STORE_UNAVAILABLE` when Redis does not answer in
   * time. Resolves at once for a breaker that is not shared.
   */
  sync() {
    return this.#native.sync();
  }

  /** Opens the breaker now, for its open time. */
  open() {
    this.#after(this.#native.open());
  }

  /** Closes the breaker now, clearing its counts. */
  close() {
    this.#after(this.#native.close());
  }

  /** Moves the breaker to half-open now: the next call is a probe. */
  halfOpen() {
    this.#after(this.#native.halfOpen());
  }
}

module.exports = { CircuitBreaker, BreakerPermit };
