// Interoperability with the real peers, both directions: tokens bastion signs
// verify in jsonwebtoken, jose and @node-rs/jsonwebtoken, and theirs verify
// in bastion, for every algorithm each pair supports.
//
// Claims use a fixed iat (NOW) and an exp in 2100, so the peers (which read
// the system clock) and bastion (at a fixed clockTimestamp) all accept them.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { bastion, jsonwebtoken, jose, noders, NOW, SECRET } from './helpers.mjs';

const EXP = 4_102_444_800; // 2100-01-01
const CLAIMS = { sub: 'user-1', name: 'Ada', roles: ['admin'], n: 1.5, iat: NOW, exp: EXP, iss: 'https://issuer', aud: 'api' };
const VERIFY = { audience: 'api', issuer: 'https://issuer', clockTimestamp: NOW };

function pair(type, options) {
  const { publicKey, privateKey } = generateKeyPairSync(type, options);
  return {
    publicKey,
    privateKey,
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }),
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }),
  };
}

const rsa = pair('rsa', { modulusLength: 2048 });
const p256 = pair('ec', { namedCurve: 'P-256' });
const p384 = pair('ec', { namedCurve: 'P-384' });
const p521 = pair('ec', { namedCurve: 'P-521' });
const ed = pair('ed25519');
const hmac = { publicPem: SECRET, privatePem: SECRET, publicKey: Buffer.from(SECRET), privateKey: Buffer.from(SECRET) };

const KEYS = {
  HS256: hmac, HS384: hmac, HS512: hmac,
  RS256: rsa, RS384: rsa, RS512: rsa,
  PS256: rsa, PS384: rsa, PS512: rsa,
  ES256: p256, ES384: p384, ES512: p521,
  EdDSA: ed,
};

function checkClaims(payload) {
  assert.deepEqual(payload, CLAIMS);
}

describe('jsonwebtoken', () => {
  const ALGS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512'];
  for (const alg of ALGS) {
    const k = KEYS[alg];
    test(`${alg}: bastion signs, jsonwebtoken verifies`, async () => {
      const token = bastion.sign(CLAIMS, k.privatePem, { algorithm: alg, keyid: 'k1' });
      const out = jsonwebtoken.verify(token, k.publicPem, { algorithms: [alg], audience: 'api', issuer: 'https://issuer', complete: true });
      checkClaims(out.payload);
      assert.equal(out.header.kid, 'k1');
      assert.equal(out.header.alg, alg);
      const viaAsync = await bastion.signAsync(CLAIMS, k.privateKey, { algorithm: alg });
      checkClaims(jsonwebtoken.verify(viaAsync, k.publicPem, { algorithms: [alg], audience: 'api' }));
    });
    test(`${alg}: jsonwebtoken signs, bastion verifies`, async () => {
      const token = jsonwebtoken.sign(CLAIMS, k.privatePem, { algorithm: alg, keyid: 'k2' });
      checkClaims(bastion.verify(token, k.publicPem, { ...VERIFY, algorithms: [alg] }));
      checkClaims(bastion.verify(token, k.publicKey, VERIFY));
      checkClaims(await bastion.verifyAsync(token, k.publicPem, VERIFY));
      const full = bastion.verify(token, k.publicPem, { ...VERIFY, complete: true });
      assert.deepEqual(full, jsonwebtoken.verify(token, k.publicPem, { algorithms: [alg], complete: true }));
      assert.deepEqual(bastion.decode(token, { complete: true }), jsonwebtoken.decode(token, { complete: true }));
      // A flipped signature bit is refused by both.
      const parts = token.split('.');
      const sig = Buffer.from(parts[2], 'base64url');
      sig[5] ^= 1;
      const bad = `${parts[0]}.${parts[1]}.${sig.toString('base64url')}`;
      assert.throws(() => bastion.verify(bad, k.publicPem, VERIFY), { code: 'INVALID_SIGNATURE', message: 'invalid signature' });
      assert.throws(() => jsonwebtoken.verify(bad, k.publicPem), { message: 'invalid signature' });
    });
  }

  test('expiry: same classes, messages and dates', () => {
    const token = jsonwebtoken.sign({ exp: NOW - 10, iat: NOW - 100 }, SECRET);
    let theirs;
    try {
      jsonwebtoken.verify(token, SECRET, { clockTimestamp: NOW });
    } catch (e) {
      theirs = e;
    }
    let ours;
    try {
      bastion.verify(token, SECRET, { clockTimestamp: NOW });
    } catch (e) {
      ours = e;
    }
    assert.equal(ours.name, theirs.name);
    assert.equal(ours.message, theirs.message);
    assert.deepEqual(ours.expiredAt, theirs.expiredAt);
    assert.equal(ours.code, 'TOKEN_EXPIRED');
  });
});

describe('jose', () => {
  const ALGS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
  for (const alg of ALGS) {
    const k = KEYS[alg];
    test(`${alg}: both directions`, async () => {
      const ours = bastion.sign(CLAIMS, k.privatePem, { algorithm: alg });
      const { payload, protectedHeader } = await jose.jwtVerify(ours, k.publicKey, {
        algorithms: [alg],
        audience: 'api',
        issuer: 'https://issuer',
        currentDate: new Date(NOW * 1000),
      });
      checkClaims(payload);
      assert.equal(protectedHeader.alg, alg);
      const theirs = await new jose.SignJWT(CLAIMS).setProtectedHeader({ alg, typ: 'JWT' }).sign(k.privateKey);
      checkClaims(bastion.verify(theirs, k.publicPem, VERIFY));
      checkClaims(await bastion.verifyAsync(theirs, k.publicKey, VERIFY));
    });
  }
});

describe('@node-rs/jsonwebtoken', () => {
  const ALGS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'];
  for (const alg of ALGS) {
    const k = KEYS[alg];
    test(`${alg}: both directions`, async () => {
      const ours = bastion.sign(CLAIMS, k.privatePem, { algorithm: alg });
      checkClaims(noders.verifySync(ours, k.publicPem, { algorithms: [alg], aud: ['api'], iss: ['https://issuer'] }));
      const theirs = noders.signSync(CLAIMS, k.privatePem, { algorithm: alg });
      checkClaims(bastion.verify(theirs, k.publicPem, VERIFY));
      const theirsAsync = await noders.sign(CLAIMS, k.privatePem, { algorithm: alg });
      checkClaims(await bastion.verifyAsync(theirsAsync, k.publicPem, VERIFY));
    });
  }
});
