'use strict';
// The HTTP layer of bastion-engine, framework-neutral: rate-limit gates,
// token authentication, role checks, the login lockout and upstream calls,
// each answering with RFC 9457 problem+json in the shapes of the Python
// integrations (bastion/_http.py). A request is anything shaped like
// node:http's IncomingMessage (`method`, `url`, `headers` with lower-case
// names, `socket.remoteAddress`): Express's `req`, Fastify's `request.raw`,
// node:http's own. Every rule (limits, client addresses behind proxies,
// token checks, lockout) is the native core's; this file reads requests and
// writes answers. The Express middleware (express.js) is built on it.

const crypto = require('node:crypto');
const native = require('../index.js');
const { Decision, RateLimiter } = require('./ratelimit.js');
const { seconds } = require('./timespan.js');
const { invalidArgument } = require('./errors.js');

const PROBLEM_JSON = 'application/problem+json';

// ---- answers (the core's: the same bytes as the Python integrations') ------------------------

/**
 * An `application/problem+json` answer (RFC 9457): `{ status, headers, body, code, detail }`,
 * the body `{"type":"about:blank","title":<RFC 9110 reason phrase>,"status","detail","code"
 * [,"retry_after"], ...extra}` and `Retry-After` in the headers when `retryAfter` is given.
 */
function problem(status, detail, options) {
  const { code, retryAfter = null, headers = null, extra = null } = checkedOptions(options, 'problem');
  let text;
  if (extra !== null && extra !== undefined) {
    if (typeof extra !== 'object' || Array.isArray(extra)) throw invalidArgument('extra must be an object');
    try {
      text = JSON.stringify(extra);
    } catch {
      throw invalidArgument('extra must hold JSON values');
    }
  }
  return native.httpProblem(status, detail, code, { retryAfter: retryAfter ?? undefined, headers: headers ?? undefined, extra: text });
}

/** 401 with `WWW-Authenticate: Bearer` (RFC 6750: `error` only when a token was sent). */
function unauthorized(detail, code, error = 'invalid_token') {
  return native.httpUnauthorized(detail, code, error);
}

/**
 * The HTTP answer for a bastion error (null for any other error, and for server-side failures):
 * 401 for token and API-key failures, 403 for a refused permission, 429 (or `lockoutStatus`) for
 * a lockout, 429 for a rate limit, 503 for an open circuit, an unreachable store or an identity
 * provider's keys that cannot be fetched. Details name the kind of failure only.
 */
function answerFor(err, options) {
  const { lockoutStatus = 429 } = checkedOptions(options, 'answerFor');
  if (err instanceof HttpProblem) return err.answer;
  const code = err !== null && typeof err === 'object' ? err.code : undefined;
  if (typeof code !== 'string') return null;
  const retryAfter = typeof err.retryAfter === 'number' ? err.retryAfter : null;
  return native.httpAnswerFor(code, retryAfter, lockoutStatus);
}

/**
 * An Error carrying a ready answer (`err.answer`); `err.status` and `err.code` are the answer's,
 * and `err.headers` its headers but `Content-Type`, so that Express's own final handler, when
 * `problemHandler` is not installed, still answers with the status and `Retry-After`.
 */
class HttpProblem extends Error {
  constructor(answer) {
    super(answer.detail);
    this.name = 'HttpProblem';
    this.answer = answer;
    this.status = answer.status;
    this.statusCode = answer.status;
    this.code = answer.code;
    this.headers = { ...answer.headers };
    delete this.headers['Content-Type'];
  }
}

function responseOf(res) {
  if (res === null || typeof res !== 'object' || typeof res.setHeader !== 'function' || typeof res.end !== 'function') {
    throw invalidArgument('res must be a node:http ServerResponse (or Express res)');
  }
  return res;
}

function isAnswer(answer) {
  return (
    answer !== null &&
    typeof answer === 'object' &&
    Number.isInteger(answer.status) &&
    answer.headers !== null &&
    typeof answer.headers === 'object' &&
    typeof answer.body === 'string'
  );
}

