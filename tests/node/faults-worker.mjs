// A Node app process for the fault tests (tests/python/test_faults.py): it
// drives a rate limiter, a lockout, token verification, a shared circuit
// breaker and a shared cache against one Redis (or Redis Cluster) until a line
// arrives on its stdin, then prints one JSON report.
//
//     node faults-worker.mjs URL PREFIX TIMEOUT_SECONDS
//
// It prints `ready` once its tokens are issued. The report has the shape of
// tests/python/faults_worker.py's: per operation the calls, their outcomes
// (`ok`, `fallback:<policy>`, `unavailable`, `open`) and the slowest; every
// moment the process saw Redis missing (`degraded`, seconds since the epoch);
// the calls that failed any other way (`unexpected`); and the event loop's lag
// (a 5 ms timer's worst lateness).

import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const { CircuitBreaker, Key, Lockout, RateLimiter, SharedCache, Store, TokenService } = require(
  process.env.BASTION_NODE ?? path.join(here, '..', '..', 'node'),
);

const TICK_MS = 5;
// How long a cache caller waits for another computation's lease (see test_faults.CALL_BOUNDS).
const CACHE_WAIT = 0.5;
const [url, prefix, timeout] = process.argv.slice(2);

const report = {
  lang: 'node',
  pid: process.pid,
  calls: {},
  outcomes: {},
  max_latency: {},
  slowest_at: {},
  degraded: [],
  unexpected: [],
  unexpected_count: 0,
  max_lag: 0,
  lag_samples: 0,
};

function onEvent(event) {
  if (event.event === 'store_unavailable') report.degraded.push(Date.now() / 1000);
}

function record(op, outcome, started, latency) {
  report.calls[op] = (report.calls[op] ?? 0) + 1;
  const counts = (report.outcomes[op] ??= {});
  counts[outcome] = (counts[outcome] ?? 0) + 1;
  if (latency > (report.max_latency[op] ?? -1)) {
    report.max_latency[op] = latency;
    report.slowest_at[op] = started;
  }
  if (outcome !== 'ok') report.degraded.push(started);
}

const tag = `node${process.pid}`;
const store = new Store(url, { timeoutMs: Math.round(Number(timeout) * 1000), prefix });
const limiter = new RateLimiter('10000/hour', { store, name: `faults-${tag}`, onEvent });
const lockout = new Lockout({ store, failureLimit: 1000, cooloff: 60, name: `faults-${tag}`, onEvent });
const tokens = new TokenService(Key.hmac(Buffer.from('9f1c2b7e4a5d6c8f0e1b3a2d4c6e8f7a1b2c3d4e5f60718293a4b5c6d7e8f901', 'hex')), { store, onEvent });
const breaker = new CircuitBreaker(async () => 'up', { name: `faults-${tag}`, store, failMax: 1000 });
breaker.on('stateChange', onEvent); // every event of the native breaker, store_unavailable included
const cache = new SharedCache(store, { namespace: `faults-${tag}`, ttl: 0.2, staleIfError: 60, waitTimeout: CACHE_WAIT, onEvent });
const pair = await tokens.issuePair(`user-${tag}`);

const ops = {
  ratelimit: async () => {
    const d = await limiter.check('client');
    return d.fallback == null ? 'ok' : `fallback:${d.fallback}`;
  },
  lockout: async () => {
    await lockout.recordFailure({ username: 'alice', ipAddress: '10.0.0.1' });
    return 'ok';
  },
  verify: async () => {
    const claims = await tokens.verify(pair.access);
    return claims.sub === `user-${tag}` ? 'ok' : 'wrong-claims';
  },
  breaker: async () => ((await breaker.fire()) === 'up' ? 'ok' : 'wrong-value'),
  cache: async () => ((await cache.get('answer', async () => 42)) === 42 ? 'ok' : 'wrong-value'),
};

let stopping = false;

async function drive(op) {
  while (!stopping) {
    const started = Date.now() / 1000;
    const t0 = performance.now();
    let outcome;
    try {
      outcome = await ops[op]();
    } catch (err) {
      if (err?.code === 'STORE_UNAVAILABLE') outcome = 'unavailable';
      else if (err?.code === 'CIRCUIT_OPEN' || err?.code === 'EOPENBREAKER') outcome = 'open';
      else {
        outcome = 'unexpected';
        report.unexpected_count += 1;
        if (report.unexpected.length < 20) report.unexpected.push(`${started.toFixed(3)} ${op}: ${err?.code} ${err?.message}`);
      }
    }
    record(op, outcome, started, (performance.now() - t0) / 1000);
    await new Promise((r) => setTimeout(r, 2));
  }
}

let last = performance.now();
const ticker = setInterval(() => {
  const now = performance.now();
  report.max_lag = Math.max(report.max_lag, (now - last - TICK_MS) / 1000);
  report.lag_samples += 1;
  last = now;
}, TICK_MS);

const drivers = Object.keys(ops).map(drive);
process.stdout.write('ready\n');
process.stdin.once('data', async () => {
  stopping = true;
  await Promise.all(drivers);
  clearInterval(ticker);
  // Exit once the report is flushed: a pipe takes 64 KiB at a time, and exiting with more
  // pending would cut the report (the long runs of `make scale` write more than that).
  process.stdout.write(`${JSON.stringify(report)}\n`, () => process.exit(0));
});
