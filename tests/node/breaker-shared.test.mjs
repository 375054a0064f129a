// A circuit breaker shared through a real Redis (standalone and Cluster): breakers of one name on
// separate stores (as separate processes have), driven by one ManualClock.
import test from 'node:test';
import assert from 'node:assert/strict';
import { bastion, eventually, watchEventLoop } from './helpers.mjs';
import * as harness from './redis-harness.mjs';

const { CircuitBreaker, ManualClock, Store } = bastion;
const T0 = 1_800_000_000;

async function urlFor(t, backend) {
  if (backend === 'redis') {
    const server = await harness.sharedRedisOrSkip(t);
    return server && server.url;
  }
  const cluster = await harness.sharedClusterOrSkip(t);
  return cluster && `redis+cluster://${cluster.urls.map((u) => u.replace('redis://', '')).join(',')}`;
}

for (const backend of ['redis', 'cluster']) {
  test(`${backend}: a trip in one process opens the breaker for the others`, async (t) => {
    const url = await urlFor(t, backend);
    if (!url) return;
    const clock = new ManualClock(T0);
    const prefix = harness.uniquePrefix('brk');
    const options = { name: 'identify', failMax: 3, resetTimeout: 60, successThreshold: 2 };
    const a = new CircuitBreaker({ ...options, store: new Store(url, { timeoutMs: 2000, prefix }, clock) });
    const b = new CircuitBreaker({ ...options, store: new Store(url, { timeoutMs: 2000, prefix }, clock) });
    const seen = [];
    b.on('open', (e) => seen.push(e));
    assert.equal(a.stats().mode, 'shared');
    const boom = () => {
      throw new Error('upstream down');
    };
    await assert.rejects(a.call(boom), /upstream down/);
    await assert.rejects(b.call(boom), /upstream down/);
    await assert.rejects(a.call(boom), /upstream down/);
    assert.equal(a.state, 'open');
    // b learns by broadcast, with its 'open' event on a later tick.
    await eventually(() => b.state === 'open' && seen.length === 1);
    assert.equal(b.state, 'open');
    assert.equal(seen.length, 1);
    await assert.rejects(b.call(() => 1), (err) => err.code === 'CIRCUIT_OPEN' && err.retryAfter === 60);
    clock.advance(60);
    assert.equal(await a.call(() => 'one'), 'one');
    assert.equal(await b.call(() => 'two'), 'two');
    await eventually(() => a.state === 'closed');
    assert.equal(a.state, 'closed');
    await b.sync();
    assert.equal(b.stats().generation, a.stats().generation);
  });
}

test('a breaker takes a store or a clock, not both', async (t) => {
  const url = await urlFor(t, 'redis');
  if (!url) return;
  const clock = new ManualClock(T0);
  assert.throws(
    () => new CircuitBreaker({ name: 'x', clock, store: new Store(url, { timeoutMs: 2000 }, clock) }),
    (err) => err.code === 'INVALID_ARGUMENT' && /store's clock/.test(err.message),
  );
  assert.throws(() => new CircuitBreaker({ store: 'redis://nope' }), (err) => err.code === 'INVALID_ARGUMENT');
  const local = new CircuitBreaker({ store: new Store(null, null, clock) });
  assert.equal(local.stats().mode, 'local');
  await local.sync();
});

test('with Redis frozen, a shared call awaits its report without blocking the event loop', async (t) => {
  const redis = await harness.redisOrSkip(t);
  if (!redis) return;
  const clock = new ManualClock(T0);
  const store = new Store(redis.url, { timeoutMs: 600, prefix: harness.uniquePrefix('brk') }, clock);
  const b = new CircuitBreaker({ name: 'frozen', failMax: 3, syncInterval: 3600, store });
  const boom = async () => {
    throw new Error('down');
  };
  assert.equal(await b.call(async () => 7), 7);
  await assert.rejects(b.call(boom), /down/);
  assert.equal(b.stats().consecutiveFailures, 1);
  redis.pause();
  try {
    const loop = watchEventLoop();
    await new Promise((resolve) => setTimeout(resolve, 30));
    const started = Date.now();
    await assert.rejects(b.call(boom), /down/);
    const waited = Date.now() - started;
    const worst = await loop.stop();
    assert.equal(b.stats().mode, 'fallback');
    assert.ok(waited < 2000, `waited ${waited} ms`);
    assert.ok(worst < 300, `the event loop stalled for ${worst} ms`);
  } finally {
    redis.resume();
  }
});
