// The jsonwebtoken-compatible layer: option names, results, error classes,
// messages and codes, callbacks and Promise twins. Time comes from a
// ManualClock or a fixed clockTimestamp.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { createRequire } from 'node:module';
import { bastion, native, NOW, SECRET, throwsCode, rejectsCode } from './helpers.mjs';

const { sign, verify, decode, signAsync, verifyAsync, ManualClock } = bastion;
const { JsonWebTokenError, TokenExpiredError, NotBeforeError } = bastion;

const clock = () => new ManualClock(NOW);

/** A token over the given header and payload JSON text, HMAC-signed with SECRET. */
function raw(headerJson, payloadJson, secret = SECRET) {
  const input = `${Buffer.from(headerJson).toString('base64url')}.${Buffer.from(payloadJson).toString('base64url')}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}
const at = (secs) => ({ clockTimestamp: secs });

describe('sign', () => {
  test('HS256 by default, with iat = now and typ JWT', () => {
    const token = sign({ sub: 'u1' }, SECRET, { clock: clock() });
    const { header, payload } = decode(token, { complete: true });
    assert.deepEqual(header, { alg: 'HS256', typ: 'JWT' });
    assert.deepEqual(payload, { sub: 'u1', iat: NOW });
    assert.deepEqual(verify(token, SECRET, at(NOW)), { sub: 'u1', iat: NOW });
  });

  test('expiresIn / notBefore as seconds and as spans', () => {
    for (const [span, secs] of [[3600, 3600], ['2h', 7200], ['7d', 604800], ['30m', 1800], ['1.5 hours', 5400], ['90s', 90], ['1y', 31557600]]) {
      const p = decode(sign({}, SECRET, { clock: clock(), expiresIn: span, notBefore: span }));
      assert.equal(p.exp, NOW + secs, String(span));
      assert.equal(p.nbf, NOW + secs, String(span));
    }
    // As in jsonwebtoken (vercel/ms): a bare numeric string is milliseconds.
    assert.equal(decode(sign({}, SECRET, { clock: clock(), expiresIn: '1500' })).exp, NOW + 1);
    const bad = throwsCode(() => sign({}, SECRET, { expiresIn: '2 fortnights' }), 'INVALID_ARGUMENT');
    assert.equal(bad.message, '"expiresIn" should be a number of seconds or string representing a timespan eg: "1d", "20h", 60');
    throwsCode(() => sign({}, SECRET, { notBefore: 1.5 }), 'INVALID_ARGUMENT');
  });

  test('iat from the payload is kept and used as the base of exp', () => {
    const p = decode(sign({ iat: 1000 }, SECRET, { expiresIn: 10 }));
    assert.deepEqual(p, { iat: 1000, exp: 1010 });
    assert.equal(decode(sign({ iat: 1000 }, SECRET, { noTimestamp: true })).iat, undefined);
  });

  test('audience, issuer, subject, jwtid become claims; conflicts throw', () => {
    const p = decode(sign({}, SECRET, { clock: clock(), audience: ['a', 'b'], issuer: 'me', subject: 'u', jwtid: 'j1' }));
    assert.deepEqual(p, { iat: NOW, aud: ['a', 'b'], iss: 'me', sub: 'u', jti: 'j1' });
    const e = throwsCode(() => sign({ iss: 'x' }, SECRET, { issuer: 'me' }), 'INVALID_ARGUMENT');
    assert.equal(e.message, 'Bad "options.issuer" option. The payload already has an "iss" property.');
    const e2 = throwsCode(() => sign({ exp: 1 }, SECRET, { expiresIn: 10 }), 'INVALID_ARGUMENT');
    assert.equal(e2.message, 'Bad "options.expiresIn" option the payload already has an "exp" property.');
  });

  test('header, keyid and algorithm', () => {
    const token = sign({}, SECRET, { algorithm: 'HS512', keyid: 'k1', header: { cty: 'x', typ: 'at+jwt' } });
    assert.deepEqual(decode(token, { complete: true }).header, { alg: 'HS512', cty: 'x', kid: 'k1', typ: 'at+jwt' });
    const h = decode(sign({}, SECRET, { keyid: 'k1', header: { kid: 'k2', alg: 'HS384' } }), { complete: true }).header;
    assert.equal(h.kid, 'k2');
    assert.equal(h.alg, 'HS384');
  });

  test('mutatePayload writes the claims into the given object', () => {
    const payload = { sub: 'u' };
    sign(payload, SECRET, { clock: clock(), expiresIn: 60 });
    assert.deepEqual(payload, { sub: 'u' });
    sign(payload, SECRET, { clock: clock(), expiresIn: 60, mutatePayload: true });
    assert.deepEqual(payload, { sub: 'u', iat: NOW, exp: NOW + 60 });
  });

  test('payloads must be plain objects', () => {
    const e = throwsCode(() => sign('hello', SECRET), 'INVALID_ARGUMENT');
    assert.match(e.message, /plain object/);
    throwsCode(() => sign(Buffer.from('{}'), SECRET), 'INVALID_ARGUMENT');
    throwsCode(() => sign(new Date(), SECRET), 'INVALID_ARGUMENT');
    throwsCode(() => sign(undefined, SECRET), 'INVALID_ARGUMENT');
    throwsCode(() => sign(null, SECRET), 'INVALID_ARGUMENT');
  });

  test('option validation as in jsonwebtoken', () => {
    assert.equal(throwsCode(() => sign({}, SECRET, { foo: 1 }), 'INVALID_ARGUMENT').message, '"foo" is not allowed in "options"');
    assert.equal(throwsCode(() => sign({}, SECRET, { issuer: 1 }), 'INVALID_ARGUMENT').message, '"issuer" must be a string');
    assert.equal(throwsCode(() => sign({}, SECRET, { noTimestamp: 'yes' }), 'INVALID_ARGUMENT').message, '"noTimestamp" must be a boolean');
    assert.equal(throwsCode(() => sign({}, ''), 'INVALID_KEY').message, 'secretOrPrivateKey must have a value');
    // Registered claims keep their JSON types (checked by the core).
    throwsCode(() => sign({ exp: 'tomorrow' }, SECRET), 'INVALID_ARGUMENT');
    throwsCode(() => sign({ iss: 5 }, SECRET), 'INVALID_ARGUMENT');
  });

  test('unknown and none algorithms are refused', () => {
    throwsCode(() => sign({}, SECRET, { algorithm: 'none' }), 'INVALID_ALGORITHM');
    throwsCode(() => sign({}, SECRET, { algorithm: 'HS999' }), 'INVALID_ALGORITHM');
  });

  test('HMAC secrets shorter than the hash output need allowInsecureKeySizes', () => {
    const short = 'only-twenty-chars!!!';
    const e = throwsCode(() => sign({}, short), 'INVALID_KEY');
    assert.ok(!e.message.includes(short), 'the secret must not appear in the message');
    const token = sign({}, short, { allowInsecureKeySizes: true, clock: clock() });
    throwsCode(() => verify(token, short, at(NOW)), 'INVALID_KEY');
    assert.deepEqual(verify(token, short, { ...at(NOW), allowInsecureKeySizes: true }), { iat: NOW });
    throwsCode(() => sign({}, SECRET.slice(0, 40), { algorithm: 'HS384' }), 'INVALID_KEY');
  });

  test('callback form signs off the main thread', async () => {
    const token = await new Promise((resolve, reject) =>
      sign({ sub: 'cb' }, SECRET, { clock: clock() }, (err, t) => (err ? reject(err) : resolve(t))),
    );
    assert.equal(verify(token, SECRET, at(NOW)).sub, 'cb');
    const err = await new Promise((resolve) => sign({}, 'short', {}, (e) => resolve(e)));
    assert.equal(err.code, 'INVALID_KEY');
    const err2 = await new Promise((resolve) => sign('x', SECRET, (e) => resolve(e)));
    assert.equal(err2.code, 'INVALID_ARGUMENT');
  });

  test('signAsync', async () => {
    const token = await signAsync({ a: 1 }, SECRET, { clock: clock() });
    assert.deepEqual(verify(token, SECRET, at(NOW)), { a: 1, iat: NOW });
    await rejectsCode(signAsync({}, 'short'), 'INVALID_KEY');
    await rejectsCode(signAsync('x', SECRET), 'INVALID_ARGUMENT');
  });
});

describe('verify', () => {
  const token = sign({ sub: 'u1', aud: 'api', iss: 'auth', jti: 'j1', nonce: 'n1' }, SECRET, {
    clock: clock(),
    expiresIn: 3600,
    notBefore: 10,
  });
  const ok = { audience: 'api', ...at(NOW + 20) };

  test('returns the payload; complete returns header, payload and signature', () => {
    assert.equal(verify(token, SECRET, ok).sub, 'u1');
    const full = verify(token, SECRET, { ...ok, complete: true });
    assert.deepEqual(full.header, { alg: 'HS256', typ: 'JWT' });
    assert.equal(full.payload.jti, 'j1');
    assert.equal(full.signature, token.split('.')[2]);
  });

  test('expired: TokenExpiredError with expiredAt and code', () => {
    const e = throwsCode(() => verify(token, SECRET, { ...ok, ...at(NOW + 3600) }), 'TOKEN_EXPIRED');
    assert.ok(e instanceof TokenExpiredError && e instanceof JsonWebTokenError && e instanceof Error);
    assert.equal(e.name, 'TokenExpiredError');
    assert.equal(e.message, 'jwt expired');
    assert.deepEqual(e.expiredAt, new Date((NOW + 3600) * 1000));
    assert.equal(e.inner.code, 'TOKEN_EXPIRED');
    assert.equal(e.inner.at, NOW + 3600);
    // clockTolerance and ignoreExpiration
    assert.equal(verify(token, SECRET, { ...ok, ...at(NOW + 3600), clockTolerance: 1 }).sub, 'u1');
    assert.equal(verify(token, SECRET, { ...ok, ...at(NOW + 9e6), ignoreExpiration: true }).sub, 'u1');
  });

  test('not yet valid: NotBeforeError with date and code', () => {
    const e = throwsCode(() => verify(token, SECRET, { ...ok, ...at(NOW + 5) }), 'TOKEN_NOT_YET_VALID');
    assert.ok(e instanceof NotBeforeError);
    assert.equal(e.name, 'NotBeforeError');
    assert.equal(e.message, 'jwt not active');
    assert.deepEqual(e.date, new Date((NOW + 10) * 1000));
    assert.equal(verify(token, SECRET, { ...ok, ...at(NOW + 5), ignoreNotBefore: true }).sub, 'u1');
    assert.equal(verify(token, SECRET, { ...ok, ...at(NOW + 5), clockTolerance: 5 }).sub, 'u1');
  });

  test('a ManualClock drives time', () => {
    const c = new ManualClock(NOW + 20);
    assert.equal(verify(token, SECRET, { ...ok, clockTimestamp: undefined, clock: c }).sub, 'u1');
    c.advance(3600);
    throwsCode(() => verify(token, SECRET, { audience: 'api', clock: c }), 'TOKEN_EXPIRED');
    c.set(NOW);
    throwsCode(() => verify(token, SECRET, { audience: 'api', clock: c }), 'TOKEN_NOT_YET_VALID');
  });

  test('maxAge: seconds or span; iat required', () => {
    assert.equal(verify(token, SECRET, { ...ok, maxAge: 60 }).sub, 'u1');
    const e = throwsCode(() => verify(token, SECRET, { ...ok, ...at(NOW + 120), maxAge: '1m' }), 'TOKEN_EXPIRED');
    assert.equal(e.message, 'maxAge exceeded');
    assert.deepEqual(e.expiredAt, new Date((NOW + 60) * 1000));
    const noIat = sign({ aud: 'api' }, SECRET, { noTimestamp: true });
    const e2 = throwsCode(() => verify(noIat, SECRET, { ...ok, maxAge: 60 }), 'MISSING_CLAIM');
    assert.equal(e2.message, 'iat required when maxAge is specified');
    throwsCode(() => verify(token, SECRET, { ...ok, maxAge: 'forever' }), 'INVALID_ARGUMENT');
  });

  test('audience: string, array, messages, RegExp refused', () => {
    assert.equal(verify(token, SECRET, { ...ok, audience: ['x', 'api'] }).sub, 'u1');
    const e = throwsCode(() => verify(token, SECRET, { ...ok, audience: ['x', 'y'] }), 'INVALID_AUDIENCE');
    assert.ok(e instanceof JsonWebTokenError);
    assert.equal(e.message, 'jwt audience invalid. expected: x or y');
    const r = throwsCode(() => verify(token, SECRET, { ...ok, audience: /api/ }), 'INVALID_ARGUMENT');
    assert.match(r.message, /RegExp audiences are not supported/);
    const noAud = sign({}, SECRET, { clock: clock() });
    const m = throwsCode(() => verify(noAud, SECRET, { ...ok }), 'MISSING_CLAIM');
    assert.equal(m.message, 'jwt audience invalid. expected: api');
  });

  test('issuer, subject, jwtid, nonce messages', () => {
    assert.equal(verify(token, SECRET, { ...ok, issuer: ['x', 'auth'], subject: 'u1', jwtid: 'j1', nonce: 'n1' }).sub, 'u1');
    assert.equal(throwsCode(() => verify(token, SECRET, { ...ok, issuer: 'x' }), 'INVALID_ISSUER').message, 'jwt issuer invalid. expected: x');
    assert.equal(throwsCode(() => verify(token, SECRET, { ...ok, issuer: ['x', 'y'] }), 'INVALID_ISSUER').message, 'jwt issuer invalid. expected: x,y');
    assert.equal(throwsCode(() => verify(token, SECRET, { ...ok, subject: 'u2' }), 'INVALID_SUBJECT').message, 'jwt subject invalid. expected: u2');
    assert.equal(throwsCode(() => verify(token, SECRET, { ...ok, jwtid: 'j2' }), 'INVALID_JTI').message, 'jwt jwtid invalid. expected: j2');
    assert.equal(throwsCode(() => verify(token, SECRET, { ...ok, nonce: 'n2' }), 'INVALID_NONCE').message, 'jwt nonce invalid. expected: n2');
    assert.equal(throwsCode(() => verify(token, SECRET, { ...ok, nonce: ' ' }), 'INVALID_ARGUMENT').message, 'nonce must be a non-empty string');
  });

  test('signature, algorithm and structure errors', () => {
    const parts = token.split('.');
    const tampered = `${parts[0]}.${parts[1]}.${parts[2].slice(0, -2)}AA`;
    const s = throwsCode(() => verify(tampered, SECRET, ok), 'INVALID_SIGNATURE');
    assert.equal(s.message, 'invalid signature');
    assert.equal(throwsCode(() => verify(token, `${SECRET}x`, ok), 'INVALID_SIGNATURE').message, 'invalid signature');
    assert.equal(throwsCode(() => verify(token, SECRET, { ...ok, algorithms: ['HS512'] }), 'INVALID_ALGORITHM').message, 'invalid algorithm');
    assert.equal(throwsCode(() => verify('a.b', SECRET, ok), 'MALFORMED_TOKEN').message, 'jwt malformed');
    assert.equal(throwsCode(() => verify('', SECRET, ok), 'MALFORMED_TOKEN').message, 'jwt must be provided');
    assert.equal(throwsCode(() => verify(42, SECRET, ok), 'INVALID_ARGUMENT').message, 'jwt must be a string');
    assert.equal(throwsCode(() => verify(token, '', ok), 'INVALID_KEY').message, 'secret or public key must be provided');
    assert.equal(throwsCode(() => verify(token, SECRET, { clockTimestamp: 'now' }), 'INVALID_ARGUMENT').message, 'clockTimestamp must be a number');
    // The "none" algorithm is never accepted, whatever the options say.
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${parts[1]}.`;
    throwsCode(() => verify(none, SECRET, ok), 'INVALID_ALGORITHM');
    throwsCode(() => verify(none, SECRET, { ...ok, algorithms: ['none'] }), 'INVALID_ALGORITHM');
  });

  test('default algorithms follow the key family', () => {
    const hs512 = sign({ aud: 'api' }, SECRET, { algorithm: 'HS512', clock: clock() });
    assert.equal(verify(hs512, SECRET, ok).aud, 'api');
  });

  test('claim type errors keep jsonwebtoken messages', () => {
    const e = throwsCode(() => verify(raw('{"alg":"HS256"}', '{"exp":"soon"}'), SECRET, at(NOW)), 'MALFORMED_TOKEN');
    assert.equal(e.message, 'invalid exp value');
    assert.equal(e.inner.claim, 'exp');
    const n = throwsCode(() => verify(raw('{"alg":"HS256"}', '{"nbf":[]}'), SECRET, at(NOW)), 'MALFORMED_TOKEN');
    assert.equal(n.message, 'invalid nbf value');
    assert.equal(throwsCode(() => verify(raw('{"alg":"HS256"}', '{"iat":"x"}'), SECRET, at(NOW)), 'INVALID_ISSUED_AT').message, 'invalid iat value');
    throwsCode(() => verify(raw('{"alg":"HS256"}', '[1]'), SECRET, at(NOW)), 'MALFORMED_TOKEN');
  });

  test('requiredClaims and typ (bastion options)', () => {
    assert.equal(throwsCode(() => verify(token, SECRET, { ...ok, requiredClaims: ['scope'] }), 'MISSING_CLAIM').message, 'jwt must contain the "scope" claim');
    assert.equal(verify(token, SECRET, { ...ok, typ: 'jwt' }).sub, 'u1');
    assert.equal(throwsCode(() => verify(token, SECRET, { ...ok, typ: 'at+jwt' }), 'INVALID_TOKEN_TYPE').message, 'jwt type invalid. expected: at+jwt');
    throwsCode(() => verify(token, SECRET, { ...ok, maxTokenSize: 20 }), 'MALFORMED_TOKEN');
  });

  test('callback form: called synchronously, errors passed', () => {
    let seen;
    verify(token, SECRET, ok, (err, payload) => {
      seen = [err, payload];
    });
    assert.equal(seen[0], null);
    assert.equal(seen[1].sub, 'u1');
    verify(token, SECRET, { ...ok, ...at(NOW + 9e6) }, (err) => {
      seen = err;
    });
    assert.equal(seen.code, 'TOKEN_EXPIRED');
  });

  test('callback form: the key may be a function of the header', async () => {
    const kidToken = sign({ aud: 'api' }, SECRET, { keyid: 'k7', clock: clock() });
    const payload = await new Promise((resolve, reject) =>
      verify(
        kidToken,
        (header, cb) => cb(null, header.kid === 'k7' ? SECRET : 'wrong'),
        ok,
        (err, p) => (err ? reject(err) : resolve(p)),
      ),
    );
    assert.equal(payload.aud, 'api');
    const err = await new Promise((resolve) =>
      verify(kidToken, (header, cb) => cb(new Error('no such key')), ok, (e) => resolve(e)),
    );
    assert.ok(err instanceof JsonWebTokenError);
    assert.equal(err.message, 'error in secret or public key callback: no such key');
    throwsCode(() => verify(kidToken, () => SECRET, ok), 'INVALID_ARGUMENT');
  });

  test('verifyAsync: same results and errors, on the thread pool', async () => {
    assert.equal((await verifyAsync(token, SECRET, ok)).sub, 'u1');
    assert.equal((await verifyAsync(token, SECRET, { ...ok, complete: true })).header.alg, 'HS256');
    const e = await rejectsCode(verifyAsync(token, SECRET, { ...ok, ...at(NOW + 9e6) }), 'TOKEN_EXPIRED');
    assert.ok(e instanceof TokenExpiredError);
    await rejectsCode(verifyAsync('x.y.z', SECRET, ok), 'MALFORMED_TOKEN');
    await rejectsCode(verifyAsync(token, 'short', ok), 'INVALID_KEY');
    assert.equal((await verifyAsync(token, async () => SECRET, ok)).sub, 'u1');
    assert.equal((await verifyAsync(token, (h, cb) => cb(null, SECRET), ok)).sub, 'u1');
  });
});

