// Rate limiting in Node: bastion's RateLimiter against rate-limiter-flexible, in memory and on Redis.
//
// Run with `make bench` (release build; it makes sure redis-server is installed). Starts its own
// redis-server on a free loopback port with the test harness (tests/node/redis-harness.mjs) and stops
// it at the end. Prints a table and writes bench/results/ratelimit_node.json.
//
// The workload is bench/ratelimit_bench.py's: a limit of 100/minute, client keys (IPv4 addresses as
// strings) of which 20% go to one hot key and the rest uniformly to 10,000 distinct keys. Every timed
// run starts from empty state (a new limiter in memory, FLUSHALL on Redis) and replays the same
// sequence. Repeats are interleaved across cases; the best run of each case counts.
//
// 1. In memory, one thread (µs per decision): bastion `checkSync` (synchronous) and `check` (a
//    Promise, awaited one at a time) against rate-limiter-flexible's `RateLimiterMemory.consume`
//    (a Promise, awaited one at a time).
// 2. Redis, 64 decisions in flight from one process (decisions per second): bastion `check` against
//    `RateLimiterRedis` on ioredis, as ioredis comes and with its `enableAutoPipelining` option.
//    Before timing, each case's commands per decision are counted by the server (slow log, as in the
//    Python bench).
import { createRequire } from "node:module";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { startRedis } from "../tests/node/redis-harness.mjs";

const require = createRequire(import.meta.url);
const nodeModules = new URL("../node/node_modules/", import.meta.url).pathname;
const fromNode = (name) => require(require.resolve(name, { paths: [nodeModules] }));
const versionOf = (name) => fromNode(`${name}/package.json`).version;
const bastion = require("../node/lib/index.js");
const { RateLimiterMemory, RateLimiterRedis } = fromNode("rate-limiter-flexible");
const Redis = fromNode("ioredis");

const RATE = "100/minute";
const POINTS = 100;
const DURATION_S = 60;
const DISTINCT_KEYS = 10_000;
const HOT_SHARE = 0.2;
const HOT_KEY = "203.0.113.7";
const MEMORY_OPS = 20_000;
const MEMORY_REPEATS = 9;
const REDIS_OPS = 10_000;
const REDIS_REPEATS = 7;
const IN_FLIGHT = 64;
const COUNT_OPS = 1_000;
const STORE_TIMEOUT_MS = 1000; // a bound on a call on a shared machine, not a speed setting

/** A small seeded PRNG (mulberry32): the same sequence on every run. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function workload(n, seed) {
  const rnd = prng(seed);
  const pool = Array.from({ length: DISTINCT_KEYS }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  return Array.from({ length: n }, () => (rnd() < HOT_SHARE ? HOT_KEY : pool[Math.floor(rnd() * DISTINCT_KEYS)]));
}

/** What an exact limiter admits for `keys` (every run fits well inside one window). */
function expectedAdmitted(keys) {
  const counts = new Map();
  for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1);
  let n = 0;
  for (const c of counts.values()) n += Math.min(c, POINTS);
  return n;
}

// rate-limiter-flexible's consume rejects with a RateLimiterRes when the limit is reached, and with an
// Error when the store fails: the first is a denial, the second is thrown on.
const rlfAdmitted = (p) =>
  p.then(
    () => true,
    (e) => {
      if (e instanceof Error) throw e;
      return false;
    },
  );

/** How idle the machine's cores are over `ms` (other work on the machine), in percent. */
async function machineIdlePercent(ms = 2000) {
  const read = () =>
    os.cpus().reduce(
      (acc, c) => {
        const t = c.times;
        return [acc[0] + t.user + t.nice + t.sys + t.idle + t.irq, acc[1] + t.idle];
      },
      [0, 0],
    );
  const [total0, idle0] = read();
  await new Promise((resolve) => setTimeout(resolve, ms));
  const [total1, idle1] = read();
  return (100 * (idle1 - idle0)) / Math.max(1, total1 - total0);
}

const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;

// ---------------------------------------------------------------------------------------------------
// 1. In memory
// ---------------------------------------------------------------------------------------------------

