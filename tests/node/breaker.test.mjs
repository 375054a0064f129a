// CircuitBreaker from Node: transitions under a ManualClock through call/fire, the two-step permits,
// fallbacks, which outcomes count, call timeouts, events on the EventEmitter, parallel calls and
// bad arguments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { bastion, NOW } from './helpers.mjs';

const { CircuitBreaker, ManualClock } = bastion;
const LIB = fileURLToPath(new URL('../../node/lib/index.js', import.meta.url));

class Upstream extends Error {}
class NotFound extends Error {}

const boom = async () => {
  throw new Upstream('down');
};
const ok = async (v = 'ok') => v;

/** Reference deployment 1's breaker: 3 failures, 60 s, 2 successes. */
function reference(clock, extra = {}) {
  return new CircuitBreaker({ name: 'identify', failMax: 3, resetTimeout: 60, successThreshold: 2, clock, ...extra });
}

test('failures open it, it rejects with CIRCUIT_OPEN and retryAfter, two probes close it', async () => {
  const clock = new ManualClock(NOW);
  const b = reference(clock);
  const seen = [];
  for (const name of ['open', 'halfOpen', 'close']) b.on(name, (e) => seen.push([name, e.from, e.to]));
  for (let i = 0; i < 3; i++) await assert.rejects(b.call(boom), Upstream);
  assert.equal(b.state, 'open');
  let called = false;
  await assert.rejects(
    b.call(async () => {
      called = true;
    }),
    (err) => err.code === 'CIRCUIT_OPEN' && err.retryAfter === 60,
  );
  assert.equal(called, false);
  // The rejection built in JavaScript says what the core's own error says.
  const fromCall = await b.call(ok).catch((e) => e);
  const fromAcquire = (() => {
    try {
      b.acquire();
    } catch (e) {
      return e;
    }
  })();
  assert.equal(fromCall.message, 'circuit breaker "identify" is open');
  assert.equal(fromCall.message, fromAcquire.message);
  assert.equal(fromCall.code, fromAcquire.code);
  clock.advance(60);
  assert.equal(b.state, 'half-open');
  assert.equal(await b.call(ok, 'a'), 'a');
  assert.equal(b.state, 'half-open');
  assert.equal(await b.call(ok, 'b'), 'b');
  assert.equal(b.state, 'closed');
  // Transition events are emitted synchronously, inside the calls that caused them.
  assert.deepEqual(seen, [
    ['open', 'closed', 'open'],
    ['halfOpen', 'open', 'half-open'],
    ['close', 'half-open', 'closed'],
  ]);
});

test('fire calls the action; a fallback answers while open and when a call fails', async () => {
  const clock = new ManualClock(NOW);
  const calls = [];
  const b = new CircuitBreaker(async (id) => {
    calls.push(id);
    if (id < 0) throw new Upstream('down');
    return { id };
  }, { failMax: 2, clock });
  assert.deepEqual(await b.fire(1), { id: 1 });
  b.fallback((id, err) => ({ id, cached: true, reason: err.code ?? err.constructor.name }));
  const events = [];
  for (const name of ['failure', 'reject', 'fallback']) b.on(name, () => events.push(name));
  assert.deepEqual(await b.fire(-1), { id: -1, cached: true, reason: 'Upstream' });
  assert.deepEqual(await b.fire(-2), { id: -2, cached: true, reason: 'Upstream' });
  assert.equal(b.state, 'open');
  assert.deepEqual(await b.fire(3), { id: 3, cached: true, reason: 'CIRCUIT_OPEN' });
  assert.deepEqual(calls, [1, -1, -2]);
  assert.deepEqual(events, ['failure', 'fallback', 'failure', 'fallback', 'reject', 'fallback']);
  await assert.rejects(new CircuitBreaker().fire(), (err) => err.code === 'INVALID_ARGUMENT');
});

