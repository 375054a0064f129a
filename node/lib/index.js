'use strict';
// bastion-engine: a drop-in for `jsonwebtoken` (sign, verify, decode and its
// error classes) with Promise twins, typed keys, an injectable clock,
// password hashing under `password`, start-up checks of secrets, API keys and
// the store-backed API key registry (`ApiKeys`), the rate limiter
// (`RateLimiter`), account lockout (`Lockout`), the circuit breaker
// (`CircuitBreaker`), single-flight (`SingleFlight`) and the cache shared
// across processes (`SharedCache`), and the HTTP integration: Express
// middleware (`rateLimit`, `authenticate`, `requireUser`, `requireRole`, `lockout`,
// `upstream`, `problemHandler`, `metricsHandler`, `healthHandler`) over a
// framework-neutral layer (`web`), and observability: the process-wide
// security `events` emitter, `metrics()` (Prometheus text) and `health()`.
// Every rule lives in the native core; every error carries the core's stable
// `code`.

const { inspect } = require('node:util');
const native = require('../index.js');
const jwt = require('./jwt.js');
const jwks = require('./jwks.js');
const password = require('./password.js');
const lifecycle = require('./lifecycle.js');
const ratelimit = require('./ratelimit.js');
const { Lockout } = require('./lockout.js');
const { CircuitBreaker, BreakerPermit } = require('./breaker.js');
const { SingleFlight } = require('./singleflight.js');
const { SharedCache } = require('./cache.js');
const web = require('./http.js');
const express = require('./express.js');
const observability = require('./observability.js');

// Inspection shows what identifies a key or a hasher, never the plaintext key
// or a pepper, even with `util.inspect(x, { getters: true })`.
native.IssuedApiKey.prototype[inspect.custom] = function inspectIssuedApiKey() {
  return `IssuedApiKey { prefix: ${inspect(this.prefix)}, id: ${inspect(this.id)} }`;
};
native.ApiKeyHasher.prototype[inspect.custom] = function inspectApiKeyHasher() {
  return `ApiKeyHasher { version: ${this.version}, previousVersions: ${inspect(this.previousVersions)} }`;
};
native.CreatedApiKey.prototype[inspect.custom] = function inspectCreatedApiKey() {
  return `CreatedApiKey { id: ${inspect(this.id)} }`;
};

module.exports = {
  ...jwt,
  Key: native.Key,
  KeySet: jwks.KeySet,
  JwksClient: jwks.JwksClient,
  ManualClock: native.ManualClock,
  Verifier: native.Verifier,
  setVerifiedTokenCacheSize: native.setVerifiedTokenCacheSize,
  validateSecret: native.validateSecret,
  checkSigningKeySeparate: native.checkSigningKeySeparate,
  clientIp: native.clientIp,
  clientKey: native.clientKey,
  ApiKeyHasher: native.ApiKeyHasher,
  IssuedApiKey: native.IssuedApiKey,
  apiKeyId: native.apiKeyId,
  Store: lifecycle.Store,
  TokenService: lifecycle.TokenService,
  ApiKeys: lifecycle.ApiKeys,
  CreatedApiKey: native.CreatedApiKey,
  RateLimiter: ratelimit.RateLimiter,
  Decision: ratelimit.Decision,
  Lockout,
  CircuitBreaker,
  BreakerPermit,
  SingleFlight,
  SharedCache,
  password,
  rateLimit: express.rateLimit,
  authenticate: express.authenticate,
  requireUser: express.requireUser,
  requireRole: express.requireRole,
  lockout: express.lockout,
  upstream: express.upstream,
  problemHandler: express.problemHandler,
  metricsHandler: express.metricsHandler,
  healthHandler: express.healthHandler,
  events: observability.events,
  metrics: observability.metrics,
  health: observability.health,
  METRICS_CONTENT_TYPE: observability.CONTENT_TYPE,
  HttpProblem: web.HttpProblem,
  web,
};
