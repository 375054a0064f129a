// Lockout, account lockout after failed logins, from Node: every case on
// memory, a real Redis and a real Redis Cluster (tests/node/redis-harness.mjs),
// with time from a ManualClock; one case across languages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bastion, eventually } from './helpers.mjs';
import { inCi, redisOrSkip, sharedClusterOrSkip, sharedRedisOrSkip, uniquePrefix } from './redis-harness.mjs';

const { Lockout, ManualClock, Store, password } = bastion;
const NOW = 1_800_000_000;
const FAST = { algorithm: 'pbkdf2_sha256', iterations: 1000 };

async function rejectsCode(promise, code) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.code, code, `${err.code}: ${err.message}`);
    return true;
  });
}

/**
 * Runs `body(make, clock, backend)` on memory, Redis and Cluster. `make(options)`
 * builds a lockout; every lockout it builds shares one store.
 */
function onAll(name, body) {
  for (const backend of ['memory', 'redis', 'cluster']) {
    test(`${name} (${backend})`, async (t) => {
      const clock = new ManualClock(NOW);
      let store;
      if (backend === 'memory') {
        store = new Store(null, null, clock);
      } else {
        const server = backend === 'redis' ? await sharedRedisOrSkip(t) : await sharedClusterOrSkip(t);
        if (!server) return;
        const url =
          backend === 'redis'
            ? server.url
            : `redis+cluster://${server.urls.map((u) => u.replace('redis://', '')).join(',')}`;
        store = new Store(url, { timeoutMs: 2000, prefix: uniquePrefix('lockout') }, clock);
      }
      const make = (options = {}) => new Lockout({ store, ...options });
      await body(make, clock, backend);
    });
  }
}

onAll('five failures lock for thirty minutes, then the count starts over', async (make, clock) => {
  const lockout = make({ failureLimit: 5, cooloff: '30m' });
  const alice = { username: 'alice', ipAddress: '10.0.0.1' };
  for (let i = 1; i < 5; i++) {
    const s = await lockout.recordFailure(alice);
    assert.deepEqual([s.locked, s.failures, s.remaining], [false, i, 5 - i]);
  }
  assert.equal((await lockout.check(alice)).failures, 4);
  const s = await lockout.recordFailure(alice);
  assert.equal(s.locked, true);
  assert.equal(s.retryAfter, 1800);
  assert.equal(s.lockedUntil, NOW + 1800);
  assert.deepEqual(s.parameters, ['username']);
  const other = make({ failureLimit: 5, cooloff: 1800 });
  assert.equal((await other.check({ username: ' ALICE ' })).locked, true);
  assert.equal((await other.check({ username: 'mallory', ipAddress: '10.0.0.1' })).locked, true);
  assert.equal((await other.check({ username: 'bob', ipAddress: '10.0.0.2' })).locked, false);
  clock.advance(1800);
  const after = await lockout.check(alice);
  assert.deepEqual([after.locked, after.failures], [false, 0]);
});

onAll('progressive cool-offs and combination parameters', async (make, clock) => {
  const growing = make({
    name: 'grow',
    failureLimit: 1,
    cooloff: 60,
    extendOnFailure: false,
    progressive: { factor: 2, maxCooloff: '3m', memory: '1h' },
  });
  const seen = [];
  for (let i = 0; i < 4; i++) {
    const s = await growing.recordFailure({ username: 'dave' });
    seen.push(s.retryAfter);
    clock.advance(s.retryAfter);
  }
  assert.deepEqual(seen, [60, 120, 180, 180]);

  const axes = make({ failureLimit: 3, parameters: ['ip_address', ['username', 'user_agent']] });
  for (const ip of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) {
    await axes.recordFailure({ username: 'gina', ipAddress: ip, userAgent: 'curl/8' });
  }
  const s = await axes.check({ username: 'gina', ipAddress: '10.9.9.9', userAgent: 'curl/8' });
  assert.equal(s.locked, true);
  assert.deepEqual(s.parameters, ['username', 'user_agent']);
  assert.equal((await axes.check({ username: 'gina', ipAddress: '10.9.9.9', userAgent: 'x' })).locked, false);
});

