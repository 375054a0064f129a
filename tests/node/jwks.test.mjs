// JWK Sets and the JWKS client against a local https.createServer endpoint
// whose certificate the test makes (its own CA, through the openssl CLI).
// Lifespan, cooldown and staleness are driven by a ManualClock.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bastion, native, jsonwebtoken, NOW, throwsCode, rejectsCode } from './helpers.mjs';

const { Key, KeySet, JwksClient, ManualClock } = bastion;
const PATH = '/.well-known/jwks.json';
const CLAIMS = { sub: 'user-1', exp: NOW + 1_000_000 };

// ---- keys and tokens ---------------------------------------------------------------

/** A private key with `kid`, and the same key without one. */
function privateKey(gen, kid) {
  const jwk = generateKeyPairSync(...gen).privateKey.export({ format: 'jwk' });
  return [Key.fromJwk({ ...jwk, kid }), Key.fromJwk(jwk)];
}

const [RSA1, RSA1_BARE] = privateKey(['rsa', { modulusLength: 2048 }], 'rsa1');
const [RSA2] = privateKey(['rsa', { modulusLength: 2048 }], 'rsa2');
const [EC1] = privateKey(['ec', { namedCurve: 'P-256' }], 'ec1');

function jwks(keys, alg = {}) {
  return JSON.stringify({
    keys: keys.map((k) => {
      const j = k.publicJwk();
      if (alg[j.kid]) j.alg = alg[j.kid];
      return j;
    }),
  });
}

function token(key, alg, { kid, header, claims = CLAIMS } = {}) {
  return native.sign(JSON.stringify(claims), key, alg, header ? JSON.stringify(header) : undefined, kid);
}

const b64 = (x) => Buffer.from(x).toString('base64url');

// ---- certificates (openssl CLI) and the server ----------------------------------------

let dir;
let tls;

function openssl(...args) {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

function makeCa(name) {
  openssl(
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  );
  return readFileSync(join(dir, `${name}.pem`), 'utf8');
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'bastion-jwks-'));
  const caPem = makeCa('test-ca');
  openssl(
    'req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost',
  );
  writeFileSync(
    join(dir, 'ext.cnf'),
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n',
  );
  openssl(
    'x509', '-req', '-in', 'server.csr', '-CA', 'test-ca.pem', '-CAkey', 'test-ca.key',
    '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf',
  );
  tls = {
    caPem,
    otherCaPem: makeCa('other-ca'),
    key: readFileSync(join(dir, 'server.key')),
    cert: readFileSync(join(dir, 'server.pem')),
  };
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** A JWKS endpoint counting its requests; `reply` says how it answers. */
async function serve(reply = { json: jwks([RSA1, EC1]) }, { https = true } = {}) {
  const state = { reply, hits: 0, paths: [], headers: [], timers: new Set() };
  const handler = (req, res) => {
    state.hits += 1;
    state.paths.push(req.url);
    state.headers.push(req.headers);
    const r = state.reply;
    const send = (body) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (r.json !== undefined) send(r.json);
    else if (r.slow) {
      const timer = setTimeout(() => {
        state.timers.delete(timer);
        send(r.slow.json);
      }, r.slow.ms);
      state.timers.add(timer);
    }
    else if (r.status) {
      res.writeHead(r.status, { 'content-length': 0 });
      res.end();
    } else if (r.redirect) {
      res.writeHead(302, { location: r.redirect, 'content-length': 0 });
      res.end();
    } else if (r.huge !== undefined) {
      res.writeHead(200, r.huge ? { 'content-length': 50_000_000 } : {});
      const chunk = Buffer.alloc(65536, 32);
      let sent = 0;
      const pump = () => {
        while (sent < 800) {
          sent += 1;
          if (!res.write(chunk)) return res.once('drain', pump);
        }
        return res.end();
      };
      res.on('close', () => {
        sent = 800;
      });
      pump();
    }
  };
  const server = https ? createHttpsServer({ key: tls.key, cert: tls.cert }, handler) : createHttpServer(handler);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `${https ? 'https' : 'http'}://127.0.0.1:${server.address().port}${PATH}`;
  state.close = () =>
    new Promise((resolve) => {
      for (const timer of state.timers) clearTimeout(timer);
      server.closeAllConnections?.();
      server.close(resolve);
    });
  return state;
}

