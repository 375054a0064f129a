// Hostile and mistaken input: wrong types, invalid UTF-8, huge strings. Every
// failure is an Error with one of the core's codes; nothing crashes, hangs or
// leaks a secret into a message.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { bastion, native, NOW, SECRET, throwsCode, rejectsCode } from './helpers.mjs';

const { Key, ManualClock, Verifier } = native;
const CODES = new Set([
  'INVALID_ARGUMENT', 'INVALID_KEY', 'MALFORMED_TOKEN', 'INVALID_ALGORITHM', 'INVALID_SIGNATURE',
  'TOKEN_EXPIRED', 'TOKEN_NOT_YET_VALID', 'INVALID_ISSUED_AT', 'INVALID_AUDIENCE', 'INVALID_ISSUER',
  'INVALID_SUBJECT', 'INVALID_JTI', 'INVALID_TOKEN_TYPE', 'MISSING_CLAIM', 'INVALID_HASH', 'INTERNAL',
]);

const WRONG = [undefined, null, 0, 1.5, NaN, true, Symbol('s'), 10n, {}, [], () => 1, new Date(0), new Map(), /re/];
const MB10 = 'a'.repeat(10 * 1024 * 1024);
const INVALID_UTF8 = Buffer.from([0xff, 0xfe, 0xc3, 0x28, 0xa0, 0xa1, 0xe2, 0x28, 0xa1, 0xf0, 0x90, 0x28, 0xbc]);

/** Calls `fn`; it may succeed, but any error must be a coded Error. */
function codedOrOk(fn, label) {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof Error, `${label}: threw a non-Error ${String(err)}`);
    assert.ok(CODES.has(err.code), `${label}: code ${err.code} (${err.message})`);
  }
}

const token = native.sign(JSON.stringify({ sub: 'x', exp: NOW + 60 }), SECRET);

