// Shared vectors: the project's own (tests/vectors, schema in its README) and
// the public sets read in place from ../shared/vectors, applied as the Rust
// suite does (core/tests/public_vectors.rs).
//
// - jwt.json: typed keys through the native `verify` with a `Key`; raw
//   material through the native `verify` and through the jsonwebtoken layer;
//   the outcome is the first error's `code`, or the exact claims.
// - passwords.json: verify, hash with fixed salts, needsRehash. The raw
//   Argon2 cases (secret and associated data) have no Node entry point and
//   are reported as skipped.
// - Wycheproof JWS / JWK / JWS-crypto, ECDSA P-256, Ed25519, HMAC-SHA256 and
//   the RFC 7520 / RFC 8037 / RFC 7797 cookbook, with the deliberate
//   rejections of tests/vectors/public_deviations.json.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { bastion, native } from './helpers.mjs';

const { Key } = native;
const OWN = new URL('../vectors/', import.meta.url);
const SHARED = new URL('../../../shared/vectors/', import.meta.url);
const load = (url) => JSON.parse(readFileSync(url, 'utf8'));

/** ['valid', result] or [code, undefined]; an error without a code fails. */
function outcome(fn) {
  try {
    return ['valid', fn()];
  } catch (err) {
    assert.ok(err instanceof Error && typeof err.code === 'string', `uncoded error: ${err}`);
    return [err.code, undefined];
  }
}

// ---- jwt.json ---------------------------------------------------------------------

const JWT = existsSync(new URL('jwt.json', OWN)) ? load(new URL('jwt.json', OWN)) : null;

function typedKey(spec) {
  switch (spec.kind) {
    case 'hmac':
      return Key.hmac('secret' in spec ? spec.secret : Buffer.from(spec.secret_hex, 'hex'));
    case 'pem':
      return Key.fromPem(spec.pem);
    case 'der_b64':
      return Key.fromDer(Buffer.from(spec.der_b64, 'base64'));
    case 'jwk':
      return Key.fromJwk(spec.jwk);
    case 'ssh':
      return Key.fromSsh(spec.ssh);
    default:
      throw new Error(`unknown key kind ${spec.kind}`);
  }
}

function material(spec, prefix) {
  let m;
  switch (spec.kind) {
    case 'hmac':
      m = 'secret' in spec ? spec.secret : Buffer.from(spec.secret_hex, 'hex');
      break;
    case 'pem':
      m = spec.pem;
      break;
    case 'der_b64':
      m = Buffer.from(spec.der_b64, 'base64');
      break;
    case 'jwk':
      m = typeof spec.jwk === 'string' ? spec.jwk : JSON.stringify(spec.jwk);
      break;
    case 'ssh':
      m = spec.ssh;
      break;
    default:
      throw new Error(`unknown key kind ${spec.kind}`);
  }
  if (prefix === undefined) return m;
  return typeof m === 'string' ? prefix + m : Buffer.concat([Buffer.from(prefix), m]);
}

function nativeVerify(c, token, key, now) {
  return JSON.parse(
    native.verify(
      token,
      key,
      c.algorithms,
      now,
      c.leeway,
      c.required,
      c.audience,
      c.issuer,
      c.subject,
      undefined,
      undefined,
      c.typ,
      c.max_token_size,
      c.critical_extensions,
    ),
  );
}

function layerVerify(c, token, key, now) {
  return bastion.verify(token, key, {
    algorithms: c.algorithms,
    clockTimestamp: now,
    clockTolerance: c.leeway,
    requiredClaims: c.required,
    audience: c.audience ?? undefined,
    issuer: c.issuer ?? undefined,
    subject: c.subject ?? undefined,
    typ: c.typ,
    maxTokenSize: c.max_token_size,
    criticalExtensions: c.critical_extensions,
  });
}

