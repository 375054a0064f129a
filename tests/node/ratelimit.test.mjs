// RateLimiter from Node: every algorithm on memory (the Promise methods and
// the *Sync twins), a real Redis and a real Redis Cluster
// (tests/node/redis-harness.mjs), with time from a ManualClock: no test
// sleeps to cross a window. Then concurrency, argument errors and outages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { inspect } from 'node:util';
import { bastion, makeStore, native, rejectsCode, throwsCode } from './helpers.mjs';
import { redisOrSkip, sharedRedisOrSkip, uniquePrefix } from './redis-harness.mjs';

const { Decision, ManualClock, RateLimiter, Store } = bastion;
/** A multiple of 900 s (so of every window used here): windows start on it. */
const T0 = 1_800_000_000;
const US = 1e-6;
const ALGORITHMS = ['sliding_window', 'sliding_counter', 'fixed_window', 'gcra'];
const BACKENDS = ['memory', 'memory-sync', 'redis', 'cluster'];

/** The *Sync twins behind the Promise interface: throws become rejections. */
function syncTwins(rl) {
  return {
    check: async (key, cost) => rl.checkSync(key, cost),
    hit: async (key, cost) => rl.hitSync(key, cost),
    peek: async (key, cost) => rl.peekSync(key, cost),
    refund: async (key, cost) => rl.refundSync(key, cost),
    reset: async (key) => rl.resetSync(key),
  };
}

/**
 * Runs `body({ make, clock, backend })` on every backend; `make(rates,
 * options)` builds a limiter on that backend's store, seen through the
 * Promise methods (or, for 'memory-sync', the *Sync twins).
 */
function onAll(name, body) {
  for (const backend of BACKENDS) {
    test(`${name} (${backend})`, async (t) => {
      const clock = new ManualClock(T0);
      const store = await makeStore(t, backend.replace('-sync', ''), clock, 'rl');
      if (!store) return;
      const make = (rates, options = {}) => {
        const rl = new RateLimiter(rates, { store, name: 'test', ...options });
        return backend === 'memory-sync' ? syncTwins(rl) : rl;
      };
      await body({ make, clock, backend, store });
    });
  }
}

/** Asserts that the limiter admits `key` at `at` (seconds) and returns the decision. */
async function admitsAt(rl, clock, at, key = 'k', cost = 1) {
  clock.set(at);
  const d = await rl.check(key, cost);
  assert.equal(d.allowed, true, `expected an admission at T0+${(at - T0).toFixed(6)}: ${inspect(d)}`);
  return d;
}

/** Asserts that the limiter denies `key` at `at` (seconds) and returns the decision. */
async function deniesAt(rl, clock, at, key = 'k', cost = 1) {
  clock.set(at);
  const d = await rl.check(key, cost);
  assert.equal(d.allowed, false, `expected a denial at T0+${(at - T0).toFixed(6)}: ${inspect(d)}`);
  return d;
}

function near(actual, expected, what) {
  assert.ok(Math.abs(actual - expected) < 1e-6, `${what}: ${actual} is not ${expected}`);
}

// ---- each algorithm's window edges -------------------------------------------------

onAll('the exact sliding window admits the limit in every window and says when to retry', async ({ make, clock }) => {
  const rl = make('5/15m', { algorithm: 'sliding_window' });
  for (let i = 0; i < 5; i++) {
    const d = await admitsAt(rl, clock, T0 + 10 * i);
    assert.equal(d.remaining, 4 - i);
    assert.equal(d.limit, 5);
    assert.equal(d.rate, '5/15m');
  }
  const d = await deniesAt(rl, clock, T0 + 50);
  assert.equal(d.deniedBy, 0);
  assert.equal(d.remaining, 0);
  // The admission at T0 leaves the window at T0 + 900; the last (T0 + 40) at T0 + 940.
  near(d.retryAfter, 850, 'retryAfter');
  near(d.resetAfter, 890, 'resetAfter');
  assert.equal((await rl.check('another key')).allowed, true);
  await deniesAt(rl, clock, T0 + 900 - US);
  assert.equal((await admitsAt(rl, clock, T0 + 900)).remaining, 0);
  await deniesAt(rl, clock, T0 + 910 - US);
  await admitsAt(rl, clock, T0 + 910);
});