function memoryCases() {
  const ours = (algorithm) => () => new bastion.RateLimiter(RATE, { algorithm });
  return [
    {
      name: "bastion checkSync, sliding_window",
      library: "bastion",
      algorithm: "sliding_window",
      mode: "sync",
      setup: ours("sliding_window"),
      admitted: (l, k) => l.checkSync(k, 1).allowed,
      run(l, keys) {
        const t0 = process.hrtime.bigint();
        for (const k of keys) l.checkSync(k, 1);
        return seconds(t0);
      },
    },
    {
      name: "bastion checkSync, fixed_window",
      library: "bastion",
      algorithm: "fixed_window",
      mode: "sync",
      setup: ours("fixed_window"),
      admitted: (l, k) => l.checkSync(k, 1).allowed,
      run(l, keys) {
        const t0 = process.hrtime.bigint();
        for (const k of keys) l.checkSync(k, 1);
        return seconds(t0);
      },
    },
    {
      name: "bastion check (Promise), sliding_window",
      library: "bastion",
      algorithm: "sliding_window",
      mode: "promise",
      setup: ours("sliding_window"),
      admitted: async (l, k) => (await l.check(k, 1)).allowed,
      async run(l, keys) {
        const t0 = process.hrtime.bigint();
        for (const k of keys) await l.check(k, 1);
        return seconds(t0);
      },
    },
    {
      name: "rate-limiter-flexible RateLimiterMemory.consume",
      library: "rate-limiter-flexible",
      algorithm: "fixed_window_from_first",
      mode: "promise",
      setup: () => new RateLimiterMemory({ points: POINTS, duration: DURATION_S }),
      admitted: (l, k) => rlfAdmitted(l.consume(k)),
      async run(l, keys) {
        const t0 = process.hrtime.bigint();
        for (const k of keys) await rlfAdmitted(l.consume(k));
        return seconds(t0);
      },
    },
  ];
}

async function memoryBenchmarks(keys) {
  const cases = memoryCases();
  const want = expectedAdmitted(keys);
  const admitted = [];
  for (const c of cases) {
    const l = c.setup();
    let n = 0;
    for (const k of keys) if (await c.admitted(l, k)) n++;
    admitted.push(n);
    if (c.algorithm !== "fixed_window" && n !== want) {
      throw new Error(`${c.name} admitted ${n}, an exact limiter admits ${want}`);
    }
  }
  const best = cases.map(() => Infinity);
  for (let r = 0; r < MEMORY_REPEATS; r++) {
    for (const [i, c] of cases.entries()) {
      const t = await c.run(c.setup(), keys);
      best[i] = Math.min(best[i], (t / keys.length) * 1e6);
    }
  }
  const rows = cases.map((c, i) => ({
    case: c.name,
    library: c.library,
    algorithm: c.algorithm,
    mode: c.mode,
    us: best[i],
    admitted: admitted[i],
  }));
  const peer = rows[3];
  const pairs = [
    pair("sync vs Promise, sliding_window", rows[0], peer),
    pair("sync vs Promise, fixed_window", rows[1], peer),
    pair("Promise vs Promise, sliding_window", rows[2], peer),
  ];
  console.log(
    `\nIn memory, one thread: ${keys.length} decisions per run, limit ${RATE}, ${HOT_SHARE * 100}% to one hot key, ` +
      `the rest over ${DISTINCT_KEYS} keys (best of ${MEMORY_REPEATS} interleaved runs, µs/decision)`,
  );
  for (const r of rows) {
    console.log(`  ${r.case.padEnd(50)} ${r.us.toFixed(3).padStart(8)} µs   admitted ${r.admitted}/${keys.length}`);
  }
  for (const p of pairs) console.log(`  ${p.pair.padEnd(40)} ${p.peer} / ${p.bastion} = ${p.ratio.toFixed(2)}x`);
  return { decisions: keys.length, admitted_exact: want, repeats: MEMORY_REPEATS, rows, pairs };
}

/** Peer time over bastion's (µs), or bastion's rate over the peer's (decisions/s). */
function pair(name, ours, peer) {
  const ratio = "us" in ours ? peer.us / ours.us : ours.per_s / peer.per_s;
  return { pair: name, bastion: ours.case, peer: peer.case, ratio };
}

// ---------------------------------------------------------------------------------------------------
// 2. Redis, 64 in flight
// ---------------------------------------------------------------------------------------------------

/** Runs a decision for every key with `n` in flight; resolves to [seconds, decisions admitted]. */
async function inFlight(decide, keys, n) {
  let next = 0;
  let admitted = 0;
  const worker = async () => {
    while (next < keys.length) {
      if (await decide(keys[next++])) admitted++;
    }
  };
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: n }, worker));
  return [seconds(t0), admitted];
}

