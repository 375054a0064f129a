// Circuit breaker in Node: bastion's CircuitBreaker against opossum, side by side.
//
// Run with `make bench` (release build). Prints a table and writes bench/results/breaker_node.json.
//
// Each case makes N calls one after another, awaiting each (µs per call, best of 7 interleaved runs):
// 1. success through a closed breaker: bastion `call(fn)` and `fire()`, and the two-step
//    `tryAcquire()` + `success()` around a synchronous call; opossum `fire()`;
// 2. failure through a closed breaker that does not open (bastion failMax 1e9; opossum with
//    errorThresholdPercentage 100, which it never exceeds, and its rolling percentiles off: on,
//    each failure sorts every latency of the 10 s window, which made 100,000 failures take minutes);
// 3. rejected while open: bastion `call` rejecting with CIRCUIT_OPEN and `tryAcquire()` returning
//    null; opossum `fire()` rejecting with EOPENBREAKER.
// The action is an async function that returns (or throws) at once; "unwrapped" calls it directly.
import { createRequire } from "node:module";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";

const require = createRequire(import.meta.url);
const nodeModules = new URL("../node/node_modules/", import.meta.url).pathname;
const fromNode = (name) => require(require.resolve(name, { paths: [nodeModules] }));
const bastion = require("../node/lib/index.js");
const Opossum = fromNode("opossum");
const opossumVersion = fromNode("opossum/package.json").version;

const N = 100_000;
const REPEATS = 7;

const ok = async () => 1;
const fail = async () => {
  throw new Error("down");
};
const syncOk = () => 1;

async function timeCase(run) {
  const t0 = process.hrtime.bigint();
  await run(N);
  return Number(process.hrtime.bigint() - t0) / 1e3 / N;
}

function cases() {
  const closed = new bastion.CircuitBreaker(ok, { failMax: 1e9 });
  const failing = new bastion.CircuitBreaker(fail, { failMax: 1e9 });
  const open = new bastion.CircuitBreaker(ok, { failMax: 1, resetTimeout: 3600 });
  open.open();
  // Rolling percentiles off: with them on (opossum's default), every failure sorts the latencies of
  // the whole 10 s window, so its failure path grows with the number of calls in the window.
  const opts = { timeout: false, errorThresholdPercentage: 100, resetTimeout: 3_600_000, rollingPercentilesEnabled: false };
  const oClosed = new Opossum(ok, opts);
  const oFailing = new Opossum(fail, opts);
  const oOpen = new Opossum(ok, opts);
  oOpen.open();
  const swallow = (p) => p.catch(() => {});
  return {
    success: {
      unwrapped: async (n) => {
        for (let i = 0; i < n; i++) await ok();
      },
      "bastion call(fn)": async (n) => {
        for (let i = 0; i < n; i++) await closed.call(ok);
      },
      "bastion fire()": async (n) => {
        for (let i = 0; i < n; i++) await closed.fire();
      },
      "bastion tryAcquire() + success() around a sync call": async (n) => {
        for (let i = 0; i < n; i++) {
          const p = closed.tryAcquire();
          syncOk();
          p.success();
        }
      },
      "opossum fire()": async (n) => {
        for (let i = 0; i < n; i++) await oClosed.fire();
      },
    },
    failure: {
      unwrapped: async (n) => {
        for (let i = 0; i < n; i++) await swallow(fail());
      },
      "bastion fire()": async (n) => {
        for (let i = 0; i < n; i++) await swallow(failing.fire());
      },
      "opossum fire()": async (n) => {
        for (let i = 0; i < n; i++) await swallow(oFailing.fire());
      },
    },
    open: {
      "bastion fire() rejecting CIRCUIT_OPEN": async (n) => {
        for (let i = 0; i < n; i++) await swallow(open.fire());
      },
      "bastion tryAcquire() (null)": async (n) => {
        for (let i = 0; i < n; i++) open.tryAcquire();
      },
      "opossum fire() rejecting EOPENBREAKER": async (n) => {
        for (let i = 0; i < n; i++) await swallow(oOpen.fire());
      },
    },
  };
}

async function main() {
  const all = cases();
  const best = {};
  for (let r = 0; r < REPEATS; r++) {
    for (const [group, runs] of Object.entries(all)) {
      for (const [name, run] of Object.entries(runs)) {
        const us = await timeCase(run);
        const key = `${group}|${name}`;
        best[key] = Math.min(best[key] ?? Infinity, us);
      }
    }
  }
  const rows = Object.entries(best).map(([key, us]) => {
    const [group, name] = key.split("|");
    return { group, case: name, us };
  });
  console.log(`Node ${process.version}, ${os.cpus().length} cores; opossum ${opossumVersion}`);
  console.log(`\nCircuit breaker, ${N} calls awaited one at a time (best of ${REPEATS}; µs per call):`);
  for (const r of rows) console.log(`  ${r.group.padEnd(8)} ${r.case.padEnd(54)} ${r.us.toFixed(3)} µs`);
  const us = (group, name) => rows.find((r) => r.group === group && r.case === name).us;
  const ratios = {
    success: us("success", "opossum fire()") / us("success", "bastion fire()"),
    failure: us("failure", "opossum fire()") / us("failure", "bastion fire()"),
    open: us("open", "opossum fire() rejecting EOPENBREAKER") / us("open", "bastion fire() rejecting CIRCUIT_OPEN"),
  };
  const overhead = {
    bastion: us("success", "bastion fire()") - us("success", "unwrapped"),
    opossum: us("success", "opossum fire()") - us("success", "unwrapped"),
    bastionFailure: us("failure", "bastion fire()") - us("failure", "unwrapped"),
    opossumFailure: us("failure", "opossum fire()") - us("failure", "unwrapped"),
  };
  for (const [k, v] of Object.entries(ratios)) console.log(`  ${k.padEnd(8)} opossum / bastion = ${v.toFixed(2)}x`);
  console.log(
    `  overhead over the unwrapped call: success bastion ${overhead.bastion.toFixed(3)} µs, opossum ` +
      `${overhead.opossum.toFixed(3)} µs; failure bastion ${overhead.bastionFailure.toFixed(3)} µs, opossum ` +
      `${overhead.opossumFailure.toFixed(3)} µs`,
  );
  mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
  writeFileSync(
    new URL("./results/breaker_node.json", import.meta.url),
    JSON.stringify({ node: process.version, cores: os.cpus().length, opossum: opossumVersion, n: N, repeats: REPEATS, rows, ratios, overhead }, null, 2),
  );
}

await main();
