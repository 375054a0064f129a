// The Express integration through real servers on 127.0.0.1, driven with fetch:
// rate limits (exact under concurrency, headers, keys, trusted proxies, outages),
// authentication, roles, the login lockout, the breaker and the shared cache; on
// the memory store and on Redis. Time moves with a ManualClock, never by sleeping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { bastion, makeStore, NOW, SECRET, jsonwebtoken, watchEventLoop } from './helpers.mjs';
import { assertProblem, burst, express, get, serve, statuses } from './express-helpers.mjs';

const {
  rateLimit,
  authenticate,
  requireRole,
  lockout,
  upstream,
  problemHandler,
  ManualClock,
  Key,
  Lockout,
  TokenService,
  CircuitBreaker,
  SharedCache,
  Verifier,
  RateLimiter,
  password,
} = bastion;

const BACKENDS = ['memory', 'redis'];

function onBoth(name, fn) {
  for (const backend of BACKENDS) {
    test(`${name} (${backend})`, async (t) => {
      const clock = new ManualClock(NOW);
      const store = await makeStore(t, backend, clock, 'express');
      if (!store) return;
      await fn(t, { store, clock, backend });
    });
  }
}

function hs256(claims) {
  return jsonwebtoken.sign({ iat: NOW, exp: NOW + 600, ...claims }, SECRET, { algorithm: 'HS256', noTimestamp: true });
}

const ok = (req, res) => res.json({ ok: true, user: req.user?.id ?? null });

// ---- rate limits ---------------------------------------------------------------------------