describe('wrong argument types give INVALID_ARGUMENT', () => {
  test('native token functions', () => {
    for (const v of WRONG) {
      const label = typeof v === 'symbol' ? 'symbol' : String(v);
      if (typeof v !== 'string') {
        throwsCode(() => native.verify(v, SECRET), 'INVALID_ARGUMENT', {});
        throwsCode(() => native.sign(v, SECRET), 'INVALID_ARGUMENT');
        throwsCode(() => native.decode(v), 'INVALID_ARGUMENT');
        throwsCode(() => native.decodeHeader(v), 'INVALID_ARGUMENT');
        throwsCode(() => native.verifyJws(v, SECRET), 'INVALID_ARGUMENT');
      }
      if (!(v instanceof Object) || Array.isArray(v) || typeof v === 'function' || v instanceof Date || v instanceof Map || v instanceof RegExp) {
        throwsCode(() => native.verify(token, v), 'INVALID_ARGUMENT');
        throwsCode(() => native.sign('{}', v), 'INVALID_ARGUMENT');
      }
      if (v !== undefined && v !== null) {
        if (!Array.isArray(v)) throwsCode(() => native.verify(token, SECRET, v), 'INVALID_ARGUMENT');
        if (typeof v !== 'number') throwsCode(() => native.verify(token, SECRET, undefined, v), 'INVALID_ARGUMENT');
        if (typeof v !== 'number') throwsCode(() => native.verify(token, SECRET, undefined, NOW, v), 'INVALID_ARGUMENT');
        if (!Array.isArray(v)) throwsCode(() => native.verify(token, SECRET, undefined, NOW, 0, v), 'INVALID_ARGUMENT');
        if (typeof v !== 'boolean') throwsCode(() => native.verify(token, SECRET, undefined, NOW, 0, [], undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, v), 'INVALID_ARGUMENT');
        if (typeof v !== 'string') throwsCode(() => native.sign('{}', SECRET, v), 'INVALID_ARGUMENT');
        if (typeof v !== 'string') throwsCode(() => native.sign('{}', SECRET, 'HS256', v), 'INVALID_ARGUMENT');
        if (!(v instanceof Object) || typeof v === 'function') assert.ok(label);
      }
      codedOrOk(() => native.verify(token, SECRET, [v]), `algorithms [${label}]`);
    }
    throwsCode(() => native.verify(token, SECRET, ['HS256', 5]), 'INVALID_ARGUMENT');
    throwsCode(() => native.verify(token, SECRET, undefined, NOW, -1), 'INVALID_ARGUMENT');
    throwsCode(() => native.verify(token, SECRET, undefined, NOW, NaN), 'INVALID_ARGUMENT');
    throwsCode(() => native.verify(token, SECRET, undefined, NOW, 0, [], undefined, undefined, undefined, undefined, undefined, undefined, -5), 'INVALID_ARGUMENT');
    throwsCode(() => native.sign('{}', SECRET, 'HS256', '[1]'), 'INVALID_ARGUMENT');
    throwsCode(() => native.sign('{}', SECRET, 'HS256', '{"typ":5}'), 'INVALID_ARGUMENT');
    throwsCode(() => native.sign('{}', SECRET, 'HS256', '{"crit":["x"],"x":1}'), 'INVALID_ARGUMENT');
    throwsCode(() => native.sign('{}', SECRET, 'HS256', '{"alg":"HS512"}'), 'INVALID_ARGUMENT');
    throwsCode(() => native.sign('not json', SECRET), 'INVALID_ARGUMENT');
    throwsCode(() => native.sign('[]', SECRET), 'INVALID_ARGUMENT');
  });

  test('Key factories, ManualClock, Verifier', () => {
    for (const v of WRONG) {
      if (v instanceof Object && !(typeof v === 'function')) continue;
      throwsCode(() => Key.hmac(v), 'INVALID_ARGUMENT');
      throwsCode(() => Key.fromPem(v), 'INVALID_ARGUMENT');
      throwsCode(() => Key.fromDer(v), 'INVALID_ARGUMENT');
      throwsCode(() => Key.fromSsh(v), 'INVALID_ARGUMENT');
      throwsCode(() => Key.fromMaterial(v), 'INVALID_ARGUMENT');
      throwsCode(() => Key.fromJwk(v), 'INVALID_ARGUMENT');
    }
    throwsCode(() => Key.fromDer('text'), 'INVALID_ARGUMENT');
    throwsCode(() => Key.fromJwk({ get kty() { throw new Error('boom'); } }), 'INVALID_ARGUMENT');
    const circular = { kty: 'oct' };
    circular.self = circular;
    throwsCode(() => Key.fromJwk(circular), 'INVALID_ARGUMENT');
    throwsCode(() => Key.fromMaterial(SECRET, 'HS256'), 'INVALID_ARGUMENT');
    throwsCode(() => Key.hmac(SECRET).sign(5, Buffer.from('x')), 'INVALID_ARGUMENT');
    throwsCode(() => Key.hmac(SECRET).sign('HS256', 'not a buffer'), 'INVALID_ARGUMENT');
    throwsCode(() => Key.hmac(SECRET).verify('HS256', Buffer.from('x'), null), 'INVALID_ARGUMENT');
    throwsCode(() => new Verifier(SECRET, 'options'), 'INVALID_ARGUMENT');
    throwsCode(() => new Verifier(SECRET, { leeway: 'soon' }), 'INVALID_ARGUMENT');
    throwsCode(() => new Verifier(SECRET).verify(5), 'INVALID_ARGUMENT');
    throwsCode(() => new ManualClock('x'), 'INVALID_ARGUMENT');
    throwsCode(() => new ManualClock(NOW).advance(), 'INVALID_ARGUMENT');
    throwsCode(() => new ManualClock(NOW).set({}), 'INVALID_ARGUMENT');
    throwsCode(() => native.password.hashSync('x', 'argon2id'), 'INVALID_ARGUMENT');
    throwsCode(() => native.password.needsRehash('$2b$04$' + 'a'.repeat(53), 5), 'INVALID_ARGUMENT');
  });

  test('the jsonwebtoken layer', async () => {
    for (const v of WRONG) {
      if (typeof v === 'string' || v === undefined || v === null) continue;
      codedOrOk(() => bastion.verify(v, SECRET), `verify(${typeof v})`);
      codedOrOk(() => bastion.verify(token, v), `verify key ${typeof v}`);
      codedOrOk(() => bastion.sign({}, v), `sign key ${typeof v}`);
      codedOrOk(() => bastion.sign(v, SECRET), `sign payload ${typeof v}`);
      codedOrOk(() => bastion.verify(token, SECRET, { algorithms: v }), `algorithms ${typeof v}`);
      codedOrOk(() => bastion.verify(token, SECRET, { audience: v }), `audience ${typeof v}`);
      codedOrOk(() => bastion.verify(token, SECRET, { clockTolerance: v }), `clockTolerance ${typeof v}`);
      codedOrOk(() => bastion.verify(token, SECRET, { maxAge: v }), `maxAge ${typeof v}`);
      codedOrOk(() => bastion.sign({}, SECRET, { header: v }), `header ${typeof v}`);
      assert.equal(bastion.decode(v), null);
    }
    throwsCode(() => bastion.sign({ big: 10n }, SECRET), 'INVALID_ARGUMENT');
    await rejectsCode(bastion.verifyAsync(5, SECRET), 'INVALID_ARGUMENT');
    await rejectsCode(bastion.signAsync({}, 5), 'INVALID_ARGUMENT');
    throwsCode(() => native.verifyAsync(token, SECRET, 'HS256'), 'INVALID_ARGUMENT');
  }, { timeout: 60_000 });

  test('async twins reject with codes (argument errors throw synchronously)', async () => {
    await rejectsCode(Promise.resolve().then(() => native.signAsync('{}', 'short')), 'INVALID_KEY');
    await rejectsCode(Promise.resolve().then(() => native.verifyAsync('a.b.c', SECRET)), 'MALFORMED_TOKEN');
    const e = await rejectsCode(Promise.resolve().then(() => native.verifyAsync(token, SECRET, undefined, NOW + 120)), 'TOKEN_EXPIRED');
    assert.equal(e.at, NOW + 60);
    const signal = new AbortController().signal;
    // algorithms, clock, then the 17 remaining positional options (through nonce).
    const args = [undefined, NOW, ...Array(17).fill(undefined)];
    assert.equal(await native.verifyAsync(token, SECRET, ...args, signal), JSON.stringify({ sub: 'x', exp: NOW + 60 }));
    await rejectsCode(Promise.resolve().then(() => native.verifyAsync(token, SECRET, ...args, 'signal')), 'INVALID_ARGUMENT');
  });
});

