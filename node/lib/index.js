'use strict';
// bastion-engine: a drop-in for `jsonwebtoken` (sign, verify, decode and its
// error classes) with Promise twins, typed keys, an injectable clock,
// password hashing under `password`, and start-up checks of secrets. Every
// rule lives in the native core; every error carries the core's stable `code`.

const native = require('../index.js');
const jwt = require('./jwt.js');
const password = require('./password.js');

module.exports = {
  ...jwt,
  Key: native.Key,
  ManualClock: native.ManualClock,
  Verifier: native.Verifier,
  setVerifiedTokenCacheSize: native.setVerifiedTokenCacheSize,
  validateSecret: native.validateSecret,
  checkSigningKeySeparate: native.checkSigningKeySeparate,
  password,
};
