// SharedCache from Node: one computation for concurrent callers of several caches sharing a store
// (memory, a real Redis and a real Redis Cluster), JSON values, errors not kept, negative caching
// and stale-while-revalidate driven by a ManualClock, fencing of a stalled leader, argument checks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bastion } from './helpers.mjs';
import { sharedClusterOrSkip, sharedRedisOrSkip, uniquePrefix } from './redis-harness.mjs';

const { SharedCache, ManualClock, Store } = bastion;
const NOW = 1_800_000_000;

/** Runs `body(makeStore, clock)` on memory, Redis and Cluster; the stores it makes share one state. */
function onAll(name, body) {
  for (const backend of ['memory', 'redis', 'cluster']) {
    test(`${name} (${backend})`, async (t) => {
      const clock = new ManualClock(NOW);
      let make;
      if (backend === 'memory') {
        const store = new Store(null, null, clock);
        make = () => store;
      } else {
        const server = backend === 'redis' ? await sharedRedisOrSkip(t) : await sharedClusterOrSkip(t);
        if (!server) return;
        const url =
          backend === 'redis'
            ? server.url
            : `redis+cluster://${server.urls.map((u) => u.replace('redis://', '')).join(',')}`;
        const prefix = uniquePrefix('cache');
        make = () => new Store(url, { timeoutMs: 2000, prefix }, clock);
      }
      await body(make, clock);
    });
  }
}

onAll('three caches times a hundred callers, one computation', async (make) => {
  const caches = [0, 1, 2].map(() => new SharedCache(make(), { xfetchBeta: 0 }));
  for (const c of caches) assert.equal(await c.ready(10000), true);
  let calls = 0;
  const upstream = async () => {
    calls++;
    await new Promise((r) => setTimeout(r, 200));
    return { profile: 42 };
  };
  const all = caches.flatMap((c) => Array.from({ length: 100 }, () => c.get('user:42', upstream)));
  const results = await Promise.all(all);
  assert.equal(calls, 1);
  assert.ok(results.every((v) => v.profile === 42));
  assert.deepEqual(await caches[2].get('user:42', upstream), { profile: 42 });
  assert.equal(calls, 1);
});

onAll('stale-while-revalidate, negative caching and expiry follow the clock', async (make, clock) => {
  const opts = { ttl: 10, staleWhileRevalidate: 5, negativeTtl: 3, xfetchBeta: 0 };
  const a = new SharedCache(make(), opts);
  const b = new SharedCache(make(), opts);
  assert.equal(await a.get('k', async () => 'v1'), 'v1');
  clock.advance(11);
  const seen = [];
  assert.equal(
    await a.get('k', async () => {
      seen.push(await b.get('k', async () => 'never'));
      return 'v2';
    }),
    'v2',
  );
  assert.deepEqual(seen, ['v1']);
  let lookups = 0;
  const nothing = async () => {
    lookups++;
    return null;
  };
  assert.equal(await a.get('missing', nothing), null);
  assert.equal(await b.get('missing', nothing), null);
  assert.equal(lookups, 1);
  clock.advance(3.1);
  await b.get('missing', nothing);
  assert.equal(lookups, 2);
});

