'use strict';
// Password hashing: the native `password` functions, with any Uint8Array
// accepted where a Buffer is. `hash` / `verify` return Promises computed on
// the libuv thread pool; `hashSync` / `verifySync` block the calling thread.

const native = require('../index.js').password;

function bytes(v) {
  return ArrayBuffer.isView(v) && !Buffer.isBuffer(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v;
}

/** Hashes `password` off the main thread; resolves to the encoded hash. */
function hash(password, options, signal) {
  try {
    return native.hash(bytes(password), options, signal);
  } catch (err) {
    return Promise.reject(err);
  }
}

/** `hash` on the calling thread. */
function hashSync(password, options) {
  return native.hashSync(bytes(password), options);
}

/** Verifies `password` against `encoded` off the main thread; resolves to a boolean. */
function verify(encoded, password, signal) {
  try {
    return native.verify(encoded, bytes(password), signal);
  } catch (err) {
    return Promise.reject(err);
  }
}

/** `verify` on the calling thread. */
function verifySync(encoded, password) {
  return native.verifySync(encoded, bytes(password));
}

/** True when `encoded` should be re-hashed with `options`. */
function needsRehash(encoded, options) {
  return native.needsRehash(encoded, options);
}

/**
 * Sets the process-wide Argon2 memory budget in KiB (default 1 GiB); returns
 * the previous one. Hashes beyond the budget wait their turn; one larger than
 * the whole budget is refused.
 */
function setMemoryBudgetKib(budgetKib) {
  return native.setMemoryBudgetKib(budgetKib);
}

/** `{ budgetKib, inUseKib }`: the Argon2 memory budget and its current use. */
function memoryBudget() {
  return native.memoryBudget();
}

module.exports = { hash, hashSync, verify, verifySync, needsRehash, setMemoryBudgetKib, memoryBudget };
