'use strict';
// A drop-in for the `jsonwebtoken` package over bastion's native core.
//
// This file converts jsonwebtoken's arguments and option names into the
// native call, and the core's coded errors into jsonwebtoken's error classes
// and messages. Every rule (algorithms, key families, key strength, claims,
// time) is the core's.

const { KeyObject, createPrivateKey, createPublicKey } = require('node:crypto');
const native = require('../index.js');
const timespan = require('./timespan.js');
const { JsonWebTokenError, TokenExpiredError, NotBeforeError, codedError } = require('./errors.js');

const { Key, ManualClock, Verifier } = native;
const EMPTY = Object.freeze({});
const NO_CLAIMS = Object.freeze([]);

// ---- keys -------------------------------------------------------------------

/** Keys made from node:crypto KeyObjects, exported once per object. */
const keyObjects = new WeakMap();

function fromKeyObject(ko) {
  let key = keyObjects.get(ko);
  if (key === undefined) {
    if (ko.type === 'secret') {
      key = Key.hmac(ko.export());
    } else {
      let jwk;
      try {
        jwk = ko.export({ format: 'jwk' });
      } catch {
        jwk = undefined; // e.g. RSA-PSS keys: fall back to DER
      }
      key = jwk !== undefined
        ? Key.fromJwk(jwk)
        : Key.fromDer(ko.export({ format: 'der', type: ko.type === 'private' ? 'pkcs8' : 'spki' }));
    }
    keyObjects.set(ko, key);
  }
  return key;
}

/**
 * The native key argument for what jsonwebtoken accepts: a string or Buffer
 * (classified and cached by the core), a `Key`, a node:crypto `KeyObject`,
 * a `{ key, passphrase }` object (read through node:crypto, e.g. encrypted
 * PEM), a JWK object, or any Uint8Array.
 */
function keyArg(key, forSigning) {
  if (typeof key === 'string' || key instanceof Key || Buffer.isBuffer(key)) return key;
  if (key instanceof KeyObject) return fromKeyObject(key);
  if (ArrayBuffer.isView(key)) return Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  if (key !== null && typeof key === 'object') {
    if (typeof key.kty === 'string') return Key.fromJwk(key);
    if ('key' in key) {
      let ko;
      try {
        ko = forSigning ? createPrivateKey(key) : createPublicKey(key);
      } catch (e) {
        throw codedError(`the key could not be read: ${e.message}`, 'INVALID_KEY', e);
      }
      return fromKeyObject(ko);
    }
  }
  throw codedError(
    'the key must be a string, a Buffer, a Key, a KeyObject, a JWK object or { key, passphrase }',
    'INVALID_ARGUMENT',
  );
}

// ---- sign -------------------------------------------------------------------

const SIGN_OPTIONS = {
  expiresIn: (v) => Number.isInteger(v) || (typeof v === 'string' && v !== ''),
  notBefore: (v) => Number.isInteger(v) || (typeof v === 'string' && v !== ''),
  audience: (v) => typeof v === 'string' || Array.isArray(v),
  algorithm: (v) => typeof v === 'string',
  header: (v) => isPlainObject(v),
  encoding: (v) => typeof v === 'string',
  issuer: (v) => typeof v === 'string',
  subject: (v) => typeof v === 'string',
  jwtid: (v) => typeof v === 'string',
  noTimestamp: (v) => typeof v === 'boolean',
  keyid: (v) => typeof v === 'string',
  mutatePayload: (v) => typeof v === 'boolean',
  allowInsecureKeySizes: (v) => typeof v === 'boolean',
  allowInvalidAsymmetricKeyTypes: (v) => typeof v === 'boolean',
  clock: (v) => v instanceof ManualClock,
};

