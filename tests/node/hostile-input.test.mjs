// Hostile input across the whole native API gives typed errors, never a crash or a hang.
//
// The suite enumerates the native addon at run time: every exported function, every class's
// constructor, static functions and prototype methods. Their parameters are read from the
// generated node/index.d.ts (regenerated with the addon, so it is the binary's own surface). Each
// callable is called with valid arguments (from the tables below), then once per parameter and
// hostile value with that one argument replaced: wrong types, megabytes of text, invalid UTF-8,
// NUL bytes, lone surrogates, deep nesting, NaN, infinities, negative numbers, 2**64 and BigInts.
//
// Every outcome must be a return value or a typed error: a TypeError, or an Error with a string
// `code` (the core's UPPER_SNAKE codes, or napi's argument-conversion codes). A callable without a
// way to build its arguments or instance fails the suite, so a new function cannot go untested.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { native, SECRET } from './helpers.mjs';
import { HOSTILE as BASE_HOSTILE } from './hostile-values.mjs';

const DTS = readFileSync(fileURLToPath(new URL('../../node/index.d.ts', import.meta.url)), 'utf8');

const HOSTILE = BASE_HOSTILE;

// ---- valid arguments ------------------------------------------------------------------

const CLOCK = new native.ManualClock(1_700_000_000);
const KEY = native.Key.hmac(SECRET);
const TOKEN = native.sign(JSON.stringify({ sub: 'u', exp: 1_900_000_000 }), KEY, 'HS256');
const PEPPER = 'p3pp3r-Xq8Zr2Lk9Vm4Tn7Wb1Yc6Hd0Js5Gf3';
const JWKS = { keys: [{ kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTMy' }] };
const store = () => new native.Store(null, null, CLOCK);
const hasher = () => new native.ApiKeyHasher(PEPPER);
const breaker = () => new native.NativeCircuitBreaker({ name: 'hostile' }, CLOCK);
const limiter = () => native.rateLimiterNew('5/minute', null, store());

const INSTANCES = {
  ApiKeyHasher: hasher,
  ApiKeys: () => new native.ApiKeys(hasher(), null, CLOCK, store()),
  JwksClient: () => new native.JwksClient('http://127.0.0.1:9/jwks.json'),
  Key: () => KEY,
  KeySet: () => new native.KeySet(JWKS),
  Lockout: () => new native.Lockout(null, store(), CLOCK),
  ManualClock: () => new native.ManualClock(0),
  NativeCircuitBreaker: breaker,
  NativeSharedCache: () => new native.NativeSharedCache(store()),
  NativeSingleFlight: () => new native.NativeSingleFlight(),
  NativeTokenService: () => new native.NativeTokenService(KEY, store(), null, CLOCK),
  Store: store,
  Verifier: () => new native.Verifier(KEY, { algorithms: ['HS256'] }, CLOCK),
  RequestKey: () => new native.RequestKey(['ip', 'user', 'route', null]),
};

// Valid values of required parameters, by name (then by callable where a name means two things).
const BY_NAME = {
  pepper: () => PEPPER,
  hasher,
  key: () => 'k',
  digest: () => hasher().generate().digest,
  owner: () => 'o',
  id: () => 'bst_0000',
  url: () => 'http://127.0.0.1:9/jwks.json',
  token: () => TOKEN,
  options: () => ({ algorithms: ['HS256'] }),
  secret: () => SECRET,
  pem: () => '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n',
  der: () => Buffer.from([0x30, 0x00]),
  jwk: () => JWKS.keys[0],
  line: () => 'ssh-ed25519 AAAA',
  material: () => SECRET,
  kid: () => 'kid',
  algorithm: () => 'HS256',
  message: () => Buffer.from('m'),
  signature: () => Buffer.alloc(32),
  jwks: () => JWKS,
  attempt: () => ({ username: 'u' }),
  password: () => 'pw',
  encoded: () => 'pbkdf2_sha256$1000$abcdefghijklmnopqrstuv$' + 'A'.repeat(43) + '=',
  budgetKib: () => 1_048_576,
  storedHash: () => null,
  secs: () => 1,
  id_: () => 0,
  outcome: () => 0,
  calls: () => 1,
  successes: () => 1,
  generation: () => 0,
  fill: () => 0,
  value: () => null,
  errorName: () => 'Error',
  timeoutMs: () => 10,
  slot: () => 0,
  subject: () => 'u',
  refresh: () => 'not-a-refresh-token',
  family: () => 'f',
  signingKey: () => SECRET,
  secretKey: () => SECRET.split('').reverse().join(''),
  production: () => false,
  peer: () => '10.0.0.1',
  facts: () => ({ client: '10.0.0.1', user: 'u', method: 'GET', route: '/x', values: ['v'] }),
  spec: () => 'read',
  header: () => 'Bearer abc',
  schemes: () => ['Bearer'],
  held: () => 'read admin',
  roles: () => ['admin'],
  status: () => 429,
  detail: () => 'too many requests',
  code: () => 'RATE_LIMITED',
  headers: () => [['X-Forwarded-For', '1.2.3.4']],
  text: () => '5m',
  limiter,
  verb: () => 0,
  out: () => new Float64Array(64),
  snapshot: () => [],
  rates: () => '5/minute',
  size: () => 16,
  payload: () => '{"sub":"u"}',
  cost: () => 1,
};
const BY_CALLABLE = {
  'NativeTokenService.constructor:key': () => KEY,
  'Verifier.constructor:key': () => KEY,
  'sign:key': () => KEY,
  'signAsync:key': () => KEY,
  'verify:key': () => KEY,
  'verifyAsync:key': () => KEY,
  'verifyJws:key': () => KEY,
  'NativeSingleFlight.complete:token': () => 0,
  'NativeSingleFlight.abandon:token': () => 0,
  'NativeSingleFlight.wait:token': () => 0,
  'ApiKeyHasher.verify:key': () => 'bst_x',
  'ApiKeyHasher.hash:key': () => 'bst_x',
  'ApiKeys.verify:key': () => 'bst_x',
  'apiKeyId:key': () => 'bst_x',
  'rateLimitHeaders:snapshot': () => native.rateLimiterRunSync(limiter(), 0, 'k', 1, new Float64Array(64)) && [],
};

// Callables not driven with hostile arguments, and why.
const EXEMPT = {
  'NativeSingleFlight.wait': 'a follower waits for its leader by design',
  'JwksClient.getKeyCallback': 'added by lib/jwks.js (JavaScript): returns a callback, takes no argument',
  'password.setMemoryBudgetKib': 'process-wide setting: driven alone below, restored after',
  addEventListener: 'a process-wide listener stays registered: driven alone below',
};

// ---- the surface ----------------------------------------------------------------------

/** Splits a parameter list at top-level commas. */
function splitParams(text) {
  const out = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if ('(<[{'.includes(ch)) depth += 1;
    if (')>]}'.includes(ch)) depth -= 1;
    if (ch === ',' && depth === 0) {
      out.push(cur.trim());
      cur = '';
    } else cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out.map((p) => {
    const m = /^(\w+)(\??):/.exec(p);
    return { name: m[1], optional: m[2] === '?' || /\|\s*(null|undefined)\b/.test(p) };
  });
}

/** name -> parameters, for functions, `Class.constructor`, `Class.static`, `Class.method`. */
function signatures() {
  const sigs = new Map();
  let cls = null;
  for (const line of DTS.split('\n')) {
    let m = /^export declare class (\w+)/.exec(line);
    if (m) {
      cls = m[1];
      CLASSES.add(cls);
      continue;
    }
    m = /^export declare namespace (\w+)/.exec(line);
    if (m) {
      cls = m[1];
      NAMESPACES.add(cls);
      continue;
    }
    if (line.startsWith('}')) cls = null;
    m = /^export declare function (\w+)\((.*)\):/.exec(line);
    if (m) sigs.set(m[1], splitParams(m[2]));
    m = /^ {2}(?:static |export function )?(\w+)\((.*)\)/.exec(line);
    if (m && cls) sigs.set(`${cls}.${m[1]}`, splitParams(m[2]));
  }
  return sigs;
}
const CLASSES = new Set();
const NAMESPACES = new Set();
const SIGS = signatures();

function publicCallables() {
  const names = [];
  for (const [name, obj] of Object.entries(native)) {
    if (NAMESPACES.has(name)) {
      for (const [f, fn] of Object.entries(obj)) if (typeof fn === 'function') names.push(`${name}.${f}`);
      continue;
    }
    if (typeof obj !== 'function' || name.startsWith('_')) continue;
    if (!CLASSES.has(name)) {
      names.push(name);
      continue;
    }
    if (SIGS.has(`${name}.constructor`)) names.push(`${name}.constructor`);
    for (const m of Object.getOwnPropertyNames(obj)) {
      if (!['length', 'name', 'prototype'].includes(m) && typeof obj[m] === 'function') names.push(`${name}.${m}`);
    }
    for (const m of Object.getOwnPropertyNames(obj.prototype ?? {})) {
      const d = Object.getOwnPropertyDescriptor(obj.prototype, m);
      if (m !== 'constructor' && typeof d.value === 'function') names.push(`${name}.${m}`);
    }
  }
  return names.filter((n) => !(n in EXEMPT)).sort();
}

const CASES = publicCallables();

function valid(name, param) {
  const k = `${name}:${param}`;
  if (k in BY_CALLABLE) return BY_CALLABLE[k]();
  return BY_NAME[param]();
}

function call(name, replace) {
  const [owner, method] = name.split('.');
  const params = SIGS.get(name);
  const args = params.map((p) => (p.optional ? undefined : valid(name, p.name)));
  if (replace) args[replace[0]] = replace[1];
  while (args.length && args[args.length - 1] === undefined && !replace) args.pop();
  if (!method) return native[owner](...args);
  if (NAMESPACES.has(owner)) return native[owner][method](...args);
  if (method === 'constructor') return new native[owner](...args);
  if (typeof native[owner][method] === 'function' && !(method in native[owner].prototype)) {
    return native[owner][method](...args);
  }
  return INSTANCES[owner]()[method](...args);
}

function assertTyped(err, label) {
  assert.ok(err instanceof Error, `${label}: threw a non-Error ${String(err)}`);
  const ok = err instanceof TypeError || err instanceof RangeError || (typeof err.code === 'string' && err.code !== '');
  assert.ok(ok, `${label}: untyped ${err.name} (code ${err.code}): ${String(err.message).slice(0, 200)}`);
  assert.ok(!/panicked/i.test(err.message), `${label}: a Rust panic: ${err.message.slice(0, 200)}`);
  assert.ok(err.message.length < 4096, `${label}: a ${err.message.length}-character message`);
}

async function outcome(fn, label) {
  try {
    const r = fn();
    if (r && typeof r.then === 'function') await r;
  } catch (err) {
    assertTyped(err, label);
  }
}

// ---- tests ----------------------------------------------------------------------------

test('every public native callable has a case', () => {
  const missing = [];
  for (const name of CASES) {
    const [owner, method] = name.split('.');
    if (!SIGS.has(name)) {
      missing.push(`${name}: not in index.d.ts`);
      continue;
    }
    const isStatic =
      NAMESPACES.has(owner) || (method && method !== 'constructor' && !(method in native[owner].prototype));
    if (method && method !== 'constructor' && !isStatic && !(owner in INSTANCES)) {
      missing.push(`${name}: no INSTANCES factory for ${owner}`);
    }
    for (const p of SIGS.get(name)) {
      if (!p.optional && !(`${name}:${p.name}` in BY_CALLABLE) && !(p.name in BY_NAME)) {
        missing.push(`${name}: no valid value for ${p.name}`);
      }
    }
  }
  assert.deepEqual(missing, [], 'public callables without a hostile-input case');
  assert.ok(CASES.length > 80, `${CASES.length} callables`);
});

test('valid arguments are accepted or refused with a typed error', { timeout: 60_000 }, async () => {
  for (const name of CASES) await outcome(() => call(name), name);
});

test('hostile arguments give typed errors', { timeout: 600_000 }, async () => {
  const pending = [];
  let n = 0;
  for (const name of CASES) {
    SIGS.get(name).forEach((p, i) => {
      for (const [label, value] of Object.entries(HOSTILE)) {
        n += 1;
        pending.push([`${name}(${p.name}=${label})`, () => call(name, [i, value])]);
      }
    });
  }
  const failures = [];
  for (const [label, fn] of pending) {
    try {
      await outcome(fn, label);
    } catch (err) {
      failures.push(err.message.split('\n')[0]);
    }
  }
  assert.deepEqual(failures, [], `${failures.length} of ${n} hostile calls`);
  assert.ok(n > 1000, `${n} hostile calls`);
});

test('the memory budget setting refuses hostile values typed', async () => {
  const { password } = native;
  const before = password.setMemoryBudgetKib(password.memoryBudget().budgetKib);
  try {
    for (const [label, value] of Object.entries(HOSTILE)) {
      await outcome(() => password.setMemoryBudgetKib(value), `setMemoryBudgetKib(${label})`);
    }
  } finally {
    password.setMemoryBudgetKib(before);
  }
});

test('a process-wide event listener refuses hostile values typed', async () => {
  // A hostile listener or severity is refused before anything is registered; a valid pair
  // registers for the rest of the process, so only errors are asked for.
  for (const [label, value] of Object.entries(HOSTILE)) {
    await outcome(() => native.addEventListener(value, 'error'), `addEventListener(${label}, 'error')`);
    await outcome(() => native.addEventListener(() => {}, value), `addEventListener(fn, ${label})`);
  }
});