describe('tests/vectors/jwt.json', { skip: JWT === null && 'tests/vectors/jwt.json is absent' }, () => {
  test('case names are unique', () => {
    const names = JWT.cases.map((c) => c.name);
    assert.equal(new Set(names).size, names.length);
  });

  for (const c of JWT?.cases ?? []) {
    test(`${c.class}: ${c.name}`, () => {
      const token = c.token ?? c.token_repeat.unit.repeat(c.token_repeat.count);
      const spec = JWT.keys[c.key];
      const now = c.now ?? JWT.now;
      const runs = [];
      if (c.key_mode === 'typed') {
        runs.push(['native verify(Key)', () => nativeVerify(c, token, typedKey(spec), now)]);
        runs.push(['jsonwebtoken layer (Key)', () => layerVerify(c, token, typedKey(spec), now)]);
        if (spec.kind === 'jwk') runs.push(['native verify(Key from JWK text)', () => nativeVerify(c, token, Key.fromJwk(JSON.stringify(spec.jwk)), now)]);
      } else {
        runs.push(['native verify(material)', () => nativeVerify(c, token, material(spec, c.material_prefix), now)]);
        runs.push(['jsonwebtoken layer (material)', () => layerVerify(c, token, material(spec, c.material_prefix), now)]);
      }
      for (const [how, run] of runs) {
        const [code, claims] = outcome(run);
        assert.equal(code, c.expect, `${how}`);
        if (c.expect === 'valid') assert.deepEqual(claims, c.claims, `${how}: claims`);
      }
    });
  }
});

// ---- passwords.json ---------------------------------------------------------------

const PASSWORDS = existsSync(new URL('passwords.json', OWN)) ? load(new URL('passwords.json', OWN)) : null;

const password = (c) => ('password' in c ? c.password : Buffer.from(c.password_hex, 'hex'));

function hashOptions(scheme, encoding) {
  const base = { encoding };
  switch (scheme.type) {
    case 'argon2':
      return {
        ...base,
        algorithm: scheme.variant,
        version: scheme.version,
        timeCost: scheme.time_cost,
        memoryCost: scheme.memory_cost,
        parallelism: scheme.parallelism,
        hashLength: scheme.hash_len,
        saltLength: scheme.salt_len ?? 16,
      };
    case 'pbkdf2':
      return { ...base, algorithm: `pbkdf2_${scheme.digest}`, iterations: scheme.iterations };
    case 'bcrypt':
      return { ...base, algorithm: 'bcrypt', rounds: scheme.cost };
    case 'bcrypt_sha256':
      return { ...base, algorithm: 'bcrypt_sha256', rounds: scheme.cost };
    default:
      throw new Error(`unknown scheme ${scheme.type}`);
  }
}

describe('tests/vectors/passwords.json', { skip: PASSWORDS === null && 'tests/vectors/passwords.json is absent' }, () => {
  for (const c of PASSWORDS?.verify ?? []) {
    test(`verify: ${c.name}`, async () => {
      const [code, ok] = outcome(() => native.password.verifySync(c.encoded, password(c)));
      assert.equal(code, c.error ?? 'valid');
      if (!c.error) {
        assert.equal(ok, c.valid);
        assert.equal(await bastion.password.verify(c.encoded, password(c)), c.valid);
      }
    });
  }

  for (const c of PASSWORDS?.hash ?? []) {
    test(`hash: ${c.name}`, () => {
      const salt = 'salt' in c ? c.salt : Buffer.from(c.salt_hex, 'hex');
      const [code, encoded] = outcome(() =>
        native.password.hashSync(password(c), { ...hashOptions(c.scheme, c.encoding), salt }),
      );
      assert.equal(code, c.error ?? 'valid');
      if (!c.error) {
        assert.equal(encoded, c.expected);
        assert.equal(native.password.verifySync(encoded, password(c)), true);
      }
    });
  }

  for (const c of PASSWORDS?.needs_rehash ?? []) {
    test(`needsRehash: ${c.name}`, () => {
      const [code, result] = outcome(() =>
        native.password.needsRehash(c.encoded, hashOptions(c.hasher.scheme, c.hasher.encoding)),
      );
      assert.equal(code, c.error ?? 'valid');
      if (!c.error) assert.equal(result, c.expected);
    });
  }

  test('argon2_raw', { skip: `${PASSWORDS?.argon2_raw?.length ?? 0} raw Argon2 cases (secret and associated data): no Node entry point` }, () => {});
});

// ---- public vectors ------------------------------------------------------------------

const HAVE_SHARED = existsSync(SHARED);

class Tally {
  constructor(name, t) {
    this.name = name;
    this.t = t;
    this.applied = 0;
    this.skipped = [];
    this.failures = [];
  }

  finish() {
    this.t.diagnostic(`${this.name}: ${this.applied} cases applied`);
    for (const s of this.skipped) this.t.diagnostic(`${this.name}: skipped ${s}`);
    assert.deepEqual(this.failures, []);
    assert.ok(this.applied > 0, `${this.name}: nothing applied`);
  }

