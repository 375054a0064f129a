// Key construction from every form (keys generated with node:crypto), key
// properties, the Key and KeyObject paths through sign/verify, Verifier,
// verifyJws and the raw sign/verify primitives.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, createSecretKey, verify as cryptoVerify } from 'node:crypto';
import { bastion, native, NOW, SECRET, throwsCode } from './helpers.mjs';

const { Key, ManualClock, Verifier } = native;

function sshString(buf) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(buf.length);
  return Buffer.concat([len, buf]);
}

function mpint(buf) {
  let b = buf;
  while (b.length > 1 && b[0] === 0) b = b.subarray(1);
  return sshString(b[0] & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
}

const b64u = (s) => Buffer.from(s, 'base64url');

/** An OpenSSH authorized_keys line for a public KeyObject. */
function sshLine(publicKey) {
  const jwk = publicKey.export({ format: 'jwk' });
  let blob;
  let type;
  if (jwk.kty === 'OKP') {
    type = 'ssh-ed25519';
    blob = Buffer.concat([sshString(Buffer.from(type)), sshString(b64u(jwk.x))]);
  } else if (jwk.kty === 'RSA') {
    type = 'ssh-rsa';
    blob = Buffer.concat([sshString(Buffer.from(type)), mpint(b64u(jwk.e)), mpint(b64u(jwk.n))]);
  } else {
    const curve = { 'P-256': 'nistp256', 'P-384': 'nistp384', 'P-521': 'nistp521' }[jwk.crv];
    type = `ecdsa-sha2-${curve}`;
    const point = Buffer.concat([Buffer.from([4]), b64u(jwk.x), b64u(jwk.y)]);
    blob = Buffer.concat([sshString(Buffer.from(type)), sshString(Buffer.from(curve)), sshString(point)]);
  }
  return `${type} ${blob.toString('base64')} test@bastion`;
}

const KINDS = [
  { name: 'RSA 2048', gen: ['rsa', { modulusLength: 2048 }], family: 'RSA', alg: 'RS256', algs: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'], pkcs1: true, ssh: true },
  { name: 'EC P-256', gen: ['ec', { namedCurve: 'P-256' }], family: 'EC P-256', alg: 'ES256', algs: ['ES256'], sec1: true, ssh: true },
  { name: 'EC P-384', gen: ['ec', { namedCurve: 'P-384' }], family: 'EC P-384', alg: 'ES384', algs: ['ES384'], sec1: true, ssh: true },
  { name: 'EC P-521', gen: ['ec', { namedCurve: 'P-521' }], family: 'EC P-521', alg: 'ES512', algs: ['ES512'], sec1: true, ssh: true },
  { name: 'EC secp256k1', gen: ['ec', { namedCurve: 'secp256k1' }], family: 'EC secp256k1', alg: 'ES256K', algs: ['ES256K'], sec1: true },
  { name: 'Ed25519', gen: ['ed25519', {}], family: 'Ed25519', alg: 'EdDSA', algs: ['EdDSA'], ssh: true },
];

for (const kind of KINDS) {
  describe(`${kind.name} keys`, () => {
    const { publicKey, privateKey } = generateKeyPairSync(...kind.gen);
    const privateForms = {
      'PKCS#8 PEM': () => Key.fromPem(privateKey.export({ type: 'pkcs8', format: 'pem' })),
      'PKCS#8 PEM Buffer': () => Key.fromPem(Buffer.from(privateKey.export({ type: 'pkcs8', format: 'pem' }))),
      'PKCS#8 DER': () => Key.fromDer(privateKey.export({ type: 'pkcs8', format: 'der' })),
      'JWK object': () => Key.fromJwk(privateKey.export({ format: 'jwk' })),
      'JWK text': () => Key.fromJwk(JSON.stringify(privateKey.export({ format: 'jwk' }))),
      material: () => Key.fromMaterial(privateKey.export({ type: 'pkcs8', format: 'pem' }), [kind.alg]),
    };
    if (kind.pkcs1) {
      privateForms['PKCS#1 PEM'] = () => Key.fromPem(privateKey.export({ type: 'pkcs1', format: 'pem' }));
      privateForms['PKCS#1 DER'] = () => Key.fromDer(privateKey.export({ type: 'pkcs1', format: 'der' }));
    }
    if (kind.sec1) {
      privateForms['SEC1 PEM'] = () => Key.fromPem(privateKey.export({ type: 'sec1', format: 'pem' }));
      privateForms['SEC1 DER'] = () => Key.fromDer(privateKey.export({ type: 'sec1', format: 'der' }));
    }
    const publicForms = {
      'SPKI PEM': () => Key.fromPem(publicKey.export({ type: 'spki', format: 'pem' })),
      'SPKI DER': () => Key.fromDer(publicKey.export({ type: 'spki', format: 'der' })),
      'JWK object': () => Key.fromJwk(publicKey.export({ format: 'jwk' })),
      'material (PEM)': () => Key.fromMaterial(publicKey.export({ type: 'spki', format: 'pem' })),
      'material (DER)': () => Key.fromMaterial(publicKey.export({ type: 'spki', format: 'der' })),
    };
    if (kind.pkcs1) publicForms['PKCS#1 PEM'] = () => Key.fromPem(publicKey.export({ type: 'pkcs1', format: 'pem' }));
    if (kind.ssh) {
      publicForms.OpenSSH = () => Key.fromSsh(sshLine(publicKey));
      publicForms['material (OpenSSH)'] = () => Key.fromMaterial(sshLine(publicKey), [kind.alg]);
    }
    const expectedJwk = publicKey.export({ format: 'jwk' });

    const signer = Key.fromPem(privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const token = native.sign(JSON.stringify({ sub: kind.name, exp: NOW + 60 }), signer, kind.alg);

    for (const [form, make] of Object.entries(privateForms)) {
      test(`private key from ${form}`, () => {
        const key = make();
        assert.equal(key.family, kind.family);
        assert.equal(key.canSign, true);
        assert.deepEqual(key.algorithms, kind.algs);
        assert.equal(key.kid, null);
        const jwk = key.publicJwk();
        for (const member of Object.keys(expectedJwk)) assert.equal(jwk[member], expectedJwk[member], member);
        assert.equal(jwk.d, undefined, 'never a private member');
        assert.equal(jwk.use, 'sig');
        const t = native.sign('{"a":1}', key, kind.alg);
        assert.equal(native.verify(t, Key.fromJwk(expectedJwk), [kind.alg], NOW, undefined, []), '{"a":1}');
      });
    }

    for (const [form, make] of Object.entries(publicForms)) {
      test(`public key from ${form}`, () => {
        const key = make();
        assert.equal(key.family, kind.family);
        assert.equal(key.canSign, false);
        assert.equal(native.verify(token, key, undefined, NOW), JSON.stringify({ sub: kind.name, exp: NOW + 60 }));
        throwsCode(() => native.sign('{}', key, kind.alg), 'INVALID_KEY');
      });
    }

    test('KeyObjects through the jsonwebtoken layer (and cached per object)', () => {
      const t = bastion.sign({ sub: 'ko' }, privateKey, { algorithm: kind.alg, clock: new ManualClock(NOW) });
      assert.equal(bastion.verify(t, publicKey, { clockTimestamp: NOW }).sub, 'ko');
      assert.equal(bastion.verify(t, publicKey, { clockTimestamp: NOW }).sub, 'ko');
      assert.equal(bastion.verify(t, publicKey.export({ type: 'spki', format: 'pem' }), { clockTimestamp: NOW }).sub, 'ko');
      assert.equal(bastion.verify(t, publicKey.export({ format: 'jwk' }), { clockTimestamp: NOW }).sub, 'ko');
      assert.equal(bastion.verify(t, publicKey.export({ type: 'spki', format: 'der' }), { clockTimestamp: NOW }).sub, 'ko');
      assert.equal(bastion.verify(t, new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })), { clockTimestamp: NOW }).sub, 'ko');
      // A public key cannot sign; an HMAC algorithm never takes an asymmetric key.
      throwsCode(() => bastion.sign({}, publicKey, { algorithm: kind.alg }), 'INVALID_KEY');
      throwsCode(() => bastion.verify(t, publicKey, { algorithms: ['HS256'] }), 'INVALID_ALGORITHM');
      throwsCode(() => bastion.verify(t, publicKey.export({ type: 'spki', format: 'pem' }), { algorithms: ['HS256'] }), 'INVALID_KEY');
    });
  });
}