onBoth('a burst of 50 concurrent requests admits exactly the limit', async (t, { store, clock }) => {
  const app = express();
  app.get('/api', rateLimit({ rate: '10/minute', store, name: 'burst' }), ok);
  const base = await serve(t, app);

  const responses = await burst(50, `${base}/api`);
  assert.deepEqual(statuses(responses), { 200: 10, 429: 40 });
  const remaining = responses
    .filter((r) => r.status === 200)
    .map((r) => Number(r.headers.get('x-ratelimit-remaining')))
    .sort((a, b) => a - b);
  assert.deepEqual(remaining, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  for (const r of responses.filter((x) => x.status === 429)) {
    const body = assertProblem(r, 429, 'RATE_LIMITED', 'Too Many Requests');
    assert.equal(body.detail, 'too many requests');
    assert.equal(body.retry_after, 60);
    assert.equal(r.headers.get('retry-after'), '60');
    assert.equal(r.headers.get('x-ratelimit-limit'), '10');
    assert.equal(r.headers.get('x-ratelimit-remaining'), '0');
  }

  clock.advance(59);
  const early = await get(`${base}/api`);
  assert.equal(early.status, 429);
  assert.equal(early.headers.get('retry-after'), '1');
  clock.advance(1);
  assert.equal((await get(`${base}/api`)).status, 200);
});

onBoth('every answer carries the rate-limit headers', async (t, { store }) => {
  const app = express();
  app.get('/api', rateLimit({ rate: { limit: 3, window: '1m' }, store, name: 'hdr' }), ok);
  const base = await serve(t, app);

  const first = await get(`${base}/api`);
  assert.equal(first.status, 200);
  const h = first.headers;
  assert.equal(h.get('x-ratelimit-limit'), '3');
  assert.equal(h.get('x-ratelimit-remaining'), '2');
  assert.equal(h.get('ratelimit-policy'), '"hdr";q=3;w=60');
  assert.equal(h.get('ratelimit'), '"hdr";r=2;t=60');
  assert.equal(h.get('x-ratelimit-limit'), '3');
  assert.equal(h.get('x-ratelimit-remaining'), '2');
  assert.equal(h.get('x-ratelimit-reset'), String(NOW + 60));
  assert.equal(h.get('retry-after'), null);
  await get(`${base}/api`);
  await get(`${base}/api`);
  const denied = await get(`${base}/api`);
  assertProblem(denied, 429, 'RATE_LIMITED');
  assert.equal(denied.headers.get('ratelimit'), '"hdr";r=0;t=60');
  assert.equal(denied.headers.get('x-ratelimit-remaining'), '0');
  assert.equal(denied.headers.get('retry-after'), '60');
});

onBoth('two limits on one request: all or nothing, the tightest one in the headers', async (t, { store }) => {
  const app = express();
  app.use(rateLimit({ rate: '100/minute', store, name: 'wide' }));
  app.get('/narrow', rateLimit({ rate: ['2/minute', '50/day'], store, name: 'narrow' }), ok);
  app.get('/wide', ok);
  const base = await serve(t, app);

  const a = await get(`${base}/narrow`);
  assert.equal(a.headers.get('x-ratelimit-limit'), '2');
  assert.equal(a.headers.get('ratelimit-policy'), '"narrow";q=2;w=60, "narrow.2";q=50;w=86400');
  const w = await get(`${base}/wide`);
  assert.equal(w.headers.get('x-ratelimit-limit'), '100');
  assert.equal(w.headers.get('x-ratelimit-remaining'), '98');
  await get(`${base}/narrow`);
  assertProblem(await get(`${base}/narrow`), 429, 'RATE_LIMITED');
});

onBoth('keys: per user, per route, global, methods and a staff exemption', async (t, { store, clock }) => {
  const app = express();
  const verifier = new Verifier(Key.hmac(SECRET), { algorithms: ['HS256'] }, clock);
  app.use(authenticate({ verifier, optional: true }));
  const perUser = rateLimit({ rate: '2/minute', key: 'user', store, name: 'user', skip: (req) => req.claims?.staff === true });
  app.get('/me', perUser, ok);
  app.get('/a/:id', rateLimit({ rate: '1/minute', key: ['ip', 'route'], store, name: 'route' }), ok);
  app.get('/b', rateLimit({ rate: '1/minute', key: ['ip', 'route'], store, name: 'route' }), ok);
  const global = rateLimit({ rate: '3/minute', key: 'global', store, name: 'global', methods: 'write' });
  app.get('/g', global, ok);
  app.post('/g', global, ok);
  const base = await serve(t, app);

  const as = (claims) => ({ headers: { authorization: `Bearer ${hs256(claims)}` } });
  assert.equal((await get(`${base}/me`, as({ sub: 'alice' }))).status, 200);
  assert.equal((await get(`${base}/me`, as({ sub: 'alice' }))).status, 200);
  assertProblem(await get(`${base}/me`, as({ sub: 'alice' })), 429, 'RATE_LIMITED');
  assert.equal((await get(`${base}/me`, as({ sub: 'bob' }))).json.user, 'bob');
  // Anonymous callers are counted by address, apart from the users.
  assert.equal((await get(`${base}/me`)).status, 200);
  // Staff are exempt: no limit, no headers.
  for (let i = 0; i < 5; i++) {
    const r = await get(`${base}/me`, as({ sub: 'carol', staff: true }));
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-ratelimit-limit'), null);
  }

  // One budget per route template: /a/1 and /a/2 share one; /b has its own.
  assert.equal((await get(`${base}/a/1`)).status, 200);
  assertProblem(await get(`${base}/a/2`), 429, 'RATE_LIMITED');
  assert.equal((await get(`${base}/b`)).status, 200);

  // Global, writes only.
  for (let i = 0; i < 3; i++) assert.equal((await get(`${base}/g`, { method: 'POST' })).status, 200);
  assertProblem(await get(`${base}/g`, { method: 'POST' }), 429, 'RATE_LIMITED');
  const read = await get(`${base}/g`);
  assert.equal(read.status, 200);
  assert.equal(read.headers.get('x-ratelimit-limit'), null);
  clock.advance(60);
  assert.equal((await get(`${base}/g`, { method: 'POST' })).status, 200);
});

onBoth('a spoofed X-Forwarded-For from an untrusted peer is ignored', async (t, { store }) => {
  const app = express();
  app.get('/untrusted', rateLimit({ rate: '2/minute', store, name: 'untrusted', trustedProxies: '10.0.0.0/8' }), ok);
  app.get('/trusted', rateLimit({ rate: '2/minute', store, name: 'trusted', trustedProxies: 'loopback' }), ok);
  const base = await serve(t, app);
  const from = (ip) => ({ headers: { 'x-forwarded-for': ip } });

  // The peer (127.0.0.1) is not a trusted proxy: every request counts against 127.0.0.1.
  assert.equal((await get(`${base}/untrusted`, from('203.0.113.1'))).status, 200);
  assert.equal((await get(`${base}/untrusted`, from('203.0.113.2'))).status, 200);
  assertProblem(await get(`${base}/untrusted`, from('203.0.113.3')), 429, 'RATE_LIMITED');
  assertProblem(await get(`${base}/untrusted`), 429, 'RATE_LIMITED');

  // Behind a trusted proxy the right-most untrusted hop is the client; a spoofed left-most
  // entry does not change it.
  assert.equal((await get(`${base}/trusted`, from('198.51.100.7'))).status, 200);
  assert.equal((await get(`${base}/trusted`, from('1.1.1.1, 198.51.100.7'))).status, 200);
  assertProblem(await get(`${base}/trusted`, from('2.2.2.2, 198.51.100.7')), 429, 'RATE_LIMITED');
  assert.equal((await get(`${base}/trusted`, from('198.51.100.8'))).status, 200);
});

test('a store that cannot answer follows the outage policy', async (t) => {
  const down = new bastion.Store('redis://127.0.0.1:1', { timeoutMs: 50 });
  const app = express();
  app.get('/closed', rateLimit({ rate: '5/minute', store: down, name: 'c', outagePolicy: 'fail_closed' }), ok);
  app.get('/open', rateLimit({ rate: '5/minute', store: down, name: 'o', outagePolicy: 'fail_open' }), ok);
  app.get('/local', rateLimit({ rate: '1/minute', store: down, name: 'l' }), ok);
  const base = await serve(t, app);

  const closed = await get(`${base}/closed`);
  const body = assertProblem(closed, 429, 'RATE_LIMITED');
  assert.equal(body.retry_after, 1);
  assert.equal(closed.headers.get('retry-after'), '1');
  assert.equal((await get(`${base}/open`)).status, 200);
  assert.equal((await get(`${base}/local`)).status, 200);
  assertProblem(await get(`${base}/local`), 429, 'RATE_LIMITED');
});

test('rate-limit options are checked when the middleware is made', () => {
  for (const bad of [
    undefined,
    {},
    { rate: 'ten per fortnight' },
    { rate: { limit: 0, window: 60 } },
    { rate: { limit: 5, window: 'soon' } },
    { rate: '5/minute', key: 'cookie' },
    { rate: '5/minute', methods: 'mutating' },
    { rate: '5/minute', trustedProxies: 'everyone' },
    { rate: '5/minute', cost: 0 },
  ]) {
    assert.throws(() => rateLimit(bad), (err) => err.code === 'INVALID_ARGUMENT', JSON.stringify(bad));
  }
});

// ---- authentication ------------------------------------------------------------------------

onBoth('authentication failures are typed 401 problems that never echo the token', async (t, { store, clock }) => {
  const tokens = new TokenService(Key.hmac(SECRET), { store, clock });
  const app = express();
  app.get('/key', authenticate({ key: SECRET, algorithms: ['HS256'], clock, cookie: 'access_token' }), ok);
  app.get('/svc', authenticate({ tokens }), ok);
  app.get('/admin', authenticate({ tokens }), requireRole('admin'), ok);
  app.get('/staff', authenticate({ key: SECRET, algorithms: ['HS256'], clock }), requireRole(['staff', 'admin'], { claim: 'scope' }), ok);
  const base = await serve(t, app);
  const bearer = (tok) => ({ headers: { authorization: `Bearer ${tok}` } });

  const good = hs256({ sub: 'u1' });
  const r = await get(`${base}/key`, bearer(good));
  assert.equal(r.status, 200);
  assert.equal(r.json.user, 'u1');
  assert.equal((await get(`${base}/key`, { headers: { cookie: `theme=dark; access_token=${good}` } })).status, 200);

  const missing = await get(`${base}/key`);
  assertProblem(missing, 401, 'NOT_AUTHENTICATED', 'Unauthorized');
  assert.equal(missing.headers.get('www-authenticate'), 'Bearer');

  const cases = [
    [{ headers: { authorization: `Basic ${good}` } }, 'MALFORMED_TOKEN'],
    [{ headers: { authorization: 'Bearer' } }, 'MALFORMED_TOKEN'],
    [bearer('not.a.token'), 'MALFORMED_TOKEN'],
    [bearer(jsonwebtoken.sign({ sub: 'u1', iat: NOW, exp: NOW + 60 }, `${SECRET}x`, { algorithm: 'HS256' })), 'INVALID_SIGNATURE'],
    [bearer(jsonwebtoken.sign({ sub: 'u1', iat: NOW, exp: NOW + 60 }, SECRET, { algorithm: 'HS512' })), 'INVALID_ALGORITHM'],
    [bearer(hs256({ sub: 'u1', exp: NOW - 1 })), 'TOKEN_EXPIRED'],
    [bearer(hs256({ sub: 'u1', nbf: NOW + 300 })), 'TOKEN_NOT_YET_VALID'],
  ];
  for (const [init, code] of cases) {
    const res = await get(`${base}/key`, init);
    const body = assertProblem(res, 401, code);
    const challenge = res.headers.get('www-authenticate');
    assert.ok(challenge.startsWith('Bearer error="invalid_token", error_description="'), challenge);
    assert.ok(!res.text.includes(good) && !res.text.includes('eyJ'), 'the body names no token');
    assert.ok(!challenge.includes('eyJ'));
    assert.ok(!body.detail.includes('u1'));
  }

  // Expiry moves with the clock.
  clock.advance(601);
  assertProblem(await get(`${base}/key`, bearer(good)), 401, 'TOKEN_EXPIRED');

  // TokenService: type and revocation are checked too.
  const pair = await tokens.issuePair('u2', { roles: ['staff'] });
  assert.equal((await get(`${base}/svc`, bearer(pair.access))).json.user, 'u2');
  assertProblem(await get(`${base}/svc`, bearer(pair.refresh)), 401, 'INVALID_TOKEN_TYPE');
  assertProblem(await get(`${base}/admin`, bearer(pair.access)), 403, 'PERMISSION_DENIED', 'Forbidden');
  const admin = await tokens.issuePair('root', { roles: ['admin'] });
  assert.equal((await get(`${base}/admin`, bearer(admin.access))).status, 200);
  await tokens.revoke(pair.access, { admin: true });
  assertProblem(await get(`${base}/svc`, bearer(pair.access)), 401, 'TOKEN_REVOKED');
  assertProblem(await get(`${base}/admin`), 401, 'NOT_AUTHENTICATED');

  // Roles from a space-separated claim.
  const now = clock.now();
  const scoped = jsonwebtoken.sign({ sub: 's', iat: now, exp: now + 60, scope: 'read staff' }, SECRET, { algorithm: 'HS256' });
  assert.equal((await get(`${base}/staff`, bearer(scoped))).status, 200);
  const plain = jsonwebtoken.sign({ sub: 's', iat: now, exp: now + 60, scope: 'read' }, SECRET, { algorithm: 'HS256' });
  assertProblem(await get(`${base}/staff`, bearer(plain)), 403, 'PERMISSION_DENIED');
});

test('authenticate needs one way to verify and an explicit algorithm list', () => {
  const verifier = new Verifier(Key.hmac(SECRET), { algorithms: ['HS256'] });
  for (const bad of [
    undefined,
    {},
    { key: SECRET },
    { key: SECRET, algorithms: [] },
    { key: SECRET, algorithms: 'HS256' },
    { key: SECRET, algorithms: ['HS256'], verifier },
    { verifier: {} },
    { verifier, cookie: 'a b' },
    { verifier, headerTypes: [] },
  ]) {
    assert.throws(() => authenticate(bad), (err) => err.code === 'INVALID_ARGUMENT', String(bad && Object.keys(bad)));
  }
  assert.throws(() => requireRole(), (err) => err.code === 'INVALID_ARGUMENT');
});

// ---- login lockout -------------------------------------------------------------------------

onBoth('failed logins lock out with Retry-After; unknown users get the same answers', async (t, { store, clock }) => {
  const users = new Map([['alice', await password.hash('correct horse battery staple', { algorithm: 'bcrypt', rounds: 4 })]]);
  const guard = lockout({
    lockout: new Lockout({ store, failureLimit: 3, cooloff: 60, name: 'express-login' }),
    trustedProxies: 'loopback',
  });
  const app = express();
  app.post('/login', express.json(), guard.check, async (req, res) => {
    const { username, password: pw } = req.body;
    const ok = await guard.login(req, pw, users.get(username) ?? null);
    if (!ok) return guard.invalidCredentials(res);
    res.json({ user: username });
  });
  app.use(problemHandler());
  const base = await serve(t, app);
  const login = (username, pw, ip = '198.51.100.1') =>
    get(`${base}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': ip },
      body: JSON.stringify({ username, password: pw }),
    });

  assert.equal((await login('alice', 'correct horse battery staple')).status, 200);
  const wrong = await login('alice', 'guess 1');
  const body = assertProblem(wrong, 401, 'INVALID_CREDENTIALS');
  assert.equal(body.detail, 'invalid username or password');
  assertProblem(await login('alice', 'guess 2'), 401, 'INVALID_CREDENTIALS');
  // The failure that reaches the limit is answered as locked.
  const third = await login('alice', 'guess 3');
  assert.equal(assertProblem(third, 429, 'ACCOUNT_LOCKED').retry_after, 60);
  assert.equal(third.headers.get('retry-after'), '60');
  // Locked: even the right password, from another address, is refused before it is checked.
  const locked = await login('alice', 'correct horse battery staple', '198.51.100.2');
  assertProblem(locked, 429, 'ACCOUNT_LOCKED');
  assert.equal(locked.headers.get('retry-after'), '60');

  // An unknown user gets exactly the answers a known one gets.
  const a = await login('mallory', 'guess 1', '198.51.100.3');
  const b = await login('mallory', 'guess 2', '198.51.100.3');
  const c = await login('mallory', 'guess 3', '198.51.100.3');
  assert.deepEqual([a.status, b.status, c.status], [401, 401, 429]);
  assert.equal(a.text, wrong.text);
  assert.equal(c.text, third.text);

  clock.advance(59);
  assert.equal((await login('alice', 'correct horse battery staple', '198.51.100.2')).headers.get('retry-after'), '1');
  clock.advance(1);
  assert.equal((await login('alice', 'correct horse battery staple', '198.51.100.2')).status, 200);
});

onBoth('the lockout answers 423 when configured, and records failures checked elsewhere', async (t, { store }) => {
  const guard = lockout({
    lockout: new Lockout({ store, failureLimit: 2, cooloff: '5m', name: 'express-423', parameters: ['username'] }),
    status: 423,
    username: (req) => req.get('x-user'),
  });
  const app = express();
  app.post('/otp', guard.check, async (req, res) => {
    if (req.get('x-code') === '000000') {
      await guard.recordSuccess(req);
      return res.json({ ok: true });
    }
    await guard.recordFailure(req);
    guard.invalidCredentials(res);
  });
  app.use(problemHandler({ lockoutStatus: 423 }));
  const base = await serve(t, app);
  const post = (user, code) => get(`${base}/otp`, { method: 'POST', headers: { 'x-user': user, 'x-code': code } });

  assertProblem(await post('dora', '1'), 401, 'INVALID_CREDENTIALS');
  const locked = await post('dora', '2');
  assert.equal(assertProblem(locked, 423, 'ACCOUNT_LOCKED', 'Locked').retry_after, 300);
  assertProblem(await post('dora', '000000'), 423, 'ACCOUNT_LOCKED');
  assert.equal((await post('erin', '000000')).status, 200);
  assert.deepEqual(
    (await guard.lockout.locked()).map((e) => e.username),
    ['dora'],
  );
});

// ---- upstream calls: breaker and cache -----------------------------------------------------

onBoth('an open breaker fast-fails with 503 and Retry-After, without calling the upstream', async (t, { store, clock, backend }) => {
  let calls = 0;
  let failing = true;
  const identify = async (id) => {
    calls++;
    if (failing) throw new Error('upstream down');
    return { id };
  };
  const breaker = new CircuitBreaker({
    name: `express-identify-${backend}-${Math.random()}`,
    failMax: 3,
    resetTimeout: 30,
    ...(backend === 'memory' ? { clock } : { store }),
  });
  const call = upstream({ breaker });
  const app = express();
  app.get('/identify/:id', async (req, res, next) => {
    try {
      res.json(await call(() => identify(req.params.id)));
    } catch (err) {
      if (err instanceof bastion.HttpProblem) return next(err);
      res.status(502).json({ error: 'bad gateway' });
    }
  });
  app.use(problemHandler());
  const base = await serve(t, app);

  for (let i = 0; i < 3; i++) assert.equal((await get(`${base}/identify/1`)).status, 502);
  assert.equal(calls, 3);
  const fast = await get(`${base}/identify/1`);
  const body = assertProblem(fast, 503, 'CIRCUIT_OPEN', 'Service Unavailable');
  assert.equal(body.retry_after, 30);
  assert.equal(fast.headers.get('retry-after'), '30');
  assert.equal(calls, 3);

  clock.advance(30);
  failing = false;
  assert.equal((await get(`${base}/identify/7`)).json.id, '7');
  assert.equal(calls, 4);
});

onBoth('50 concurrent identical requests cause one upstream call', async (t, { store, backend }) => {
  const cache = new SharedCache(store, { ttl: 60, namespace: `express-${backend}` });
  let calls = 0;
  let arrived = 0;
  let release;
  const allIn = new Promise((resolve) => {
    release = resolve;
  });
  const call = upstream({ cache });
  const app = express();
  app.get('/profile/:id', async (req, res, next) => {
    arrived++;
    if (arrived === 50) release();
    try {
      const value = await call(
        async () => {
          calls++;
          await allIn;
          return { id: req.params.id, n: calls };
        },
        { key: `profile:${req.params.id}` },
      );
      res.json(value);
    } catch (err) {
      next(err);
    }
  });
  const base = await serve(t, app);

  const responses = await burst(50, `${base}/profile/9`);
  assert.deepEqual(statuses(responses), { 200: 50 });
  assert.equal(calls, 1);
  for (const r of responses) assert.deepEqual(r.json, { id: '9', n: 1 });
});

// ---- errors raised in routes, and the framework-neutral layer -------------------------------

test('bastion errors raised in a route are answered as problems', async (t) => {
  const limiter = new RateLimiter('1/minute', { name: 'route-hit' });
  const app = express();
  app.get('/hit', async (req, res, next) => {
    try {
      await limiter.hit('k');
      res.json({ ok: true });
    } catch (err) {
      next(err);
    }
  });
  app.get('/boom', () => {
    throw new Error('not ours');
  });
  app.use(problemHandler());
  app.use((err, req, res, next) => res.status(500).json({ passed: err.message }));
  const base = await serve(t, app);

  assert.equal((await get(`${base}/hit`)).status, 200);
  const denied = await get(`${base}/hit`);
  assertProblem(denied, 429, 'RATE_LIMITED');
  assert.equal(denied.headers.get('retry-after'), '60');
  assert.deepEqual((await get(`${base}/boom`)).json, { passed: 'not ours' });
});

onBoth('the framework-neutral gate serves a plain node:http server', async (t, { store }) => {
  const { web } = bastion;
  const gate = new web.RateLimitGate({ rate: '2/minute', store, name: 'plain' });
  const auth = new web.Authenticator({ key: SECRET, algorithms: ['HS256'], clock: new ManualClock(NOW) });
  const base = await serve(t, async (req, res) => {
    const who = await auth.check(req);
    if (who.answer) return web.sendAnswer(res, who.answer);
    const out = await gate.check(req);
    if (out.answer) return web.sendAnswer(res, out.answer);
    web.setHeaders(res, out.headers);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ sub: who.claims.sub }));
  });
  const init = { headers: { authorization: `Bearer ${hs256({ sub: 'n1' })}` } };

  assertProblem(await get(`${base}/`), 401, 'NOT_AUTHENTICATED');
  const first = await get(`${base}/`, init);
  assert.deepEqual(first.json, { sub: 'n1' });
  assert.equal(first.headers.get('x-ratelimit-remaining'), '1');
  await get(`${base}/`, init);
  const denied = await get(`${base}/`, init);
  assertProblem(denied, 429, 'RATE_LIMITED');
  assert.equal(denied.headers.get('retry-after'), '60');
});

onBoth('a stale value is served while the circuit is open', async (t, { store, clock, backend }) => {
  const breaker = new CircuitBreaker({
    name: `express-stale-${backend}-${Math.random()}`,
    failMax: 1,
    resetTimeout: 600,
    ...(backend === 'memory' ? { clock } : { store }),
  });
  const cache = new SharedCache(store, { ttl: 10, staleIfError: 300, localTtl: 0, namespace: `stale-${backend}` });
  const call = upstream({ breaker, cache });
  let calls = 0;
  const app = express();
  app.get('/v/:k', async (req, res, next) => {
    try {
      res.json(await call(async () => ({ v: ++calls }), { key: req.params.k }));
    } catch (err) {
      next(err);
    }
  });
  app.use(problemHandler());
  const base = await serve(t, app);

  assert.deepEqual((await get(`${base}/v/a`)).json, { v: 1 });
  breaker.open();
  clock.advance(20);
  assert.deepEqual((await get(`${base}/v/a`)).json, { v: 1 });
  assert.equal(calls, 1);
  // Nothing cached for another key: the open circuit answers.
  assertProblem(await get(`${base}/v/b`), 503, 'CIRCUIT_OPEN');
  // Past stale-if-error, the open circuit answers too.
  clock.advance(300);
  assertProblem(await get(`${base}/v/a`), 503, 'CIRCUIT_OPEN');
  assert.equal(calls, 1);
});

test('requireUser admits verified claims only; the ESM entry exports the same middleware', async (t) => {
  const esm = await import('../../node/lib/index.mjs');
  for (const name of ['rateLimit', 'authenticate', 'requireUser', 'requireRole', 'lockout', 'upstream', 'problemHandler', 'HttpProblem', 'web']) {
    assert.equal(esm[name], bastion[name], name);
  }
  const clock = new ManualClock(NOW);
  const app = express();
  app.use(esm.authenticate({ key: SECRET, algorithms: ['HS256'], clock, optional: true }));
  app.get('/public', (req, res) => res.json({ claims: req.claims }));
  app.get('/private', esm.requireUser(), ok);
  const base = await serve(t, app);

  assert.deepEqual((await get(`${base}/public`)).json, { claims: null });
  const anon = await get(`${base}/private`);
  assertProblem(anon, 401, 'NOT_AUTHENTICATED');
  assert.equal(anon.headers.get('www-authenticate'), 'Bearer');
  // optional admits anonymous callers, never bad tokens.
  assertProblem(await get(`${base}/public`, { headers: { authorization: 'Bearer x.y.z' } }), 401, 'MALFORMED_TOKEN');
  const r = await get(`${base}/private`, { headers: { authorization: `Bearer ${hs256({ sub: 'u7' })}` } });
  assert.equal(r.json.user, 'u7');
});

test('with Redis frozen, requests are answered by the outage policies and the event loop keeps turning', async (t) => {
  const harness = await import('./redis-harness.mjs');
  const redis = await harness.redisOrSkip(t);
  if (!redis) return;
  const clock = new ManualClock(NOW);
  const store = new bastion.Store(redis.url, { timeoutMs: 300, prefix: harness.uniquePrefix('express-frozen') }, clock);
  const tokens = new TokenService(Key.hmac(SECRET), { store, clock });
  const guard = lockout({ lockout: new Lockout({ store, failureLimit: 3, name: 'frozen' }) });
  const app = express();
  app.get('/api', rateLimit({ rate: '100/minute', store, name: 'frozen-local' }), ok);
  app.get('/strict', rateLimit({ rate: '100/minute', store, name: 'frozen-closed', outagePolicy: 'fail_closed' }), ok);
  app.get('/me', authenticate({ tokens }), ok);
  app.post('/login', express.json(), guard.check, async (req, res, next) => {
    try {
      if (!(await guard.login(req, req.body.password, null))) return guard.invalidCredentials(res);
      res.json({ ok: true });
    } catch (err) {
      next(err);
    }
  });
  app.use(problemHandler());
  const base = await serve(t, app);
  const pair = await tokens.issuePair('u1');
  assert.equal((await get(`${base}/api`)).status, 200);

  redis.pause();
  try {
    const loop = watchEventLoop();
    const started = Date.now();
    const [local, strict, me, login] = await Promise.all([
      burst(20, `${base}/api`),
      get(`${base}/strict`),
      get(`${base}/me`, { headers: { authorization: `Bearer ${pair.access}` } }),
      get(`${base}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'u1', password: 'wrong' }),
      }),
    ]);
    const waited = Date.now() - started;
    const worst = await loop.stop();

    // 'local': this process's own count decides.
    assert.deepEqual(statuses(local), { 200: 20 });
    // 'fail_closed': refused, retry in a second.
    assert.equal(assertProblem(strict, 429, 'RATE_LIMITED').retry_after, 1);
    // Revocation cannot be checked: the token service fails closed.
    assert.equal(assertProblem(me, 503, 'STORE_UNAVAILABLE').retry_after, 1);
    assert.equal(me.headers.get('retry-after'), '1');
    // The lockout counts in this process meanwhile.
    assertProblem(login, 401, 'INVALID_CREDENTIALS');
    assert.ok(waited < 3000, `answered after ${waited} ms`);
    assert.ok(worst < 300, `the event loop stalled for ${worst} ms`);
  } finally {
    redis.resume();
  }
});

