'use strict';
// Express middleware over the framework-neutral HTTP layer (http.js):
// `rateLimit`, `authenticate`, `requireUser`, `requireRole`, `lockout`, `upstream` and the
// error handler `problemHandler`. Express is not loaded: every middleware is a
// plain `(req, res, next)` function, so the same functions serve Express 4 and
// 5, Connect, and node:http with a hand-written `next`. Answers are RFC 9457
// problem+json (see docs/node.md#answers).

const http = require('./http.js');
const observability = require('./observability.js');
const { invalidArgument } = require('./errors.js');

/** Runs `step(req, res)` (a Promise of whether to go on) and calls `next` once, with any error. */
function middleware(step) {
  return function bastionMiddleware(req, res, next) {
    let promise;
    try {
      promise = step(req, res);
    } catch (err) {
      next(err);
      return;
    }
    promise.then((goOn) => {
      if (goOn) next();
    }, next);
  };
}

/**
 * A rate limit: every answer carries the rate-limit headers; a refused request is answered 429
 * with `Retry-After` and problem+json, without reaching the route. Options as
 * `http.RateLimitGate`'s (`rate`, `key`, `skip`, `methods`, `store`, `name`, `trustedProxies`,
 * ...). The middleware's `gate` and `limiter` are exposed (`limiter.reset(key)` ...).
 */
function rateLimit(options) {
  const gate = new http.RateLimitGate(options);
  const mw = middleware(async (req, res) => {
    const out = await gate.check(req);
    if (out.answer !== null) {
      http.sendAnswer(res, out.answer);
      return false;
    }
    http.setHeaders(res, out.headers);
    return true;
  });
  mw.gate = gate;
  mw.limiter = gate.limiter;
  return mw;
}

/**
 * Token authentication: sets `req.claims` (the verified claims) and `req.user`
 * (`{ id, claims }`, `id` the `userClaim`, default `sub`); a missing (unless `optional`),
 * malformed, expired, revoked or otherwise invalid token is answered 401 with
 * `WWW-Authenticate: Bearer` and a `code` naming the kind of failure. Options as
 * `http.Authenticator`'s (`verifier` | `tokens` | `jwks` | `key` + `algorithms`, `cookie`, ...).
 */
function authenticate(options) {
  const auth = new http.Authenticator(options);
  const mw = middleware(async (req, res) => {
    const { claims, answer } = await auth.check(req);
    if (answer !== null) {
      http.sendAnswer(res, answer);
      return false;
    }
    req.claims = claims;
    if (claims !== null) {
      const id = claims[auth.userClaim];
      req.user = { id: typeof id === 'string' || typeof id === 'number' ? String(id) : null, claims };
    }
    return true;
  });
  mw.authenticator = auth;
  return mw;
}

/** Admits requests with verified claims (`req.claims`, set by `authenticate`); 401 `NOT_AUTHENTICATED` otherwise. */
function requireUser() {
  return function bastionRequireUser(req, res, next) {
    if (req === null || typeof req !== 'object') {
      next(invalidArgument('req must be a request object'));
      return;
    }
    if (req.claims && typeof req.claims === 'object') {
      next();
      return;
    }
    http.sendAnswer(res, http.unauthorized('authentication required', 'NOT_AUTHENTICATED', null));
  };
}

/**
 * Admits requests whose verified claims (`req.claims`, set by `authenticate`) hold one of
 * `roles` in the `roles` claim (a list or a space-separated string); 401 without claims, 403
 * (`PERMISSION_DENIED`) without the role. A last argument `{ claim }` reads another claim.
 */
function requireRole(...args) {
  const last = args[args.length - 1];
  const options = last !== null && typeof last === 'object' && !Array.isArray(last) ? args.pop() : {};
  const roles = args.length === 1 && Array.isArray(args[0]) ? args[0] : args;
  const check = http.roleCheck(roles, options);
  return function bastionRequireRole(req, res, next) {
    if (req === null || typeof req !== 'object') {
      next(invalidArgument('req must be a request object'));
      return;
    }
    const answer = check(req.claims);
    if (answer !== null) {
      http.sendAnswer(res, answer);
      return;
    }
    next();
  };
}

/**
 * The login lockout: `guard.check` (middleware, before the password check: a locked attempt is
 * answered 429 or 423 with `Retry-After`), `guard.login(req, password, storedHash)` (the whole
 * check under the lockout: rejects with an `HttpProblem` when locked), `guard.recordFailure(req)`
 * and `guard.recordSuccess(req)` around a check made elsewhere, and
 * `guard.invalidCredentials(res)` (the uniform 401). Options as `http.LoginGuard`'s.
 */
function lockout(options) {
  const guard = new http.LoginGuard(options);
  return {
    guard,
    lockout: guard.lockout,
    attempt: (req) => guard.attempt(req),
    check: middleware(async (req, res) => {
      const { answer } = await guard.check(req);
      if (answer !== null) {
        http.sendAnswer(res, answer);
        return false;
      }
      return true;
    }),
    login: (req, password, storedHash) => guard.login(req, password, storedHash),
    async recordFailure(req) {
      const { state, answer } = await guard.recordFailure(req);
      if (answer !== null) throw new http.HttpProblem(answer);
      return state;
    },
    recordSuccess: (req) => guard.recordSuccess(req),
    invalidCredentials(res) {
      http.sendAnswer(res, guard.invalidCredentials());
    },
  };
}

/**
 * The error handler to install after the routes: answers `HttpProblem`s (from `lockout().login`,
 * `upstream`) and bastion's coded errors (`RATE_LIMITED`, `ACCOUNT_LOCKED`, `CIRCUIT_OPEN`,
 * `STORE_UNAVAILABLE`, token errors) as problem+json; passes anything else on.
 * `lockoutStatus`: 429 (default) or 423.
 */
function problemHandler(options) {
  if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) {
    throw invalidArgument('problemHandler options must be an object');
  }
  const { lockoutStatus = 429 } = options ?? {};
  if (lockoutStatus !== 429 && lockoutStatus !== 423) throw invalidArgument('lockoutStatus must be 429 or 423');
  // Express tells error handlers by their four parameters.
  return function bastionProblemHandler(err, req, res, next) {
    const answer = http.answerFor(err, { lockoutStatus });
    if (answer === null || res.headersSent) {
      next(err);
      return;
    }
    http.sendAnswer(res, answer);
  };
}

/**
 * `app.get('/metrics', metricsHandler())`: every bastion metric in the
 * Prometheus text format (`text/plain; version=0.0.4`). It reveals
 * operational detail: serve it where only the scraper reaches it.
 */
function metricsHandler() {
  return function bastionMetrics(req, res) {
    res.statusCode = 200;
    res.setHeader('Content-Type', observability.CONTENT_TYPE);
    res.end(observability.metrics());
  };
}

/**
 * `app.get('/health', healthHandler())`: the health snapshot as JSON, 200 when
 * every store answered its ping within its timeout, 503 otherwise.
 */
function healthHandler() {
  return function bastionHealth(req, res, next) {
    observability.health().then((snapshot) => {
      res.statusCode = snapshot.ok ? 200 : 503;
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify(snapshot));
    }, next);
  };
}

module.exports = {
  metricsHandler,
  healthHandler,
  rateLimit,
  authenticate,
  requireUser,
  requireRole,
  lockout,
  upstream: http.upstream,
  problemHandler,
};
