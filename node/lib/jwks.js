'use strict';
// JWK Sets: the native `KeySet` and `JwksClient` (every rule is the core's),
// plus `JwksClient#getKeyCallback()`, which adapts a client to the
// `secretOrPublicKey` callback of jsonwebtoken's `verify` (and of this
// package's jsonwebtoken-compatible `verify`).

const { createPublicKey } = require('node:crypto');
const native = require('../index.js');

const { JwksClient, KeySet } = native;

/** node:crypto KeyObjects made from the public JWKs of fetched keys (bounded). */
const KEY_OBJECTS_MAX = 64;
const keyObjects = new Map();

function keyObject(key) {
  const { kid, alg, use, ...jwk } = key.publicJwk();
  const id = JSON.stringify(jwk);
  let ko = keyObjects.get(id);
  if (ko === undefined) {
    ko = createPublicKey({ key: jwk, format: 'jwk' });
    if (keyObjects.size >= KEY_OBJECTS_MAX) keyObjects.clear();
    keyObjects.set(id, ko);
  }
  return ko;
}

/**
 * A `(header, callback)` function for `jwt.verify(token, client.getKeyCallback(),
 * { algorithms: [...] }, cb)`: it looks the key up by the header's `kid` and
 * `alg` (fetching the set when needed) and calls back with a node:crypto
 * public `KeyObject`, or with the coded error (`KEY_NOT_FOUND`,
 * `JWKS_FETCH_FAILED`). Works with the `jsonwebtoken` package and with this
 * package's `verify` / `verifyAsync`.
 */
function getKeyCallback() {
  const client = this;
  return function jwksKey(header, callback) {
    const kid = header && typeof header.kid === 'string' ? header.kid : undefined;
    const alg = header && typeof header.alg === 'string' ? header.alg : undefined;
    let pending;
    try {
      pending = client.getSigningKey(kid, alg);
    } catch (err) {
      process.nextTick(callback, err);
      return;
    }
    pending.then(
      (key) => {
        let ko;
        try {
          ko = keyObject(key);
        } catch (err) {
          process.nextTick(callback, err);
          return;
        }
        process.nextTick(callback, null, ko);
      },
      (err) => process.nextTick(callback, err),
    );
  };
}

Object.defineProperty(JwksClient.prototype, 'getKeyCallback', {
  value: getKeyCallback,
  writable: true,
  configurable: true,
});

module.exports = { JwksClient, KeySet };