test('authenticate with a key set: the key by kid, the algorithms explicit', async (t) => {
  const { generateKeyPairSync } = await import('node:crypto');
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' };
  const keys = new bastion.KeySet({ keys: [jwk] });
  const now = Math.floor(Date.now() / 1000);
  const sign = (claims, kid = 'k1') =>
    jsonwebtoken.sign({ iat: now, exp: now + 60, ...claims }, privateKey, { algorithm: 'ES256', keyid: kid, noTimestamp: true });
  const app = express();
  app.get('/p', authenticate({ jwks: keys, algorithms: ['ES256'], audience: 'api' }), ok);
  const base = await serve(t, app);
  const bearer = (tok) => ({ headers: { authorization: `Bearer ${tok}` } });

  assert.equal((await get(`${base}/p`, bearer(sign({ sub: 'j1', aud: 'api' })))).json.user, 'j1');
  assertProblem(await get(`${base}/p`, bearer(sign({ sub: 'j1', aud: 'other' }))), 401, 'INVALID_AUDIENCE');
  assertProblem(await get(`${base}/p`, bearer(sign({ sub: 'j1', aud: 'api' }, 'k2'))), 401, 'KEY_NOT_FOUND');
  assert.throws(() => authenticate({ jwks: keys }), (err) => err.code === 'INVALID_ARGUMENT');
});

