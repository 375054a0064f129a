// clientIp / clientKey through the Node binding: req.headers objects (values
// may be arrays), [name, value] pairs, options and typed errors. The rules
// are covered by tests/vectors/client_ip.json (vectors.test.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bastion } from './helpers.mjs';

const { clientIp, clientKey } = bastion;

test('req.headers objects, arrays and pairs', () => {
  const opts = { trustedProxies: ['10.0.0.0/8'] };
  assert.equal(clientIp('10.0.0.1', { 'x-forwarded-for': '6.6.6.6, 198.51.100.9' }, opts), '198.51.100.9');
  assert.equal(clientIp('10.0.0.1', { 'x-forwarded-for': ['6.6.6.6', '198.51.100.9'] }, opts), '198.51.100.9');
  assert.equal(clientIp('10.0.0.1', { 'x-forwarded-for': undefined }, opts), '10.0.0.1');
  assert.equal(clientIp('10.0.0.1', [['X-Forwarded-For', '198.51.100.9']], opts), '198.51.100.9');
  assert.equal(clientIp('10.0.0.1', { 'x-forwarded-for': '198.51.100.9' }), '10.0.0.1');
  assert.equal(clientIp('::ffff:127.0.0.1', { 'x-forwarded-for': '198.51.100.9' }, { trustedProxies: 'loopback' }), '198.51.100.9');
});

test('hop counts, Forwarded, keys', () => {
  assert.equal(clientIp('3.3.3.3', { 'x-forwarded-for': '1.1.1.1, 2.2.2.2' }, { trustedProxies: 1 }), '2.2.2.2');
  assert.equal(
    clientIp('::1', { forwarded: 'for="[2001:db8::1]:4711"' }, { trustedProxies: ['::1'], header: 'Forwarded' }),
    '2001:db8::1',
  );
  assert.equal(clientKey('2001:db8:1:2::77', {}, { ipv6Prefix: 64 }), '2001:db8:1:2::/64');
});

test('typed errors', () => {
  for (const options of [
    { trustedProxies: ['10.0.0.1/8'] },
    { trustedProxies: ['0.0.0.0/0'] },
    { trustedProxies: 256 },
    { trustedProxies: 1.5 },
    { ipv6Prefix: 0 },
    { ipv6Prefix: 1000 },
    { header: 'X-Client-IP' },
  ]) {
    assert.throws(() => clientKey('10.0.0.1', {}, options), { code: 'INVALID_ARGUMENT' }, JSON.stringify(options));
  }
  assert.throws(() => clientIp('', {}), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => clientIp('10.0.0.1', 42), { code: 'INVALID_ARGUMENT' });
  assert.throws(() => clientIp('10.0.0.1', [['a']]), { code: 'INVALID_ARGUMENT' });
});
