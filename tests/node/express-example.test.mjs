// examples/express_app/server.js as a user runs it (`node examples/express_app/server.js`, port
// from PORT), driven over HTTP on the memory store and on Redis (BASTION_REDIS_URL): login and
// tokens, refresh rotation with reuse detection, a burst answered 429 with Retry-After, a lockout,
// a failing upstream tripping the breaker, and 50 concurrent identical requests making one
// upstream call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { sharedRedisOrSkip } from './redis-harness.mjs';
import { assertProblem, burst, get, statuses } from './express-helpers.mjs';

const SERVER = fileURLToPath(new URL('../../examples/express_app/server.js', import.meta.url));

/** The upstream the example calls: `/identify/:n`, failing while `state.failing`, slow by `state.holdMs`. */
async function startUpstream(t) {
  const state = { calls: 0, failing: false, holdMs: 0 };
  const server = createServer((req, res) => {
    state.calls++;
    setTimeout(() => {
      if (state.failing) {
        res.statusCode = 500;
        return res.end('down');
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ plant: req.url.split('/').pop() }));
    }, state.holdMs);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(resolve);
  }));
  return { url: `http://127.0.0.1:${server.address().port}`, state };
}

/** Starts the example with `env`; its base URL once it listens. */
async function startExample(t, env) {
  const child = spawn(process.execPath, [SERVER], {
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => {
    err += d;
  });
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`the example exited (${code}): ${err}`)));
  });
}

const json = (body, extra = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...extra },
  body: JSON.stringify(body),
});

for (const backend of ['memory', 'redis']) {
  test(`the Express example shows every capability (${backend})`, async (t) => {
    const env = {};
    if (backend === 'redis') {
      const redis = await sharedRedisOrSkip(t);
      if (!redis) return;
      env.BASTION_REDIS_URL = redis.url;
    }
    const upstream = await startUpstream(t);
    const base = await startExample(t, { ...env, UPSTREAM_URL: upstream.url });

    const health = await get(`${base}/health`);
    assert.deepEqual(health.json, { ok: true, store: backend === 'redis' ? 'redis' : 'memory', breaker: 'closed' });

    // Login returns tokens; the access token opens /api/me.
    const login = await get(`${base}/auth/login`, json({ username: 'ada', password: 'correct horse battery staple' }));
    assert.equal(login.status, 200, login.text);
    assert.equal(login.headers.get('ratelimit-policy'), '"auth";q=10;w=60');
    const me = await get(`${base}/api/me`, { headers: { authorization: `Bearer ${login.json.access}` } });
    assert.deepEqual(me.json, { id: '1', username: 'ada' });
    assertProblem(await get(`${base}/api/me`), 401, 'NOT_AUTHENTICATED');

    // Rotation, and reuse of a rotated refresh token.
    const rotated = await get(`${base}/auth/refresh`, json({ refresh: login.json.refresh }));
    assert.equal(rotated.status, 200, rotated.text);
    assertProblem(await get(`${base}/auth/refresh`, json({ refresh: login.json.refresh })), 401, 'TOKEN_REUSED');
    assertProblem(
      await get(`${base}/api/me`, { headers: { authorization: `Bearer ${rotated.json.access}` } }),
      401,
      'TOKEN_REVOKED',
    );

    // Wrong passwords lock the username (5 failures, 15 minutes), known or not.
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await get(`${base}/auth/login`, json({ username: 'bob', password: `guess ${i}` })));
    assert.deepEqual(answers.map((r) => r.status), [401, 401, 401, 401, 429]);
    assert.equal(assertProblem(answers[4], 429, 'ACCOUNT_LOCKED').retry_after, 900);
    assert.equal(answers[4].headers.get('retry-after'), '900');

    // A burst on the auth endpoints: 10 per minute per client, then 429 with Retry-After.
    const flood = await burst(10, `${base}/auth/login`, json({ username: 'carol', password: 'x' }));
    const denied = flood.filter((r) => r.status === 429 && r.json.code === 'RATE_LIMITED');
    assert.equal(denied.length, 10 - 2, JSON.stringify(statuses(flood)));
    assert.ok(Number(denied[0].headers.get('retry-after')) > 0);

    // 50 concurrent identical requests, one upstream call.
    upstream.state.holdMs = 500;
    const same = await burst(50, `${base}/identify/42`);
    assert.deepEqual(statuses(same), { 200: 50 });
    assert.equal(upstream.state.calls, 1);
    for (const r of same) assert.deepEqual(r.json, { plant: '42' });

    // A failing upstream trips the breaker; then the answer is 503 at once, without a call.
    upstream.state.holdMs = 0;
    upstream.state.failing = true;
    for (let i = 0; i < 3; i++) assertProblem(await get(`${base}/identify/f${i}`), 502, 'UPSTREAM_FAILED');
    const calls = upstream.state.calls;
    const open = await get(`${base}/identify/f9`);
    assert.equal(assertProblem(open, 503, 'CIRCUIT_OPEN').retry_after, 60);
    assert.equal(open.headers.get('retry-after'), '60');
    assert.equal(upstream.state.calls, calls);
  });
}
