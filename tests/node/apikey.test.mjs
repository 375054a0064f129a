// API keys: the documented format (checked with an independent base62 and
// zlib's CRC-32), verification outcomes, malformed keys of every shape,
// pepper rotation, and that neither a key nor a pepper shows in inspect
// output, JSON or errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { crc32 } from 'node:zlib';
import { bastion, native, throwsCode } from './helpers.mjs';

const { ApiKeyHasher, apiKeyId } = bastion;
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const KEY_RE = /^[a-z][a-z0-9]{1,15}_[0-9A-Za-z]{17}_[0-9A-Za-z]{49}$/;
const PEPPER = randomBytes(32);

function b62(buf, width) {
  let n = BigInt(`0x${buf.toString('hex') || '0'}`);
  let out = '';
  for (let i = 0; i < width; i++) {
    out = ALPHABET[Number(n % 62n)] + out;
    n /= 62n;
  }
  assert.equal(n, 0n);
  return out;
}

function unb62(text, size) {
  let n = 0n;
  for (const c of text) n = n * 62n + BigInt(ALPHABET.indexOf(c));
  return Buffer.from(n.toString(16).padStart(size * 2, '0'), 'hex');
}

function assemble(prefix, id, secret) {
  const body = `${prefix}_${b62(id, 17)}_${b62(secret, 43)}`;
  const check = Buffer.alloc(4);
  check.writeUInt32BE(crc32(body));
  return body + b62(check, 6);
}

function split(key) {
  const [prefix, id, tail] = key.split('_');
  return [prefix, unb62(id, 12), unb62(tail.slice(0, 43), 32)];
}

const hasZlibCrc = typeof crc32 === 'function';

test('exports', () => {
  assert.equal(bastion.ApiKeyHasher, native.ApiKeyHasher);
  assert.equal(bastion.IssuedApiKey, native.IssuedApiKey);
  assert.equal(bastion.apiKeyId, native.apiKeyId);
});

test('generated keys follow the documented format', { skip: !hasZlibCrc && 'node:zlib has no crc32' }, () => {
  const hasher = new ApiKeyHasher(PEPPER);
  for (const prefix of ['bst', 'ab', 'acme2024', 'abcdefghijklmnop']) {
    const issued = hasher.generate(prefix);
    assert.ok(issued instanceof bastion.IssuedApiKey);
    assert.match(issued.key, KEY_RE);
    assert.equal(issued.prefix, prefix);
    const [p, id, secret] = split(issued.key);
    assert.equal(p, prefix);
    assert.equal(b62(id, 17), issued.id);
    assert.equal(assemble(prefix, id, secret), issued.key);
    const mac = createHmac('sha256', PEPPER)
      .update(Buffer.concat([Buffer.from(prefix), Buffer.from([0]), id, secret]))
      .digest('base64url');
    assert.equal(issued.digest, `v1$${mac}`);
    assert.equal(hasher.verify(issued.key, issued.digest), true);
    assert.equal(hasher.verify(Buffer.from(issued.key), issued.digest), true);
    assert.equal(apiKeyId(issued.key), issued.id);
    assert.equal(apiKeyId(issued.key, prefix), issued.id);
  }
  assert.equal(hasher.generate().prefix, 'bst');
  assert.notEqual(hasher.generate().key, hasher.generate().key);
});

test('verification outcomes', { skip: !hasZlibCrc && 'node:zlib has no crc32' }, () => {
  const hasher = new ApiKeyHasher(PEPPER);
  const issued = hasher.generate();
  const [prefix, id, secret] = split(issued.key);
  for (const i of [0, 16, 31]) {
    const flipped = Buffer.from(secret);
    flipped[i] ^= 1;
    assert.equal(hasher.verify(assemble(prefix, id, flipped), issued.digest), false);
  }
  const otherId = Buffer.from(id);
  otherId[0] ^= 1;
  assert.equal(hasher.verify(assemble(prefix, otherId, secret), issued.digest), false);
  assert.equal(hasher.verify(assemble('acme', id, secret), issued.digest), false);
  assert.equal(hasher.verify(hasher.generate().key, issued.digest), false);
  assert.equal(new ApiKeyHasher(randomBytes(32)).verify(issued.key, issued.digest), false);
});

test('malformed keys of every shape', () => {
  const hasher = new ApiKeyHasher(PEPPER);
  const good = hasher.generate().key;
  const digest = hasher.hash(good);
  const swap = (s, i) => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
  const cases = [
    '',
    good.slice(0, 69),
    good.slice(0, -1),
    `${good}x`,
    'a'.repeat(85),
    'a'.repeat(1_000_000),
    `${good.slice(0, 10)}é${good.slice(11)}`,
    `${good.slice(0, 10)}-${good.slice(11)}`,
    ` ${good.slice(1)}`,
    good.replace('_', ''),
    `${good.slice(0, 40)}_${good.slice(41)}`,
    `Bst${good.slice(3)}`,
    swap(good, good.length - 1),
    swap(good, 30),
    `bst_${'z'.repeat(17)}_${good.slice(-49)}`,
    Buffer.from([0xff, 0xfe, ...Buffer.from(good.slice(2))]),
  ];
  for (const bad of cases) {
    for (const call of [(k) => hasher.verify(k, digest), (k) => apiKeyId(k), (k) => hasher.hash(k)]) {
      const err = throwsCode(() => call(bad), 'INVALID_API_KEY');
      assert.match(err.message, /^malformed API key/);
      if (bad.length > 5) assert.ok(!err.message.includes(bad.toString()));
    }
  }
  throwsCode(() => apiKeyId(good, 'acme'), 'INVALID_API_KEY');
  throwsCode(() => apiKeyId(12345), 'INVALID_ARGUMENT');
  throwsCode(() => hasher.verify(null, digest), 'INVALID_ARGUMENT');
  throwsCode(() => hasher.verify(good, 7), 'INVALID_ARGUMENT');
});

