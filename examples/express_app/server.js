'use strict';
// An Express backend secured by bastion, the Node twin of examples/fastapi_app (reference
// deployment 2, a compute marketplace):
//
// - HS256 access tokens of 30 minutes with `sub` and `username`, refresh tokens rotated with
//   reuse detection, bcrypt password hashes; register / login / refresh / me / logout-everywhere;
// - rate limits by category: auth writes 10/min per client, writes 30/min and API reads 100/min
//   per user (admins exempt; 200/min of API reads for them), with the RateLimit headers and
//   `Retry-After`;
// - the login lockout: 5 failures for one username lock it for 15 minutes;
// - `/identify/:n`: a slow, flaky upstream called through a circuit breaker (3 failures, 60 s,
//   2 successes) and a single-flight cache (concurrent identical requests make one call).
//
// State lives in this process's memory, or in Redis when BASTION_REDIS_URL is set: then every
// process, this one and the FastAPI example alike, shares the limits and the lockout (same
// names, same keys). Run it with `node examples/express_app/server.js` (PORT, default 8000;
// UPSTREAM_URL names the upstream; JWT_SIGNING_KEY the signing key).

const crypto = require('node:crypto');
const path = require('node:path');

// The package from this repository (an application writes require('bastion-engine')).
const bastion = require(path.join(__dirname, '..', '..', 'node'));
// Express from node/'s devDependencies (an application has its own).
const express = require(require.resolve('express', { paths: [path.join(__dirname, '..', '..', 'node')] }));

const {
  CircuitBreaker,
  Key,
  Lockout,
  SharedCache,
  Store,
  TokenService,
  authenticate,
  lockout,
  password,
  problemHandler,
  rateLimit,
  requireRole,
  requireUser,
  upstream,
  validateSecret,
  web,
} = bastion;

// Production sets JWT_SIGNING_KEY (checked at start-up: length, placeholders, entropy); without
// it this process signs with a random key of its own, so its tokens end with it.
const SIGNING_KEY = process.env.JWT_SIGNING_KEY || crypto.randomBytes(48).toString('base64url');
validateSecret(SIGNING_KEY);

const store = new Store(process.env.BASTION_REDIS_URL || null, { timeoutMs: 500, prefix: 'example:' });
const tokens = new TokenService(Key.hmac(SIGNING_KEY), {
  store,
  accessLifetime: 30 * 60,
  refreshLifetime: 7 * 86400,
});
const logins = lockout({
  lockout: new Lockout({ store, failureLimit: 5, cooloff: '15m', parameters: [['username']], name: 'login' }),
  trustedProxies: 'loopback',
});
const breaker = new CircuitBreaker({ name: 'identify', failMax: 3, resetTimeout: 60, successThreshold: 2, store });
const identifyCall = upstream({
  breaker,
  cache: new SharedCache(store, { namespace: 'identify', ttl: 30, staleIfError: 300 }),
});
const UPSTREAM_URL = process.env.UPSTREAM_URL || 'http://127.0.0.1:9';

const isAdmin = (req) => Array.isArray(req.claims?.roles) && req.claims.roles.includes('admin');
const common = { store, trustedProxies: 'loopback' };

// Users, as a database would keep them: bcrypt hashes (reference deployment 2's scheme).
const USERS = new Map();

/** A problem answer of the app's own (the shape of every bastion answer). */
function fail(res, status, detail, code) {
  web.sendAnswer(res, web.problem(status, detail, { code }));
}

function credentials(req, res) {
  const { username, password: pw } = req.body ?? {};
  if (typeof username !== 'string' || username.length < 1 || username.length > 150) {
    fail(res, 400, 'username must be 1 to 150 characters', 'INVALID_REQUEST');
    return null;
  }
  if (typeof pw !== 'string' || pw.length < 1 || pw.length > 1024) {
    fail(res, 400, 'password must be 1 to 1024 characters', 'INVALID_REQUEST');
    return null;
  }
  return { username, password: pw };
}

function pairBody(pair) {
  return { access: pair.access, refresh: pair.refresh, token_type: 'Bearer', expires_in: 1800 };
}

/** Wraps an async route so its rejections reach the error handlers (Express 4 and 5). */
const route = (fn) => (req, res, next) => fn(req, res, next).catch(next);

