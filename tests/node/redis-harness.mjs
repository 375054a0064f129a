// Real Redis for the Node suites: a standalone redis-server and a three-master
// Redis Cluster, each started on free loopback ports.
//
//   import { sharedRedisOrSkip, redisOrSkip, sharedClusterOrSkip } from './redis-harness.mjs';
//
//   test('counts hits', async (t) => {
//     const redis = await sharedRedisOrSkip(t);   // one server per test file
//     if (!redis) return;                         // skipped: redis-server is not installed
//     const prefix = uniquePrefix('hits');        // tests on a shared server keep to their own keys
//   });
//
//   test('fails closed while Redis hangs', async (t) => {
//     const redis = await redisOrSkip(t);          // this test's own server: closed after the test
//     if (!redis) return;
//     redis.pause();                               // accepts TCP, never answers
//   });
//
// Guarantees:
// - Every server binds 127.0.0.1 only, on a port that was free, without
//   persistence (--save '', --appendonly no), in its own temporary directory
//   (which also holds its log, redis.log).
// - No orphan process. Each redis-server runs under a small `sh` watchdog that
//   reads a pipe whose only writer is this Node process. However the process
//   ends (return, uncaught error, SIGKILL), the kernel closes the pipe; the
//   watchdog then kills the server with SIGKILL, reaps it and removes its
//   directory. process.on('exit') also kills every server still open. The
//   harness's handles are unref'd: open servers never keep a process alive.
// - Skip policy (skipOrFail): when redis-server or redis-cli is missing,
//   t.skip('redis-server not found: ...') locally; with CI=true the test fails
//   instead: CI must run these tests (`make redis` installs Redis).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const CLUSTER_SLOTS = 16384;
const START_TIMEOUT_MS = 20_000;
const CLUSTER_TIMEOUT_MS = 60_000;
const COMMAND_TIMEOUT_MS = 5_000;
const PORT_ATTEMPTS = 5;

// Starts the server ($2...) in the background, prints its pid, then blocks
// reading stdin. A line "keep" (stop) or end of file (the owner closed the
// pipe or died) kills and reaps the server; only end of file also removes its
// directory ($1). SIGPIPE is ignored so an owner that died before reading the
// pid cannot kill the watchdog first; INT, TERM and HUP (Ctrl-C, `timeout`:
// the whole process group) are ignored once the server runs, so the watchdog
// stays to clean up after the owner.
const SERVER_WATCHDOG = `trap '' PIPE
dir=$1
shift
"$@" >>"$dir/redis.log" 2>&1 </dev/null &
pid=$!
trap '' INT TERM HUP
echo "$pid"
IFS= read -r line
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
[ "$line" = keep ] || rm -rf "$dir"
`;

// Runs a command that ends by itself ($@), exits with its status, and kills it
// if stdin ends first.
const COMMAND_WATCHDOG = `trap '' PIPE INT TERM HUP
exec 3<&0
"$@" </dev/null &
pid=$!
{ IFS= read -r line <&3; kill -KILL "$pid" 2>/dev/null; } &
watcher=$!
exec 3<&-
wait "$pid"
status=$?
kill -KILL "$watcher" 2>/dev/null
exit "$status"
`;

/** redis-server or redis-cli is not on PATH. */
export class RedisUnavailable extends Error {}

/** An error reply (`ERR ...`, `MOVED 1234 127.0.0.1:7001`). */
export class ReplyError extends Error {}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------
// Tools and the skip policy
// ---------------------------------------------------------------------------

function which(name, pathEnv) {
  for (const dir of pathEnv.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not there
    }
  }
  return null;
}

/** `{ server, cli }` found on `pathEnv` (default: PATH); RedisUnavailable names what is missing. */
export function findTools(pathEnv = process.env.PATH ?? '') {
  const server = which('redis-server', pathEnv);
  const cli = which('redis-cli', pathEnv);
  if (server && cli) return { server, cli };
  const missing = [!server && 'redis-server', !cli && 'redis-cli'].filter(Boolean);
  throw new RedisUnavailable(`${missing.join(' and ')} not on PATH`);
}

/** True when CI is `true` (as CI systems set it; `1` is accepted too). */
export function inCi() {
  return ['true', '1'].includes((process.env.CI ?? '').toLowerCase());
}

export function skipMessage(why) {
  return `redis-server not found: ${why}; \`make redis\` installs it`;
}

/**
 * The skip policy for `node --test`: `t.skip(message)` and null locally; with
 * CI=true, throws (the test fails).
 */