onAll('the fixed window counts per aligned window', async ({ make, clock }) => {
  const rl = make('3/minute', { algorithm: 'fixed_window' });
  for (let i = 0; i < 3; i++) await admitsAt(rl, clock, T0 + 30);
  const d = await deniesAt(rl, clock, T0 + 30);
  near(d.retryAfter, 30, 'retryAfter');
  near(d.resetAfter, 30, 'resetAfter');
  await deniesAt(rl, clock, T0 + 60 - US);
  assert.equal((await admitsAt(rl, clock, T0 + 60, 'k', 3)).remaining, 0);
  await deniesAt(rl, clock, T0 + 60);
});

onAll('GCRA allows a burst of the limit, then one unit per interval', async ({ make, clock }) => {
  const rl = make('10/10s', { algorithm: 'gcra' });
  for (let i = 0; i < 10; i++) assert.equal((await admitsAt(rl, clock, T0)).remaining, 9 - i);
  const d = await deniesAt(rl, clock, T0);
  near(d.retryAfter, 1, 'retryAfter');
  near(d.resetAfter, 10, 'resetAfter');
  await deniesAt(rl, clock, T0 + 1 - US);
  await admitsAt(rl, clock, T0 + 1);
  await deniesAt(rl, clock, T0 + 1);
  clock.set(T0 + 6);
  assert.equal((await rl.peek('k')).remaining, 5);
});

onAll('the sliding counter weighs the previous window', async ({ make, clock }) => {
  const rl = make('10/minute', { algorithm: 'sliding_counter' });
  for (let i = 0; i < 10; i++) await admitsAt(rl, clock, T0);
  await deniesAt(rl, clock, T0);
  // 15 s into the next window the previous 10 weigh ceil(10 × 45/60) = 8.
  clock.set(T0 + 75);
  assert.equal((await rl.peek('k')).remaining, 2);
  await admitsAt(rl, clock, T0 + 75, 'k', 2);
  const d = await deniesAt(rl, clock, T0 + 75);
  // ceil(10 × (60 − e)/60) ≤ 7 first holds at e = 18 s.
  near(d.retryAfter, 3, 'retryAfter');
  await deniesAt(rl, clock, T0 + 78 - US);
  await admitsAt(rl, clock, T0 + 78);
});

// ---- every algorithm: several limits, peek / refund / reset, costs, headers ------

for (const algorithm of ALGORITHMS) {
  onAll(`several limits are all or nothing: ${algorithm}`, async ({ make, clock }) => {
    const rl = make('2/second;3/minute', { algorithm });
    await admitsAt(rl, clock, T0);
    await admitsAt(rl, clock, T0);
    let d = await deniesAt(rl, clock, T0);
    assert.equal(d.deniedBy, 0);
    assert.equal(d.rate, '2/second');
    // The denied check charged neither limit: the minute limit still has 1.
    assert.equal((await rl.peek('k')).limits[1].remaining, 1);
    d = await admitsAt(rl, clock, T0 + 2);
    // The binding limit is now the minute limit, with nothing left.
    assert.deepEqual([d.limit, d.remaining, d.rate, d.deniedBy], [3, 0, '3/minute', null]);
    d = await deniesAt(rl, clock, T0 + 2);
    assert.equal(d.deniedBy, 1);
    assert.equal(d.limits[0].allowed, true);
    assert.equal(d.limits[1].allowed, false);
    // Again nothing was charged: the second limit still has 1 left.
    assert.equal((await rl.peek('k')).limits[0].remaining, 1);
    assert.deepEqual(
      d.limits.map((l) => l.rate),
      ['2/second', '3/minute'],
    );
  });

  onAll(`peek, refund, reset and costs: ${algorithm}`, async ({ make, clock }) => {
    const rl = make('10/hour', { algorithm });
    clock.set(T0);
    assert.equal((await rl.peek('k', 0)).remaining, 10);
    assert.equal((await rl.peek('k')).remaining, 10);
    assert.equal((await rl.check('k', 4)).allowed, true);
    const p = await rl.peek('k', 7);
    assert.equal(p.allowed, false);
    assert.equal(p.remaining, 6);
    assert.equal((await rl.peek('k', 6)).allowed, true);
    // Peeking charged nothing.
    assert.equal((await rl.peek('k', 6)).remaining, 6);
    assert.equal(await rl.refund('k', 3), undefined);
    assert.equal((await rl.peek('k')).remaining, 9);
    // Refunds never go below empty.
    await rl.refund('k', 5);
    assert.equal((await rl.peek('k')).remaining, 10);
    assert.equal((await rl.check('k', 10)).allowed, true);
    assert.equal((await rl.check('k')).allowed, false);
    assert.equal(await rl.reset('k'), undefined);
    assert.equal((await rl.check('k')).remaining, 9);
    // hit: the decision when admitted, RATE_LIMITED with retryAfter when not.
    assert.equal((await rl.hit('k', 9)).remaining, 0);
    const err = await rejectsCode(rl.hit('k'), 'RATE_LIMITED');
    // (The sliding counter may wait into the next window: at most two.)
    assert.ok(err.retryAfter > 0 && err.retryAfter <= 7200, `retryAfter ${err.retryAfter}`);
    assert.match(err.message, /10\/hour/);
    // Costs that could never pass, or that charge nothing, are refused.
    await rejectsCode(rl.check('k', 11), 'INVALID_ARGUMENT');
    await rejectsCode(rl.check('k', 0), 'INVALID_ARGUMENT');
    await rejectsCode(rl.refund('k', 0), 'INVALID_ARGUMENT');
    await rejectsCode(rl.peek('k', 11), 'INVALID_ARGUMENT');
    await rejectsCode(rl.check('k', -1), 'INVALID_ARGUMENT');
    await rejectsCode(rl.check('k', 1.5), 'INVALID_ARGUMENT');
    await rejectsCode(rl.check('k', Number.NaN), 'INVALID_ARGUMENT');
    await rejectsCode(rl.check('k', Infinity), 'INVALID_ARGUMENT');
    await rejectsCode(rl.check('', 1), 'INVALID_ARGUMENT');
    await rejectsCode(rl.check('x'.repeat(1025)), 'INVALID_ARGUMENT');
    assert.equal((await rl.check('x'.repeat(1024))).allowed, true);
  });
}

