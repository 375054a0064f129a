'use strict';
// bastion-engine: a drop-in for `jsonwebtoken` (sign, verify, decode and its
// error classes) with Promise twins, typed keys, an injectable clock, and
// password hashing under `password`. Every rule lives in the native core;
// every error carries the core's stable `code`.

const native = require('../index.js');
const jwt = require('./jwt.js');
const jwks = require('./jwks.js');
const password = require('./password.js');

module.exports = {
  ...jwt,
  Key: native.Key,
  KeySet: jwks.KeySet,
  JwksClient: jwks.JwksClient,
  ManualClock: native.ManualClock,
  Verifier: native.Verifier,
  setVerifiedTokenCacheSize: native.setVerifiedTokenCacheSize,
  password,
};
