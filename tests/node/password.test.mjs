// Password hashing: round trips for every algorithm and encoding, the Promise
// API off the main thread, needsRehash, and typed errors.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { bastion, native, throwsCode, rejectsCode } from './helpers.mjs';

const pw = bastion.password;
const CHEAP_ARGON2 = { memoryCost: 256, timeCost: 1, parallelism: 1 };

const SCHEMES = [
  { options: { algorithm: 'argon2id', ...CHEAP_ARGON2 }, prefix: '$argon2id$v=19$m=256,t=1,p=1$' },
  { options: { algorithm: 'argon2i', ...CHEAP_ARGON2 }, prefix: '$argon2i$v=19$m=256,t=1,p=1$' },
  { options: { algorithm: 'argon2d', ...CHEAP_ARGON2, hashLength: 16, saltLength: 8 }, prefix: '$argon2d$v=19$m=256,t=1,p=1$' },
  { options: { algorithm: 'argon2id', ...CHEAP_ARGON2, version: 16 }, prefix: '$argon2id$v=16$m=256,t=1,p=1$' },
  { options: { algorithm: 'argon2id', ...CHEAP_ARGON2, encoding: 'django' }, prefix: 'argon2$argon2id$v=19$m=256,t=1,p=1$' },
  { options: { algorithm: 'pbkdf2_sha256', iterations: 1000 }, prefix: 'pbkdf2_sha256$1000$' },
  { options: { algorithm: 'pbkdf2_sha1', iterations: 1000 }, prefix: 'pbkdf2_sha1$1000$' },
  { options: { algorithm: 'bcrypt', rounds: 4 }, prefix: '$2b$04$' },
  { options: { algorithm: 'bcrypt', rounds: 4, encoding: 'django' }, prefix: 'bcrypt$$2b$04$' },
  { options: { algorithm: 'bcrypt_sha256', rounds: 4 }, prefix: 'bcrypt_sha256$$2b$04$' },
];

describe('round trips', () => {
  for (const { options, prefix } of SCHEMES) {
    test(`${prefix}…`, async () => {
      const sync = pw.hashSync('correct horse', options);
      assert.ok(sync.startsWith(prefix), sync);
      assert.equal(pw.verifySync(sync, 'correct horse'), true);
      assert.equal(pw.verifySync(sync, 'correct horsE'), false);
      const h = await pw.hash('correct horse', options);
      assert.ok(h.startsWith(prefix), h);
      assert.notEqual(h, sync, 'a fresh salt each time');
      assert.equal(await pw.verify(h, 'correct horse'), true);
      assert.equal(await pw.verify(h, Buffer.from('correct horse')), true);
      assert.equal(await pw.verify(h, 'wrong'), false);
      assert.equal(pw.needsRehash(h, options), false);
      assert.equal(pw.needsRehash(h), true, 'the default is argon2id t=3 m=65536 p=4');
    });
  }

  test('bytes passwords (Buffer, Uint8Array, non-UTF-8)', async () => {
    const bytes = Buffer.from([0xff, 0x00, 0xfe, 0x41]);
    const h = pw.hashSync(bytes, { algorithm: 'argon2id', ...CHEAP_ARGON2 });
    assert.equal(pw.verifySync(h, new Uint8Array(bytes)), true);
    assert.equal(await pw.verify(h, bytes.subarray(0, 3)), false);
    assert.equal(pw.verifySync(pw.hashSync('é', { algorithm: 'pbkdf2_sha256', iterations: 1000 }), Buffer.from('é')), true);
  });

  test('a fixed salt reproduces a hash', () => {
    const options = { algorithm: 'argon2id', ...CHEAP_ARGON2, salt: Buffer.from('0123456789abcdef') };
    assert.equal(pw.hashSync('pw', options), pw.hashSync('pw', options));
    assert.equal(pw.hashSync('pw', { algorithm: 'pbkdf2_sha256', iterations: 1000, salt: 'abcdefghijklmnopqrstuv' }),
      pw.hashSync('pw', { algorithm: 'pbkdf2_sha256', iterations: 1000, salt: 'abcdefghijklmnopqrstuv' }));
  });
});

