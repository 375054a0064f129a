// Type definitions for bastion-engine: a drop-in for the `jsonwebtoken`
// package (sign, verify, decode and its error classes) over bastion's native
// core, with Promise twins, typed keys, an injectable clock, password
// hashing, start-up checks of secrets, API keys and rate limiting. Every
// error carries the core's stable `code`.

/// <reference types="node" />
import type { KeyObject } from 'node:crypto';
import type { Key, ManualClock, Verifier } from '../index';

export {
  Key,
  ManualClock,
  Verifier,
  setVerifiedTokenCacheSize,
  validateSecret,
  checkSigningKeySeparate,
  clientIp,
  clientKey,
  ApiKeyHasher,
  IssuedApiKey,
  apiKeyId,
  Store,
  KeySet,
  JwksClient,
  CreatedApiKey,
} from '../index';
export type {
  ClientIpOptions,
  VerifierOptions,
  ApiKeyHasherOptions,
  PreviousPepper,
  StoreOptions,
  TokenPair,
  TokenServiceOptions,
  KeySetOptions,
  SkippedKey,
  JwksClientOptions,
  JwksStatus,
  ApiKeysOptions,
  ApiKeyRecord,
  ApiKeyRateLimit,
  CreateApiKeyOptions,
  RevokeApiKeyOptions,
  LockoutOptions,
  ProgressiveOptions,
  LockoutAttempt,
  LockoutState,
  LockedEntry,
  UnlockOptions,
  BreakerOptions,
  BreakerStats,
  Health,
  StoreHealth,
  BreakerHealth,
} from '../index';
import type { Store, TokenPair, TokenServiceOptions, ApiKeysOptions, ApiKeyHasher, LockoutOptions, BreakerOptions, BreakerStats, Health } from '../index';
import { EventEmitter } from 'node:events';
import { ApiKeys as NativeApiKeys, Lockout as NativeLockout } from '../index';

/** Options of an `ApiKeys` registry, with the store its records live in. */
export interface ApiKeysConfig extends ApiKeysOptions {
  /** Where the records are kept (default: this process's memory). */
  store?: Store | null;
  /**
   * Aborted (its reason the `ETIMEDOUT` error) when a call takes longer than `callTimeout`, as
   * opossum's option is: the action passes its `signal` on (to `fetch`, `http.get` ...).
   */
  abortController?: AbortController | null;
}

/**
 * The store-backed API key registry: `create`, `verify` (offline format check,
 * then one round trip), `list`, `revoke`, `revokeAll`. See docs/apikeys.md.
 */
export declare class ApiKeys extends NativeApiKeys {
  constructor(hasher: ApiKeyHasher, options?: ApiKeysConfig | null, clock?: ManualClock | null);
}

/** Options of a `Lockout`, with where its counts live and who hears its events. */
export interface LockoutConfig extends LockoutOptions {
  /** Where the counts are kept (default: this process's memory). */
  store?: Store | null;
  /** Drives a default memory store and the local outage store in tests. */
  clock?: ManualClock | null;
  /** Receives each event: `locked_out`, `unlocked`, `store_unavailable` (identifiers only). */
  onEvent?: ((event: SecurityEvent) => void) | null;
}

/**
 * Account lockout after failed logins with django-axes' settings: a key per
 * parameter group (default `[['username'], ['ip_address']]`), `failureLimit`
 * failures (default 10) lock it for `cooloff` (default one hour). Promise
 * methods on every store; `*Sync` twins on a memory store. See docs/lockout.md.
 */
export declare class Lockout extends NativeLockout {
  constructor(options?: LockoutConfig | null);
}

/** Options of a `CircuitBreaker`: the core's, plus the clock and which outcomes count. */
export interface CircuitBreakerConfig extends BreakerOptions {
  /** Drives every time rule in tests (default the system clock). */
  clock?: ManualClock | null;
  /** Whether an error counts as a failure (default: every error does); false counts it as a success. */
  isFailure?: ((err: unknown) => boolean) | null;
  /** Whether a returned value counts as a failure (an HTTP 503 returned, not thrown). */
  resultIsFailure?: ((result: unknown) => boolean) | null;
  /**
   * A Redis `Store`: the state is shared with every process (Node or Python) whose breaker has
   * the same name on that Redis. The store's clock is used (do not give `clock` too).
   */
  store?: Store | null;
  /**
   * Aborted (its reason the `ETIMEDOUT` error) when a call takes longer than `callTimeout`, as
   * opossum's option is: the action passes its `signal` on (to `fetch`, `http.get` ...).
   */
  abortController?: AbortController | null;
}

/** The right to make one call through a breaker; report it once. */
export declare class BreakerPermit {
  private constructor();
  /** Whether this call is a half-open probe. */
  get isProbe(): boolean;
  /** The call succeeded; the state this moved the breaker to, or null. */
  success(): 'closed' | 'open' | 'half-open' | null;
  /** The call failed; the state this moved the breaker to, or null. */
  failure(): 'closed' | 'open' | 'half-open' | null;
  /** Neither (a cancelled call): counts nothing, frees the permit. */
  ignore(): 'closed' | 'open' | 'half-open' | null;
}

/**
 * A circuit breaker: `failMax` failures in a row (or `failureRate` over a window) open it for
 * `resetTimeout`, then `halfOpenMaxCalls` probes decide. Calls run in parallel (nothing is held
 * around them). Events: `open`, `halfOpen`, `close` (and `stateChange` for each), `success`,
 * `failure`, `timeout`, `reject`, `fallback`. See docs/breaker.md.
 */