/** CPU microseconds of the Redis server, and the reads from client sockets it has made. */
async function redisCpuUs(admin) {
  const info = await admin.info("cpu");
  const stats = await admin.info("stats");
  const field = (text, name) => Number(new RegExp(`${name}:([\\d.]+)`).exec(text)[1]);
  return [(field(info, "used_cpu_user") + field(info, "used_cpu_sys")) * 1e6, field(stats, "total_reads_processed")];
}

const OWN_COMMANDS = new Set(["slowlog", "config", "info", "flushall"]);

/** Calls per command since the last CONFIG RESETSTAT, the calls a script makes included. */
async function commandstats(admin) {
  const out = {};
  for (const line of (await admin.info("commandstats")).split("\n")) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (m && !OWN_COMMANDS.has(m[1].split("|")[0])) out[m[1]] = Number(m[2]);
  }
  return out;
}

/**
 * Redis commands per decision over `keys.length` decisions, 64 in flight, counted by the server: the
 * slow log with a threshold of 0 µs records every command with the address of the client that sent it,
 * and the commands a Lua script calls with the script's pseudo-client (address `?:0`).
 */
async function countCommands(admin, c, keys) {
  await admin.flushall();
  await inFlight(c.decide, keys.slice(0, 100), IN_FLIGHT); // connections open, scripts loaded
  await admin.config("SET", "slowlog-max-len", "1000000");
  await admin.config("SET", "slowlog-log-slower-than", "0");
  await admin.slowlog("RESET");
  await admin.config("RESETSTAT");
  await inFlight(c.decide, keys, IN_FLIGHT);
  await admin.config("SET", "slowlog-log-slower-than", "10000");
  const entries = await admin.slowlog("GET", "-1");
  const stats = await commandstats(admin);
  await admin.slowlog("RESET");
  const sent = {};
  for (const e of entries) {
    const name = String(e[3][0]).toLowerCase();
    if (String(e[4]) !== "?:0" && !OWN_COMMANDS.has(name)) sent[name] = (sent[name] ?? 0) + 1;
  }
  const per = (o) => Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k] / keys.length]));
  const sum = (o) => Object.values(o).reduce((a, b) => a + b, 0) / keys.length;
  return {
    sent_per_decision: sum(sent),
    sent: per(sent),
    executed_per_decision: sum(stats),
    executed: per(stats),
  };
}

function redisCases(url, clients) {
  const store = new bastion.Store(url, { timeoutMs: STORE_TIMEOUT_MS, prefix: "bastion:" });
  const ours = (algorithm) => {
    const l = new bastion.RateLimiter(RATE, { store, name: `bench-${algorithm}`, algorithm });
    return {
      name: `bastion check, ${algorithm}`,
      library: "bastion",
      algorithm,
      client: "bastion",
      decide: (k) => l.check(k, 1).then((d) => d.allowed),
    };
  };
  const peer = (client, label) => {
    const l = new RateLimiterRedis({ storeClient: client, points: POINTS, duration: DURATION_S });
    return {
      name: `rate-limiter-flexible RateLimiterRedis (${label})`,
      library: "rate-limiter-flexible",
      algorithm: "fixed_window_from_first",
      client: label,
      decide: (k) => rlfAdmitted(l.consume(k)),
    };
  };
  return [
    ours("sliding_window"),
    ours("fixed_window"),
    peer(clients.plain, "ioredis"),
    peer(clients.pipelined, "ioredis, enableAutoPipelining"),
    ours("sliding_counter"),
    ours("gcra"),
  ];
}