function client(server, clock, options = {}) {
  return new JwksClient(server.url, { caPem: tls.caPem, ...options }, clock);
}

async function withServer(reply, fn, opts) {
  const server = await serve(reply, opts);
  try {
    await fn(server);
  } finally {
    await server.close();
  }
}

const VERIFY = { algorithms: ['RS256', 'ES256'] };

// ---- KeySet ------------------------------------------------------------------------

describe('KeySet', () => {
  test('parses strictly and reports skipped keys', () => {
    const enc = { ...RSA2.publicJwk(), use: 'enc', kid: 'enc' };
    const doc = { keys: [RSA1.publicJwk(), enc, { kty: 'OKP', crv: 'X25519', x: 'AA' }, EC1.publicJwk()] };
    for (const form of [doc, JSON.stringify(doc), Buffer.from(JSON.stringify(doc))]) {
      const ks = new KeySet(form);
      assert.deepEqual(ks.keys.map((k) => k.kid), ['rsa1', 'ec1']);
      assert.equal(ks.size, 2);
      assert.deepEqual(ks.skipped.map((s) => s.index), [1, 2]);
      assert.equal(ks.skipped[0].kid, 'enc');
    }
    throwsCode(() => new KeySet({ keys: [enc] }), 'INVALID_KEY_SET');
    throwsCode(() => new KeySet('{"keys":[],"keys":[]}'), 'INVALID_KEY_SET');
    throwsCode(() => new KeySet({ keys: [RSA1.publicJwk(), RSA1.publicJwk()] }, { maxKeys: 1 }), 'INVALID_KEY_SET');
    throwsCode(() => new KeySet(JSON.stringify(doc), { maxSize: 100 }), 'INVALID_KEY_SET');
    throwsCode(() => new KeySet(42), 'INVALID_ARGUMENT');
  });

  test('picks the key by kid and algorithm; the algorithms come from the caller', () => {
    const ks = new KeySet(jwks([RSA1, EC1], { rsa1: 'RS256' }));
    const clock = new ManualClock(NOW);
    assert.deepEqual(ks.verify(token(RSA1, 'RS256'), VERIFY, clock), CLAIMS);
    assert.deepEqual(ks.verify(token(EC1, 'ES256'), VERIFY, NOW), CLAIMS);
    throwsCode(() => ks.verify(token(RSA1, 'PS256'), { algorithms: ['RS256', 'PS256'] }, clock), 'KEY_NOT_FOUND');
    throwsCode(() => ks.verify(token(EC1, 'ES256', { kid: 'rsa1' }), VERIFY, clock), 'KEY_NOT_FOUND');
    throwsCode(() => ks.verify(token(EC1, 'ES256'), { algorithms: ['RS256'] }, clock), 'INVALID_ALGORITHM');
    throwsCode(() => ks.verify(token(EC1, 'ES256'), {}, clock), 'INVALID_ARGUMENT');
    assert.equal(ks.getSigningKey('ec1').kid, 'ec1');
    assert.equal(ks.getSigningKey(null, 'ES256').kid, 'ec1');
    throwsCode(() => ks.getSigningKey('nope'), 'KEY_NOT_FOUND');
  });

  test('a token without kid needs exactly one fitting key', () => {
    assert.equal(RSA1_BARE.kid, null);
    const t = token(RSA1_BARE, 'RS256');
    assert.deepEqual(new KeySet(jwks([RSA1, EC1])).verify(t, VERIFY, NOW), CLAIMS);
    throwsCode(() => new KeySet(jwks([RSA1, RSA2])).verify(t, VERIFY, NOW), 'KEY_NOT_FOUND');
  });

  test('an HMAC token keyed with the public key is rejected', () => {
    const ks = new KeySet(jwks([RSA1]));
    const jwk = RSA1.publicJwk();
    const signingInput = `${b64('{"alg":"HS256","kid":"rsa1","typ":"JWT"}')}.${b64(JSON.stringify(CLAIMS))}`;
    for (const secret of [JSON.stringify(jwk), jwk.n, Buffer.from(jwk.n, 'base64url')]) {
      const mac = createHmac('sha256', secret).update(signingInput).digest('base64url');
      throwsCode(() => ks.verify(`${signingInput}.${mac}`, { algorithms: ['RS256', 'HS256'] }, NOW), 'KEY_NOT_FOUND');
    }
  });
});