const SIGN_MESSAGES = {
  expiresIn: '"expiresIn" should be a number of seconds or string representing a timespan',
  notBefore: '"notBefore" should be a number of seconds or string representing a timespan',
  audience: '"audience" must be a string or array',
  algorithm: '"algorithm" must be a valid string enum value',
  header: '"header" must be an object',
  encoding: '"encoding" must be a string',
  issuer: '"issuer" must be a string',
  subject: '"subject" must be a string',
  jwtid: '"jwtid" must be a string',
  noTimestamp: '"noTimestamp" must be a boolean',
  keyid: '"keyid" must be a string',
  mutatePayload: '"mutatePayload" must be a boolean',
  allowInsecureKeySizes: '"allowInsecureKeySizes" must be a boolean',
  allowInvalidAsymmetricKeyTypes: '"allowInvalidAsymmetricKeyTypes" must be a boolean',
  clock: '"clock" must be a ManualClock',
};

const CLAIM_OPTIONS = [['audience', 'aud'], ['issuer', 'iss'], ['subject', 'sub'], ['jwtid', 'jti']];

function isPlainObject(v) {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function invalid(message) {
  return codedError(message, 'INVALID_ARGUMENT');
}

/** jsonwebtoken's `sign` arguments as the native call's arguments. */
function signArgs(payload, secretOrPrivateKey, options) {
  if (!secretOrPrivateKey) throw codedError('secretOrPrivateKey must have a value', 'INVALID_KEY');
  if (payload === undefined) throw invalid('payload is required');
  if (typeof payload !== 'object' || payload === null || Buffer.isBuffer(payload)) {
    throw invalid('the payload must be a plain object: bastion signs JSON claims sets only (string and Buffer payloads are not supported)');
  }
  if (!isPlainObject(payload)) throw invalid('Expected "payload" to be a plain object.');
  if (!isPlainObject(options)) throw invalid('Expected "options" to be a plain object.');
  for (const name of Object.keys(options)) {
    const valid = SIGN_OPTIONS[name];
    if (valid === undefined) throw invalid(`"${name}" is not allowed in "options"`);
    if (options[name] !== undefined && !valid(options[name])) {
      throw invalid(SIGN_MESSAGES[name]);
    }
  }
  if (payload.exp !== undefined && options.expiresIn !== undefined) {
    throw invalid('Bad "options.expiresIn" option the payload already has an "exp" property.');
  }
  if (payload.nbf !== undefined && options.notBefore !== undefined) {
    throw invalid('Bad "options.notBefore" option the payload already has an "nbf" property.');
  }
  const claims = options.mutatePayload ? payload : Object.assign({}, payload);
  const now = options.clock ? options.clock.now() : Date.now() / 1000;
  const timestamp = claims.iat || Math.floor(now);
  if (options.noTimestamp) delete claims.iat;
  else claims.iat = timestamp;
  if (options.notBefore !== undefined) {
    claims.nbf = timespan.after(options.notBefore, timestamp);
    if (claims.nbf === undefined) {
      throw invalid('"notBefore" should be a number of seconds or string representing a timespan eg: "1d", "20h", 60');
    }
  }
  if (options.expiresIn !== undefined) {
    claims.exp = timespan.after(options.expiresIn, timestamp);
    if (claims.exp === undefined) {
      throw invalid('"expiresIn" should be a number of seconds or string representing a timespan eg: "1d", "20h", 60');
    }
  }
  for (const [option, claim] of CLAIM_OPTIONS) {
    if (options[option] !== undefined) {
      if (claims[claim] !== undefined) {
        throw invalid(`Bad "options.${option}" option. The payload already has an "${claim}" property.`);
      }
      claims[claim] = options[option];
    }
  }
  const header = options.header;
  return [
    json(claims, 'payload'),
    keyArg(secretOrPrivateKey, true),
    (header && header.alg) || options.algorithm || 'HS256',
    header ? json(header, 'header') : undefined,
    options.keyid,
    options.allowInsecureKeySizes,
  ];
}

function json(value, name) {
  try {
    return JSON.stringify(value);
  } catch (e) {
    throw codedError(`the ${name} cannot be serialised as JSON: ${e.message}`, 'INVALID_ARGUMENT', e);
  }
}

/** A native sign error as jsonwebtoken would throw it: a plain coded Error. */
function signError(err) {
  return typeof err.code === 'string' ? codedError(err.message, err.code, err) : err;
}

/**
 * jsonwebtoken's `sign(payload, secretOrPrivateKey, [options, callback])`:
 * returns the token, or with a callback signs off the main thread.
 */
function sign(payload, secretOrPrivateKey, options, callback) {
  if (typeof options === 'function') {
    callback = options;
    options = EMPTY;
  }
  let args;
  try {
    args = signArgs(payload, secretOrPrivateKey, options || EMPTY);
  } catch (err) {
    if (typeof callback === 'function') return callback(err);
    throw err;
  }
  if (typeof callback === 'function') {
    native.signAsync(...args).then(
      (token) => process.nextTick(callback, null, token),
      (err) => process.nextTick(callback, signError(err)),
    );
    return undefined;
  }
  try {
    return native.sign(...args);
  } catch (err) {
    throw signError(err);
  }
}

/** `sign` computed off the main thread, as a Promise. */
function signAsync(payload, secretOrPrivateKey, options) {
  let args;
  try {
    args = signArgs(payload, secretOrPrivateKey, options || EMPTY);
  } catch (err) {
    return Promise.reject(err);
  }
  return native.signAsync(...args).catch((err) => {
    throw signError(err);
  });
}

// ---- verify -----------------------------------------------------------------

function jwtError(message, code, inner) {
  return new JsonWebTokenError(message, inner, code);
}

/** Checks jsonwebtoken makes before touching the token; throws its errors. */
function precheck(token, key, o) {
  if (o.clockTimestamp && typeof o.clockTimestamp !== 'number') {
    throw jwtError('clockTimestamp must be a number', 'INVALID_ARGUMENT');
  }
  if (o.nonce !== undefined && (typeof o.nonce !== 'string' || o.nonce.trim() === '')) {
    throw jwtError('nonce must be a non-empty string', 'INVALID_ARGUMENT');
  }
  if (!token) throw jwtError('jwt must be provided', 'MALFORMED_TOKEN');
  if (typeof token !== 'string') throw jwtError('jwt must be a string', 'INVALID_ARGUMENT');
  if (!key) throw jwtError('secret or public key must be provided', 'INVALID_KEY');
}

function list(v) {
  return typeof v === 'string' ? [v] : v;
}

function audienceList(audience) {
  const all = Array.isArray(audience) ? audience : [audience];
  if (all.some((a) => a instanceof RegExp)) {
    throw jwtError('RegExp audiences are not supported: list the accepted audiences as strings', 'INVALID_ARGUMENT');
  }
  return all;
}

function spanOption(value, name) {
  const secs = timespan.seconds(value);
  if (secs === undefined) {
    throw jwtError(`"${name}" should be a number of seconds or string representing a timespan eg: "1d", "20h", 60`, 'INVALID_ARGUMENT');
  }
  return secs;
}

function verifyKey(key) {
  try {
    return keyArg(key, false);
  } catch (err) {
    throw jwtError(err.message, err.code, err);
  }
}

/**
 * Calls `fn` (`native.verify` or `native.verifyAsync`) with jsonwebtoken's
 * options as its positional arguments.
 */
function callVerify(fn, token, key, o) {
  if (o === EMPTY) return fn(token, verifyKey(key), undefined, undefined, undefined, NO_CLAIMS);
  return fn(
    token,
    verifyKey(key),
    o.algorithms,
    o.clockTimestamp || o.clock,
    o.clockTolerance,
    o.requiredClaims ?? NO_CLAIMS,
    o.audience ? audienceList(o.audience) : undefined,
    o.issuer ? list(o.issuer) : undefined,
    o.subject || undefined,
    o.jwtid || undefined,
    o.maxAge ? spanOption(o.maxAge, 'maxAge') : undefined,
    o.typ,
    o.maxTokenSize,
    o.criticalExtensions,
    o.ignoreExpiration ? false : undefined,
    o.ignoreNotBefore ? false : undefined,
    undefined,
    undefined,
    undefined,
    o.allowInsecureKeySizes,
    o.nonce || undefined,
  );
}

function claimMessage(claim, o) {
  switch (claim) {
    case 'aud':
      return o.audience
        ? `jwt audience invalid. expected: ${audienceList(o.audience).join(' or ')}`
        : 'jwt audience invalid. the token has an "aud" claim and no audience option was given';
    case 'iss':
      return `jwt issuer invalid. expected: ${o.issuer}`;
    case 'sub':
      return `jwt subject invalid. expected: ${o.subject}`;
    case 'jti':
      return `jwt jwtid invalid. expected: ${o.jwtid}`;
    case 'nonce':
      return `jwt nonce invalid. expected: ${o.nonce}`;
    default:
      return undefined;
  }
}

/** A native verify error as the jsonwebtoken error class with its message. */
function verifyError(err, token, o) {
  const code = err.code;
  if (typeof code !== 'string') return err;
  const date = typeof err.at === 'number' ? new Date(err.at * 1000) : undefined;
  let message;
  switch (code) {
    case 'TOKEN_EXPIRED':
      // The core names the claim: `exp` for expiry, `iat` when maxAge ran out.
      return new TokenExpiredError(err.claim === 'iat' ? 'maxAge exceeded' : 'jwt expired', date, err);
    case 'TOKEN_NOT_YET_VALID':
      return new NotBeforeError('jwt not active', date, err);
    case 'MALFORMED_TOKEN':
      message = err.claim === 'exp' || err.claim === 'nbf' ? `invalid ${err.claim} value` : 'jwt malformed';
      break;
    case 'INVALID_ISSUED_AT':
      message = 'invalid iat value';
      break;
    case 'INVALID_ALGORITHM':
      message = 'invalid algorithm';
      break;
    case 'INVALID_SIGNATURE':
      message = 'invalid signature';
      break;
    case 'INVALID_AUDIENCE':
    case 'INVALID_ISSUER':
    case 'INVALID_SUBJECT':
    case 'INVALID_JTI':
    case 'INVALID_NONCE':
      message = claimMessage(err.claim, o);
      break;
    case 'MISSING_CLAIM':
      message = err.claim === 'iat' && o.maxAge
        ? 'iat required when maxAge is specified'
        : claimMessage(err.claim, o) || `jwt must contain the "${err.claim}" claim`;
      break;
    case 'INVALID_TOKEN_TYPE':
      message = `jwt type invalid. expected: ${o.typ}`;
      break;
    default:
      message = err.message;
  }
  return new JsonWebTokenError(message || err.message, err, code);
}

/** The verified result: payload, or { header, payload, signature } with `complete`. */
function result(json, token, o) {
  const payload = JSON.parse(json);
  if (o.complete !== true) return payload;
  return {
    header: JSON.parse(native.decodeHeader(token, o.maxTokenSize)),
    payload,
    signature: token.slice(token.lastIndexOf('.') + 1),
  };
}

// ---- prepared verifiers ------------------------------------------------------
//
// jsonwebtoken-style code passes the same options on every request, often as a
// fresh object literal; converting them through napi costs more than an HMAC.
// A native `Verifier` (options converted once) is kept per configuration. The
// cache key is built from every option value that reaches the core, each one
// length-prefixed (never from object identity), so a changed option can never
// reuse a verifier made for another configuration. Bounded; only string and
// `Key` keys; any unusual option value takes the ordinary path, which reports
// it exactly as before.

const PREPARED_MAX = 256;
const preparedByString = new Map();
const preparedByKey = new WeakMap();

/** An unambiguous text for one option value, or undefined when unusual. */
function part(v) {
  if (v === undefined) return '~';
  switch (typeof v) {
    case 'string':
      return `${v.length}:${v}`;
    case 'number':
      return `n${v};`;
    case 'boolean':
      return v ? 'T' : 'F';
    default:
  }
  if (!Array.isArray(v)) return undefined;
  let out = `a${v.length};`;
  for (let i = 0; i < v.length; i++) {
    if (typeof v[i] !== 'string') return undefined;
    out += `${v[i].length}:${v[i]}`;
  }
  return out;
}

/**
 * The configuration's cache key: every option value that reaches the core, in
 * a fixed order (named reads, so V8 keeps them fast). Every part starts with
 * '~', a digit, 'n', 'T', 'F' or 'a'; an unusual value gives the text
 * "undefined" and the configuration is not prepared.
 */
function configId(o) {
  const id = `${part(o.algorithms)}${part(o.clockTolerance)}${part(o.requiredClaims)}${part(o.audience)}${part(
    o.issuer,
  )}${part(o.subject)}${part(o.jwtid)}${part(o.maxAge)}${part(o.typ)}${part(o.maxTokenSize)}${part(
    o.criticalExtensions,
  )}${part(o.ignoreExpiration)}${part(o.ignoreNotBefore)}${part(o.allowInsecureKeySizes)}${part(o.nonce)}`;
  return id.includes('undefined') ? undefined : id;
}

/** The native VerifierOptions for `o`, converted as the positional path converts them. */
function verifierOptions(o) {
  const options = {
    algorithms: o.algorithms,
    leeway: o.clockTolerance,
    requiredClaims: o.requiredClaims ?? NO_CLAIMS,
    audience: o.audience ? audienceList(o.audience) : undefined,
    issuer: o.issuer ? list(o.issuer) : undefined,
    subject: o.subject || undefined,
    jti: o.jwtid || undefined,
    maxAge: o.maxAge ? spanOption(o.maxAge, 'maxAge') : undefined,
    typ: o.typ,
    maxTokenSize: o.maxTokenSize,
    criticalExtensions: o.criticalExtensions,
    validateExp: o.ignoreExpiration ? false : undefined,
    validateNbf: o.ignoreNotBefore ? false : undefined,
    allowWeakKeys: o.allowInsecureKeySizes,
    nonce: o.nonce || undefined,
  };
  for (const name of Object.keys(options)) if (options[name] === undefined) delete options[name];
  return options;
}

/** A prepared native Verifier for (key, o), or undefined to take the ordinary path. */
function preparedVerifier(key, o) {
  if (o.clock !== undefined || o.clockTimestamp) return undefined;
  let cache;
  if (typeof key === 'string') {
    cache = preparedByString.get(key);
    if (cache === undefined) {
      if (preparedByString.size >= PREPARED_MAX) preparedByString.clear();
      preparedByString.set(key, (cache = new Map()));
    }
  } else if (key instanceof Key) {
    cache = preparedByKey.get(key);
    if (cache === undefined) preparedByKey.set(key, (cache = new Map()));
  } else {
    return undefined;
  }
  const id = configId(o);
  if (id === undefined) return undefined;
  let verifier = cache.get(id);
  if (verifier === undefined) {
    try {
      verifier = new Verifier(key, verifierOptions(o));
    } catch {
      return undefined; // the ordinary path reports the problem
    }
    if (cache.size >= PREPARED_MAX) cache.clear();
    cache.set(id, verifier);
  }
  return verifier;
}

function verifySync(token, key, o) {
  precheck(token, key, o);
  let json;
  try {
    const verifier = o === EMPTY ? undefined : preparedVerifier(verifyKey(key), o);
    json = verifier === undefined ? callVerify(native.verify, token, key, o) : verifier.verify(token);
  } catch (err) {
    throw err instanceof JsonWebTokenError ? err : verifyError(err, token, o);
  }
  return result(json, token, o);
}

const KEY_LOOKUP_CODES = new Set(['KEY_NOT_FOUND', 'JWKS_FETCH_FAILED', 'INVALID_KEY_SET']);

function keyFromCallback(getKey, token, forPromise) {
  let header;
  try {
    header = JSON.parse(native.decodeHeader(token));
  } catch (err) {
    return Promise.reject(jwtError('invalid token', err.code, err));
  }
  return new Promise((resolve, reject) => {
    const done = (err, key) => {
      // A failed JWKS lookup keeps its code (401 and 503 are different answers).
      const code = err && KEY_LOOKUP_CODES.has(err.code) ? err.code : 'INVALID_KEY';
      if (err) reject(jwtError(`error in secret or public key callback: ${err.message}`, code, err));
      else resolve(key);
    };
    if (forPromise && getKey.length < 2) Promise.resolve().then(() => getKey(header)).then((k) => done(null, k), done);
    else getKey(header, done);
  });
}

/**
 * jsonwebtoken's `verify(token, secretOrPublicKey, [options, callback])`:
 * returns the payload (or `{ header, payload, signature }` with `complete`),
 * or calls `callback(err, payload)`. `secretOrPublicKey` may be a function
 * `(header, callback)` when a callback is given.
 */
function verify(token, secretOrPublicKey, options, callback) {
  if (typeof options === 'function' && !callback) {
    callback = options;
    options = EMPTY;
  }
  const o = options || EMPTY;
  if (typeof callback !== 'function') {
    if (typeof secretOrPublicKey === 'function') {
      throw jwtError('verify must be called asynchronous if secret or public key is provided as a callback', 'INVALID_ARGUMENT');
    }
    return verifySync(token, secretOrPublicKey, o);
  }
  if (typeof secretOrPublicKey === 'function' && typeof token === 'string' && token) {
    keyFromCallback(secretOrPublicKey, token, false).then(
      (key) => {
        let payload;
        try {
          payload = verifySync(token, key, o);
        } catch (err) {
          return callback(err);
        }
        return callback(null, payload);
      },
      (err) => callback(err),
    );
    return undefined;
  }
  let payload;
  try {
    payload = verifySync(token, secretOrPublicKey, o);
  } catch (err) {
    return callback(err);
  }
  return callback(null, payload);
}

/**
 * `verify` computed off the main thread, as a Promise. `secretOrPublicKey`
 * may also be a function `(header) => key | Promise<key>` or
 * `(header, callback)`.
 */
async function verifyAsync(token, secretOrPublicKey, options) {
  const o = options || EMPTY;
  let key = secretOrPublicKey;
  if (typeof key === 'function' && typeof token === 'string' && token) {
    key = await keyFromCallback(key, token, true);
  }
  precheck(token, key, o);
  let json;
  try {
    json = await callVerify(native.verifyAsync, token, key, o);
  } catch (err) {
    throw err instanceof JsonWebTokenError ? err : verifyError(err, token, o);
  }
  return result(json, token, o);
}

// ---- decode -----------------------------------------------------------------

/**
 * jsonwebtoken's `decode(token, { complete })`: the payload (or `{ header,
 * payload, signature }`) WITHOUT verification, or null when the token cannot
 * be decoded.
 */
function decode(token, options) {
  const o = options || EMPTY;
  let parts;
  try {
    parts = native.decode(token, o.maxTokenSize);
  } catch {
    return null;
  }
  const payload = JSON.parse(parts.payload);
  if (o.complete !== true) return payload;
  return {
    header: JSON.parse(parts.header),
    payload,
    signature: token.slice(token.lastIndexOf('.') + 1),
  };
}

module.exports = {
  sign,
  verify,
  decode,
  signAsync,
  verifyAsync,
  JsonWebTokenError,
  NotBeforeError,
  TokenExpiredError,
};
