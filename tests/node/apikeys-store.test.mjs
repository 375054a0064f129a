// ApiKeys, the store-backed API key registry, from Node: every case on
// memory, a real Redis and a real Redis Cluster (tests/node/redis-harness.mjs),
// with time from a ManualClock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { crc32 } from 'node:zlib';
import { bastion, makeStore } from './helpers.mjs';
import { redisOrSkip, sharedRedisOrSkip, uniquePrefix } from './redis-harness.mjs';

const { ApiKeyHasher, ApiKeys, CreatedApiKey, ManualClock, Store } = bastion;
const PEPPER_V1 = 'Jq3vX8nR2mK7pW4tY9bF6hL1sD5gA0cE';
const PEPPER_V2 = 'zT6rN1wQ8kM3vB5xP9cH2jL7fS4dG0aY';
const NOW = 1_800_000_000;
const DAY = 86_400;
const B62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** The same prefix and id, another secret, a valid checksum. */
function withWrongSecret(key) {
  let body = key.slice(0, -6);
  body = body.slice(0, -1) + (body.endsWith('a') ? 'b' : 'a');
  let n = crc32(body);
  let check = '';
  for (let i = 0; i < 6; i++) {
    check = B62[n % 62] + check;
    n = Math.floor(n / 62);
  }
  return body + check;
}

async function rejectsCode(promise, code) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.code, code, `${err.code}: ${err.message}`);
    return true;
  });
}

/**
 * Runs `body(make, clock)` on memory, Redis and Cluster. `make(hasher,
 * options)` builds a registry; every registry it builds shares one store (as
 * other processes would share one Redis).
 */
function onAll(name, body) {
  for (const backend of ['memory', 'redis', 'cluster']) {
    test(`${name} (${backend})`, async (t) => {
      const clock = new ManualClock(NOW);
      const store = await makeStore(t, backend, clock, 'apikeys');
      if (!store) return;
      const make = (hasher, options = {}) =>
        new ApiKeys(hasher ?? new ApiKeyHasher(PEPPER_V1), { store, ...options }, clock);
      await body(make, clock);
    });
  }
}

onAll('create then verify', async (make) => {
  const keys = make();
  const made = await keys.create('user-42', 'deploy bot', { ttl: 90 * DAY });
  assert.ok(made instanceof CreatedApiKey);
  assert.match(made.key, /^bst_[0-9A-Za-z]{17}_[0-9A-Za-z]{49}$/);
  assert.ok(!inspect(made).includes(made.key));
  assert.ok(!JSON.stringify(made).includes(made.key));
  const r = made.record;
  assert.equal(r.id, made.id);
  assert.equal(r.owner, 'user-42');
  assert.equal(r.name, 'deploy bot');
  assert.equal(r.createdAt, NOW);
  assert.equal(r.expiresAt, NOW + 90 * DAY);
  assert.deepEqual(r.rateLimit, { requests: 1000, windowSecs: 3600 });
  assert.equal(r.revoked, false);
  assert.equal(r.revokedAt, undefined);
  assert.equal(r.pepperVersion, 1);
  assert.deepEqual(await make().verify(made.key), r);
  assert.deepEqual(await keys.verify(Buffer.from(made.key)), r);

  const limited = await keys.create(42, null, {
    rateLimit: { requests: 5, windowSecs: 60 },
    expiresAt: NOW + 100,
  });
  const got = await keys.verify(limited.key);
  assert.equal(got.owner, '42');
  assert.equal(got.name, '');
  assert.deepEqual(got.rateLimit, { requests: 5, windowSecs: 60 });
  assert.equal(got.expiresAt, NOW + 100);
  const forever = await keys.create('user-42', 'ci');
  assert.equal((await keys.verify(forever.key)).expiresAt, undefined);
  const unlimited = await make(undefined, { defaultRateLimit: false }).create('u');
  assert.equal(unlimited.record.rateLimit, undefined);
});

onAll('wrong secret, unknown id and garbage are invalid', async (make) => {
  const keys = make();
  const made = await keys.create('ann', 'k');
  const wrong = await keys.verify(withWrongSecret(made.key)).catch((e) => e);
  assert.equal(wrong.code, 'INVALID_API_KEY');
  const unknown = await keys.verify(new ApiKeyHasher(PEPPER_V1).generate().key).catch((e) => e);
  assert.equal(unknown.code, 'INVALID_API_KEY');
  assert.equal(unknown.message, wrong.message);
  const acme = new ApiKeyHasher(PEPPER_V1).generate('acme').key;
  for (const bad of ['garbage', '', made.key.replaceAll('_', '-'), acme, 'x'.repeat(10_000)]) {
    await rejectsCode(keys.verify(bad), 'INVALID_API_KEY');
  }
  await keys.verify(made.key);
});