describe('HMAC keys', () => {
  test('from text, Buffer, JWK and material', () => {
    const jwk = { kty: 'oct', k: Buffer.from(SECRET).toString('base64url'), kid: 'h1', alg: 'HS384' };
    for (const key of [Key.hmac(SECRET), Key.hmac(Buffer.from(SECRET)), Key.fromMaterial(SECRET), Key.fromMaterial(SECRET, ['HS512'])]) {
      assert.equal(key.family, 'HMAC');
      assert.equal(key.canSign, true);
      assert.deepEqual(key.algorithms, ['HS256', 'HS384', 'HS512']);
      throwsCode(() => key.publicJwk(), 'INVALID_KEY');
    }
    const restricted = Key.fromJwk(jwk);
    assert.equal(restricted.kid, 'h1');
    assert.equal(restricted.algorithm, 'HS384');
    assert.deepEqual(restricted.algorithms, ['HS384']);
    const t = native.sign('{}', restricted);
    assert.deepEqual(JSON.parse(native.decodeHeader(t)), { alg: 'HS384', kid: 'h1', typ: 'JWT' });
    throwsCode(() => native.sign('{}', restricted, 'HS256'), 'INVALID_ALGORITHM');
    assert.deepEqual(Key.fromJwk(JSON.stringify({ kty: 'oct', k: jwk.k }), 'HS512').algorithms, ['HS512']);
  });

  test('secrets that are keys, and empty secrets, are refused', () => {
    const { publicKey } = generateKeyPairSync('ed25519');
    throwsCode(() => Key.hmac(publicKey.export({ type: 'spki', format: 'pem' })), 'INVALID_KEY');
    throwsCode(() => Key.hmac(publicKey.export({ type: 'spki', format: 'der' })), 'INVALID_KEY');
    throwsCode(() => Key.hmac(sshLine(publicKey)), 'INVALID_KEY');
    throwsCode(() => Key.hmac(''), 'INVALID_KEY');
    throwsCode(() => Key.fromMaterial(publicKey.export({ type: 'spki', format: 'pem' }), ['HS256']), 'INVALID_KEY');
    throwsCode(() => Key.fromMaterial(SECRET, ['RS256']), 'INVALID_KEY');
    throwsCode(() => Key.fromMaterial(SECRET, ['none']), 'INVALID_ALGORITHM');
  });

  test('secret KeyObjects', () => {
    const ko = createSecretKey(Buffer.from(SECRET));
    const t = bastion.sign({ a: 1 }, ko, { clock: new ManualClock(NOW) });
    assert.equal(bastion.verify(t, ko, { clockTimestamp: NOW }).a, 1);
    assert.equal(bastion.verify(t, SECRET, { clockTimestamp: NOW }).a, 1);
  });
});