test('isFailure narrows what counts; resultIsFailure makes a value a failure', async () => {
  const clock = new ManualClock(NOW);
  const b = reference(clock, { isFailure: (err) => !(err instanceof NotFound) });
  const notFound = async () => {
    throw new NotFound();
  };
  for (let i = 0; i < 2; i++) await assert.rejects(b.call(boom));
  await assert.rejects(b.call(notFound), NotFound); // the dependency answered: the run ends
  for (let i = 0; i < 2; i++) await assert.rejects(b.call(boom));
  assert.equal(b.state, 'closed');
  assert.equal(b.stats().consecutiveFailures, 2);

  const r = reference(clock, { resultIsFailure: (status) => status >= 500 });
  for (let i = 0; i < 3; i++) assert.equal(await r.call(ok, 503), 503);
  assert.equal(r.state, 'open');
});

test('a call past callTimeout rejects with ETIMEDOUT and counts as a failure', async () => {
  const b = new CircuitBreaker({ failMax: 1, callTimeout: 0.01 });
  let timeouts = 0;
  b.on('timeout', () => timeouts++);
  await assert.rejects(
    b.call(() => new Promise(() => {})),
    (err) => err.code === 'ETIMEDOUT',
  );
  assert.equal(b.state, 'open');
  assert.equal(timeouts, 1);
  // A success that took longer than the timeout (by the breaker's clock) is a failure too.
  const clock = new ManualClock(NOW);
  const slow = reference(clock, { callTimeout: '2s' });
  for (let i = 0; i < 3; i++) {
    await slow.call(async () => {
      clock.advance(3);
      return 'late';
    });
  }
  assert.equal(slow.stats().timeouts, 3);
  assert.equal(slow.state, 'open');
});

test('a timed-out call aborts the abortController its action listens to', async () => {
  const abortController = new AbortController();
  const b = new CircuitBreaker({ failMax: 5, callTimeout: 0.01, abortController });
  let stopped = null;
  const action = () =>
    new Promise((_, reject) => {
      abortController.signal.addEventListener('abort', () => {
        stopped = abortController.signal.reason;
        reject(new Error('aborted'));
      });
    });
  await assert.rejects(b.call(action), (err) => err.code === 'ETIMEDOUT');
  assert.equal(abortController.signal.aborted, true);
  assert.equal(stopped?.code, 'ETIMEDOUT');
  assert.throws(() => new CircuitBreaker({ abortController: {} }), (err) => err.code === 'INVALID_ARGUMENT');
});

test('two-step permits: one probe at a time, reported once, an ignored one frees its slot', async () => {
  const clock = new ManualClock(NOW);
  const b = reference(clock);
  const p = b.acquire();
  assert.equal(p.isProbe, false);
  assert.equal(p.failure(), null);
  assert.equal(p.failure(), null); // a second report does nothing
  assert.equal(b.stats().consecutiveFailures, 1);
  b.acquire().failure();
  assert.equal(b.acquire().failure(), 'open');
  assert.equal(b.tryAcquire(), null);
  assert.throws(() => b.acquire(), (err) => err.code === 'CIRCUIT_OPEN' && err.retryAfter === 60);
  clock.advance(60);
  const probe = b.tryAcquire();
  assert.equal(probe.isProbe, true);
  assert.equal(b.tryAcquire(), null);
  assert.equal(probe.ignore(), null); // a cancelled call: the slot is free again
  const next = b.tryAcquire();
  assert.ok(next?.isProbe);
  assert.equal(next.success(), null);
  assert.equal(b.acquire().success(), 'closed');
  const s = b.stats();
  assert.equal(s.ignored, 1);
  assert.equal(s.opened, 1);
});

test('a probe permit never reported is released after probeTimeout', () => {
  const clock = new ManualClock(NOW);
  const b = reference(clock, { probeTimeout: 5 });
  b.open();
  clock.advance(60);
  const lost = b.acquire(); // kept referenced, never reported
  assert.ok(lost.isProbe);
  assert.throws(() => b.acquire(), (err) => err.code === 'CIRCUIT_OPEN' && err.retryAfter === 5);
  clock.advance(5);
  assert.ok(b.acquire().isProbe);
});

test('calls through a closed breaker run at the same time', async () => {
  const b = new CircuitBreaker({ name: 'parallel' });
  let inside = 0;
  let most = 0;
  let release;
  const gate = new Promise((r) => {
    release = r;
  });
  const calls = Array.from({ length: 16 }, () =>
    b.call(async () => {
      inside++;
      most = Math.max(most, inside);
      if (inside === 16) release();
      await gate;
      inside--;
    }),
  );
  await Promise.all(calls);
  assert.equal(most, 16);
  assert.equal(b.stats().successes, 16);
});

