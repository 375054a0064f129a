'use strict';
// Security events of every component on one process-wide EventEmitter,
// Prometheus metrics and the health snapshot.
//
// `events` emits `'event'` and the event's own name (`'token_reuse'`,
// `'rate_limited'`, ...) with a plain object: `event`, `category` (the log
// prefix, `'[SECURITY]'`), `severity` (`'info'`, `'warning'`, `'error'`),
// `message` (the log line) and the event's fields. Events hold identifiers
// only, never a secret or a whole token. The native side only starts
// delivering once a listener is added, and only events of `minSeverity` and
// above (`'warning'` unless `setMinSeverity('info')` asks for the
// per-request successes too).

const { EventEmitter } = require('node:events');
const native = require('../index.js');
const { invalidArgument } = require('./errors.js');

/** The content type of `metrics()` (Prometheus text exposition format 0.0.4). */
const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const RANK = { info: 1, warning: 2, error: 3 };

class SecurityEvents extends EventEmitter {
  #wanted = RANK.warning;
  #floor = null; // the least severity a native listener delivers

  get minSeverity() {
    return Object.keys(RANK).find((k) => RANK[k] === this.#wanted);
  }

  /** Lowers (never raises) the least severity delivered: `'info'`, `'warning'` or `'error'`. */
  setMinSeverity(severity) {
    if (!Object.hasOwn(RANK, severity)) {
      throw invalidArgument("minSeverity must be 'info', 'warning' or 'error'");
    }
    this.#wanted = Math.min(this.#wanted, RANK[severity]);
    if (this.#floor !== null) this.#subscribe();
    return this;
  }

  #subscribe() {
    if (this.#floor !== null && this.#wanted >= this.#floor) return;
    const ceiling = this.#floor;
    const severity = this.minSeverity;
    native.addEventListener((e) => {
      if (ceiling !== null && RANK[e.severity] >= ceiling) return; // an earlier listener has it
      this.emit('event', e);
      this.emit(e.event, e);
    }, severity);
    this.#floor = this.#wanted;
  }

  constructor() {
    super();
    this.on('newListener', () => this.#subscribe());
  }
}

/** The process-wide emitter of security events. */
const events = new SecurityEvents();

module.exports = {
  CONTENT_TYPE,
  events,
  metrics: native.metrics,
  health: native.health,
};
