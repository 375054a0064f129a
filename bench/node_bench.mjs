// Node benchmarks: bastion against jsonwebtoken, jose and @node-rs/jsonwebtoken, one run.
//
// Run with `make bench` (release build). Prints a table and writes bench/results/node.json.
// Timings are the best of several repeats (µs per operation); ratios are peer / bastion.
import { createRequire } from "node:module";
import { generateKeyPairSync, createSecretKey, createPrivateKey, createPublicKey } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";

const require = createRequire(import.meta.url);
const nodeModules = new URL("../node/node_modules/", import.meta.url).pathname;
const fromNode = (name) => require(require.resolve(name, { paths: [nodeModules] }));
const bastion = require("../node/lib/index.js");
const jsonwebtoken = fromNode("jsonwebtoken");
const jose = fromNode("jose");
const noders = fromNode("@node-rs/jsonwebtoken");

const NOW = Math.floor(Date.now() / 1000);
const SECRET = "k8Jd93hsQ0-bench-secret-2Xz7pL4mN1vB6cR9tY3wE5uI8oA0sD";
const CLAIMS = {
  sub: "1234567890",
  name: "Ada Lovelace",
  username: "ada",
  roles: ["admin", "editor"],
  iss: "https://auth.example.com",
  aud: "api.example.com",
  iat: NOW,
  exp: NOW + 3600,
};
const VERIFY = { audience: "api.example.com", issuer: "https://auth.example.com" };

function perOpSync(fn, n, repeat = 5) {
  for (let i = 0; i < Math.min(n, 200); i++) fn();
  let best = Infinity;
  for (let r = 0; r < repeat; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t) / 1000 / n);
  }
  return best;
}

async function perOpAsync(fn, n, repeat = 5) {
  for (let i = 0; i < Math.min(n, 100); i++) await fn();
  let best = Infinity;
  for (let r = 0; r < repeat; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t) / 1000 / n);
  }
  return best;
}

const rows = [];
function record(group, op, peer, peerUs, oursUs) {
  rows.push({ group, op, peer, peer_us: peerUs, bastion_us: oursUs, ratio: peerUs / oursUs });
  console.log(
    `${group.padEnd(7)} ${op.padEnd(30)} ${peer.padEnd(22)} ${peerUs.toFixed(2).padStart(9)} µs  bastion ${oursUs
      .toFixed(2)
      .padStart(8)} µs  ${(peerUs / oursUs).toFixed(1).padStart(6)}x`,
  );
}

async function hs256() {
  const n = 20000;
  const ours = bastion.sign(CLAIMS, SECRET, { algorithm: "HS256" });
  const verifyOurs = () => bastion.verify(ours, SECRET, { algorithms: ["HS256"], ...VERIFY });
  verifyOurs();
  const oursSign = perOpSync(() => bastion.sign(CLAIMS, SECRET, { algorithm: "HS256" }), n);
  const oursVerify = perOpSync(verifyOurs, n);

  const t1 = jsonwebtoken.sign(CLAIMS, SECRET, { algorithm: "HS256" });
  record("HS256", "sign", "jsonwebtoken", perOpSync(() => jsonwebtoken.sign(CLAIMS, SECRET, { algorithm: "HS256" }), 5000), oursSign);
  record(
    "HS256",
    "verify + exp/aud/iss",
    "jsonwebtoken",
    perOpSync(() => jsonwebtoken.verify(t1, SECRET, { algorithms: ["HS256"], ...VERIFY }), 5000),
    oursVerify,
  );

  const header = { algorithm: "HS256" };
  const t2 = noders.signSync(CLAIMS, SECRET, header);
  const validation = { algorithms: ["HS256"], aud: ["api.example.com"], iss: ["https://auth.example.com"] };
  noders.verifySync(t2, SECRET, validation);
  record("HS256", "sign", "@node-rs/jsonwebtoken", perOpSync(() => noders.signSync(CLAIMS, SECRET, header), n), oursSign);
  const noderVerify = perOpSync(() => noders.verifySync(t2, SECRET, validation), n);
  record("HS256", "verify + exp/aud/iss", "@node-rs/jsonwebtoken", noderVerify, oursVerify);
  // bastion's own API for many tokens with one configuration: options converted
  // once; JSON.parse of the claims included.
  const verifier = new bastion.Verifier(SECRET, {
    algorithms: ["HS256"],
    audience: ["api.example.com"],
    issuer: ["https://auth.example.com"],
    requiredClaims: [],
  });
  record(
    "HS256",
    "verify (bastion.Verifier, claims parsed)",
    "@node-rs/jsonwebtoken",
    noderVerify,
    perOpSync(() => JSON.parse(verifier.verify(ours)), n),
  );

  const key = createSecretKey(Buffer.from(SECRET));
  const t3 = await new jose.SignJWT(CLAIMS).setProtectedHeader({ alg: "HS256" }).sign(key);
  const joseVerify = await perOpAsync(() => jose.jwtVerify(t3, key, { algorithms: ["HS256"], ...VERIFY }), 5000);
  const joseSign = await perOpAsync(() => new jose.SignJWT(CLAIMS).setProtectedHeader({ alg: "HS256" }).sign(key), 5000);
  record("HS256", "sign", "jose (async)", joseSign, oursSign);
  record("HS256", "verify + exp/aud/iss", "jose (async)", joseVerify, oursVerify);
  const oursVerifyAsync = await perOpAsync(() => bastion.verifyAsync(ours, SECRET, { algorithms: ["HS256"], ...VERIFY }), 5000);
  record("HS256", "verify (both async)", "jose (async)", joseVerify, oursVerifyAsync);
}

