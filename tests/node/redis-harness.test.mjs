// The Redis test harness itself (redis-harness.mjs): real servers start, stop,
// restart, pause and resume as the fault tests expect, a cluster covers every
// slot with three masters, and no redis-server outlives the Node process,
// however it ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import {
  CLUSTER_SLOTS,
  ReplyError,
  RedisUnavailable,
  crc16,
  findTools,
  keySlot,
  redisOrSkip,
  sharedClusterOrSkip,
  sharedRedisOrSkip,
  skipMessage,
  skipOrFail,
  uniquePrefix,
} from './redis-harness.mjs';

/**
 * A PING written and read by hand, independent of the harness's RESP code;
 * `timeoutMs` bounds the wait for the reply once connected (ETIMEDOUT).
 */
function rawPing(port, timeoutMs) {
  return new Promise((resolve, reject) => {
    let timer;
    const socket = net.connect({ port, host: '127.0.0.1' }, () => {
      socket.write('*1\r\n$4\r\nPING\r\n');
      timer = setTimeout(() => {
        socket.destroy();
        const err = new Error('no reply');
        err.code = 'ETIMEDOUT';
        reject(err);
      }, timeoutMs);
    });
    let got = '';
    socket.on('data', (d) => {
      got += d;
      if (got.endsWith('\r\n')) {
        clearTimeout(timer);
        socket.destroy();
        resolve(got);
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function connectError(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.on('connect', () => {
      socket.destroy();
      resolve(null);
    });
    socket.on('error', (err) => resolve(err.code));
  });
}

function processExists(pid) {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 1).trim().startsWith('Z');
  } catch {
    return true;
  }
}

test('a server answers PING over TCP and stores keys', async (t) => {
  const redis = await sharedRedisOrSkip(t);
  if (!redis) return;
  assert.equal(await rawPing(redis.port, 5000), '+PONG\r\n');
  assert.equal(redis.url, `redis://127.0.0.1:${redis.port}`);
  assert.deepEqual(redis.urls, [redis.url]);
  assert.ok(redis.running && !redis.paused);
  const key = `${uniquePrefix('ping')}k`;
  assert.equal(await redis.command('SET', key, 'v', 'EX', 60), 'OK');
  assert.equal(await redis.command('GET', key), 'v');
  assert.equal(await redis.command('GET', `${key}-missing`), null);
  await assert.rejects(
    redis.command('NO-SUCH-COMMAND'),
    (err) => err instanceof ReplyError && /unknown command/.test(err.message),
  );
});

test('a server has no persistence and binds loopback only', async (t) => {
  const redis = await sharedRedisOrSkip(t);
  if (!redis) return;
  const config = async (name) => (await redis.command('CONFIG', 'GET', name))[1];
  assert.equal(await config('save'), '');
  assert.equal(await config('appendonly'), 'no');
  assert.equal(await config('bind'), '127.0.0.1');
  assert.equal(await config('port'), String(redis.port));
  assert.equal(await sharedRedisOrSkip(t), redis, 'the shared server is started once');
});

test('stop closes the port; restart answers on the same port', async (t) => {
  const redis = await redisOrSkip(t);
  if (!redis) return;
  const { port } = redis;
  const firstPid = redis.pid;
  await redis.command('SET', 'before-stop', '1');

  await redis.stop();
  assert.equal(redis.running, false);
  assert.equal(redis.pid, null);
  assert.equal(await connectError(port), 'ECONNREFUSED');
  await redis.stop(); // idempotent

  await redis.restart();
  assert.equal(redis.port, port);
  assert.ok(redis.pid && redis.pid !== firstPid);
  assert.equal(await rawPing(port, 5000), '+PONG\r\n');
  assert.equal(await redis.command('GET', 'before-stop'), null, 'nothing persisted');

  await redis.restart(); // of a running server
  assert.ok(await redis.ping());
});

test('pause accepts connections but never answers until resume', async (t) => {
  const redis = await redisOrSkip(t);
  if (!redis) return;
  redis.pause();
  assert.ok(redis.paused);
  await assert.rejects(rawPing(redis.port, 300), { code: 'ETIMEDOUT' });
  assert.equal(await redis.ping(300), false);

  redis.resume();
  assert.ok(!redis.paused);
  assert.equal(await rawPing(redis.port, 5000), '+PONG\r\n');

  redis.pause();
  await redis.stop(); // a paused server is still killed
  assert.equal(await connectError(redis.port), 'ECONNREFUSED');
});

test('close removes the process, the port and the directory', async (t) => {
  const redis = await redisOrSkip(t);
  if (!redis) return;
  const { pid, port, dir } = redis;
  assert.ok(fs.statSync(dir).isDirectory());
  await redis.close();
  await redis.close();
  assert.equal(processExists(pid), false);
  assert.equal(await connectError(port), 'ECONNREFUSED');
  assert.equal(fs.existsSync(dir), false);
});

test('a cluster has three masters covering every slot', async (t) => {
  const cluster = await sharedClusterOrSkip(t);
  if (!cluster) return;
  assert.equal(cluster.urls.length, 3);
  assert.deepEqual(cluster.urls, cluster.nodes.map((n) => `redis://127.0.0.1:${n.port}`));
  for (const node of cluster.nodes) {
    const info = await node.command('CLUSTER', 'INFO');
    assert.match(info, /cluster_state:ok/);
    assert.match(info, new RegExp(`cluster_slots_assigned:${CLUSTER_SLOTS}`));
    assert.match(info, /cluster_known_nodes:3/);
    const nodes = await node.command('CLUSTER', 'NODES');
    assert.equal(nodes.split('\n').filter((l) => l.includes('master')).length, 3, nodes);
    assert.doesNotMatch(nodes, /fail/);
  }
  const spans = (await cluster.nodes[0].command('CLUSTER', 'SLOTS'))
    .map(([start, end, master]) => [start, end, master[1]])
    .sort((a, b) => a[0] - b[0]);
  let expected = 0;
  for (const [start, end] of spans) {
    assert.equal(start, expected, JSON.stringify(spans));
    expected = end + 1;
  }
  assert.equal(expected, CLUSTER_SLOTS);
  assert.equal(new Set(spans.map((s) => s[2])).size, 3);
});

test('a cluster key is served by its node and MOVED elsewhere', async (t) => {
  const cluster = await sharedClusterOrSkip(t);
  if (!cluster) return;
  const prefix = uniquePrefix('cluster');
  const owners = new Set();
  for (let i = 0; i < 12; i++) {
    const key = `${prefix}key-${i}`;
    const slot = keySlot(key);
    assert.equal(await cluster.nodes[0].command('CLUSTER', 'KEYSLOT', key), slot);
    const owner = await cluster.nodeForKey(key);
    owners.add(owner.port);
    assert.equal(await owner.command('SET', key, 'v', 'EX', 60), 'OK');
    assert.equal(await owner.command('GET', key), 'v');
    for (const other of cluster.nodes.filter((n) => n !== owner)) {
      await assert.rejects(other.command('GET', key), {
        name: 'Error',
        message: `MOVED ${slot} 127.0.0.1:${owner.port}`,
      });
    }
  }
  assert.ok(owners.size > 1);

  const [a, b] = [`{${prefix}}:a`, `{${prefix}}:b`];
  const owner = await cluster.nodeForKey(a);
  assert.equal(await cluster.nodeForKey(b), owner);
  assert.equal(await owner.command('MSET', a, '1', b, '2'), 'OK');
  assert.deepEqual(await owner.command('MGET', a, b), ['1', '2']);
  await owner.command('DEL', a, b);
});

test('the slot function matches Redis', () => {
  assert.equal(crc16('123456789'), 0x31c3);
  assert.equal(keySlot('foo'), 12182);
  assert.equal(keySlot('{user1000}.following'), keySlot('user1000'));
  assert.equal(keySlot('foo{}{bar}'), crc16('foo{}{bar}') % CLUSTER_SLOTS);
  assert.equal(keySlot('foo{{bar}}zap'), keySlot('{bar'));
});

test('missing Redis skips locally and fails in CI', (t) => {
  const empty = fs.mkdtempSync(`${os.tmpdir()}/no-redis-`);
  t.after(() => fs.rmSync(empty, { recursive: true, force: true }));
  assert.throws(
    () => findTools(empty),
    (err) => err instanceof RedisUnavailable && err.message === 'redis-server and redis-cli not on PATH',
  );
  assert.equal(
    skipMessage('redis-cli not on PATH'),
    'redis-server not found: redis-cli not on PATH; `make redis` installs it',
  );

  const saved = process.env.CI;
  t.after(() => {
    if (saved === undefined) delete process.env.CI;
    else process.env.CI = saved;
  });
  let skipped = null;
  const fakeT = { skip: (message) => (skipped = message) };
  delete process.env.CI;
  assert.equal(skipOrFail(fakeT, 'redis-cli not on PATH'), null);
  assert.equal(skipped, skipMessage('redis-cli not on PATH'));
  process.env.CI = 'true';
  skipped = null;
  assert.throws(() => skipOrFail(fakeT, 'redis-cli not on PATH'), /CI=true/);
  assert.equal(skipped, null);
});

const PROBE = `
import { startRedis, startCluster } from ${JSON.stringify(new URL('./redis-harness.mjs', import.meta.url))};
const servers = [await startRedis(), await startRedis()];
const cluster = await startCluster();
servers.push(...cluster.nodes);
console.log(servers.map((s) => s.pid + ':' + s.port + ':' + s.dir).join(' '));
if (process.argv.includes('wait')) process.stdin.resume(); // until killed
`;

function runProbe(mode) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', PROBE, mode], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) {
        const servers = out.trim().split(' ').map((s) => {
          const [pid, port, ...dir] = s.split(':');
          return { pid: Number(pid), port: Number(port), dir: dir.join(':') };
        });
        resolve({ child, servers });
      }
    });
    child.once('exit', (code) => reject(new Error(`the probe exited (${code}) before reporting: ${out}`)));
  });
}

async function assertAllGone(servers) {
  const deadline = Date.now() + 10_000;
  for (const { pid, port, dir } of servers) {
    while (processExists(pid) || fs.existsSync(dir)) {
      assert.ok(Date.now() < deadline, `redis-server ${pid} (port ${port}) outlived its process`);
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(await connectError(port), 'ECONNREFUSED');
  }
}

for (const ending of ['SIGKILL', 'exit']) {
  test(`no redis-server outlives its Node process (${ending})`, async (t) => {
    try {
      findTools();
    } catch (err) {
      if (err instanceof RedisUnavailable) return skipOrFail(t, err.message);
      throw err;
    }
    const { child, servers } = await runProbe(ending === 'SIGKILL' ? 'wait' : 'exit');
    assert.equal(servers.length, 5);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    if (ending === 'SIGKILL') {
      for (const { pid } of servers) assert.ok(processExists(pid), `${pid} runs before the kill`);
      child.kill('SIGKILL'); // no exit handler runs: only the watchdogs act
    }
    child.stdin.end();
    await exited;
    await assertAllGone(servers);
  });
}