export declare class CircuitBreaker<A extends unknown[] = unknown[], R = unknown> extends EventEmitter {
  constructor(action: (...args: A) => R | Promise<R>, options?: CircuitBreakerConfig | null);
  constructor(options?: CircuitBreakerConfig | null);
  /** Calls the constructor's action with `args` through the breaker. */
  fire(...args: A): Promise<R>;
  /** Calls `fn(...args)` through the breaker; rejects with `CIRCUIT_OPEN` (and `retryAfter`) while open. */
  call<P extends unknown[], T>(fn: (...args: P) => T | Promise<T>, ...args: P): Promise<T>;
  /** Called with the arguments and the error when a call is rejected or fails; its result is returned instead. */
  fallback(fn: (...args: any[]) => unknown): this;
  /** A permit for one call; throws `CIRCUIT_OPEN` (with `retryAfter`) when rejected. */
  acquire(): BreakerPermit;
  /** A permit for one call, or null when rejected. */
  tryAcquire(): BreakerPermit | null;
  get state(): 'closed' | 'open' | 'half-open';
  get name(): string;
  stats(): BreakerStats;
  /** Shared through Redis: resolves once this process follows the shared state read now. */
  sync(): Promise<void>;
  open(): void;
  close(): void;
  halfOpen(): void;
}

/**
 * Single-flight: concurrent callers of one key share one computation. `do(key, fn)` runs `fn()`
 * in the first caller (the leader) and gives every caller that arrives meanwhile the same outcome,
 * with `shared` true when it went to more than one. Nothing is kept once the flight ends; an error
 * goes to the callers waiting at that moment only. See docs/singleflight.md.
 */
export declare class SingleFlight {
  constructor();
  do<T>(key: string, fn: () => T | Promise<T>): Promise<[T, boolean]>;
  forget(key: string): void;
  waiting(key: string): number;
  get inFlight(): number;
}

/** Turns values into Buffers and back (the default is JSON). */
export interface CacheSerializer {
  dumps(value: unknown): Buffer;
  loads(data: Buffer): unknown;
}

export interface SharedCacheJsOptions extends SharedCacheOptions {
  serializer?: 'json' | CacheSerializer;
  onEvent?: (event: Record<string, string>) => void;
}

/**
 * A value computed once across the callers of every process sharing a Store:
 * in-process coalescing, then a fenced lease per key, waiters woken by
 * broadcast, freshness rules (ttl, stale-while-revalidate, stale-if-error,
 * XFetch, negative caching), in-process fallback while Redis is down, and on
 * Redis a local tier answering values read lately for `localTtl` (1 s by
 * default) without a round trip, dropped everywhere on news by broadcast.
 */
export declare class SharedCache {
  constructor(store?: import('../index').Store | null, options?: SharedCacheJsOptions);
  get<T>(key: string, fn: () => T | Promise<T>): Promise<T | null>;
  invalidate(key: string): Promise<void>;
  ready(timeoutMs?: number): Promise<boolean>;
  waiting(key: string): number;
  localEntries(): number;
  stats(): Record<string, number>;
}

declare module '../index' {
  interface JwksClient {
    /**
     * A `(header, callback)` key function for `jwt.verify(token,
     * client.getKeyCallback(), { algorithms: [...] }, cb)`: looks the key up
     * by the header's `kid` and `alg` (fetching the set when needed) and calls
     * back with a node:crypto public `KeyObject`, or with the coded error
     * (`KEY_NOT_FOUND`, `JWKS_FETCH_FAILED`). Works with the `jsonwebtoken`
     * package and with this package's `verify` / `verifyAsync`.
     */
    getKeyCallback(): GetPublicKeyOrSecret;
  }
}

import * as password from './password';
export { password };

/** The stable codes of the core's errors (`err.code`). */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'INVALID_KEY'
  | 'MALFORMED_TOKEN'
  | 'INVALID_ALGORITHM'
  | 'INVALID_SIGNATURE'
  | 'TOKEN_EXPIRED'
  | 'TOKEN_NOT_YET_VALID'
  | 'INVALID_ISSUED_AT'
  | 'INVALID_AUDIENCE'
  | 'INVALID_ISSUER'
  | 'INVALID_SUBJECT'
  | 'INVALID_JTI'
  | 'INVALID_TOKEN_TYPE'
  | 'MISSING_CLAIM'
  | 'INVALID_HASH'
  | 'INVALID_NONCE'
  | 'WEAK_SECRET'
  | 'INVALID_API_KEY'
  | 'API_KEY_EXPIRED'
  | 'API_KEY_REVOKED'
  | 'STORE_UNAVAILABLE'
  | 'STORE_FULL'
  | 'TOKEN_REVOKED'
  | 'TOKEN_REUSED'
  | 'TOKEN_ALREADY_ROTATED'
  | 'PERMISSION_DENIED'
  | 'INVALID_KEY_SET'
  | 'KEY_NOT_FOUND'
  | 'JWKS_FETCH_FAILED'
  | 'RATE_LIMITED'
  | 'ACCOUNT_LOCKED'
  | 'CIRCUIT_OPEN'
  | 'INTERNAL';

/** What `validateSecret` checks a secret for. */
export type SecretPurpose = 'HS256' | 'HS384' | 'HS512' | 'django' | 'pepper' | 'generic';

/** An `Error` thrown by the native core: `code`, and `at` / `claim` when they apply. */
export interface BastionError extends Error {
  /** The stable code of the failure. */
  code: ErrorCode;
  /** For time errors: the instant (seconds since the epoch) of expiry or validity. */
  at?: number;
  /** For claim errors: the claim concerned. */
  claim?: string;
  /** For `RATE_LIMITED` and `ACCOUNT_LOCKED`: seconds until a retry may succeed. */
  retryAfter?: number;
}

/** Base class of every verification failure, as in jsonwebtoken. */
export class JsonWebTokenError extends Error {
  constructor(message: string, error?: Error, code?: ErrorCode);
  name: string;
  /** The core's stable code (e.g. `'INVALID_SIGNATURE'`). */
  code?: ErrorCode;
  /** The native error this one was made from. */
  inner?: Error;
}

