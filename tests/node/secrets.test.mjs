// validateSecret and checkSigningKeySeparate: every refusal reason with its
// code, acceptance of values from node:crypto's generator, and messages that
// never contain the secret.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { bastion, native, throwsCode } from './helpers.mjs';

const { validateSecret, checkSigningKeySeparate } = bastion;

/** Django's get_random_secret_key(): 50 characters of its alphabet. */
function djangoKey() {
  const chars = 'abcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*(-_=+)';
  return Array.from({ length: 50 }, () => chars[randomInt(chars.length)]).join('');
}

function refused(secret, purpose, reason) {
  const err = throwsCode(() => validateSecret(secret, purpose), 'WEAK_SECRET');
  assert.ok(err.message.includes(reason), `${err.message} lacks ${reason}`);
  const text = Buffer.isBuffer(secret) ? secret.toString('latin1') : secret;
  assert.ok(!err.message.includes(text));
  return err;
}

test('the same functions from the package and the native addon', () => {
  assert.equal(bastion.validateSecret, native.validateSecret);
  assert.equal(bastion.checkSigningKeySeparate, native.checkSigningKeySeparate);
});

test('random values pass for every purpose', () => {
  for (let i = 0; i < 200; i++) {
    assert.equal(validateSecret(randomBytes(32).toString('base64url')), undefined);
    validateSecret(randomBytes(32));
    validateSecret(randomBytes(16).toString('hex'), 'HS256');
    validateSecret(randomBytes(48).toString('base64url'), 'HS384');
    validateSecret(randomBytes(64).toString('hex'), 'HS512');
    validateSecret(randomBytes(32), 'pepper');
    validateSecret(randomBytes(32).toString('base64'), 'generic');
    validateSecret(randomBytes(50).toString('base64url'), 'django');
    validateSecret(djangoKey(), 'django');
  }
});

test('too short for the purpose', () => {
  const key = randomBytes(64).toString('base64url');
  refused(key.slice(0, 31), 'HS256', 'HS256 needs at least 32 bytes');
  refused(key.slice(0, 31), undefined, 'HS256 needs at least 32 bytes');
  refused(key.slice(0, 47), 'HS384', 'HS384 needs at least 48 bytes');
  refused(key.slice(0, 63), 'HS512', 'HS512 needs at least 64 bytes');
  refused(key.slice(0, 49), 'django', 'SECRET_KEY is 49 characters; at least 50');
  refused(randomBytes(31), 'pepper', 'at least 32');
  refused('é'.repeat(49), 'django', '49 characters');
});

test("Django's rules", () => {
  refused(`django-insecure-${djangoKey()}`, 'django', 'starts with "django-insecure-"');
  refused('abcd'.repeat(20), 'django', 'only 4 distinct characters');
});

test('placeholders and example values', () => {
  for (const weak of [
    'secret'.repeat(10),
    'changeme'.repeat(8),
    'your-256-bit-secret'.repeat(3),
    `${randomBytes(20).toString('hex')}REPLACE-ME${randomBytes(20).toString('hex')}`,
    `${randomBytes(20).toString('hex')}example${randomBytes(20).toString('hex')}`,
  ]) {
    refused(weak, 'HS256', 'placeholder or example value');
  }
});

test('low entropy and few distinct characters', () => {
  for (const weak of [
    '0123456789'.repeat(5),
    'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMN',
    'qwertyuiopasdfghjklzxcvbnm1234567890QWERTYUIOPASDF',
    'Tr0ub4dor&3'.repeat(5),
    'my-super-secret-jwt-signing-key-2024-production',
  ]) {
    refused(weak, 'HS256', 'low entropy');
  }
  refused('a'.repeat(64), 'HS256', 'only 1 distinct');
  refused(Buffer.alloc(32), 'pepper', 'only 1 distinct');
});

test('key material is not a secret', () => {
  const pem = '-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n';
  refused(pem, 'HS256', 'key material');
});

test('bad arguments', () => {
  throwsCode(() => validateSecret(randomBytes(32), 'RS256'), 'INVALID_ARGUMENT');
  throwsCode(() => validateSecret(randomBytes(32), 7), 'INVALID_ARGUMENT');
  throwsCode(() => validateSecret(42), 'INVALID_ARGUMENT');
  throwsCode(() => validateSecret(randomBytes(5000), 'pepper'), 'INVALID_ARGUMENT');
  throwsCode(() => checkSigningKeySeparate('a', 'b'), 'INVALID_ARGUMENT');
  throwsCode(() => checkSigningKeySeparate('a', {}, true), 'INVALID_ARGUMENT');
});

test('signing key separate from SECRET_KEY', () => {
  const secretKey = djangoKey();
  assert.equal(checkSigningKeySeparate(randomBytes(50).toString('base64url'), secretKey, true), true);
  assert.equal(checkSigningKeySeparate(secretKey.slice(0, 49), secretKey, true), true);
  // Same key: false in development (warn), WEAK_SECRET in production.
  assert.equal(checkSigningKeySeparate(secretKey, secretKey, false), false);
  assert.equal(checkSigningKeySeparate(Buffer.from(secretKey), secretKey, false), false);
  const err = throwsCode(() => checkSigningKeySeparate(secretKey, Buffer.from(secretKey), true), 'WEAK_SECRET');
  assert.match(err.message, /same as SECRET_KEY/);
  assert.ok(!err.message.includes(secretKey));
});