/** Writes `answer` on a node:http `ServerResponse` (Express's `res` too) and ends it. */
function sendAnswer(res, answer) {
  responseOf(res);
  if (!isAnswer(answer)) throw invalidArgument('answer must be an answer of problem(), answerFor() ...');
  res.statusCode = answer.status;
  for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
  res.end(answer.body);
}

/** Sets `headers` on a `ServerResponse` that has not sent its headers yet. */
function setHeaders(res, headers) {
  responseOf(res);
  if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) {
    throw invalidArgument('headers must be an object of header values');
  }
  if (res.headersSent) return;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
}

// ---- the client -----------------------------------------------------------------------------

function checkedOptions(options, what) {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw invalidArgument(`${what} options must be an object`);
  }
  return options;
}

/**
 * How the client is found: `trustedProxies` (none by default: the TCP peer is the client and
 * forwarding headers are ignored; a hop count, addresses, CIDR ranges, `"loopback"`,
 * `"private"`, `"linklocal"`), `proxyHeader` (`"X-Forwarded-For"`, `"Forwarded"`,
 * `"X-Real-IP"`) and `ipv6Prefix` (group IPv6 clients in rate-limit keys). The settings are
 * checked when made, so a bad one fails at start-up.
 */
class ClientResolver {
  #ipOptions;
  #keyOptions;