onAll('headers follow the conventions', async ({ make, clock }) => {
  const rl = make('2/minute;100/hour', { name: 'api' });
  clock.set(T0);
  let d = await rl.check('k');
  assert.deepEqual(d.headers(), {
    'X-RateLimit-Limit': '2',
    'X-RateLimit-Remaining': '1',
    'X-RateLimit-Reset': String(T0 + 60),
    'RateLimit-Policy': '"api";q=2;w=60, "api.2";q=100;w=3600',
    RateLimit: '"api";r=1;t=60',
  });
  assert.deepEqual(Object.keys(d.headers()), [
    'X-RateLimit-Limit',
    'X-RateLimit-Remaining',
    'X-RateLimit-Reset',
    'RateLimit-Policy',
    'RateLimit',
  ]);
  assert.equal(d.retryAfterHeader(), null);
  clock.set(T0 + 0.5);
  await rl.check('k');
  d = await rl.check('k');
  assert.equal(d.allowed, false);
  // 59.5 s rounds up to 60.
  assert.equal(d.retryAfterHeader(), 60);
  assert.deepEqual(d.headers(), {
    'X-RateLimit-Limit': '2',
    'X-RateLimit-Remaining': '0',
    'X-RateLimit-Reset': String(T0 + 61),
    'Retry-After': '60',
    'RateLimit-Policy': '"api";q=2;w=60, "api.2";q=100;w=3600',
    RateLimit: '"api";r=0;t=60',
  });
  assert.equal(d.policy, 'api');
  assert.equal(d.decidedAt, T0 + 0.5);
  // The answer to the refusal: the same bytes as Python's (tests/python/test_ratelimit.py).
  const a = d.problem();
  assert.equal(a.status, 429);
  assert.deepEqual(Object.entries(a.headers), [
    ['X-RateLimit-Limit', '2'],
    ['X-RateLimit-Remaining', '0'],
    ['X-RateLimit-Reset', String(T0 + 61)],
    ['RateLimit-Policy', '"api";q=2;w=60, "api.2";q=100;w=3600'],
    ['RateLimit', '"api";r=0;t=60'],
    ['Retry-After', '60'],
    ['Content-Type', 'application/problem+json'],
  ]);
  assert.equal(
    a.body,
    '{"type":"about:blank","title":"Too Many Requests","status":429,"detail":"too many requests",' +
      '"code":"RATE_LIMITED","retry_after":60,"violated-policies":["api"]}',
  );
  const admitted = await make('2/minute', { name: 'api-ok' }).check('k');
  assert.throws(() => admitted.problem(), (err) => err.code === 'INVALID_ARGUMENT');
});