describe('decode', () => {
  test('payload, complete, and null for what cannot be decoded', () => {
    const token = sign({ a: [1, { b: null }] }, SECRET, { clock: clock() });
    assert.deepEqual(decode(token), { a: [1, { b: null }], iat: NOW });
    assert.deepEqual(decode(token, { complete: true, json: true }).header, { alg: 'HS256', typ: 'JWT' });
    for (const bad of ['', 'x', 'a.b.c', 42, null, undefined, {}, `${token}.x`]) assert.equal(decode(bad), null);
  });
});

describe('stricter than jsonwebtoken (documented differences)', () => {
  test('a token with aud is rejected when no audience is configured', () => {
    const t = sign({ aud: 'api' }, SECRET, { clock: clock() });
    throwsCode(() => verify(t, SECRET, at(NOW)), 'INVALID_AUDIENCE');
  });

  test('iat in the future is rejected (beyond clockTolerance)', () => {
    const t = sign({ iat: NOW + 100 }, SECRET);
    const e = throwsCode(() => verify(t, SECRET, at(NOW)), 'TOKEN_NOT_YET_VALID');
    assert.ok(e instanceof NotBeforeError);
    assert.equal(verify(t, SECRET, { ...at(NOW), clockTolerance: 100 }).iat, NOW + 100);
  });

  test('duplicate JSON member names are rejected', () => {
    throwsCode(() => verify(raw('{"alg":"HS256","alg":"HS256"}', '{"a":1}'), SECRET, at(NOW)), 'MALFORMED_TOKEN');
    const dup = raw('{"alg":"HS256"}', '{"a":1,"a":2}');
    throwsCode(() => verify(dup, SECRET, at(NOW)), 'MALFORMED_TOKEN');
    assert.equal(decode(dup), null);
  });

  test('public keys are never HMAC secrets (the key-confusion attack)', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding: { type: 'spki', format: 'pem' } });
    // An attacker MACs a token with the public key text as the HMAC secret.
    const forged = raw('{"alg":"HS256","typ":"JWT"}', '{"admin":true}', publicKey);
    throwsCode(() => verify(forged, publicKey, { algorithms: ['HS256'] }), 'INVALID_KEY');
    throwsCode(() => verify(forged, publicKey, { algorithms: ['HS256', 'ES256'] }), 'INVALID_ALGORITHM');
    throwsCode(() => verify(forged, publicKey), 'INVALID_ALGORITHM');
    throwsCode(() => verify(forged, ` ${publicKey}`, { algorithms: ['HS256'] }), 'INVALID_KEY');
    throwsCode(() => sign({}, publicKey, { algorithm: 'HS256' }), 'INVALID_KEY');
  });
});