test('defaults are argon2-cffi\'s: argon2id, t=3, m=65536, p=4, 32-byte hash, 16-byte salt', async () => {
  const h = await pw.hash('hunter2');
  assert.match(h, /^\$argon2id\$v=19\$m=65536,t=3,p=4\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
  assert.equal(pw.needsRehash(h), false);
  assert.equal(pw.needsRehash(h, { timeCost: 2 }), true);
  assert.equal(await pw.verify(h, 'hunter2'), true);
});

test('the Promise API does not block the event loop', async () => {
  let ticks = 0;
  let running = true;
  const spin = () => {
    ticks += 1;
    if (running) setImmediate(spin);
  };
  setImmediate(spin);
  const start = ticks;
  const h = await pw.hash('hunter2', { memoryCost: 65536, timeCost: 3, parallelism: 4 });
  const duringHash = ticks - start;
  const mid = ticks;
  assert.equal(await pw.verify(h, 'hunter2'), true);
  const duringVerify = ticks - mid;
  running = false;
  assert.ok(duringHash > 10, `the event loop turned ${duringHash} times while hashing`);
  assert.ok(duringVerify > 10, `the event loop turned ${duringVerify} times while verifying`);
  // The *Sync twin, by contrast, holds the thread: no turn happens during it.
  let syncTicks = 0;
  const immediate = setImmediate(() => {
    syncTicks += 1;
  });
  pw.hashSync('hunter2', { memoryCost: 8192, timeCost: 1, parallelism: 1 });
  assert.equal(syncTicks, 0);
  clearImmediate(immediate);
});

test('many concurrent hashes complete (libuv pool, memory budget)', async () => {
  const hashes = await Promise.all(
    Array.from({ length: 16 }, (_, i) => pw.hash(`pw${i}`, { memoryCost: 4096, timeCost: 1, parallelism: 2 })),
  );
  const results = await Promise.all(hashes.map((h, i) => pw.verify(h, `pw${i}`)));
  assert.deepEqual(results, Array(16).fill(true));
});

describe('errors', () => {
  test('malformed and unsupported hashes: INVALID_HASH', async () => {
    for (const bad of ['', 'plain', '$argon2id$', '$argon2id$v=19$m=1,t=1,p=1$AAAA$AAAA', 'md5$abc$def', '$2b$99$' + 'a'.repeat(53), 'x'.repeat(5000)]) {
      throwsCode(() => pw.verifySync(bad, 'pw'), 'INVALID_HASH');
      await rejectsCode(pw.verify(bad, 'pw'), 'INVALID_HASH');
      throwsCode(() => pw.needsRehash(bad), 'INVALID_HASH');
    }
  });

  test('bad options: INVALID_ARGUMENT', async () => {
    for (const options of [
      { algorithm: 'md5' },
      { algorithm: 'argon2id', timeCost: 0 },
      { algorithm: 'argon2id', timeCost: 1.5 },
      { algorithm: 'argon2id', memoryCost: -1 },
      { algorithm: 'argon2id', memoryCost: 4, parallelism: 1 },
      { algorithm: 'argon2id', parallelism: 1000 },
      { algorithm: 'argon2id', hashLength: 2 },
      { algorithm: 'argon2id', saltLength: 4 },
      { algorithm: 'argon2id', version: 17 },
      { algorithm: 'argon2id', encoding: 'bcrypt' },
      { algorithm: 'pbkdf2_sha256', encoding: 'phc' },
      { algorithm: 'pbkdf2_sha256', iterations: 0 },
      { algorithm: 'bcrypt', rounds: 3 },
      { algorithm: 'bcrypt', rounds: 32 },
      { algorithm: 'bcrypt_sha256', encoding: 'phc' },
      { algorithm: 5 },
      { memoryCost: 'lots' },
      { algorithm: 'argon2id', ...CHEAP_ARGON2, salt: 'short' },
      { algorithm: 'bcrypt', rounds: 4, salt: Buffer.alloc(8) },
    ]) {
      throwsCode(() => pw.hashSync('pw', options), 'INVALID_ARGUMENT', {});
      await rejectsCode(pw.hash('pw', options), 'INVALID_ARGUMENT');
    }
    throwsCode(() => pw.hashSync('a'.repeat(73), { algorithm: 'bcrypt', rounds: 4 }), 'INVALID_ARGUMENT');
    assert.ok(pw.hashSync('a'.repeat(73), { algorithm: 'bcrypt_sha256', rounds: 4 }));
    throwsCode(() => pw.hashSync(5), 'INVALID_ARGUMENT');
    throwsCode(() => pw.verifySync(5, 'x'), 'INVALID_ARGUMENT');
    throwsCode(() => pw.verifySync('$2b$04$' + 'a'.repeat(53), {}), 'INVALID_ARGUMENT');
    await rejectsCode(pw.hash(null), 'INVALID_ARGUMENT');
    await rejectsCode(pw.verify(null, 'x'), 'INVALID_ARGUMENT');
  });

  test('the native namespace is the same API', () => {
    assert.equal(typeof native.password.hash, 'function');
    const h = native.password.hashSync('x', { algorithm: 'bcrypt', rounds: 4 });
    assert.equal(native.password.verifySync(h, 'x'), true);
  });
});

test('the Argon2 memory budget can be read and changed', async () => {
  const { password } = bastion;
  const { budgetKib, inUseKib } = password.memoryBudget();
  assert.equal(budgetKib, 1024 * 1024);
  assert.equal(inUseKib, 0);
  const before = password.setMemoryBudgetKib(4096);
  try {
    assert.equal(before, budgetKib);
    // A hash larger than the whole budget is refused at once, never waits.
    assert.throws(() => password.hashSync('pw', { memoryCost: 8192, timeCost: 1, parallelism: 1 }), { code: 'INVALID_ARGUMENT' });
    assert.match(password.hashSync('pw', { memoryCost: 1024, timeCost: 1, parallelism: 1 }), /^\$argon2id\$/);
  } finally {
    password.setMemoryBudgetKib(before);
  }
  assert.throws(() => password.setMemoryBudgetKib(0), { code: 'INVALID_ARGUMENT' });
});
