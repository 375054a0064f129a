// SingleFlight from Node: one computation for concurrent callers, the leader's error given to the
// callers waiting and not kept, forget, and argument checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bastion } from './helpers.mjs';

const { SingleFlight } = bastion;

/** A promise and the function that resolves it. */
function gate() {
  let open;
  const p = new Promise((resolve) => {
    open = resolve;
  });
  return [p, open];
}

test('a thousand concurrent callers, one computation, one value for all', async () => {
  const flights = new SingleFlight();
  const [released, release] = gate();
  let calls = 0;
  const compute = async () => {
    calls++;
    await released;
    return { profile: 42 };
  };
  const all = Array.from({ length: 1000 }, () => flights.do('user:42', compute));
  assert.equal(flights.waiting('user:42'), 999);
  assert.equal(flights.inFlight, 1);
  release();
  const results = await Promise.all(all);
  assert.equal(calls, 1);
  assert.ok(results.every(([v, shared]) => v === results[0][0] && shared === true));
  assert.deepEqual(results[0][0], { profile: 42 });
  assert.equal(flights.inFlight, 0);
  // Nothing is kept: the next caller computes again.
  assert.deepEqual(await flights.do('user:42', async () => 'again'), ['again', false]);
});

test('the leader error goes to the callers waiting and is not kept', async () => {
  const flights = new SingleFlight();
  const [released, release] = gate();
  const compute = async () => {
    await released;
    throw new Error('upstream down');
  };
  const all = Array.from({ length: 5 }, () => flights.do('k', compute));
  release();
  const settled = await Promise.allSettled(all);
  assert.ok(settled.every((s) => s.status === 'rejected' && s.reason.message === 'upstream down'));
  assert.deepEqual(await flights.do('k', () => 'recovered'), ['recovered', false]);
});

test('forget lets the next caller start a new flight; the old one still finishes', async () => {
  const flights = new SingleFlight();
  const [released, release] = gate();
  const old = flights.do('k', async () => {
    await released;
    return 'old';
  });
  const oldFollower = flights.do('k', async () => 'never');
  flights.forget('k');
  assert.deepEqual(await flights.do('k', async () => 'new'), ['new', false]);
  release();
  assert.deepEqual(await old, ['old', true]);
  assert.deepEqual(await oldFollower, ['old', true]);
});

test('different keys fly separately; bad arguments are INVALID_ARGUMENT', async () => {
  const flights = new SingleFlight();
  const results = await Promise.all([flights.do('a', () => 1), flights.do('b', () => 2)]);
  assert.deepEqual(results, [
    [1, false],
    [2, false],
  ]);
  await assert.rejects(flights.do(1, () => 1), (e) => e.code === 'INVALID_ARGUMENT');
  await assert.rejects(flights.do('k', 'nope'), (e) => e.code === 'INVALID_ARGUMENT');
  assert.throws(() => flights.forget(null), (e) => e.code === 'INVALID_ARGUMENT');
});