onAll('a stalled leader cannot overwrite the value of the one that took over', async (make, clock) => {
  const events = [];
  const a = new SharedCache(make(), { leaseTtl: 30, onEvent: (e) => events.push(e) });
  const b = new SharedCache(make(), { leaseTtl: 30 });
  const mine = await a.get('k', async () => {
    clock.advance(31);
    assert.equal(await b.get('k', async () => 'new'), 'new');
    return 'old';
  });
  assert.equal(mine, 'old');
  assert.equal(a.stats().fillsRefused, 1);
  assert.equal(await a.get('k', async () => 'recomputed'), 'new');
  for (let i = 0; i < 100 && events.length === 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(events[0], { event: 'lease_lost', category: '[LOCK]', component: 'singleflight' });
});

test('errors reach the caller, are not kept, and name only their type for the waiters', async () => {
  const cache = new SharedCache();
  let open;
  const gate = new Promise((r) => {
    open = r;
  });
  const leader = cache.get('k', async () => {
    await gate;
    throw new RangeError('secret detail');
  });
  const follower = cache.get('k', async () => 'never');
  while (cache.waiting('k') === 0) await new Promise((r) => setTimeout(r, 1));
  open();
  await assert.rejects(leader, (e) => e instanceof RangeError && e.message === 'secret detail');
  await assert.rejects(follower, (e) => e.code === 'INTERNAL' && /RangeError/.test(e.message) && !/secret/.test(e.message));
  assert.equal(await cache.get('k', async () => 5), 5);
});

test('waiters of a computation that met an outage get the outage, with its delay', async () => {
  const cache = new SharedCache();
  const race = async (failure) => {
    let open;
    const gate = new Promise((r) => {
      open = r;
    });
    const leader = cache.get('k', async () => {
      await gate;
      throw failure;
    });
    const follower = cache.get('k', async () => 'never');
    while (cache.waiting('k') === 0) await new Promise((r) => setTimeout(r, 1));
    open();
    await assert.rejects(leader, (e) => e === failure);
    return follower;
  };
  // An open circuit met by the caller computing is the waiters' too (a web layer answers 503).
  const open = Object.assign(new Error('circuit breaker is open'), { code: 'CIRCUIT_OPEN', retryAfter: 30 });
  await assert.rejects(race(open), (e) => e.code === 'CIRCUIT_OPEN' && e.retryAfter === 30);
  // A failure bound to the computing caller (its token) is not theirs.
  const expired = Object.assign(new Error('the token has expired'), { code: 'TOKEN_EXPIRED' });
  await assert.rejects(race(expired), (e) => e.code === 'INTERNAL' && e.retryAfter === undefined);
});

test('arguments and options are checked', async () => {
  const cache = new SharedCache();
  await assert.rejects(cache.get(1, async () => 1), (e) => e.code === 'INVALID_ARGUMENT');
  await assert.rejects(cache.get('k', 1), (e) => e.code === 'INVALID_ARGUMENT');
  await assert.rejects(cache.get('k'.repeat(2000), async () => 1), (e) => e.code === 'INVALID_ARGUMENT');
  assert.throws(() => new SharedCache(null, { namespace: 'a:b' }), (e) => e.code === 'INVALID_ARGUMENT');
  assert.throws(() => new SharedCache(null, { serializer: 'pickle' }), (e) => e.code === 'INVALID_ARGUMENT');
  const small = new SharedCache(null, { maxValueBytes: 4 });
  await assert.rejects(small.get('k', async () => 'much too long'), (e) => e.code === 'INVALID_ARGUMENT');
});

onAll('the local tier answers values read from Redis and drops them on news from any cache', async (make, clock) => {
  const redis = make() !== make();
  const a = new SharedCache(make(), { ttl: 60, xfetchBeta: 0, localTtl: 30 });
  const b = new SharedCache(make(), { ttl: 60, xfetchBeta: 0, localTtl: 30 });
  assert.equal(await a.ready(10000), true);
  assert.equal(await b.ready(10000), true);
  assert.deepEqual(await a.get('k', () => ({ v: 1 })), { v: 1 });
  // b reads it from the store once, then from its local tier (no round trip).
  for (let i = 0; i < 4; i++) assert.deepEqual(await b.get('k', () => 'never'), { v: 1 });
  assert.equal(b.stats().localHits, redis ? 3 : 0);
  assert.equal(b.localEntries(), redis ? 1 : 0);
  // a invalidates: b's copy goes with the broadcast (it would otherwise live 30 s).
  await a.invalidate('k');
  const deadline = Date.now() + 10000;
  while (b.localEntries() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  assert.equal(b.localEntries(), 0);
  assert.equal(await b.get('k', () => 'v2'), 'v2');
  // Never past the value's own freshness, whatever localTtl says.
  assert.equal(await a.get('k', () => 'never'), 'v2');
  clock.advance(59.5);
  assert.equal(await a.get('k', () => 'never'), 'v2');
  assert.equal(await a.get('k', () => 'never'), 'v2');
  clock.advance(0.5);
  assert.equal(await a.get('k', () => 'v3'), 'v3');
});

test('localTtl is checked', () => {
  assert.throws(() => new SharedCache(null, { localTtl: 86_401 }), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => new SharedCache(null, { localTtl: 'soon' }), { code: 'INVALID_ARGUMENT' });
});