onAll('limiters of one name share state; other names do not', async ({ make, clock }) => {
  clock.set(T0);
  const a = make('2/minute', { name: 'login' });
  const b = make('2/minute', { name: 'login' });
  const other = make('2/minute', { name: 'signup' });
  assert.equal((await a.check('ip')).allowed, true);
  assert.equal((await b.check('ip')).allowed, true);
  assert.equal((await a.check('ip')).allowed, false);
  assert.equal((await other.check('ip')).allowed, true);
});

// ---- concurrency -------------------------------------------------------------------

for (const algorithm of ALGORITHMS) {
  onAll(`64 concurrent checks of one key admit exactly the limit: ${algorithm}`, async ({ make, clock }) => {
    clock.set(T0);
    for (let round = 0; round < 3; round++) {
      const rl = make('10/minute;25/hour', { algorithm, name: `hammer${round}` });
      const decisions = await Promise.all(Array.from({ length: 64 }, () => rl.check('hot')));
      assert.equal(decisions.filter((d) => d.allowed).length, 10, `round ${round}`);
      const remaining = decisions.filter((d) => d.allowed).map((d) => d.remaining).sort((x, y) => x - y);
      assert.deepEqual(remaining, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    }
  });
}

// ---- the objects -------------------------------------------------------------------

test('a limiter describes itself; a Decision is an object of its fields', async () => {
  const clock = new ManualClock(T0);
  const rl = new RateLimiter('100/minute; 2000 per day', { store: new Store(null, null, clock) });
  assert.ok(rl instanceof RateLimiter);
  assert.deepEqual(rl.rates, ['100/minute', '2000/day']);
  assert.equal(rl.name, 'default');
  assert.equal(rl.algorithm, 'sliding_window');
  assert.equal(rl.outagePolicy, 'local');
  const g = new RateLimiter('5/15m', { algorithm: 'token_bucket', outagePolicy: 'fail_closed', name: 'x.y-z_1' });
  assert.deepEqual([g.rates, g.algorithm, g.outagePolicy, g.name], [['5/15m'], 'gcra', 'fail_closed', 'x.y-z_1']);

  const d = rl.checkSync('k', 3);
  assert.ok(d instanceof Decision);
  const fields = {
    allowed: true,
    limit: 100,
    remaining: 97,
    resetAfter: 60,
    retryAfter: 0,
    deniedBy: null,
    rate: '100/minute',
    limits: [
      { rate: '100/minute', allowed: true, remaining: 97, resetAfter: 60, retryAfter: 0 },
      { rate: '2000/day', allowed: true, remaining: 1997, resetAfter: 86400, retryAfter: 0 },
    ],
    fallback: null,
    policy: 'default',
    decidedAt: T0,
  };
  assert.deepEqual({ ...d.toJSON() }, fields);
  assert.deepEqual(JSON.parse(JSON.stringify(d)), fields);
  for (const [k, v] of Object.entries(fields)) assert.deepEqual(d[k], v, k);
  assert.match(inspect(d), /^Decision \{\n? *allowed: true,/);
  assert.ok(inspect(d).includes("rate: '100/minute'"));
  // Promises on memory settle at once, with the same decision.
  const p = rl.check('k');
  assert.ok(p instanceof Promise);
  assert.equal((await p).remaining, 96);
  throwsCode(() => new Decision([1, 1, 1, 1, 1, -1, 0, -1, 0, 0], {}), 'INVALID_ARGUMENT');
});

test('wrong argument types are INVALID_ARGUMENT errors, thrown by constructors and *Sync, rejected by Promises', async () => {
  const code = (fn) => throwsCode(fn, 'INVALID_ARGUMENT');
  for (const rates of [undefined, null, 5, {}, ['5/minute'], '', '5/fortnight', '0/minute', '5/minute;5/minute']) {
    code(() => new RateLimiter(rates));
  }
  code(() => new RateLimiter('20000/minute')); // the exact window keeps a log: at most 10,000
  code(() => new RateLimiter('2000/1ms', { algorithm: 'gcra' }));
  for (const options of ['options', 5, [], true]) code(() => new RateLimiter('5/minute', options));
  code(() => new RateLimiter('5/minute', { store: 'redis://127.0.0.1:6379' }));
  code(() => new RateLimiter('5/minute', { store: {} }));
  code(() => new RateLimiter('5/minute', { onEvent: 'log' }));
  code(() => new RateLimiter('5/minute', { algorithm: 'leaky' }));
  code(() => new RateLimiter('5/minute', { algorithm: 5 }));
  code(() => new RateLimiter('5/minute', { outagePolicy: 'maybe' }));
  code(() => new RateLimiter('5/minute', { localRates: 'lots' }));
  for (const name of ['', 'a:b', 'a{b}', 'x'.repeat(65), 5]) code(() => new RateLimiter('5/minute', { name }));
  new RateLimiter('5/minute', { name: 'ok', onEvent: null, store: undefined, localRates: '1/minute' });

  const rl = new RateLimiter('5/minute');
  const badKeys = [undefined, null, 5, {}, ['k'], Buffer.from('k'), Symbol('k')];
  const badCosts = [-1, 0.5, Number.NaN, -Infinity, Infinity, 2 ** 60, '1', {}, true, 10n];
  for (const verb of ['check', 'hit', 'peek', 'refund', 'reset']) {
    for (const key of badKeys) {
      code(() => rl[`${verb}Sync`](key));
      let p;
      assert.doesNotThrow(() => {
        p = rl[verb](key);
      }, `${verb}(${String(key)}) threw instead of rejecting`);
      await rejectsCode(p, 'INVALID_ARGUMENT');
    }
    if (verb === 'reset') continue;
    for (const cost of badCosts) {
      code(() => rl[`${verb}Sync`]('k', cost));
      await rejectsCode(rl[verb]('k', cost), 'INVALID_ARGUMENT');
    }
  }
  // Nothing above charged anything.
  assert.equal(rl.peekSync('k').remaining, 5);
});

test('the native layer refuses malformed handles, verbs, buffers and snapshots instead of crashing', () => {
  const h = native.rateLimiterNew('5/minute;10/hour');
  const info = native.rateLimiterInfo(h);
  assert.equal(info.snapshotLength, 20);
  const out = new Float64Array(info.snapshotLength);
  assert.equal(native.rateLimiterRunSync(h, 0, 'k', 1, out), 20);
  const good = Array.from(out);
  assert.equal(native.rateLimitHeaders(h, good)['X-RateLimit-Remaining'], '4');
  assert.equal(native.rateLimitRetryAfterHeader(h, good), null);
  const edit = (i, v) => good.map((x, j) => (j === i ? v : x));
  const badSnapshots = [
    [],
    good.slice(0, 19),
    [...good, 0],
    'snapshot',
    null,
    new Array(20).fill('1'),
    edit(1, -1), // a negative limit
    edit(5, 2), // denied by a limit it does not have
    edit(6, 9), // a rate outside the table
    edit(7, 3), // no such fallback
    edit(9, 3), // more limits than written
    edit(10, 0.5), // a fractional rate index
  ];
  for (const bad of badSnapshots) {
    throwsCode(() => native.rateLimitHeaders(h, bad), 'INVALID_ARGUMENT');
    throwsCode(() => native.rateLimitRetryAfterHeader(h, bad), 'INVALID_ARGUMENT');
  }
  for (const handle of [null, {}, 'h', out, native.rateLimiterNew]) {
    throwsCode(() => native.rateLimiterInfo(handle), 'INVALID_ARGUMENT');
    throwsCode(() => native.rateLimiterRunSync(handle, 0, 'k', 1, out), 'INVALID_ARGUMENT');
    throwsCode(() => native.rateLimiterRun(handle, 0, 'k', 1), 'INVALID_ARGUMENT');
    throwsCode(() => native.rateLimitHeaders(handle, good), 'INVALID_ARGUMENT');
  }
  for (const verb of [5, -1, 1.5, '0', null, undefined]) {
    throwsCode(() => native.rateLimiterRunSync(h, verb, 'k', 1, out), 'INVALID_ARGUMENT');
    throwsCode(() => native.rateLimiterRun(h, verb, 'k', 1), 'INVALID_ARGUMENT');
  }
  for (const o of [new Float64Array(19), new Float32Array(20), [], null, Buffer.alloc(160)]) {
    throwsCode(() => native.rateLimiterRunSync(h, 0, 'k', 1, o), 'INVALID_ARGUMENT');
  }
  // None of the refused calls charged anything.
  assert.equal(native.rateLimiterRunSync(h, 2, 'k', 0, out), 20);
  assert.equal(out[2], 4);
});

test('the *Sync twins refuse a Redis store; the Promise methods use it', async (t) => {
  const server = await sharedRedisOrSkip(t);
  if (!server) return;
  const store = new Store(server.url, { timeoutMs: 2000, prefix: uniquePrefix('rl-sync') });
  const rl = new RateLimiter('5/minute', { store });
  for (const verb of ['check', 'hit', 'peek', 'refund', 'reset']) {
    const err = throwsCode(() => rl[`${verb}Sync`]('k'), 'INVALID_ARGUMENT');
    assert.match(err.message, new RegExp(`use ${verb}\\(\\)`));
  }
  assert.equal((await rl.check('k')).remaining, 4);
});

// ---- outages -----------------------------------------------------------------------

/** A loopback port nothing listens on. */
async function deadPort() {
  const srv = net.createServer();
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** Waits (without any time rule: only for delivery) until `events` holds `n`. */
async function eventually(events, n) {
  const deadline = Date.now() + 5000;
  while (events.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  return events;
}

test('with nothing listening, each outage policy answers and reports it', async () => {
  const url = `redis://127.0.0.1:${await deadPort()}`;
  const clock = new ManualClock(T0);
  const make = (outagePolicy, extra = {}) => {
    const events = [];
    const store = new Store(url, { timeoutMs: 200, connectTimeoutMs: 200 }, clock);
    const rl = new RateLimiter('3/minute', { store, name: 'outage', outagePolicy, onEvent: (e) => events.push(e), ...extra });
    return { rl, events };
  };
  const open = make('fail_open');
  const closed = make('fail_closed');
  const local = make('local');
  const tight = make('local', { localRates: '1/minute' });
  for (let i = 0; i < 5; i++) {
    const o = await open.rl.check('k');
    assert.deepEqual([o.allowed, o.fallback, o.remaining], [true, 'fail_open', 3]);
    const c = await closed.rl.check('k');
    assert.deepEqual([c.allowed, c.fallback, c.retryAfter, c.retryAfterHeader()], [false, 'fail_closed', 1, 1]);
  }
  await rejectsCode(closed.rl.hit('k'), 'RATE_LIMITED');
  // Local: this process's own limiter, exact per process, on the store's clock.
  const admitted = [];
  for (let i = 0; i < 5; i++) {
    const d = await local.rl.check('k');
    assert.equal(d.fallback, 'local');
    admitted.push(d.allowed);
  }
  assert.deepEqual(admitted, [true, true, true, false, false]);
  clock.advance(60);
  assert.equal((await local.rl.check('k')).allowed, true);
  assert.equal((await tight.rl.check('k')).allowed, true);
  assert.equal((await tight.rl.check('k')).allowed, false);
  // Refund and reset cannot fall back: they reject, and report it too.
  await rejectsCode(local.rl.refund('k'), 'STORE_UNAVAILABLE');
  await rejectsCode(local.rl.reset('k'), 'STORE_UNAVAILABLE');

  await eventually(open.events, 5);
  await eventually(closed.events, 6);
  await eventually(local.events, 8);
  assert.equal(open.events.length, 5);
  assert.equal(closed.events.length, 6);
  assert.equal(local.events.length, 8);
  assert.deepEqual({ ...closed.events[0] }, {
    event: 'store_unavailable',
    category: '[STORE]',
    component: 'ratelimit',
    policy: 'fail_closed',
  });
  assert.equal(local.events[0].policy, 'local');
});

test('with the Redis server stopped, the limiter falls back and recovers when it returns', async (t) => {
  const server = await redisOrSkip(t);
  if (!server) return;
  const events = [];
  const store = new Store(server.url, { timeoutMs: 100, prefix: uniquePrefix('rl-outage') });
  const rl = new RateLimiter('100/minute', { store, outagePolicy: 'fail_closed', onEvent: (e) => events.push(e) });
  let d = await rl.check('k');
  assert.deepEqual([d.allowed, d.fallback], [true, null]);
  await server.stop();
  d = await rl.check('k');
  assert.deepEqual([d.allowed, d.fallback], [false, 'fail_closed']);
  assert.equal((await eventually(events, 1))[0].component, 'ratelimit');
  await server.restart();
  const deadline = Date.now() + 10_000;
  for (;;) {
    d = await rl.check('k2');
    if (d.fallback === null) break;
    assert.ok(Date.now() < deadline, 'the store did not reconnect');
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(d.allowed, true);
});