/** `exp` has passed (`'jwt expired'`) or the token is older than `maxAge` (`'maxAge exceeded'`). Code `TOKEN_EXPIRED`. */
export class TokenExpiredError extends JsonWebTokenError {
  constructor(message: string, expiredAt: Date, error?: Error, code?: ErrorCode);
  /** When the token expired. */
  expiredAt: Date;
}

/** `nbf` (or `iat`) lies in the future (`'jwt not active'`). Code `TOKEN_NOT_YET_VALID`. */
export class NotBeforeError extends JsonWebTokenError {
  constructor(message: string, date: Date, error?: Error, code?: ErrorCode);
  /** When the token becomes valid. */
  date: Date;
}

/** A JWS algorithm bastion implements; `none` never is. */
export type Algorithm =
  | 'HS256' | 'HS384' | 'HS512'
  | 'RS256' | 'RS384' | 'RS512'
  | 'PS256' | 'PS384' | 'PS512'
  | 'ES256' | 'ES384' | 'ES512' | 'ES256K'
  | 'EdDSA';

/**
 * A key, in any form jsonwebtoken accepts and more: a string or Buffer (a
 * PEM, OpenSSH, JWK or DER key, or else an HMAC secret; classified by the
 * core, restricted to the families of the accepted algorithms, parsed once
 * and cached), a `Key`, a node:crypto `KeyObject` (exported once and cached
 * per object), a JWK object, `{ key, passphrase }` (read through node:crypto,
 * e.g. an encrypted PEM), or any Uint8Array.
 */
export type KeyLike =
  | string
  | Buffer
  | Uint8Array
  | Key
  | KeyObject
  | JsonWebKeyLike
  | { key: string | Buffer; passphrase?: string; format?: string; type?: string };

/** A JWK object (`kty` and its members). */
export interface JsonWebKeyLike {
  kty: string;
  [member: string]: unknown;
}

/** A time span: seconds, or a vercel/ms string such as `"2h"`, `"7d"`, `"30m"` (no unit = milliseconds). */
export type TimeSpan = number | string;

/** A JSON Web Token's claims. */
export interface JwtPayload {
  [claim: string]: unknown;
  iss?: string;
  sub?: string;
  aud?: string | string[];
  exp?: number;
  nbf?: number;
  iat?: number;
  jti?: string;
}

/** A JOSE header. */
export interface JwtHeader {
  alg: string;
  typ?: string;
  kid?: string;
  cty?: string;
  [parameter: string]: unknown;
}

/** A token's parts, as `verify` / `decode` return them with `complete: true`. */
export interface Jwt {
  header: JwtHeader;
  payload: JwtPayload;
  /** The signature segment, base64url. */
  signature: string;
}

/** jsonwebtoken's sign options (unknown names throw), plus `clock`. */
export interface SignOptions {
  /** The signing algorithm (default `'HS256'`; `options.header.alg` takes precedence). */
  algorithm?: Algorithm;
  /** Sets `exp` to `iat` + this span. The payload must not have `exp`. */
  expiresIn?: TimeSpan;
  /** Sets `nbf` to `iat` + this span. The payload must not have `nbf`. */
  notBefore?: TimeSpan;
  /** Sets `aud`. */
  audience?: string | string[];
  /** Sets `iss`. */
  issuer?: string;
  /** Sets `sub`. */
  subject?: string;
  /** Sets `jti`. */
  jwtid?: string;
  /** Leaves `iat` out (by default `iat` is the current time, floored to seconds). */
  noTimestamp?: boolean;
  /** Further header members; its `typ` (`null` leaves typ out) and `kid` win. */
  header?: Partial<JwtHeader>;
  /** The header `kid` (default: a `Key`'s own `kid`). */
  keyid?: string;
  /** Write `iat`/`exp`/`nbf`/`aud`/... into the given payload object itself. */
  mutatePayload?: boolean;
  /** Accept HMAC secrets shorter than the hash output (RSA keys under 2048 bits are always refused). */
  allowInsecureKeySizes?: boolean;
  /** Accepted for compatibility; keys are typed, so it has no effect. */
  allowInvalidAsymmetricKeyTypes?: boolean;
  /** Accepted for compatibility (`'utf8'`). */
  encoding?: string;
  /** bastion: read "now" from this clock instead of the system clock. */
  clock?: ManualClock;
}

/** jsonwebtoken's verify options, plus bastion's. */
export interface VerifyOptions {
  /** Accepted algorithms. Default: every algorithm of the key's family (HS256/384/512 for a secret, RS and PS for RSA, ...). */
  algorithms?: Algorithm[];
  /** Accepted audiences (`aud` must contain one). RegExp audiences are not supported. Without it, a token carrying `aud` is rejected. */
  audience?: string | string[];
  /** Accepted issuers. */
  issuer?: string | string[];
  /** Expected `sub`. */
  subject?: string;
  /** Expected `jti`. */
  jwtid?: string;
  /** Seconds of clock skew tolerated on `exp`, `nbf`, `iat` and `maxAge`. */
  clockTolerance?: number;
  /** Maximum age since `iat` (which becomes required): seconds or a span such as `"2d"`. */
  maxAge?: TimeSpan;
  /** "Now", in seconds since the epoch. */
  clockTimestamp?: number;
  /** Do not check `exp`. */
  ignoreExpiration?: boolean;
  /** Do not check `nbf`. */
  ignoreNotBefore?: boolean;
  /** Return `{ header, payload, signature }`. */
  complete?: boolean;
  /** Expected `nonce` claim (OpenID Connect). */
  nonce?: string;
  /** Accepted for compatibility; keys are typed, so it has no effect. */
  allowInvalidAsymmetricKeyTypes?: boolean;
  /** bastion: claims that must be present (default `[]`, as jsonwebtoken; the core's own default is `['exp']`). */
  requiredClaims?: string[];
  /** bastion: expected header `typ` (case-insensitive, `application/` prefix ignored). */
  typ?: string;
  /** bastion: read "now" from this clock (`clockTimestamp` takes precedence). */
  clock?: ManualClock;
  /** bastion: largest accepted token in bytes (default 8192), checked before anything else. */
  maxTokenSize?: number;
  /** bastion: `crit` header names the caller processes itself (default none: any `crit` is refused). */
  criticalExtensions?: string[];
  /** bastion: accept HMAC secrets shorter than the hash output. */
  allowInsecureKeySizes?: boolean;
}