describe('other key forms', () => {
  test('RSA keys under 2048 bits are refused', () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    throwsCode(() => Key.fromPem(privateKey.export({ type: 'pkcs8', format: 'pem' })), 'INVALID_KEY');
    throwsCode(() => bastion.sign({}, privateKey, { algorithm: 'RS256', allowInsecureKeySizes: true }), 'INVALID_KEY');
  });

  test('X.509 certificate text is not a key Node can make here; garbage PEM is INVALID_KEY', () => {
    throwsCode(() => Key.fromPem('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'), 'INVALID_KEY');
    throwsCode(() => Key.fromPem('-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----\n'), 'INVALID_KEY');
    throwsCode(() => Key.fromDer(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01])), 'INVALID_KEY');
    throwsCode(() => Key.fromSsh('ssh-rsa AAAA'), 'INVALID_KEY');
    throwsCode(() => Key.fromJwk({ kty: 'RSA', n: 'AQAB' }), 'INVALID_KEY');
    throwsCode(() => Key.fromJwk({ kty: 'oct', k: Buffer.from(SECRET).toString('base64url'), use: 'enc' }), 'INVALID_KEY');
    throwsCode(() => Key.fromJwk('{"kty":"oct","kty":"oct","k":"AA"}'), 'INVALID_KEY');
  });

  test('encrypted private keys through { key, passphrase }', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', {
      namedCurve: 'P-256',
      privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    throwsCode(() => Key.fromPem(privateKey), 'INVALID_KEY');
    const t = bastion.sign({ a: 1 }, { key: privateKey, passphrase: 'pw' }, { algorithm: 'ES256', clock: new ManualClock(NOW) });
    assert.equal(bastion.verify(t, publicKey, { clockTimestamp: NOW }).a, 1);
    assert.equal(bastion.verify(t, { key: publicKey }, { clockTimestamp: NOW }).a, 1);
    throwsCode(() => bastion.sign({ a: 1 }, { key: privateKey, passphrase: 'wrong' }, { algorithm: 'ES256' }), 'INVALID_KEY');
  });

  test('RSA-PSS KeyObjects fall back to DER and get a typed outcome', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa-pss', { modulusLength: 2048 });
    let signed;
    try {
      signed = bastion.sign({ a: 1 }, privateKey, { algorithm: 'PS256', clock: new ManualClock(NOW) });
    } catch (err) {
      assert.equal(err.code, 'INVALID_KEY');
      return;
    }
    assert.equal(bastion.verify(signed, publicKey, { clockTimestamp: NOW }).a, 1);
  });

  test('a key object that is not a Key (even with Key.prototype) is refused, never misread', () => {
    const spoof = Object.setPrototypeOf(new ManualClock(NOW), Key.prototype);
    throwsCode(() => native.verify('a.b.c', spoof), 'INVALID_ARGUMENT');
    throwsCode(() => native.sign('{}', new ManualClock(0)), 'INVALID_ARGUMENT');
    throwsCode(() => native.sign('{}', {}), 'INVALID_ARGUMENT');
    assert.throws(() => new Key());
  });
});