  check(id, result, ok, what = '') {
    this.applied += 1;
    if (result === 'valid' && !ok) this.failures.push(`case ${id}${what}: valid but rejected`);
    if (result === 'invalid' && ok) this.failures.push(`case ${id}${what}: invalid but accepted`);
  }
}

const deviations = () => load(new URL('public_deviations.json', OWN)).deliberate_rejections;

function jws(token, key, relaxed = false) {
  return native.verifyJws(token, key, key.algorithms, undefined, undefined, undefined, relaxed);
}

function verifies(token, key, relaxed) {
  try {
    jws(token, key, relaxed);
    return true;
  } catch (err) {
    assert.ok(typeof err.code === 'string', `uncoded error: ${err}`);
    return false;
  }
}

function wycheproofJose(file, t) {
  const doc = load(new URL(file, SHARED));
  const tally = new Tally(file, t);
  const dev = deviations();
  const policyRefused = [];
  const groupKey = (g) => JSON.stringify(g.public ?? g.private);
  const labels = new Map();
  for (const g of doc.testGroups) {
    for (const c of g.tests) {
      if (typeof c.jws === 'string') {
        const k = `${c.jws} ${groupKey(g)}`;
        if (!labels.has(k)) labels.set(k, []);
        labels.get(k).push([String(c.tcId), c.result]);
      }
    }
  }
  for (const g of doc.testGroups) {
    const comment = g.comment ?? '';
    let keyObj = g.public ?? g.private;
    if (keyObj === undefined) {
      tally.skipped.push(`group ${JSON.stringify(comment)}: no key`);
      continue;
    }
    if (keyObj.keys) {
      if (keyObj.keys.length !== 1) {
        tally.skipped.push(`group ${JSON.stringify(comment)}: a JWK set of several keys (kid selection) belongs to the JWKS layer`);
        continue;
      }
      [keyObj] = keyObj.keys;
    }
    let key;
    try {
      key = Key.fromJwk(keyObj);
    } catch (err) {
      assert.ok(typeof err.code === 'string', `uncoded error: ${err}`);
      key = err;
    }
    for (const c of g.tests) {
      const id = String(c.tcId);
      if (!('jws' in c)) {
        assert.ok('jwe' in c, id);
        continue;
      }
      const token = c.jws;
      if (typeof token === 'string') {
        const same = labels.get(`${token} ${groupKey(g)}`);
        if (same.some(([, r]) => r !== c.result) && same.some(([, r]) => r === 'valid') && c.result !== 'valid') {
          tally.skipped.push(`case ${id} (${comment}, labelled ${c.result}): the same token and key as another case labelled valid`);
          continue;
        }
      }
      const reason = dev[`${file}#${id}`];
      if (reason !== undefined) {
        const rejected = !(key instanceof Key && typeof token === 'string' && verifies(token, key, true));
        assert.ok(rejected, `case ${id}: listed as a deliberate rejection but accepted`);
        tally.skipped.push(`case ${id} (${comment}, labelled ${c.result}): rejected on purpose: ${reason}`);
        continue;
      }
      if (typeof token !== 'string') {
        if (c.result === 'valid') {
          tally.skipped.push(`case ${id}: JWS JSON serialisation is not supported`);
          continue;
        }
        tally.applied += 1;
        continue;
      }
      let ok;
      if (!(key instanceof Key)) {
        ok = false;
      } else {
        try {
          jws(token, key);
          ok = true;
        } catch (err) {
          assert.ok(typeof err.code === 'string', `uncoded error: ${err}`);
          ok = false;
          if (err.code === 'INVALID_KEY') {
            if (c.result === 'valid') {
              policyRefused.push(id);
              ok = verifies(token, key, true);
            } else if (!comment.toLowerCase().includes('hs') && verifies(token, key, true)) {
              tally.failures.push(`case ${id}: only the key policy rejects it`);
            }
          }
        }
      }
      tally.check(id, c.result, ok, ` (${comment})`);
    }
    if (g.tests.some((c) => 'jwe' in c)) tally.skipped.push(`group ${JSON.stringify(comment)}: JWE (encryption) is not part of bastion`);
  }
  if (policyRefused.length) tally.skipped.push(`cases ${policyRefused.join(', ')}: verify only with the weak-key policy relaxed (weak HMAC keys)`);
  tally.finish();
}