/** jsonwebtoken's decode options. */
export interface DecodeOptions {
  /** Return `{ header, payload, signature }`. */
  complete?: boolean;
  /** Accepted for compatibility: payloads are always parsed as JSON. */
  json?: boolean;
  /** bastion: largest accepted token in bytes (default 8192). */
  maxTokenSize?: number;
}

export type SignCallback = (error: Error | null, token?: string) => void;
export type VerifyCallback<T = JwtPayload | Jwt> = (error: JsonWebTokenError | null, decoded?: T) => void;
/** A key chosen from the token's header (jsonwebtoken's callback form). */
export type GetPublicKeyOrSecret = (header: JwtHeader, callback: (error: Error | null, key?: KeyLike) => void) => void;
/** `verifyAsync`'s key function: returns (or resolves to) the key for a header. */
export type KeyForHeader = (header: JwtHeader) => KeyLike | Promise<KeyLike>;

/**
 * Signs `payload` (a plain object: string and Buffer payloads are not
 * supported) and returns the compact JWS. Throws an `Error` with `code`.
 * With a callback, signs on the libuv thread pool and calls back.
 */
export function sign(payload: object, secretOrPrivateKey: KeyLike, options?: SignOptions): string;
export function sign(payload: object, secretOrPrivateKey: KeyLike, callback: SignCallback): void;
export function sign(payload: object, secretOrPrivateKey: KeyLike, options: SignOptions, callback: SignCallback): void;

/** `sign` on the libuv thread pool (RSA and EC signing take milliseconds). */
export function signAsync(payload: object, secretOrPrivateKey: KeyLike, options?: SignOptions): Promise<string>;

/**
 * Verifies `token` and returns its payload (or `{ header, payload, signature }`
 * with `complete`). Throws `JsonWebTokenError`, `TokenExpiredError` or
 * `NotBeforeError` with jsonwebtoken's messages and the core's `code`. With a
 * callback, calls it with `(err, payload)`; the key may then be a function
 * `(header, callback)`.
 */
export function verify(token: string, secretOrPublicKey: KeyLike, options: VerifyOptions & { complete: true }): Jwt;
export function verify(token: string, secretOrPublicKey: KeyLike, options?: VerifyOptions): JwtPayload;
export function verify(token: string, secretOrPublicKey: KeyLike | GetPublicKeyOrSecret, callback: VerifyCallback): void;
export function verify(
  token: string,
  secretOrPublicKey: KeyLike | GetPublicKeyOrSecret,
  options: VerifyOptions,
  callback: VerifyCallback,
): void;

/** `verify` on the libuv thread pool; the key may be a function of the header. */
export function verifyAsync(
  token: string,
  secretOrPublicKey: KeyLike | KeyForHeader | GetPublicKeyOrSecret,
  options: VerifyOptions & { complete: true },
): Promise<Jwt>;
export function verifyAsync(
  token: string,
  secretOrPublicKey: KeyLike | KeyForHeader | GetPublicKeyOrSecret,
  options?: VerifyOptions,
): Promise<JwtPayload>;

/**
 * Decodes `token` WITHOUT verifying it: the payload (or `{ header, payload,
 * signature }` with `complete`), or `null` when the token cannot be decoded
 * (the core's strict parsing: JSON object payloads only, no duplicate names,
 * at most `maxTokenSize` bytes).
 */
export function decode(token: string, options: DecodeOptions & { complete: true }): Jwt | null;
export function decode(token: string, options?: DecodeOptions): JwtPayload | null;

/** A security event delivered to `onEvent` or the process-wide `events` (never a token or a secret). */
export interface SecurityEvent {
  /** `"token_reuse"`, `"token_revoked"`, `"store_unavailable"` (`component` says whose: `"revocation"`, `"ratelimit"`, `"lockout"`, ...), `"locked_out"`, `"unlocked"`. */
  event: string;
  /** The log prefix, e.g. `"[SECURITY]"`. */
  category: string;
  /** The event's fields (`subject`, `family`, `scope`, `component`, `policy`). */
  [field: string]: string;
}

/** Options of a `TokenService`: lifetimes in seconds, plus where its state lives. */
export interface TokenServiceConfig extends TokenServiceOptions {
  /** Where families and revocations are kept (default: a new memory store). */
  store?: Store | null;
  /** Drives `iat`/`exp` (and nothing else) in tests. */
  clock?: ManualClock | null;
  /** Receives each security event (refresh-token reuse, revocations, store outages). */
  onEvent?: ((event: SecurityEvent) => void) | null;
}

/**
 * Issues, rotates, verifies and revokes tokens, keeping their state in a `Store`.
 *
 * - `issuePair` signs an access token (default 30 minutes) and a refresh token
 *   (default 7 days), each with a random `jti`, and starts a family.
 * - `rotate` turns a refresh token into a new pair atomically: of concurrent
 *   rotations of one refresh token exactly one wins. Presenting an already
 *   rotated refresh token revokes its whole family and rejects with
 *   `TOKEN_REUSED`; within `rotationGrace` seconds the immediate predecessor
 *   rejects with `TOKEN_ALREADY_ROTATED` instead.
 * - `verify` checks signature, claims, type and revocation in one call; with
 *   the store unreachable it rejects with `STORE_UNAVAILABLE` (fail closed,
 *   the default) or accepts (`revocationPolicy: 'fail_open'`).
 */