describe('invalid UTF-8 and odd bytes', () => {
  test('keys and tokens', () => {
    codedOrOk(() => Key.fromPem(INVALID_UTF8), 'fromPem');
    throwsCode(() => Key.fromPem(INVALID_UTF8), 'INVALID_KEY');
    throwsCode(() => Key.fromSsh(INVALID_UTF8), 'INVALID_KEY');
    throwsCode(() => Key.fromDer(INVALID_UTF8), 'INVALID_KEY');
    // Arbitrary bytes are a fine HMAC secret (a weak one here: too short).
    const k = Key.hmac(INVALID_UTF8);
    throwsCode(() => native.sign('{}', k), 'INVALID_KEY');
    assert.ok(native.sign('{}', k, 'HS256', undefined, undefined, true));
    const strong = Buffer.concat([INVALID_UTF8, Buffer.from(SECRET)]);
    const t = native.sign(JSON.stringify({ exp: NOW + 1 }), strong);
    assert.equal(native.verify(t, strong, undefined, NOW), JSON.stringify({ exp: NOW + 1 }));
    assert.equal(bastion.verify(t, strong, { clockTimestamp: NOW }).exp, NOW + 1);
    // A payload segment that is not UTF-8 is a malformed token.
    const head = Buffer.from('{"alg":"HS256"}').toString('base64url');
    const body = INVALID_UTF8.toString('base64url');
    const sig = Key.hmac(SECRET).sign('HS256', Buffer.from(`${head}.${body}`)).toString('base64url');
    throwsCode(() => native.verify(`${head}.${body}.${sig}`, SECRET, undefined, NOW, 0, []), 'MALFORMED_TOKEN');
    // Lone surrogates in JS strings become U+FFFD, never a crash.
    codedOrOk(() => native.verify('\ud800.\udc00.x', SECRET), 'surrogates');
    codedOrOk(() => Key.hmac('\ud800'.repeat(40)), 'surrogate secret');
    assert.ok(native.sign('{"s":"\ud800"}', SECRET));
  });
});

