// TokenService and Store from Node: the same cases on memory, a real Redis and
// a real Redis Cluster; outages answered within the timeout; and one token
// family shared with Python through Redis.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { bastion, eventually, makeStore, NOW, SECRET, rejectsCode } from './helpers.mjs';
import { inCi, redisOrSkip, sharedRedisOrSkip, uniquePrefix } from './redis-harness.mjs';

const { Key, ManualClock, Store, TokenService, jwtVerify } = { ...bastion, jwtVerify: bastion.verify };

function service(store, clock, options = {}) {
  return new TokenService(Key.hmac(SECRET), { store, clock, ...options });
}

for (const backend of ['memory', 'redis', 'cluster']) {
  test(`pairs, rotation and reuse detection (${backend})`, async (t) => {
    const clock = new ManualClock(NOW);
    const store = await makeStore(t, backend, clock, 'lc');
    if (!store) return;
    const events = [];
    const svc = service(store, clock, { issuer: 'https://auth.example', onEvent: (e) => events.push(e) });
    const pair = await svc.issuePair(42, { username: 'alice', roles: ['admin'] });
    assert.equal(pair.accessExpiresAt, NOW + 1800);
    assert.equal(pair.refreshExpiresAt, NOW + 7 * 86400);
    const claims = await svc.verify(pair.access);
    assert.equal(claims.sub, '42');
    assert.deepEqual(claims.roles, ['admin']);
    assert.equal(claims.token_type, 'access');
    // An ordinary JWT: the jsonwebtoken-compatible verify accepts it too.
    assert.equal(jwtVerify(pair.access, SECRET, { algorithms: ['HS256'], clock }).jti, claims.jti);
    await rejectsCode(svc.verify(pair.refresh), 'INVALID_TOKEN_TYPE');
    assert.equal((await svc.verify(pair.refresh, 'refresh')).token_type, 'refresh');

    clock.advance(60);
    const second = await svc.rotate(pair.refresh);
    assert.equal(second.family, pair.family);
    assert.equal((await svc.verify(second.access)).username, 'alice');
    await rejectsCode(svc.rotate(pair.refresh), 'TOKEN_REUSED');
    await rejectsCode(svc.verify(second.access), 'TOKEN_REVOKED');
    await rejectsCode(svc.rotate(second.refresh), 'TOKEN_REVOKED');
    // Events arrive on the JavaScript thread, after the call.
    await eventually(() => events.some((e) => e.event === 'token_reuse'));
    const reuse = events.find((e) => e.event === 'token_reuse');
    assert.ok(reuse, inspect(events));
    assert.equal(reuse.category, '[SECURITY]');
    assert.equal(reuse.family, pair.family);
    assert.equal(reuse.subject, '42');
  });

  test(`50 concurrent rotations of one refresh token make one pair (${backend})`, async (t) => {
    const clock = new ManualClock(NOW);
    const store = await makeStore(t, backend, clock, 'lc');
    if (!store) return;
    const svc = service(store, clock, { rotationGrace: 30 });
    const pair = await svc.issuePair('dave');
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => svc.rotate(pair.refresh)));
    const won = results.filter((r) => r.status === 'fulfilled');
    assert.equal(won.length, 1);
    for (const r of results.filter((r) => r.status === 'rejected')) {
      assert.equal(r.reason.code, 'TOKEN_ALREADY_ROTATED');
    }
    await svc.verify(won[0].value.access);
  });

  test(`revocation and ownership (${backend})`, async (t) => {
    const clock = new ManualClock(NOW);
    const store = await makeStore(t, backend, clock, 'lc');
    if (!store) return;
    const svc = service(store, clock);
    const a = await svc.issuePair('gina');
    const b = await svc.issuePair('gina');
    await rejectsCode(svc.revoke(a.access, { by: 'mallory' }), 'PERMISSION_DENIED');
    await rejectsCode(svc.revoke(a.access), 'PERMISSION_DENIED');
    await svc.revoke(a.access, { by: 'gina' });
    await rejectsCode(svc.verify(a.access), 'TOKEN_REVOKED');
    await svc.verify(b.access);
    await svc.revoke(b.refresh, { by: 'root', admin: true });
    await rejectsCode(svc.verify(b.access), 'TOKEN_REVOKED');
    const c = await svc.issuePair('gina');
    clock.advance(0.5);
    await svc.revokeAll('gina');
    await rejectsCode(svc.verify(c.access), 'TOKEN_REVOKED');
    clock.advance(0.1);
    const d = await svc.issuePair('gina');
    await svc.verify(d.access);
    assert.equal(await svc.revokeFamily('gina', d.family), true);
    await rejectsCode(svc.verify(d.access), 'TOKEN_REVOKED');
    assert.equal(await svc.revokeFamily('gina', 'no-such-family'), false);
  });
}