describe('key ids, Verifier, verifyJws and primitives', () => {
  const key = Key.hmac(SECRET);

  test('withKid sets the header kid and the JWK kid', () => {
    const k1 = key.withKid('k1');
    assert.equal(k1.kid, 'k1');
    assert.equal(key.kid, null);
    assert.equal(JSON.parse(native.decodeHeader(native.sign('{}', k1))).kid, 'k1');
    assert.equal(JSON.parse(native.decodeHeader(native.sign('{}', k1, undefined, undefined, 'k2'))).kid, 'k2');
    assert.equal(JSON.parse(native.decodeHeader(bastion.sign({}, k1))).kid, 'k1');
    const { publicKey } = generateKeyPairSync('ed25519');
    assert.equal(Key.fromJwk(publicKey.export({ format: 'jwk' })).withKid('e1').publicJwk().kid, 'e1');
  });

  test('Verifier: options converted once, clock injected', async () => {
    const t = native.sign(JSON.stringify({ aud: 'api', exp: NOW + 10 }), key);
    const clock = new ManualClock(NOW);
    const v = new Verifier(key, { algorithms: ['HS256'], audience: ['api'] }, clock);
    assert.deepEqual(v.algorithms, ['HS256']);
    assert.equal(JSON.parse(v.verify(t)).aud, 'api');
    assert.equal(JSON.parse(await v.verifyAsync(t)).aud, 'api');
    clock.advance(10);
    const e = throwsCode(() => v.verify(t), 'TOKEN_EXPIRED');
    assert.equal(e.at, NOW + 10);
    await assert.rejects(v.verifyAsync(t), { code: 'TOKEN_EXPIRED' });
    assert.deepEqual(new Verifier(SECRET).algorithms, ['HS256', 'HS384', 'HS512']);
    throwsCode(() => new Verifier(SECRET, { algorithms: ['RS256'] }), 'INVALID_KEY');
    throwsCode(() => new Verifier(key, { audience: 'api' }), 'INVALID_ARGUMENT');
    throwsCode(() => new Verifier(key, {}, 'yesterday'), 'INVALID_ARGUMENT');
    throwsCode(() => new Verifier(key, { requiredClaims: ['sub'] }, NOW).verify(t), 'MISSING_CLAIM');
  });

  test('verifyJws verifies any payload', () => {
    const input = `${Buffer.from('{"alg":"HS256"}').toString('base64url')}.${Buffer.from('not json').toString('base64url')}`;
    const sig = key.sign('HS256', Buffer.from(input));
    const out = native.verifyJws(`${input}.${sig.toString('base64url')}`, key);
    assert.equal(out.payload.toString(), 'not json');
    assert.equal(out.algorithm, 'HS256');
    assert.deepEqual(JSON.parse(out.header), { alg: 'HS256' });
    throwsCode(() => native.verifyJws(`${input}.AAAA`, key), 'INVALID_SIGNATURE');
  });

  test('raw sign / verify primitives', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    const priv = Key.fromJwk(privateKey.export({ format: 'jwk' }));
    const pub = Key.fromJwk(publicKey.export({ format: 'jwk' }));
    const msg = Buffer.from('message');
    const sig = priv.sign('ES384', msg);
    assert.equal(sig.length, 96);
    assert.equal(pub.verify('ES384', msg, sig), undefined);
    throwsCode(() => pub.verify('ES384', Buffer.from('other'), sig), 'INVALID_SIGNATURE');
    throwsCode(() => pub.verify('ES256', msg, sig), 'INVALID_ALGORITHM');
    throwsCode(() => Key.hmac('short-secret').sign('HS256', msg), 'INVALID_KEY');
    assert.equal(Key.hmac('short-secret').sign('HS256', msg, true).length, 32);
    // Node's own ECDSA verifier accepts bastion's R||S signature.
    assert.ok(cryptoVerify('sha384', msg, { key: publicKey, dsaEncoding: 'ieee-p1363' }, sig));
  });
});