test('time spans are read exactly as jsonwebtoken reads them', () => {
  const require = createRequire(new URL('../../node/package.json', import.meta.url));
  const theirs = require('jsonwebtoken/lib/timespan.js');
  const ours = require('./lib/timespan.js');
  const spans = [0, 1, 60, -5, 1.5, '2h', '7d', '30m', '1.5 hours', '90s', '1y', '2 weeks', '1500', '-1h', '.5d', '10 MINUTES',
    '1 msec', '3 yrs', '', '1.', 'h', '2 fortnights', '1e3', ' 5s', `${'9'.repeat(101)}`, null, undefined, {}, true];
  for (const span of spans) {
    let expected;
    try {
      expected = theirs(span, NOW);
    } catch {
      expected = undefined;
    }
    assert.equal(ours.after(span, NOW), expected, JSON.stringify(span));
  }
});

test('ESM entry exports the same objects', async () => {
  const esm = await import('../../node/lib/index.mjs');
  assert.equal(esm.sign, bastion.sign);
  assert.equal(esm.default, bastion);
  assert.equal(esm.Key, native.Key);
  const pw = await import('../../node/lib/password.mjs');
  assert.equal(typeof pw.hash, 'function');
});

describe('prepared verifiers (options converted once per configuration)', () => {
  // Real time here: the prepared path is only taken without clock/clockTimestamp.
  const now = Math.floor(Date.now() / 1000);
  const tokens = [
    sign({ sub: 'a', aud: 'api', iss: 'idp', jti: 'j1', nonce: 'n1', exp: now + 3600 }, SECRET, { noTimestamp: true }),
    sign({ sub: 'b', aud: ['api', 'other'], iss: 'idp2', exp: now + 3600 }, SECRET, { noTimestamp: true }),
    sign({ sub: 'c', exp: now - 10 }, SECRET, { noTimestamp: true }),
    sign({ sub: 'd', nbf: now + 3600, exp: now + 7200 }, SECRET, { noTimestamp: true }),
  ];
  const configs = [
    { algorithms: ['HS256'] },
    { algorithms: ['HS256'], audience: 'api' },
    { algorithms: ['HS256'], audience: ['other'] },
    { algorithms: ['HS256'], audience: 'api', issuer: 'idp' },
    { algorithms: ['HS256'], audience: 'api', issuer: ['idp2'] },
    { algorithms: ['HS256'], audience: 'api', subject: 'a', jwtid: 'j1', nonce: 'n1' },
    { algorithms: ['HS256'], audience: 'api', nonce: 'n2' },
    { algorithms: ['HS256'], ignoreExpiration: true },
    { algorithms: ['HS256'], ignoreNotBefore: true, audience: ['api', 'x'] },
    { algorithms: ['HS256'], clockTolerance: 20 },
    { algorithms: ['HS384'] },
    { algorithms: ['HS256'], requiredClaims: ['jti'] },
    { algorithms: ['HS256'], audience: 'api', maxAge: '1h' },
  ];
  const outcome = (fn) => {
    try {
      return { ok: fn() };
    } catch (e) {
      return { name: e.name, message: e.message, code: e.code };
    }
  };

  test('give exactly what the ordinary path gives, for every configuration, twice', () => {
    for (let round = 0; round < 2; round++) {
      for (const o of configs) {
        for (const t of tokens) {
          // clockTimestamp forces the ordinary (positional) path with the same time.
          const ordinary = outcome(() => verify(t, SECRET, { ...o, clockTimestamp: Math.floor(Date.now() / 1000) }));
          const prepared = outcome(() => verify(t, SECRET, { ...o }));
          assert.deepEqual(prepared, ordinary, JSON.stringify(o));
        }
      }
    }
  });

  test('a changed option never reuses a verifier made for another configuration', () => {
    const o = { algorithms: ['HS256'], audience: 'api' };
    assert.equal(verify(tokens[0], SECRET, o).sub, 'a');
    o.audience = 'nobody';
    assert.throws(() => verify(tokens[0], SECRET, o), { code: 'INVALID_AUDIENCE' });
    o.audience = ['nobody'];
    o.audience.push('api');
    assert.equal(verify(tokens[0], SECRET, o).sub, 'a');
    o.audience[1] = 'x';
    assert.throws(() => verify(tokens[0], SECRET, o), { code: 'INVALID_AUDIENCE' });
  });
});