export declare class TokenService {
  constructor(key: Key, options?: TokenServiceConfig);
  issuePair(subject: string | number, claims?: Record<string, unknown> | null): Promise<TokenPair>;
  rotate(refresh: string): Promise<TokenPair>;
  verify(token: string, kind?: 'access' | 'refresh'): Promise<Record<string, unknown>>;
  revoke(token: string, options?: { by?: string | number | null; admin?: boolean }): Promise<void>;
  revokeAll(subject: string | number): Promise<void>;
  revokeFamily(subject: string | number, family: string): Promise<boolean>;
}

/** A rate-limit algorithm; each one's guarantee is in docs/ratelimit.md. */
export type RateLimitAlgorithm =
  /** The exact sliding window (the default): at most `limit` in every interval of the window's length. At most 10,000 per window. */
  | 'sliding_window'
  /** The sliding-window counter: O(1) state, never more than `limit` per aligned window, at most twice that in the worst unaligned one. */
  | 'sliding_counter'
  /** The fixed window: `limit` per aligned window. */
  | 'fixed_window'
  /** GCRA: bursts of up to `limit`, then one unit every window / limit. */
  | 'gcra';

/** What a check does when the store cannot answer within its timeout. */
export type RateLimitOutagePolicy =
  /** A limiter in this process's memory decides (the default); its limits hold per process. */
  | 'local'
  /** Every request is admitted. */
  | 'fail_open'
  /** Every request is denied, with `retryAfter` 1 s. */
  | 'fail_closed';

/** Options of a `RateLimiter`. */
export interface RateLimiterConfig {
  /**
   * Where the counts live (default: a new memory store, this process only).
   * Limiters of one `name` on one Redis share their counts, whichever
   * process or language made them.
   */
  store?: Store | null;
  /**
   * The limiter's name: part of every store key and the policy name in the
   * `RateLimit` headers. 1 to 64 letters, digits, `_`, `.` or `-` (default
   * `'default'`).
   */
  name?: string;
  /** The algorithm of every limit (default `'sliding_window'`). */
  algorithm?: RateLimitAlgorithm;
  /** What a check does when the store cannot answer (default `'local'`). */
  outagePolicy?: RateLimitOutagePolicy;
  /** The `'local'` fallback's limits, as a rate string (default: the limiter's own). */
  localRates?: string;
  /**
   * Receives a `store_unavailable` event (component `'ratelimit'`) each time
   * the outage policy decided, on the JavaScript thread after the call.
   */
  onEvent?: ((event: SecurityEvent) => void) | null;
}

/** What one limit said about a request. */
export interface LimitStatus {
  /** The limit, in canonical form (`'5/15m'`). */
  rate: string;
  /** Whether this limit alone would admit the request. */
  allowed: boolean;
  /** Units left in this limit (after the charge when the request was admitted). */
  remaining: number;
  /** Seconds until this limit is back to full capacity. */
  resetAfter: number;
  /** Seconds until this limit would admit the request (0 when it does). */
  retryAfter: number;
}

/** Every field of a `Decision`, `limits` included (`toJSON()`). */
export interface DecisionFields {
  allowed: boolean;
  limit: number;
  remaining: number;
  resetAfter: number;
  retryAfter: number;
  deniedBy: number | null;
  rate: string;
  fallback: RateLimitOutagePolicy | null;
  policy: string;
  decidedAt: number;
  limits: LimitStatus[];
}

/**
 * The answer to a check: data, not an exception. The summary fields
 * describe the binding limit: the denying one with the longest wait when
 * the request is denied, else the one with the fewest units left. A
 * snapshot: it does not change after it is made.
 */
export declare class Decision {
  /** Made by a `RateLimiter` only. */
  private constructor();
  /** Whether the request is admitted: every limit admitted it, and every limit was charged. */
  readonly allowed: boolean;
  /** The binding limit's count. */
  readonly limit: number;
  /** Units left in the binding limit. */
  readonly remaining: number;
  /** Seconds until the binding limit is back to full capacity. */
  readonly resetAfter: number;
  /** Seconds until the request could be admitted (0 when it is). */
  readonly retryAfter: number;
  /** The index (in the limiter's `rates`) of the limit that denied; `null` when admitted. */
  readonly deniedBy: number | null;
  /** The binding limit, in canonical form (`'5/15m'`). */
  readonly rate: string;
  /** The outage policy that decided because the store could not answer; `null` when the store decided. */
  readonly fallback: RateLimitOutagePolicy | null;
  /** The limiter's name (the `RateLimit` policy name). */
  readonly policy: string;
  /** When the decision was made, seconds since the epoch (the store's clock). */
  readonly decidedAt: number;
  /** Every limit's own answer, in the limiter's order (built when read). */
  readonly limits: LimitStatus[];
  /**
   * The response headers (built when called), in this order:
   * `X-RateLimit-Limit` and `X-RateLimit-Remaining` (the binding limit),
   * `X-RateLimit-Reset` (when it is full again: Unix epoch seconds, rounded
   * up), `Retry-After` (denied only: delay-seconds, rounded up, at least 1),
   * `RateLimit-Policy` (every limit as `"<name>";q=<limit>;w=<window
   * seconds>`, later limits named `<name>.2`, ...) and `RateLimit` (the
   * binding limit as `"<name>";r=<remaining>;t=<seconds to reset>`,
   * draft-ietf-httpapi-ratelimit-headers). Set them on the response as they are.
   */
  headers(): Record<string, string>;
  /**
   * The 429 answer to this denied decision: the rate-limit headers, `Retry-After` and a
   * problem+json body naming the violated policy (the same bytes as Python's). Throws
   * `INVALID_ARGUMENT` when admitted.
   */
  problem(): HttpAnswer;
  /** `Retry-After` in whole seconds (rounded up, at least 1) for a denied request; `null` when admitted. */
  retryAfterHeader(): number | null;
  /** Every field as a plain object (what `JSON.stringify` writes). */
  toJSON(): DecisionFields;
}