  constructor(options) {
    const { trustedProxies = null, proxyHeader = 'X-Forwarded-For', ipv6Prefix = null } = checkedOptions(
      options,
      'ClientResolver',
    );
    this.#ipOptions = { header: proxyHeader };
    if (trustedProxies !== null && trustedProxies !== undefined) this.#ipOptions.trustedProxies = trustedProxies;
    this.#keyOptions = { ...this.#ipOptions };
    if (ipv6Prefix !== null && ipv6Prefix !== undefined) this.#keyOptions.ipv6Prefix = ipv6Prefix;
    native.clientKey('127.0.0.1', {}, this.#keyOptions);
  }

  /** The client's address behind the trusted proxies, or null without a usable peer address. */
  ip(req) {
    const peer = requestOf(req).socket?.remoteAddress;
    if (typeof peer !== 'string') return null;
    try {
      return native.clientIp(peer, req.headers ?? {}, this.#ipOptions);
    } catch (err) {
      if (err && err.code === 'INVALID_ARGUMENT') return null;
      throw err;
    }
  }

  /** The client's rate-limit key (IPv6 grouped by `ipv6Prefix`); `"unknown"` without a peer address. */
  key(req) {
    const peer = requestOf(req).socket?.remoteAddress;
    if (typeof peer !== 'string') return 'unknown';
    try {
      return native.clientKey(peer, req.headers ?? {}, this.#keyOptions);
    } catch (err) {
      // A peer that is not an address (a Unix socket): one shared key, the strict choice.
      if (err && err.code === 'INVALID_ARGUMENT') return 'unknown';
      throw err;
    }
  }
}

/** `req` itself when it is a request object (node:http's, Express's); INVALID_ARGUMENT otherwise. */
function requestOf(req) {
  if (req === null || typeof req !== 'object') throw invalidArgument('req must be a request object');
  return req;
}

function resolverOf(options) {
  if (options.clients instanceof ClientResolver) return options.clients;
  return new ClientResolver({
    trustedProxies: options.trustedProxies,
    proxyHeader: options.proxyHeader,
    ipv6Prefix: options.ipv6Prefix,
  });
}

/** The verified claims `authenticate` put on the request (undefined when it did not run). */
function claimsOf(req) {
  return req.claims;
}

/** The user id of the request: the claims' `userClaim`, else `req.user` (a string, a number or `{ id }`). */
function userIdOf(req, userClaim) {
  const claims = claimsOf(req);
  if (claims && typeof claims === 'object') {
    const id = claims[userClaim];
    if (typeof id === 'string' || typeof id === 'number') return String(id);
  }
  const user = req.user;
  if (typeof user === 'string' || typeof user === 'number') return String(user);
  if (user && typeof user === 'object' && (typeof user.id === 'string' || typeof user.id === 'number')) {
    return String(user.id);
  }
  return null;
}

// ---- rate limits ----------------------------------------------------------------------------

function rateText(rate) {
  if (typeof rate === 'string') return rate;
  if (rate && typeof rate === 'object' && !Array.isArray(rate)) {
    const { limit, window } = rate;
    const secs = seconds(window);
    if (!Number.isSafeInteger(limit) || limit < 1) throw invalidArgument('limit must be a positive integer');
    if (secs === undefined || !Number.isSafeInteger(secs) || secs < 1) {
      throw invalidArgument('window must be whole seconds (a number, or a span such as "15m")');
    }
    return `${limit}/${secs}s`;
  }
  throw invalidArgument('a rate is a string such as "10/minute" or { limit, window }');
}

function ratesOf(rate) {
  const list = Array.isArray(rate) ? rate : [rate];
  if (list.length === 0) throw invalidArgument('rate needs at least one limit');
  return list.map(rateText).join(';');
}

function partsOf(key) {
  const parts = Array.isArray(key) ? key : [key];
  for (const p of parts) {
    if (typeof p !== 'string' && typeof p !== 'function') {
      throw invalidArgument("a key part is 'ip', 'user', 'route', 'global' or a function of the request");
    }
  }
  return parts;
}

/** The methods a rule covers (the core's categories), or null for every method. */
function methodsOf(methods) {
  const names = native.httpMethods(methods);
  return names === null ? null : new Set(names);
}

/** The request path without its query string. */
function pathOf(req) {
  const url = typeof req.originalUrl === 'string' ? req.originalUrl : req.url;
  if (typeof url !== 'string') return '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/** Express's route template (`/users/:id`) once routed, else the path. */
function routeOf(req) {
  const template = req.route?.path;
  if (typeof template === 'string') return `${req.baseUrl ?? ''}${template}`;
  return pathOf(req);
}

/** The least `remaining` among the limits already applied to a request (whose headers were set). */
const tightest = new WeakMap();

/**
 * The rate-limit headers of `decision`, the core's (the same in every language): `X-RateLimit-Limit`,
 * `X-RateLimit-Remaining`, `X-RateLimit-Reset` (epoch seconds), `RateLimit-Policy`, `RateLimit`
 * (draft-ietf-httpapi-ratelimit-headers) and, when denied, `Retry-After`.
 */
function rateLimitHeaders(decision) {
  if (!(decision instanceof Decision)) throw invalidArgument('decision must be a Decision');
  return decision.headers();
}

/**
 * One rate limit over HTTP requests. `check(req)` resolves to `{ allowed, headers, answer,
 * decision }`: `answer` (`{ status, headers, body }`, a 429 problem with `Retry-After`) when the
 * request must be refused, else null; `headers` the rate-limit headers to put on the eventual
 * response (empty when an earlier limit on this request has less left, or when skipped).
 */
class RateLimitGate {
  #parts;
  #key;
  #functions;
  #needs;
  #methods;
  #skip;
  #cost;
  #clients;
  #userClaim;

  /**
   * @param {object} options `rate` (`"10/minute"`, `{ limit, window }` or a list, all or
   *   nothing), `key` (`'ip'`, `'user'`, `'route'`, `'global'`, a function of the request, or a
   *   list of those), `name`, `cost`, `methods`, `skip(req)`, `store`, `algorithm`,
   *   `outagePolicy`, `localRates`, `onEvent`, `userClaim`, and the client options
   *   (`trustedProxies`, `proxyHeader`, `ipv6Prefix`).
   */
  constructor(options) {
    const o = checkedOptions(options, 'rateLimit');
    const {
      rate,
      key = 'ip',
      name = null,
      cost = 1,
      methods = 'any',
      skip = null,
      store = null,
      algorithm,
      outagePolicy,
      localRates,
      onEvent = null,
      userClaim = 'sub',
    } = o;
    if (rate === undefined) throw invalidArgument('rateLimit needs a rate, e.g. "10/minute"');
    if (skip !== null && typeof skip !== 'function') throw invalidArgument('skip must be a function of the request');
    if (!Number.isSafeInteger(cost) || cost < 1) throw invalidArgument('cost must be a positive integer');
    if (typeof userClaim !== 'string' || userClaim === '') throw invalidArgument('userClaim must be a claim name');
    const rates = ratesOf(rate);
    this.#parts = partsOf(key);
    this.#key = new native.RequestKey(this.#parts.map((p) => (typeof p === 'string' ? p : null)));
    this.#functions = this.#parts.filter((p) => typeof p === 'function');
    this.#needs = {
      client: this.#parts.includes('ip') || this.#parts.includes('user'),
      user: this.#parts.includes('user'),
      route: this.#parts.includes('route'),
    };
    this.#methods = methodsOf(methods);
    this.#skip = skip;
    this.#cost = cost;
    this.#clients = resolverOf(o);
    this.#userClaim = userClaim;
    const limiterOptions = { store, onEvent, name: name ?? defaultName(rates, this.#parts, methods) };
    if (algorithm !== undefined) limiterOptions.algorithm = algorithm;
    if (outagePolicy !== undefined) limiterOptions.outagePolicy = outagePolicy;
    if (localRates !== undefined) limiterOptions.localRates = localRates;
    /** The `RateLimiter` deciding (its `reset`, `refund`, `peek` are available). */
    this.limiter = new RateLimiter(rates, limiterOptions);
  }

  /** The key the request is counted under: the core's composition (`RequestKey`), the same bytes as Python's. */
  async keyOf(req) {
    requestOf(req);
    const facts = { client: '', user: null, method: null, route: null, values: [] };
    if (this.#needs.client) facts.client = this.#clients.key(req);
    if (this.#needs.user) facts.user = userIdOf(req, this.#userClaim);
    if (this.#needs.route) {
      facts.method = String(req.method);
      facts.route = routeOf(req);
    }
    for (const f of this.#functions) {
      const v = await f(req);
      if (typeof v !== 'string') throw invalidArgument('a key function must return a non-empty string');
      facts.values.push(v);
    }
    return this.#key.key(facts);
  }

  /** Whether this limit applies to the request (its methods, its skip function). */
  async applies(req) {
    requestOf(req);
    if (this.#methods !== null && !this.#methods.has(String(req.method).toUpperCase())) return false;
    if (this.#skip !== null && (await this.#skip(req))) return false;
    return true;
  }

  async check(req) {
    if (!(await this.applies(req))) return { allowed: true, headers: {}, answer: null, decision: null };
    const decision = await this.limiter.check(await this.keyOf(req), this.#cost);
    if (!decision.allowed) {
      tightest.set(req, -1);
      const answer = decision.problem();
      return { allowed: false, headers: answer.headers, answer, decision };
    }
    const headers = rateLimitHeaders(decision);
    const before = tightest.get(req);
    if (before !== undefined && before <= decision.remaining) {
      return { allowed: true, headers: {}, answer: null, decision };
    }
    tightest.set(req, decision.remaining);
    return { allowed: true, headers, answer: null, decision };
  }
}

function defaultName(rates, parts, methods) {
  const spec = JSON.stringify([rates, parts.map((p) => (typeof p === 'string' ? p : p.name || 'fn')), methods]);
  return `http-${crypto.createHash('sha256').update(spec).digest('hex').slice(0, 10)}`;
}

// ---- authentication -------------------------------------------------------------------------

const VERIFIER_OPTIONS = [
  'algorithms',
  'leeway',
  'requiredClaims',
  'audience',
  'issuer',
  'subject',
  'maxAge',
  'typ',
  'maxTokenSize',
  'criticalExtensions',
];

function algorithmsOf(algorithms) {
  if (!Array.isArray(algorithms) || algorithms.length === 0 || !algorithms.every((a) => typeof a === 'string')) {
    throw invalidArgument('algorithms must be an explicit, non-empty list such as ["HS256"]');
  }
  return algorithms;
}

/** Reads the `name` cookie from a `Cookie` header (RFC 6265 syntax); undefined when absent. */
function cookieValue(header, name) {
  if (typeof header !== 'string') return undefined;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim() !== name) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    return value;
  }
  return undefined;
}

/**
 * Token authentication. `check(req)` resolves to `{ claims, answer }`: the verified claims (null
 * without a token when `optional`), or `answer`, a 401 problem naming the kind of failure
 * (`NOT_AUTHENTICATED`, `MALFORMED_TOKEN`, `TOKEN_EXPIRED`, `INVALID_SIGNATURE`, ...; 503 when
 * the store or the identity provider cannot answer).
 */
class Authenticator {
  #verify;
  #cookie;
  #headerTypes;
  #optional;

  /**
   * @param {object} options one of `verifier` (a `Verifier`), `tokens` (a `TokenService`:
   *   signature, claims, type and revocation), `jwks` (a `JwksClient` or a `KeySet`, with `algorithms`) or
   *   `key` (a `Key`, a secret or PEM, with `algorithms` and the `Verifier` options `audience`,
   *   `issuer`, `leeway`, ... and `clock`); `cookie` (a cookie name read when there is no
   *   `Authorization` header), `headerTypes` (default `['Bearer']`), `optional`, `userClaim`.
   */
  constructor(options) {
    const o = checkedOptions(options, 'authenticate');
    const sources = ['verifier', 'tokens', 'jwks', 'key'].filter((k) => o[k] !== undefined && o[k] !== null);
    if (sources.length !== 1) throw invalidArgument('authenticate needs one of verifier, tokens, jwks or key');
    const { cookie = null, headerTypes = ['Bearer'], optional = false, userClaim = 'sub' } = o;
    if (cookie !== null && (typeof cookie !== 'string' || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(cookie))) {
      throw invalidArgument('cookie must be a cookie name');
    }
    if (!Array.isArray(headerTypes) || !headerTypes.every((t) => typeof t === 'string')) {
      throw invalidArgument("headerTypes must be non-empty words such as 'Bearer'");
    }
    // The core checks the types (INVALID_ARGUMENT), then finds the empty header malformed.
    try {
      native.httpAuthorizationToken('', headerTypes);
    } catch (err) {
      if (err?.code !== 'MALFORMED_TOKEN') throw err;
    }
    if (typeof userClaim !== 'string' || userClaim === '') throw invalidArgument('userClaim must be a claim name');
    this.#cookie = cookie;
    this.#headerTypes = [...headerTypes];
    this.#optional = optional === true;
    this.userClaim = userClaim;
    if (o.tokens) {
      if (typeof o.tokens.verify !== 'function') throw invalidArgument('tokens must be a TokenService');
      this.#verify = (token) => o.tokens.verify(token, 'access');
    } else if (o.jwks) {
      if (typeof o.jwks.verify !== 'function') throw invalidArgument('jwks must be a JwksClient or a KeySet');
      const verifyOptions = pick(o, VERIFIER_OPTIONS);
      verifyOptions.algorithms = algorithmsOf(o.algorithms);
      this.#verify = (token) => o.jwks.verify(token, verifyOptions);
    } else {
      let verifier = o.verifier;
      if (verifier) {
        if (!(verifier instanceof native.Verifier)) throw invalidArgument('verifier must be a Verifier');
      } else {
        const verifierOptions = pick(o, VERIFIER_OPTIONS);
        verifierOptions.algorithms = algorithmsOf(o.algorithms);
        verifier = new native.Verifier(o.key, verifierOptions, o.clock ?? null);
      }
      this.#verify = (token) => JSON.parse(verifier.verify(token));
    }
  }

  /** The token the request carries (the `Authorization` header, else the cookie), or null; throws a 401 problem for a malformed header. */
  tokenOf(req) {
    const header = requestOf(req).headers?.authorization;
    if (header !== undefined) {
      // The core reads the header (the scheme compared case-insensitively, one token after it);
      // a malformed header, or another scheme, is refused here.
      let value = null;
      try {
        value = native.httpAuthorizationToken(typeof header === 'string' ? header : '', this.#headerTypes);
      } catch (err) {
        if (err?.code !== 'MALFORMED_TOKEN') throw err;
      }
      if (value === null) throw new HttpProblem(unauthorized('malformed authorization header', 'MALFORMED_TOKEN'));
      return value;
    }
    if (this.#cookie !== null) {
      const value = cookieValue(req.headers?.cookie, this.#cookie);
      if (value) return value;
    }
    return null;
  }

  async check(req) {
    requestOf(req);
    let token;
    try {
      token = this.tokenOf(req);
    } catch (err) {
      if (err instanceof HttpProblem) return { claims: null, answer: err.answer };
      throw err;
    }
    if (token === null) {
      if (this.#optional) return { claims: null, answer: null };
      return { claims: null, answer: unauthorized('authentication required', 'NOT_AUTHENTICATED', null) };
    }
    try {
      const claims = await this.#verify(token);
      return { claims, answer: null };
    } catch (err) {
      const answer = answerFor(err);
      if (answer === null) throw err;
      return { claims: null, answer };
    }
  }
}

/** The verifier options among `o` (`algorithms` apart); a single audience or issuer becomes a list. */
function pick(o, names) {
  const out = {};
  for (const n of names) if (o[n] !== undefined && n !== 'algorithms') out[n] = o[n];
  for (const n of ['audience', 'issuer']) if (typeof out[n] === 'string') out[n] = [out[n]];
  return out;
}

/**
 * A role check: `check(claims)` gives null when the claims hold one of `roles` (in `claim`,
 * default `roles`), a 401 problem without claims, a 403 problem (`PERMISSION_DENIED`) without
 * the role.
 */
function roleCheck(roles, options) {
  const { claim = 'roles' } = checkedOptions(options, 'roleCheck');
  if (!Array.isArray(roles) || roles.length === 0 || !roles.every((r) => typeof r === 'string' && r !== '')) {
    throw invalidArgument('requireRole needs at least one role name');
  }
  if (typeof claim !== 'string' || claim === '') throw invalidArgument('claim must be a claim name');
  const wanted = [...roles];
  return (claims) => {
    if (!claims || typeof claims !== 'object') {
      return unauthorized('authentication required', 'NOT_AUTHENTICATED', null);
    }
    if (native.httpHoldsRole(claims[claim], wanted)) return null;
    return problem(403, 'this needs another role', { code: 'PERMISSION_DENIED' });
  };
}

// ---- login lockout --------------------------------------------------------------------------

/**
 * The lockout of a login route: the attempt (submitted username, client address behind the
 * trusted proxies, user agent) read from the request, answers 429 (or 423) with `Retry-After`
 * when locked, and a uniform 401 for unknown users and wrong passwords.
 */
class LoginGuard {
  #lockout;
  #status;
  #username;
  #clients;
  #hashOptions;

  /**
   * @param {object} options `lockout` (a `Lockout`), `status` (429, the default, or 423),
   *   `username(req)` (default `req.body?.username`), `hashOptions` (the dummy hash's scheme for
   *   unknown users), and the client options (`trustedProxies`, `proxyHeader`).
   */
  constructor(options) {
    const o = checkedOptions(options, 'lockout');
    const { lockout, status = 429, username = (req) => req.body?.username, hashOptions = null } = o;
    if (!(lockout instanceof native.Lockout)) throw invalidArgument('lockout needs a Lockout');
    if (status !== 429 && status !== 423) throw invalidArgument('status must be 429 or 423');
    if (typeof username !== 'function') throw invalidArgument('username must be a function of the request');
    this.#lockout = lockout;
    this.#status = status;
    this.#username = username;
    this.#clients = resolverOf(o);
    this.#hashOptions = hashOptions;
  }

  /** The `Lockout` itself (`unlock`, `locked`). */
  get lockout() {
    return this.#lockout;
  }

  /** The attempt the request makes: `{ username, ipAddress, userAgent }` (absent values left out). */
  attempt(req) {
    requestOf(req);
    const out = {};
    const username = this.#username(req);
    if (typeof username === 'string' && username !== '') out.username = username;
    const ip = this.#clients.ip(req);
    if (ip !== null) out.ipAddress = ip;
    const agent = req.headers?.['user-agent'];
    if (typeof agent === 'string' && agent !== '') out.userAgent = agent;
    return out;
  }

  #locked(retryAfter) {
    return problem(this.#status, 'too many failed attempts: locked out', { code: 'ACCOUNT_LOCKED', retryAfter });
  }

  /** Before the password check: `{ state, answer }`, `answer` the lockout problem when locked. Counts nothing. */
  async check(req) {
    const state = await this.#lockout.check(this.attempt(req));
    return { state, answer: state.locked ? this.#locked(state.retryAfter) : null };
  }

  /**
   * One login attempt (`Lockout.login`): resolves to whether `password` matches `storedHash`
   * (null for an unknown user: a dummy hash is verified, the same work); rejects with an
   * `HttpProblem` 429 (or 423) with `Retry-After` when locked, before or by this failure.
   */
  async login(req, password, storedHash) {
    try {
      return await this.#lockout.login(this.attempt(req), password, storedHash ?? null, this.#hashOptions);
    } catch (err) {
      if (err && err.code === 'ACCOUNT_LOCKED') throw new HttpProblem(this.#locked(err.retryAfter));
      throw err;
    }
  }

  /** After a failed check made elsewhere: `{ state, answer }`, `answer` the lockout problem when this locked it. */
  async recordFailure(req) {
    const state = await this.#lockout.recordFailure(this.attempt(req));
    return { state, answer: state.locked ? this.#locked(state.retryAfter) : null };
  }

  /** After a successful check made elsewhere: resets the username's count. */
  recordSuccess(req) {
    return this.#lockout.recordSuccess(this.attempt(req));
  }

  /** The uniform answer to a wrong password or an unknown user: 401 `INVALID_CREDENTIALS`. */
  invalidCredentials() {
    return problem(401, 'invalid username or password', { code: 'INVALID_CREDENTIALS' });
  }
}

// ---- upstream calls -------------------------------------------------------------------------

/**
 * Upstream calls through a `CircuitBreaker` and/or a `SharedCache`: `call(fn, { key })` runs
 * `fn()` through the breaker (an open circuit rejects at once, without calling `fn`) and, with a
 * cache and a key, once for every concurrent caller of every process sharing the cache's store.
 * Rejects with an `HttpProblem` 503 (`CIRCUIT_OPEN`, `STORE_UNAVAILABLE`) with `Retry-After`;
 * other errors of `fn` pass through.
 */
function upstream(options) {
  const { breaker = null, cache = null } = checkedOptions(options, 'upstream');
  if (breaker !== null && typeof breaker.call !== 'function') throw invalidArgument('breaker must be a CircuitBreaker');
  if (cache !== null && typeof cache.get !== 'function') throw invalidArgument('cache must be a SharedCache');
  if (breaker === null && cache === null) throw invalidArgument('upstream needs a breaker, a cache or both');
  return async function call(fn, { key } = {}) {
    if (typeof fn !== 'function') throw invalidArgument('fn must be a function');
    if (cache !== null && (typeof key !== 'string' || key === '')) {
      throw invalidArgument('a cached upstream call needs a key');
    }
    const run = breaker === null ? () => fn() : () => breaker.call(fn);
    try {
      return cache === null ? await run() : await cache.get(key, run);
    } catch (err) {
      if (err && (err.code === 'CIRCUIT_OPEN' || err.code === 'STORE_UNAVAILABLE')) {
        throw new HttpProblem(answerFor(err));
      }
      throw err;
    }
  };
}

module.exports = {
  PROBLEM_JSON,
  problem,
  unauthorized,
  answerFor,
  HttpProblem,
  sendAnswer,
  setHeaders,
  ClientResolver,
  RateLimitGate,
  Authenticator,
  roleCheck,
  LoginGuard,
  upstream,
  rateLimitHeaders,
};