test('a rate over a window opens it', async () => {
  const clock = new ManualClock(NOW);
  const b = new CircuitBreaker({ failureRate: 0.5, windowCalls: 10, minimumCalls: 10, clock });
  for (let i = 0; i < 9; i++) {
    if (i % 2) await b.call(ok);
    else await assert.rejects(b.call(boom));
  }
  assert.equal(b.state, 'closed');
  await b.call(ok);
  assert.equal(b.state, 'open');
  const t = new CircuitBreaker({ failureRate: 0.5, windowTime: '10s', minimumCalls: 2, clock });
  await assert.rejects(t.call(boom));
  clock.advance(11);
  await t.call(ok);
  assert.equal(t.stats().windowCalls, 1);
  assert.equal(t.state, 'closed');
});

test('manual control and the stateChange event', async () => {
  const b = new CircuitBreaker({ name: 'manual' });
  const changes = [];
  b.on('stateChange', (e) => changes.push(`${e.event} ${e.category} ${e.breaker}`));
  b.open();
  assert.equal(b.state, 'open');
  b.halfOpen();
  assert.equal(b.state, 'half-open');
  b.close();
  assert.deepEqual(changes, [
    'circuit_open [CIRCUIT] manual',
    'circuit_half_open [CIRCUIT] manual',
    'circuit_closed [CIRCUIT] manual',
  ]);
});

test('bad options are INVALID_ARGUMENT', () => {
  for (const options of [
    { failMax: 0 },
    { failMax: 1.5 },
    { resetTimeout: 0 },
    { resetTimeout: 'soon' },
    { windowCalls: 10 },
    { failureRate: 2 },
    { failureRate: 0.5, windowCalls: 10, windowTime: 60 },
    { slowCallRate: 0.5 },
    { halfOpenMaxCalls: 0 },
    { name: '' },
    { isFailure: 'no' },
  ]) {
    assert.throws(() => new CircuitBreaker(options), (err) => err.code === 'INVALID_ARGUMENT', JSON.stringify(options));
  }
  assert.throws(() => new CircuitBreaker('not a function', {}), (err) => err.code === 'INVALID_ARGUMENT');
  assert.throws(() => new CircuitBreaker([]), (err) => err.code === 'INVALID_ARGUMENT');
  assert.throws(() => new CircuitBreaker().fallback(1), (err) => err.code === 'INVALID_ARGUMENT');
});

test('the ESM entry exports the breaker', async () => {
  const esm = await import('../../node/lib/index.mjs');
  assert.equal(esm.CircuitBreaker, CircuitBreaker);
  const b = new esm.CircuitBreaker({ failMax: 1 });
  const opened = once(b, 'open');
  await assert.rejects(b.call(boom));
  const [event] = await opened;
  assert.equal(event.retry_after, '60');
});

test('transition events come in order with the call events, and a throwing listener breaks nothing', async () => {
  const b = new CircuitBreaker({ failMax: 1 });
  const order = [];
  for (const name of ['failure', 'open', 'reject']) b.on(name, () => order.push(name));
  await assert.rejects(b.call(boom));
  await assert.rejects(b.call(ok));
  assert.deepEqual(order, ['open', 'failure', 'reject']);

  // In a process of its own (the test runner treats any uncaught exception as a failure).
  const script = `
    const { CircuitBreaker } = require(${JSON.stringify(LIB)});
    process.on('uncaughtException', (e) => console.log('uncaught', e.message));
    const t = new CircuitBreaker({ failMax: 1 });
    t.on('open', () => { throw new Error('listener bug'); });
    t.call(async () => { throw new Error('down'); })
      .catch((e) => console.log('call', e.message, t.state));
  `;
  const out = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 15_000 });
  assert.equal(out.status, 0, out.stderr);
  // The call's own outcome, not the listener's error; the listener's error surfaces uncaught.
  assert.deepEqual(out.stdout.trim().split('\n').sort(), ['call down open', 'uncaught listener bug']);
});