/**
 * A rate limiter: one or more limits per client key (`'5/15m'`,
 * `'100/minute;2000/day'`), one algorithm, one store.
 *
 * - **All or nothing.** A check admits only when every limit admits, and
 *   then charges every limit; a denied check charges none. One atomic store
 *   decision: one Lua script (one round trip) on Redis, one critical section
 *   in memory, so concurrent checks of one key never admit more than the limit.
 * - **One clock.** On Redis, time is Redis's own `TIME` (app hosts with
 *   skewed clocks agree); a `ManualClock` given to the `Store` drives it in tests.
 * - **Sync where it is cheap.** On the memory store the `*Sync` twins decide
 *   on the calling thread in well under a microsecond, and the Promise
 *   methods settle at once. On Redis the Promise methods run on the core's
 *   I/O runtime and never block the JavaScript thread; the `*Sync` twins
 *   throw `INVALID_ARGUMENT` there.
 * - **Outages** are answered by `outagePolicy` within the store's timeout
 *   (`decision.fallback` says so), with a `store_unavailable` event each
 *   time; `refund` and `reset` reject with `STORE_UNAVAILABLE`.
 * - **Typed errors.** A key that is not a non-empty string of at most 1024
 *   bytes, or a cost that is not a whole number the smallest limit could
 *   ever admit, is `INVALID_ARGUMENT` (thrown by `*Sync` and the
 *   constructor, a rejection from the Promise methods).
 */
export declare class RateLimiter {
  /** Throws `INVALID_ARGUMENT` for a malformed rate string or option. */
  constructor(rates: string, options?: RateLimiterConfig | null);
  /** The limits, in canonical form (`['5/15m']`). */
  readonly rates: string[];
  /** The limiter's name. */
  readonly name: string;
  /** The algorithm. */
  readonly algorithm: RateLimitAlgorithm;
  /** The outage policy. */
  readonly outagePolicy: RateLimitOutagePolicy;
  /** Checks `cost` units (default 1) for `key` and charges them when every limit admits. */
  check(key: string, cost?: number): Promise<Decision>;
  /** `check` on the calling thread (memory store only). */
  checkSync(key: string, cost?: number): Decision;
  /** Like `check`, but rejects with `RATE_LIMITED` (and `err.retryAfter`, seconds) when denied. */
  hit(key: string, cost?: number): Promise<Decision>;
  /** `hit` on the calling thread (memory store only): throws `RATE_LIMITED` when denied. */
  hitSync(key: string, cost?: number): Decision;
  /** Whether `cost` units (default 1; 0 allowed) would be admitted now, charging nothing; `remaining` is what is left now. */
  peek(key: string, cost?: number): Promise<Decision>;
  /** `peek` on the calling thread (memory store only). */
  peekSync(key: string, cost?: number): Decision;
  /** Gives back up to `cost` units (default 1) to every limit of `key`, e.g. after a successful login. */
  refund(key: string, cost?: number): Promise<void>;
  /** `refund` on the calling thread (memory store only). */
  refundSync(key: string, cost?: number): void;
  /** Forgets everything about `key`. */
  reset(key: string): Promise<void>;
  /** `reset` on the calling thread (memory store only). */
  resetSync(key: string): void;
}

// ---- HTTP: Express middleware over a framework-neutral layer ----------------------------------

import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { HashOptions, JwksClient, KeySet, LockoutAttempt, LockoutState, SharedCacheOptions, VerifierOptions } from '../index';

type HttpProblemClass = typeof HttpProblem;

/**
 * What the HTTP layer reads of a request: node:http's `IncomingMessage` (Express's `req`,
 * Fastify's `request.raw`) has all of it.
 */
export interface RequestLike {
  method?: string;
  url?: string;
  /** Express: the URL before mounting. */
  originalUrl?: string;
  /** Express: the mount path. */
  baseUrl?: string;
  /** Express: the matched route (its `path` is the template, `/users/:id`). */
  route?: { path?: unknown };
  headers: IncomingHttpHeaders;
  socket?: { remoteAddress?: string };
  /** The verified claims (`authenticate` sets them). */
  claims?: Record<string, unknown> | null;
  /** The user: `{ id }`, a string or a number (`authenticate` sets `{ id, claims }`). */
  user?: unknown;
  body?: unknown;
}

declare global {
  namespace Express {
    interface Request {
      /** The verified claims, set by bastion's `authenticate` (null when optional and anonymous). */
      claims?: Record<string, unknown> | null;
    }
  }
}

/** A ready HTTP answer: an RFC 9457 problem. */
export interface HttpAnswer {
  status: number;
  /** `Content-Type: application/problem+json`, `Retry-After` when it applies, and the rest. */
  headers: Record<string, string>;
  /** The JSON body: `{"type":"about:blank","title","status","detail","code"[,"retry_after"]}`. */
  body: string;
  /** The body's `code` (`RATE_LIMITED`, `TOKEN_EXPIRED`, ...). */
  code: string;
  /** The body's `detail` (the kind of failure; never a token or a claim). */
  detail: string;
}