onAll('expiry follows the clock, then the record goes', async (make, clock) => {
  const keys = make(undefined, { retention: 7 * DAY });
  const made = await keys.create('bea', 'short', { ttl: 3600 });
  clock.advance(3599);
  await keys.verify(made.key);
  clock.advance(1);
  const err = await keys.verify(made.key).catch((e) => e);
  assert.equal(err.code, 'API_KEY_EXPIRED');
  assert.equal(err.at, NOW + 3600);
  assert.deepEqual(
    (await keys.list('bea')).map((r) => r.id),
    [made.id],
  );
  clock.advance(7 * DAY);
  await rejectsCode(keys.verify(made.key), 'INVALID_API_KEY');
  assert.deepEqual(await keys.list('bea'), []);
  for (const bad of [{ ttl: 0 }, { expiresAt: clock.now() }, { ttl: 1, expiresAt: NOW * 2 }, { ttl: -1 }, { ttl: 1.5 }]) {
    await assert.rejects(
      async () => keys.create('bea', 'x', bad),
      (e) => e.code === 'INVALID_ARGUMENT',
    );
  }
});

onAll('revoke needs the owner or an admin', async (make, clock) => {
  const keys = make();
  const a = await keys.create('carl', 'a');
  const b = await keys.create('carl', 'b', { ttl: 3600 });
  await rejectsCode(keys.revoke(a.id, { by: 'mallory' }), 'PERMISSION_DENIED');
  await rejectsCode(keys.revoke(a.id), 'PERMISSION_DENIED');
  await keys.verify(a.key);
  clock.advance(10);
  assert.equal(await keys.revoke(a.id, { by: 'carl' }), true);
  const err = await keys.verify(a.key).catch((e) => e);
  assert.equal(err.code, 'API_KEY_REVOKED');
  assert.equal(err.at, NOW + 10);
  assert.equal(await keys.revoke(a.id, { by: 'carl' }), true);
  assert.equal(await keys.revoke(b.id, { by: 'root', admin: true }), true);
  await rejectsCode(keys.verify(b.key), 'API_KEY_REVOKED');
  assert.equal(await keys.revoke(new ApiKeyHasher(PEPPER_V1).generate().id, { admin: true }), false);
  await rejectsCode(keys.revoke('not-an-id', { admin: true }), 'INVALID_API_KEY');
  const listed = await keys.list('carl');
  assert.deepEqual(listed.map((r) => r.name).sort(), ['a', 'b']);
  assert.ok(listed.every((r) => r.revokedAt === NOW + 10 && r.revoked));
});

onAll('revokeAll and list', async (make, clock) => {
  const keys = make(undefined, { maxKeysPerOwner: 3 });
  const mine = [];
  for (const name of ['first', 'second', 'third']) {
    mine.push(await keys.create(7, name));
    clock.advance(1);
  }
  const theirs = await keys.create('ed');
  assert.deepEqual(
    (await keys.list(7)).map((r) => r.name),
    ['first', 'second', 'third'],
  );
  assert.deepEqual(await keys.list('nobody'), []);
  await rejectsCode(keys.create(7, 'fourth'), 'INVALID_ARGUMENT');
  assert.equal(await keys.revokeAll(7), 3);
  for (const m of mine) await rejectsCode(keys.verify(m.key), 'API_KEY_REVOKED');
  await keys.verify(theirs.key);
  assert.equal(await keys.revokeAll('7'), 0);
});

onAll('pepper rotation', async (make) => {
  const old = make();
  const made = await old.create('ivy');
  const rotated = make(
    new ApiKeyHasher(PEPPER_V2, { version: 2, previous: [{ version: 1, pepper: PEPPER_V1 }] }),
  );
  assert.equal((await rotated.verify(made.key)).pepperVersion, 1);
  // Re-stored under pepper 2: a registry without pepper 1 accepts the key.
  const fresh = make(new ApiKeyHasher(PEPPER_V2, { version: 2 }));
  assert.equal((await fresh.verify(made.key)).pepperVersion, 2);
  assert.equal((await rotated.create('ivy')).record.pepperVersion, 2);
});

onAll('many verifications at once', async (make) => {
  const keys = make();
  const made = await keys.create('jo', 'concurrent');
  const results = await Promise.all(Array.from({ length: 50 }, () => keys.verify(made.key)));
  assert.ok(results.every((r) => r.id === made.id));
});

test('garbage never touches the store', async () => {
  const keys = new ApiKeys(new ApiKeyHasher(PEPPER_V1), { store: new Store('redis://127.0.0.1:1') });
  const wellFormed = new ApiKeyHasher(PEPPER_V1).generate().key;
  await rejectsCode(keys.verify(wellFormed), 'STORE_UNAVAILABLE');
  for (const bad of ['garbage', Buffer.alloc(80, 0xff), `${wellFormed.slice(0, -1)}!`]) {
    await rejectsCode(keys.verify(bad), 'INVALID_API_KEY');
  }
});