test('malformed digests', () => {
  const hasher = new ApiKeyHasher(PEPPER);
  const issued = hasher.generate();
  const mac = issued.digest.slice(3);
  for (const bad of ['', 'v1', `1$${mac}`, `v01$${mac}`, `v1$${mac}=`, `v1$${mac.slice(1)}`, `v99999999999$${mac}`]) {
    throwsCode(() => hasher.verify(issued.key, bad), 'INVALID_HASH');
    throwsCode(() => hasher.needsRehash(bad), 'INVALID_HASH');
  }
});

test('pepper rotation', () => {
  const [p1, p2, p3] = [randomBytes(32), randomBytes(32).toString('base64url'), randomBytes(32)];
  const old = new ApiKeyHasher(p1);
  const issued = old.generate();
  assert.match(issued.digest, /^v1\$/);
  assert.equal(old.needsRehash(issued.digest), false);

  const rotated = new ApiKeyHasher(p2, { version: 2, previous: [{ version: 1, pepper: p1 }] });
  assert.equal(rotated.version, 2);
  assert.deepEqual(rotated.previousVersions, [1]);
  assert.equal(rotated.verify(issued.key, issued.digest), true);
  assert.equal(rotated.needsRehash(issued.digest), true);
  const fresh = rotated.hash(issued.key);
  assert.match(fresh, /^v2\$/);
  assert.equal(rotated.needsRehash(fresh), false);
  assert.equal(rotated.verify(issued.key, fresh), true);
  const err = throwsCode(() => old.verify(issued.key, fresh), 'INVALID_HASH');
  assert.match(err.message, /pepper version 2/);
  const retired = new ApiKeyHasher(p3, { version: 3, previous: [{ version: 2, pepper: p2 }] });
  throwsCode(() => retired.verify(issued.key, issued.digest), 'INVALID_HASH');
  assert.equal(retired.verify(issued.key, fresh), true);
  throwsCode(() => new ApiKeyHasher(p2, { version: 2, previous: [{ version: 2, pepper: p1 }] }), 'INVALID_ARGUMENT');
});

test('weak peppers and bad arguments', () => {
  for (const weak of ['short', 'changeme'.repeat(8), Buffer.alloc(32), '0123456789'.repeat(8)]) {
    throwsCode(() => new ApiKeyHasher(weak), 'WEAK_SECRET');
    throwsCode(() => new ApiKeyHasher(PEPPER, { version: 2, previous: [{ version: 1, pepper: weak }] }), 'WEAK_SECRET');
  }
  throwsCode(() => new ApiKeyHasher(PEPPER).generate('Bad-Prefix'), 'INVALID_ARGUMENT');
  throwsCode(() => new ApiKeyHasher(PEPPER).generate(3), 'INVALID_ARGUMENT');
  throwsCode(() => new ApiKeyHasher(1234), 'INVALID_ARGUMENT');
  for (const version of [-1, 1.5, 2 ** 32, NaN]) {
    throwsCode(() => new ApiKeyHasher(PEPPER, { version }), 'INVALID_ARGUMENT');
  }
  throwsCode(() => new ApiKeyHasher(PEPPER, 'options'), 'INVALID_ARGUMENT');
  throwsCode(() => new ApiKeyHasher(PEPPER, { previous: 'x' }), 'INVALID_ARGUMENT');
});

test('inspect and JSON never show a key or a pepper', () => {
  const pepper = 'Qm9yZWFsaXMtcGVwcGVyLWZvci1iYXN0aW9uLXRlc3Rz';
  const hasher = new ApiKeyHasher(pepper, { version: 2, previous: [{ version: 1, pepper: randomBytes(32) }] });
  const issued = hasher.generate();
  for (const shown of [
    inspect(hasher),
    inspect(hasher, { showHidden: true, getters: true }),
    JSON.stringify(hasher),
    String(hasher),
  ]) {
    assert.ok(!shown.includes(pepper), shown);
  }
  assert.equal(inspect(hasher), 'ApiKeyHasher { version: 2, previousVersions: [ 1 ] }');
  for (const shown of [
    inspect(issued),
    inspect(issued, { showHidden: true, getters: true }),
    inspect({ nested: [issued] }, { depth: 5, getters: true }),
    JSON.stringify(issued),
    String(issued),
    Object.keys(issued).join(),
  ]) {
    assert.ok(!shown.includes(issued.key), shown);
    assert.ok(!shown.includes(issued.key.slice(-49, -6)), shown);
    assert.ok(!shown.includes(issued.digest), shown);
  }
  assert.equal(inspect(issued), `IssuedApiKey { prefix: 'bst', id: '${issued.id}' }`);
});