const app = express();
app.set('trust proxy', 'loopback'); // Express's own req.ip agrees with bastion's client address.
app.use(express.json({ limit: '16kb' }));
// Verify a token when one is sent (a bad one is a 401 here); anonymous requests pass.
app.use(authenticate({ tokens, optional: true, cookie: 'access_token' }));
app.use('/auth/', rateLimit({ ...common, rate: '10/minute', methods: 'write', name: 'auth' }));
app.use(rateLimit({ ...common, rate: '30/minute', methods: 'write', key: 'user', name: 'writes', skip: isAdmin }));
app.use('/api/', rateLimit({ ...common, rate: '100/minute', methods: 'read', key: 'user', name: 'reads', skip: isAdmin }));
app.use(
  '/api/',
  rateLimit({ ...common, rate: '200/minute', methods: 'read', key: 'user', name: 'admin-reads', skip: (req) => !isAdmin(req) }),
);

app.get('/health', (req, res) => {
  res.json({ ok: true, store: store.kind, breaker: breaker.state });
});

app.post(
  '/auth/register',
  route(async (req, res) => {
    const body = credentials(req, res);
    if (body === null) return;
    if (USERS.has(body.username)) return fail(res, 409, 'this username is taken', 'USERNAME_TAKEN');
    if (body.password.length < 14) return fail(res, 400, 'passwords have at least 14 characters', 'WEAK_PASSWORD');
    const hash = await password.hash(body.password, { algorithm: 'bcrypt' });
    USERS.set(body.username, { id: String(USERS.size + 1), hash, roles: [] });
    res.status(201).json({ username: body.username });
  }),
);

app.post(
  '/auth/login',
  logins.check,
  route(async (req, res) => {
    const body = credentials(req, res);
    if (body === null) return;
    const user = USERS.get(body.username);
    // Unknown users cost a dummy hash and get the same answers; a lockout is a 429 problem.
    if (!(await logins.login(req, body.password, user ? user.hash : null))) return logins.invalidCredentials(res);
    res.json(pairBody(await tokens.issuePair(user.id, { username: body.username, roles: user.roles })));
  }),
);

app.post(
  '/auth/refresh',
  route(async (req, res) => {
    const refresh = req.body?.refresh;
    if (typeof refresh !== 'string' || refresh.length < 1 || refresh.length > 8192) {
      return fail(res, 400, 'refresh must be a token', 'INVALID_REQUEST');
    }
    res.json(pairBody(await tokens.rotate(refresh))); // TOKEN_REUSED: 401 by problemHandler
  }),
);

app.post(
  '/auth/logout-everywhere',
  requireUser(),
  route(async (req, res) => {
    await tokens.revokeAll(req.user.id);
    res.json({ ok: true });
  }),
);

app.get('/api/me', requireUser(), (req, res) => {
  res.json({ id: req.user.id, username: req.claims.username ?? null });
});

app.get('/api/items', (req, res) => {
  res.json({ items: ['a100', 'h100', 'l4'] });
});

app.get(
  '/api/admin/unlock/:username',
  requireRole('admin'),
  route(async (req, res) => {
    res.json({ unlocked: await logins.lockout.unlock({ username: req.params.username }) });
  }),
);

app.get(
  '/identify/:n',
  route(async (req, res) => {
    const n = req.params.n;
    try {
      res.json(
        await identifyCall(
          async () => {
            const r = await fetch(`${UPSTREAM_URL}/identify/${encodeURIComponent(n)}`, { signal: AbortSignal.timeout(10_000) });
            if (!r.ok) throw new Error(`upstream answered ${r.status}`);
            return r.json();
          },
          { key: n },
        ),
      );
    } catch (err) {
      if (err instanceof bastion.HttpProblem) throw err; // 503 with Retry-After: the circuit is open
      // Counted by the breaker; the caller gets a problem, not a stack trace.
      fail(res, 502, 'the identification service failed', 'UPSTREAM_FAILED');
    }
  }),
);

app.use(problemHandler());

async function main() {
  USERS.set('ada', {
    id: '1',
    hash: await password.hash('correct horse battery staple', { algorithm: 'bcrypt' }),
    roles: ['admin'],
  });
  const port = Number(process.env.PORT || 8000);
  const server = app.listen(port, '127.0.0.1', () => {
    process.stdout.write(`express example listening on http://127.0.0.1:${server.address().port} (store: ${store.kind})\n`);
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) main();

module.exports = { app, main };
