// The process-wide security events emitter, the Prometheus text after real
// operations, the health snapshot and the Express handlers. Metrics are per
// process: each test names its own components and reads its own series.
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { bastion, NOW, SECRET, rejectsCode, eventually } from './helpers.mjs';
import { express, serve } from './express-helpers.mjs';

const { Key, ManualClock, Store, TokenService, RateLimiter, CircuitBreaker, events, metrics, health } = bastion;

const SAMPLE = /^([a-z_]+)(\{(?:[a-z_]+="(?:[^"\\]|\\.)*",?)*\})? (\d+)$/;

/** The samples of a Prometheus text, every line checked against the format. */
function parse(text) {
  const samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = SAMPLE.exec(line);
    assert.ok(m, `not a Prometheus sample: ${line}`);
    const key = m[1] + (m[2] ?? '');
    assert.ok(!samples.has(key), `${key} twice`);
    samples.set(key, Number(m[3]));
  }
  return samples;
}

test('rate-limit denials reach the emitter and the counters move', async () => {
  const seen = [];
  events.on('rate_limited', (e) => seen.push(e));
  const clock = new ManualClock(NOW);
  const rl = new RateLimiter('2/minute', { store: new Store(null, null, clock), name: 'obs-node-rl' });
  const allowed = [];
  for (let i = 0; i < 3; i += 1) allowed.push((await rl.check('198.51.100.4')).allowed);
  assert.deepEqual(allowed, [true, true, false]);
  const samples = parse(metrics());
  assert.equal(samples.get('bastion_ratelimit_decisions_total{limiter="obs-node-rl",result="allowed"}'), 2);
  assert.equal(samples.get('bastion_ratelimit_decisions_total{limiter="obs-node-rl",result="denied"}'), 1);
  await eventually(() => seen.length === 1);
  assert.deepEqual({ ...seen[0] }, {
    event: 'rate_limited',
    category: '[RATELIMIT]',
    severity: 'warning',
    message: '[RATELIMIT] rate_limited limiter="obs-node-rl" key="198.51.100.4" rate="2/minute" retry_after="60"',
    limiter: 'obs-node-rl',
    key: '198.51.100.4',
    rate: '2/minute',
    retry_after: '60',
  });
});

test('token events carry no token and no secret; verification counters by reason', async () => {
  events.setMinSeverity('info');
  assert.equal(events.minSeverity, 'info');
  const seen = [];
  events.on('event', (e) => {
    if (Object.values(e).some((v) => v.includes('obs-node-subject')) || e.event === 'auth_failed') seen.push(e);
  });
  const clock = new ManualClock(NOW);
  const svc = new TokenService(Key.hmac(SECRET), { store: new Store(null, null, clock), clock });
  const failed = 'bastion_token_verifications_total{kind="access",result="failed",reason="invalid_signature"}';
  const before = parse(metrics()).get(failed) ?? 0;
  const pair = await svc.issuePair('obs-node-subject');
  await svc.verify(pair.access);
  const forged = pair.access.slice(0, -2) + (pair.access.endsWith('AA') ? 'BB' : 'AA');
  await rejectsCode(svc.verify(forged), 'INVALID_SIGNATURE');
  await svc.rotate(pair.refresh);
  await rejectsCode(svc.rotate(pair.refresh), 'TOKEN_REUSED');
  assert.equal(parse(metrics()).get(failed), before + 1);
  await eventually(() => seen.some((e) => e.event === 'token_reuse'));
  const names = new Set(seen.map((e) => e.event));
  for (const name of ['auth_succeeded', 'auth_failed', 'token_reuse']) assert.ok(names.has(name), name);
  const reuse = seen.find((e) => e.event === 'token_reuse');
  assert.equal(reuse.severity, 'error');
  assert.equal(reuse.category, '[SECURITY]');
  const segments = [pair.access, pair.refresh, forged].flatMap((t) => t.split('.')).filter((s) => s.length > 8);
  for (const e of seen) {
    for (const v of Object.values(e)) {
      assert.ok(!v.includes(SECRET));
      for (const s of segments) assert.ok(!v.includes(s), `${e.event} leaks a token segment`);
    }
  }
  assert.throws(() => events.setMinSeverity('debug'), { code: 'INVALID_ARGUMENT' });
});