/** The parsed body of an `HttpAnswer`. */
export interface ProblemBody {
  type: 'about:blank';
  title: string;
  status: number;
  detail: string;
  code: string;
  /** Seconds to wait (the `Retry-After` value) for 423 / 429 / 503 answers. */
  retry_after?: number;
}

/** An Error carrying a ready answer; `problemHandler` sends it. */
export declare class HttpProblem extends Error {
  constructor(answer: HttpAnswer);
  readonly answer: HttpAnswer;
  readonly status: number;
  readonly statusCode: number;
  readonly code: string;
  /** The answer's headers but `Content-Type` (Express's final handler sets them). */
  readonly headers: Record<string, string>;
}

/** How the client is found (see `clientKey`): nothing is trusted by default. */
export interface ClientOptions {
  /** Trusted proxies: a hop count, addresses, CIDR ranges, `"loopback"`, `"private"`, `"linklocal"`. */
  trustedProxies?: number | string | string[] | null;
  /** `"X-Forwarded-For"` (default), `"Forwarded"` or `"X-Real-IP"`. */
  proxyHeader?: string;
  /** Group IPv6 clients in rate-limit keys by this prefix length. */
  ipv6Prefix?: number | null;
}

/** A rate: `"10/minute"`, `"5/15m"`, `"10 per 2 hours"`, or `{ limit, window }` (seconds or `"15m"`). */
export type RateSpec = string | { limit: number; window: number | string };

/**
 * A part of a rate-limit key: `'ip'` (the client behind the trusted proxies), `'user'` (the
 * verified user, else the client address), `'route'` (method and route template), `'global'`,
 * or a function of the request.
 */
export type KeyPart = 'ip' | 'user' | 'route' | 'global' | ((req: any) => string | Promise<string>);

export interface RateLimitOptions extends ClientOptions {
  /** One limit or several, decided all or nothing in one store round trip. */
  rate: RateSpec | RateSpec[];
  /** Default `'ip'`; a list combines parts. */
  key?: KeyPart | KeyPart[];
  /** The limiter's name (keys and the `RateLimit-Policy` name); derived from the rate and key by default. */
  name?: string | null;
  /** Units per request (default 1). */
  cost?: number;
  /** `'read'` (GET/HEAD/OPTIONS), `'write'` (POST/PUT/PATCH/DELETE), `'any'` (default) or a list. */
  methods?: 'read' | 'write' | 'any' | string[];
  /** True skips the limit for this request (staff); no headers are set then. */
  skip?: ((req: any) => boolean | Promise<boolean>) | null;
  store?: Store | null;
  algorithm?: RateLimitAlgorithm;
  outagePolicy?: RateLimitOutagePolicy;
  localRates?: string;
  onEvent?: ((event: SecurityEvent) => void) | null;
  /** The claim holding the user id for `'user'` keys (default `'sub'`). */
  userClaim?: string;
}

export interface AuthenticateOptions
  extends Omit<VerifierOptions, 'algorithms' | 'audience' | 'issuer'> {
  /** A `Verifier` built once (signature and claims). */
  verifier?: Verifier | null;
  /** A `TokenService`: signature, claims, token type (access) and revocation. */
  tokens?: TokenService | null;
  /** A `JwksClient` or a `KeySet` (with `algorithms`): keys from an identity provider, by `kid`. */
  jwks?: JwksClient | KeySet | null;
  /** A key (a `Key`, a secret, PEM) with `algorithms`. */
  key?: Key | string | Buffer | null;
  /** The accepted algorithms, always explicit (with `key` or `jwks`); never read from the token. */
  algorithms?: string[];
  audience?: string | string[];
  issuer?: string | string[];
  /** With `key`: the clock of the time claims (a `ManualClock` in tests). */
  clock?: ManualClock | null;
  /** A cookie read when there is no `Authorization` header. */
  cookie?: string | null;
  /** Accepted `Authorization` schemes (default `['Bearer']`). */
  headerTypes?: string[];
  /** Admit requests without a token (`req.claims` null); a bad token is still a 401. */
  optional?: boolean;
  /** The claim holding the user id (default `'sub'`). */
  userClaim?: string;
}

export interface LockoutGuardOptions extends ClientOptions {
  lockout: Lockout;
  /** The status of a lockout answer: 429 (default) or 423. */
  status?: 429 | 423;
  /** The submitted username (default `req.body?.username`). */
  username?: (req: any) => unknown;
  /** The scheme of the dummy hash verified for unknown users. */
  hashOptions?: HashOptions | null;
}

export interface UpstreamOptions {
  breaker?: CircuitBreaker<any, any> | null;
  cache?: SharedCache | null;
}

/**
 * Calls `fn` through the breaker and/or the cache (with `key`); rejects with an `HttpProblem`
 * 503 (`CIRCUIT_OPEN`, `STORE_UNAVAILABLE`) with `Retry-After`; `fn`'s own errors pass through.
 */
export type UpstreamCall = <T>(fn: () => T | Promise<T>, options?: { key?: string }) => Promise<T>;

export type Middleware = (req: any, res: ServerResponse, next: (err?: unknown) => void) => void;
export type ErrorMiddleware = (err: unknown, req: any, res: ServerResponse, next: (err?: unknown) => void) => void;