test("without problemHandler, Express's own handler still answers a lockout with its status and Retry-After", async (t) => {
  const guard = lockout({ lockout: new Lockout({ failureLimit: 1, cooloff: 120, name: 'bare' }), username: () => 'zed' });
  const app = express();
  app.set('env', 'test'); // Express's final handler does not print the error then
  app.post('/login', async (req, res) => {
    if (!(await guard.login(req, 'wrong', null))) guard.invalidCredentials(res);
  });
  const base = await serve(t, app);
  const r = await get(`${base}/login`, { method: 'POST' });
  assert.equal(r.status, 429);
  assert.equal(r.headers.get('retry-after'), '120');
});

test('rate-limit keys: users from claims or req.user, IPv6 grouped, long parts hashed', async () => {
  const { web } = bastion;
  const gate = new web.RateLimitGate({ rate: '1/minute', key: ['user', 'ip'], ipv6Prefix: 64 });
  const req = (extra) => ({ method: 'GET', url: '/x', headers: {}, socket: { remoteAddress: '2001:db8:1:2::5' }, ...extra });
  assert.equal(await gate.keyOf(req({ claims: { sub: 'alice' } })), 'user:alice|ip:2001:db8:1:2::/64');
  assert.equal(await gate.keyOf(req({ user: { id: 5 } })), 'user:5|ip:2001:db8:1:2::/64');
  assert.equal(await gate.keyOf(req({ user: 'bob' })), 'user:bob|ip:2001:db8:1:2::/64');
  assert.equal(await gate.keyOf(req({})), 'anon:2001:db8:1:2::/64|ip:2001:db8:1:2::/64');
  assert.equal(await gate.keyOf(req({ socket: {} })), 'anon:unknown|ip:unknown');
  const long = 'x'.repeat(300);
  assert.match(await gate.keyOf(req({ claims: { sub: long } })), /^user:sha256:[0-9a-f]{64}\|ip:/);
  const fn = new web.RateLimitGate({ rate: '1/minute', key: async (r) => r.headers['x-tenant'] });
  assert.equal(await fn.keyOf(req({ headers: { 'x-tenant': 'acme' } })), 'acme');
  await assert.rejects(fn.keyOf(req({})), (err) => err.code === 'INVALID_ARGUMENT');
});