// ---- JwksClient ----------------------------------------------------------------------

describe('JwksClient', () => {
  test('fetches once, verifies RS256 and ES256, reports its status', async () => {
    await withServer(undefined, async (server) => {
      const c = client(server, new ManualClock(NOW));
      assert.deepEqual(await c.verify(token(RSA1, 'RS256'), VERIFY), CLAIMS);
      assert.deepEqual(await c.verify(token(EC1, 'ES256'), VERIFY), CLAIMS);
      const key = await c.getSigningKey('ec1');
      assert.ok(key instanceof Key);
      assert.equal(key.family, 'EC P-256');
      assert.equal(server.hits, 1);
      const s = c.status();
      assert.equal(s.keys, 2);
      assert.equal(s.fetches, 1);
      assert.equal(s.stale, false);
      assert.equal(s.fetchedAt, NOW);
      assert.equal(s.expiresAt, NOW + 300);
      assert.equal(c.url, server.url);
      assert.match(server.headers[0]['user-agent'], /^bastion-jwks\//);
      assert.equal((await c.keySet()).size, 2);
    });
  });

  test('refetches when the lifespan ends', async () => {
    await withServer(undefined, async (server) => {
      const clock = new ManualClock(NOW);
      const c = client(server, clock);
      await c.getSigningKey('rsa1');
      clock.advance(299);
      await c.getSigningKey('rsa1');
      assert.equal(server.hits, 1);
      clock.advance(2);
      await c.getSigningKey('rsa1');
      assert.equal(server.hits, 2);
    });
  });

  test('an unknown kid refetches once, then cools down', async () => {
    await withServer(undefined, async (server) => {
      const clock = new ManualClock(NOW);
      const c = client(server, clock);
      await c.getSigningKey('rsa1');
      server.reply = { json: jwks([RSA1, RSA2, EC1]) };
      const t2 = token(RSA2, 'RS256');
      await rejectsCode(c.verify(t2, VERIFY), 'KEY_NOT_FOUND');
      assert.equal(server.hits, 1);
      clock.advance(31);
      assert.deepEqual(await c.verify(t2, VERIFY), CLAIMS);
      assert.equal(server.hits, 2);
      for (let i = 0; i < 300; i++) {
        await rejectsCode(c.verify(token(RSA2, 'RS256', { kid: `random-${i}` }), VERIFY), 'KEY_NOT_FOUND');
        clock.advance(0.05);
      }
      assert.equal(server.hits, 2);
      clock.advance(20);
      await Promise.all(Array.from({ length: 50 }, (_, i) => rejectsCode(c.getSigningKey(`again-${i}`), 'KEY_NOT_FOUND')));
      assert.equal(server.hits, 3);
    });
  });

  test('50 concurrent misses make one request', async () => {
    await withServer({ slow: { ms: 300, json: jwks([RSA1, EC1]) } }, async (server) => {
      const clock = new ManualClock(NOW);
      const c = client(server, clock);
      const t = token(RSA1, 'RS256');
      const results = await Promise.all(Array.from({ length: 50 }, () => c.verify(t, VERIFY)));
      assert.equal(results.length, 50);
      for (const r of results) assert.deepEqual(r, CLAIMS);
      assert.equal(server.hits, 1);
    });
  });

  const failures = [
    ['HTTP 500', { status: 500 }, {}, /HTTP status 500/],
    ['invalid JSON', { json: '{"keys": [' }, {}, /not usable/],
    ['symmetric keys', { json: '{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}' }, {}, /not usable/],
    ['an oversized declared body', { huge: true }, { maxSize: 4096 }, /larger than 4096 bytes/],
    ['an oversized streamed body', { huge: false }, { maxSize: 4096 }, /larger than 4096 bytes/],
    ['a slow server', { slow: { ms: 3000, json: '{}' } }, { timeout: 0.3 }, /within/],
    ['a redirect', { redirect: 'http://127.0.0.1:1/jwks' }, {}, /redirects are not followed/],
  ];
  for (const [name, reply, options, message] of failures) {
    test(`${name} rejects with JWKS_FETCH_FAILED`, async () => {
      await withServer(reply, async (server) => {
        const c = client(server, new ManualClock(NOW), options);
        const err = await rejectsCode(c.getSigningKey('rsa1'), 'JWKS_FETCH_FAILED');
        assert.match(err.message, message);
      });
    });
  }

  test('a server that is down', async () => {
    const port = await new Promise((resolve) => {
      const s = createNetServer();
      s.listen(0, '127.0.0.1', () => {
        const p = s.address().port;
        s.close(() => resolve(p));
      });
    });
    const c = new JwksClient(`https://127.0.0.1:${port}/jwks`, { caPem: tls.caPem }, new ManualClock(NOW));
    const err = await rejectsCode(c.verify(token(RSA1, 'RS256'), VERIFY), 'JWKS_FETCH_FAILED');
    assert.match(err.message, /cannot connect/);
    await rejectsCode(c.getSigningKey('rsa1'), 'JWKS_FETCH_FAILED');
    assert.equal(c.status().fetches, 1);
  });

  test('serves the last good set while refreshes fail', async () => {
    await withServer(undefined, async (server) => {
      const clock = new ManualClock(NOW);
      const c = client(server, clock);
      const t = token(RSA1, 'RS256');
      await c.verify(t, VERIFY);
      server.reply = { status: 503 };
      clock.advance(301);
      assert.deepEqual(await c.verify(t, VERIFY), CLAIMS);
      const s = c.status();
      assert.equal(s.stale, true);
      assert.equal(s.failures, 1);
      assert.equal(s.lastErrorCode, 'JWKS_FETCH_FAILED');
      clock.advance(10);
      await c.verify(t, VERIFY);
      assert.equal(server.hits, 2);
      clock.set(NOW + 300 + 3600 + 1);
      await rejectsCode(c.verify(t, VERIFY), 'JWKS_FETCH_FAILED');
      server.reply = { json: jwks([RSA1]) };
      clock.advance(31);
      assert.deepEqual(await c.verify(t, VERIFY), CLAIMS);
      assert.equal(c.status().stale, false);
      server.reply = { status: 404 };
      await rejectsCode(c.refresh(), 'JWKS_FETCH_FAILED');
    });
  });

  test('plain http needs allowHttp; bad URLs and options are refused', async () => {
    await withServer(
      undefined,
      async (server) => {
        throwsCode(() => new JwksClient(server.url), 'INVALID_ARGUMENT');
        const c = new JwksClient(server.url, { allowHttp: true }, new ManualClock(NOW));
        assert.equal((await c.getSigningKey('rsa1')).kid, 'rsa1');
      },
      { https: false },
    );
    for (const bad of ['ftp://x/jwks', 'file:///etc/passwd', '/jwks', 'https://u:p@h/jwks']) {
      throwsCode(() => new JwksClient(bad, { allowHttp: true }), 'INVALID_ARGUMENT');
    }
    throwsCode(() => new JwksClient('https://h/jwks', { lifespan: -1 }), 'INVALID_ARGUMENT');
    throwsCode(() => new JwksClient('https://h/jwks', { timeout: 0 }), 'INVALID_ARGUMENT');
    throwsCode(() => new JwksClient('https://h/jwks', { headers: { Host: 'x' } }), 'INVALID_ARGUMENT');
    throwsCode(() => new JwksClient('https://h/jwks', { caPem: 'not a certificate' }), 'INVALID_ARGUMENT');
    throwsCode(() => new JwksClient(42), 'INVALID_ARGUMENT');
  });

  test('a certificate from an unknown CA is refused', async () => {
    await withServer(undefined, async (server) => {
      for (const caPem of [undefined, tls.otherCaPem]) {
        const c = new JwksClient(server.url, { caPem }, new ManualClock(NOW));
        const err = await rejectsCode(c.getSigningKey('rsa1'), 'JWKS_FETCH_FAILED');
        assert.match(err.message, /TLS/);
      }
      assert.equal(server.hits, 0);
    });
  });

  test('jku, x5u and embedded jwk headers are ignored', async () => {
    await withServer(undefined, async (server) => {
      const c = client(server, new ManualClock(NOW));
      const evil = server.url.replace(PATH, '/attacker.json');
      const header = { jku: evil, x5u: evil, jwk: RSA2.publicJwk() };
      await rejectsCode(c.verify(token(RSA2, 'RS256', { kid: 'rsa1', header }), VERIFY), 'INVALID_SIGNATURE');
      await rejectsCode(c.verify(token(RSA2, 'RS256', { kid: 'rsa2', header }), VERIFY), 'KEY_NOT_FOUND');
      assert.deepEqual([...new Set(server.paths)], [PATH]);
    });
  });

  test('request headers are sent', async () => {
    await withServer(undefined, async (server) => {
      const c = client(server, new ManualClock(NOW), { headers: { 'X-Api-Key': 'k-1', 'User-Agent': 'app/1' } });
      await c.getSigningKey('rsa1');
      assert.equal(server.headers[0]['x-api-key'], 'k-1');
      assert.equal(server.headers[0]['user-agent'], 'app/1');
    });
  });
});

// ---- getKeyCallback: jsonwebtoken's secretOrPublicKey callback -----------------------------

describe('getKeyCallback', () => {
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub: 'u', iat: now, exp: now + 60 };

  test('works with the jsonwebtoken package', async () => {
    await withServer(undefined, async (server) => {
      const c = client(server);
      const getKey = c.getKeyCallback();
      for (const [key, alg] of [[RSA1, 'RS256'], [EC1, 'ES256']]) {
        const t = token(key, alg, { claims });
        const payload = await new Promise((resolve, reject) => {
          jsonwebtoken.verify(t, getKey, { algorithms: [alg] }, (err, p) => (err ? reject(err) : resolve(p)));
        });
        assert.deepEqual(payload, claims);
      }
      const err = await new Promise((resolve) => {
        jsonwebtoken.verify(token(RSA2, 'RS256', { claims }), getKey, { algorithms: ['RS256'] }, (e) => resolve(e));
      });
      assert.ok(err instanceof jsonwebtoken.JsonWebTokenError);
      assert.equal(server.hits, 1);
    });
  });

  test("works with this package's verify and verifyAsync, keeping the lookup's code", async () => {
    await withServer(undefined, async (server) => {
      const c = client(server);
      const getKey = c.getKeyCallback();
      const t = token(RSA1, 'RS256', { claims });
      const payload = await new Promise((resolve, reject) => {
        bastion.verify(t, getKey, { algorithms: ['RS256'] }, (err, p) => (err ? reject(err) : resolve(p)));
      });
      assert.deepEqual(payload, claims);
      assert.deepEqual(await bastion.verifyAsync(t, getKey, { algorithms: ['RS256'] }), claims);
      const err = await rejectsCode(
        bastion.verifyAsync(token(RSA2, 'RS256', { claims }), getKey, { algorithms: ['RS256'] }),
        'KEY_NOT_FOUND',
      );
      assert.ok(err instanceof bastion.JsonWebTokenError);
    });
  });
});