test('breaker state in metrics and health; Express handlers', async (t) => {
  const clock = new ManualClock(NOW);
  const b = new CircuitBreaker(async () => {
    throw new Error('down');
  }, { name: 'obs-node-breaker', failMax: 1, resetTimeout: 30, clock });
  await assert.rejects(b.fire());
  let samples = parse(metrics());
  assert.equal(samples.get('bastion_breaker_state{breaker="obs-node-breaker"}'), 1);
  assert.equal(samples.get('bastion_breaker_transitions_total{breaker="obs-node-breaker",to="open"}'), 1);
  const snapshot = await health();
  assert.deepEqual(
    snapshot.breakers.filter((x) => x.name === 'obs-node-breaker').map((x) => ({ ...x })),
    [{ name: 'obs-node-breaker', state: 'open', mode: 'local' }],
  );

  const app = express();
  app.get('/metrics', bastion.metricsHandler());
  app.get('/health', bastion.healthHandler());
  const base = await serve(t, app);
  const res = await fetch(`${base}/metrics`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  samples = parse(await res.text());
  assert.equal(samples.get('bastion_breaker_state{breaker="obs-node-breaker"}'), 1);
  const h = await fetch(`${base}/health`);
  const body = await h.json();
  assert.equal(h.status, body.ok ? 200 : 503);
  assert.ok(body.breakers.some((x) => x.name === 'obs-node-breaker' && x.state === 'open'));
});

test('health reports an unreachable Redis without its password', async () => {
  const dead = new Store('redis://:hunter2-secret@127.0.0.1:1/0', { timeoutMs: 50, connectTimeoutMs: 50 });
  const snapshot = await health();
  assert.equal(snapshot.ok, false);
  const entry = snapshot.stores.find((s) => s.url.includes('127.0.0.1:1/0'));
  assert.equal(entry.reachable, false);
  assert.equal(entry.error, 'STORE_UNAVAILABLE');
  assert.ok(!JSON.stringify(snapshot).includes('hunter2'));
  assert.equal(dead.kind, 'redis');
});

test('health lists the configured stores, not the components\' outage fallbacks', () => {
  // A fresh process: its only stores are the ones made here.
  const pkg = fileURLToPath(new URL('../../node/lib/index.js', import.meta.url));
  const child = `
    const { Store, RateLimiter, Lockout, SharedCache, health, metrics } = require(${JSON.stringify(pkg)});
    const dead = new Store('redis://127.0.0.1:1/0', { timeoutMs: 50, connectTimeoutMs: 50 });
    // Each keeps an in-process fallback store for its outage policy 'local'.
    const limiter = new RateLimiter('5/minute', { store: dead, name: 'obs-fallback' });
    const lockout = new Lockout({ store: dead });
    const cache = new SharedCache(dead, { namespace: 'obsfallback' });
    const mine = new Store();
    limiter.hit('alice').then(async (d) => {
      if (!d.allowed) throw new Error('the fallback store did not decide');
      const gauges = Object.fromEntries([...metrics().matchAll(/^(bastion_[a-z_]+_keys) (\\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
      const stores = (await health()).stores.map((s) => [s.kind, s.url]);
      console.log(JSON.stringify({ stores, gauges, kept: [lockout, cache, mine].length }));
      process.exit(0);
    });
  `;
  const seen = JSON.parse(execFileSync(process.execPath, ['-e', child], { encoding: 'utf8', timeout: 60_000 }));
  assert.deepEqual(seen.stores.sort(), [
    ['memory', 'memory://'],
    ['redis', 'redis://127.0.0.1:1/0'],
  ]);
  assert.equal(seen.gauges.bastion_memory_store_keys, 0);
  assert.ok(seen.gauges.bastion_fallback_store_keys >= 1, JSON.stringify(seen.gauges));
});