// One limit and one lockout across languages: a Python service (bastion.fastapi's key layout:
// "ip:<client>") and this Express app, against one Redis.
const PYTHON = fileURLToPath(new URL('../../.venv/bin/python', import.meta.url));

test('a Python service and an Express app share one rate limit and one lockout through Redis', async (t) => {
  const harness = await import('./redis-harness.mjs');
  if (!fs.existsSync(PYTHON)) {
    if (harness.inCi()) assert.fail(`${PYTHON} is missing: make test builds the Python package first`);
    t.skip(`no Python environment at ${PYTHON} (make venv build-python)`);
    return;
  }
  const server = await harness.sharedRedisOrSkip(t);
  if (!server) return;
  const prefix = harness.uniquePrefix('express-xlang');
  const python = (body) => {
    const script =
      'import os, bastion\n' +
      'store = bastion.Store(os.environ["BASTION_URL"], prefix=os.environ["BASTION_PREFIX"], timeout=2.0)\n' +
      'limit = bastion.RateLimiter("5/minute", store=store, name="auth")\n' +
      'lockout = bastion.Lockout(store, failure_limit=3, cooloff="30m", parameters=[["username"]], name="login")\n' +
      body;
    const out = spawnSync(PYTHON, ['-c', script], {
      env: { ...process.env, BASTION_URL: server.url, BASTION_PREFIX: prefix },
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(out.status, 0, out.stderr);
    return out.stdout.trim();
  };
  assert.equal(
    python(
      'for _ in range(3): d = limit.check("ip:127.0.0.1")\n' +
        'for _ in range(3): s = lockout.record_failure("Xavier", "10.1.2.3")\n' +
        'print(d.remaining, s.locked)',
    ),
    '2 True',
  );

  const store = new bastion.Store(server.url, { prefix, timeoutMs: 2000 });
  const guard = lockout({ lockout: new Lockout({ store, failureLimit: 3, cooloff: '30m', parameters: [['username']], name: 'login' }) });
  const app = express();
  app.post('/auth/login', express.json(), rateLimit({ rate: '5/minute', store, name: 'auth' }), guard.check, (req, res) =>
    guard.invalidCredentials(res),
  );
  const base = await serve(t, app);
  const login = (username) =>
    get(`${base}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username }) });

  // Python's lock holds here; Python's three requests count here.
  const locked = await login('xavier');
  assertProblem(locked, 429, 'ACCOUNT_LOCKED');
  assert.equal(locked.headers.get('x-ratelimit-remaining'), '1');
  assertProblem(await login('yvonne'), 401, 'INVALID_CREDENTIALS');
  const denied = await login('yvonne');
  assertProblem(denied, 429, 'RATE_LIMITED');
  // And the other way round, with the key the Python integrations compose (the core's).
  assert.equal(
    python('key = bastion._native.RequestKey(["ip"]).key("127.0.0.1")\nprint(limit.check(key).allowed, lockout.check("xavier").locked)'),
    'False True',
  );
  // Both languages answer the refusal with the same problem: the same members and headers, in the
  // same order (the delays and the reset instant are left out: time passes between the two).
  const timeless = (body) => {
    const o = JSON.parse(body);
    delete o.retry_after;
    return JSON.stringify(o);
  };
  const fromPython = JSON.parse(
    python(
      'import json\na = limit.check("ip:127.0.0.1").problem()\n' +
        'print(json.dumps({"status": a.status, "headers": list(a.headers), "body": a.body.decode()}))',
    ),
  );
  assert.equal(fromPython.status, denied.status);
  assert.equal(timeless(fromPython.body), timeless(denied.text));
  const sent = [...denied.headers.keys()];
  for (const name of fromPython.headers) assert.ok(sent.includes(name.toLowerCase()), `${name} missing`);
});