test('a permit garbage-collected unreported frees its probe slot', () => {
  const script = `
    const { CircuitBreaker, ManualClock } = require(${JSON.stringify(LIB)});
    const clock = new ManualClock(1700000000);
    const b = new CircuitBreaker({ failMax: 1, probeTimeout: 3600, clock });
    b.open();
    clock.advance(60);
    (() => { b.acquire(); })(); // the probe's permit, dropped unreported
    console.log('before', b.tryAcquire() === null);
    (async () => {
      for (let i = 0; i < 20 && b.stats().probes > 0; i++) {
        globalThis.gc();
        await new Promise((r) => setTimeout(r, 10));
      }
      const p = b.tryAcquire();
      console.log('after', p !== null && p.isProbe, b.stats().ignored);
    })();
  `;
  const out = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', timeout: 15_000 });
  assert.equal(out.status, 0, out.stderr);
  assert.deepEqual(out.stdout.trim().split('\n'), ['before true', 'after true 1']);
});

test('calls admitted without a call into the addon keep every rule of the core', async () => {
  const clock = new ManualClock(NOW);
  const b = reference(clock); // 3 failures, 60 s, 2 probe successes
  // Counted on the JavaScript side, handed over when stats() reads them.
  for (let i = 0; i < 5; i++) assert.equal(await b.call(ok, 1), 1);
  let s = b.stats();
  assert.equal(s.calls, 5);
  assert.equal(s.successes, 5);
  // A success ends a run of failures, whichever API reported the failures.
  b.tryAcquire().failure();
  await assert.rejects(b.call(boom), /down/);
  assert.equal(b.stats().consecutiveFailures, 2);
  await b.call(ok, 1);
  assert.equal(b.stats().consecutiveFailures, 0);
  // A call admitted before another call's failure: its success still ends the run.
  let release;
  const slow = b.call(() => new Promise((resolve) => (release = resolve)));
  await assert.rejects(b.call(boom), /down/);
  assert.equal(b.stats().consecutiveFailures, 1);
  release('late');
  assert.equal(await slow, 'late');
  assert.equal(b.stats().consecutiveFailures, 0);
  // A call admitted before the trip: its late outcome is stale, and the breaker stays open.
  const inFlight = b.call(() => new Promise((resolve) => (release = resolve)));
  for (let i = 0; i < 3; i++) await assert.rejects(b.call(boom), /down/);
  assert.equal(b.state, 'open');
  const staleBefore = b.stats().stale;
  release('after the trip');
  assert.equal(await inFlight, 'after the trip');
  assert.equal(b.stats().stale, staleBefore + 1);
  assert.equal(b.state, 'open');
  await assert.rejects(b.call(ok, 1), (err) => err.code === 'CIRCUIT_OPEN');
  // Probes and the close go through the addon; then the fast path resumes.
  clock.advance(60);
  await b.call(ok, 1);
  await b.call(ok, 1);
  assert.equal(b.state, 'closed');
  s = b.stats();
  for (let i = 0; i < 10; i++) await b.call(ok, 1);
  assert.equal(b.stats().successes, s.successes + 10);
});

test('a ManualClock at absurd times neither aborts nor hangs the breaker', () => {
  // Set or advanced by 1e300 s the clock read i64::MAX microseconds, and the breaker's time
  // arithmetic overflowed: a Rust panic inside tryAcquire, with its core lock held (the process
  // hung). The clock now stops at about 73,000 years either side of the epoch.
  const script = `
    const { CircuitBreaker, ManualClock } = require(${JSON.stringify(LIB)});
    for (const [start, jump] of [[0, 1e300], [0, -1e300], [1e300, -1e300], [-1e300, 1e300], [9.2e12, 9.2e12]]) {
      const clock = new ManualClock(start);
      const b = new CircuitBreaker({ failMax: 1, resetTimeout: 60, halfOpenMaxCalls: 2, clock });
      const p = b.acquire();
      p.failure();
      if (b.state !== 'open') throw new Error('not open at ' + start);
      clock.advance(jump);
      b.stats();
      b.tryAcquire()?.success();
      clock.advance(jump);
      b.halfOpen();
      const first = b.tryAcquire();
      b.tryAcquire();
      first?.ignore();
      b.close();
    }
    console.log('alive');
  `;
  const out = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(out.signal, null, `killed by ${out.signal} (a hang or an abort)`);
  assert.equal(out.status, 0, out.stderr.slice(0, 2000));
  assert.equal(out.stdout.trim(), 'alive');
});
