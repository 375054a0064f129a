// Compiled (never run) by express-types.test.mjs: the package's types against real Express code,
// with what must not compile marked @ts-expect-error.
import express from 'express';
import { createServer } from 'node:http';
import {
  rateLimit, authenticate, requireUser, requireRole, lockout, upstream, problemHandler, web,
  Lockout, Store, Key, KeySet, TokenService, CircuitBreaker, SharedCache, HttpProblem, ManualClock, Verifier,
} from '../../../node/lib/index';
import type { HttpAnswer, ProblemBody, RateLimitOptions } from '../../../node/lib/index';

const store = new Store(null);
const tokens = new TokenService(Key.hmac('x'.repeat(64)), { store });
const app = express();

const api = rateLimit({
  rate: ['100/minute', { limit: 5, window: '1s' }],
  key: ['ip', 'user', (req) => String(req.headers['x-tenant'])],
  store,
  trustedProxies: 1,
  methods: 'read',
  skip: (req) => req.claims?.staff === true,
});
app.use(api);
void api.limiter.reset('k');
app.use(authenticate({ tokens, cookie: 'access_token', optional: true }));
app.get(
  '/a',
  authenticate({ key: 'secret', algorithms: ['HS256'], audience: 'api', clock: new ManualClock(1) }),
  requireRole('admin', 'staff'),
  (req, res) => {
    const claims: Record<string, unknown> | null | undefined = req.claims;
    res.json(claims);
  },
);
app.get('/b', requireUser(), requireRole(['admin'], { claim: 'scope' }));
app.get('/c', authenticate({ jwks: new KeySet({ keys: [] }), algorithms: ['ES256'] }));

const guard = lockout({ lockout: new Lockout({ store, failureLimit: 5 }), status: 423, username: (req) => req.body?.username });
app.post('/login', guard.check, async (req, res) => {
  const ok: boolean = await guard.login(req, 'pw', null);
  if (!ok) return guard.invalidCredentials(res);
  const state = await guard.recordFailure(req);
  res.json({ retryAfter: state.retryAfter });
});

const call = upstream({ breaker: new CircuitBreaker({ failMax: 3 }), cache: new SharedCache(store, { ttl: 60 }) });
app.get('/d', async (req, res) => {
  const value: { n: number } = await call(async () => ({ n: 1 }), { key: 'k' });
  res.json(value);
});
app.use(problemHandler({ lockoutStatus: 423 }));

const gate = new web.RateLimitGate({ rate: '1/s' });
const auth = new web.Authenticator({ verifier: new Verifier(Key.hmac('x'.repeat(64)), { algorithms: ['HS256'] }) });
createServer(async (req, res) => {
  const who = await auth.check(req);
  if (who.answer) return web.sendAnswer(res, who.answer);
  const out = await gate.check(req);
  if (out.answer) return web.sendAnswer(res, out.answer);
  web.setHeaders(res, out.headers);
  const problem: HttpProblem = new web.HttpProblem(web.problem(503, 'x', { code: 'X', retryAfter: 1 }));
  const answer: HttpAnswer | null = web.answerFor(problem);
  const body: ProblemBody = JSON.parse(answer?.body ?? '{}');
  res.end(String(body.status));
});

// @ts-expect-error: a rate is required
const noRate: RateLimitOptions = { key: 'ip' };
// @ts-expect-error: key parts are 'ip', 'user', 'route', 'global' or functions
rateLimit({ rate: '1/s', key: 'cookie' });
// @ts-expect-error: the algorithms are a list
authenticate({ key: 'secret', algorithms: 'HS256' });
// @ts-expect-error: a lockout answers 429 or 423
lockout({ lockout: new Lockout(), status: 403 });
void noRate;