describe('the verified-token cache', () => {
  test('repeat verifications rerun every configuration and time rule', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pub = Key.fromJwk(publicKey.export({ format: 'jwk' }));
    const token = native.sign(JSON.stringify({ aud: 'api', exp: NOW + 10 }), Key.fromJwk(privateKey.export({ format: 'jwk' })));
    const clock = new ManualClock(NOW);
    const v = new Verifier(pub, { audience: ['api'] }, clock);
    for (let i = 0; i < 3; i++) assert.equal(v.verify(token), '{"aud":"api","exp":1700000010}');
    throwsCode(() => new Verifier(pub, { audience: ['other'] }, clock).verify(token), 'INVALID_AUDIENCE');
    throwsCode(() => new Verifier(pub, { algorithms: ['ES384'] }, clock).verify(token), 'INVALID_ALGORITHM');
    throwsCode(() => new Verifier(pub, { audience: ['api'], typ: 'at+jwt' }, clock).verify(token), 'INVALID_TOKEN_TYPE');
    throwsCode(() => native.verify(token, pub, undefined, clock, undefined, undefined, ['api'], undefined, undefined, undefined, undefined, undefined, 50), 'MALFORMED_TOKEN');
    clock.advance(10);
    throwsCode(() => v.verify(token), 'TOKEN_EXPIRED');
    // Another key never hits the entry of the first.
    const { publicKey: other } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    throwsCode(() => native.verify(token, Key.fromJwk(other.export({ format: 'jwk' })), undefined, NOW, undefined, undefined, ['api']), 'INVALID_SIGNATURE');
  });

  test('the size can be changed and the cache turned off', () => {
    const before = native.setVerifiedTokenCacheSize(0);
    assert.equal(typeof before, 'number');
    assert.equal(native.setVerifiedTokenCacheSize(before), 0);
    assert.equal(bastion.setVerifiedTokenCacheSize, native.setVerifiedTokenCacheSize);
    throwsCode(() => native.setVerifiedTokenCacheSize(-1), 'INVALID_ARGUMENT');
    throwsCode(() => native.setVerifiedTokenCacheSize('big'), 'INVALID_ARGUMENT');
  });
});