async function redisBenchmarks(server, keys) {
  const url = server.url;
  const admin = new Redis(url); // FLUSHALL and counting, on its own connection
  const redisServer = /redis_version:(\S+)/.exec(await admin.info("server"))[1];
  console.log(`Redis ${redisServer} on loopback`);
  const clients = {
    plain: new Redis(url),
    pipelined: new Redis(url, { enableAutoPipelining: true }),
  };
  const cases = redisCases(url, clients);
  const want = expectedAdmitted(keys);
  const counts = [];
  const admitted = [];
  for (const c of cases) {
    counts.push(await countCommands(admin, c, keys.slice(0, COUNT_OPS)));
    await admin.flushall();
    const [, n] = await inFlight(c.decide, keys, IN_FLIGHT);
    admitted.push(n);
    if (c.algorithm !== "fixed_window" && c.algorithm !== "sliding_counter" && c.algorithm !== "gcra" && n !== want) {
      throw new Error(`${c.name} admitted ${n}, an exact limiter admits ${want}`);
    }
  }
  const best = cases.map(() => Infinity);
  const cpu = cases.map(() => [0, 0, 0]);
  for (let r = 0; r < REDIS_REPEATS; r++) {
    for (const [i, c] of cases.entries()) {
      await admin.flushall();
      const client0 = process.cpuUsage();
      const [server0, reads0] = await redisCpuUs(admin);
      const [t] = await inFlight(c.decide, keys, IN_FLIGHT);
      if (t < best[i]) {
        best[i] = t;
        const client = process.cpuUsage(client0);
        const [server1, reads1] = await redisCpuUs(admin);
        // The reads include the two INFO calls of the counting connection.
        cpu[i] = [client.user + client.system, server1 - server0, reads1 - reads0 - 2];
      }
    }
  }
  const rows = cases.map((c, i) => ({
    case: c.name,
    library: c.library,
    algorithm: c.algorithm,
    client: c.client,
    per_s: keys.length / best[i],
    us_per_decision: (best[i] / keys.length) * 1e6,
    client_cpu_us: cpu[i][0] / keys.length,
    redis_cpu_us: cpu[i][1] / keys.length,
    decisions_per_read: keys.length / Math.max(1, cpu[i][2]),
    admitted: admitted[i],
    ...counts[i],
  }));
  const peers = rows.filter((r) => r.library === "rate-limiter-flexible");
  const fastest = peers.reduce((a, b) => (b.per_s > a.per_s ? b : a));
  const byAlg = (alg) => rows.find((r) => r.library === "bastion" && r.algorithm === alg);
  const pairs = [
    pair("fixed window", byAlg("fixed_window"), fastest),
    pair("sliding window vs fixed window", byAlg("sliding_window"), fastest),
  ];
  console.log(
    `\nRedis, one process, ${IN_FLIGHT} decisions in flight: ${keys.length} decisions per run ` +
      `(best of ${REDIS_REPEATS} interleaved runs, each from FLUSHALL)`,
  );
  for (const r of rows) {
    console.log(
      `  ${r.case.padEnd(62)} ${Math.round(r.per_s).toLocaleString("en-US").padStart(9)} /s  ` +
        `(${r.us_per_decision.toFixed(1).padStart(6)} µs each; CPU µs client ${r.client_cpu_us.toFixed(1)}, ` +
        `Redis ${r.redis_cpu_us.toFixed(1)}; ${r.decisions_per_read.toFixed(1)} decisions per server read)  sent ${r.sent_per_decision.toFixed(2)}/decision ` +
        `${JSON.stringify(r.sent)}, run in scripts too ${r.executed_per_decision.toFixed(2)}`,
    );
  }
  for (const p of pairs) console.log(`  ${p.pair.padEnd(40)} ${p.bastion} / ${p.peer} = ${p.ratio.toFixed(2)}x`);
  for (const c of [admin, clients.plain, clients.pipelined]) c.disconnect();
  return {
    redis_server: redisServer,
    decisions: keys.length,
    admitted_exact: want,
    in_flight: IN_FLIGHT,
    repeats: REDIS_REPEATS,
    counted_decisions: COUNT_OPS,
    store_timeout_ms: STORE_TIMEOUT_MS,
    rows,
    pairs,
  };
}

// ---------------------------------------------------------------------------------------------------

async function main() {
  const idleBefore = await machineIdlePercent();
  const versions = {
    node: process.version,
    cores: os.cpus().length,
    rate_limiter_flexible: versionOf("rate-limiter-flexible"),
    ioredis: versionOf("ioredis"),
  };
  console.log(
    `Node ${versions.node}, ${versions.cores} cores; rate-limiter-flexible ${versions.rate_limiter_flexible}, ` +
      `ioredis ${versions.ioredis}; machine idle before the run: ${idleBefore.toFixed(0)}%`,
  );
  const memory = await memoryBenchmarks(workload(MEMORY_OPS, 1));
  const server = await startRedis();
  let redis;
  try {
    redis = await redisBenchmarks(server, workload(REDIS_OPS, 2));
  } finally {
    await server.close();
  }
  const out = {
    ...versions,
    machine_idle_before_pct: idleBefore,
    redis_server: redis.redis_server,
    rate: RATE,
    distinct_keys: DISTINCT_KEYS,
    hot_share: HOT_SHARE,
    memory,
    redis,
  };
  mkdirSync(new URL("results/", import.meta.url), { recursive: true });
  writeFileSync(new URL("results/ratelimit_node.json", import.meta.url), JSON.stringify(out, null, 2));
}

await main();
process.exit(0);