onAll('success resets the user, unlock and listing', async (make, clock) => {
  const lockout = make({ failureLimit: 3 });
  for (const u of ['v1', 'v2', 'owner']) await lockout.recordFailure({ username: u, ipAddress: '10.0.0.7' });
  await lockout.recordSuccess({ username: 'owner', ipAddress: '10.0.0.7' });
  const s = await lockout.check({ username: 'owner', ipAddress: '10.0.0.7' });
  assert.equal(s.locked, true);
  assert.deepEqual(s.parameters, ['ip_address']);
  assert.equal((await lockout.check({ username: 'owner' })).failures, 0);

  const listed = await lockout.locked();
  assert.equal(listed.length, 1);
  assert.equal(listed[0].ipAddress, '10.0.0.7');
  assert.equal(listed[0].retryAfter, 3600);
  clock.advance(10);
  assert.equal((await lockout.locked(5))[0].retryAfter, 3590);
  assert.equal(await lockout.unlock({ ipAddress: '10.0.0.7' }), 1);
  assert.deepEqual(await lockout.locked(), []);
  assert.equal(await lockout.unlock({ username: 'v1' }), 1);
  await rejectsCode(lockout.unlock({}), 'INVALID_ARGUMENT');
});

onAll('events carry identifiers only', async (make) => {
  const events = [];
  const lockout = make({ failureLimit: 1, parameters: ['username'], onEvent: (e) => events.push(e) });
  await lockout.recordFailure({ username: 'Uma', ipAddress: '10.0.0.5' });
  await lockout.unlock({ username: 'uma' });
  await eventually(() => events.length >= 2);
  assert.deepEqual(events, [
    {
      event: 'locked_out',
      category: '[LOCKOUT]',
      lockout: 'login',
      parameters: 'username',
      username: 'uma',
      ip_address: '10.0.0.5',
      retry_after: '3600',
    },
    { event: 'unlocked', category: '[LOCKOUT]', lockout: 'login', username: 'uma', removed: '1' },
  ]);
});

onAll('login answers unknown users and wrong passwords alike', async (make) => {
  const lockout = make({ failureLimit: 3 });
  const stored = password.hashSync('correct horse', FAST);
  const xena = { username: 'xena', ipAddress: '10.0.0.1' };
  assert.equal(await lockout.login(xena, 'correct horse', stored, FAST), true);
  assert.equal(await lockout.login(xena, 'wrong', stored, FAST), false);
  const ghost = { username: 'ghost', ipAddress: '10.0.0.2' };
  assert.equal(await lockout.login(ghost, Buffer.from('anything'), null, FAST), false);
  assert.equal(await lockout.login(ghost, 'x', null, FAST), false);
  const e1 = await lockout.login(ghost, 'x', null, FAST).catch((e) => e);
  assert.equal(await lockout.login(xena, 'x', stored, FAST), false);
  const e2 = await lockout.login(xena, 'x', stored, FAST).catch((e) => e);
  assert.equal(e1.code, 'ACCOUNT_LOCKED');
  assert.equal(e2.code, 'ACCOUNT_LOCKED');
  assert.equal(e1.message, e2.message);
  assert.equal(e1.retryAfter, 3600);
  await rejectsCode(lockout.login(xena, 'correct horse', stored, FAST), 'ACCOUNT_LOCKED');
});

onAll('sync twins answer on memory and refuse Redis', async (make, clock, backend) => {
  const lockout = make({ failureLimit: 2 });
  const a = { username: 'wes' };
  if (backend !== 'memory') {
    assert.throws(() => lockout.checkSync(a), { code: 'INVALID_ARGUMENT' });
    assert.throws(() => lockout.recordFailureSync(a), { code: 'INVALID_ARGUMENT' });
    return;
  }
  assert.equal(lockout.recordFailureSync(a).failures, 1);
  assert.equal(lockout.recordFailureSync(a).locked, true);
  assert.equal(lockout.checkSync(a).retryAfter, 3600);
  assert.equal(lockout.lockedSync().length, 1);
  assert.equal(lockout.unlockSync({ username: 'wes' }), 1);
  lockout.recordFailureSync(a);
  lockout.recordSuccessSync(a);
  assert.equal(lockout.checkSync(a).failures, 0);
});