export function skipOrFail(t, why) {
  if (inCi()) throw new Error(`${skipMessage(why)} (CI=true: the Redis tests must run in CI)`);
  t.skip(skipMessage(why));
  return null;
}

let tools = null;
function getTools() {
  if (!tools) {
    const found = findTools();
    const version = spawnSync(found.server, ['--version'], { encoding: 'utf8' }).stdout ?? '';
    const major = Number(/v=(\d+)\./.exec(version)?.[1] ?? 0);
    tools = { ...found, major };
  }
  return tools;
}

// ---------------------------------------------------------------------------
// Ports, directories, the registry of open processes
// ---------------------------------------------------------------------------

const givenPorts = new Set();
const open = new Set();
let counter = 0;

function bindPort(port) {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(null));
    server.listen(port, '127.0.0.1', () => {
      const bound = server.address().port;
      server.close(() => resolve(bound));
    });
  });
}

/** A loopback port that was free a moment ago and that this process has not handed out before. */
async function freePort() {
  for (let i = 0; i < 100; i++) {
    const port = await bindPort(0);
    if (port && !givenPorts.has(port)) {
      givenPorts.add(port);
      return port;
    }
  }
  throw new Error('no unused loopback port after 100 tries');
}

/** A free port whose default cluster bus port (port + 10000) is free too (Redis before 7.0). */
async function freePortWithBus() {
  for (let i = 0; i < 100; i++) {
    const port = await freePort();
    if (port + 10000 <= 65535 && (await bindPort(port + 10000))) return port;
  }
  throw new Error('no loopback port with a free bus port after 100 tries');
}

function newDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), `bastion-redis-${process.pid}-${counter++}-`));
}

function hasExited(pid) {
  let stat;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return fs.existsSync('/proc/self');
  }
  return stat.slice(stat.lastIndexOf(')') + 1).trim().startsWith('Z');
}

/** Spawns a redis-server under its watchdog; resolves to `{ child, pid }` once the pid is known. */
function spawnWatched(dir, argv) {
  const child = spawn('sh', ['-c', SERVER_WATCHDOG, 'sh', dir, ...argv], {
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  const watched = { child, pid: 0, exited: false };
  child.once('exit', () => {
    watched.exited = true;
  });
  open.add(watched);
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (data) => {
      out += data;
      if (!out.includes('\n')) return;
      child.stdout.off('data', onData);
      child.stdout.destroy();
      watched.pid = Number(out.trim());
      // Open servers never keep the process alive; the pipe stays open.
      child.unref();
      child.stdin.unref?.();
      resolve(watched);
    };
    child.stdout.on('data', onData);
    child.once('error', reject);
    child.stdout.once('end', () => {
      if (!watched.pid) reject(new Error(`the watchdog printed no pid: ${JSON.stringify(out)}`));
    });
  });
}

/** Kills the server and waits until it is reaped; `keepDir` leaves its directory in place. */
async function killWatched(watched, keepDir) {
  const { child } = watched;
  if (!watched.exited) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.ref(); // keep the process alive until the watchdog is done
    if (!child.stdin.destroyed) child.stdin.end(keepDir ? 'keep\n' : '');
    await exited;
  }
  open.delete(watched);
}