describe('10 MB inputs', () => {
  test('tokens are refused by size before anything else', () => {
    throwsCode(() => native.verify(MB10, SECRET), 'MALFORMED_TOKEN');
    throwsCode(() => native.decode(MB10), 'MALFORMED_TOKEN');
    throwsCode(() => bastion.verify(MB10, SECRET), 'MALFORMED_TOKEN');
    assert.equal(bastion.decode(MB10), null);
    const dots = 'a.'.repeat(5 * 1024 * 1024);
    throwsCode(() => native.verify(dots, SECRET), 'MALFORMED_TOKEN');
    // Raising the bound is explicit; the token is still refused, for its structure.
    throwsCode(() => native.verify(MB10, SECRET, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, undefined, 20 * 1024 * 1024), 'MALFORMED_TOKEN');
  });

  test('keys, payloads, headers', () => {
    throwsCode(() => Key.fromPem(MB10), 'INVALID_KEY');
    throwsCode(() => Key.fromJwk(MB10), 'INVALID_KEY');
    throwsCode(() => Key.fromSsh(MB10), 'INVALID_KEY');
    throwsCode(() => Key.hmac(`-----BEGIN PUBLIC KEY-----${MB10}`), 'INVALID_KEY');
    // A 10 MB secret is a valid (if odd) HMAC key; a 10 MB payload signs.
    const big = native.sign(`{"data":"${MB10}"}`, SECRET);
    assert.ok(big.length > 10 * 1024 * 1024);
    throwsCode(() => native.verify(big, SECRET), 'MALFORMED_TOKEN');
    throwsCode(() => native.sign('{}', SECRET, 'HS256', `{"x":"${MB10}"`), 'INVALID_ARGUMENT');
    throwsCode(() => native.sign('[' .repeat(100_000), SECRET), 'INVALID_ARGUMENT');
  });

  test('passwords', () => {
    throwsCode(() => native.password.verifySync(MB10, 'x'), 'INVALID_HASH');
    throwsCode(() => native.password.needsRehash(MB10), 'INVALID_HASH');
    throwsCode(() => native.password.hashSync(MB10, { algorithm: 'bcrypt', rounds: 4 }), 'INVALID_ARGUMENT');
    const h = native.password.hashSync(MB10, { algorithm: 'argon2id', memoryCost: 64, timeCost: 1, parallelism: 1 });
    assert.equal(native.password.verifySync(h, MB10), true);
  });
});

test('messages never contain the secret or the password', () => {
  const secret = 'my-very-private-but-short';
  for (const fn of [
    () => native.sign('{}', secret),
    () => Key.hmac(secret).sign('HS256', Buffer.from('x')),
    () => bastion.sign({}, secret),
    () => bastion.verify(native.sign('{}', secret, 'HS256', undefined, undefined, true), secret),
  ]) {
    const e = throwsCode(fn, 'INVALID_KEY');
    assert.ok(!e.message.includes(secret), e.message);
    assert.ok(!String(e.stack).includes(secret));
  }
  const e = throwsCode(() => native.password.verifySync('$argon2id$v=19$m=8,t=1,p=1$not-a-hash-for-hunter2', 'hunter2'), 'INVALID_HASH');
  assert.ok(!e.message.includes('hunter2'));
});
