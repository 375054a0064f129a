// Shared helpers for the Node suites: the package (CommonJS entry), its native
// addon, and the peer libraries installed as devDependencies of node/.
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';

const require = createRequire(new URL('../../node/package.json', import.meta.url));

/** The bastion-engine package (jsonwebtoken-compatible layer). */
export const bastion = require('./lib/index.js');
/** The native addon (`bastion-engine/native`). */
export const native = require('./index.js');
/** The peers, as installed in node/node_modules. */
export const jsonwebtoken = require('jsonwebtoken');
export const jose = require('jose');
export const noders = require('@node-rs/jsonwebtoken');

/** A fixed "now" (2023-11-14T22:13:20Z) for every time-dependent test. */
export const NOW = 1_700_000_000;

/** A strong HMAC secret (64 random-looking ASCII bytes: fits HS256/384/512). */
export const SECRET = 'Qm9yZWFsaXMtc2VjcmV0LWZvci1iYXN0aW9uLXRlc3RzLTIwMjMtMTEtMTQtIQ==xY7k';

/** Asserts that `fn` throws (or rejects with) an error carrying `code`; returns it. */
export function throwsCode(fn, code, extra = {}) {
  let caught;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught, `expected an error with code ${code}`);
  assert.ok(caught instanceof Error, `not an Error: ${caught}`);
  assert.equal(caught.code, code, `code of: ${caught.message}`);
  for (const [k, v] of Object.entries(extra)) assert.deepEqual(caught[k], v, k);
  return caught;
}

export async function rejectsCode(promise, code) {
  let caught;
  try {
    await promise;
  } catch (err) {
    caught = err;
  }
  assert.ok(caught, `expected a rejection with code ${code}`);
  assert.ok(caught instanceof Error, `not an Error: ${caught}`);
  assert.equal(caught.code, code, `code of: ${caught.message}`);
  return caught;
}

/**
 * A Store on `backend` driven by `clock`: 'memory', or 'redis' / 'cluster'
 * (the shared server or cluster of redis-harness.mjs, under a key prefix of
 * its own, with a 2 s operation timeout). Null when Redis is not installed
 * and the test was skipped.
 */
export async function makeStore(t, backend, clock, tag = 'store') {
  if (backend === 'memory') return new bastion.Store(null, null, clock);
  const harness = await import('./redis-harness.mjs');
  const opts = { timeoutMs: 2000, prefix: harness.uniquePrefix(tag) };
  if (backend === 'redis') {
    const server = await harness.sharedRedisOrSkip(t);
    return server && new bastion.Store(server.url, opts, clock);
  }
  const cluster = await harness.sharedClusterOrSkip(t);
  if (!cluster) return null;
  const hosts = cluster.urls.map((u) => u.replace('redis://', '')).join(',');
  return new bastion.Store(`redis+cluster://${hosts}`, opts, clock);
}

/**
 * Waits until `condition()` holds, checking on each turn of the event loop, for at most `ms`:
 * for what arrives on a later turn, such as `onEvent` callbacks (delivered through their own
 * threadsafe function, so their turn is not fixed relative to the Promise of the call).
 */
export async function eventually(condition, ms = 5000) {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/**
 * Watches the event loop: a 10 ms interval records the longest gap between its ticks. `stop()`
 * lets it tick once more (a blocked thread shows as one long gap), clears it and resolves to the
 * longest gap in milliseconds.
 */
export function watchEventLoop() {
  let worst = 0;
  let last = Date.now();
  const ticker = setInterval(() => {
    const now = Date.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 10);
  return {
    async stop() {
      await new Promise((resolve) => setTimeout(resolve, 30));
      clearInterval(ticker);
      return worst;
    },
  };
}