/** Express middleware: the rate-limit headers on every answer; 429 problem+json with `Retry-After` when refused. */
export function rateLimit(options: RateLimitOptions): Middleware & { gate: web.RateLimitGate; limiter: RateLimiter };
/** Express middleware: sets `req.claims` and `req.user` (`{ id, claims }`); 401 problem+json for a missing or bad token. */
export function authenticate(options: AuthenticateOptions): Middleware & { authenticator: web.Authenticator };
/** Express middleware: 401 `NOT_AUTHENTICATED` without `req.claims` (use after `authenticate({ optional: true })`). */
export function requireUser(): Middleware;
/** Express middleware: 401 without `req.claims`, 403 `PERMISSION_DENIED` without one of the roles. */
export function requireRole(...roles: Array<string | string[] | { claim?: string }>): Middleware;
/** The login lockout's helpers for Express. */
export function lockout(options: LockoutGuardOptions): {
  guard: web.LoginGuard;
  lockout: Lockout;
  attempt(req: any): LockoutAttempt;
  /** Middleware before the password check: a locked attempt is answered 429 (or 423) with `Retry-After`. */
  check: Middleware;
  /** The password check under the lockout; rejects with an `HttpProblem` when locked. */
  login(req: any, password: string | Buffer, storedHash: string | null): Promise<boolean>;
  /** Counts a failure; rejects with an `HttpProblem` when this locked the attempt. */
  recordFailure(req: any): Promise<LockoutState>;
  recordSuccess(req: any): Promise<void>;
  /** Sends the uniform 401 `INVALID_CREDENTIALS`. */
  invalidCredentials(res: ServerResponse): void;
};
export function upstream(options: UpstreamOptions): UpstreamCall;
/** Express error middleware: `HttpProblem`s and bastion's coded errors as problem+json; anything else passed on. */
export function problemHandler(options?: { lockoutStatus?: number }): ErrorMiddleware;
/** Every bastion metric in the Prometheus text format (`text/plain; version=0.0.4`). */
export function metricsHandler(): Middleware;
/** The health snapshot as JSON: 200 when every store answered, 503 otherwise. */
export function healthHandler(): Middleware;

/** A security event on the process-wide emitter: also its severity and its log line. */
export interface ProcessSecurityEvent extends SecurityEvent {
  /** `'info'`, `'warning'` or `'error'`. */
  severity: string;
  /** The log line, starting with the category: `[SECURITY] token_reuse subject="42" family="..."`. */
  message: string;
}
/** The process-wide emitter of every component's security events: `'event'` and each event's own name. */
export declare class SecurityEvents extends EventEmitter {
  /** The least severity delivered (`'warning'` unless lowered). */
  readonly minSeverity: 'info' | 'warning' | 'error';
  /** Lowers (never raises) the least severity delivered. */
  setMinSeverity(severity: 'info' | 'warning' | 'error'): this;
  on(event: string, listener: (e: ProcessSecurityEvent) => void): this;
  once(event: string, listener: (e: ProcessSecurityEvent) => void): this;
}
export declare const events: SecurityEvents;
/** Every metric in the Prometheus text format (version 0.0.4). */
export declare function metrics(): string;
/** The readiness snapshot: every live store pinged, every live breaker's state. */
export declare function health(): Promise<Health>;
export declare const METRICS_CONTENT_TYPE: 'text/plain; version=0.0.4; charset=utf-8';

/** The framework-neutral layer the Express middleware is built on (node:http, Fastify, ...). */
export declare namespace web {
  const PROBLEM_JSON: 'application/problem+json';
  function problem(
    status: number,
    detail: string,
    options: { code: string; retryAfter?: number | null; headers?: Record<string, string> | null; extra?: Record<string, unknown> | null },
  ): HttpAnswer;
  function unauthorized(detail: string, code: string, error?: string | null): HttpAnswer;
  /** The answer for a bastion error (by `err.code`), or null for any other error. */
  function answerFor(err: unknown, options?: { lockoutStatus?: number }): HttpAnswer | null;
  function sendAnswer(res: ServerResponse, answer: HttpAnswer): void;
  function setHeaders(res: ServerResponse, headers: Record<string, string>): void;
  /** The rate-limit headers of a decision (the core's plus `RateLimit-Limit` / `-Remaining` / `-Reset`). */
  function rateLimitHeaders(decision: Decision): Record<string, string>;
  function upstream(options: UpstreamOptions): UpstreamCall;
  function roleCheck(roles: string[], options?: { claim?: string }): (claims: Record<string, unknown> | null | undefined) => HttpAnswer | null;
  const HttpProblem: HttpProblemClass;

  class ClientResolver {
    constructor(options?: ClientOptions);
    /** The client's address behind the trusted proxies, or null. */
    ip(req: RequestLike): string | null;
    /** The client's rate-limit key, `"unknown"` without a peer address. */
    key(req: RequestLike): string;
  }

  interface GateResult {
    allowed: boolean;
    /** The headers to set on the eventual answer (empty when skipped or an earlier limit has less left). */
    headers: Record<string, string>;
    /** The 429 answer when refused, else null. */
    answer: HttpAnswer | null;
    decision: Decision | null;
  }

  class RateLimitGate {
    constructor(options: RateLimitOptions);
    readonly limiter: RateLimiter;
    keyOf(req: RequestLike): Promise<string>;
    applies(req: RequestLike): Promise<boolean>;
    check(req: RequestLike): Promise<GateResult>;
  }

  class Authenticator {
    constructor(options: AuthenticateOptions);
    readonly userClaim: string;
    /** The token (header, else cookie), or null; throws an `HttpProblem` 401 for a malformed header. */
    tokenOf(req: RequestLike): string | null;
    check(req: RequestLike): Promise<{ claims: Record<string, unknown> | null; answer: HttpAnswer | null }>;
  }

  class LoginGuard {
    constructor(options: LockoutGuardOptions);
    readonly lockout: Lockout;
    attempt(req: RequestLike): LockoutAttempt;
    check(req: RequestLike): Promise<{ state: LockoutState; answer: HttpAnswer | null }>;
    login(req: RequestLike, password: string | Buffer, storedHash: string | null): Promise<boolean>;
    recordFailure(req: RequestLike): Promise<{ state: LockoutState; answer: HttpAnswer | null }>;
    recordSuccess(req: RequestLike): Promise<void>;
    invalidCredentials(): HttpAnswer;
  }
}