/** Strict DER ECDSA-Sig-Value to JWS R||S; null when the DER is not canonical. */
function derToFixed(der, size) {
  const integer = (b) => {
    if (b.length < 2 || b[0] !== 2 || b[1] >= 0x80 || b[1] === 0 || b.length - 2 < b[1]) return null;
    const v = b.subarray(2, 2 + b[1]);
    if (v[0] & 0x80 || (v.length > 1 && v[0] === 0 && !(v[1] & 0x80))) return null;
    return [v, b.subarray(2 + b[1])];
  };
  if (der.length < 2 || der[0] !== 0x30 || der[1] >= 0x80 || der.length - 2 !== der[1]) return null;
  const first = integer(der.subarray(2));
  if (first === null) return null;
  const second = integer(first[1]);
  if (second === null || second[1].length) return null;
  const out = Buffer.alloc(2 * size);
  for (const [i, v0] of [first[0], second[0]].entries()) {
    const v = v0.length > 1 && v0[0] === 0 ? v0.subarray(1) : v0;
    if (v.length > size) return null;
    v.copy(out, (i + 1) * size - v.length);
  }
  return out;
}

function primitive(tally, id, result, fn) {
  const [code] = outcome(fn);
  tally.check(id, result, code === 'valid');
}

describe('public vectors (../shared/vectors)', { skip: !HAVE_SHARED && '../shared/vectors is not beside the repository' }, () => {
  for (const file of ['wycheproof/json_web_signature_test.json', 'wycheproof/json_web_key_test.json', 'wycheproof/json_web_crypto_test.json']) {
    test(file, (t) => wycheproofJose(file, t));
  }

  test('wycheproof/ecdsa_secp256r1_sha256_test.json', (t) => {
    const doc = load(new URL('wycheproof/ecdsa_secp256r1_sha256_test.json', SHARED));
    const tally = new Tally('ecdsa_secp256r1_sha256', t);
    let notRepresentable = 0;
    for (const g of doc.testGroups) {
      const key = Key.fromPem(g.publicKeyPem);
      for (const c of g.tests) {
        const fixed = derToFixed(Buffer.from(c.sig, 'hex'), 32);
        if (fixed === null) {
          if (c.result === 'valid') tally.failures.push(`case ${c.tcId}: valid signature not canonical DER`);
          notRepresentable += 1;
          continue;
        }
        primitive(tally, c.tcId, c.result, () => key.verify('ES256', Buffer.from(c.msg, 'hex'), fixed));
      }
    }
    tally.skipped.push(`${notRepresentable} cases whose DER signature is malformed: JWS carries R||S, never DER`);
    tally.finish();
  });

  test('wycheproof/ed25519_test.json', (t) => {
    const doc = load(new URL('wycheproof/ed25519_test.json', SHARED));
    const tally = new Tally('ed25519', t);
    for (const g of doc.testGroups) {
      const key = Key.fromJwk(g.publicKeyJwk);
      for (const c of g.tests) {
        primitive(tally, c.tcId, c.result, () => key.verify('EdDSA', Buffer.from(c.msg, 'hex'), Buffer.from(c.sig, 'hex')));
      }
    }
    tally.finish();
  });

  test('wycheproof/hmac_sha256_test.json', (t) => {
    const doc = load(new URL('wycheproof/hmac_sha256_test.json', SHARED));
    const tally = new Tally('hmac_sha256', t);
    for (const g of doc.testGroups) {
      if (g.tagSize !== 256) {
        tally.skipped.push(`group keySize=${g.keySize} tagSize=${g.tagSize}: truncated HMAC tags never occur in JWS`);
        continue;
      }
      for (const c of g.tests) {
        const [k, m, tag] = [c.key, c.msg, c.tag].map((h) => Buffer.from(h, 'hex'));
        primitive(tally, c.tcId, c.result, () => Key.hmac(k).verify('HS256', m, tag, true));
      }
    }
    tally.finish();
  });

  test('jose-cookbook (RFC 7520, RFC 8037, RFC 7797)', (t) => {
    const tally = new Tally('jose-cookbook', t);
    for (const file of [
      'jose-cookbook/jws/4_1.rsa_v15_signature.json',
      'jose-cookbook/jws/4_2.rsa-pss_signature.json',
      'jose-cookbook/jws/4_3.ecdsa_signature.json',
      'jose-cookbook/jws/4_4.hmac-sha2_integrity_protection.json',
      'jose-cookbook/curve25519/jws.json',
    ]) {
      const doc = load(new URL(file, SHARED));
      const key = Key.fromJwk(doc.input.key);
      const out = native.verifyJws(doc.output.compact, key);
      assert.equal(out.algorithm, doc.input.alg, file);
      assert.equal(out.payload.toString(), doc.input.payload, file);
      const input = Buffer.from(doc.signing['sig-input']);
      assert.equal(key.verify(doc.input.alg, input, key.sign(doc.input.alg, input)), undefined);
      tally.applied += 1;
    }
    for (const [name, reason] of [
      ['4_5.signature_with_detached_content', 'detached content is JWS-only; a JWT always carries its claims'],
      ['4_6.protecting_specific_header_fields', 'unprotected header fields exist only in JWS JSON serialisation'],
      ['4_7.protecting_content_only', 'no protected header: not expressible in compact form'],
      ['4_8.multiple_signatures', 'multiple signatures exist only in JWS JSON serialisation'],
    ]) {
      tally.skipped.push(`jws/${name}: ${reason}`);
    }
    const doc = load(new URL('jose-cookbook/rfc7797/4.2.hmac-sha2_b64_false.json', SHARED));
    const key = Key.fromJwk(doc.input.key);
    const compact = `${doc.signing.protected_b64u}..${doc.signing.sig}`;
    assert.throws(() => native.verifyJws(compact, key, undefined, undefined, ['b64']), { code: 'MALFORMED_TOKEN' });
    tally.applied += 1;
    tally.finish();
  });
});