process.on('exit', () => {
  // Synchronous: kill what is still open. The watchdogs see the pipe close as
  // this process ends and reap the servers and remove their directories.
  for (const { pid } of open) {
    try {
      if (pid) process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

// ---------------------------------------------------------------------------
// A minimal RESP2 client
// ---------------------------------------------------------------------------

export function encodeCommand(args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const data = Buffer.isBuffer(arg) ? arg : Buffer.from(String(arg));
    parts.push(Buffer.from(`$${data.length}\r\n`), data, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Parses one reply at `pos`: `[value, nextPos]`, or null when more bytes are needed. */
function parseReply(buf, pos) {
  const eol = buf.indexOf('\r\n', pos);
  if (eol < 0) return null;
  const kind = String.fromCharCode(buf[pos]);
  const rest = buf.toString('utf8', pos + 1, eol);
  const next = eol + 2;
  switch (kind) {
    case '+':
      return [rest, next];
    case '-':
      return [new ReplyError(rest), next];
    case ':':
      return [Number(rest), next];
    case '$': {
      const n = Number(rest);
      if (n < 0) return [null, next];
      if (buf.length < next + n + 2) return null;
      return [buf.subarray(next, next + n).toString('utf8'), next + n + 2];
    }
    case '*': {
      const n = Number(rest);
      if (n < 0) return [null, next];
      const items = [];
      let at = next;
      for (let i = 0; i < n; i++) {
        const item = parseReply(buf, at);
        if (!item) return null;
        items.push(item[0]);
        at = item[1];
      }
      return [items, at];
    }
    default:
      throw new Error(`unknown reply type ${JSON.stringify(kind)}`);
  }
}

/**
 * Sends one command to 127.0.0.1:`port` and resolves to its reply: a string
 * (status or bulk, as UTF-8), a number, null or an array. An error reply
 * rejects with ReplyError (inside an array it is an element). `timeoutMs`
 * bounds the whole exchange (rejects with an error whose code is ETIMEDOUT).
 */
export function command(port, args, { timeoutMs = COMMAND_TIMEOUT_MS } = {}) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    let buf = Buffer.alloc(0);
    const done = (err, value) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else if (value instanceof ReplyError) reject(value);
      else resolve(value);
    };
    const timer = setTimeout(() => {
      const err = new Error(`no reply from 127.0.0.1:${port} within ${timeoutMs} ms`);
      err.code = 'ETIMEDOUT';
      done(err);
    }, timeoutMs);
    socket.on('connect', () => socket.write(encodeCommand(args)));
    socket.on('data', (data) => {
      buf = Buffer.concat([buf, data]);
      let parsed;
      try {
        parsed = parseReply(buf, 0);
      } catch (err) {
        done(err);
        return;
      }
      if (parsed) done(null, parsed[0]);
    });
    socket.on('error', (err) => done(err));
    socket.on('close', () => done(new Error('connection closed before a reply')));
  });
}

// ---------------------------------------------------------------------------
// RedisServer
// ---------------------------------------------------------------------------

class PortTaken extends Error {}

/** One redis-server on a loopback port. */
export class RedisServer {
  #port;
  #busPort;
  #watched = null;
  #paused = false;

  /** Use startRedis(). */
  constructor(port, busPort, dir) {
    this.#port = port;
    this.#busPort = busPort;
    /** The server's own directory (its log; nodes.conf for a cluster node). */
    this.dir = dir;
  }

  /** @internal */
  static async launch({ clusterNode = false } = {}) {
    const { major } = getTools();
    let last = '';
    for (let i = 0; i < PORT_ATTEMPTS; i++) {
      let port;
      let bus = null;
      if (!clusterNode) port = await freePort();
      else if (major >= 7) [port, bus] = [await freePort(), await freePort()];
      else {
        port = await freePortWithBus();
        bus = port + 10000;
      }
      const server = new RedisServer(port, bus, newDir());
      try {
        await server.#spawn();
        return server;
      } catch (err) {
        await server.close();
        if (!(err instanceof PortTaken)) throw err;
        last = err.message;
      }
    }
    throw new Error(`redis-server found no free port in ${PORT_ATTEMPTS} tries; last: ${last}`);
  }

  #argv() {
    const { server, major } = getTools();
    const argv = [server, '--port', String(this.#port), '--bind', '127.0.0.1', '--save', ''];
    argv.push('--appendonly', 'no', '--daemonize', 'no', '--dir', this.dir);
    if (this.#busPort !== null) {
      argv.push('--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf');
      argv.push('--cluster-node-timeout', '3000');
      if (major >= 7) argv.push('--cluster-port', String(this.#busPort));
    }
    return argv;
  }

  async #spawn() {
    const watched = await spawnWatched(this.dir, this.#argv());
    this.#watched = watched;
    this.#paused = false;
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      let info = null;
      try {
        info = await command(this.#port, ['INFO', 'server'], { timeoutMs: 1000 });
      } catch {
        // not answering yet
      }
      if (info !== null) {
        const id = /^process_id:(\d+)/m.exec(info)?.[1];
        if (Number(id) === watched.pid) return;
        await this.#kill(true);
        throw new PortTaken(`port ${this.#port} is answered by another redis-server`);
      }
      if (hasExited(watched.pid)) {
        await this.#kill(true);
        const log = this.log();
        const why = `redis-server exited at start on port ${this.#port}:\n${log}`;
        throw log.includes('in use') ? new PortTaken(why) : new Error(why);
      }
      if (Date.now() > deadline) {
        await this.#kill(true);
        const why = `redis-server did not answer on port ${this.#port} in ${START_TIMEOUT_MS} ms`;
        throw new Error(`${why}:\n${this.log()}`);
      }
      await sleep(20);
    }
  }

  async #kill(keepDir) {
    const watched = this.#watched;
    this.#watched = null;
    this.#paused = false;
    if (watched) await killWatched(watched, keepDir);
  }

  #running() {
    if (!this.#watched) throw new Error(`redis-server on port ${this.#port} is stopped`);
    return this.#watched;
  }

  /** `redis://127.0.0.1:PORT`. */
  get url() {
    return `redis://127.0.0.1:${this.#port}`;
  }

  /** `[url]`: the same shape as a cluster's. */
  get urls() {
    return [this.url];
  }

  /** The TCP port; the same across restart(). */
  get port() {
    return this.#port;
  }

  /** The server's pid while it runs; null when stopped. */
  get pid() {
    return this.#watched ? this.#watched.pid : null;
  }

  get running() {
    return this.#watched !== null;
  }

  get paused() {
    return this.#paused;
  }

  /**
   * Kills the server (SIGKILL: no shutdown, no save) and resolves once it is
   * gone: its port refuses connections. Idempotent.
   */
  async stop() {
    await this.#kill(true);
  }

  /**
   * Starts the server again on the same port (stopping it first if it runs)
   * and resolves once it answers. Its data is gone; a cluster node keeps its
   * identity and slots (nodes.conf).
   */
  async restart() {
    await this.stop();
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      try {
        await this.#spawn();
        return;
      } catch (err) {
        if (!(err instanceof PortTaken) || Date.now() > deadline) {
          throw new Error(`restart on port ${this.#port} failed: ${err.message}`);
        }
        await sleep(100);
      }
    }
  }

  /** Freezes the server (SIGSTOP): it accepts TCP connections but answers nothing until resume(). */
  pause() {
    process.kill(this.#running().pid, 'SIGSTOP');
    this.#paused = true;
  }

  /** Lets a paused server run again (SIGCONT). */
  resume() {
    process.kill(this.#running().pid, 'SIGCONT');
    this.#paused = false;
  }

  /** One command; see command(). */
  command(...args) {
    return command(this.#port, args);
  }

  /** Resolves true when the server answers PONG within `timeoutMs`. */
  async ping(timeoutMs = COMMAND_TIMEOUT_MS) {
    try {
      return (await command(this.#port, ['PING'], { timeoutMs })) === 'PONG';
    } catch {
      return false;
    }
  }

  /** The server's output so far, for failure messages. */
  log() {
    try {
      return fs.readFileSync(path.join(this.dir, 'redis.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /** Kills the server and removes its directory. Idempotent. */
  async close() {
    await this.#kill(false);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// RedisCluster
// ---------------------------------------------------------------------------

/**
 * Runs argv under COMMAND_WATCHDOG, output to `log`; resolves to its exit
 * code, or null after a timeout (it is then killed, as it is if this process
 * dies).
 */
async function runWatched(argv, log, timeoutMs) {
  const fd = fs.openSync(log, 'w');
  const child = spawn('sh', ['-c', COMMAND_WATCHDOG, 'sh', ...argv], { stdio: ['pipe', fd, fd] });
  fs.closeSync(fd);
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  let timer;
  const timedOut = new Promise((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const first = await Promise.race([exited, timedOut]);
  clearTimeout(timer);
  child.stdin.end(); // the lifeline: closing it kills the command if it still runs
  const code = await exited;
  return first === 'timeout' ? null : code;
}

/** CRC16/XMODEM (polynomial 0x1021, initial value 0), as Redis Cluster uses. */
export function crc16(data) {
  let crc = 0;
  for (const byte of Buffer.from(data)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = (crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1) & 0xffff;
  }
  return crc;
}

/** The hash slot of `key`: CRC16 of the key, or of its non-empty {hash tag}, modulo 16384. */
export function keySlot(key) {
  let data = Buffer.from(key);
  const open = data.indexOf('{');
  if (open >= 0) {
    const close = data.indexOf('}', open + 1);
    if (close > open + 1) data = data.subarray(open + 1, close);
  }
  return crc16(data) % CLUSTER_SLOTS;
}

/** Three Redis Cluster masters on loopback ports, every slot assigned, no replicas. */
export class RedisCluster {
  /** Use startCluster(). */
  constructor(nodes) {
    /** The three masters (RedisServer), in start order. */
    this.nodes = nodes;
  }

  /** @internal */
  static async launch() {
    const { cli } = getTools();
    const cluster = new RedisCluster([]);
    try {
      for (let i = 0; i < 3; i++) cluster.nodes.push(await RedisServer.launch({ clusterNode: true }));
      const log = path.join(cluster.nodes[0].dir, 'cluster-create.log');
      const argv = [cli, '--cluster', 'create', ...cluster.nodes.map((n) => `127.0.0.1:${n.port}`)];
      argv.push('--cluster-replicas', '0', '--cluster-yes');
      const code = await runWatched(argv, log, CLUSTER_TIMEOUT_MS);
      if (code !== 0) {
        throw new Error(`redis-cli --cluster create failed (${code}):\n${fs.readFileSync(log, 'utf8')}`);
      }
      await cluster.waitUntilOk();
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return cluster;
  }

  async #notReady() {
    const problems = [];
    for (const node of this.nodes) {
      let info;
      try {
        info = await node.command('CLUSTER', 'INFO');
      } catch (err) {
        problems.push(`port ${node.port}: ${err.message}`);
        continue;
      }
      const lines = new Set(info.split('\n').map((l) => l.trim()));
      const wanted = [
        'cluster_state:ok',
        `cluster_slots_assigned:${CLUSTER_SLOTS}`,
        `cluster_known_nodes:${this.nodes.length}`,
      ];
      if (!wanted.every((w) => lines.has(w))) problems.push(`port ${node.port}:\n${info}`);
    }
    return problems;
  }

  /**
   * Resolves once every node reports cluster_state:ok with all slots assigned
   * (e.g. after a node restart); rejects after `timeoutMs`.
   */
  async waitUntilOk(timeoutMs = CLUSTER_TIMEOUT_MS) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const problems = await this.#notReady();
      if (problems.length === 0) return;
      if (Date.now() > deadline) {
        throw new Error(`the cluster did not reach cluster_state:ok: ${problems.join('\n')}`);
      }
      await sleep(50);
    }
  }

  /** `redis://127.0.0.1:PORT` of every node, in start order. */
  get urls() {
    return this.nodes.map((n) => n.url);
  }

  /** The first node's URL (a cluster client discovers the others from it). */
  get url() {
    return this.nodes[0].url;
  }

  /** The node serving `key`'s slot, as the cluster says (CLUSTER SLOTS). */
  async nodeForKey(key) {
    const slot = keySlot(key);
    for (const [start, end, master] of await this.nodes[0].command('CLUSTER', 'SLOTS')) {
      if (start <= slot && slot <= end) return this.nodes.find((n) => n.port === master[1]);
    }
    throw new Error(`no node serves slot ${slot}`);
  }

  /** Kills every node and removes their directories. Idempotent. */
  async stop() {
    await Promise.all(this.nodes.map((n) => n.close()));
  }

  /** The same as stop(). */
  close() {
    return this.stop();
  }
}

// ---------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------

/** A fresh standalone server; rejects with RedisUnavailable when Redis is not installed. */
export function startRedis() {
  return RedisServer.launch();
}

/** A fresh three-master cluster; rejects with RedisUnavailable when Redis is not installed. */
export function startCluster() {
  return RedisCluster.launch();
}

async function orSkip(t, start, after) {
  try {
    const instance = await start();
    if (after) t.after(() => instance.close());
    return instance;
  } catch (err) {
    if (err instanceof RedisUnavailable) return skipOrFail(t, err.message);
    throw err;
  }
}

let shared = null;
let sharedClusterPromise = null;

/** The server shared by every test of this file (process), started on first use, killed at exit. */
export function sharedRedis() {
  shared ??= startRedis();
  return shared;
}

/** The cluster shared by every test of this file (process), started on first use, killed at exit. */
export function sharedCluster() {
  sharedClusterPromise ??= startCluster();
  return sharedClusterPromise;
}

/** A fresh server for test `t` alone (closed after it), or null after t.skip(). */
export function redisOrSkip(t) {
  return orSkip(t, startRedis, true);
}

/** A fresh cluster for test `t` alone (closed after it), or null after t.skip(). */
export function clusterOrSkip(t) {
  return orSkip(t, startCluster, true);
}

/** The shared server (tests must not stop or pause it), or null after t.skip(). */
export function sharedRedisOrSkip(t) {
  return orSkip(t, sharedRedis, false);
}

/** The shared cluster (tests must not stop its nodes), or null after t.skip(). */
export function sharedClusterOrSkip(t) {
  return orSkip(t, sharedCluster, false);
}

let prefixCounter = 0;
/** A key prefix no other test of this process gets, e.g. `test:hits:4711:3:`. */
export function uniquePrefix(tag) {
  return `test:${tag}:${process.pid}:${prefixCounter++}:`;
}