test('options are checked', () => {
  for (const bad of [
    { failureLimit: 0 },
    { failureLimit: 1.5 },
    { cooloff: 0 },
    { cooloff: '30' },
    { name: 'no spaces' },
    { outagePolicy: 'maybe' },
    { parameters: ['password'] },
    { progressive: { factor: 0.5 } },
  ]) {
    assert.throws(() => new Lockout(bad), { code: 'INVALID_ARGUMENT' }, JSON.stringify(bad));
  }
  assert.throws(() => new Lockout('x'), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => new Lockout().checkSync('bob'), { code: 'INVALID_ARGUMENT' });
  assert.equal(new Lockout({ progressive: true }).checkSync({}).remaining, 10);
});

test('with Redis stopped, the local policy keeps counting in this process', async (t) => {
  const server = await redisOrSkip(t);
  if (!server) return;
  const clock = new ManualClock(NOW);
  const store = new Store(server.url, { prefix: uniquePrefix('lockout-outage') }, clock);
  const events = [];
  const local = new Lockout({ store, clock, failureLimit: 2, onEvent: (e) => events.push(e.event) });
  const closed = new Lockout({ store, failureLimit: 2, outagePolicy: 'fail_closed' });
  await local.recordFailure({ username: 'bea' });
  await server.stop();
  await rejectsCode(closed.check({ username: 'bea' }), 'STORE_UNAVAILABLE');
  assert.equal((await local.recordFailure({ username: 'bea' })).failures, 1);
  assert.equal((await local.recordFailure({ username: 'bea' })).locked, true);
  await eventually(() => events.includes('store_unavailable') && events.includes('locked_out'));
  assert.ok(events.includes('store_unavailable') && events.includes('locked_out'), events.join());
});

// One lockout across languages: Python locks a user through one Redis, Node
// sees the lock and unlocks it, Python sees the unlock.
const PYTHON = fileURLToPath(new URL('../../.venv/bin/python', import.meta.url));

test('a lock made from Python is seen and lifted from Node', async (t) => {
  if (!fs.existsSync(PYTHON)) {
    if (inCi()) assert.fail(`${PYTHON} is missing: make test builds the Python package first`);
    t.skip(`no Python environment at ${PYTHON} (make venv build-python)`);
    return;
  }
  const server = await sharedRedisOrSkip(t);
  if (!server) return;
  const prefix = uniquePrefix('xlang-lockout');
  const env = { ...process.env, BASTION_URL: server.url, BASTION_PREFIX: prefix };
  const python = (script) => {
    const out = spawnSync(PYTHON, ['-c', script], { env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(out.status, 0, out.stderr);
    return out.stdout.trim();
  };
  const setup =
    'import os, bastion\n' +
    'lockout = bastion.Lockout(bastion.Store(os.environ["BASTION_URL"], prefix=os.environ["BASTION_PREFIX"],\n' +
    '    timeout=2.0), failure_limit=3, cooloff="30m")\n';
  assert.equal(
    python(`${setup}for _ in range(3): s = lockout.record_failure("Xavier", "10.1.2.3")\nprint(s.locked)`),
    'True',
  );
  const store = new Store(server.url, { prefix, timeoutMs: 2000 });
  const lockout = new Lockout({ store, failureLimit: 3, cooloff: 1800 });
  const s = await lockout.check({ username: 'xavier' });
  assert.equal(s.locked, true);
  assert.ok(s.retryAfter > 1790 && s.retryAfter <= 1800, String(s.retryAfter));
  assert.equal(await lockout.unlock({ username: 'xavier', ipAddress: '10.1.2.3' }), 2);
  assert.equal(python(`${setup}print(lockout.check("xavier", "10.1.2.3").locked)`), 'False');
});

test('cool-off settings are checked', () => {
  assert.ok(new bastion.Lockout({ cooloff: '30m' }));
  assert.ok(new bastion.Lockout({ cooloff: 90 }));
  // A bare number in text would be read as milliseconds: refused, not guessed.
  assert.throws(() => new bastion.Lockout({ cooloff: '1800' }), (e) => e.code === 'INVALID_ARGUMENT' && /needs a unit/.test(e.message));
  for (const bad of [-1, Number.NaN, Infinity, 1e11, '5 fortnights']) {
    assert.throws(() => new bastion.Lockout({ cooloff: bad }), (e) => e.code === 'INVALID_ARGUMENT', String(bad));
  }
});