// ---- client_ip.json ---------------------------------------------------------------------

describe('client_ip.json', () => {
  const { cases } = load(new URL('client_ip.json', OWN));
  const value = (v) => (typeof v === 'string' ? v : (v.prefix ?? '') + v.repeat.repeat(v.count) + (v.suffix ?? ''));
  test('at least 40 cases', () => assert.ok(cases.length >= 40));
  for (const c of cases) {
    test(c.name, () => {
      const headers = c.headers.map(([n, v]) => [n, value(v)]);
      const options = { trustedProxies: c.trusted, header: c.header, ipv6Prefix: c.ipv6_prefix };
      const ip = outcome(() => native.clientIp(c.peer, headers, options));
      const key = outcome(() => native.clientKey(c.peer, headers, options));
      if (c.error) {
        assert.equal(ip[0], c.error);
        assert.equal(key[0], c.error);
      } else {
        assert.deepEqual(ip, ['valid', c.ip]);
        assert.deepEqual(key, ['valid', c.key ?? c.ip]);
      }
    });
  }
});

// ---- http.json --------------------------------------------------------------------------

describe('http.json', () => {
  const doc = load(new URL('http.json', OWN));
  const answer = (a) =>
    a === null ? null : { status: a.status, headers: Object.entries(a.headers), body: a.body };
  const expect = (c, got, field) => {
    if ('error' in c) assert.equal(got[0], c.error);
    else assert.deepEqual(got, ['valid', c[field]]);
  };
  for (const c of doc.methods) {
    test(`methods: ${c.name}`, () => expect(c, outcome(() => native.httpMethods(c.spec)), 'names'));
  }
  for (const c of doc.keys) {
    test(`keys: ${c.name}`, () => {
      const got = outcome(() => new native.RequestKey(c.parts).key(c.facts));
      expect(c, got, 'key');
    });
  }
  for (const c of doc.problems) {
    test(`problems: ${c.name}`, () => {
      const options = {
        retryAfter: c.retry_after,
        headers: c.headers ? Object.fromEntries(c.headers) : undefined,
        extra: c.extra,
      };
      const got = outcome(() => answer(native.httpProblem(c.status, c.detail, c.code, options)));
      expect(c, got, 'answer');
    });
  }
  for (const c of doc.unauthorized) {
    test(`unauthorized: ${c.name}`, () => {
      const got = outcome(() => answer(native.httpUnauthorized(c.detail, c.code, c.error)));
      if ('raises' in c) assert.equal(got[0], c.raises);
      else assert.deepEqual(got, ['valid', c.answer]);
    });
  }
  for (const c of doc.roles) {
    test(`roles: ${c.name}`, () => assert.equal(native.httpHoldsRole(c.held, c.wanted), c.holds));
  }
  for (const c of doc.authorization) {
    test(`authorization: ${c.name}`, () => {
      expect(c, outcome(() => native.httpAuthorizationToken(c.header, c.schemes)), 'token');
    });
  }
  for (const c of doc.answers) {
    test(`answers: ${c.name}`, () => {
      const got = outcome(() => answer(native.httpAnswerFor(c.code, c.retry_after, c.lockout_status)));
      expect(c, got, 'answer');
    });
  }
});