async function rs256(cacheSize) {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  const ours = bastion.sign(CLAIMS, privateKey, { algorithm: "RS256" });
  const oursSign = perOpSync(() => bastion.sign(CLAIMS, privateKey, { algorithm: "RS256" }), 300);
  const oursVerify = perOpSync(() => bastion.verify(ours, publicKey, { algorithms: ["RS256"], ...VERIFY }), 3000);

  const t1 = jsonwebtoken.sign(CLAIMS, privateKey, { algorithm: "RS256" });
  record("RS256", "sign", "jsonwebtoken", perOpSync(() => jsonwebtoken.sign(CLAIMS, privateKey, { algorithm: "RS256" }), 300), oursSign);
  record(
    "RS256",
    "verify + exp/aud/iss",
    "jsonwebtoken",
    perOpSync(() => jsonwebtoken.verify(t1, publicKey, { algorithms: ["RS256"], ...VERIFY }), 3000),
    oursVerify,
  );
  const t2 = noders.signSync(CLAIMS, privateKey, { algorithm: "RS256" });
  const validation = { algorithms: ["RS256"], aud: ["api.example.com"], iss: ["https://auth.example.com"] };
  record("RS256", "sign", "@node-rs/jsonwebtoken", perOpSync(() => noders.signSync(CLAIMS, privateKey, { algorithm: "RS256" }), 300), oursSign);
  record(
    "RS256",
    "verify + exp/aud/iss",
    "@node-rs/jsonwebtoken",
    perOpSync(() => noders.verifySync(t2, publicKey, validation), 1000),
    oursVerify,
  );
  bastion.setVerifiedTokenCacheSize(cacheSize);
  record(
    "RS256",
    "verify, token seen before (cache)",
    "jsonwebtoken",
    perOpSync(() => jsonwebtoken.verify(t1, publicKey, { algorithms: ["RS256"], ...VERIFY }), 3000),
    perOpSync(() => bastion.verify(ours, publicKey, { algorithms: ["RS256"], ...VERIFY }), 3000),
  );
  bastion.setVerifiedTokenCacheSize(0);
  const priv = createPrivateKey(privateKey);
  const pub = createPublicKey(publicKey);
  const t3 = await new jose.SignJWT(CLAIMS).setProtectedHeader({ alg: "RS256" }).sign(priv);
  record(
    "RS256",
    "sign",
    "jose (async)",
    await perOpAsync(() => new jose.SignJWT(CLAIMS).setProtectedHeader({ alg: "RS256" }).sign(priv), 300),
    oursSign,
  );
  record(
    "RS256",
    "verify + exp/aud/iss",
    "jose (async)",
    await perOpAsync(() => jose.jwtVerify(t3, pub, { algorithms: ["RS256"], ...VERIFY }), 3000),
    oursVerify,
  );
}

console.log(`Node ${process.version}, ${os.cpus().length} cores`);
// Every verify row runs with bastion's verified-token cache OFF (each call
// decodes and checks the signature) except the "token seen before" rows.
const cacheSize = bastion.setVerifiedTokenCacheSize(0);
await hs256();
await rs256(cacheSize);
mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
writeFileSync(
  new URL("./results/node.json", import.meta.url),
  JSON.stringify({ node: process.version, cores: os.cpus().length, rows }, null, 2),
);
