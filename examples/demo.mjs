// bastion from Node: sign and verify tokens, hash and verify passwords.
//
// Run by `make demo`. Every step prints what happened; nothing here is mocked.
import { createRequire } from "node:module";
import { generateKeyPairSync } from "node:crypto";

const require = createRequire(import.meta.url);
const jwt = require("../node/lib/index.js");
const { Key, ManualClock, Verifier, password } = jwt;

const SIGNING_KEY = "demo-signing-key-7f3a9c1e5b2d4f6a8c0e2b4d6f8a0c2e";
const step = (title) => console.log(`\n== ${title}`);

console.log("bastion — Node");

step("HS256 token, the jsonwebtoken way");
const token = jwt.sign({ sub: "42", username: "ada", roles: ["admin"] }, SIGNING_KEY, {
  algorithm: "HS256",
  expiresIn: "30m",
});
console.log(`token: ${token.slice(0, 48)}... (${token.length} bytes)`);
console.log("verified claims:", jwt.verify(token, SIGNING_KEY, { algorithms: ["HS256"] }));

step("A tampered token is refused");
const [head, payload, sig] = token.split(".");
const forged = `${head}.${payload}.${sig.slice(0, -2)}${sig.endsWith("AA") ? "BB" : "AA"}`;
try {
  jwt.verify(forged, SIGNING_KEY, { algorithms: ["HS256"] });
} catch (e) {
  console.log(`${e.name}: ${e.message} (code ${e.code})`);
}

step("alg: none is never accepted");
try {
  jwt.verify(`eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.${payload}.`, SIGNING_KEY, { algorithms: ["HS256"] });
} catch (e) {
  console.log(`${e.name}: ${e.message} (code ${e.code})`);
}

step("An expired token, on an injected clock");
const iat = JSON.parse(Buffer.from(payload, "base64url").toString()).iat;
const clock = new ManualClock(iat);
console.log("at t+0:   ", JSON.parse(new Verifier(SIGNING_KEY, { algorithms: ["HS256"] }, clock).verify(token)).sub);
clock.advance(1800);
try {
  jwt.verify(token, SIGNING_KEY, { algorithms: ["HS256"], clock });
} catch (e) {
  console.log(`at t+1800: ${e.name}: ${e.message}, expiredAt ${e.expiredAt.toISOString()} (code ${e.code})`);
}

step("ES256 with typed keys; the public key can never be an HMAC secret");
const { privateKey, publicKey } = generateKeyPairSync("ec", {
  namedCurve: "P-256",
  publicKeyEncoding: { type: "spki", format: "pem" },
  privateKeyEncoding: { type: "pkcs8", format: "pem" },
});
const signer = Key.fromPem(privateKey);
const verifierKey = Key.fromPem(publicKey);
console.log(`keys: ${signer.family} (can sign: ${signer.canSign}) / ${verifierKey.family} (can sign: ${verifierKey.canSign})`);
const esToken = jwt.sign({ sub: "42" }, signer, { algorithm: "ES256", expiresIn: 600 });
console.log("ES256 claims:", jwt.verify(esToken, verifierKey, { algorithms: ["ES256"] }));
try {
  Key.hmac(publicKey);
} catch (e) {
  console.log(`Key.hmac(public PEM): ${e.message} (code ${e.code})`);
}

step("Passwords: Argon2id with argon2-cffi's defaults, off the main thread");
let ticks = 0;
const timer = setInterval(() => ticks++, 1);
const started = performance.now();
const stored = await password.hash("correct horse battery staple");
clearInterval(timer);
console.log(`hash (${Math.round(performance.now() - started)} ms, event loop ticked ${ticks} times meanwhile): ${stored}`);
console.log("verify right password:", await password.verify(stored, "correct horse battery staple"));
console.log("verify wrong password:", await password.verify(stored, "Tr0ub4dor&3"));

step("Django's own hash formats verify unchanged");
const django = "pbkdf2_sha256$1200000$abcdefghijklmnopqrstuv$4nUVMnB05qriJHJ1+jCMx8NiTVq+isKh6zMzJqbQ0gs=";
console.log("pbkdf2_sha256 (1.2M iterations):", password.verifySync(django, "correct horse battery staple"));
console.log("needs rehash for Argon2id defaults:", password.needsRehash(django));

step("Token pairs on the embedded store: rotation, reuse detection, revocation");
const { TokenService } = jwt;
const events = [];
const tokens = new TokenService(Key.hmac(SIGNING_KEY), { onEvent: (e) => events.push(e) });
const first = await tokens.issuePair("42", { username: "ada", roles: ["staff"] });
const second = await tokens.rotate(first.refresh);
console.log(`rotated: same family ${second.family === first.family}, claims`, await tokens.verify(second.access));
try {
  await tokens.rotate(first.refresh);
} catch (e) {
  console.log(`old refresh token again: ${e.message} (code ${e.code})`);
}
try {
  await tokens.verify(second.access);
} catch (e) {
  console.log(`the family's newest access token: ${e.message} (code ${e.code})`);
}
await new Promise((r) => setImmediate(r));
console.log("event:", events.find((e) => e.event === "token_reuse"));