test('Redis down fails closed within the timeout', async (t) => {
  const server = await redisOrSkip(t);
  if (!server) return;
  const clock = new ManualClock(NOW);
  const store = new Store(server.url, { prefix: uniquePrefix('apikeys-outage') }, clock); // 50 ms timeout
  const closed = new ApiKeys(new ApiKeyHasher(PEPPER_V1), { store }, clock);
  const local = new ApiKeys(
    new ApiKeyHasher(PEPPER_V1),
    { store, verifyPolicy: 'local', localGrace: 60 },
    clock,
  );
  const a = await closed.create('quin');
  const b = await local.create('quin');
  const unseen = await local.create('quin');
  await closed.verify(a.key);
  await local.verify(b.key);

  async function failsClosed(keys, key) {
    const started = performance.now();
    await rejectsCode(keys.verify(key), 'STORE_UNAVAILABLE');
    // The bound, with room for a loaded machine's scheduling.
    assert.ok(performance.now() - started < 500, `${performance.now() - started} ms`);
  }

  server.pause();
  try {
    for (let i = 0; i < 3; i++) await failsClosed(closed, a.key);
    assert.equal((await local.verify(b.key)).id, b.id);
    await failsClosed(local, unseen.key);
    await rejectsCode(local.verify(withWrongSecret(b.key)), 'INVALID_API_KEY');
  } finally {
    server.resume();
  }
  await server.stop();
  for (let i = 0; i < 3; i++) await failsClosed(closed, a.key);
  await rejectsCode(closed.create('quin'), 'STORE_UNAVAILABLE');
  await rejectsCode(closed.list('quin'), 'STORE_UNAVAILABLE');
  clock.advance(61);
  await failsClosed(local, b.key);
});

test('every Redis key has a TTL, but valid keys without expiry', async (t) => {
  const server = await sharedRedisOrSkip(t);
  if (!server) return;
  const prefix = uniquePrefix('apikeys-ttl');
  const keys = new ApiKeys(
    new ApiKeyHasher(PEPPER_V1),
    { store: new Store(server.url, { timeoutMs: 2000, prefix }) },
    new ManualClock(NOW),
  );
  await keys.create('lea', null, { ttl: 3600 });
  const revoked = await keys.create('max');
  await keys.revoke(revoked.id, { by: 'max' });
  const forever = await keys.create('ned');
  const found = await server.command('KEYS', `${prefix}*`);
  assert.equal(found.length, 6);
  const exceptions = [`${prefix}apikey:{${forever.id}}`, `${prefix}apikey-owner:{ned}`];
  for (const key of found) {
    const ttl = await server.command('PTTL', key);
    if (exceptions.includes(key)) assert.equal(ttl, -1, key);
    else assert.ok(ttl > 0, `${key} has no TTL (${ttl})`);
  }
  await keys.revoke(forever.id, { by: 'ned' });
  for (const key of await server.command('KEYS', `${prefix}*`)) {
    assert.ok((await server.command('PTTL', key)) > 0, key);
  }
});

test('bad arguments', async () => {
  const hasher = new ApiKeyHasher(PEPPER_V1);
  const code = (fn, expected) =>
    assert.throws(fn, (e) => {
      assert.equal(e.code, expected, e.message);
      return true;
    });
  code(() => new ApiKeys(hasher, { verifyPolicy: 'fail_open' }), 'INVALID_ARGUMENT');
  code(() => new ApiKeys(hasher, { verifyPolicy: 'maybe' }), 'INVALID_ARGUMENT');
  code(() => new ApiKeys(hasher, { prefix: 'Bad_Prefix' }), 'INVALID_ARGUMENT');
  code(() => new ApiKeys(hasher, { maxKeysPerOwner: 0 }), 'INVALID_ARGUMENT');
  code(() => new ApiKeys(hasher, { store: 'redis://127.0.0.1:6379' }), 'INVALID_ARGUMENT');
  code(() => new ApiKeys(hasher, []), 'INVALID_ARGUMENT');
  code(() => new ApiKeys('not a hasher'), 'INVALID_ARGUMENT');
  code(() => new ApiKeys(hasher, 'options'), 'INVALID_ARGUMENT');
  code(() => new ApiKeys(hasher, null, 'clock'), 'INVALID_ARGUMENT');
  const keys = new ApiKeys(hasher, { prefix: 'acme' });
  const made = await keys.create('kai');
  assert.ok(made.key.startsWith('acme_'));
  code(() => keys.create(1.5), 'INVALID_ARGUMENT');
  code(() => keys.create({}), 'INVALID_ARGUMENT');
  code(() => keys.verify(null), 'INVALID_ARGUMENT');
  code(() => keys.create('kai', 'x', { rateLimit: { requests: 0, windowSecs: 60 } }), 'INVALID_ARGUMENT');
  await rejectsCode(keys.create(''), 'INVALID_ARGUMENT');
  await rejectsCode(keys.revokeAll(''), 'INVALID_ARGUMENT');
});