test('with Redis stopped or hung, verify fails closed within the timeout', async (t) => {
  const server = await redisOrSkip(t);
  if (!server) return;
  const store = new Store(server.url);
  assert.equal(store.timeoutMs, 50);
  const closed = new TokenService(Key.hmac(SECRET), { store });
  const open = new TokenService(Key.hmac(SECRET), { store, revocationPolicy: 'fail_open' });
  const pair = await closed.issuePair('ivan');
  await closed.verify(pair.access);
  assert.ok((await store.ping()) >= 0);

  server.pause();
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    await rejectsCode(closed.verify(pair.access), 'STORE_UNAVAILABLE');
    // The bound, with room for a loaded machine's scheduling.
    assert.ok(performance.now() - started < 500);
  }
  assert.equal((await open.verify(pair.access)).sub, 'ivan');
  server.resume();

  await server.stop();
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    await rejectsCode(closed.verify(pair.access), 'STORE_UNAVAILABLE');
    assert.ok(performance.now() - started < 500);
  }
  await rejectsCode(closed.rotate(pair.refresh), 'STORE_UNAVAILABLE');

  await server.restart();
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await closed.verify(pair.access);
      break;
    } catch (err) {
      assert.equal(err.code, 'STORE_UNAVAILABLE');
      assert.ok(Date.now() < deadline, 'the store did not reconnect');
      await new Promise((r) => setTimeout(r, 20));
    }
  }
});

test('bad arguments get typed errors', async () => {
  const svc = new TokenService(Key.hmac(SECRET));
  await rejectsCode(svc.issuePair(1.5), 'INVALID_ARGUMENT');
  await rejectsCode(svc.issuePair('x', ['not', 'an', 'object']), 'INVALID_ARGUMENT');
  await rejectsCode(svc.issuePair('x', { jti: 'mine' }), 'INVALID_ARGUMENT');
  await rejectsCode(svc.issuePair(''), 'INVALID_ARGUMENT');
  await rejectsCode(svc.rotate(null), 'INVALID_ARGUMENT');
  await rejectsCode(svc.verify('not-a-token'), 'MALFORMED_TOKEN');
  await rejectsCode(svc.verify('x.y.z', 'sideways'), 'INVALID_ARGUMENT');
  assert.throws(() => new TokenService(Key.hmac(SECRET), { revocationPolicy: 'maybe' }), {
    code: 'INVALID_ARGUMENT',
  });
  assert.throws(() => new TokenService('a secret string'), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => new TokenService(Key.hmac(SECRET), { onEvent: 'log' }), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => new Store('http://example.com'), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => new Store('redis://127.0.0.1:1', { timeoutMs: 0 }), { code: 'INVALID_ARGUMENT' });
  assert.ok(!new Store('redis://user:hunter2@127.0.0.1:1/0').toString().includes('hunter2'));
  assert.equal(new Store().kind, 'memory');
  assert.equal(await new Store().ping(), 0);
});

// One family across languages: issued from Python, rotated from Node, reuse
// detected from Python, and the revocation seen from Node.
const PYTHON = fileURLToPath(new URL('../../.venv/bin/python', import.meta.url));

function python(t, script, env) {
  const out = spawnSync(PYTHON, ['-c', script], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(out.status, 0, out.stderr);
  return out.stdout.trim();
}

test('a family issued from Python is rotated from Node and its reuse detected from Python', async (t) => {
  if (!fs.existsSync(PYTHON)) {
    if (inCi()) assert.fail(`${PYTHON} is missing: make test builds the Python package first`);
    t.skip(`no Python environment at ${PYTHON} (make venv build-python)`);
    return;
  }
  const server = await sharedRedisOrSkip(t);
  if (!server) return;
  const prefix = uniquePrefix('xlang');
  const env = { BASTION_URL: server.url, BASTION_PREFIX: prefix, BASTION_SECRET: SECRET };
  const setup =
    'import os, bastion\n' +
    'svc = bastion.TokenService(bastion.Key.hmac(os.environ["BASTION_SECRET"]),\n' +
    '    store=bastion.Store(os.environ["BASTION_URL"], prefix=os.environ["BASTION_PREFIX"], timeout=2.0))\n';
  const refresh = python(t, `${setup}print(svc.issue_pair("xlang-user", {"lang": "python"}).refresh)`, env);

  const store = new Store(server.url, { prefix, timeoutMs: 2000 });
  const svc = new TokenService(Key.hmac(SECRET), { store });
  const rotated = await svc.rotate(refresh);
  assert.equal((await svc.verify(rotated.access)).lang, 'python');

  const verdict = python(
    t,
    `${setup}try:\n    svc.rotate(os.environ["OLD"])\nexcept bastion.TokenReusedError:\n    print("reused")\n`,
    { ...env, OLD: refresh },
  );
  assert.equal(verdict, 'reused');
  await rejectsCode(svc.verify(rotated.access), 'TOKEN_REVOKED');
  await rejectsCode(svc.rotate(rotated.refresh), 'TOKEN_REVOKED');
});
