// How the addon's Promises settle: every Promise settles once, a pending one keeps the process
// alive and none pending lets it exit, a rejection carries the core's error, and a worker thread
// that ends with Promises in flight does not bring the process down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { bastion } from './helpers.mjs';

const LIB = fileURLToPath(new URL('../../node/lib/index.js', import.meta.url));

/** Runs a CommonJS script in a fresh Node process with `bastion` loaded; [status, stdout, stderr]. */
function runScript(body) {
  const script = `const bastion = require(${JSON.stringify(LIB)});\n${body}`;
  const out = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 15_000 });
  return [out.status, out.stdout, out.stderr, out.error];
}

// Lockout and Store Promises settle through the addon on every store (RateLimiter's Promise methods
// answer from JavaScript on the memory store), so they are the probes here.

test('thousands of concurrent Promises each settle once, with their own result', async () => {
  const lockout = new bastion.Lockout({ failureLimit: 3, parameters: ['username'] });
  const users = Array.from({ length: 5000 }, (_, i) => `user${i % 1000}`);
  const states = await Promise.all(users.map((username) => lockout.recordFailure({ username })));
  // Five failures per user against a limit of 3: each call sees its own count (1 to 5), and the
  // 3rd and later are locked.
  const seen = new Map();
  for (const [i, s] of states.entries()) {
    const list = seen.get(users[i]) ?? [];
    list.push(s.failures);
    seen.set(users[i], list);
    assert.equal(s.locked, s.failures >= 3);
  }
  assert.equal(seen.size, 1000);
  for (const failures of seen.values()) assert.deepEqual(failures.sort(), [1, 2, 3, 4, 5]);
});

test('a rejection is the core error with its code, and later calls still settle', async () => {
  const lockout = new bastion.Lockout({ failureLimit: 1, parameters: ['username'] });
  await lockout.recordFailure({ username: 'ann' });
  await assert.rejects(lockout.login({ username: 'ann' }, 'pw', null), (err) => {
    assert.equal(err.code, 'ACCOUNT_LOCKED');
    assert.ok(err.retryAfter > 0);
    return true;
  });
  assert.equal((await lockout.check({ username: 'bob' })).locked, false);
  assert.equal(await new bastion.Store().ping(), 0);
});

test('a pending Promise keeps the process alive until it settles', () => {
  // A Redis "server" that accepts and never answers, which does not hold the event loop itself:
  // the ping is pending for the store's timeout, and only the pending Promise keeps the process
  // alive to see it reject.
  const [status, stdout, stderr, error] = runScript(`
    const net = require('node:net');
    const server = net.createServer(() => {}).listen(0, '127.0.0.1', () => {
      server.unref();
      const store = new bastion.Store('redis://127.0.0.1:' + server.address().port, { timeoutMs: 300 });
      store.ping().then(() => console.log('answered'), (err) => console.log('rejected', err.code));
    });
  `);
  assert.equal(error, undefined);
  assert.equal(status, 0, stderr);
  assert.equal(stdout.trim(), 'rejected STORE_UNAVAILABLE');
});

test('with no Promise pending the process exits on its own', () => {
  // After the Promises settle, nothing of the addon holds the event loop open: the process ends
  // (spawnSync would time out otherwise).
  const [status, stdout, stderr, error] = runScript(`
    const lockout = new bastion.Lockout();
    (async () => {
      for (let i = 0; i < 3; i++) await lockout.recordFailure({ username: 'ann' });
      await Promise.all([lockout.check({ username: 'ann' }), new bastion.Store().ping()]);
      console.log('done');
    })();
  `);
  assert.equal(error, undefined, 'the process did not exit on its own');
  assert.equal(status, 0, stderr);
  assert.equal(stdout.trim(), 'done');
});

test('a worker thread terminated with Promises in flight leaves the process running', async () => {
  for (let round = 0; round < 10; round++) {
    const worker = new Worker(
      `
      const { parentPort } = require('node:worker_threads');
      const bastion = require(${JSON.stringify(LIB)});
      const lockout = new bastion.Lockout();
      for (let i = 0; i < 2000; i++) lockout.recordFailure({ username: 'u' + (i % 50) });
      lockout.check({ username: 'first' }).then(() => parentPort.postMessage('settled'));
      for (let i = 0; i < 2000; i++) lockout.recordFailure({ ipAddress: '10.0.0.' + (i % 200) });
      `,
      { eval: true },
    );
    await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    // More calls are in flight when the worker is stopped.
    await worker.terminate();
  }
  // The main thread's own Promises still settle.
  assert.equal(await new bastion.Store().ping(), 0);
});
